//! The double-sign guard: the only place the consensus core signs.
//!
//! It remembers every message this validator signed at the heights still in
//! play, starting from what the write-ahead log replayed at boot. Asked to
//! sign for a (height, round, step) it already signed, it never produces a
//! second signature: the identical message is simply sent again, and a
//! different one is refused (the previously signed message is sent instead).
//! A fresh signature is returned together with the [`WalEntry`] the driver
//! must persist before it sends the message.

use std::collections::BTreeMap;

use bytes::Bytes;
use lambda_common::keys::{Address, SigningKey};

use super::io::{Message, ProposalMessage, WalEntry};
use crate::types::{Hash, Height, Proposal, Round, Vote, VoteType};

/// The signing slot of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Proposal,
    Prevote,
    Precommit,
}

fn slot_of(m: &Message) -> (Height, Round, Slot) {
    match m {
        Message::Proposal(p) => (p.proposal.height, p.proposal.round, Slot::Proposal),
        Message::Vote(v) => (
            v.height,
            v.round,
            match v.vote_type {
                VoteType::Prevote => Slot::Prevote,
                VoteType::Precommit => Slot::Precommit,
            },
        ),
    }
}

/// The outcome of a signing request.
#[derive(Debug)]
pub(crate) enum Signed {
    /// A new signature: persist the entry, then send its message.
    Fresh(WalEntry),
    /// This exact message was signed before: send it again.
    Repeat(Message),
    /// A different message was signed for this slot before: the request is
    /// refused and the earlier message is what counts (send it again).
    Refused(Message),
}

/// Signs on behalf of the validator, never twice for one slot.
#[derive(Debug)]
pub(crate) struct Signer {
    key: SigningKey,
    address: Address,
    chain_id: String,
    signed: BTreeMap<(Height, Round, Slot), WalEntry>,
}

impl Signer {
    /// A signer that remembers `replayed` (the write-ahead log's entries;
    /// entries signed by another key are ignored).
    pub(crate) fn new(key: SigningKey, chain_id: String, replayed: Vec<WalEntry>) -> Self {
        let address = key.public().address();
        let mut signed = BTreeMap::new();
        for e in replayed {
            let signer = match &e.message {
                Message::Proposal(p) => p.proposal.proposer,
                Message::Vote(v) => v.validator,
            };
            if signer == address {
                signed.insert(slot_of(&e.message), e);
            }
        }
        Self {
            key,
            address,
            chain_id,
            signed,
        }
    }

    /// This validator's address.
    pub(crate) fn address(&self) -> Address {
        self.address
    }

    /// The chain id signatures are bound to.
    pub(crate) fn chain_id(&self) -> &str {
        &self.chain_id
    }

    fn guard(&mut self, fresh: WalEntry) -> Signed {
        let slot = slot_of(&fresh.message);
        match self.signed.get(&slot) {
            Some(prev) if prev.message == fresh.message => Signed::Repeat(prev.message.clone()),
            Some(prev) => Signed::Refused(prev.message.clone()),
            None => {
                self.signed.insert(slot, fresh.clone());
                Signed::Fresh(fresh)
            }
        }
    }

    /// Signs a vote, unless the slot is taken.
    pub(crate) fn vote(
        &mut self,
        vote_type: VoteType,
        height: Height,
        round: Round,
        block_hash: Option<Hash>,
        locked_block: Option<Bytes>,
        pol_votes: Vec<Vote>,
    ) -> Signed {
        let slot = (
            height,
            round,
            match vote_type {
                VoteType::Prevote => Slot::Prevote,
                VoteType::Precommit => Slot::Precommit,
            },
        );
        // Decide before signing, so a refused request costs no signature.
        if let Some(prev) = self.signed.get(&slot) {
            if let Message::Vote(v) = &prev.message
                && v.block_hash == block_hash
            {
                return Signed::Repeat(prev.message.clone());
            }
            return Signed::Refused(prev.message.clone());
        }
        let vote = Vote::new_signed(
            &self.key,
            &self.chain_id,
            vote_type,
            height,
            round,
            block_hash,
        );
        self.guard(WalEntry {
            message: Message::Vote(vote),
            locked_block,
            pol_votes,
        })
    }

    /// Signs a proposal, unless the slot is taken.
    pub(crate) fn proposal(
        &mut self,
        height: Height,
        round: Round,
        pol_round: Option<Round>,
        block_hash: Hash,
        block: Bytes,
    ) -> Signed {
        if let Some(prev) = self.signed.get(&(height, round, Slot::Proposal)) {
            if let Message::Proposal(p) = &prev.message
                && p.proposal.block_hash == block_hash
                && p.proposal.pol_round == pol_round
            {
                return Signed::Repeat(prev.message.clone());
            }
            return Signed::Refused(prev.message.clone());
        }
        let proposal = Proposal::new_signed(
            &self.key,
            &self.chain_id,
            height,
            round,
            pol_round,
            block_hash,
        );
        self.guard(WalEntry {
            message: Message::Proposal(ProposalMessage { proposal, block }),
            locked_block: None,
            pol_votes: Vec::new(),
        })
    }

    /// Everything signed at `height`, in (round, step) order.
    pub(crate) fn signed_at(&self, height: Height) -> impl Iterator<Item = &WalEntry> {
        self.signed
            .range((height, 0, Slot::Proposal)..=(height, Round::MAX, Slot::Precommit))
            .map(|(_, e)| e)
    }

    /// Forgets heights below `height` (they are committed).
    pub(crate) fn prune_below(&mut self, height: Height) {
        self.signed = self.signed.split_off(&(height, 0, Slot::Proposal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_signs_two_values_for_one_slot() {
        let key = SigningKey::from_seed([3; 32]);
        let mut s = Signer::new(key.clone(), "c".into(), Vec::new());
        let a = Some(Hash::digest(b"a"));
        let first = match s.vote(VoteType::Prevote, 1, 0, a, None, Vec::new()) {
            Signed::Fresh(e) => e,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            s.vote(VoteType::Prevote, 1, 0, a, None, Vec::new()),
            Signed::Repeat(m) if m == first.message
        ));
        assert!(matches!(
            s.vote(VoteType::Prevote, 1, 0, None, None, Vec::new()),
            Signed::Refused(m) if m == first.message
        ));
        // A restarted signer replaying the entry refuses likewise.
        let mut s2 = Signer::new(key, "c".into(), vec![first.clone()]);
        assert!(matches!(
            s2.vote(VoteType::Prevote, 1, 0, None, None, Vec::new()),
            Signed::Refused(m) if m == first.message
        ));
        assert!(matches!(
            s2.vote(VoteType::Precommit, 1, 0, None, None, Vec::new()),
            Signed::Fresh(_)
        ));
        s2.prune_below(2);
        assert_eq!(s2.signed_at(1).count(), 0);
    }
}
