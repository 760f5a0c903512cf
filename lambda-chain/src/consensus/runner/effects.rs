//! Carrying out the core's effects, in order: a signature is persisted
//! (fsync) before the broadcast that follows it; application calls run off
//! the event loop and their answers are fed back as inputs.

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::time::Instant;

use super::{Runner, RunnerError, blocking};
use crate::consensus::app::CommittedBlock;
use crate::consensus::io::{Effect, Input};

impl Runner {
    /// Feeds `input` and every input its effects produce.
    pub(super) async fn feed(&mut self, input: Input) -> Result<(), RunnerError> {
        let mut work = VecDeque::from([input]);
        while let Some(input) = work.pop_front() {
            let effects = self.engine.handle(input);
            for e in effects {
                if let Some(next) = self.effect(e).await? {
                    work.push_back(next);
                }
            }
        }
        self.status
            .round
            .store(self.engine.round(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn effect(&mut self, effect: Effect) -> Result<Option<Input>, RunnerError> {
        match effect {
            // Durable before anything after it runs: the next effect sends it.
            Effect::Persist(entry) => self.wal.append(&entry)?,
            Effect::Broadcast(m) => self.peers.broadcast(&m),
            Effect::ScheduleTimeout { timeout, after } => {
                let tx = self.timer_tx.clone();
                let shutdown = self.shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = tokio::time::sleep(after) => { let _ = tx.send(timeout); }
                        () = shutdown.cancelled() => {}
                    }
                });
            }
            Effect::RequestValue { height, round } => {
                let app = self.app.clone();
                match blocking(move || app.propose(height, round)).await? {
                    Ok((block_hash, block)) => {
                        return Ok(Some(Input::ProposeValue {
                            height,
                            round,
                            block_hash,
                            block: Bytes::from(block),
                        }));
                    }
                    Err(e) => tracing::warn!(error = %e, height, round, "no block to propose"),
                }
            }
            Effect::ValidateBlock {
                height,
                block_hash,
                block,
            } => {
                let app = self.app.clone();
                let verdict = blocking(move || app.validate(height, block_hash, &block)).await?;
                if let Err(reason) = &verdict {
                    tracing::info!(height, %block_hash, %reason, "proposed block rejected");
                }
                return Ok(Some(Input::BlockVerdict {
                    height,
                    block_hash,
                    valid: verdict.is_ok(),
                }));
            }
            Effect::Decide {
                block_hash,
                block,
                certificate,
            } => self.commit(block_hash, block, certificate).await?,
            Effect::Evidence(ev) => {
                tracing::warn!(validator = %ev.a.validator, height = ev.a.height, round = ev.a.round, "double-sign evidence");
                self.evidence.lock().push(ev);
            }
        }
        Ok(None)
    }

    async fn commit(
        &mut self,
        block_hash: crate::types::Hash,
        block: Bytes,
        certificate: crate::types::CommitCertificate,
    ) -> Result<(), RunnerError> {
        let height = certificate.height;
        if height == self.app.committed_height() + 1 {
            let app = self.app.clone();
            let b = CommittedBlock {
                height,
                block_hash,
                block,
                certificate,
            };
            blocking(move || app.commit(&b)).await??;
            tracing::info!(height, %block_hash, "block committed");
        }
        let now = Instant::now();
        let at = self
            .height_started
            .checked_add(self.cfg.engine.timeouts.block_time)
            .map_or(now, |t| t.max(now));
        self.next_start = Some((at, height + 1));
        Ok(())
    }
}
