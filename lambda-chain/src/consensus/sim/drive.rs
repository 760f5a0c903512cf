//! Feeding inputs to a simulated validator and carrying out its effects:
//! persisting (with an optional crash right after), sending, timers,
//! application calls, commits and block sync.

use super::{HonestNode, Sim, Wire, Work, ms};
use crate::consensus::ConsensusEngine;
use crate::consensus::app::{Application, CommittedBlock};
use crate::consensus::io::{Effect, Input};
use crate::types::Height;
use bytes::Bytes;
use rand::RngExt;
use sha2::Digest;

impl Sim<'_> {
    /// Feeds `input` to `node` and everything its effects feed back.
    pub(super) fn feed(&mut self, node: usize, input: Input) {
        let mut work: Work = Work::from([input]);
        while let Some(input) = work.pop_front() {
            let effects = match self.honest.get_mut(&node) {
                Some(HonestNode {
                    engine: Some(e), ..
                }) => e.handle(input),
                _ => return,
            };
            for effect in effects {
                if !self.effect(node, effect, &mut work) {
                    return;
                }
            }
        }
    }

    /// Carries out one effect; false if the node crashed doing it.
    fn effect(&mut self, node: usize, effect: Effect, work: &mut Work) -> bool {
        let faulty = self.now < self.cfg.faults_until;
        match effect {
            Effect::Persist(entry) => {
                if let Some(n) = self.honest.get_mut(&node) {
                    n.wal.push(entry);
                }
                if faulty
                    && self
                        .rng
                        .random_bool(self.cfg.crash_after_persist_probability)
                {
                    // Persisted, never sent.
                    self.crash(node);
                    self.report.crashes_after_persist += 1;
                    let back = self.now + self.rng.random_range(50..1000);
                    self.push(
                        back.min(self.cfg.faults_until),
                        super::Event::Restart { node },
                    );
                    return false;
                }
            }
            Effect::Broadcast(m) => self.broadcast(node, &Wire::Consensus(m)),
            Effect::ScheduleTimeout { timeout, after } => {
                if let Some(n) = self.honest.get(&node) {
                    let life = n.incarnation;
                    self.push(
                        self.now + ms(after),
                        super::Event::Timeout {
                            node,
                            life,
                            timeout,
                        },
                    );
                }
            }
            Effect::RequestValue { height, round } => {
                if let Some(Ok((block_hash, block))) =
                    self.honest.get(&node).map(|n| n.app.propose(height, round))
                {
                    work.push_back(Input::ProposeValue {
                        height,
                        round,
                        block_hash,
                        block: Bytes::from(block),
                    });
                }
            }
            Effect::ValidateBlock {
                height,
                block_hash,
                block,
            } => {
                let valid = self
                    .honest
                    .get(&node)
                    .is_some_and(|n| n.app.validate(height, block_hash, &block).is_ok());
                work.push_back(Input::BlockVerdict {
                    height,
                    block_hash,
                    valid,
                });
            }
            Effect::Decide {
                block_hash,
                block,
                certificate,
            } => {
                let height = certificate.height;
                self.commit(
                    node,
                    CommittedBlock {
                        height,
                        block_hash,
                        block,
                        certificate,
                    },
                );
                if let Some(n) = self.honest.get(&node) {
                    let at =
                        (n.height_started + ms(self.cfg.engine.timeouts.block_time)).max(self.now);
                    let life = n.incarnation;
                    self.push(
                        at,
                        super::Event::Start {
                            node,
                            life,
                            height: height + 1,
                        },
                    );
                }
            }
            Effect::Evidence(ev) => {
                let set = super::set_at(&self.sets, ev.a.height);
                if let Ok(culprit) = ev.verify(&self.cfg.engine.chain_id, set) {
                    self.trace
                        .update(format!("evidence {node} {culprit}\n").as_bytes());
                    self.report.evidence.push((culprit, ev));
                }
            }
        }
        true
    }

    /// Commits a block at `node` and checks it against every other honest
    /// commit of its height.
    pub(super) fn commit(&mut self, node: usize, b: CommittedBlock) -> bool {
        let Some(n) = self.honest.get(&node) else {
            return false;
        };
        let certified = n.app.validators(b.height).is_ok_and(|set| {
            b.certificate
                .verify(&self.cfg.engine.chain_id, &set)
                .is_ok()
        });
        if !certified {
            self.report.bad_certificates += 1;
        }
        if b.height != n.app.committed_height() + 1 || n.app.commit(&b).is_err() {
            return false;
        }
        self.trace
            .update(format!("commit {node} {} {}\n", b.height, b.block_hash).as_bytes());
        let at_height = self.report.commits.entry(b.height).or_default();
        for (&other, &hash) in at_height.iter() {
            if hash != b.block_hash {
                self.report
                    .conflicts
                    .push((b.height, node, b.block_hash, hash));
            }
            if other == node {
                self.report
                    .conflicts
                    .push((b.height, node, b.block_hash, hash));
            }
        }
        at_height.insert(node, b.block_hash);
        true
    }

    /// Applies blocks fetched by sync: each certificate is checked against
    /// the validator set of its height before the block is committed.
    pub(super) fn apply_synced(&mut self, node: usize, blocks: Vec<CommittedBlock>) {
        let mut applied: Option<Height> = None;
        for b in blocks {
            let Some(n) = self.honest.get(&node) else {
                return;
            };
            let Ok(set) = n.app.validators(b.height) else {
                return;
            };
            let ok = b.certificate.height == b.height
                && b.certificate.block_hash == b.block_hash
                && b.certificate
                    .verify(&self.cfg.engine.chain_id, &set)
                    .is_ok()
                && n.app.validate(b.height, b.block_hash, &b.block).is_ok();
            if !ok {
                return;
            }
            let h = b.height;
            if self.commit(node, b) {
                self.report.synced_blocks += 1;
                applied = Some(h);
            }
        }
        let Some(h) = applied else { return };
        let behind = self
            .honest
            .get(&node)
            .and_then(|n| n.engine.as_ref())
            .is_some_and(|e| e.height() <= h);
        if behind {
            self.start(node, h + 1);
        }
    }
}
