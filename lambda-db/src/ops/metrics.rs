//! The storage node's `/metrics`, sampled at scrape time.
//!
//! [`NodeCollector`] reads the figures the node keeps for its admin
//! service anyway — nothing here duplicates a counter — and encodes them
//! on every scrape (names below without the `lambda_db_` prefix):
//!
//! - always: `info{node_id,mode,version}`, `requests_in_flight`,
//!   `requests_rejected_overload_total`, `writes_refused`,
//!   `merkle_trees_rebuilt_total`, and the RocksDB figures
//!   `rocksdb_{estimated_keys,sst_files_bytes,live_data_bytes,memtable_bytes,pending_compaction_bytes}{cf}`,
//!   `rocksdb_block_cache_{usage,pinned,capacity}_bytes`,
//!   `rocksdb_running_compactions`, `rocksdb_background_errors`;
//! - in a cluster: members and members up, `stable_epoch`, `target_epoch`,
//!   `layouts`; `forwarded_writes_total`, `read_repairs_total`,
//!   `hinted_writes_total`, `quorum_failures_total`; the hint backlog (and
//!   per owner), its bound, hints delivered and refused; anti-entropy
//!   rounds, exchanges, keys repaired, bytes, failed exchanges, partitions
//!   held and the current round's progress; tombstones reaped; the
//!   membership change's partitions to pull, pulled, bytes pulled,
//!   partitions dropped, whether one is in progress; replica calls in
//!   flight;
//! - in chain mode: the chain's height and epoch as the node follows them,
//!   and whether the node is a member of the epoch in force.
//!
//! Counters are cumulative since the process started (Prometheus handles
//! resets). The request counters and latency histograms live with the KV
//! service ([`crate::api::metrics`]).

use std::fmt::Error as FmtError;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::OpsSources;
use crate::chain::join::ChainMode;
use crate::cluster::Joined;
use crate::cluster::membership::MembershipSource;
use crate::storage::Cf;

