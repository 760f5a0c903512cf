//! The seam between consensus and the application that gives blocks their
//! meaning.
//!
//! To consensus a value is a block hash and opaque block bytes; the
//! [`Application`] builds blocks, judges them, commits them, keeps the
//! committed ones (which block sync serves) and says which validators decide
//! each height (the set may change at epoch boundaries). [`TestApp`] is a
//! small application used by the simulation and the multi-process tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use parking_lot::Mutex;
use prost::Message as _;

use crate::network::codec::{committed_from_pb, committed_to_pb};
use crate::types::{CommitCertificate, Hash, Height, Round, ValidatorSet};

/// A committed block and the certificate that committed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedBlock {
    /// Its height.
    pub height: Height,
    /// Its hash.
    pub block_hash: Hash,
    /// Its bytes.
    pub block: Bytes,
    /// Precommits of more than two thirds of the power of its height.
    pub certificate: CommitCertificate,
}

/// Why the application could not do what consensus asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The application has no validator set for the height.
    #[error("no validator set for height {0}")]
    NoValidators(Height),
    /// Storing or reading committed state failed.
    #[error("application storage: {0}")]
    Storage(String),
    /// The application cannot build a block now.
    #[error("cannot propose at height {height}: {reason}")]
    Propose {
        /// The height.
        height: Height,
        /// Why.
        reason: String,
    },
}

/// What consensus needs from the application. Calls are synchronous and
/// may block briefly (the runner calls them off its event loop).
pub trait Application: Send + Sync + 'static {
    /// The validators deciding `height`.
    fn validators(&self, height: Height) -> Result<ValidatorSet, AppError>;
    /// A block to propose at `(height, round)`: its hash and bytes.
    fn propose(&self, height: Height, round: Round) -> Result<(Hash, Vec<u8>), AppError>;
    /// Whether `block` (claimed to hash to `hash`) is valid at `height`;
    /// the error says why not. It must reject bytes that do not hash to
    /// `hash`: consensus agrees on hashes and trusts this binding.
    fn validate(&self, height: Height, hash: Hash, block: &[u8]) -> Result<(), String>;
    /// Commits a decided block (heights arrive in order, each once).
    fn commit(&self, block: &CommittedBlock) -> Result<(), AppError>;
    /// The latest committed height (0: nothing but genesis).
    fn committed_height(&self) -> Height;
    /// A committed block, for block sync.
    fn committed_block(&self, height: Height) -> Result<Option<CommittedBlock>, AppError>;
}

const TAG: &[u8] = b"lambda/testblock/v1";
const HEADER_LEN: usize = TAG.len() + 8 + 32 + 4 + 8;

/// A test application: a block is `tag ‖ height ‖ parent hash ‖ round ‖
/// proposer tag ‖ payload`, its hash the SHA-256 of the bytes; a block is
/// valid when it extends the last committed block at the right height.
/// Committed blocks live in memory and, if a directory is given, in one
/// file per height (so a restarted process keeps its chain).
#[derive(Debug)]
pub struct TestApp {
    epochs: Vec<(Height, ValidatorSet)>,
    proposer_tag: u64,
    payload_len: usize,
    dir: Option<PathBuf>,
    blocks: Mutex<BTreeMap<Height, CommittedBlock>>,
}

impl TestApp {
    /// An in-memory application with one validator set for every height.
    pub fn new(validators: ValidatorSet, proposer_tag: u64) -> Self {
        Self {
            epochs: vec![(0, validators)],
            proposer_tag,
            payload_len: 64,
            dir: None,
            blocks: Mutex::new(BTreeMap::new()),
        }
    }

    /// Uses `set` from `height` on (an epoch boundary). Heights must grow.
    pub fn with_epoch(mut self, height: Height, set: ValidatorSet) -> Self {
        self.epochs.push((height, set));
        self
    }

