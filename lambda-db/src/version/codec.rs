//! Byte encodings of versioned objects and causal contexts, and the strict
//! decoders that guard them.
//!
//! Both start with a format-version byte so that later formats can be read
//! side by side with this one. The body is protobuf (`lambda.storage.v1`).
//! Decoding checks more than protobuf does: counters are non-zero, actors
//! unique, every sibling's dot lies inside the clock, sizes stay within
//! bounds. Anything else is a [`DecodeError`] that says what was wrong.

use prost::Message;

use lambda_proto::storage::v1 as pb;

use super::clock::{ActorId, Dot, VersionVector};
use super::object::{Sibling, Value, VersionedObject};

/// Format byte of version-1 stored objects.
pub const OBJECT_FORMAT_V1: u8 = 1;
/// Format byte of version-1 causal contexts.
pub const CONTEXT_FORMAT_V1: u8 = 1;
/// Largest causal context accepted from a client, in bytes.
pub const MAX_CONTEXT_BYTES: usize = 8 * 1024;
/// Most actors a clock (and so a context) may name.
pub const MAX_CLOCK_ENTRIES: usize = 256;

/// Why bytes are not a valid object or context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No bytes at all where a format byte was expected.
    #[error("empty input")]
    Empty,
    /// The format byte names no format this build knows.
    #[error("unknown format version {0}")]
    UnknownFormat(u8),
    /// The input is longer than allowed.
    #[error("{len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is not valid protobuf.
    #[error("malformed body: {0}")]
    Malformed(String),
    /// A clock entry has counter 0.
    #[error("clock entry for actor {0} has counter 0")]
    ZeroCounter(ActorId),
    /// An actor appears twice in a clock.
    #[error("actor {0} appears twice in the clock")]
    DuplicateActor(ActorId),
    /// The clock names more actors than allowed.
    #[error("clock names {count} actors, over the limit of {limit}")]
    TooManyActors {
        /// Actors named.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A sibling's dot is not covered by the object's clock.
    #[error("sibling {actor}:{counter} lies outside the clock")]
    DotOutsideClock {
        /// The sibling's actor.
        actor: ActorId,
        /// The sibling's counter.
        counter: u64,
    },
    /// Two siblings share a dot.
    #[error("two siblings share the dot {actor}:{counter}")]
    DuplicateDot {
        /// The shared actor.
        actor: ActorId,
        /// The shared counter.
        counter: u64,
    },
    /// A tombstone carries a value.
    #[error("tombstone {actor}:{counter} carries a value")]
    TombstoneWithValue {
        /// The tombstone's actor.
        actor: ActorId,
        /// The tombstone's counter.
        counter: u64,
    },
}

fn clock_to_pb(vv: &VersionVector) -> Vec<pb::ClockEntry> {
    vv.iter()
        .map(|(a, c)| pb::ClockEntry {
            actor: a.0,
            counter: c,
        })
        .collect()
}

fn clock_from_pb(entries: &[pb::ClockEntry]) -> Result<VersionVector, DecodeError> {
    if entries.len() > MAX_CLOCK_ENTRIES {
        return Err(DecodeError::TooManyActors {
            count: entries.len(),
            limit: MAX_CLOCK_ENTRIES,
        });
    }
    let mut vv = VersionVector::new();
    for e in entries {
        let actor = ActorId(e.actor);
        if e.counter == 0 {
            return Err(DecodeError::ZeroCounter(actor));
        }
        if vv.get(actor) != 0 {
            return Err(DecodeError::DuplicateActor(actor));
        }
        vv.observe(actor, e.counter);
    }
    Ok(vv)
}

fn split_format(bytes: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    match bytes.split_first() {
        Some((f, rest)) => Ok((*f, rest)),
        None => Err(DecodeError::Empty),
    }
}

/// The protobuf form of an object, for the replica protocol.
pub fn object_to_pb(obj: &VersionedObject) -> pb::StoredObject {
    pb::StoredObject {
        clock: clock_to_pb(obj.clock()),
        siblings: obj
            .siblings()
            .iter()
            .map(|s| pb::StoredSibling {
                actor: s.dot.actor.0,
                counter: s.dot.counter,
                timestamp_ms: s.timestamp_ms,
                tombstone: s.value.is_tombstone(),
                value: s.value.bytes().map(<[u8]>::to_vec).unwrap_or_default(),
            })
            .collect(),
    }
}

/// Validates a protobuf object from a peer or the disk.
pub fn object_from_pb(msg: pb::StoredObject) -> Result<VersionedObject, DecodeError> {
    let clock = clock_from_pb(&msg.clock)?;
    let mut siblings = Vec::with_capacity(msg.siblings.len());
    for s in msg.siblings {
        let dot = Dot {
            actor: ActorId(s.actor),
            counter: s.counter,
        };
        if dot.counter == 0 || !clock.contains(dot) {
            return Err(DecodeError::DotOutsideClock {
                actor: dot.actor,
                counter: dot.counter,
            });
        }
        if s.tombstone && !s.value.is_empty() {
            return Err(DecodeError::TombstoneWithValue {
                actor: dot.actor,
                counter: dot.counter,
            });
        }
        let value = if s.tombstone {
            Value::Tombstone
        } else {
            Value::Live(s.value)
        };
        siblings.push(Sibling {
            dot,
            timestamp_ms: s.timestamp_ms,
            value,
        });
    }
    siblings.sort_by_key(|s| s.dot);
    if let Some(w) = siblings.windows(2).find(|w| w[0].dot == w[1].dot) {
        return Err(DecodeError::DuplicateDot {
            actor: w[0].dot.actor,
            counter: w[0].dot.counter,
        });
    }
    Ok(VersionedObject::from_parts(clock, siblings))
}

