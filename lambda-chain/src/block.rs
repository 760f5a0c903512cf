//! Blocks (whitepaper 3.3): the header, its canonical hash, the transaction
//! Merkle root, the timestamp rule and the strict protobuf form.
//!
//! The block hash is SHA-256 of
//! `"lambda/block/v1" ‖ u32 BE len(chain id) ‖ chain id ‖ height (u64 BE) ‖
//! parent hash ‖ tx root ‖ state root ‖ proposer (20 bytes) ‖ time ms (u64 BE)
//! ‖ validators digest ‖ last-commit digest (32 zero bytes at height 1)`,
//! never of the protobuf bytes. The transaction root is the `rs_merkle`
//! SHA-256 root over SHA-256 of each transaction's bytes (32 zero bytes for
//! an empty block). A block's time must be strictly greater than the median
//! of the previous 10 blocks' times (the genesis time fills in while fewer
//! than 10 exist) and at most `max_future_ms` past the checking validator's
//! clock.

use lambda_common::keys::Address;
use lambda_proto::chain::v1 as pb;
use prost::Message;
use rs_merkle::MerkleTree;
use rs_merkle::algorithms::Sha256 as MerkleSha256;

use crate::codec::{DecodeError, address, commit_from_pb, commit_to_pb, decode_canonical, hash};
use crate::types::{CommitCertificate, Hash, Height};

/// How many previous blocks the minimum-timestamp median looks at.
pub const MEDIAN_WINDOW: usize = 10;

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// The chain.
    pub chain_id: String,
    /// Height (≥ 1).
    pub height: Height,
    /// Hash of the previous block (the genesis hash at height 1).
    pub parent_hash: Hash,
    /// Merkle root of the transactions.
    pub tx_root: Hash,
    /// State root after executing this block.
    pub state_root: Hash,
    /// The proposing validator.
    pub proposer: Address,
    /// Proposer's time, ms since the Unix epoch.
    pub time_ms: u64,
    /// Digest of the validator set of this height.
    pub validators_digest: Hash,
    /// Digest of the previous block's commit certificate (None at height 1).
    pub last_commit_hash: Option<Hash>,
}

impl BlockHeader {
    /// The canonical bytes the block hash is taken over.
    pub fn hash_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(256);
        b.extend_from_slice(b"lambda/block/v1");
        b.extend_from_slice(&(self.chain_id.len() as u32).to_be_bytes());
        b.extend_from_slice(self.chain_id.as_bytes());
        b.extend_from_slice(&self.height.to_be_bytes());
        b.extend_from_slice(&self.parent_hash.0);
        b.extend_from_slice(&self.tx_root.0);
        b.extend_from_slice(&self.state_root.0);
        b.extend_from_slice(&self.proposer.0);
        b.extend_from_slice(&self.time_ms.to_be_bytes());
        b.extend_from_slice(&self.validators_digest.0);
        b.extend_from_slice(&self.last_commit_hash.unwrap_or_default().0);
        b
    }

    /// The block hash.
    pub fn hash(&self) -> Hash {
        Hash::digest(&self.hash_bytes())
    }

    fn to_pb(&self) -> pb::BlockHeader {
        pb::BlockHeader {
            chain_id: self.chain_id.clone(),
            height: self.height,
            parent_hash: self.parent_hash.0.to_vec(),
            tx_root: self.tx_root.0.to_vec(),
            state_root: self.state_root.0.to_vec(),
            proposer: self.proposer.0.to_vec(),
            time_ms: self.time_ms,
            validators_digest: self.validators_digest.0.to_vec(),
            last_commit_hash: self
                .last_commit_hash
                .map(|h| h.0.to_vec())
                .unwrap_or_default(),
        }
    }

    fn from_pb(h: pb::BlockHeader) -> Result<Self, DecodeError> {
        Ok(Self {
            chain_id: h.chain_id,
            height: h.height,
            parent_hash: hash(&h.parent_hash, "header.parent_hash")?,
            tx_root: hash(&h.tx_root, "header.tx_root")?,
            state_root: hash(&h.state_root, "header.state_root")?,
            proposer: address(&h.proposer, "header.proposer")?,
            time_ms: h.time_ms,
            validators_digest: hash(&h.validators_digest, "header.validators_digest")?,
            last_commit_hash: if h.last_commit_hash.is_empty() {
                None
            } else {
                Some(hash(&h.last_commit_hash, "header.last_commit_hash")?)
            },
        })
    }

    /// The header's protobuf encoding (stored per height for the time rule).
    pub fn encode(&self) -> Vec<u8> {
        self.to_pb().encode_to_vec()
    }

    /// Decodes a header strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_pb(decode_canonical(bytes, "block header", 64 * 1024)?)
    }
}

/// A block: header, encoded transactions, and the previous block's commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// Each transaction's canonical encoding, in execution order.
    pub txs: Vec<Vec<u8>>,
    /// The certificate that committed the previous block (None at height 1).
    pub last_commit: Option<CommitCertificate>,
}

