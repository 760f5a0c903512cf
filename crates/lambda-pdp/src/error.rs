//! The crate's error type.
//!
//! Every way a peer, a client or stored data can make PDP fail has its own
//! variant whose message names what is wrong: which field, which length, which
//! check. Verification failures say whether the proof answers another
//! challenge or object (caught before any pairing) or fails the pairing check.

/// Errors of tagging, challenging, proving, verifying and decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdpError {
    /// A byte string has the wrong length for its field.
    #[error("{what}: expected {expected} bytes, got {got}")]
    WrongLength {
        /// The field.
        what: &'static str,
        /// Required length.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A point encoding is not a point of the curve (bad flags, coordinate
    /// not reduced, or not on the curve).
    #[error("{what}: not a valid compressed curve point")]
    NotOnCurve {
        /// The field.
        what: &'static str,
    },
    /// A point is on the curve but outside the prime-order subgroup.
    #[error("{what}: point is not in the prime-order subgroup")]
    NotInSubgroup {
        /// The field.
        what: &'static str,
    },
    /// A point that must not be the identity is.
    #[error("{what}: point is the identity")]
    IdentityPoint {
        /// The field.
        what: &'static str,
    },
    /// A scalar encoding is not a canonical element of the scalar field.
    #[error("{what}: scalar is not canonical (not below the group order)")]
    BadScalar {
        /// The field.
        what: &'static str,
    },
    /// A message is not valid protobuf.
    #[error("{what}: malformed protobuf: {reason}")]
    Malformed {
        /// The message.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// A required message field is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// Tagging parameters or metadata values are out of bounds.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The object to tag is empty.
    #[error("object is empty: there is nothing to tag")]
    EmptyObject,
    /// The owner's signature over the tag metadata does not verify.
    #[error("tag metadata signature does not verify under the owner's public key")]
    BadMetadataSignature,
    /// A block handed to the prover has the wrong length.
    #[error("block {index} is {got} bytes, expected {expected}")]
    BlockLength {
        /// Block index.
        index: u64,
        /// Length required by the metadata.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A block index is outside the object.
    #[error("block index {index} is out of range (object has {blocks} blocks)")]
    IndexOutOfRange {
        /// Block index.
        index: u64,
        /// Blocks in the object.
        blocks: u64,
    },
    /// The prover does not hold a challenged block or its tag.
    #[error("object {object}: {what} of block {index} is missing")]
    BlockMissing {
        /// The object name, lossily printed.
        object: String,
        /// "data" or "tag".
        what: &'static str,
        /// Block index.
        index: u64,
    },
    /// The prover does not hold the object at all.
    #[error("object {0} is not held here")]
    UnknownObject(String),
    /// The proof answers another challenge.
    #[error("proof answers another challenge (seed mismatch)")]
    SeedMismatch,
    /// The proof is for another object or another version of its metadata.
    #[error("proof is for another object (metadata digest mismatch)")]
    ObjectMismatch,
    /// The proof has the wrong number of sector sums.
    #[error("proof has {got} sector sums, the object has {expected} sectors per block")]
    SectorCountMismatch {
        /// Sectors per block of the object.
        expected: usize,
        /// Sector sums in the proof.
        got: usize,
    },
    /// The challenge asks for more blocks than the protocol allows.
    #[error("challenge of {count} blocks is over the limit of {limit}")]
    ChallengeTooLarge {
        /// Blocks asked for.
        count: u32,
        /// The limit.
        limit: u32,
    },
    /// The challenge asks for no block.
    #[error("challenge asks for zero blocks")]
    EmptyChallenge,
    /// The pairing equation does not hold: the prover does not hold the
    /// challenged blocks as tagged.
    #[error("proof fails the pairing check: challenged data or tags do not match")]
    PairingCheckFailed,
    /// The cryptographic backend failed to convert a value (a bug, never
    /// caused by input).
    #[error("backend error: {0}")]
    Backend(String),
    /// The block store failed.
    #[error("block store error: {0}")]
    Store(String),
}
