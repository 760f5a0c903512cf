//! Storage contracts for audited objects: after an object is stored
//! ([`super::Client::put_audited`]), its owner registers a contract on the
//! chain (`RegisterContract`: object name, size, duration in epochs, amount
//! escrowed, replicas paid, the encoded signed tag metadata and its digest).
//! From the next epoch on, validators challenge the nodes that hold the
//! object every epoch and pay each passing replica its share.
//!
//! The contract id is `SHA-256("lambda/contract/v1" ‖ owner ‖ nonce)`, so
//! it is known before the transaction commits.

use std::time::{Duration, Instant};

use lambda_chain::client::{ChainClient, ClientError, TxStatus};
use lambda_chain::state::contract_id;
use lambda_chain::tx::kind::RegisterContract;
use lambda_chain::tx::{Tx, TxBody, TxKind};
use lambda_chain::types::Hash;
use lambda_common::keys::SigningKey;

use super::pdp::AuditedObject;

/// What the owner pays for and how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContractTerms {
    /// Duration in epochs (one audit cycle per epoch).
    pub epochs: u64,
    /// Total amount escrowed from the owner's account.
    pub amount: u64,
    /// Replicas paid per cycle (and audited).
    pub replicas: u32,
    /// Transaction fee.
    pub fee: u64,
}

impl Default for ContractTerms {
    /// 100 epochs, 1 000 000 units, 3 replicas, fee 1.
    fn default() -> Self {
        Self {
            epochs: 100,
            amount: 1_000_000,
            replicas: 3,
            fee: 1,
        }
    }
}

/// A submitted contract registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContractReceipt {
    /// The contract's id.
    pub contract: Hash,
    /// The registration transaction.
    pub tx: Hash,
}

/// Why a registration failed.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The chain refused or failed the call.
    #[error("chain: {0}")]
    Chain(#[from] ClientError),
    /// The transaction did not commit in time.
    #[error("contract registration {tx} not committed within {waited:?}")]
    NotCommitted {
        /// The transaction.
        tx: Hash,
        /// How long we waited.
        waited: Duration,
    },
}

/// Signs and submits the registration of `object`'s contract with the
/// owner's account key.
pub async fn register_contract(
    chain: &mut ChainClient,
    owner: &SigningKey,
    object: &AuditedObject,
    terms: ContractTerms,
) -> Result<ContractReceipt, ContractError> {
    let address = owner.public().address();
    let nonce = chain.account(address).await?.next_nonce;
    let chain_id = chain.status().await?.chain_id;
    let body = TxBody {
        chain_id,
        nonce,
        fee: terms.fee,
        kind: TxKind::RegisterContract(RegisterContract {
            object_name: object.name.clone(),
            size_bytes: object.size,
            duration_epochs: terms.epochs,
            total_amount: terms.amount,
            replicas: terms.replicas,
            pdp_metadata: lambda_pdp::wire::encode_metadata(&object.metadata),
            pdp_digest: Hash(object.digest),
        }),
    };
    let tx = chain.submit(&Tx::sign(owner, &body)).await?;
    Ok(ContractReceipt {
        contract: contract_id(&address, nonce),
        tx,
    })
}

/// Waits (polling every 100 ms, at most `timeout`) until `tx` is
/// committed; returns its height.
pub async fn wait_committed(
    chain: &mut ChainClient,
    tx: Hash,
    timeout: Duration,
) -> Result<u64, ContractError> {
    let start = Instant::now();
    loop {
        if let TxStatus::Committed { height, .. } = chain.tx(tx).await? {
            return Ok(height);
        }
        if start.elapsed() > timeout {
            return Err(ContractError::NotCommitted {
                tx,
                waited: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
