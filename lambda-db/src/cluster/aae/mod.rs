//! Anti-entropy: replicas of each partition compare their Merkle trees and
//! exchange only the keys that differ, without any client read.
//!
//! - [`serve`]: answering a peer (tree levels, objects, partition pages,
//!   conditional deletes) from the local store.
//! - [`peer`]: the calls to a peer ([`peer::SyncCalls`]) and an in-process
//!   implementation for tests and the benchmark.
//! - [`exchange`]: one exchange, top down, counting bytes.
//! - [`worker`]: the background rounds over every partition this node
//!   holds, rate-limited, with per-partition progress ([`stats`]).

pub mod exchange;
pub mod peer;
pub mod serve;
pub mod stats;
pub mod worker;

#[cfg(test)]
mod tests;
