//! The bounded buffer of messages for heights the validator has not reached
//! yet.
//!
//! Validators run slightly apart: a peer that already decided height `h`
//! sends messages for `h + 1` while this validator still works on `h`. Such
//! messages are kept (deduplicated, unverified: the validator set of their
//! height may not be known yet) and replayed when the height starts. Messages
//! further ahead than `max_heights_ahead`, or beyond `capacity`, are dropped
//! and counted; a validator that far behind catches up through block sync.

use std::collections::BTreeMap;

use lambda_common::keys::Address;

use super::io::Message;
use crate::types::{Hash, Height, Round};

/// Deduplication key: (height, round, kind, signer, value).
type Key = (Height, Round, u8, Address, Option<Hash>);

fn key(m: &Message) -> Key {
    match m {
        Message::Proposal(p) => (
            p.proposal.height,
            p.proposal.round,
            0,
            p.proposal.proposer,
            Some(p.proposal.block_hash),
        ),
        Message::Vote(v) => (
            v.height,
            v.round,
            match v.vote_type {
                crate::types::VoteType::Prevote => 1,
                crate::types::VoteType::Precommit => 2,
            },
            v.validator,
            v.block_hash,
        ),
    }
}

/// What happened to an offered message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Buffered {
    /// Kept.
    Kept,
    /// Already kept.
    Duplicate,
    /// Dropped: too far ahead or the buffer is full.
    Dropped,
}

/// Messages of future heights.
#[derive(Debug)]
pub(crate) struct FutureBuffer {
    messages: BTreeMap<Key, Message>,
    capacity: usize,
    max_heights_ahead: u64,
}

impl FutureBuffer {
    /// An empty buffer.
    pub(crate) fn new(capacity: usize, max_heights_ahead: u64) -> Self {
        Self {
            messages: BTreeMap::new(),
            capacity,
            max_heights_ahead,
        }
    }

    /// Offers a message of a height above `current`.
    pub(crate) fn offer(&mut self, current: Height, m: Message) -> Buffered {
        if m.height() > current.saturating_add(self.max_heights_ahead) {
            return Buffered::Dropped;
        }
        let k = key(&m);
        if self.messages.contains_key(&k) {
            return Buffered::Duplicate;
        }
        if self.messages.len() >= self.capacity {
            return Buffered::Dropped;
        }
        self.messages.insert(k, m);
        Buffered::Kept
    }

    /// Removes and returns the messages of `height`; drops lower heights.
    pub(crate) fn take(&mut self, height: Height) -> Vec<Message> {
        let from = (height, 0, 0, Address::default(), None);
        let mut rest = self.messages.split_off(&from);
        let to = (height.saturating_add(1), 0, 0, Address::default(), None);
        let later = rest.split_off(&to);
        self.messages = later;
        rest.into_values().collect()
    }

    /// Number of buffered messages.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Vote, VoteType};
    use lambda_common::keys::SigningKey;

    #[test]
    fn bounded_deduplicated_and_released_by_height() {
        let k = SigningKey::from_seed([1; 32]);
        let v = |h, r| Message::Vote(Vote::new_signed(&k, "c", VoteType::Prevote, h, r, None));
        let mut b = FutureBuffer::new(3, 2);
        assert_eq!(b.offer(1, v(2, 0)), Buffered::Kept);
        assert_eq!(b.offer(1, v(2, 0)), Buffered::Duplicate);
        assert_eq!(b.offer(1, v(4, 0)), Buffered::Dropped, "too far ahead");
        assert_eq!(b.offer(1, v(3, 0)), Buffered::Kept);
        assert_eq!(b.offer(1, v(2, 1)), Buffered::Kept);
        assert_eq!(b.offer(1, v(2, 2)), Buffered::Dropped, "full");
        let h2 = b.take(2);
        assert_eq!(h2.len(), 2);
        assert_eq!(b.len(), 1);
        assert!(b.take(4).is_empty());
        assert_eq!(b.len(), 0, "lower heights are dropped");
    }
}
