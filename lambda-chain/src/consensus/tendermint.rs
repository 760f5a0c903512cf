//! Tendermint as a pure state machine: Algorithm 1 of "The latest gossip on
//! BFT consensus" (Buchman, Kwon, Milosevic, 2018), one height at a time.
//!
//! State per height: `round`, `step`, `lockedValue/lockedRound`,
//! `validValue/validRound`, the proposals and the votes received. After every
//! input the `upon` rules are evaluated until none fires (line numbers of the
//! paper in the comments), so the order in which messages arrive does not
//! matter. "2f+1" is voting power above two thirds of the height's total,
//! "f+1" power above one third. Signing goes through [`Signer`], which never
//! signs two different messages for one (height, round, step); a fresh
//! signature is emitted as [`Effect::Persist`] before its
//! [`Effect::Broadcast`].
//!
//! Departures from the pseudo-code, all forced by running it for real:
//! `getValue()` and `valid(v)` are asynchronous (effects answered by inputs),
//! so every validator, the proposer included, schedules `timeoutPropose`; a
//! decided height waits for [`Input::StartHeight`] from the driver, which
//! commits the block and paces heights.

use std::collections::{BTreeMap, BTreeSet};

use super::buffer::{Buffered, FutureBuffer};
pub use super::config::{EngineConfig, Limits};
use super::io::{Effect, Input, Message, ProposalMessage, Step, Timeout, WalEntry};
use super::signer::{Signed, Signer};
use super::votes::{Added, VoteKeeper};
use super::{ConsensusEngine, Metrics};
use crate::types::{Hash, Height, Round, TypesError, ValidatorSet, Vote, VoteType};
use bytes::Bytes;
use lambda_common::keys::SigningKey;

/// A proposed value: a block and its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Value {
    hash: Hash,
    block: Bytes,
}

/// Rules that fire once per round ("for the first time").
const RULE_34: u8 = 34;
const RULE_36: u8 = 36;
const RULE_47: u8 = 47;

/// The Tendermint core of one validator.
#[derive(Debug)]
pub struct Tendermint {
    cfg: EngineConfig,
    signer: Signer,
    height: Height,
    validators: Option<ValidatorSet>,
    round: Round,
    step: Step,
    decided: Option<Round>,
    locked: Option<(Round, Value)>,
    valid: Option<(Round, Value)>,
    proposals: BTreeMap<Round, Vec<ProposalMessage>>,
    verdicts: BTreeMap<Hash, bool>,
    asked: BTreeSet<Hash>,
    votes: VoteKeeper,
    fired: BTreeSet<(Round, u8)>,
    buffer: FutureBuffer,
    highest_seen: Height,
    metrics: Metrics,
}

impl Tendermint {
    /// A core signing with `key`, remembering the write-ahead log's entries
    /// `replayed` (so it never signs against them). Nothing happens until
    /// the first [`Input::StartHeight`].
    pub fn new(cfg: EngineConfig, key: SigningKey, replayed: Vec<WalEntry>) -> Self {
        let signer = Signer::new(key, cfg.chain_id.clone(), replayed);
        let buffer = FutureBuffer::new(
            cfg.limits.buffer_capacity,
            cfg.limits.max_heights_ahead,
            cfg.limits.buffer_max_block_bytes,
        );
        Self {
            cfg,
            signer,
            height: 0,
            validators: None,
            round: 0,
            step: Step::Propose,
            decided: None,
            locked: None,
            valid: None,
            proposals: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            asked: BTreeSet::new(),
            votes: VoteKeeper::default(),
            fired: BTreeSet::new(),
            buffer,
            highest_seen: 0,
            metrics: Metrics::default(),
        }
    }

    /// The current step.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The locked round, if locked.
    pub fn locked_round(&self) -> Option<Round> {
        self.locked.as_ref().map(|(r, _)| *r)
    }

    fn set(&self) -> Option<&ValidatorSet> {
        self.validators.as_ref()
    }

    fn is_validator(&self) -> bool {
        self.set()
            .is_some_and(|s| s.get(&self.signer.address()).is_some())
    }

    fn quorum(&self) -> u64 {
        self.set().map_or(u64::MAX, ValidatorSet::quorum_power)
    }

    fn one_third(&self) -> u64 {
        self.set().map_or(u64::MAX, ValidatorSet::one_third_power)
    }