    /// Keeps committed blocks in `dir` and loads those already there.
    pub fn persistent(mut self, dir: PathBuf) -> Result<Self, AppError> {
        let err = |e: std::io::Error| AppError::Storage(e.to_string());
        std::fs::create_dir_all(&dir).map_err(err)?;
        let mut blocks = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(err)? {
            let path = entry.map_err(err)?.path();
            if path.extension().is_none_or(|e| e != "block") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(err)?;
            let b = lambda_proto::chain::v1::CommittedBlock::decode(bytes.as_slice())
                .map_err(|e| AppError::Storage(format!("{}: {e}", path.display())))
                .and_then(|pb| {
                    committed_from_pb(pb)
                        .map_err(|e| AppError::Storage(format!("{}: {e}", path.display())))
                })?;
            blocks.insert(b.height, b);
        }
        self.blocks = Mutex::new(blocks);
        self.dir = Some(dir);
        Ok(self)
    }

    /// Every committed block's hash by height.
    pub fn chain(&self) -> Vec<(Height, Hash)> {
        self.blocks
            .lock()
            .values()
            .map(|b| (b.height, b.block_hash))
            .collect()
    }

    fn parent_hash(&self, height: Height) -> Hash {
        self.blocks
            .lock()
            .get(&height.saturating_sub(1))
            .map(|b| b.block_hash)
            .unwrap_or_default()
    }

    /// Builds the block a proposer with `proposer_tag` makes.
    pub fn make_block(
        height: Height,
        parent: Hash,
        round: Round,
        proposer_tag: u64,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + payload.len());
        b.extend_from_slice(TAG);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&parent.0);
        b.extend_from_slice(&round.to_be_bytes());
        b.extend_from_slice(&proposer_tag.to_be_bytes());
        b.extend_from_slice(payload);
        b
    }
}

impl Application for TestApp {
    fn validators(&self, height: Height) -> Result<ValidatorSet, AppError> {
        self.epochs
            .iter()
            .rev()
            .find(|(from, _)| *from <= height)
            .map(|(_, s)| s.clone())
            .ok_or(AppError::NoValidators(height))
    }

    fn propose(&self, height: Height, round: Round) -> Result<(Hash, Vec<u8>), AppError> {
        let payload: Vec<u8> = (0..self.payload_len)
            .map(|i| (height as usize).wrapping_mul(31).wrapping_add(i) as u8)
            .collect();
        let block = Self::make_block(
            height,
            self.parent_hash(height),
            round,
            self.proposer_tag,
            &payload,
        );
        Ok((Hash::digest(&block), block))
    }

    fn validate(&self, height: Height, hash: Hash, block: &[u8]) -> Result<(), String> {
        if Hash::digest(block) != hash {
            return Err("block hash does not match its bytes".into());
        }
        if block.len() < HEADER_LEN || !block.starts_with(TAG) {
            return Err("not a test block".into());
        }
        let at = TAG.len();
        let mut h = [0u8; 8];
        h.copy_from_slice(&block[at..at + 8]);
        if u64::from_be_bytes(h) != height {
            return Err(format!(
                "block is for height {}, expected {height}",
                u64::from_be_bytes(h)
            ));
        }
        if block[at + 8..at + 40] != self.parent_hash(height).0 {
            return Err("block does not extend the last committed block".into());
        }
        Ok(())
    }

    fn commit(&self, block: &CommittedBlock) -> Result<(), AppError> {
        if let Some(dir) = &self.dir {
            let err = |e: std::io::Error| AppError::Storage(e.to_string());
            let path = dir.join(format!("{:020}.block", block.height));
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, committed_to_pb(block).encode_to_vec()).map_err(err)?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(err)?;
            std::fs::rename(&tmp, &path).map_err(err)?;
        }
        self.blocks.lock().insert(block.height, block.clone());
        Ok(())
    }

    fn committed_height(&self) -> Height {
        self.blocks.lock().keys().next_back().copied().unwrap_or(0)
    }

    fn committed_block(&self, height: Height) -> Result<Option<CommittedBlock>, AppError> {
        Ok(self.blocks.lock().get(&height).cloned())
    }
}
