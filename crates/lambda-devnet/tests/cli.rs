//! The `lambda-devnet` binary as a user runs it: it comes up in a temporary
//! directory, prints its endpoints and the smoke result, and on SIGINT
//! stops every child and exits 0, removing the directory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[test]
fn lambda_devnet_runs_prints_and_stops_cleanly_on_sigint() {
    let bin = lambda_devnet::bin_dir().unwrap().join("lambda-devnet");
    let mut child = Command::new(&bin)
        .args(["--block-time-ms", "300", "--epoch-length", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut out = Vec::new();
    while !out.iter().any(|l: &String| l.starts_with("smoke")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => out.push(l),
            Err(e) => {
                let _ = child.kill();
                panic!("no smoke line ({e}); output so far:\n{}", out.join("\n"));
            }
        }
    }
    let text = out.join("\n");
    assert!(text.contains("smoke: 20 puts and 20 gets"), "{text}");
    assert!(text.contains("60 read back"), "{text}");
    for what in [
        "v3  api http://",
        "n5  http://",
        "agent: http://",
        "dashboard: http://127.0.0.1:",
        "lambda get greeting",
    ] {
        assert!(text.contains(what), "{what} missing in:\n{text}");
    }
    let dir = text
        .lines()
        .find_map(|l| l.strip_prefix("starting a devnet in "))
        .map(|l| std::path::PathBuf::from(l.trim_end_matches(" …")))
        .unwrap();
    assert!(dir.join("devnet.json").exists());
    assert!(dir.join("logs/n1.log").exists());

    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit {status}");
    // The rest of the output, until the reader sees the pipe close.
    let mut rest = Vec::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(10)) {
        rest.push(l);
    }
    let stopped: Vec<_> = rest
        .iter()
        .filter(|l| l.contains("exit status: 0"))
        .collect();
    assert_eq!(stopped.len(), 10, "every child exits cleanly: {rest:?}");
    assert!(!dir.exists(), "the temporary data directory is removed");
}
