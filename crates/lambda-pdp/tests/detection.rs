#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Detection of a prover that lost or corrupted 1 % of an object's blocks
//! with c = 460 challenged blocks.
//!
//! Two parts, because a full cryptographic trial costs tens of milliseconds:
//!
//! 1. Sampling statistics: over 10 000 fixed seeds, the fraction of
//!    challenges of 460 out of 2 000 blocks that name one of 20 corrupted
//!    blocks (1 %). The exact (hypergeometric) probability is 99.48 %, the
//!    standard error of the estimate 0.07 %, so the ≥ 99 % assertion has a
//!    margin of over six standard errors and the seeds are fixed anyway.
//! 2. Cryptographic trials: an object of 1 000 one-sector blocks with 10
//!    corrupted blocks at the prover. For every trial, verification fails
//!    exactly when the challenge names a corrupted block, so the detection
//!    rate of real proofs is the sampling rate of part 1. Trials at c = 460
//!    (all detected) and at c = 5 (mostly missed) show both outcomes come
//!    from the pairing check, not from anything else. Trials alternate the
//!    backends of prover and verifier.

use std::collections::BTreeSet;

use lambda_pdp::{Backend, Challenge, KeyPair, PdpError, Tagger, Verifier, prove_with};

fn seed(i: u32, salt: u8) -> [u8; 32] {
    let mut s = [salt; 32];
    s[..4].copy_from_slice(&i.to_le_bytes());
    s
}

/// Exact probability that c of n blocks miss all k corrupted ones.
fn miss_probability(n: u64, k: u64, c: u64) -> f64 {
    (0..c)
        .map(|i| (n - k - i) as f64 / (n - i) as f64)
        .product()
}

#[test]
fn sampling_detects_one_percent_with_99_percent_at_c_460() {
    let (n, k, c, trials) = (2000u64, 20u64, 460u32, 10_000u32);
    // Corrupted blocks spread over the object.
    let corrupted: BTreeSet<u64> = (0..k).map(|j| j * 97 + 13).collect();
    let detected = (0..trials)
        .filter(|&t| {
            Challenge::new(seed(t, 1), c)
                .unwrap()
                .indices(n)
                .iter()
                .any(|i| corrupted.contains(i))
        })
        .count();
    let rate = detected as f64 / f64::from(trials);
    let exact = 1.0 - miss_probability(n, k, u64::from(c));
    let stderr = (exact * (1.0 - exact) / f64::from(trials)).sqrt();
    println!("detection rate {rate:.4} (exact {exact:.4} ± {stderr:.4})");
    assert!(rate >= 0.99, "detection rate {rate}");
    assert!(
        (rate - exact).abs() < 5.0 * stderr,
        "rate {rate} vs exact {exact} ± {stderr}"
    );
    // The large-n bound the design quotes: 1 − 0.99^460 ≥ 99 %.
    assert!(1.0 - 0.99f64.powi(460) >= 0.99);
}

#[test]
fn real_proofs_fail_exactly_when_a_corrupted_block_is_challenged() {
    let n = 1000usize;
    let tagger = Tagger::new(KeyPair::generate());
    let data: Vec<u8> = (0..n * 31).map(|i| (i % 251) as u8).collect();
    let obj = tagger.tag(b"audited", &data, 1).unwrap();
    let meta = obj.metadata.metadata();
    let verifiers = Backend::ALL.map(|b| Verifier::new(&obj.metadata).unwrap().with_backend(b));
    let corrupted: BTreeSet<u64> = (0..10u64).map(|j| j * 101 + 7).collect();
    let lossy_prover = |b: Backend, ch: &Challenge| {
        prove_with(b, meta, ch, |i| {
            let mut block = data[i as usize * 31..(i as usize + 1) * 31].to_vec();
            if corrupted.contains(&i) {
                block[0] ^= 0xff;
            }
            Ok((block, obj.tags[i as usize]))
        })
        .unwrap()
    };
    let mut outcomes = Vec::new();
    for (count, trials, salt) in [(460u32, 12u32, 2u8), (5, 12, 3)] {
        let mut detected = 0;
        for t in 0..trials {
            let ch = Challenge::new(seed(t, salt), count).unwrap();
            let hits = ch.indices(n as u64).iter().any(|i| corrupted.contains(i));
            // Alternate the backends of prover and verifier.
            let (pb, vb) = (t as usize % 2, (t as usize / 2) % 2);
            let result = verifiers[vb].verify(&ch, &lossy_prover(Backend::ALL[pb], &ch));
            match result {
                Err(PdpError::PairingCheckFailed) => {
                    assert!(
                        hits,
                        "c={count} trial {t}: failed without a corrupted block"
                    );
                    detected += 1;
                }
                Ok(()) => assert!(!hits, "c={count} trial {t}: corrupted block not detected"),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        outcomes.push((count, detected, trials));
    }
    // With 10 of 1000 blocks bad, c = 460 misses with probability 0.2 %; the
    // seeds are fixed, so every one of these trials detects.
    assert_eq!(outcomes[0], (460, 12, 12));
    // c = 5 misses about 95 % of the time: some trials pass, proving that
    // failures come from challenged corrupted blocks only.
    assert!(outcomes[1].1 < outcomes[1].2, "{outcomes:?}");
}
