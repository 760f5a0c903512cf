//! Anti-entropy progress for operators: per partition the time of the last
//! exchange, keys repaired, bytes and failures; per node the rounds, the
//! current round's progress and totals.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::exchange::PartitionOutcome;

/// One partition's anti-entropy record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionStats {
    /// Wall-clock time of the last completed exchange, ms since the epoch.
    pub last_exchange_ms: i64,
    /// Keys exchanged because they differed.
    pub keys_repaired: u64,
    /// Bytes of exchange messages.
    pub bytes: u64,
    /// Failed exchanges.
    pub failures: u64,
}

#[derive(Debug, Default)]
struct Inner {
    partitions: BTreeMap<u32, PartitionStats>,
    rounds: u64,
    held: u32,
    progress: u32,
    exchanges: u64,
    keys_repaired: u64,
    bytes: u64,
}

/// A snapshot of [`AaeStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AaeSnapshot {
    /// Completed rounds.
    pub rounds: u64,
    /// Partitions held.
    pub held: u32,
    /// Partitions done in the current round.
    pub progress: u32,
    /// Partition exchanges done.
    pub exchanges: u64,
    /// Keys repaired.
    pub keys_repaired: u64,
    /// Bytes of exchange messages.
    pub bytes: u64,
    /// Per partition.
    pub partitions: BTreeMap<u32, PartitionStats>,
    /// Tombstones collected.
    pub tombstones_reaped: u64,
}

/// Counters shared by the worker (writer) and the admin service (reader).
#[derive(Debug, Default)]
pub struct AaeStats {
    inner: Mutex<Inner>,
    /// Tombstones collected since start.
    pub tombstones_reaped: AtomicU64,
}

impl AaeStats {
    /// Records a successful exchange of some partitions.
    pub fn record(&self, now_ms: i64, outcomes: &[PartitionOutcome]) {
        let mut s = self.inner.lock();
        for o in outcomes {
            s.exchanges += 1;
            s.keys_repaired += o.keys_repaired;
            s.bytes += o.bytes;
            let p = s.partitions.entry(o.partition).or_default();
            p.last_exchange_ms = now_ms;
            p.keys_repaired += o.keys_repaired;
            p.bytes += o.bytes;
        }
    }

    /// Records a failed exchange of some partitions.
    pub fn record_failure(&self, partitions: &[u32]) {
        let mut s = self.inner.lock();
        for p in partitions {
            s.partitions.entry(*p).or_default().failures += 1;
        }
    }

    /// Starts a round over `held` partitions.
    pub fn start_round(&self, held: u32) {
        let mut s = self.inner.lock();
        s.held = held;
        s.progress = 0;
    }

    /// Counts partitions done in the current round.
    pub fn advance(&self, done: u32) {
        let mut s = self.inner.lock();
        s.progress = s.progress.saturating_add(done).min(s.held);
    }

    /// Ends a round.
    pub fn end_round(&self) {
        self.inner.lock().rounds += 1;
    }

    /// Forgets partitions the node no longer holds.
    pub fn retain(&self, held: impl Fn(u32) -> bool) {
        self.inner.lock().partitions.retain(|p, _| held(*p));
    }

    /// The counters now.
    pub fn snapshot(&self) -> AaeSnapshot {
        let s = self.inner.lock();
        AaeSnapshot {
            rounds: s.rounds,
            held: s.held,
            progress: s.progress,
            exchanges: s.exchanges,
            keys_repaired: s.keys_repaired,
            bytes: s.bytes,
            partitions: s.partitions.clone(),
            tombstones_reaped: self.tombstones_reaped.load(Ordering::Relaxed),
        }
    }
}
