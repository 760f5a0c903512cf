//! `lambda-devnet`: a whole Lambda system on this machine in one command.
//!
//! ```text
//! lambda-devnet [--data-dir DIR] [--validators 4] [--nodes 5]
//!               [--block-time-ms 500] [--epoch-length 20] [--base-port P]
//! ```
//!
//! Starts the validators, storage nodes and agent of a devnet (generated in
//! DIR, or reused if DIR holds one; a temporary directory removed on exit
//! without `--data-dir`), runs a smoke workload, prints every endpoint and
//! commands to use them, reports children that die, and on SIGINT/SIGTERM
//! stops everything gracefully and exits 0.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use lambda_common::telemetry::{self, LogFormat};
use lambda_devnet::spec::PortChoice;
use lambda_devnet::{Devnet, DevnetSpec, report};

#[derive(Parser, Debug)]
#[command(name = "lambda-devnet", version, about = "Run a local Lambda devnet")]
struct Cli {
    /// Keep the devnet here (reused, with its state, if it already holds
    /// one). Default: a temporary directory removed on exit.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Chain validators (a new devnet only).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Storage nodes (a new devnet only).
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Target block time in ms (a new devnet only).
    #[arg(long, default_value_t = 500)]
    block_time_ms: u64,
    /// Blocks per epoch (a new devnet only).
    #[arg(long, default_value_t = 20)]
    epoch_length: u64,
    /// First port of the layout (default 26600, or a free block if taken).
    #[arg(long)]
    base_port: Option<u16>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init("info", LogFormat::from_env());
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (_temp, dir) = match &cli.data_dir {
        Some(d) => (None, d.clone()),
        None => {
            let t = tempfile::Builder::new()
                .prefix("lambda-devnet-")
                .tempdir()
                .context("creating a temporary data directory")?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let spec = DevnetSpec {
        validators: cli.validators,
        nodes: cli.nodes,
        block_time_ms: cli.block_time_ms,
        epoch_length: cli.epoch_length,
        ports: cli
            .base_port
            .map_or(PortChoice::PreferDefault, PortChoice::Exactly),
        ..DevnetSpec::new(&dir)
    };
    use tokio::signal::unix::{SignalKind, signal};
    // Handlers first: the children run in their own process group, so a
    // Ctrl-C reaches only this process, which must then stop them.
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    println!("starting a devnet in {} …", dir.display());
    let mut devnet = tokio::select! {
        d = Devnet::start(&spec) => d?,
        // Dropping the start-up kills the children started so far.
        _ = int.recv() => anyhow::bail!("interrupted while starting; children killed"),
        _ = term.recv() => anyhow::bail!("terminated while starting; children killed"),
    };
    if devnet.reused {
        println!(
            "reused the devnet in {} (its counts, block time and epoch length are its own)",
            dir.display()
        );
    }
    let smoke = devnet.smoke().await;
    println!();
    print!(
        "{}",
        report::endpoints(
            &devnet.manifest,
            &devnet.data_dir,
            &devnet.bin_dir,
            &devnet.pledges
        )
    );
    match &smoke {
        Ok(r) => println!("\nsmoke: {r}"),
        Err(e) => println!("\nsmoke FAILED: {e}"),
    }
    let result = serve(&mut devnet, &mut int, &mut term).await;
    println!("stopping …");
    for (name, how) in devnet.stop().await {
        println!("  {name}: {how}");
    }
    result
}

/// Until SIGINT or SIGTERM, reports children that exit unexpectedly.
async fn serve(
    devnet: &mut Devnet,
    int: &mut tokio::signal::unix::Signal,
    term: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = int.recv() => return Ok(()),
            _ = term.recv() => return Ok(()),
            Some(exit) = devnet.next_unexpected_exit() => {
                println!(
                    "!! {} exited unexpectedly ({}); the devnet keeps running without it. Log: {}",
                    exit.name, exit.status, exit.log.display()
                );
            }
        }
    }
}
