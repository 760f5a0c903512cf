//! A simulated honest validator: the real consensus core and test
//! application, with its "disk" (write-ahead log and committed blocks)
//! surviving crashes and its core rebuilt from the log on restart.

use lambda_common::keys::SigningKey;

use crate::consensus::app::TestApp;
use crate::consensus::io::WalEntry;
use crate::consensus::tendermint::{EngineConfig, Tendermint};

/// One honest validator.
#[derive(Debug)]
pub(super) struct HonestNode {
    pub(super) key: SigningKey,
    pub(super) app: TestApp,
    /// The write-ahead log (survives crashes).
    pub(super) wal: Vec<WalEntry>,
    /// The core; `None` while crashed.
    pub(super) engine: Option<Tendermint>,
    /// Bumped at every crash and restart, so timers of a previous life are
    /// ignored.
    pub(super) incarnation: u64,
    /// Virtual time at which the current height started.
    pub(super) height_started: u64,
}

impl HonestNode {
    pub(super) fn new(key: SigningKey, app: TestApp) -> Self {
        Self {
            key,
            app,
            wal: Vec::new(),
            engine: None,
            incarnation: 0,
            height_started: 0,
        }
    }

    /// Boots (or reboots) the core from the log.
    pub(super) fn boot(&mut self, cfg: &EngineConfig, now: u64) {
        self.incarnation += 1;
        self.height_started = now;
        self.engine = Some(Tendermint::new(
            cfg.clone(),
            self.key.clone(),
            self.wal.clone(),
        ));
    }

    /// Loses everything but the disk.
    pub(super) fn crash(&mut self) {
        self.incarnation += 1;
        self.engine = None;
    }

    /// True while running.
    pub(super) fn alive(&self) -> bool {
        self.engine.is_some()
    }
}
