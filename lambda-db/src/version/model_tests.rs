//! Property tests of the versioning against a simple model.
//!
//! The model keeps, for every replica, the set of writes it knows and, for
//! every write, the set of writes its context had seen. A write is
//! superseded at a replica when the replica knows a write whose context saw
//! it. Random interleavings of puts (blind or with a context from any earlier
//! read), deletes, reads and replica merges must leave each replica holding
//! exactly the writes that nothing it knows superseded: no value lost that no
//! context superseded, none kept that was.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::{ActorId, Update, Value, VersionVector, VersionedObject};

const REPLICAS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    /// Replica `at` coordinates a write; `context` picks an earlier read.
    Put {
        at: usize,
        context: Option<usize>,
        tombstone: bool,
    },
    /// Replica `at` serves a read whose context later puts may use.
    Read { at: usize },
    /// Replica `to` merges replica `from`'s object.
    Sync { from: usize, to: usize },
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..REPLICAS, proptest::option::of(0usize..64), proptest::bool::weighted(0.15))
            .prop_map(|(at, context, tombstone)| Op::Put { at, context, tombstone }),
        2 => (0..REPLICAS).prop_map(|at| Op::Read { at }),
        3 => (0..REPLICAS, 0..REPLICAS).prop_map(|(from, to)| Op::Sync { from, to }),
    ]
}

struct Model {
    objects: Vec<VersionedObject>,
    /// Writes each replica knows (by write id = the value's bytes).
    known: Vec<BTreeSet<u32>>,
    /// For each write, the writes its context had seen.
    saw: Vec<BTreeSet<u32>>,
    tombstone: Vec<bool>,
    reads: Vec<(VersionVector, BTreeSet<u32>)>,
}

impl Model {
    fn new() -> Self {
        Self {
            objects: vec![VersionedObject::default(); REPLICAS],
            known: vec![BTreeSet::new(); REPLICAS],
            saw: Vec::new(),
            tombstone: Vec::new(),
            reads: Vec::new(),
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Put {
                at,
                context,
                tombstone,
            } => {
                let id = self.saw.len() as u32;
                let (clock, seen) = context
                    .and_then(|i| self.reads.get(i % self.reads.len().max(1)).cloned())
                    .unwrap_or_default();
                let value = if tombstone {
                    Value::Tombstone
                } else {
                    Value::Live(id.to_be_bytes().to_vec())
                };
                // Tombstones are identified by their dot, recorded below.
                self.objects[at].update(
                    ActorId(at as u64 + 1),
                    Update {
                        value,
                        context: clock,
                        timestamp_ms: i64::from(id),
                        last_write_wins: false,
                    },
                );
                self.known[at].extend(seen.iter().copied());
                self.known[at].insert(id);
                self.saw.push(seen);
                self.tombstone.push(tombstone);
            }
            Op::Read { at } => {
                self.reads
                    .push((self.objects[at].clock().clone(), self.known[at].clone()));
            }
            Op::Sync { from, to } => {
                let other = self.objects[from].clone();
                self.objects[to].sync(&other);
                let k = self.known[from].clone();
                self.known[to].extend(k);
            }
        }
    }

    /// Writes replica `r` must hold: known, and superseded by nothing it knows.
    fn expected(&self, r: usize) -> BTreeSet<u32> {
        self.known[r]
            .iter()
            .copied()
            .filter(|w| {
                !self.known[r]
                    .iter()
                    .any(|s| self.saw[*s as usize].contains(w))
            })
            .collect()
    }

    /// Write ids of the siblings replica `r` holds. Tombstones carry no bytes,
    /// so they are matched by timestamp, which the model set to the write id.
    fn held(&self, r: usize) -> BTreeSet<u32> {
        self.objects[r]
            .siblings()
            .iter()
            .map(|s| s.timestamp_ms as u32)
            .collect()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for r in 0..REPLICAS {
            prop_assert_eq!(self.held(r), self.expected(r), "replica {}", r);
            for s in self.objects[r].siblings() {
                let id = s.timestamp_ms as usize;
                prop_assert_eq!(s.value.is_tombstone(), self.tombstone[id]);
                if let Some(bytes) = s.value.bytes() {
                    prop_assert_eq!(bytes, &(id as u32).to_be_bytes()[..]);
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn siblings_match_the_model(ops in proptest::collection::vec(arb_op(), 1..80)) {
        let mut m = Model::new();
        for op in &ops {
            m.apply(op);
            m.check()?;
        }
        // After every replica has merged every other, all agree on the writes
        // that nothing superseded.
        for to in 0..REPLICAS {
            for from in 0..REPLICAS {
                m.apply(&Op::Sync { from, to });
            }
        }
        for to in 0..REPLICAS {
            for from in 0..REPLICAS {
                m.apply(&Op::Sync { from, to });
            }
        }
        m.check()?;
        for r in 1..REPLICAS {
            prop_assert_eq!(&m.objects[r], &m.objects[0]);
        }
    }
}
