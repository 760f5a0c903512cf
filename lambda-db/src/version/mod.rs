//! Versioning of values: version vectors, dots, the sibling-keeping object
//! that coordinators update and replicas merge, and the byte encodings of
//! objects and causal contexts.

pub mod clock;
pub mod codec;
pub mod object;

#[cfg(test)]
mod model_tests;

pub use clock::{ActorId, Causality, Dot, VersionVector};
pub use object::{Sibling, Update, Value, VersionedObject};