    fn start_height(&mut self, height: Height, validators: ValidatorSet, out: &mut Vec<Effect>) {
        if self.validators.is_some() && height <= self.height {
            return;
        }
        self.height = height;
        self.validators = Some(validators);
        self.round = 0;
        self.step = Step::Propose;
        self.decided = None;
        self.locked = None;
        self.valid = None;
        self.proposals.clear();
        self.verdicts.clear();
        self.asked.clear();
        self.votes = VoteKeeper::default();
        self.fired.clear();
        self.signer.prune_below(height);
        let start_round = self.restore_from_wal();
        self.start_round(start_round, out);
        for m in self.buffer.take(height) {
            self.on_message(m, out);
        }
    }

    /// Restores what this validator signed at the current height before a
    /// restart: its own messages count again, its lock comes back from its
    /// latest precommit for a block. Returns the round to resume at.
    fn restore_from_wal(&mut self) -> Round {
        let entries: Vec<WalEntry> = self.signer.signed_at(self.height).cloned().collect();
        let mut round = 0;
        let power = self
            .set()
            .and_then(|s| s.get(&self.signer.address()))
            .map_or(0, |v| v.power);
        for e in entries {
            round = round.max(e.message.round());
            match e.message {
                Message::Proposal(p) => {
                    self.verdicts.insert(p.proposal.block_hash, true);
                    self.proposals.entry(p.proposal.round).or_default().push(p);
                }
                Message::Vote(v) => {
                    for pol in e.pol_votes {
                        self.on_vote_restored(pol);
                    }
                    if let (VoteType::Precommit, Some(hash), Some(block)) =
                        (v.vote_type, v.block_hash, e.locked_block)
                        && self.locked.as_ref().is_none_or(|(r, _)| *r < v.round)
                    {
                        let value = Value { hash, block };
                        self.verdicts.insert(hash, true);
                        self.locked = Some((v.round, value.clone()));
                        self.valid = Some((v.round, value));
                    }
                    if power > 0 {
                        let _ = self.votes.add(v, power);
                    }
                }
            }
        }
        round
    }

    /// `StartRound(round)`, lines 11–21.
    fn start_round(&mut self, round: Round, out: &mut Vec<Effect>) {
        self.round = round;
        self.step = Step::Propose;
        let me = self.signer.address();
        let proposer = self.set().map(|s| s.proposer(self.height, round).address);
        if proposer == Some(me) {
            match self.valid.clone() {
                Some((vr, v)) => self.propose(Some(vr), v, out),
                None => out.push(Effect::RequestValue {
                    height: self.height,
                    round,
                }),
            }
        }
        self.schedule(Step::Propose, out);
    }

    fn schedule(&self, step: Step, out: &mut Vec<Effect>) {
        out.push(Effect::ScheduleTimeout {
            timeout: Timeout {
                height: self.height,
                round: self.round,
                step,
            },
            after: self.cfg.timeouts.duration(step, self.round),
        });
    }

    fn propose(&mut self, pol_round: Option<Round>, v: Value, out: &mut Vec<Effect>) {
        let signed = self
            .signer
            .proposal(self.height, self.round, pol_round, v.hash, v.block);
        if let Some(Message::Proposal(p)) = self.emit(signed, out) {
            self.verdicts.insert(p.proposal.block_hash, true);
            let list = self.proposals.entry(p.proposal.round).or_default();
            if !list.iter().any(|q| q.proposal == p.proposal) {
                list.push(p);
            }
        }
    }

    fn vote(&mut self, vote_type: VoteType, hash: Option<Hash>, out: &mut Vec<Effect>) {
        if !self.is_validator() {
            return;
        }
        let (locked_block, pol_votes) = match (vote_type, hash) {
            (VoteType::Precommit, Some(h)) => {
                (self.block_of(h), self.votes.prevotes_for(self.round, h))
            }
            _ => (None, Vec::new()),
        };
        let signed = self.signer.vote(
            vote_type,
            self.height,
            self.round,
            hash,
            locked_block,
            pol_votes,
        );
        if let Some(Message::Vote(v)) = self.emit(signed, out) {
            self.count_vote(v, out);
        }
    }

