//! The vote keeper of one height: the prevotes and precommits received per
//! round, the voting power behind each value, and double-sign detection.
//!
//! A validator's first vote of a (round, step) is the one counted; a second,
//! different vote for the same (round, step) is never counted and is
//! reported once as [`DoubleSignEvidence`]. Signatures are checked by the
//! caller before a vote gets here.

use std::collections::{BTreeMap, BTreeSet};

use lambda_common::keys::Address;

use crate::types::{CommitCertificate, CommitSig, DoubleSignEvidence, Hash, Round, Vote, VoteType};

/// The votes of one (round, step).
#[derive(Debug, Default)]
struct RoundVotes {
    /// Power of every validator that voted, counted once.
    voters: BTreeMap<Address, u64>,
    /// The votes for each value. An equivocating validator appears under
    /// each value it signed (up to [`MAX_VALUES_PER_VOTER`]): any one of its
    /// votes could have been the only one this validator saw, so each counts
    /// towards its own value, exactly as a proof of lock built elsewhere
    /// would count it.
    by_value: BTreeMap<Option<Hash>, BTreeMap<Address, Vote>>,
    power_by_value: BTreeMap<Option<Hash>, u64>,
    /// Power of the distinct voters.
    total: u64,
}

/// Different values kept per validator per (round, step); more are dropped.
const MAX_VALUES_PER_VOTER: usize = 3;

/// What adding a vote did.
#[derive(Debug)]
pub(crate) enum Added {
    /// A new vote, now counted.
    New,
    /// The same vote again; nothing changed.
    Duplicate,
    /// A conflicting vote, reported for the first time.
    Equivocation(Box<DoubleSignEvidence>),
    /// A conflicting vote already reported.
    EquivocationKnown,
}

/// All votes of one height.
#[derive(Debug, Default)]
pub(crate) struct VoteKeeper {
    prevotes: BTreeMap<Round, RoundVotes>,
    precommits: BTreeMap<Round, RoundVotes>,
    reported: BTreeSet<(Address, Round, bool)>,
}

impl VoteKeeper {
    fn rounds(&self, t: VoteType) -> &BTreeMap<Round, RoundVotes> {
        match t {
            VoteType::Prevote => &self.prevotes,
            VoteType::Precommit => &self.precommits,
        }
    }

    /// Adds a verified vote of a validator with `power`.
    pub(crate) fn add(&mut self, vote: Vote, power: u64) -> Added {
        let rounds = match vote.vote_type {
            VoteType::Prevote => &mut self.prevotes,
            VoteType::Precommit => &mut self.precommits,
        };
        let rv = rounds.entry(vote.round).or_default();
        if rv
            .by_value
            .get(&vote.block_hash)
            .is_some_and(|m| m.contains_key(&vote.validator))
        {
            return Added::Duplicate;
        }
        let earlier: Option<Vote> = rv
            .by_value
            .values()
            .find_map(|m| m.get(&vote.validator).cloned());
        let values_of_voter = rv
            .by_value
            .values()
            .filter(|m| m.contains_key(&vote.validator))
            .count();
        if values_of_voter >= MAX_VALUES_PER_VOTER {
            return Added::EquivocationKnown;
        }
        *rv.power_by_value.entry(vote.block_hash).or_default() += power;
        if rv.voters.insert(vote.validator, power).is_none() {
            rv.total = rv.total.saturating_add(power);
        }
        rv.by_value
            .entry(vote.block_hash)
            .or_default()
            .insert(vote.validator, vote.clone());
        let Some(first) = earlier else {
            return Added::New;
        };
        let key = (
            vote.validator,
            vote.round,
            vote.vote_type == VoteType::Prevote,
        );
        if !self.reported.insert(key) {
            return Added::EquivocationKnown;
        }
        Added::Equivocation(Box::new(DoubleSignEvidence { a: first, b: vote }))
    }

    /// True if exactly this vote (signature included) is already counted.
    pub(crate) fn contains(&self, v: &Vote) -> bool {
        self.rounds(v.vote_type)
            .get(&v.round)
            .and_then(|rv| rv.by_value.get(&v.block_hash))
            .and_then(|m| m.get(&v.validator))
            .is_some_and(|x| x == v)
    }

    /// Power of the votes of `t` in `round` for `value`.
    pub(crate) fn power_for(&self, t: VoteType, round: Round, value: Option<Hash>) -> u64 {
        self.rounds(t)
            .get(&round)
            .and_then(|rv| rv.power_by_value.get(&value).copied())
            .unwrap_or(0)
    }

    /// Power of all votes of `t` in `round`, whatever they are for.
    pub(crate) fn total(&self, t: VoteType, round: Round) -> u64 {
        self.rounds(t).get(&round).map_or(0, |rv| rv.total)
    }

    /// Power of the distinct validators that sent any vote in `round`.
    pub(crate) fn round_power(&self, round: Round) -> u64 {
        let mut seen: BTreeMap<Address, u64> = BTreeMap::new();
        for t in [VoteType::Prevote, VoteType::Precommit] {
            if let Some(rv) = self.rounds(t).get(&round) {
                seen.extend(rv.voters.iter().map(|(a, p)| (*a, *p)));
            }
        }
        seen.values().sum()
    }

