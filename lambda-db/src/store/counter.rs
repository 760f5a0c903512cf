//! The node-wide sequence that dot counters are drawn from.
//!
//! Every dot this node issues gets a counter above every counter it issued
//! before, for any key. Per-key counters (`clock[actor] + 1`) would restart
//! at 1 for a key whose history was removed (a reaped tombstone, a dropped
//! partition), and a replica that still holds an old sibling with that dot
//! would take the new write for the old one. The sequence survives restarts
//! by reserving blocks: the top of the reserved block is persisted (synced)
//! before any counter in it is used, and a restart continues above it.

use parking_lot::Mutex;

use super::{meta_record, read_meta_u64};
use crate::error::Result;
use crate::storage::{Cf, Engine, WriteBatch};

const META_COUNTER: &[u8] = b"counter";
/// Counters reserved per persisted record.
const BLOCK: u64 = 1 << 16;

#[derive(Debug)]
struct State {
    last: u64,
    reserved: u64,
}

/// The sequence.
#[derive(Debug)]
pub(super) struct DotCounter {
    state: Mutex<State>,
}

impl DotCounter {
    /// Continues above the persisted reservation.
    pub(super) fn open(engine: &dyn Engine) -> Result<Self> {
        let reserved = read_meta_u64(engine, META_COUNTER, 8)?.unwrap_or(0);
        Ok(Self {
            state: Mutex::new(State {
                last: reserved,
                reserved,
            }),
        })
    }

    /// The next counter, at least `at_least`; `persist` writes a new
    /// reservation when the current block is used up.
    pub(super) fn next(
        &self,
        at_least: u64,
        persist: impl FnOnce(WriteBatch) -> Result<()>,
    ) -> Result<u64> {
        let mut s = self.state.lock();
        let next = s.last.saturating_add(1).max(at_least);
        if next > s.reserved {
            let reserved = next.saturating_add(BLOCK);
            let mut b = WriteBatch::new();
            b.put(Cf::Meta, META_COUNTER, meta_record(&reserved.to_be_bytes()));
            persist(b)?;
            s.reserved = reserved;
        }
        s.last = next;
        Ok(next)
    }
}
