//! Printing answers: an aligned two-column table for people, or one JSON
//! object for programs (`-o json`).

use serde_json::{Map, Value};

/// How client commands print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `key  value` lines.
    Table,
    /// One JSON object.
    Json,
}

/// Prints `fields` (in order) as a table or a JSON object.
pub(crate) fn print(format: Format, fields: Vec<(&str, Value)>) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let map: Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            println!("{}", serde_json::to_string(&Value::Object(map))?);
        }
        Format::Table => {
            let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (k, v) in fields {
                let text = match v {
                    Value::String(s) => s,
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(&format!("\n{:width$}  ", "")),
                    other => other.to_string(),
                };
                println!("{k:width$}  {text}");
            }
        }
    }
    Ok(())
}
