//! Block sync: a validator that fell behind fetches committed blocks and
//! their certificates from peers, by height range, and checks each one
//! before it is applied: the certificate must carry precommits of more than
//! two thirds of the power of the validator set *of the block's height*, for
//! this very block, and the application must accept the block.

use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::consensus_service_client::ConsensusServiceClient;
use tonic::transport::Channel;

use super::codec::{CodecError, committed_from_pb};
use crate::consensus::app::{AppError, Application, CommittedBlock};
use crate::types::{Height, TypesError};

/// Why a synced block was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer's answer failed.
    #[error("sync call failed: {0}")]
    Call(#[from] tonic::Status),
    /// The peer's answer does not decode.
    #[error("malformed sync response: {0}")]
    Decode(#[from] CodecError),
    /// The certificate does not commit the block with the height's set.
    #[error("block {height}: certificate invalid: {source}")]
    Certificate {
        /// The height.
        height: Height,
        /// Why.
        source: TypesError,
    },
    /// Heights or hashes of the block and its certificate disagree.
    #[error("block {height}: {reason}")]
    Mismatch {
        /// The height.
        height: Height,
        /// What disagrees.
        reason: &'static str,
    },
    /// The application rejects the block.
    #[error("block {height} rejected by the application: {reason}")]
    Rejected {
        /// The height.
        height: Height,
        /// Why.
        reason: String,
    },
    /// The application failed.
    #[error(transparent)]
    App(#[from] AppError),
}

/// Asks a peer for up to `max` blocks from `from`.
pub async fn fetch(
    client: &mut ConsensusServiceClient<Channel>,
    from: Height,
    max: u32,
) -> Result<Vec<CommittedBlock>, SyncError> {
    let resp = client
        .sync(pb::SyncRequest {
            from_height: from,
            max_blocks: max,
        })
        .await?
        .into_inner();
    resp.blocks
        .into_iter()
        .map(|b| committed_from_pb(b).map_err(SyncError::from))
        .collect()
}

/// Checks a synced block against the validator set of its height and the
/// application.
pub fn verify(chain_id: &str, app: &dyn Application, b: &CommittedBlock) -> Result<(), SyncError> {
    let height = b.height;
    if b.certificate.height != height {
        return Err(SyncError::Mismatch {
            height,
            reason: "certificate is for another height",
        });
    }
    if b.certificate.block_hash != b.block_hash {
        return Err(SyncError::Mismatch {
            height,
            reason: "certificate is for another block",
        });
    }
    let set = app.validators(height)?;
    b.certificate
        .verify(chain_id, &set)
        .map_err(|source| SyncError::Certificate { height, source })?;
    app.validate(height, b.block_hash, &b.block)
        .map_err(|reason| SyncError::Rejected { height, reason })
}
