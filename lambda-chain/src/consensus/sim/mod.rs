//! A deterministic simulation of a validator network, for tests that need
//! exact fault schedules.
//!
//! Real consensus cores and test applications run in one thread on virtual
//! time (milliseconds); a seeded random source decides message delays (so
//! order), drops, partitions, crashes (including crashes between persisting
//! a signature and sending it) and what the Byzantine validator does. A
//! restarted validator gets a new core built from its write-ahead log. The
//! same seed gives the same run: the report carries a hash of the whole
//! trace. The report lets tests check safety (no two different blocks
//! committed at one height by honest validators), liveness after the faults
//! end, and double-sign detection.

mod byzantine;
mod faults;
mod node;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use lambda_common::keys::{Address, SigningKey};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};

use super::ConsensusEngine;
use super::app::{Application, CommittedBlock, TestApp};
use super::io::{Input, Message, Timeout};
use super::tendermint::EngineConfig;
use super::timeouts::TimeoutConfig;
use crate::types::{DoubleSignEvidence, Hash, Height, TypesError, Validator, ValidatorSet};
use byzantine::Byzantine;
use faults::Faults;
use node::HonestNode;

/// Parameters of a simulated run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of validators (equal power).
    pub validators: usize,
    /// Whether the last validator is Byzantine.
    pub byzantine: bool,
    /// Virtual time (ms) until which drops, partitions and crashes happen.
    pub faults_until: u64,
    /// Virtual time (ms) at which the run ends.
    pub run_until: u64,
    /// Probability that a message sent during the faults is lost.
    pub drop_probability: f64,
    /// Largest message delay during the faults (20 ms after).
    pub max_delay_ms: u64,
    /// Probability, per draw (every 0.5–3 s), that an honest node crashes.
    pub crash_probability: f64,
    /// Probability that a node crashes right after persisting a signature,
    /// before sending it (during the faults).
    pub crash_after_persist_probability: f64,
    /// Period of each node's rebroadcast of its round's messages (ms).
    pub gossip_interval_ms: u64,
    /// Upper bound on processed events.
    pub max_events: u64,
    /// The cores' configuration.
    pub engine: EngineConfig,
    /// Keep the trace's lines in the report (for debugging a seed).
    pub keep_trace: bool,
    /// An epoch boundary: from this height validator 0 leaves the set and
    /// an extra node (index `validators`, following the chain from the
    /// start) joins it. Both keep following the chain.
    pub rotate_at: Option<Height>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            validators: 4,
            byzantine: true,
            faults_until: 6_000,
            run_until: 36_000,
            drop_probability: 0.15,
            max_delay_ms: 150,
            crash_probability: 0.3,
            crash_after_persist_probability: 0.01,
            gossip_interval_ms: 400,
            max_events: 1_000_000,
            engine: EngineConfig {
                chain_id: "sim".into(),
                timeouts: TimeoutConfig::devnet(),
                ..EngineConfig::default()
            },
            keep_trace: false,
            rotate_at: None,
        }
    }
}

/// What happened in a run.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    /// SHA-256 over the trace of every processed event.
    pub trace_hash: Hash,
    /// Events processed.
    pub events: u64,
    /// Every honest commit: height → node → block hash.
    pub commits: BTreeMap<Height, BTreeMap<usize, Hash>>,
    /// Safety violations: (height, node, its block, a block another honest
    /// node committed at that height).
    pub conflicts: Vec<(Height, usize, Hash, Hash)>,
    /// Verified double-sign evidence that honest nodes produced, with its
    /// culprit.
    pub evidence: Vec<(Address, DoubleSignEvidence)>,
    /// The Byzantine validator, if any.
    pub byzantine: Option<Address>,
    /// Lowest committed height among honest nodes when the faults ended.
    pub min_height_at_faults_end: Height,
    /// Lowest committed height among honest nodes at the end.
    pub min_height_at_end: Height,
    /// Crashes (scheduled and after-persist).
    pub crashes: u64,
    /// Crashes between persisting a signature and sending it.
    pub crashes_after_persist: u64,
    /// Signing requests the cores refused because of their logs.
    pub sign_refused: u64,
    /// Blocks committed through block sync.
    pub synced_blocks: u64,
    /// Commits whose certificate does not verify against the validator set
    /// of their height (must stay 0).
    pub bad_certificates: u64,
    /// The trace's lines, if asked for.
    pub trace: Vec<String>,
}

/// What travels on the simulated network.
#[derive(Clone, Debug)]
enum Wire {
    Consensus(Message),
    SyncRequest(Height),
    SyncResponse(Vec<CommittedBlock>),
}

