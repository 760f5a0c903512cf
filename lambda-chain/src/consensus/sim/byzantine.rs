//! The simulated Byzantine validator: it equivocates at every chance.
//!
//! As the proposer of a round it signs two different valid blocks and sends
//! one to some peers and the other to the rest. In every (height, round) it
//! sees, it signs prevotes and precommits for different values (blocks it
//! knows of, or nil) to different peers, again whenever it learns of a new
//! value. It knows the committed chain (an adversary that sees everything),
//! so its blocks are valid and honest validators genuinely split over them.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use lambda_common::keys::{Address, SigningKey};
use rand::RngExt;
use rand::rngs::StdRng;

use crate::consensus::app::TestApp;
use crate::consensus::io::{Message, ProposalMessage};
use crate::types::{Hash, Height, Proposal, Round, ValidatorSet, Vote, VoteType};

/// The equivocating validator.
#[derive(Debug)]
pub(super) struct Byzantine {
    key: SigningKey,
    address: Address,
    chain_id: String,
    values: BTreeMap<(Height, Round), BTreeSet<Hash>>,
    /// Number of known values at the last attack of (height, round, kind).
    attacked: BTreeMap<(Height, Round, u8), usize>,
    highest: Height,
}

impl Byzantine {
    pub(super) fn new(key: SigningKey, chain_id: String) -> Self {
        Self {
            address: key.public().address(),
            key,
            chain_id,
            values: BTreeMap::new(),
            attacked: BTreeMap::new(),
            highest: 0,
        }
    }

    pub(super) fn address(&self) -> Address {
        self.address
    }

    /// Reacts to a message: the (peer, message) pairs to send. `parent` is
    /// the committed hash at a height (the zero hash for genesis).
    pub(super) fn react(
        &mut self,
        m: &Message,
        set: &ValidatorSet,
        peers: &[usize],
        parent: &dyn Fn(Height) -> Hash,
        rng: &mut StdRng,
    ) -> Vec<(usize, Message)> {
        let (h, r) = (m.height(), m.round());
        if h + 1 < self.highest || peers.len() < 2 {
            return Vec::new();
        }
        if h > self.highest {
            self.highest = h;
            let keep = h.saturating_sub(1);
            self.values = self.values.split_off(&(keep, 0));
            self.attacked = self.attacked.split_off(&(keep, 0, 0));
        }
        let mut out = Vec::new();
        if set.proposer(h, r).address == self.address && !self.attacked.contains_key(&(h, r, 0)) {
            self.attacked.insert((h, r, 0), 0);
            out.extend(self.propose_twice(h, r, parent(h.saturating_sub(1)), peers, rng));
        }
        let seen = match m {
            Message::Proposal(p) => Some(p.proposal.block_hash),
            Message::Vote(v) => v.block_hash,
        };
        let values = self.values.entry((h, r)).or_default();
        if let Some(v) = seen {
            values.insert(v);
        }
        let known: Vec<Option<Hash>> = values.iter().copied().map(Some).collect();
        for (kind, vote_type) in [(1u8, VoteType::Prevote), (2, VoteType::Precommit)] {
            let last = self.attacked.get(&(h, r, kind)).copied();
            if last.is_some_and(|n| n >= known.len()) {
                continue;
            }
            self.attacked.insert((h, r, kind), known.len());
            out.extend(self.vote_split(vote_type, h, r, &known, peers, rng));
        }
        out
    }

    fn propose_twice(
        &mut self,
        h: Height,
        r: Round,
        parent: Hash,
        peers: &[usize],
        rng: &mut StdRng,
    ) -> Vec<(usize, Message)> {
        let blocks: Vec<Vec<u8>> = (0..2u64)
            .map(|i| TestApp::make_block(h, parent, r, 0xB000 + i, &rng.random::<[u8; 16]>()))
            .collect();
        let msgs: Vec<Message> = blocks
            .into_iter()
            .map(|b| {
                let hash = Hash::digest(&b);
                self.values.entry((h, r)).or_default().insert(hash);
                Message::Proposal(ProposalMessage {
                    proposal: Proposal::new_signed(&self.key, &self.chain_id, h, r, None, hash),
                    block: Bytes::from(b),
                })
            })
            .collect();
        peers
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let pick = if i < 2 { i } else { rng.random_range(0..2) };
                (p, msgs[pick].clone())
            })
            .collect()
    }

    fn vote_split(
        &self,
        t: VoteType,
        h: Height,
        r: Round,
        known: &[Option<Hash>],
        peers: &[usize],
        rng: &mut StdRng,
    ) -> Vec<(usize, Message)> {
        let mut choices: Vec<Option<Hash>> = known.to_vec();
        choices.push(None);
        peers
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                // The first two peers always get different values.
                let pick = if i < 2 {
                    i.min(choices.len() - 1)
                } else {
                    rng.random_range(0..choices.len())
                };
                let vote = Vote::new_signed(&self.key, &self.chain_id, t, h, r, choices[pick]);
                (p, Message::Vote(vote))
            })
            .collect()
    }
}