type Out = Result<(), FmtError>;

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Writes one unlabelled gauge.
fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> Out {
    let m = ConstGauge::new(to_i64(v));
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

/// Writes one unlabelled counter (the encoder adds `_total`).
fn counter(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> Out {
    let m = ConstCounter::new(v);
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

/// Writes a gauge with one label, one sample per `(label value, value)`.
fn gauge_by(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl IntoIterator<Item = (String, u64)>,
) -> Out {
    let mut metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (value, v) in values {
        let labels = [(label, value)];
        ConstGauge::new(to_i64(v)).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The scrape-time collector of a storage node's figures.
#[derive(Debug)]
pub struct NodeCollector {
    src: Arc<OpsSources>,
}

impl NodeCollector {
    /// A collector over the node's sources.
    pub fn new(src: Arc<OpsSources>) -> Self {
        Self { src }
    }

    fn node(&self, enc: &mut DescriptorEncoder<'_>) -> Out {
        let s = &self.src;
        let info = [
            ("node_id", s.node_id.clone()),
            ("mode", s.mode.name().to_string()),
            ("version", env!("CARGO_PKG_VERSION").to_string()),
        ];
        let mut metric = enc.encode_descriptor(
            "info",
            "The node: id, mode (standalone, cluster, chain), version",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(1i64).encode(metric.encode_family(&info)?)?;
        gauge(
            enc,
            "requests_in_flight",
            "Public KV requests being served",
            s.gate.in_flight(),
        )?;
        counter(
            enc,
            "requests_rejected_overload",
            "Public KV requests refused at once because limits.max_inflight_requests were in flight",
            s.gate.rejected(),
        )?;
        gauge(
            enc,
            "writes_refused",
            "1 while the store refuses writes after a disk failure",
            u64::from(s.store.writes_refused().is_some()),
        )?;
        counter(
            enc,
            "merkle_trees_rebuilt",
            "Partition hash trees rebuilt from the data",
            s.store.merkle_rebuilds(),
        )
    }

    fn rocksdb(&self, enc: &mut DescriptorEncoder<'_>) -> Out {
        let engine = &self.src.engine;
        let per_cf = [
            (
                "rocksdb_estimated_keys",
                "rocksdb.estimate-num-keys",
                "Estimated keys, by column family",
            ),
            (
                "rocksdb_sst_files_bytes",
                "rocksdb.total-sst-files-size",
                "Size of all SST files, by column family",
            ),
            (
                "rocksdb_live_data_bytes",
                "rocksdb.estimate-live-data-size",
                "Estimated live data, by column family",
            ),
            (
                "rocksdb_memtable_bytes",
                "rocksdb.cur-size-all-mem-tables",
                "Memtables (active, unflushed and pinned), by column family",
            ),
            (
                "rocksdb_pending_compaction_bytes",
                "rocksdb.estimate-pending-compaction-bytes",
                "Bytes compaction is estimated to rewrite, by column family",
            ),
        ];
        for (name, property, help) in per_cf {
            let values = Cf::ALL.iter().filter_map(|cf| {
                engine
                    .int_property(*cf, property)
                    .map(|v| (cf.name().to_string(), v))
            });
            gauge_by(enc, name, help, "cf", values)?;
        }
        // The block cache is shared by every column family; DB-wide figures
        // are the same whichever family they are read through.
        let db_wide = [
            (
                "rocksdb_block_cache_usage_bytes",
                "rocksdb.block-cache-usage",
                "Block cache in use",
            ),
            (
                "rocksdb_block_cache_pinned_bytes",
                "rocksdb.block-cache-pinned-usage",
                "Block cache pinned",
            ),
            (
                "rocksdb_block_cache_capacity_bytes",
                "rocksdb.block-cache-capacity",
                "Block cache capacity",
            ),
            (
                "rocksdb_running_compactions",
                "rocksdb.num-running-compactions",
                "Compactions running",
            ),
            (
                "rocksdb_background_errors",
                "rocksdb.background-errors",
                "Background errors since the database opened",
            ),
        ];
        for (name, property, help) in db_wide {
            if let Some(v) = engine.int_property(Cf::Data, property) {
                gauge(enc, name, help, v)?;
            }
        }
        Ok(())
    }

    fn membership(enc: &mut DescriptorEncoder<'_>, j: &Joined) -> Out {
        let c = &j.cluster;
        let topo = c.view.get();
        let members = topo.members();
        let up = members.keys().filter(|id| c.liveness.is_alive(id)).count();
        gauge(
            enc,
            "members",
            "Members of the newest layout",
            members.len() as u64,
        )?;
        gauge(
            enc,
            "members_up",
            "Members of the newest layout this node believes up (itself included)",
            up as u64,
        )?;
        gauge(
            enc,
            "stable_epoch",
            "Epoch of the stable layout",
            topo.stable_epoch(),
        )?;
        gauge(
            enc,
            "target_epoch",
            "Epoch of the newest layout",
            topo.epoch(),
        )?;
        gauge(
            enc,
            "layouts",
            "Live layouts (more than one while the membership changes)",
            topo.layouts().len() as u64,
        )?;
        let busy = c.limits.max_inflight_replica - c.replica_slots.available_permits();
        gauge(
            enc,
            "replica_requests_in_flight",
            "Replica calls from peers being served",
            busy as u64,
        )
    }

    fn coordination(enc: &mut DescriptorEncoder<'_>, j: &Joined) -> Out {
        let k = &j.cluster.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        counter(
            enc,
            "forwarded_writes",
            "Writes forwarded to another coordinator",
            load(&k.forwarded),
        )?;
        counter(
            enc,
            "read_repairs",
            "Stale replicas repaired after reads",
            load(&k.read_repairs),
        )?;
        counter(
            enc,
            "hinted_writes",
            "Writes sent to a fallback with a hint",
            load(&k.hinted_writes),
        )?;
        counter(
            enc,
            "quorum_failures",
            "Requests that failed their read or write quorum",
            load(&k.quorum_failures),
        )
    }

    fn hints(enc: &mut DescriptorEncoder<'_>, j: &Joined) -> Out {
        let h = j.cluster.hints.stats();
        gauge(enc, "hint_backlog", "Hints held for other nodes", h.backlog)?;
        gauge(
            enc,
            "hint_backlog_max",
            "Bound on the hint backlog (hints.max_backlog)",
            h.max_backlog,
        )?;
        gauge_by(
            enc,
            "hint_backlog_by_owner",
            "Hints held, by the node they are for",
            "owner",
            h.owners.into_iter().map(|(o, n)| (o.0, n)),
        )?;
        counter(
            enc,
            "hints_delivered",
            "Hints delivered to their owner and removed",
            h.delivered,
        )?;
        counter(
            enc,
            "hints_refused",
            "Hinted writes refused because the backlog was full",
            h.refused,
        )
    }

    fn aae(enc: &mut DescriptorEncoder<'_>, j: &Joined) -> Out {
        let s = j.cluster.aae.snapshot();
        let failures = s.partitions.values().map(|p| p.failures).sum();
        counter(enc, "aae_rounds", "Anti-entropy rounds completed", s.rounds)?;
        counter(
            enc,
            "aae_exchanges",
            "Partition exchanges completed",
            s.exchanges,
        )?;
        counter(
            enc,
            "aae_keys_repaired",
            "Keys moved because replicas differed",
            s.keys_repaired,
        )?;
        counter(
            enc,
            "aae_bytes",
            "Bytes of anti-entropy messages (requests and answers)",
            s.bytes,
        )?;
        counter(
            enc,
            "aae_exchange_failures",
            "Partition exchanges that failed",
            failures,
        )?;
        gauge(
            enc,
            "aae_partitions_held",
            "Partitions this node compares in a round",
            u64::from(s.held),
        )?;
        gauge(
            enc,
            "aae_round_progress_partitions",
            "Partitions done in the current round",
            u64::from(s.progress),
        )?;
        counter(
            enc,
            "tombstones_reaped",
            "Tombstones collected",
            s.tombstones_reaped,
        )
    }

    fn transition(enc: &mut DescriptorEncoder<'_>, j: &Joined) -> Out {
        let t = j.transitions.status();
        let topo = j.cluster.view.get();
        gauge(
            enc,
            "transition_in_progress",
            "1 while a membership change is under way",
            u64::from(topo.in_transition()),
        )?;
        gauge(
            enc,
            "transition_partitions_to_pull",
            "Partitions this node pulls in the membership change under way",
            u64::from(t.total),
        )?;
        gauge(
            enc,
            "transition_partitions_pulled",
            "Partitions pulled so far in the membership change under way",
            u64::from(t.done),
        )?;
        gauge(
            enc,
            "transition_bytes_pulled",
            "Bytes pulled so far in the membership change under way",
            t.bytes,
        )?;
        counter(
            enc,
            "transition_partitions_dropped",
            "Partitions deleted after the node stopped holding them",
            u64::from(t.dropped),
        )
    }

    fn chain(enc: &mut DescriptorEncoder<'_>, chain: &ChainMode) -> Out {
        let tip = *chain.link.tip().borrow();
        let members = chain.membership.current();
        let member = members.get(&chain.node_id()).is_some();
        gauge(
            enc,
            "chain_height",
            "Latest committed chain height this node has seen",
            tip.height,
        )?;
        gauge(enc, "chain_epoch", "Chain epoch in force", tip.epoch)?;
        gauge(
            enc,
            "chain_member",
            "1 while this node is a member of the epoch in force",
            u64::from(member),
        )
    }
}

impl Collector for NodeCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Out {
        self.node(&mut enc)?;
        self.rocksdb(&mut enc)?;
        if let Some(j) = self.src.joined.get() {
            Self::membership(&mut enc, j)?;
            Self::coordination(&mut enc, j)?;
            Self::hints(&mut enc, j)?;
            Self::aae(&mut enc, j)?;
            Self::transition(&mut enc, j)?;
        }
        if let Some(chain) = &self.src.chain {
            Self::chain(&mut enc, chain)?;
        }
        Ok(())
    }
}
