//! `SubscribeBlocks`: committed blocks from a height on, the stored ones
//! first, then each new one as it is committed.
//!
//! The stream follows the latest committed height (a `watch`, so a burst of
//! commits never piles up) and reads every block it sends from the block
//! store, so a replay and a live follow are the same loop and a slow reader
//! can never be handed a gap: it is simply served from the store when it
//! catches up. Each subscription queues at most `api.subscription_buffer`
//! blocks; past that it waits for the reader. It ends when the reader goes
//! away or the server shuts down.

use std::sync::Arc;

use lambda_proto::chain::v1 as pb;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::convert::block_to_pb;
use crate::node::core::NodeCore;
use crate::state::ChainState;
use crate::types::Height;

/// The API form of the committed block at `height`, if there is one.
pub(crate) fn block_info(s: &ChainState, height: Height) -> Result<Option<pb::BlockInfo>, Status> {
    let internal = |e: crate::ChainError| Status::internal(e.to_string());
    let Some(bytes) = s.block_bytes(height).map_err(internal)? else {
        return Ok(None);
    };
    let missing = |what: &str| Status::internal(format!("{what} of block {height} is missing"));
    let header = s
        .header(height)
        .map_err(internal)?
        .ok_or_else(|| missing("header"))?;
    let cert = s
        .certificate(height)
        .map_err(internal)?
        .ok_or_else(|| missing("certificate"))?;
    block_to_pb(height, header.hash(), &bytes, &cert)
        .map(Some)
        .map_err(|e| Status::internal(format!("stored block {height}: {e}")))
}

/// Starts a subscription from `from` (0: the next block); the receiver is
/// the stream. `slot` is held until the stream ends.
pub(crate) fn spawn(
    core: Arc<NodeCore>,
    from: Height,
    buffer: usize,
    slot: OwnedSemaphorePermit,
    shutdown: CancellationToken,
) -> mpsc::Receiver<Result<pb::BlockInfo, Status>> {
    let (tx, rx) = mpsc::channel(buffer);
    tokio::spawn(async move {
        let _slot = slot;
        let mut heights = core.heights();
        let mut next = if from == 0 {
            *heights.borrow() + 1
        } else {
            from
        };
        loop {
            let latest = *heights.borrow_and_update();
            while next <= latest {
                let c = core.clone();
                let h = next;
                let item = tokio::task::spawn_blocking(move || block_info(&c.state.read(), h))
                    .await
                    .map_err(|e| Status::internal(e.to_string()))
                    .and_then(|r| {
                        r.and_then(|b| {
                            b.ok_or_else(|| {
                                Status::internal(format!("committed block {h} is missing"))
                            })
                        })
                    });
                let failed = item.is_err();
                tokio::select! {
                    sent = tx.send(item) => if sent.is_err() { return },
                    () = shutdown.cancelled() => return,
                }
                if failed {
                    return;
                }
                next += 1;
            }
            tokio::select! {
                changed = heights.changed() => if changed.is_err() { return },
                () = shutdown.cancelled() => return,
                () = tx.closed() => return,
            }
        }
    });
    rx
}
