//! A key's versioned object: concurrent siblings, each with the dot of the
//! write that made it, under one version vector (a dotted version vector
//! set, as in Riak 2's `dvv_enabled` objects).
//!
//! - [`VersionedObject::update`] is what a coordinator does for a client
//!   write: drop the siblings the client's context has seen, add the new
//!   value under a fresh dot, and fold the context into the clock.
//! - [`VersionedObject::sync`] is what a replica does with an object from a
//!   peer: keep every sibling the other side has not seen or still holds.
//!
//! Because each sibling carries its own dot, a write with an old context
//! removes exactly the siblings that context saw, and concurrent blind writes
//! add one sibling each instead of multiplying them.

use super::clock::{ActorId, Dot, VersionVector};

/// What a sibling holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// A live value.
    Live(Vec<u8>),
    /// A delete marker; kept so that the delete's dot survives merges.
    Tombstone,
}

impl Value {
    /// The bytes of a live value.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Live(v) => Some(v),
            Value::Tombstone => None,
        }
    }

    /// True for a delete marker.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Value::Tombstone)
    }
}

/// One concurrent version of a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sibling {
    /// The write that made it.
    pub dot: Dot,
    /// Wall-clock time at the coordinator, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The value or a tombstone.
    pub value: Value,
}

/// A key's object: its causal history and the siblings it has not reconciled.
///
/// Invariants (checked when decoding outside bytes): every sibling's dot is
/// in `clock`, and no two siblings share a dot. Siblings are kept sorted by
/// dot so equal objects encode to equal bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VersionedObject {
    clock: VersionVector,
    siblings: Vec<Sibling>,
}

/// A client write as the coordinator applies it.
#[derive(Clone, Debug)]
pub struct Update {
    /// The new value, or a tombstone for a delete.
    pub value: Value,
    /// The context the client read (empty for a blind write).
    pub context: VersionVector,
    /// Wall-clock time at the coordinator.
    pub timestamp_ms: i64,
    /// Replace every sibling, whatever the context saw (opt-in LWW).
    pub last_write_wins: bool,
}

impl VersionedObject {
    /// Builds an object from parts that were already validated.
    pub(crate) fn from_parts(clock: VersionVector, mut siblings: Vec<Sibling>) -> Self {
        siblings.sort_by_key(|s| s.dot);
        Self { clock, siblings }
    }

    /// The causal history: every write this object has seen.
    pub fn clock(&self) -> &VersionVector {
        &self.clock
    }

    /// All siblings, tombstones included, ordered by dot.
    pub fn siblings(&self) -> &[Sibling] {
        &self.siblings
    }

    /// Siblings that hold a live value, ordered by dot.
    pub fn live(&self) -> impl Iterator<Item = &Sibling> {
        self.siblings.iter().filter(|s| !s.value.is_tombstone())
    }

    /// True when the key has at least one live value.
    pub fn is_found(&self) -> bool {
        self.live().next().is_some()
    }

