//! Running this validator's audits: follow committed heights, plan each new
//! epoch's audits (`auditor`), challenge the storage nodes through their
//! `lambda.pdp.v1.Prover` service before the deadline, verify the proofs and
//! submit one PDP-result transaction per audit.
//!
//! A proof that verifies is a pass. Everything else a node can cause is a
//! failure: no answer before the deadline (connecting included), a refusal
//! (any gRPC error: unknown object, other version, missing blocks), a proof
//! that does not decode, or one that fails verification. The failed proof
//! (when there is one, and it is small enough) rides in the transaction for
//! the record.
//!
//! Results are signed with the validator's key at its next nonce and
//! submitted one at a time, so they never race each other for a nonce.
//! Plans skip pairs already recorded, so a restarted validator redoes only
//! what is missing.

use std::sync::Arc;
use std::time::Duration;

use lambda_pdp::{Proof, Verifier};
use lambda_proto::pdp::v1 as pb;
use lambda_proto::pdp::v1::prover_client::ProverClient;
use prost::Message;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

use super::auditor::{Audit, AuditConfig, plan};
use super::core::NodeCore;
use crate::tx::kind::{MAX_PDP_BYTES, PdpResult};
use crate::tx::{Tx, TxBody, TxKind};

/// What an audit found.
#[derive(Debug)]
struct Outcome {
    audit: Audit,
    passed: bool,
    proof: Vec<u8>,
    reason: String,
}

/// Runs the audits of every epoch from now until `shutdown`.
pub(crate) async fn run(core: Arc<NodeCore>, cfg: AuditConfig, shutdown: CancellationToken) {
    let (tx, rx) = mpsc::channel::<Outcome>(1024);
    tokio::spawn(submit_results(core.clone(), rx, shutdown.clone()));
    let limit = Arc::new(Semaphore::new(cfg.max_concurrent.max(1)));
    let mut heights = core.heights();
    let mut planned: Option<u64> = None;
    loop {
        let height = *heights.borrow_and_update();
        let epoch = core.state.read().epoch_of(height.max(1));
        if height > 0 && planned.is_none_or(|p| p < epoch) {
            planned = Some(epoch);
            let (c, k) = (core.clone(), cfg.clone());
            let audits = tokio::task::spawn_blocking(move || {
                let state = c.state.read();
                plan(&state, epoch, &c.address, &k)
            })
            .await;
            match audits {
                Ok(Ok(audits)) => {
                    if !audits.is_empty() {
                        tracing::info!(epoch, audits = audits.len(), "PDP audits of the epoch");
                    }
                    for a in audits {
                        spawn_audit(a, &cfg, limit.clone(), tx.clone());
                    }
                }
                Ok(Err(e)) => tracing::error!(epoch, error = %e, "planning PDP audits failed"),
                Err(e) => tracing::error!(epoch, error = %e, "planning PDP audits panicked"),
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = heights.changed() => if changed.is_err() { return },
        }
    }
}

fn spawn_audit(
    audit: Audit,
    cfg: &AuditConfig,
    limit: Arc<Semaphore>,
    results: mpsc::Sender<Outcome>,
) {
    let deadline = cfg.deadline;
    tokio::spawn(async move {
        let Ok(_permit) = limit.acquire_owned().await else {
            return;
        };
        let outcome = run_audit(audit, deadline).await;
        let _ = results.send(outcome).await;
    });
}

/// Challenges the node and verifies its answer.
async fn run_audit(audit: Audit, deadline: Duration) -> Outcome {
    let answer = tokio::time::timeout(deadline, ask(&audit, deadline)).await;
    let (passed, proof, reason) = match answer {
        Err(_) => (false, Vec::new(), format!("no answer within {deadline:?}")),
        Ok(Err(reason)) => (false, Vec::new(), reason),
        Ok(Ok(msg)) => {
            let bytes = msg.encode_to_vec();
            let kept = if bytes.len() <= MAX_PDP_BYTES {
                bytes
            } else {
                Vec::new()
            };
            let (meta, challenge) = (audit.metadata.clone(), audit.challenge);
            let checked = tokio::task::spawn_blocking(move || {
                let proof = Proof::try_from(&msg)?;
                Verifier::new(&meta)?.verify(&challenge, &proof)
            })
            .await;
            match checked {
                Ok(Ok(())) => (true, kept, "proof verified".to_string()),
                Ok(Err(e)) => (false, kept, format!("proof rejected: {e}")),
                Err(e) => (false, kept, format!("verification task failed: {e}")),
            }
        }
    };
    Outcome {
        audit,
        passed,
        proof,
        reason,
    }
}

/// Calls the node's prover; the error is the reason of a failure.
async fn ask(audit: &Audit, deadline: Duration) -> Result<pb::Proof, String> {
    let uri = if audit.endpoint.contains("://") {
        audit.endpoint.clone()
    } else {
        format!("http://{}", audit.endpoint)
    };
    let endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| format!("bad endpoint {uri}: {e}"))?
        .connect_timeout(deadline)
        .timeout(deadline)
        .tcp_nodelay(true);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {uri}: {e}"))?;
    let req = pb::ProveRequest {
        object: audit.object.as_bytes().to_vec(),
        metadata_digest: audit.metadata.metadata().digest().to_vec(),
        challenge: Some((&audit.challenge).into()),
    };
    ProverClient::new(channel)
        .prove(req)
        .await
        .map_err(|s| format!("prover refused: {:?}: {}", s.code(), s.message()))?
        .into_inner()
        .proof
        .ok_or_else(|| "prover answered without a proof".to_string())
}

/// Signs and submits results one at a time.
async fn submit_results(
    core: Arc<NodeCore>,
    mut rx: mpsc::Receiver<Outcome>,
    shutdown: CancellationToken,
) {
    loop {
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            o = rx.recv() => match o { Some(o) => o, None => return },
        };
        let a = &outcome.audit;
        if outcome.passed {
            tracing::info!(node = %a.node, contract = %a.contract, epoch = a.epoch, "PDP audit passed");
        } else {
            tracing::warn!(node = %a.node, contract = %a.contract, epoch = a.epoch, reason = %outcome.reason, "PDP audit failed");
        }
        let c = core.clone();
        let submitted = tokio::task::spawn_blocking(move || submit(&c, &outcome)).await;
        match submitted {
            Ok(Ok(hash)) => tracing::debug!(tx = %hash, "PDP result submitted"),
            Ok(Err(e)) => tracing::warn!(error = %e, "PDP result not submitted"),
            Err(e) => tracing::error!(error = %e, "PDP result task failed"),
        }
    }
}

fn submit(core: &NodeCore, o: &Outcome) -> Result<crate::types::Hash, String> {
    let kind = TxKind::PdpResult(PdpResult {
        contract: o.audit.contract,
        node: o.audit.node,
        epoch: o.audit.epoch,
        passed: o.passed,
        proof: o.proof.clone(),
    });
    let bytes = {
        let state = core.state.read();
        let nonce = core
            .next_nonce(&state, &core.address)
            .map_err(|e| e.to_string())?;
        let body = TxBody {
            chain_id: state.chain_id().to_string(),
            nonce,
            fee: state.params().min_fee,
            kind,
        };
        Tx::sign(&core.key, &body).encode()
    };
    core.submit(&bytes, true).map_err(|e| e.to_string())
}
