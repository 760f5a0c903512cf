//! A typed client of a validator's public API, for operators' tools,
//! storage nodes and the agent: submit transactions, query the state, follow
//! committed blocks. Answers are decoded strictly into the chain's own types
//! (a block is checked against its hash and certificate target), and a
//! refused transaction comes back as [`ClientError::Rejected`] with the
//! server's reason code.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lambda_chain::client::ClientError> {
//! use lambda_chain::client::ChainClient;
//! let mut c = ChainClient::connect("http://127.0.0.1:26657").await?;
//! let status = c.status().await?;
//! println!("chain {} at height {}", status.chain_id, status.height);
//! # Ok(()) }
//! ```

use std::pin::Pin;

use lambda_common::keys::{Address, SigningKey};
use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::chain_client::ChainClient as RawClient;
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::{Channel, Endpoint};

use crate::api::convert::{
    self, ConvertError, block_from_pb, contract_from_pb, membership_from_pb, node_from_pb,
    pdp_from_pb, validator_from_pb, validators_from_pb,
};
use crate::api::reasons::REASON_KEY;

pub use crate::api::convert::{AccountView, BlockView};
use crate::state::{
    Account, Contract, Membership, PdpRecord, SettledEntry, StorageNode, UsageRecord,
    ValidatorRecord,
};
use crate::tx::kind::Transfer;
use crate::tx::{Tx, TxBody, TxKind};
use crate::types::{Hash, Height, ValidatorSet};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is malformed or unreachable.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The transport error.
        source: tonic::transport::Error,
    },
    /// The validator refused a transaction.
    #[error("transaction refused ({reason}): {message}")]
    Rejected {
        /// The gRPC code (INVALID_ARGUMENT, FAILED_PRECONDITION, …).
        code: tonic::Code,
        /// The stable reason code (`nonce_replayed`, `bad_signature`, …).
        reason: String,
        /// The precise reason.
        message: String,
    },
    /// What was asked for does not exist (yet).
    #[error("not found: {0}")]
    NotFound(String),
    /// Any other failed call.
    #[error("call failed: {0}")]
    Status(#[from] tonic::Status),
    /// The answer does not decode.
    #[error("malformed answer: {0}")]
    Malformed(#[from] ConvertError),
}

fn not_found(s: tonic::Status) -> ClientError {
    if s.code() == tonic::Code::NotFound {
        ClientError::NotFound(s.message().to_string())
    } else {
        ClientError::Status(s)
    }
}

/// Committed blocks, as [`ChainClient::subscribe`] streams them.
pub type BlockStream = Pin<Box<dyn Stream<Item = Result<BlockView, ClientError>> + Send>>;

/// Where a transaction is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Neither committed nor pending on the validator asked.
    Unknown,
    /// In the validator's mempool.
    Pending,
    /// In a committed block.
    Committed {
        /// The block's height.
        height: Height,
        /// Position in the block.
        index: u32,
        /// The transaction's bytes.
        tx: Vec<u8>,
    },
}

/// Where the chain and a validator are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainStatus {
    /// Chain id.
    pub chain_id: String,
    /// Genesis digest.
    pub genesis_hash: Hash,
    /// Latest committed height.
    pub height: Height,
    /// Its block hash.
    pub latest_block_hash: Hash,
    /// Its time, ms since the Unix epoch.
    pub latest_block_time_ms: u64,
    /// Epoch of the height being decided.
    pub epoch: u64,
    /// Validators deciding the next height.
    pub validator_count: u32,
    /// Transactions in the validator's mempool.
    pub mempool_size: u64,
    /// Their bytes.
    pub mempool_bytes: u64,
    /// The validator's address.
    pub validator: Address,
    /// The height its consensus works on.
    pub consensus_height: Height,
    /// Blocks per epoch.
    pub epoch_length: u64,
    /// Price of one request in a usage settlement.
    pub price_per_request: u64,
    /// Price of one MiB transferred in a usage settlement.
    pub price_per_mib: u64,
    /// Least stake of a storage node.
    pub min_node_stake: u64,
}

/// A client of one validator's API.
#[derive(Debug, Clone)]
pub struct ChainClient {
    inner: RawClient<Channel>,
}

