//! The validator's web dashboard in a real browser, against a running
//! devnet (4 validators, 5 storage nodes, the agent, each its own process).
//!
//! Once the nodes have joined and the smoke workload ran, Debian's headless
//! Chromium loads the dashboard with a virtual-time budget (so the page's
//! JavaScript fetches and renders a few times) and dumps the DOM: every
//! storage node's id, zone and "up" badge, a chain height at least the one
//! read from the chain API before, every validator, and a non-zero balance
//! of the agent's account must be there — rendered by the JavaScript, since
//! the HTML the validator serves holds none of it. The same page served
//! with failing JSON endpoints must show its error banner. Finally a
//! screenshot is taken (1400×1100) and must be a real PNG of some size.
//!
//! Needs `/usr/bin/chromium` (`deploy/bootstrap.sh` installs it) and the
//! binaries built (`cargo build --bin lambda-devnet --bin lambda-chain
//! --bin lambda-db --bin lambda-agent --bin lambda`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use lambda_common::keys::SigningKey;
use lambda_devnet::{Devnet, DevnetSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest a Chromium run may take before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);
/// Virtual time the page gets: two refreshes and more.
const VIRTUAL_TIME_MS: u32 = 7_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_renders_the_devnet_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run deploy/bootstrap.sh (it installs Debian's chromium package; \
         `make test` runs it) and try again"
    );
    let tmp = tempfile::tempdir().unwrap();
    let spec = DevnetSpec {
        block_time_ms: 300,
        epoch_length: 10,
        ..DevnetSpec::new(tmp.path().join("devnet"))
    };
    let started = Instant::now();
    let mut d = match Devnet::start(&spec).await {
        Ok(d) => d,
        Err(e) => panic!("devnet did not come up: {e}"),
    };
    eprintln!("devnet up in {:?}", started.elapsed());
    let result = steps(&d, tmp.path()).await;
    let dump = match &result {
        Err(_) => logs(&d),
        Ok(()) => String::new(),
    };
    d.stop().await;
    if let Err(e) = result {
        panic!("{e}\n{dump}");
    }
    eprintln!("dashboard test done in {:?}", started.elapsed());
}

async fn steps(d: &Devnet, tmp: &Path) -> Result<(), String> {
    let smoke = d.smoke().await.map_err(|e| format!("smoke: {e}"))?;
    assert_eq!(smoke.gets, smoke.puts);
    let height = d
        .chain_client()
        .await
        .map_err(|e| e.to_string())?
        .status()
        .await
        .map_err(|e| e.to_string())?
        .height;
    let admin = d.manifest.validator_admin(0);
    wait_nodes_up(admin, d.manifest.nodes.len()).await?;
    let url = d.dashboard_url();

    let dom = chromium(tmp, "dom", &["--dump-dom".into(), url.clone()]).await?;
    check_dom(d, &dom, height)?;

    let page = FailingApi::start(admin).await?;
    let dom = chromium(tmp, "failing", &["--dump-dom".into(), page.url()]).await?;
    let banner = element(&dom, "error").ok_or("no #error element")?;
    assert!(!banner.0.contains("hidden"), "banner hidden: {}", banner.0);
    assert!(
        banner.1.contains("Cannot reach the validator") && banner.1.contains("HTTP 503"),
        "banner text: {}",
        banner.1
    );
    let updated = element(&dom, "updated").ok_or("no #updated")?;
    assert_eq!(updated.1, "not updated yet");

    let png = tmp.join("dashboard.png");
    let shot = format!("--screenshot={}", png.display());
    chromium(tmp, "shot", &[shot, "--window-size=1400,1100".into(), url]).await?;
    let bytes = std::fs::read(&png).map_err(|e| format!("{}: {e}", png.display()))?;
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 40_000,
        "screenshot of {} bytes only",
        bytes.len()
    );
    eprintln!("screenshot: {} bytes", bytes.len());
    Ok(())
}

