//! Signing, submitting and waiting for the inclusion of the node's own
//! transactions (pledges by the owner key, offline reports by the node
//! key). Every transaction pays `fee` from its signer's account: the node
//! key's account must hold funds for its reports (the pledge command
//! transfers some from the owner, see `pledge`).

use std::time::{Duration, Instant};

use lambda_chain::client::{ChainClient, ClientError, TxStatus};
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_chain::types::{Hash, Height};
use lambda_common::keys::SigningKey;

use super::ChainLinkError;

/// Signs `kind` with `key` at its next nonce and submits it.
pub async fn submit(
    client: &mut ChainClient,
    key: &SigningKey,
    kind: TxKind,
    fee: u64,
) -> Result<Hash, ChainLinkError> {
    let chain_id = client.status().await?.chain_id;
    let nonce = client.account(key.public().address()).await?.next_nonce;
    let body = TxBody {
        chain_id,
        nonce,
        fee,
        kind,
    };
    Ok(client.submit(&Tx::sign(key, &body)).await?)
}

/// Waits until `hash` is in a committed block (polling every 100 ms, at
/// most `timeout`); returns the height.
pub async fn wait_committed(
    client: &mut ChainClient,
    hash: Hash,
    timeout: Duration,
) -> Result<Height, ChainLinkError> {
    let deadline = Instant::now() + timeout;
    loop {
        match client.tx(hash).await? {
            TxStatus::Committed { height, .. } => return Ok(height),
            TxStatus::Unknown if Instant::now() >= deadline => {
                return Err(ClientError::NotFound(format!(
                    "transaction {hash} was dropped (not pending, not committed)"
                ))
                .into());
            }
            _ if Instant::now() >= deadline => {
                return Err(ClientError::NotFound(format!(
                    "transaction {hash} not committed within {timeout:?}"
                ))
                .into());
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