#[derive(Debug)]
enum Event {
    Deliver {
        from: usize,
        to: usize,
        wire: Wire,
    },
    Timeout {
        node: usize,
        life: u64,
        timeout: Timeout,
    },
    Gossip {
        node: usize,
        life: u64,
    },
    Start {
        node: usize,
        life: u64,
        height: Height,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    FaultsEnd,
}

/// Runs one simulation. Fails only when the configuration gives no valid
/// validator set (no validators).
pub fn run(cfg: &SimConfig) -> Result<SimReport, TypesError> {
    Ok(Sim::new(cfg)?.run())
}

struct Sim<'a> {
    cfg: &'a SimConfig,
    rng: StdRng,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    faults: Faults,
    honest: BTreeMap<usize, HonestNode>,
    byzantine: Option<(usize, Byzantine)>,
    /// Validator sets by first height.
    sets: Vec<(Height, ValidatorSet)>,
    /// Number of nodes (validators, plus the joining one).
    nodes: usize,
    trace: Sha256,
    report: SimReport,
}

mod drive;

impl<'a> Sim<'a> {
    fn new(cfg: &'a SimConfig) -> Result<Self, TypesError> {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let nodes = cfg.validators + usize::from(cfg.rotate_at.is_some());
        let keys: Vec<SigningKey> = (0..nodes)
            .map(|i| SigningKey::from_seed([i as u8 + 1; 32]))
            .collect();
        let set_of = |ks: &[SigningKey]| {
            ValidatorSet::new(ks.iter().map(|k| Validator::new(k.public(), 10)).collect())
        };
        let mut sets = vec![(0, set_of(&keys[..cfg.validators])?)];
        if let Some(at) = cfg.rotate_at {
            sets.push((at, set_of(&keys[1..])?));
        }
        let byz_index = cfg.byzantine.then(|| cfg.validators - 1);
        let honest_ids: Vec<usize> = (0..nodes).filter(|i| Some(*i) != byz_index).collect();
        let faults = Faults::draw(cfg, nodes, &honest_ids, &mut rng);
        let honest = honest_ids
            .iter()
            .map(|&i| {
                let mut app = TestApp::new(sets[0].1.clone(), i as u64);
                for (at, set) in &sets[1..] {
                    app = app.with_epoch(*at, set.clone());
                }
                (i, HonestNode::new(keys[i].clone(), app))
            })
            .collect();
        let byzantine = byz_index.map(|i| {
            (
                i,
                Byzantine::new(keys[i].clone(), cfg.engine.chain_id.clone()),
            )
        });
        let report = SimReport {
            byzantine: byzantine.as_ref().map(|(_, b)| b.address()),
            ..SimReport::default()
        };
        Ok(Self {
            cfg,
            rng,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            faults,
            honest,
            byzantine,
            sets,
            nodes,
            trace: Sha256::new(),
            report,
        })
    }

