//! The bounded buffer of messages for heights the validator has not reached
//! yet.
//!
//! Validators run slightly apart: a peer that already decided height `h`
//! sends messages for `h + 1` while this validator still works on `h`. Such
//! messages are kept (deduplicated, unverified: the validator set of their
//! height may not be known yet) and replayed when the height starts. Messages
//! further ahead than `max_heights_ahead`, or beyond `capacity` (messages)
//! or `max_block_bytes` (bytes of buffered blocks), are dropped and counted; a validator that far behind catches up through block sync.

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
    /// Bytes of buffered blocks, and their bound.
    block_bytes: usize,
    max_block_bytes: usize,
}

fn block_len(m: &Message) -> usize {
    match m {
        Message::Proposal(p) => p.block.len(),
        Message::Vote(_) => 0,
    }
}

impl FutureBuffer {
    /// An empty buffer.
    pub(crate) fn new(capacity: usize, max_heights_ahead: u64, max_block_bytes: usize) -> Self {
        Self {
            messages: BTreeMap::new(),
            capacity,
            max_heights_ahead,
            block_bytes: 0,
            max_block_bytes,
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
        let len = block_len(&m);
        if self.messages.len() >= self.capacity
            || self.block_bytes.saturating_add(len) > self.max_block_bytes
        {
            return Buffered::Dropped;
        }
        self.block_bytes += len;
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
        self.block_bytes = self.messages.values().map(block_len).sum();
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
        let mut b = FutureBuffer::new(3, 2, 1 << 20);
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

    #[test]
    fn bounded_in_block_bytes() {
        use crate::consensus::io::ProposalMessage;
        use crate::types::{Hash, Proposal};
        let k = SigningKey::from_seed([1; 32]);
        let p = |r, len| {
            Message::Proposal(ProposalMessage {
                proposal: Proposal::new_signed(&k, "c", 2, r, None, Hash::digest(&[r as u8])),
                block: bytes::Bytes::from(vec![0u8; len]),
            })
        };
        let mut b = FutureBuffer::new(100, 2, 1000);
        assert_eq!(b.offer(1, p(0, 600)), Buffered::Kept);
        assert_eq!(b.offer(1, p(1, 600)), Buffered::Dropped);
        assert_eq!(b.offer(1, p(2, 400)), Buffered::Kept);
        assert_eq!(b.take(2).len(), 2);
        assert_eq!(
            b.offer(2, p(3, 900)),
            Buffered::Kept,
            "taken blocks free their bytes"
        );
    }
}
