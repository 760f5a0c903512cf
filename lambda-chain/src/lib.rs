//! The Lambda chain: a Tendermint-class BFT chain that records storage-node
//! pledges, the membership of every epoch, usage settlement and PDP audit
//! results.
//!
//! Nothing is implemented here yet; see the chain issue and `ARCHITECTURE.md`.
