//! The devnet's child processes: started in their own process group (so a
//! terminal's Ctrl-C reaches only the devnet, which then stops them in
//! order), their output appended to a log file, their exit watched.
//!
//! A child that exits while nobody asked it to is reported on a channel
//! (the devnet keeps running without it). Stopping is graceful: SIGTERM,
//! wait up to a bound, then SIGKILL.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};

use crate::error::DevnetError;

/// A child that exited without being asked to.
#[derive(Clone, Debug)]
pub struct UnexpectedExit {
    /// The child's name.
    pub name: String,
    /// How it ended (`exit status: 1`, `signal: 9 (SIGKILL)`, …).
    pub status: String,
    /// Its log file.
    pub log: PathBuf,
}

/// What starts a child.
#[derive(Clone, Debug)]
pub struct ChildSpec {
    /// Its name in reports (`v0`, `n1`, `agent`).
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Log file (appended).
    pub log: PathBuf,
}

#[derive(Debug)]
struct Running {
    pid: Pid,
    /// `Some(status)` once it exited.
    exit: watch::Receiver<Option<String>>,
    /// Set before the devnet itself stops or kills it.
    expected: watch::Sender<bool>,
}

/// A supervised child process.
#[derive(Debug)]
pub struct Child {
    spec: ChildSpec,
    running: Option<Running>,
    events: mpsc::UnboundedSender<UnexpectedExit>,
}

impl Child {
    /// Starts `spec`; unexpected exits are sent to `events`.
    pub fn spawn(
        spec: ChildSpec,
        events: mpsc::UnboundedSender<UnexpectedExit>,
    ) -> Result<Self, DevnetError> {
        let mut c = Self {
            spec,
            running: None,
            events,
        };
        c.start()?;
        Ok(c)
    }

    fn start(&mut self) -> Result<(), DevnetError> {
        let err = |reason: String| DevnetError::Process {
            name: self.spec.name.clone(),
            reason,
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .map_err(|e| err(format!("log {}: {e}", self.spec.log.display())))?;
        let log2 = log.try_clone().map_err(|e| err(e.to_string()))?;
        let mut child = tokio::process::Command::new(&self.spec.program)
            .args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| err(format!("starting {}: {e}", self.spec.program.display())))?;
        let raw = child.id().ok_or_else(|| err("exited at once".into()))?;
        let pid = Pid::from_raw(i32::try_from(raw).map_err(|e| err(e.to_string()))?);
        let (exit_tx, exit) = watch::channel(None);
        let (expected, expected_rx) = watch::channel(false);
        let events = self.events.clone();
        let (name, log) = (self.spec.name.clone(), self.spec.log.clone());
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => s.to_string(),
                Err(e) => format!("wait failed: {e}"),
            };
            if !*expected_rx.borrow() {
                tracing::warn!(process = %name, %status, log = %log.display(), "process exited unexpectedly");
                let _ = events.send(UnexpectedExit {
                    name,
                    status: status.clone(),
                    log,
                });
            }
            let _ = exit_tx.send(Some(status));
        });
        self.running = Some(Running {
            pid,
            exit,
            expected,
        });
        Ok(())
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its log file.
    pub fn log(&self) -> &std::path::Path {
        &self.spec.log
    }

    /// True while it runs.
    pub fn is_running(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| r.exit.borrow().is_none())
    }

    /// SIGTERM, then waits up to `grace` for it to exit, then SIGKILL.
    /// Returns how it ended (`None` if it was not running).
    pub async fn stop(&mut self, grace: Duration) -> Option<String> {
        self.end(Signal::SIGTERM, grace).await
    }

    /// SIGKILL (a crash, for tests), and waits for it to be gone.
    pub async fn kill9(&mut self) -> Option<String> {
        self.end(Signal::SIGKILL, Duration::from_secs(5)).await
    }

    async fn end(&mut self, sig: Signal, grace: Duration) -> Option<String> {
        let mut r = self.running.take()?;
        let _ = r.expected.send(true);
        if r.exit.borrow().is_some() {
            return r.exit.borrow().clone();
        }
        let _ = kill(r.pid, sig);
        let timed_out = tokio::time::timeout(grace, r.exit.wait_for(Option::is_some))
            .await
            .is_err();
        if timed_out {
            tracing::warn!(process = %self.spec.name, ?grace, "did not exit in time; SIGKILL");
            let _ = kill(r.pid, Signal::SIGKILL);
            let gone =
                tokio::time::timeout(Duration::from_secs(5), r.exit.wait_for(Option::is_some))
                    .await
                    .is_ok();
            if !gone {
                tracing::warn!(process = %self.spec.name, "still not reaped 5 s after SIGKILL");
            }
        }
        r.exit.borrow().clone()
    }

    /// Starts it again with the same arguments (killing it first if it
    /// runs).
    pub async fn restart(&mut self) -> Result<(), DevnetError> {
        self.kill9().await;
        self.start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(name: &str, script: &str, dir: &std::path::Path) -> ChildSpec {
        ChildSpec {
            name: name.into(),
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![],
            log: dir.join(format!("{name}.log")),
        }
    }

    /// Waits (at most 5 s) until `log` holds `needle` `count` times.
    async fn wait_log(log: &std::path::Path, needle: &str, count: usize) {
        for _ in 0..250 {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.matches(needle).count() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{needle} not {count} times in {}", log.display());
    }

    #[tokio::test]
    async fn an_unexpected_exit_is_reported_and_the_output_logged() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _c = Child::spawn(sh("dies", "echo bye; exit 3", dir.path()), tx).unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(exit.name, "dies");
        assert!(exit.status.contains('3'), "{}", exit.status);
        let log = std::fs::read_to_string(dir.path().join("dies.log")).unwrap();
        assert_eq!(log.trim(), "bye");
    }

    #[tokio::test]
    async fn stop_is_sigterm_and_not_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut c = Child::spawn(sh("calm", "sleep 30", dir.path()), tx).unwrap();
        assert!(c.is_running());
        let how = c.stop(Duration::from_secs(5)).await.unwrap();
        assert!(how.contains("SIGTERM"), "{how}");
        assert!(!c.is_running());
        assert!(rx.try_recv().is_err(), "a requested stop is not unexpected");
    }

    #[tokio::test]
    async fn a_child_ignoring_sigterm_is_killed_after_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::unbounded_channel();
        let script = "trap '' TERM; echo ready; while :; do sleep 0.05; done";
        let mut c = Child::spawn(sh("stubborn", script, dir.path()), tx).unwrap();
        wait_log(&dir.path().join("stubborn.log"), "ready", 1).await;
        let start = std::time::Instant::now();
        let how = c.stop(Duration::from_millis(300)).await.unwrap();
        assert!(how.contains("SIGKILL"), "{how}");
        assert!(start.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn restart_runs_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut c = Child::spawn(sh("again", "echo run; sleep 30", dir.path()), tx).unwrap();
        let log = dir.path().join("again.log");
        wait_log(&log, "run", 1).await;
        c.restart().await.unwrap();
        assert!(c.is_running());
        wait_log(&log, "run", 2).await;
        c.stop(Duration::from_secs(5)).await;
        assert!(!c.is_running());
    }
}