    fn push(&mut self, at: u64, e: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), e);
    }

    fn run(mut self) -> SimReport {
        let ids: Vec<usize> = self.honest.keys().copied().collect();
        for &i in &ids {
            self.restart(i);
        }
        for c in self.faults.crashes.clone() {
            self.push(c.at, Event::Crash { node: c.node });
            self.push(c.restart, Event::Restart { node: c.node });
        }
        self.push(self.cfg.faults_until, Event::FaultsEnd);
        while let Some(((at, _), event)) = self.queue.pop_first() {
            if at > self.cfg.run_until || self.report.events >= self.cfg.max_events {
                break;
            }
            self.now = at;
            self.report.events += 1;
            let line = format!("{at} {}\n", summary(&event));
            if self.cfg.keep_trace {
                self.report.trace.push(line.trim_end().to_string());
            }
            self.trace.update(line.as_bytes());
            self.handle(event);
        }
        self.report.min_height_at_end = self.min_height();
        for n in self.honest.values() {
            if let Some(e) = &n.engine {
                self.report.sign_refused += e.metrics().sign_refused;
            }
        }
        self.report.trace_hash = Hash(self.trace.finalize().into());
        self.report
    }

    fn min_height(&self) -> Height {
        self.honest
            .values()
            .map(|n| n.app.committed_height())
            .min()
            .unwrap_or(0)
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, wire } => self.deliver(from, to, wire),
            Event::Timeout {
                node,
                life,
                timeout,
            } => {
                if self.live(node, life) {
                    self.feed(node, Input::Timeout(timeout));
                }
            }
            Event::Gossip { node, life } => self.gossip(node, life),
            Event::Start { node, life, height } => {
                if self.live(node, life) {
                    self.start(node, height);
                }
            }
            Event::Crash { node } => self.crash(node),
            Event::Restart { node } => {
                if self.honest.get(&node).is_some_and(|n| !n.alive()) {
                    self.restart(node);
                }
            }
            Event::FaultsEnd => self.report.min_height_at_faults_end = self.min_height(),
        }
    }

    fn live(&self, node: usize, life: u64) -> bool {
        self.honest
            .get(&node)
            .is_some_and(|n| n.alive() && n.incarnation == life)
    }

    fn send(&mut self, from: usize, to: usize, wire: Wire) {
        if let Some(delay) =
            faults::transmit(self.cfg, &self.faults, &mut self.rng, self.now, from, to)
        {
            self.push(self.now + delay, Event::Deliver { from, to, wire });
        }
    }

    fn broadcast(&mut self, from: usize, wire: &Wire) {
        for to in 0..self.nodes {
            if to != from {
                self.send(from, to, wire.clone());
            }
        }
    }

    fn crash(&mut self, node: usize) {
        if let Some(n) = self.honest.get_mut(&node)
            && n.alive()
        {
            n.crash();
            self.report.crashes += 1;
        }
    }

    fn restart(&mut self, node: usize) {
        let Some(n) = self.honest.get_mut(&node) else {
            return;
        };
        n.boot(&self.cfg.engine, self.now);
        let life = n.incarnation;
        let height = n.app.committed_height() + 1;
        let offset = self.rng.random_range(0..self.cfg.gossip_interval_ms.max(1));
        self.push(self.now + offset, Event::Gossip { node, life });
        self.start(node, height);
    }

    fn start(&mut self, node: usize, height: Height) {
        let Some(n) = self.honest.get_mut(&node) else {
            return;
        };
        n.wal.retain(|e| e.message.height() >= height);
        n.height_started = self.now;
        let validators = match n.app.validators(height) {
            Ok(v) => v,
            Err(_) => return,
        };
        self.feed(node, Input::StartHeight { height, validators });
    }

    fn gossip(&mut self, node: usize, life: u64) {
        if !self.live(node, life) {
            return;
        }
        let (msgs, behind, next) = match self.honest.get(&node) {
            Some(HonestNode {
                engine: Some(e),
                app,
                ..
            }) => (e.gossip(), e.behind(), app.committed_height() + 1),
            _ => return,
        };
        for m in msgs {
            self.broadcast(node, &Wire::Consensus(m));
        }
        if behind && self.nodes > 1 {
            let mut peer = self.rng.random_range(0..self.nodes - 1);
            if peer >= node {
                peer += 1;
            }
            self.send(node, peer, Wire::SyncRequest(next));
        }
        self.push(
            self.now + self.cfg.gossip_interval_ms,
            Event::Gossip { node, life },
        );
    }

    fn deliver(&mut self, from: usize, to: usize, wire: Wire) {
        if self.byzantine.as_ref().is_some_and(|(b, _)| *b == to) {
            if let Wire::Consensus(m) = wire {
                self.byzantine_react(&m);
            }
            return;
        }
        if !self.honest.get(&to).is_some_and(HonestNode::alive) {
            return;
        }
        match wire {
            Wire::Consensus(Message::Proposal(p)) => self.feed(to, Input::Proposal(p)),
            Wire::Consensus(Message::Vote(v)) => self.feed(to, Input::Vote(v)),
            Wire::SyncRequest(h) => {
                let blocks: Vec<CommittedBlock> = match self.honest.get(&to) {
                    Some(n) => (h..h + 8)
                        .map_while(|x| n.app.committed_block(x).ok().flatten())
                        .collect(),
                    None => Vec::new(),
                };
                if !blocks.is_empty() {
                    self.send(to, from, Wire::SyncResponse(blocks));
                }
            }
            Wire::SyncResponse(blocks) => self.apply_synced(to, blocks),
        }
    }

    fn byzantine_react(&mut self, m: &Message) {
        let Some((b_idx, byz)) = self.byzantine.as_mut() else {
            return;
        };
        let mut peers: Vec<usize> = (0..self.nodes).filter(|i| i != b_idx).collect();
        peers.shuffle(&mut self.rng);
        let honest = &self.honest;
        let parent = |h: Height| {
            honest
                .values()
                .find_map(|n| {
                    n.app
                        .committed_block(h)
                        .ok()
                        .flatten()
                        .map(|b| b.block_hash)
                })
                .unwrap_or_default()
        };
        let from = *b_idx;
        let set = set_at(&self.sets, m.height());
        let out = byz.react(m, set, &peers, &parent, &mut self.rng);
        for (to, msg) in out {
            self.send(from, to, Wire::Consensus(msg));
        }
    }
}

fn summary(e: &Event) -> String {
    fn msg(m: &Message) -> String {
        match m {
            Message::Proposal(p) => format!(
                "P h{} r{} {} by {}",
                p.proposal.height, p.proposal.round, p.proposal.block_hash, p.proposal.proposer
            ),
            Message::Vote(v) => format!(
                "V{:?} h{} r{} {:?} by {}",
                v.vote_type, v.height, v.round, v.block_hash, v.validator
            ),
        }
    }
    match e {
        Event::Deliver { from, to, wire } => match wire {
            Wire::Consensus(m) => format!("deliver {from}->{to} {}", msg(m)),
            Wire::SyncRequest(h) => format!("sync? {from}->{to} {h}"),
            Wire::SyncResponse(b) => format!("sync! {from}->{to} {}", b.len()),
        },
        other => format!("{other:?}"),
    }
}

/// The validator set of `height`.
fn set_at(sets: &[(Height, ValidatorSet)], height: Height) -> &ValidatorSet {
    let i = sets
        .iter()
        .rposition(|(from, _)| *from <= height)
        .unwrap_or(0);
    &sets[i].1
}

/// Milliseconds of a duration, saturating.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A work queue of inputs for one node, so effects that answer with inputs
/// (values, verdicts) are processed in order.
type Work = VecDeque<Input>;