    /// True when nothing was ever written.
    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty() && self.clock.is_empty()
    }

    /// True when every sibling is a tombstone (a deleted key).
    pub fn is_deleted(&self) -> bool {
        !self.siblings.is_empty() && !self.is_found()
    }

    /// The live sibling with the newest timestamp (ties broken by dot), for
    /// reads that opted into last-write-wins.
    pub fn newest_live(&self) -> Option<&Sibling> {
        self.live().max_by_key(|s| (s.timestamp_ms, s.dot))
    }

    /// Applies a client write coordinated by `actor` and returns the dot it
    /// got. Siblings the context has seen are superseded; the others stay as
    /// concurrent values (unless `last_write_wins`).
    pub fn update(&mut self, actor: ActorId, update: Update) -> Dot {
        self.update_at(actor, 0, update)
    }

    /// [`VersionedObject::update`] with the new dot's counter at least
    /// `min_counter` (a node draws counters from one node-wide sequence, so a
    /// key whose history was removed never reuses a dot).
    pub fn update_at(&mut self, actor: ActorId, min_counter: u64, update: Update) -> Dot {
        let mut dot = self.clock.next_dot(actor);
        dot.counter = dot.counter.max(min_counter);
        if update.last_write_wins {
            self.siblings.clear();
        } else {
            self.siblings.retain(|s| !update.context.contains(s.dot));
        }
        self.clock.merge(&update.context);
        self.clock.observe(actor, dot.counter);
        self.siblings.push(Sibling {
            dot,
            timestamp_ms: update.timestamp_ms,
            value: update.value,
        });
        self.siblings.sort_by_key(|s| s.dot);
        dot
    }

    /// Merges a peer's object into this one: a sibling survives when the
    /// other side still holds it or has never seen it. Idempotent,
    /// commutative and associative.
    pub fn sync(&mut self, other: &VersionedObject) {
        let mine_kept = self
            .siblings
            .iter()
            .filter(|s| !other.clock.contains(s.dot) || other.has_dot(s.dot));
        let theirs_kept = other
            .siblings
            .iter()
            .filter(|s| !self.clock.contains(s.dot));
        let mut merged: Vec<Sibling> = mine_kept.chain(theirs_kept).cloned().collect();
        merged.sort_by_key(|s| s.dot);
        self.siblings = merged;
        self.clock.merge(&other.clock);
    }

    /// The merge of two objects.
    pub fn synced(&self, other: &VersionedObject) -> VersionedObject {
        let mut out = self.clone();
        out.sync(other);
        out
    }

    /// True when this object has seen everything `other` has, so sending it
    /// `other` would change nothing.
    pub fn descends(&self, other: &VersionedObject) -> bool {
        self.clock.descends(&other.clock)
    }

    fn has_dot(&self, dot: Dot) -> bool {
        self.siblings.binary_search_by_key(&dot, |s| s.dot).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ActorId = ActorId(1);
    const B: ActorId = ActorId(2);

    fn put(obj: &mut VersionedObject, actor: ActorId, v: &str, ctx: &VersionVector) -> Dot {
        obj.update(
            actor,
            Update {
                value: Value::Live(v.as_bytes().to_vec()),
                context: ctx.clone(),
                timestamp_ms: 0,
                last_write_wins: false,
            },
        )
    }

    fn values(obj: &VersionedObject) -> Vec<String> {
        obj.live()
            .map(|s| String::from_utf8_lossy(s.value.bytes().unwrap_or_default()).into_owned())
            .collect()
    }

    #[test]
    fn blind_writes_become_siblings_and_context_replaces_them() {
        let mut o = VersionedObject::default();
        put(&mut o, A, "x", &VersionVector::new());
        put(&mut o, A, "y", &VersionVector::new());
        assert_eq!(values(&o), ["x", "y"]);
        let ctx = o.clock().clone();
        put(&mut o, B, "z", &ctx);
        assert_eq!(values(&o), ["z"]);
    }

    #[test]
    fn stale_context_only_removes_what_it_saw() {
        let mut o = VersionedObject::default();
        put(&mut o, A, "x", &VersionVector::new());
        let seen_x = o.clock().clone();
        put(&mut o, A, "y", &VersionVector::new());
        put(&mut o, A, "z", &seen_x);
        assert_eq!(values(&o), ["y", "z"]);
    }

    #[test]
    fn sync_keeps_unseen_and_drops_superseded() {
        let mut r1 = VersionedObject::default();
        put(&mut r1, A, "x", &VersionVector::new());
        let mut r2 = r1.clone();
        let ctx = r2.clock().clone();
        put(&mut r2, B, "y", &ctx); // supersedes x on r2
        put(&mut r1, A, "w", &VersionVector::new()); // concurrent with y
        let m = r1.synced(&r2);
        assert_eq!(values(&m), ["w", "y"]);
        assert_eq!(m, r2.synced(&r1));
        assert_eq!(m.synced(&m), m);
    }

    #[test]
    fn tombstones_hide_values_and_keep_history() {
        let mut o = VersionedObject::default();
        put(&mut o, A, "x", &VersionVector::new());
        let ctx = o.clock().clone();
        o.update(
            A,
            Update {
                value: Value::Tombstone,
                context: ctx,
                timestamp_ms: 0,
                last_write_wins: false,
            },
        );
        assert!(o.is_deleted());
        assert!(!o.is_found());
        assert_eq!(o.clock().get(A), 2);
    }

    #[test]
    fn last_write_wins_replaces_everything() {
        let mut o = VersionedObject::default();
        put(&mut o, A, "x", &VersionVector::new());
        put(&mut o, B, "y", &VersionVector::new());
        o.update(
            A,
            Update {
                value: Value::Live(b"z".to_vec()),
                context: VersionVector::new(),
                timestamp_ms: 5,
                last_write_wins: true,
            },
        );
        assert_eq!(values(&o), ["z"]);
    }
}
