//! The inputs the consensus core accepts and the effects it asks its driver
//! to carry out.
//!
//! The core is a pure state machine (`handle(input) -> Vec<Effect>`): it
//! never touches a socket, a clock, a disk or a random source. Everything it
//! needs from the outside world arrives as an [`Input`]; everything it wants
//! done leaves as an [`Effect`], in the order it must be done.

use std::time::Duration;

use bytes::Bytes;

use crate::types::{
    CommitCertificate, DoubleSignEvidence, Hash, Height, Proposal, Round, ValidatorSet, Vote,
};

/// A step of a Tendermint round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Waiting for the round's proposal.
    Propose,
    /// Prevoted; waiting for prevotes.
    Prevote,
    /// Precommitted; waiting for precommits.
    Precommit,
}

/// A timeout the core asked for; it comes back as [`Input::Timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout {
    /// Height it was scheduled at.
    pub height: Height,
    /// Round it was scheduled at.
    pub round: Round,
    /// The step it ends.
    pub step: Step,
}

/// A signed proposal and the block it proposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalMessage {
    /// The signed proposal (carries the block hash).
    pub proposal: Proposal,
    /// The block's bytes, opaque to consensus.
    pub block: Bytes,
}

/// A message validators exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A proposal with its block.
    Proposal(ProposalMessage),
    /// A prevote or precommit.
    Vote(Vote),
}

impl Message {
    /// The height the message belongs to.
    pub fn height(&self) -> Height {
        match self {
            Message::Proposal(p) => p.proposal.height,
            Message::Vote(v) => v.height,
        }
    }

    /// The round the message belongs to.
    pub fn round(&self) -> Round {
        match self {
            Message::Proposal(p) => p.proposal.round,
            Message::Vote(v) => v.round,
        }
    }
}

/// A write-ahead-log record: a message this validator signed, persisted
/// before it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalEntry {
    /// The signed message.
    pub message: Message,
    /// For a precommit for a block: that block, so a restarted validator
    /// restores its lock and can re-propose the locked value.
    pub locked_block: Option<Bytes>,
    /// For a precommit for a block: the prevotes that justified it (the
    /// proof of lock), so a restarted validator can relay them.
    pub pol_votes: Vec<Vote>,
}

/// Something the outside world tells the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// Start consensus for `height` with the validator set of that height
    /// (after the previous height was committed, or at boot).
    StartHeight {
        /// The height to decide.
        height: Height,
        /// Its validators.
        validators: ValidatorSet,
    },
    /// A proposal (with its block) from the network.
    Proposal(ProposalMessage),
    /// The application's verdict on a block the core asked about with
    /// [`Effect::ValidateBlock`].
    BlockVerdict {
        /// Height of the block.
        height: Height,
        /// The block.
        block_hash: Hash,
        /// True if the application accepts it.
        valid: bool,
    },
    /// A vote from the network.
    Vote(Vote),
    /// A timeout scheduled with [`Effect::ScheduleTimeout`] elapsed.
    Timeout(Timeout),
    /// The application's answer to [`Effect::RequestValue`].
    ProposeValue {
        /// Height asked for.
        height: Height,
        /// Round asked for.
        round: Round,
        /// Hash of the block.
        block_hash: Hash,
        /// The block.
        block: Bytes,
    },
}

/// Something the core asks its driver to do, in order.
#[derive(Clone, Debug)]
pub enum Effect {
    /// Durably store (fsync) this record before carrying out any later
    /// effect: the next effect sends the message it holds.
    Persist(WalEntry),
    /// Send a message to every peer.
    Broadcast(Message),
    /// Deliver [`Input::Timeout`] after `after`.
    ScheduleTimeout {
        /// The timeout.
        timeout: Timeout,
        /// Its duration.
        after: Duration,
    },
    /// Ask the application for a block to propose; answer with
    /// [`Input::ProposeValue`].
    RequestValue {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
    },
    /// Ask the application whether a proposed block is valid; answer with
    /// [`Input::BlockVerdict`].
    ValidateBlock {
        /// Height.
        height: Height,
        /// The block's claimed hash.
        block_hash: Hash,
        /// The block.
        block: Bytes,
    },
    /// The height is decided: commit the block. The core waits for the next
    /// [`Input::StartHeight`].
    Decide {
        /// The block's hash.
        block_hash: Hash,
        /// The block.
        block: Bytes,
        /// Precommits of more than two thirds of the power.
        certificate: CommitCertificate,
    },
    /// A validator signed two different values for one height, round and
    /// step; anyone may submit this to slash it.
    Evidence(DoubleSignEvidence),
}
