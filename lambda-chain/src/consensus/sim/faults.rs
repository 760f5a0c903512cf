//! The simulated network's fault model: random delays (hence reordering),
//! drops, partitions and crash schedules, all drawn from the simulation's
//! seeded random source, and all ending at `faults_until`.

use rand::RngExt;
use rand::rngs::StdRng;

use super::SimConfig;

/// A partition: during `[from, until)` nodes of different groups cannot
/// talk.
#[derive(Clone, Debug)]
pub(super) struct Partition {
    pub(super) from: u64,
    pub(super) until: u64,
    /// `group[i]` is node i's side.
    pub(super) group: Vec<bool>,
}

/// A crash of an honest node at `at`, restarting at `restart`.
#[derive(Clone, Debug)]
pub(super) struct Crash {
    pub(super) node: usize,
    pub(super) at: u64,
    pub(super) restart: u64,
}

/// The fault schedule of a run.
#[derive(Debug)]
pub(super) struct Faults {
    pub(super) partitions: Vec<Partition>,
    pub(super) crashes: Vec<Crash>,
}

impl Faults {
    /// Draws partitions and crashes for `[0, faults_until)`.
    pub(super) fn draw(cfg: &SimConfig, nodes: usize, honest: &[usize], rng: &mut StdRng) -> Self {
        let mut partitions = Vec::new();
        let mut t = 0;
        while t < cfg.faults_until {
            let len = rng.random_range(200..1500);
            if rng.random_bool(0.4) {
                let group = (0..nodes).map(|_| rng.random_bool(0.5)).collect();
                partitions.push(Partition {
                    from: t,
                    until: (t + len).min(cfg.faults_until),
                    group,
                });
            }
            t += len + rng.random_range(200..1500);
        }
        let mut crashes = Vec::new();
        for &node in honest {
            let mut t = rng.random_range(0..1000);
            while t < cfg.faults_until {
                if rng.random_bool(cfg.crash_probability) {
                    let restart = (t + rng.random_range(100..2000)).min(cfg.faults_until);
                    crashes.push(Crash {
                        node,
                        at: t,
                        restart,
                    });
                    t = restart;
                }
                t += rng.random_range(500..3000);
            }
        }
        Self {
            partitions,
            crashes,
        }
    }

    /// True when `a` and `b` are cut off from each other at `now`.
    pub(super) fn partitioned(&self, now: u64, a: usize, b: usize) -> bool {
        self.partitions
            .iter()
            .any(|p| p.from <= now && now < p.until && p.group[a] != p.group[b])
    }
}

/// Whether a message sent at `now` is lost, and its delay if not.
pub(super) fn transmit(
    cfg: &SimConfig,
    faults: &Faults,
    rng: &mut StdRng,
    now: u64,
    from: usize,
    to: usize,
) -> Option<u64> {
    let faulty = now < cfg.faults_until;
    if faulty && (faults.partitioned(now, from, to) || rng.random_bool(cfg.drop_probability)) {
        return None;
    }
    let max = if faulty { cfg.max_delay_ms } else { 20 };
    Some(rng.random_range(1..=max.max(1)))
}
