//! Version vectors and dots: the causal bookkeeping under every value.
//!
//! An [`ActorId`] names one node's data directory (it changes when the data
//! is lost, so counters are never reused). A [`Dot`] names one write: the
//! actor that coordinated it and that actor's counter. A [`VersionVector`]
//! summarises a causal history: for each actor, the highest counter seen.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// The identity under which a node versions the writes it coordinates.
///
/// Generated at random when a data directory is created and stored in it, so
/// a node whose disk was wiped comes back as a new actor and never reuses a
/// counter of its former self.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(pub u64);

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One write: the actor that coordinated it and its counter (≥ 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dot {
    /// The coordinating actor.
    pub actor: ActorId,
    /// The actor's counter for this write.
    pub counter: u64,
}

/// How two version vectors relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    /// Both summarise the same history.
    Equal,
    /// The left side has seen everything the right side has, and more.
    Dominates,
    /// The right side has seen everything the left side has, and more.
    Dominated,
    /// Each has seen something the other has not.
    Concurrent,
}

/// A causal history: for each actor, the highest counter seen.
///
/// Kept sorted by actor (a `BTreeMap`), so encodings and iteration are
/// deterministic. Actors with counter 0 are never stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VersionVector {
    entries: BTreeMap<ActorId, u64>,
}

impl VersionVector {
    /// The empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter of `actor` (0 when unseen).
    pub fn get(&self, actor: ActorId) -> u64 {
        self.entries.get(&actor).copied().unwrap_or(0)
    }

    /// Raises the counter of `actor` to at least `counter`.
    pub fn observe(&mut self, actor: ActorId, counter: u64) {
        if counter == 0 {
            return;
        }
        let entry = self.entries.entry(actor).or_insert(0);
        *entry = (*entry).max(counter);
    }

    /// True when the history contains the write `dot`.
    pub fn contains(&self, dot: Dot) -> bool {
        self.get(dot.actor) >= dot.counter
    }

    /// True when this history includes all of `other`.
    pub fn descends(&self, other: &VersionVector) -> bool {
        other.entries.iter().all(|(a, c)| self.get(*a) >= *c)
    }

    /// True when neither history includes the other.
    pub fn concurrent(&self, other: &VersionVector) -> bool {
        !self.descends(other) && !other.descends(self)
    }

    /// How this history relates to `other`.
    pub fn compare(&self, other: &VersionVector) -> Causality {
        match (self.descends(other), other.descends(self)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::Dominates,
            (false, true) => Causality::Dominated,
            (false, false) => Causality::Concurrent,
        }
    }

    /// Joins `other` into this history (pointwise maximum).
    pub fn merge(&mut self, other: &VersionVector) {
        for (actor, counter) in &other.entries {
            self.observe(*actor, *counter);
        }
    }

    /// The join of two histories.
    pub fn merged(&self, other: &VersionVector) -> VersionVector {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// The next dot `actor` would use after this history.
    pub fn next_dot(&self, actor: ActorId) -> Dot {
        Dot {
            actor,
            counter: self.get(actor).saturating_add(1),
        }
    }

    /// Entries in actor order.
    pub fn iter(&self) -> impl Iterator<Item = (ActorId, u64)> + '_ {
        self.entries.iter().map(|(a, c)| (*a, *c))
    }

    /// Number of actors with a non-zero counter.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for the empty history.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl PartialOrd for VersionVector {
    /// The causal partial order: `None` for concurrent histories.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.compare(other) {
            Causality::Equal => Some(Ordering::Equal),
            Causality::Dominates => Some(Ordering::Greater),
            Causality::Dominated => Some(Ordering::Less),
            Causality::Concurrent => None,
        }
    }
}

impl FromIterator<(ActorId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (ActorId, u64)>>(iter: I) -> Self {
        let mut vv = VersionVector::new();
        for (a, c) in iter {
            vv.observe(a, c);
        }
        vv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vv(pairs: &[(u64, u64)]) -> VersionVector {
        pairs.iter().map(|(a, c)| (ActorId(*a), *c)).collect()
    }

    #[test]
    fn relations() {
        let a = vv(&[(1, 2), (2, 1)]);
        let b = vv(&[(1, 1)]);
        let c = vv(&[(2, 3)]);
        assert_eq!(a.compare(&b), Causality::Dominates);
        assert_eq!(b.compare(&a), Causality::Dominated);
        assert_eq!(a.compare(&c), Causality::Concurrent);
        assert!(a.concurrent(&c));
        assert_eq!(a.compare(&a.clone()), Causality::Equal);
        assert_eq!(a.merged(&c), vv(&[(1, 2), (2, 3)]));
        assert!(a.contains(Dot {
            actor: ActorId(1),
            counter: 2
        }));
        assert!(!a.contains(Dot {
            actor: ActorId(1),
            counter: 3
        }));
        assert_eq!(a.next_dot(ActorId(2)).counter, 2);
        assert!(vv(&[(1, 0)]).is_empty());
    }

    fn arb_vv() -> impl Strategy<Value = VersionVector> {
        proptest::collection::vec((0u64..5, 0u64..6), 0..6)
            .prop_map(|v| v.into_iter().map(|(a, c)| (ActorId(a), c)).collect())
    }

    proptest! {
        #[test]
        fn merge_is_least_upper_bound(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
            let m = a.merged(&b);
            prop_assert!(m.descends(&a) && m.descends(&b));
            prop_assert_eq!(&m, &b.merged(&a));
            prop_assert_eq!(a.merged(&b).merged(&c), a.merged(&b.merged(&c)));
            // Any upper bound of a and b descends the merge.
            let ub = m.merged(&c);
            if c.descends(&a) && c.descends(&b) {
                prop_assert!(c.descends(&m));
            }
            prop_assert!(ub.descends(&m));
        }

        #[test]
        fn compare_is_consistent(a in arb_vv(), b in arb_vv()) {
            let ab = a.compare(&b);
            let ba = b.compare(&a);
            let flipped = match ab {
                Causality::Dominates => Causality::Dominated,
                Causality::Dominated => Causality::Dominates,
                other => other,
            };
            prop_assert_eq!(ba, flipped);
            prop_assert_eq!(a.concurrent(&b), ab == Causality::Concurrent);
        }
    }
}
