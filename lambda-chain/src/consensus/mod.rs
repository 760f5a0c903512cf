//! Consensus: Tendermint BFT for 3f+1 validators with final commits.
//!
//! - [`io`]: the inputs and effects of the pure core.
//! - [`tendermint`]: the core itself (Algorithm 1 of the Tendermint paper),
//!   behind the [`ConsensusEngine`] trait the rest of the chain uses.
//! - `votes`, `signer`, `buffer`: vote counting and double-sign detection,
//!   the never-sign-twice guard, the bounded future-height buffer.
//! - [`config`], [`timeouts`]: chain id, bounds; timeouts growing with the
//!   round, block time.
//! - [`wal`]: the write-ahead log that makes signing crash-safe.
//! - [`app`]: the seam to the application (blocks, validity, commit,
//!   validator sets) and [`app::TestApp`], a small application for tests.
//! - [`runner`]: the async driver that owns the core, the log, the timers,
//!   the network and the application.
//! - [`sim`]: a deterministic simulation of validators, faults included.

pub mod app;
mod buffer;
pub mod config;
pub mod io;
pub mod runner;
mod signer;
pub mod sim;
pub mod tendermint;
pub mod timeouts;
mod votes;
pub mod wal;

use serde::{Deserialize, Serialize};

pub use io::{Effect, Input, Message, ProposalMessage, Step, Timeout, WalEntry};
pub use tendermint::{EngineConfig, Limits, Tendermint};
pub use timeouts::TimeoutConfig;

use crate::types::{Height, Round};

/// Counters of what the core ignored, dropped, refused or detected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Votes or proposals signed by someone outside the height's set (or a
    /// proposal from a validator that is not the round's proposer).
    pub unknown_validator: u64,
    /// Votes or proposals whose signature does not verify, or that are
    /// malformed (a proof-of-lock round not below the proposal's round).
    pub bad_signature: u64,
    /// Messages of heights already decided.
    pub messages_dropped_past: u64,
    /// Messages too far ahead (height or round), or past the buffer's bound.
    pub messages_dropped_future: u64,
    /// Messages buffered for a future height.
    pub messages_buffered: u64,
    /// Distinct extra proposals from one proposer for one round.
    pub conflicting_proposals: u64,
    /// Double signs detected (evidence emitted).
    pub double_signs: u64,
    /// Signing requests refused because the log holds a different message
    /// for the same (height, round, step).
    pub sign_refused: u64,
    /// Heights decided by this core.
    pub decisions: u64,
}

/// The interface of a consensus core, so the engine behind it can change.
pub trait ConsensusEngine: Send {
    /// Feeds one input; returns the effects to carry out, in order.
    fn handle(&mut self, input: Input) -> Vec<Effect>;
    /// The height being decided (0 before the first start).
    fn height(&self) -> Height;
    /// The current round.
    fn round(&self) -> Round;
    /// True once the current height is decided (until the next start).
    fn is_decided(&self) -> bool;
    /// True when messages of a higher height were seen: the driver should
    /// try block sync.
    fn behind(&self) -> bool;
    /// Messages worth sending again (own proposal of the round, the round's
    /// votes): the driver rebroadcasts them periodically, which recovers
    /// from lost messages and relays votes so equivocation becomes visible.
    fn gossip(&self) -> Vec<Message>;
    /// Counters.
    fn metrics(&self) -> &Metrics;
}