    /// Turns a signing outcome into effects; returns the message that was
    /// (or had been) signed.
    fn emit(&mut self, signed: Signed, out: &mut Vec<Effect>) -> Option<Message> {
        let m = match signed {
            Signed::Fresh(entry) => {
                let m = entry.message.clone();
                out.push(Effect::Persist(entry));
                m
            }
            Signed::Repeat(m) => m,
            Signed::Refused(m) => {
                self.metrics.sign_refused += 1;
                tracing::warn!(
                    height = self.height,
                    round = self.round,
                    "refused to sign against the write-ahead log; resending the signed message"
                );
                m
            }
        };
        out.push(Effect::Broadcast(m.clone()));
        Some(m)
    }

    fn block_of(&self, hash: Hash) -> Option<Bytes> {
        self.proposals
            .values()
            .flatten()
            .find(|p| p.proposal.block_hash == hash)
            .map(|p| p.block.clone())
            .or_else(|| {
                [&self.locked, &self.valid]
                    .into_iter()
                    .flatten()
                    .find(|(_, v)| v.hash == hash)
                    .map(|(_, v)| v.block.clone())
            })
    }

    /// Routes a message by height: current height, buffer, or drop.
    fn on_message(&mut self, m: Message, out: &mut Vec<Effect>) {
        let h = m.height();
        self.highest_seen = self.highest_seen.max(h);
        if self.validators.is_none() || h > self.height {
            match self.buffer.offer(self.height, m) {
                Buffered::Kept => self.metrics.messages_buffered += 1,
                Buffered::Duplicate => {}
                Buffered::Dropped => self.metrics.messages_dropped_future += 1,
            }
            return;
        }
        if h < self.height {
            self.metrics.messages_dropped_past += 1;
            return;
        }
        if m.round() > self.round.saturating_add(self.cfg.limits.max_rounds_ahead) {
            self.metrics.messages_dropped_future += 1;
            return;
        }
        match m {
            Message::Proposal(p) => self.on_proposal(p, out),
            Message::Vote(v) => self.on_vote(v, out),
        }
    }

    fn count_error(&mut self, e: &TypesError) {
        match e {
            TypesError::UnknownValidator(_) => self.metrics.unknown_validator += 1,
            _ => self.metrics.bad_signature += 1,
        }
    }

    fn on_vote(&mut self, v: Vote, out: &mut Vec<Effect>) {
        if self.votes.contains(&v) {
            return;
        }
        let Some(set) = self.set() else { return };
        match v.verify(self.signer.chain_id(), set) {
            Ok(_) => self.count_vote(v, out),
            Err(e) => {
                tracing::debug!(error = %e, "vote ignored");
                self.count_error(&e);
            }
        }
    }

    /// A vote from this validator's own log (a proof of lock): verified,
    /// then counted, without effects.
    fn on_vote_restored(&mut self, v: Vote) {
        let ok = self.set().is_some_and(|s| {
            v.height == self.height && v.verify(self.signer.chain_id(), s).is_ok()
        });
        if ok {
            let mut ignored = Vec::new();
            self.count_vote(v, &mut ignored);
        }
    }

    fn count_vote(&mut self, v: Vote, out: &mut Vec<Effect>) {
        let power = self
            .set()
            .and_then(|s| s.get(&v.validator))
            .map_or(0, |val| val.power);
        if power == 0 {
            return;
        }
        if let Added::Equivocation(ev) = self.votes.add(v, power) {
            self.metrics.double_signs += 1;
            tracing::warn!(validator = %ev.a.validator, height = ev.a.height, round = ev.a.round, "double sign detected");
            out.push(Effect::Evidence(*ev));
        }
    }

    fn on_proposal(&mut self, p: ProposalMessage, out: &mut Vec<Effect>) {
        let Some(set) = self.set() else { return };
        if let Err(e) = p.proposal.verify(self.signer.chain_id(), set) {
            tracing::debug!(error = %e, "proposal ignored");
            self.count_error(&e);
            return;
        }
        if p.proposal
            .pol_round
            .is_some_and(|vr| vr >= p.proposal.round)
        {
            self.metrics.bad_signature += 1;
            return;
        }
        let max = self.cfg.limits.max_proposals_per_round;
        let list = self.proposals.entry(p.proposal.round).or_default();
        if list.iter().any(|q| q.proposal == p.proposal) {
            return;
        }
        if !list.is_empty() {
            self.metrics.conflicting_proposals += 1;
            if list.len() >= max {
                return;
            }
        }
        let hash = p.proposal.block_hash;
        let block = p.block.clone();
        list.push(p);
        if !self.verdicts.contains_key(&hash) && self.asked.insert(hash) {
            out.push(Effect::ValidateBlock {
                height: self.height,
                block_hash: hash,
                block,
            });
        }
    }