/// Encodes an object as a stored record: format byte, then protobuf.
pub fn encode_object(obj: &VersionedObject) -> Vec<u8> {
    let msg = object_to_pb(obj);
    let mut out = Vec::with_capacity(1 + msg.encoded_len());
    out.push(OBJECT_FORMAT_V1);
    msg.encode(&mut out)
        .unwrap_or_else(|_| unreachable!("a Vec grows to fit"));
    out
}

/// Decodes and validates a stored record.
pub fn decode_object(bytes: &[u8]) -> Result<VersionedObject, DecodeError> {
    let (format, body) = split_format(bytes)?;
    if format != OBJECT_FORMAT_V1 {
        return Err(DecodeError::UnknownFormat(format));
    }
    let msg = pb::StoredObject::decode(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    object_from_pb(msg)
}

/// Encodes a clock as an opaque causal context for clients. The empty clock
/// encodes as no bytes at all.
pub fn encode_context(clock: &VersionVector) -> Vec<u8> {
    if clock.is_empty() {
        return Vec::new();
    }
    let msg = pb::CausalContext {
        clock: clock_to_pb(clock),
    };
    let mut out = Vec::with_capacity(1 + msg.encoded_len());
    out.push(CONTEXT_FORMAT_V1);
    msg.encode(&mut out)
        .unwrap_or_else(|_| unreachable!("a Vec grows to fit"));
    out
}

/// Decodes a client's causal context. No bytes means "no context".
pub fn decode_context(bytes: &[u8]) -> Result<VersionVector, DecodeError> {
    if bytes.is_empty() {
        return Ok(VersionVector::new());
    }
    if bytes.len() > MAX_CONTEXT_BYTES {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit: MAX_CONTEXT_BYTES,
        });
    }
    let (format, body) = split_format(bytes)?;
    if format != CONTEXT_FORMAT_V1 {
        return Err(DecodeError::UnknownFormat(format));
    }
    let msg = pb::CausalContext::decode(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    clock_from_pb(&msg.clock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::object::Update;
    use proptest::prelude::*;

    fn sample() -> VersionedObject {
        let mut o = VersionedObject::default();
        for (i, actor) in [1u64, 2, 1].into_iter().enumerate() {
            o.update(
                ActorId(actor),
                Update {
                    value: if i == 2 {
                        Value::Tombstone
                    } else {
                        Value::Live(vec![i as u8; 3])
                    },
                    context: VersionVector::new(),
                    timestamp_ms: i as i64,
                    last_write_wins: false,
                },
            );
        }
        o
    }

    #[test]
    fn object_and_context_round_trip() {
        let o = sample();
        assert_eq!(decode_object(&encode_object(&o)).unwrap(), o);
        let ctx = o.clock().clone();
        assert_eq!(decode_context(&encode_context(&ctx)).unwrap(), ctx);
        assert!(encode_context(&VersionVector::new()).is_empty());
        assert!(decode_context(&[]).unwrap().is_empty());
    }

    #[test]
    fn precise_errors() {
        assert_eq!(decode_object(&[]), Err(DecodeError::Empty));
        assert_eq!(decode_object(&[9, 1]), Err(DecodeError::UnknownFormat(9)));
        assert_eq!(
            decode_context(b"garbage"),
            Err(DecodeError::UnknownFormat(b'g'))
        );
        assert!(matches!(
            decode_context(&[CONTEXT_FORMAT_V1, 0xff, 0xff]),
            Err(DecodeError::Malformed(_))
        ));
        let big = vec![CONTEXT_FORMAT_V1; MAX_CONTEXT_BYTES + 1];
        assert!(matches!(
            decode_context(&big),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut bad = object_to_pb(&sample());
        bad.siblings[0].counter = 99;
        assert!(matches!(
            object_from_pb(bad),
            Err(DecodeError::DotOutsideClock { .. })
        ));
        let mut dup = object_to_pb(&sample());
        dup.clock.push(dup.clock[0]);
        assert!(matches!(
            object_from_pb(dup),
            Err(DecodeError::DuplicateActor(_))
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_object(&bytes);
            let _ = decode_context(&bytes);
        }

        #[test]
        fn random_bodies_after_a_valid_format_byte(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut b = vec![OBJECT_FORMAT_V1];
            b.extend_from_slice(&body);
            if let Ok(o) = decode_object(&b) {
                // Whatever decodes re-encodes to something that decodes the same.
                prop_assert_eq!(decode_object(&encode_object(&o)).unwrap(), o);
            }
            let mut c = vec![CONTEXT_FORMAT_V1];
            c.extend_from_slice(&body);
            let _ = decode_context(&c);
        }
    }
}
