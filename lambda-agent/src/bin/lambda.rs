//! `lambda`: the user CLI of Lambda.
//!
//! ```text
//! lambda get KEY
//! lambda put KEY VALUE [--context CTX]      (or --file PATH instead of VALUE)
//! lambda delete KEY [--context CTX]
//! lambda put-object NAME FILE --key KEY [--epochs E --amount A --replicas R]
//! lambda get-object NAME [--out FILE]
//! ```
//!
//! `put-object` tags FILE for provable data possession with the owner's
//! key (the PDP key is derived from the chain account key KEY), stores it
//! with its tags, registers a storage contract on the chain (`--chain`, or
//! `LAMBDA_CHAIN`) and waits for it to commit.
//!
//! `--endpoint` (or `LAMBDA_ENDPOINT`) names the storage nodes, comma
//! separated; `-o json` prints machine-readable output; `--key FILE` (or
//! `LAMBDA_KEY`) signs every request with a client account key, as a
//! chain-mode cluster requires. Every data command goes through the SDK.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write as _;

use lambda_agent::sdk::pdp_contract::wait_committed;
use lambda_agent::sdk::{
    Client, ClientConfig, Context, ContractTerms, ReadResult, Routing, Sibling, Wallet,
    WriteResult, pdp_key_of, register_contract,
};
use lambda_chain::client::ChainClient;
use lambda_common::keys::SigningKey;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "lambda", version, about = "Lambda user CLI")]
struct Cli {
    /// Storage node endpoints, comma separated.
    #[arg(
        long,
        short,
        env = "LAMBDA_ENDPOINT",
        default_value = "http://127.0.0.1:7070",
        value_delimiter = ',',
        global = true
    )]
    endpoint: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    /// Replicas (N) for this request.
    #[arg(long, global = true)]
    n: Option<u32>,
    /// Read quorum (R).
    #[arg(long, global = true)]
    r: Option<u32>,
    /// Write quorum (W).
    #[arg(long, global = true)]
    w: Option<u32>,
    /// Request deadline in milliseconds.
    #[arg(long, global = true)]
    timeout_ms: Option<u32>,
    /// Attempts per request, retrying UNAVAILABLE and overload with backoff
    /// (and timeouts of reads); 1 disables retries.
    #[arg(long, global = true, default_value_t = 4)]
    max_attempts: u32,
    /// The client account key file that signs requests and pays for them
    /// (required by a chain-mode cluster).
    #[arg(
        long = "key",
        id = "key_file",
        value_name = "FILE",
        env = "LAMBDA_KEY",
        global = true
    )]
    key_file: Option<PathBuf>,
    /// How requests pick their node: `ring` (straight to the key's
    /// coordinator, from the ring the endpoints serve) or `round_robin`.
    #[arg(long, global = true, default_value = "ring", env = "LAMBDA_ROUTING")]
    routing: Routing,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read a key: every sibling and the causal context.
    Get {
        /// The key (UTF-8).
        key: String,
    },
    /// Write a value. Pass the context of an earlier read to replace what it saw.
    Put {
        /// The key (UTF-8).
        key: String,
        /// The value (UTF-8); use --file for binary data.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        value: Option<String>,
        /// Read the value from this file.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Causal context from an earlier get or put.
        #[arg(long, short)]
        context: Option<String>,
    },
    /// Store a file as an audited object and register its storage contract.
    PutObject(PutObjectArgs),
    /// Read an audited object (checked: it decodes and its owner signed it).
    GetObject {
        /// The object's name.
        name: String,
        /// Write the object here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete a key. Pass the context of an earlier read.
    Delete {
        /// The key (UTF-8).
        key: String,
        /// Causal context from an earlier get or put.
        #[arg(long, short)]
        context: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
struct PutObjectArgs {
    /// The object's name (UTF-8).
    name: String,
    /// The file to store.
    file: PathBuf,
    /// Contract duration in epochs (the owner is the account of the global
    /// `--key FILE`, which is required here).
    #[arg(long, default_value_t = 100)]
    epochs: u64,
    /// Amount escrowed for the whole duration.
    #[arg(long, default_value_t = 1_000_000)]
    amount: u64,
    /// Replicas paid (and audited) per epoch.
    #[arg(long, default_value_t = 3)]
    replicas: u32,
    /// Transaction fee.
    #[arg(long, default_value_t = 1)]
    fee: u64,
    /// Sectors (31 bytes) per PDP block.
    #[arg(long, default_value_t = lambda_agent::sdk::pdp::DEFAULT_SECTORS)]
    sectors: u32,
    /// A validator's API endpoint.
    #[arg(long, env = "LAMBDA_CHAIN", default_value = "http://127.0.0.1:26657")]
    chain: String,
    /// Seconds to wait for the contract to commit.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

async fn put_object(
    client: &Client,
    a: &PutObjectArgs,
    key_file: Option<&std::path::Path>,
    output: Output,
) -> Result<()> {
    let Some(key) = key_file else {
        bail!(
            "put-object needs --key FILE (or LAMBDA_KEY): the owner's chain account key, which tags the object and pays for its contract"
        );
    };
    let account = SigningKey::load(key).with_context(|| format!("key {}", key.display()))?;
    let tagger = lambda_agent::sdk::pdp::Tagger::new(pdp_key_of(&account)?);
    let data = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let object = client
        .put_audited(&a.name, data, &tagger, a.sectors)
        .await?;
    let mut chain = ChainClient::connect(&a.chain).await?;
    let terms = ContractTerms {
        epochs: a.epochs,
        amount: a.amount,
        replicas: a.replicas,
        fee: a.fee,
    };
    let receipt = register_contract(&mut chain, &account, &object, terms).await?;
    let height = wait_committed(&mut chain, receipt.tx, Duration::from_secs(a.wait)).await?;
    let fields = json!({
        "name": object.name,
        "size": object.size,
        "stored_bytes": object.stored_bytes,
        "metadata_digest": hex::encode(object.digest),
        "contract": receipt.contract.to_string(),
        "tx": receipt.tx.to_string(),
        "height": height,
    });
    if output == Output::Json {
        println!("{fields}");
    } else if let Some(map) = fields.as_object() {
        for (k, v) in map {
            println!(
                "{k:16} {}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut cfg = ClientConfig::new(cli.endpoint.clone());
    cfg.options.n = cli.n;
    cfg.options.r = cli.r;
    cfg.options.w = cli.w;
    cfg.options.timeout_ms = cli.timeout_ms;
    if let Some(ms) = cli.timeout_ms {
        cfg.request_timeout = Duration::from_millis(u64::from(ms) + 1000);
    }
    cfg.retry.max_attempts = cli.max_attempts.max(1);
    cfg.routing = cli.routing;
    if let Some(path) = &cli.key_file {
        cfg.wallet = Some(Wallet::load(path)?);
    }
    let client = Client::connect(cfg).await?;
    let parse_ctx = |c: &Option<String>| -> Result<Option<Context>> {
        c.as_deref()
            .map(Context::from_text)
            .transpose()
            .map_err(Into::into)
    };
    match &cli.command {
        Command::Get { key } => {
            let read = client.get(key.as_bytes()).await?;
            print_read(key, &read, cli.output);
        }
        Command::Put {
            key,
            value,
            file,
            context,
        } => {
            let bytes = match (value, file) {
                (Some(v), None) => v.clone().into_bytes(),
                (None, Some(f)) => {
                    std::fs::read(f).with_context(|| format!("reading {}", f.display()))?
                }
                _ => bail!("give the value either as an argument or with --file"),
            };
            let w = client
                .put(key.as_bytes(), bytes, parse_ctx(context)?.as_ref())
                .await?;
            print_write("put", key, &w, cli.output);
        }
        Command::PutObject(a) => {
            put_object(&client, a, cli.key_file.as_deref(), cli.output).await?
        }
        Command::GetObject { name, out } => {
            let Some(bundle) = client.get_audited(name).await? else {
                bail!("object {name} not found");
            };
            match out {
                Some(path) => std::fs::write(path, bundle.data())
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(bundle.data())?,
            }
        }
        Command::Delete { key, context } => {
            let w = client
                .delete(key.as_bytes(), parse_ctx(context)?.as_ref())
                .await?;
            print_write("deleted", key, &w, cli.output);
        }
    }
    Ok(())
}

fn show_value(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => format!("0x{}", hex::encode(v)),
    }
}

fn show_time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

fn sibling_json(s: &Sibling) -> serde_json::Value {
    json!({
        "value": std::str::from_utf8(&s.value).ok(),
        "value_base64": base64::engine::general_purpose::STANDARD.encode(&s.value),
        "timestamp_ms": s.timestamp_ms,
        "actor": s.actor,
        "counter": s.counter,
    })
}

fn print_siblings(siblings: &[Sibling]) {
    for (i, s) in siblings.iter().enumerate() {
        println!(
            "  #{}  {}  (written {} by {}:{})",
            i + 1,
            show_value(&s.value),
            show_time(s.timestamp_ms),
            s.actor,
            s.counter
        );
    }
}

fn print_read(key: &str, r: &ReadResult, output: Output) {
    if output == Output::Json {
        let v = json!({
            "key": key,
            "found": r.found,
            "siblings": r.siblings.iter().map(sibling_json).collect::<Vec<_>>(),
            "context": r.context.to_text(),
        });
        println!("{v}");
        return;
    }
    match r.siblings.len() {
        0 => println!("{key}: not found"),
        1 => println!("{key}: 1 value"),
        n => println!("{key}: {n} siblings (concurrent values; put with the context to resolve)"),
    }
    print_siblings(&r.siblings);
    if !r.context.is_empty() {
        println!("context: {}", r.context.to_text());
    }
}

fn print_write(what: &str, key: &str, w: &WriteResult, output: Output) {
    if output == Output::Json {
        let v = json!({
            "key": key,
            "siblings": w.siblings.iter().map(sibling_json).collect::<Vec<_>>(),
            "context": w.context.to_text(),
        });
        println!("{v}");
        return;
    }
    match w.siblings.len() {
        0 | 1 => println!("{what} {key}"),
        n => println!("{what} {key}: now {n} siblings"),
    }
    if w.siblings.len() > 1 {
        print_siblings(&w.siblings);
    }
    println!("context: {}", w.context.to_text());
}