    /// Rounds above `round` in which any vote arrived, highest first.
    pub(crate) fn rounds_above(&self, round: Round) -> Vec<Round> {
        let mut rs: BTreeSet<Round> = BTreeSet::new();
        rs.extend(
            self.prevotes
                .range(round.saturating_add(1)..)
                .map(|(r, _)| *r),
        );
        rs.extend(
            self.precommits
                .range(round.saturating_add(1)..)
                .map(|(r, _)| *r),
        );
        rs.into_iter().rev().collect()
    }

    /// Rounds with any precommit.
    pub(crate) fn precommit_rounds(&self) -> Vec<Round> {
        self.precommits.keys().copied().collect()
    }

    /// Values with precommits in `round`.
    pub(crate) fn precommitted_values(&self, round: Round) -> Vec<(Option<Hash>, u64)> {
        self.precommits
            .get(&round)
            .map(|rv| rv.power_by_value.iter().map(|(v, p)| (*v, *p)).collect())
            .unwrap_or_default()
    }

    /// The certificate of the precommits for `hash` in `round`.
    pub(crate) fn certificate(
        &self,
        height: crate::types::Height,
        round: Round,
        hash: Hash,
    ) -> CommitCertificate {
        let signatures = self
            .precommits
            .get(&round)
            .and_then(|rv| rv.by_value.get(&Some(hash)))
            .map(|m| {
                m.values()
                    .map(|v| CommitSig {
                        validator: v.validator,
                        signature: v.signature,
                    })
                    .collect()
            })
            .unwrap_or_default();
        CommitCertificate {
            height,
            round,
            block_hash: hash,
            signatures,
        }
    }

    /// The counted prevotes of `round` for `hash` (a proof of lock when
    /// they hold more than two thirds of the power).
    pub(crate) fn prevotes_for(&self, round: Round, hash: Hash) -> Vec<Vote> {
        self.prevotes
            .get(&round)
            .and_then(|rv| rv.by_value.get(&Some(hash)))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every vote of `round` (prevotes, then precommits, conflicting ones
    /// included), for relay.
    pub(crate) fn votes_of_round(&self, round: Round) -> Vec<Vote> {
        let mut out = Vec::new();
        for t in [VoteType::Prevote, VoteType::Precommit] {
            if let Some(rv) = self.rounds(t).get(&round) {
                out.extend(rv.by_value.values().flat_map(|m| m.values().cloned()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_common::keys::SigningKey;

    fn vote(k: &SigningKey, t: VoteType, r: Round, h: Option<Hash>) -> Vote {
        Vote::new_signed(k, "c", t, 1, r, h)
    }

    #[test]
    fn counts_first_vote_and_reports_equivocation_once() {
        let k = SigningKey::from_seed([1; 32]);
        let k2 = SigningKey::from_seed([2; 32]);
        let a = Some(Hash::digest(b"a"));
        let b = Some(Hash::digest(b"b"));
        let mut vk = VoteKeeper::default();
        assert!(matches!(
            vk.add(vote(&k, VoteType::Prevote, 0, a), 10),
            Added::New
        ));
        assert!(matches!(
            vk.add(vote(&k, VoteType::Prevote, 0, a), 10),
            Added::Duplicate
        ));
        match vk.add(vote(&k, VoteType::Prevote, 0, b), 10) {
            Added::Equivocation(ev) => {
                assert_eq!(ev.a.block_hash, a);
                assert_eq!(ev.b.block_hash, b);
            }
            other => panic!("expected evidence, got {other:?}"),
        }
        assert!(matches!(
            vk.add(vote(&k, VoteType::Prevote, 0, None), 10),
            Added::EquivocationKnown
        ));
        // Each signed value counts for itself; the voter counts once in
        // the total.
        assert_eq!(vk.power_for(VoteType::Prevote, 0, a), 10);
        assert_eq!(vk.power_for(VoteType::Prevote, 0, b), 10);
        assert!(matches!(
            vk.add(vote(&k, VoteType::Prevote, 0, Some(Hash::digest(b"c"))), 10),
            Added::EquivocationKnown
        ));
        assert_eq!(
            vk.power_for(VoteType::Prevote, 0, Some(Hash::digest(b"c"))),
            0,
            "at most three values per voter"
        );
        assert!(matches!(
            vk.add(vote(&k2, VoteType::Precommit, 0, a), 7),
            Added::New
        ));
        assert_eq!(vk.total(VoteType::Prevote, 0), 10);
        assert_eq!(vk.round_power(0), 17);
        assert_eq!(vk.rounds_above(0), Vec::<Round>::new());
        vk.add(vote(&k2, VoteType::Prevote, 3, None), 7);
        assert_eq!(vk.rounds_above(0), vec![3]);
        let cert = vk.certificate(1, 0, Hash::digest(b"a"));
        assert_eq!(cert.signatures.len(), 1);
    }
}
