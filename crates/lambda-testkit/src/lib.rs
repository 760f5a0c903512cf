//! Test support shared by the multi-process tests of every crate.
//!
//! - [`binary`] finds a workspace binary next to the running test executable
//!   (cargo builds every package's binaries before it runs the workspace's
//!   tests).
//! - [`free_port`] picks an unused loopback port.
//! - [`Process`] is a child process that a test can `SIGKILL`, `SIGSTOP`,
//!   `SIGCONT`, stop gracefully and restart; it is killed when dropped, so a
//!   failing test leaves nothing running.
//! - [`chain::LocalChain`] generates a chain testnet and starts one
//!   `lambda-chain` process per validator.
//! - [`cluster::LocalCluster`] starts a cluster of `lambda-db` processes on
//!   loopback with a generated membership file.

pub mod chain;
pub mod cluster;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The path of the workspace binary `name` in the target directory of the
/// running test.
pub fn binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    // target/<profile>/deps/<test> or target/<profile>/<bin> → target/<profile>/<name>
    let mut profile_dir = exe.parent().context("executable has no directory")?;
    if profile_dir.file_name().is_some_and(|n| n == "deps") {
        profile_dir = profile_dir
            .parent()
            .context("test executable has no target directory")?;
    }
    let path = profile_dir.join(name);
    if !path.exists() {
        bail!(
            "{} not found; build it first (cargo build --bin {name}, or run the tests with --workspace)",
            path.display()
        );
    }
    Ok(path)
}

/// An unused TCP port on 127.0.0.1 (free when this returns; a race with
/// another process binding it first is possible but unlikely).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
    Ok(l.local_addr()?.port())
}

/// A free loopback address.
pub fn free_addr() -> Result<SocketAddr> {
    Ok(SocketAddr::from(([127, 0, 0, 1], free_port()?)))
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listens on {addr} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process under a test's control.
#[derive(Debug)]
pub struct Process {
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    /// Starts `program` with `args`; its standard error and output go to
    /// `log` (appended), which tests print when they fail.
    pub fn spawn(
        program: PathBuf,
        args: Vec<String>,
        envs: Vec<(String, String)>,
        log: PathBuf,
    ) -> Result<Self> {
        let mut p = Self {
            program,
            args,
            envs,
            child: None,
            log,
        };
        p.start()?;
        Ok(p)
    }

    fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> Result<Pid> {
        let child = self.child.as_ref().context("process is not running")?;
        Ok(Pid::from_raw(i32::try_from(child.id())?))
    }

    /// Sends a signal.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        kill(self.pid()?, sig).with_context(|| format!("sending {sig}"))
    }

    /// `SIGKILL`, then reaps the process.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            c.wait()?;
        }
        Ok(())
    }

    /// `SIGSTOP`: the process freezes, its sockets stay open.
    pub fn pause(&self) -> Result<()> {
        self.signal(Signal::SIGSTOP)
    }

    /// `SIGCONT`.
    pub fn resume(&self) -> Result<()> {
        self.signal(Signal::SIGCONT)
    }

    /// `SIGTERM`, then waits up to `timeout` for a clean exit.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.signal(Signal::SIGTERM)?;
        let mut child = self.child.take().context("process is not running")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                child.wait()?;
                bail!("process did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again with the same arguments.
    pub fn restart(&mut self) -> Result<()> {
        self.kill9()?;
        self.start()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            // A stopped process must be continued to die promptly.
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGCONT);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts a `lambda-db` storage node on `listen` with its data in
/// `data_dir`, plus any extra arguments, and waits until it accepts
/// connections.
pub fn spawn_db_node(
    data_dir: &std::path::Path,
    listen: SocketAddr,
    extra: &[&str],
) -> Result<Process> {
    std::fs::create_dir_all(data_dir)?;
    let mut args = vec![
        "start".to_string(),
        "--data-dir".to_string(),
        data_dir.display().to_string(),
        "--listen".to_string(),
        listen.to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_string()));
    let log = data_dir.with_extension("log");
    let p = Process::spawn(binary("lambda-db")?, args, Vec::new(), log)?;
    wait_for_port(listen, Duration::from_secs(60))
        .with_context(|| format!("node log:\n{}", p.log()))?;
    Ok(p)
}

/// Starts a `lambda-agent` process (data under `data_dir`, gRPC on a free
/// port) that talks to the storage node at `db`, with environment
/// overrides `env` (e.g. `LAMBDA_AGENT_COLLECTOR__ENABLED=false`); waits
/// until it listens. Returns the process and its gRPC address.
pub fn spawn_agent(
    data_dir: &std::path::Path,
    db: SocketAddr,
    env: Vec<(String, String)>,
) -> Result<(Process, SocketAddr)> {
    std::fs::create_dir_all(data_dir)?;
    let listen = free_addr()?;
    let args = vec![
        "start".to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen".into(),
        listen.to_string(),
        "--endpoint".into(),
        format!("http://{db}"),
    ];
    let log = data_dir.with_extension("log");
    let p = Process::spawn(binary("lambda-agent")?, args, env, log)?;
    wait_for_port(listen, Duration::from_secs(60))
        .with_context(|| format!("agent log:\n{}", p.log()))?;
    Ok((p, listen))
}

/// `GET path` over HTTP/1.1 (blocking, 2 s to connect, 5 s to read): the
/// status code and the body. For the daemons' admin ports.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let code = out
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {out:?}")))?;
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((code, body))
}

/// The address a daemon wrote to `file` (e.g. `<data_dir>/admin.addr`),
/// waiting up to 30 s for it to appear.
pub fn read_addr_file(file: &std::path::Path) -> Result<SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(a) = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return Ok(a);
        }
        if Instant::now() >= deadline {
            bail!("{} never written", file.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