impl ChainClient {
    /// Connects to `endpoint` (`http://host:port`; `host:port` is taken as
    /// http).
    pub async fn connect(endpoint: &str) -> Result<Self, ClientError> {
        let url = if endpoint.contains("://") {
            endpoint.to_string()
        } else {
            format!("http://{endpoint}")
        };
        let err = |source| ClientError::Connect {
            endpoint: url.clone(),
            source,
        };
        let channel = Endpoint::from_shared(url.clone())
            .map_err(err)?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(err)?;
        Ok(Self::new(channel))
    }

    /// A client over an existing channel.
    pub fn new(channel: Channel) -> Self {
        Self {
            inner: RawClient::new(channel)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20),
        }
    }

    /// Submits encoded transaction bytes; returns the transaction hash.
    pub async fn submit_bytes(&mut self, tx: Vec<u8>) -> Result<Hash, ClientError> {
        match self.inner.submit_tx(pb::SubmitTxRequest { tx }).await {
            Ok(r) => Ok(convert::hash(&r.into_inner().tx_hash, "tx_hash")?),
            Err(s) => Err(match s.metadata().get(REASON_KEY) {
                Some(reason) => ClientError::Rejected {
                    code: s.code(),
                    reason: reason.to_str().unwrap_or("unknown").to_string(),
                    message: s.message().to_string(),
                },
                None => ClientError::Status(s),
            }),
        }
    }

    /// Submits a signed transaction.
    pub async fn submit(&mut self, tx: &Tx) -> Result<Hash, ClientError> {
        self.submit_bytes(tx.encode()).await
    }

    /// Signs and submits a transfer from `from` at its next nonce (as the
    /// validator sees it, pending transactions included).
    pub async fn transfer(
        &mut self,
        from: &SigningKey,
        to: Address,
        amount: u64,
        fee: u64,
    ) -> Result<Hash, ClientError> {
        let chain_id = self.status().await?.chain_id;
        let nonce = self.account(from.public().address()).await?.next_nonce;
        let body = TxBody {
            chain_id,
            nonce,
            fee,
            kind: TxKind::Transfer(Transfer { to, amount }),
        };
        self.submit(&Tx::sign(from, &body)).await
    }

    /// An account.
    pub async fn account(&mut self, address: Address) -> Result<AccountView, ClientError> {
        let r = self
            .inner
            .get_account(pb::GetAccountRequest {
                address: address.0.to_vec(),
            })
            .await?
            .into_inner();
        Ok(AccountView {
            height: r.height,
            address: convert::address(&r.address, "address")?,
            account: Account {
                balance: r.balance,
                nonce: r.nonce,
            },
            next_nonce: r.next_nonce,
        })
    }

    /// A storage node.
    pub async fn node(&mut self, id: Address) -> Result<StorageNode, ClientError> {
        let r = self
            .inner
            .get_node(pb::GetNodeRequest {
                node_id: id.0.to_vec(),
            })
            .await
            .map_err(not_found)?
            .into_inner();
        Ok(node_from_pb(
            r.node.as_ref().ok_or(ConvertError::Missing("node"))?,
        )?)
    }

    /// The membership of `epoch`.
    pub async fn membership(&mut self, epoch: u64) -> Result<Membership, ClientError> {
        let r = self
            .inner
            .get_membership(pb::GetMembershipRequest { epoch })
            .await
            .map_err(not_found)?
            .into_inner();
        Ok(membership_from_pb(&r)?)
    }

    /// The validators of `height` (0: the next height); returns the height
    /// resolved and the set.
    pub async fn validators(
        &mut self,
        height: Height,
    ) -> Result<(Height, ValidatorSet), ClientError> {
        let r = self
            .inner
            .get_validators(pb::GetValidatorsRequest { height })
            .await
            .map_err(not_found)?
            .into_inner();
        Ok((r.height, validators_from_pb(&r)?))
    }

    /// A validator's stake and standing.
    pub async fn validator(&mut self, address: Address) -> Result<ValidatorRecord, ClientError> {
        let r = self
            .inner
            .get_validator(pb::GetValidatorRequest {
                address: address.0.to_vec(),
            })
            .await
            .map_err(not_found)?
            .into_inner();
        Ok(validator_from_pb(&r)?)
    }

    /// The committed block at `height` (0: the latest).
    pub async fn block(&mut self, height: Height) -> Result<BlockView, ClientError> {
        let r = self
            .inner
            .get_block(pb::GetBlockRequest { height })
            .await
            .map_err(not_found)?
            .into_inner();
        Ok(block_from_pb(r)?)
    }

    /// Where a transaction is.
    pub async fn tx(&mut self, hash: Hash) -> Result<TxStatus, ClientError> {
        let r = self
            .inner
            .get_tx(pb::GetTxRequest {
                tx_hash: hash.0.to_vec(),
            })
            .await?
            .into_inner();
        match pb::TxStatus::try_from(r.status) {
            Ok(pb::TxStatus::Unknown) => Ok(TxStatus::Unknown),
            Ok(pb::TxStatus::Pending) => Ok(TxStatus::Pending),
            Ok(pb::TxStatus::Committed) => Ok(TxStatus::Committed {
                height: r.height,
                index: r.index,
                tx: r.tx,
            }),
            _ => Err(ConvertError::UnknownEnum {
                field: "status",
                value: r.status,
            }
            .into()),
        }
    }

    /// A storage contract.
    pub async fn contract(&mut self, id: Hash) -> Result<Contract, ClientError> {
        let r = self
            .inner
            .get_contract(pb::GetContractRequest {
                contract_id: id.0.to_vec(),
            })
            .await
            .map_err(not_found)?
            .into_inner();
        Ok(contract_from_pb(
            r.contract
                .as_ref()
                .ok_or(ConvertError::Missing("contract"))?,
        )?)
    }

    /// Every recorded PDP audit of a node.
    pub async fn pdp_results(&mut self, node: Address) -> Result<Vec<PdpRecord>, ClientError> {
        let r = self
            .inner
            .get_pdp_results(pb::GetPdpResultsRequest {
                node_id: node.0.to_vec(),
            })
            .await?
            .into_inner();
        Ok(r.results
            .iter()
            .map(pdp_from_pb)
            .collect::<Result<_, _>>()?)
    }

    /// The settled usage of `client` in `epoch`
    /// ([`ClientError::NotFound`] when none is settled).
    pub async fn usage(&mut self, client: Address, epoch: u64) -> Result<UsageRecord, ClientError> {
        let r = self
            .inner
            .get_usage(pb::GetUsageRequest {
                client: client.0.to_vec(),
                epoch,
            })
            .await
            .map_err(not_found)?
            .into_inner();
        let entries = r
            .entries
            .iter()
            .map(|e| {
                Ok(SettledEntry {
                    node: convert::address(&e.node_id, "entries.node_id")?,
                    requests: e.requests,
                    bytes: e.bytes,
                })
            })
            .collect::<Result<Vec<_>, ConvertError>>()?;
        Ok(UsageRecord {
            coordinator: convert::address(&r.coordinator, "coordinator")?,
            total: r.total,
            height: r.settled_height,
            entries,
            settlements: r.settlements,
        })
    }

    /// Where the chain and the validator are.
    pub async fn status(&mut self) -> Result<ChainStatus, ClientError> {
        let r = self
            .inner
            .status(pb::ChainStatusRequest {})
            .await?
            .into_inner();
        Ok(ChainStatus {
            chain_id: r.chain_id,
            genesis_hash: convert::hash(&r.genesis_hash, "genesis_hash")?,
            height: r.height,
            latest_block_hash: convert::hash(&r.latest_block_hash, "latest_block_hash")?,
            latest_block_time_ms: r.latest_block_time_ms,
            epoch: r.epoch,
            validator_count: r.validator_count,
            mempool_size: r.mempool_size,
            mempool_bytes: r.mempool_bytes,
            validator: convert::address(&r.validator, "validator")?,
            consensus_height: r.consensus_height,
            epoch_length: r.epoch_length,
            price_per_request: r.price_per_request,
            price_per_mib: r.price_per_mib,
            min_node_stake: r.min_node_stake,
        })
    }

    /// Committed blocks from `from_height` (0: the next one) on: the stored
    /// ones, then each new one. Every block is checked as in
    /// [`ChainClient::block`].
    pub async fn subscribe(&mut self, from_height: Height) -> Result<BlockStream, ClientError> {
        let stream = self
            .inner
            .subscribe_blocks(pb::SubscribeBlocksRequest { from_height })
            .await?
            .into_inner();
        Ok(Box::pin(stream.map(|item| match item {
            Ok(b) => block_from_pb(b).map_err(ClientError::from),
            Err(s) => Err(ClientError::Status(s)),
        })))
    }
}
