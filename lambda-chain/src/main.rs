//! `lambda-chain`: runs a Lambda chain validator, generates validator homes
//! and talks to a validator's API.
//!
//! ```text
//! lambda-chain init --home DIR                 a single-validator chain
//! lambda-chain testnet N --out DIR             N validators on this machine
//! lambda-chain start --home DIR                run a validator until SIGINT/SIGTERM
//! lambda-chain print-config --home DIR         the effective configuration
//! lambda-chain status [--endpoint URL]         where the chain is
//! lambda-chain account ADDR                    an account
//! lambda-chain block H|latest                  a committed block
//! lambda-chain pdp-results NODE                the PDP audits of a storage node
//! lambda-chain tx transfer --from KEY --to ADDR --amount A
//! ```
//!
//! Client commands print a table, or JSON with `-o json`. Logs go to
//! standard error (`LAMBDA_LOG`, `LAMBDA_LOG_FORMAT=json`).
#![allow(clippy::print_stdout)]

mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    cli::run(cli::Cli::parse())
}
