//! What the devnet prints once it is up: every endpoint (validators' APIs,
//! storage nodes' gRPC ports, the agent) and commands to use them that can
//! be copied as they are.

use std::fmt::Write as _;
use std::path::Path;

use crate::layout::Manifest;
use crate::pledge::PledgeOutcome;

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// The endpoint listing and example commands for the devnet `m` in `dir`
/// whose binaries are in `bin_dir`.
pub fn endpoints(
    m: &Manifest,
    dir: &Path,
    bin_dir: &Path,
    pledges: &[(String, PledgeOutcome)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "chain {}: {} validators, {} ms blocks, {} blocks per epoch",
        m.chain_id,
        m.validators.len(),
        m.block_time_ms,
        m.epoch_length
    );
    for (i, v) in m.validators.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {:<3} api http://{}   p2p {}   admin http://{}",
            v.name,
            v.api,
            v.p2p,
            m.validator_admin(i)
        );
    }
    let _ = writeln!(
        s,
        "dashboard: {}  (every validator's admin port serves it; JSON: /api/ring, /api/chain, /api/pdp, /api/accounts; also /metrics, /health)",
        m.dashboard_url()
    );
    let _ = writeln!(s, "storage nodes (one gRPC port each: KV, admin, replica):");
    for n in &m.nodes {
        let pledge = match pledges.iter().find(|(name, _)| *name == n.name) {
            Some((_, PledgeOutcome::Pledged { height })) => format!("pledged at {height}"),
            Some((_, PledgeOutcome::AlreadyPledged(st))) => format!("pledged ({})", st.name()),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "  {:<3} http://{}  id {}…  {}  {} GiB  {} Mbit/s  stake {}  {}",
            n.name,
            n.grpc,
            short(&n.id),
            n.zone,
            n.capacity_gib,
            n.bandwidth_mbps,
            n.stake,
            pledge
        );
    }
    let _ = writeln!(s, "agent: http://{}", m.agent.grpc);
    let _ = writeln!(
        s,
        "data: {}   logs: {}",
        dir.display(),
        dir.join("logs").display()
    );
    s.push('\n');
    s.push_str(&commands(m, bin_dir));
    s
}

/// Commands to try against the devnet.
pub fn commands(m: &Manifest, bin_dir: &Path) -> String {
    let nodes = m.node_endpoints().join(",");
    let chain = m.chain_endpoints();
    let first_chain = chain.first().cloned().unwrap_or_default();
    let first_node = m
        .nodes
        .first()
        .map(|n| n.grpc.to_string())
        .unwrap_or_default();
    let owner = m
        .nodes
        .first()
        .map(|n| n.owner.as_str())
        .unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "Try, in another terminal:");
    let _ = writeln!(s, "  export PATH={}:$PATH", bin_dir.display());
    let _ = writeln!(s, "  export LAMBDA_ENDPOINT={nodes}");
    let _ = writeln!(s, "  lambda put greeting hello");
    let _ = writeln!(s, "  lambda get greeting");
    let _ = writeln!(s, "  lambda-db status --endpoint {first_node}");
    let _ = writeln!(s, "  lambda-chain status --endpoint {first_chain}");
    let _ = writeln!(s, "  lambda-chain account {owner} --endpoint {first_chain}");
    let _ = writeln!(
        s,
        "  grpcurl -plaintext -d '{{\"metric\":\"host_cpu_usage_percent\",\"k\":3,\"start_ms\":0,\"end_ms\":9999999999999}}' {} lambda.agent.v1.Agent/TopK",
        m.agent.grpc
    );
    let _ = writeln!(s, "Ctrl-C stops everything.");
    s
}
