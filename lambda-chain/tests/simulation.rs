//! Seeded deterministic simulations of four validators, one Byzantine
//! (equivocating proposals and votes), with drops, partitions, crashes and
//! restarts (some between persisting a signature and sending it).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use lambda_chain::consensus::sim::{SimConfig, SimReport, run};

fn check(seed: u64) -> SimReport {
    check_with(SimConfig {
        seed,
        ..SimConfig::default()
    })
}

fn check_with(cfg: SimConfig) -> SimReport {
    let seed = cfg.seed;
    let r = run(&cfg).unwrap();
    assert!(
        r.conflicts.is_empty(),
        "seed {seed}: two different blocks committed at one height: {:?}",
        r.conflicts
    );
    assert!(
        r.min_height_at_end >= r.min_height_at_faults_end + 5,
        "seed {seed}: no progress after the faults ended: {} -> {} ({} events)",
        r.min_height_at_faults_end,
        r.min_height_at_end,
        r.events
    );
    assert_eq!(
        r.bad_certificates, 0,
        "seed {seed}: a commit without a valid certificate"
    );
    let byz = r.byzantine.unwrap();
    assert!(
        r.evidence.iter().any(|(culprit, _)| *culprit == byz),
        "seed {seed}: the Byzantine validator's double sign was not detected"
    );
    assert!(
        r.evidence.iter().all(|(culprit, _)| *culprit == byz),
        "seed {seed}: evidence against an honest validator"
    );
    r
}

#[test]
fn fifty_seeds_are_safe_live_and_detect_the_double_signer() {
    let mut crashes = 0;
    let mut after_persist = 0;
    let mut synced = 0;
    for seed in 0..50 {
        let r = check(seed);
        crashes += r.crashes;
        after_persist += r.crashes_after_persist;
        synced += r.synced_blocks;
    }
    // The fault model really exercised restarts and catch-up.
    assert!(crashes > 20, "crashes {crashes}");
    assert!(after_persist > 0, "no crash between persist and send");
    assert!(synced > 0, "no block sync");
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let cfg = SimConfig {
        seed: 7,
        ..SimConfig::default()
    };
    let a = run(&cfg).unwrap();
    let b = run(&cfg).unwrap();
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.commits, b.commits);
    let c = run(&SimConfig { seed: 8, ..cfg }).unwrap();
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
#[ignore = "slow: thousands of seeds (several minutes); run with --ignored"]
fn thousands_of_seeds() {
    let n: u64 = std::env::var("LAMBDA_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    for seed in 1000..1000 + n {
        check(seed);
    }
}

#[test]
fn validator_set_rotation_at_an_epoch_boundary() {
    // From height 4 validator 0 leaves and a fifth node joins: certificates
    // of later heights must verify against the new set, and both the leaver
    // and the joiner keep following the chain.
    for seed in 100..110 {
        let r = check_with(SimConfig {
            seed,
            rotate_at: Some(4),
            ..SimConfig::default()
        });
        assert!(
            r.min_height_at_end > 10,
            "seed {seed}: {}",
            r.min_height_at_end
        );
        let joiner = 4;
        assert!(
            r.commits
                .get(&10)
                .is_some_and(|c| c.contains_key(&joiner) && c.contains_key(&0))
        );
    }
}

#[test]
#[ignore = "slow: hundreds of seeds under harsher faults (several minutes); run with --ignored"]
fn harsher_faults() {
    for seed in 5000..5300 {
        check_with(SimConfig {
            seed,
            faults_until: 12_000,
            run_until: 45_000,
            drop_probability: 0.3,
            max_delay_ms: 400,
            crash_probability: 0.5,
            crash_after_persist_probability: 0.03,
            ..SimConfig::default()
        });
    }
}

/// Prints the trace and report of one seed: `LAMBDA_SIM_SEED=15 cargo test
/// -p lambda-chain --test simulation -- debug_one_seed --ignored --nocapture`.
#[test]
#[ignore = "debugging aid: prints one seed's trace when LAMBDA_SIM_SEED is set"]
fn debug_one_seed() {
    let Some(seed) = std::env::var("LAMBDA_SIM_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    let r = run(&SimConfig {
        seed,
        keep_trace: true,
        ..SimConfig::default()
    })
    .unwrap();
    for l in &r.trace {
        eprintln!("{l}");
    }
    eprintln!(
        "{:#?}",
        SimReport {
            trace: Vec::new(),
            ..r
        }
    );
}