impl Block {
    /// The block hash (of the header).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The canonical protobuf encoding.
    pub fn encode(&self) -> Vec<u8> {
        pb::Block {
            header: Some(self.header.to_pb()),
            txs: self.txs.clone(),
            last_commit: self.last_commit.as_ref().map(commit_to_pb),
        }
        .encode_to_vec()
    }

    /// Decodes a block strictly; `limit` is the maximum block size.
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty("block"));
        }
        let m: pb::Block = decode_canonical(bytes, "block", limit)?;
        let header = BlockHeader::from_pb(m.header.ok_or(DecodeError::Missing("block.header"))?)?;
        Ok(Self {
            header,
            txs: m.txs,
            last_commit: m.last_commit.map(commit_from_pb).transpose()?,
        })
    }
}

/// The Merkle root of a block's transactions.
pub fn tx_root(txs: &[Vec<u8>]) -> Hash {
    let leaves: Vec<[u8; 32]> = txs.iter().map(|t| Hash::digest(t).0).collect();
    MerkleTree::<MerkleSha256>::from_leaves(&leaves)
        .root()
        .map(Hash)
        .unwrap_or_default()
}

/// The median of up to [`MEDIAN_WINDOW`] previous block times, padded with
/// `genesis_time_ms` when fewer exist; of the ten values sorted, the sixth
/// (the upper median). A new block's time must be strictly greater.
pub fn median_time(previous: &[u64], genesis_time_ms: u64) -> u64 {
    let mut v: Vec<u64> = previous.iter().rev().take(MEDIAN_WINDOW).copied().collect();
    v.resize(MEDIAN_WINDOW, genesis_time_ms);
    v.sort_unstable();
    v[MEDIAN_WINDOW / 2]
}

/// Bytes a transaction of `len` bytes adds to an encoded block: its field
/// tag, its length varint and its bytes.
pub fn tx_overhead(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CommitSig;
    use lambda_common::keys::SigningKey;
    use proptest::prelude::*;

    fn sample() -> Block {
        let k = SigningKey::from_seed([1; 32]);
        Block {
            header: BlockHeader {
                chain_id: "c".into(),
                height: 2,
                parent_hash: Hash::digest(b"p"),
                tx_root: tx_root(&[b"a".to_vec()]),
                state_root: Hash::digest(b"s"),
                proposer: k.public().address(),
                time_ms: 1_000,
                validators_digest: Hash::digest(b"v"),
                last_commit_hash: Some(Hash::digest(b"c")),
            },
            txs: vec![b"a".to_vec()],
            last_commit: Some(CommitCertificate {
                height: 1,
                round: 0,
                block_hash: Hash::digest(b"p"),
                signatures: vec![CommitSig {
                    validator: k.public().address(),
                    signature: k.sign(b"x"),
                }],
            }),
        }
    }

    #[test]
    fn round_trip_and_hash_covers_every_field() {
        let b = sample();
        let bytes = b.encode();
        assert_eq!(Block::decode(&bytes, 1 << 20).unwrap(), b);
        assert_eq!(BlockHeader::decode(&b.header.encode()).unwrap(), b.header);
        let h = b.hash();
        let mut other = b.header.clone();
        other.time_ms += 1;
        assert_ne!(other.hash(), h);
        other = b.header.clone();
        other.last_commit_hash = None;
        assert_ne!(other.hash(), h);
    }

    #[test]
    fn strict_decoding_errors() {
        assert_eq!(Block::decode(&[], 10), Err(DecodeError::Empty("block")));
        let bytes = sample().encode();
        assert!(matches!(
            Block::decode(&bytes, 10),
            Err(DecodeError::TooLarge { .. })
        ));
        // An unknown field: valid protobuf, not canonical.
        assert_eq!(
            Block::decode(&[0x78, 0x01], 100),
            Err(DecodeError::NonCanonical("block"))
        );
        // A block without a header.
        assert!(matches!(
            Block::decode(&[0x12, 0x01, 0x61], 100),
            Err(DecodeError::Missing("block.header"))
        ));
    }

    #[test]
    fn median_rule() {
        assert_eq!(median_time(&[], 100), 100);
        assert_eq!(median_time(&[200, 300], 100), 100);
        let times: Vec<u64> = (1..=12).map(|i| i * 10).collect();
        // last ten: 30..=120; sorted index 5 = 80
        assert_eq!(median_time(&times, 0), 80);
    }

    #[test]
    fn tx_roots() {
        assert_eq!(tx_root(&[]), Hash::default());
        let a = tx_root(&[b"1".to_vec(), b"2".to_vec()]);
        let b = tx_root(&[b"2".to_vec(), b"1".to_vec()]);
        assert_ne!(a, b);
        assert_eq!(tx_overhead(10), 12);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Block::decode(&b, 1 << 20);
            let _ = BlockHeader::decode(&b);
        }
    }
}