    /// `OnTimeoutPropose`, `OnTimeoutPrevote`, `OnTimeoutPrecommit`
    /// (lines 57–67).
    fn on_timeout(&mut self, t: Timeout, out: &mut Vec<Effect>) {
        if t.height != self.height || t.round != self.round || self.decided.is_some() {
            return;
        }
        match t.step {
            Step::Propose if self.step == Step::Propose => {
                self.vote(VoteType::Prevote, None, out);
                self.step = Step::Prevote;
            }
            Step::Prevote if self.step == Step::Prevote => {
                self.vote(VoteType::Precommit, None, out);
                self.step = Step::Precommit;
            }
            Step::Precommit => self.start_round(self.round.saturating_add(1), out),
            _ => {}
        }
    }

    fn on_value(
        &mut self,
        height: Height,
        round: Round,
        hash: Hash,
        block: Bytes,
        out: &mut Vec<Effect>,
    ) {
        if height != self.height || round != self.round || self.step != Step::Propose {
            return;
        }
        let me = self.signer.address();
        let is_proposer = self
            .set()
            .is_some_and(|s| s.proposer(height, round).address == me);
        let already = self
            .proposals
            .get(&round)
            .is_some_and(|l| l.iter().any(|p| p.proposal.proposer == me));
        if is_proposer && !already && self.decided.is_none() {
            self.propose(None, Value { hash, block }, out);
        }
    }
}

mod rules;

impl ConsensusEngine for Tendermint {
    fn handle(&mut self, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::StartHeight { height, validators } => {
                self.start_height(height, validators, &mut out)
            }
            Input::Proposal(p) => self.on_message(Message::Proposal(p), &mut out),
            Input::Vote(v) => self.on_message(Message::Vote(v), &mut out),
            Input::BlockVerdict {
                height,
                block_hash,
                valid,
            } => {
                if height == self.height && self.asked.contains(&block_hash) {
                    self.verdicts.insert(block_hash, valid);
                }
            }
            Input::Timeout(t) => self.on_timeout(t, &mut out),
            Input::ProposeValue {
                height,
                round,
                block_hash,
                block,
            } => self.on_value(height, round, block_hash, block, &mut out),
        }
        self.apply_rules(&mut out);
        out
    }

    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn is_decided(&self) -> bool {
        self.decided.is_some()
    }

    fn behind(&self) -> bool {
        self.highest_seen > self.height
    }

    fn gossip(&self) -> Vec<Message> {
        if self.validators.is_none() {
            return Vec::new();
        }
        let round = self.decided.unwrap_or(self.round);
        let me = self.signer.address();
        // Everything this validator signed at the height (its proposal only
        // for the current round: blocks are large), so its messages reach
        // every correct validator eventually, as the algorithm assumes, even
        // across crashes and drops.
        let mut out: Vec<Message> = self
            .signer
            .signed_at(self.height)
            .filter(|e| match &e.message {
                Message::Proposal(p) => p.proposal.round == round,
                Message::Vote(_) => true,
            })
            .map(|e| e.message.clone())
            .collect();
        // The round's votes from others (relay: equivocations become
        // visible, partitions are bridged).
        out.extend(
            self.votes
                .votes_of_round(round)
                .into_iter()
                .filter(|v| v.validator != me)
                .map(Message::Vote),
        );
        // Proofs of lock: the prevotes behind this validator's valid value
        // and behind the round's proposals, for validators that missed them.
        let mut pols: BTreeSet<(Round, Hash)> = BTreeSet::new();
        if let Some((vr, v)) = &self.valid {
            pols.insert((*vr, v.hash));
        }
        for p in self.proposals.get(&round).into_iter().flatten() {
            if let Some(vr) = p.proposal.pol_round {
                pols.insert((vr, p.proposal.block_hash));
            }
        }
        for (vr, hash) in pols {
            if vr != round {
                out.extend(
                    self.votes
                        .prevotes_for(vr, hash)
                        .into_iter()
                        .filter(|v| v.validator != me)
                        .map(Message::Vote),
                );
            }
        }
        out
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests;
