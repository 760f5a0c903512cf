//! `pdp-results NODE`: the PDP audits recorded for a storage node, one row
//! per (epoch, contract), as a table or a JSON array.

use anyhow::Context as _;
use lambda_chain::client::ChainClient;
use lambda_common::keys::Address;
use serde_json::{Value, json};

use super::output::Format;

pub(crate) async fn pdp_results(endpoint: &str, node: &str, out: Format) -> anyhow::Result<()> {
    let id: Address = node.parse().context("node id (40 hex digits)")?;
    let records = ChainClient::connect(endpoint)
        .await?
        .pdp_results(id)
        .await?;
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "epoch": r.epoch,
                "contract": r.contract.to_string(),
                "passed": r.passed,
                "payment": r.payment,
                "slashed": r.slashed,
                "validator": r.validator.to_string(),
                "height": r.height,
            })
        })
        .collect();
    match out {
        Format::Json => println!("{}", serde_json::to_string(&Value::Array(rows))?),
        Format::Table => {
            println!(
                "{:>6}  {:<64}  {:<6}  {:>10}  {:>10}  {:<40}  {:>8}",
                "EPOCH", "CONTRACT", "RESULT", "PAYMENT", "SLASHED", "VALIDATOR", "HEIGHT"
            );
            for r in &records {
                println!(
                    "{:>6}  {:<64}  {:<6}  {:>10}  {:>10}  {:<40}  {:>8}",
                    r.epoch,
                    r.contract.to_string(),
                    if r.passed { "pass" } else { "FAIL" },
                    r.payment,
                    r.slashed,
                    r.validator.to_string(),
                    r.height
                );
            }
        }
    }
    Ok(())
}
