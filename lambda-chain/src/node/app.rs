//! The [`Application`] consensus drives: blocks are built from the mempool,
//! validated and committed by the chain state machine, and served to block
//! sync from the block store.

use std::sync::Arc;

use bytes::Bytes;

use super::core::NodeCore;
use crate::consensus::app::{AppError, Application, CommittedBlock};
use crate::error::ChainError;
use crate::types::{Hash, Height, Round, ValidatorSet};

/// The chain application over a node's core.
#[derive(Debug, Clone)]
pub(crate) struct ChainApp {
    core: Arc<NodeCore>,
}

impl ChainApp {
    /// The application of `core`.
    pub(crate) fn new(core: Arc<NodeCore>) -> Self {
        Self { core }
    }
}

fn storage(e: ChainError) -> AppError {
    AppError::Storage(e.to_string())
}

impl Application for ChainApp {
    fn validators(&self, height: Height) -> Result<ValidatorSet, AppError> {
        match self.core.state.read().validators_at(height) {
            Ok(set) => Ok(set),
            Err(ChainError::Missing(_)) => Err(AppError::NoValidators(height)),
            Err(e) => Err(storage(e)),
        }
    }

    fn propose(&self, height: Height, _round: Round) -> Result<(Hash, Vec<u8>), AppError> {
        self.core.propose(height).map_err(|e| AppError::Propose {
            height,
            reason: e.to_string(),
        })
    }

    fn validate(&self, height: Height, hash: Hash, block: &[u8]) -> Result<(), String> {
        self.core.validate(height, hash, block)
    }

    fn commit(&self, block: &CommittedBlock) -> Result<(), AppError> {
        self.core
            .commit(block.block_hash, &block.block, &block.certificate)
            .map_err(storage)
    }

    fn committed_height(&self) -> Height {
        self.core.state.read().latest_height()
    }

    fn committed_block(&self, height: Height) -> Result<Option<CommittedBlock>, AppError> {
        let state = self.core.state.read();
        let Some(bytes) = state.block_bytes(height).map_err(storage)? else {
            return Ok(None);
        };
        let missing =
            |what: &str| AppError::Storage(format!("{what} of height {height} is missing"));
        let header = state
            .header(height)
            .map_err(storage)?
            .ok_or_else(|| missing("header"))?;
        let certificate = state
            .certificate(height)
            .map_err(storage)?
            .ok_or_else(|| missing("commit certificate"))?;
        Ok(Some(CommittedBlock {
            height,
            block_hash: header.hash(),
            block: Bytes::from(bytes),
            certificate,
        }))
    }
}