fn check_dom(d: &Devnet, dom: &str, height: u64) -> Result<(), String> {
    let (_, shown) = element(dom, "height").ok_or("no #height element")?;
    let shown = number(&shown).ok_or_else(|| format!("#height is {shown:?}"))?;
    assert!(
        shown >= height,
        "page shows height {shown}, chain was at {height}"
    );
    let (_, updated) = element(dom, "updated").ok_or("no #updated")?;
    assert!(updated.starts_with("updated "), "#updated is {updated:?}");
    let (tag, _) = element(dom, "error").ok_or("no #error")?;
    assert!(tag.contains("hidden"), "error banner shown: {tag}");
    assert!(
        dom.contains(&format!("data-height=\"{shown}\"")),
        "no block row of height {shown}"
    );
    for n in &d.manifest.nodes {
        let row =
            row(dom, "data-node", &n.id).ok_or_else(|| format!("no ring row for {}", n.id))?;
        for want in [
            format!(">{}<", n.id),
            format!(">{}<", n.zone),
            ">member<".into(),
            "class=\"badge up\">up<".into(),
        ] {
            assert!(row.contains(&want), "{} row lacks {want}: {row}", n.name);
        }
        let primary = cell(row, "num primary").and_then(|t| number(&t));
        assert!(
            primary.is_some_and(|p| p > 0),
            "{}: primary {primary:?}",
            n.name
        );
    }
    for v in &d.manifest.validators {
        assert!(
            dom.contains(&format!("title=\"{}\"", v.address)),
            "validator {} missing",
            v.name
        );
    }
    let agent = SigningKey::load(&d.manifest.agent.key_file)
        .map_err(|e| e.to_string())?
        .public()
        .address()
        .to_string();
    let row = row(dom, "data-address", &agent).ok_or("no accounts row for the agent")?;
    assert!(row.contains(&format!(">{agent}<")), "{row}");
    let balance = cell(row, "num balance").and_then(|t| number(&t));
    assert!(balance.is_some_and(|b| b > 0), "agent balance {balance:?}");
    Ok(())
}

/// Waits (bounded) until the dashboard's ring lists `n` member nodes, all
/// up by their probes.
async fn wait_nodes_up(admin: SocketAddr, n: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(body) = http_get(admin, "/api/ring").await {
            let ring: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let up = ring["nodes"].as_array().map_or(0, |nodes| {
                nodes
                    .iter()
                    .filter(|x| x["member"] == true && x["liveness"]["state"] == "up")
                    .count()
            });
            if up == n {
                return Ok(());
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("/api/ring never showed {n} nodes up; last: {last}"))
}

/// Runs headless Chromium with a fresh profile on `args` and returns its
/// standard output, killing it after [`BROWSER_TIMEOUT`].
async fn chromium(tmp: &Path, run: &str, args: &[String]) -> Result<String, String> {
    let profile: PathBuf = tmp.join(format!("chromium-{run}"));
    let mut cmd = tokio::process::Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--virtual-time-budget={VIRTUAL_TIME_MS}"))
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| format!("{CHROMIUM}: {e}"))?;
    let out = tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("chromium ({run}) did not finish in {BROWSER_TIMEOUT:?}"))?
        .map_err(|e| format!("chromium ({run}): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "chromium ({run}) exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The opening tag and text of the element with `id` (text up to the next
/// tag).
fn element(dom: &str, id: &str) -> Option<(String, String)> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let text_end = end + 1 + dom[end + 1..].find('<')?;
    Some((
        dom[start..=end].to_string(),
        dom[end + 1..text_end].to_string(),
    ))
}

/// The table row whose `attr` is `value`.
fn row<'a>(dom: &'a str, attr: &str, value: &str) -> Option<&'a str> {
    let at = dom.find(&format!("{attr}=\"{value}\""))?;
    let end = at + dom[at..].find("</tr>")?;
    Some(&dom[at..end])
}

/// The text of the cell of class `class` in `row`.
fn cell(row: &str, class: &str) -> Option<String> {
    let at = row.find(&format!("class=\"{class}\""))?;
    let start = at + row[at..].find('>')? + 1;
    let end = start + row[start..].find('<')?;
    Some(row[start..end].to_string())
}

/// A number as the page prints it (`1,234`).
fn number(text: &str) -> Option<u64> {
    text.trim().replace(',', "").parse().ok()
}

async fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let io = async {
        let mut s = TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let out = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .map_err(|_| format!("GET {path}: timed out"))?
        .map_err(|e| format!("GET {path}: {e}"))?;
    let (head, body) = out.split_once("\r\n\r\n").ok_or("no HTTP body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {head}"));
    }
    Ok(body.to_string())
}

/// The dashboard's page (fetched from a validator) served by a stand-in
/// whose JSON endpoints fail, as when the validator stops answering.
struct FailingApi {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FailingApi {
    async fn start(admin: SocketAddr) -> Result<Self, String> {
        let mut assets = Vec::new();
        for (path, kind) in [
            ("/", "text/html"),
            ("/dashboard.js", "text/javascript"),
            ("/dashboard.css", "text/css"),
        ] {
            assets.push((path, kind, http_get(admin, path).await?));
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, kind, body) = match assets.iter().find(|a| a.0 == path) {
                    Some((_, kind, body)) => ("200 OK", *kind, body.clone()),
                    None => (
                        "503 Service Unavailable",
                        "application/json",
                        "{\"error\":\"validator unreachable (test)\"}".to_string(),
                    ),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        Ok(Self { addr, task })
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for FailingApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn logs(d: &Devnet) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(d.logs_dir()) {
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            out.push_str(&format!("==== {} ====\n", e.path().display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}
