//! Unit tests of the core: a happy path among four cores delivering to each
//! other synchronously, validator-set changes between heights, rejected
//! inputs being counted, and future-height buffering.

use std::collections::VecDeque;

use bytes::Bytes;
use lambda_common::keys::SigningKey;

use super::*;
use crate::types::{Proposal, Validator};

fn keys(seed: u8, n: u8) -> Vec<SigningKey> {
    (0..n)
        .map(|i| SigningKey::from_seed([seed + i; 32]))
        .collect()
}

fn set_of(keys: &[SigningKey]) -> ValidatorSet {
    ValidatorSet::new(
        keys.iter()
            .map(|k| Validator::new(k.public(), 10))
            .collect(),
    )
    .unwrap()
}

fn cfg() -> EngineConfig {
    EngineConfig {
        chain_id: "t".into(),
        ..EngineConfig::default()
    }
}

/// Runs cores that deliver every broadcast to each other at once, answering
/// value requests and validity checks; returns each core's decisions.
fn run_heights(
    cores: &mut [Tendermint],
    sets: &dyn Fn(Height) -> ValidatorSet,
    heights: Height,
) -> Vec<Vec<(Height, Hash)>> {
    let mut decided: Vec<Vec<(Height, Hash)>> = vec![Vec::new(); cores.len()];
    for h in 1..=heights {
        let mut queue: VecDeque<(usize, Input)> = (0..cores.len())
            .map(|i| {
                (
                    i,
                    Input::StartHeight {
                        height: h,
                        validators: sets(h),
                    },
                )
            })
            .collect();
        let mut steps = 0;
        while let Some((i, input)) = queue.pop_front() {
            steps += 1;
            assert!(steps < 10_000, "height {h} does not settle");
            for e in cores[i].handle(input) {
                match e {
                    Effect::Broadcast(m) => {
                        for j in 0..cores.len() {
                            if j != i {
                                let input = match &m {
                                    Message::Proposal(p) => Input::Proposal(p.clone()),
                                    Message::Vote(v) => Input::Vote(v.clone()),
                                };
                                queue.push_back((j, input));
                            }
                        }
                    }
                    Effect::RequestValue { height, round } => {
                        let block = Bytes::from(format!("block {height}/{round}/{i}"));
                        queue.push_back((
                            i,
                            Input::ProposeValue {
                                height,
                                round,
                                block_hash: Hash::digest(&block),
                                block,
                            },
                        ));
                    }
                    Effect::ValidateBlock {
                        height, block_hash, ..
                    } => {
                        queue.push_back((
                            i,
                            Input::BlockVerdict {
                                height,
                                block_hash,
                                valid: true,
                            },
                        ));
                    }
                    Effect::Decide {
                        block_hash,
                        certificate,
                        ..
                    } => {
                        certificate.verify("t", &sets(h)).unwrap();
                        decided[i].push((certificate.height, block_hash));
                    }
                    Effect::Persist(_) | Effect::ScheduleTimeout { .. } | Effect::Evidence(_) => {}
                }
            }
        }
    }
    decided
}

#[test]
fn four_cores_decide_the_same_blocks_in_round_zero() {
    let ks = keys(1, 4);
    let set = set_of(&ks);
    let mut cores: Vec<Tendermint> = ks
        .iter()
        .map(|k| Tendermint::new(cfg(), k.clone(), Vec::new()))
        .collect();
    let decided = run_heights(&mut cores, &|_| set.clone(), 5);
    for d in &decided {
        assert_eq!(d.len(), 5);
        assert_eq!(d, &decided[0]);
    }
    assert!(
        cores
            .iter()
            .all(|c| c.round() == 0 && c.metrics().decisions == 5)
    );
}

#[test]
fn each_height_uses_its_own_validator_set() {
    // Validators 0-3 decide heights 1-2; from height 3 the set is 1-4: the
    // new member takes part, the old one is ignored.
    let ks = keys(20, 5);
    let first = set_of(&ks[..4]);
    let second = set_of(&ks[1..]);
    let sets = |h: Height| if h < 3 { first.clone() } else { second.clone() };
    let mut cores: Vec<Tendermint> = ks
        .iter()
        .map(|k| Tendermint::new(cfg(), k.clone(), Vec::new()))
        .collect();
    let decided = run_heights(&mut cores, &sets, 4);
    for d in &decided[1..4] {
        assert_eq!(d, &decided[1]);
        assert_eq!(d.len(), 4);
    }
    // Non-members never sign, but follow the chain: the departed validator
    // and the newcomer decide every height too.
    assert_eq!(decided[0], decided[1]);
    assert_eq!(decided[4], decided[1]);
    // A vote of the departed validator at height 5 is from an unknown
    // validator.
    cores[1].handle(Input::StartHeight {
        height: 5,
        validators: second.clone(),
    });
    cores[1].handle(Input::Vote(Vote::new_signed(
        &ks[0],
        "t",
        VoteType::Prevote,
        5,
        0,
        None,
    )));
    assert_eq!(cores[1].metrics().unknown_validator, 1);
}

#[test]
fn bad_inputs_are_counted_and_ignored() {
    let ks = keys(40, 4);
    let set = set_of(&ks);
    let mut core = Tendermint::new(cfg(), ks[0].clone(), Vec::new());
    core.handle(Input::StartHeight {
        height: 1,
        validators: set.clone(),
    });
    let outsider = SigningKey::from_seed([99; 32]);
    core.handle(Input::Vote(Vote::new_signed(
        &outsider,
        "t",
        VoteType::Prevote,
        1,
        0,
        None,
    )));
    assert_eq!(core.metrics().unknown_validator, 1);
    let mut forged = Vote::new_signed(&ks[1], "t", VoteType::Prevote, 1, 0, None);
    forged.block_hash = Some(Hash::digest(b"other"));
    core.handle(Input::Vote(forged));
    assert_eq!(core.metrics().bad_signature, 1);
    let wrong_chain = Vote::new_signed(&ks[1], "other-chain", VoteType::Prevote, 1, 0, None);
    core.handle(Input::Vote(wrong_chain));
    assert_eq!(core.metrics().bad_signature, 2);
    // A proposal from a validator that is not the round's proposer.
    let not_proposer = ks
        .iter()
        .find(|k| k.public().address() != set.proposer(1, 0).address)
        .unwrap();
    let p = Proposal::new_signed(not_proposer, "t", 1, 0, None, Hash::digest(b"b"));
    let effects = core.handle(Input::Proposal(ProposalMessage {
        proposal: p,
        block: Bytes::from_static(b"b"),
    }));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::ValidateBlock { .. }))
    );
    assert_eq!(core.metrics().unknown_validator, 2);
    // None of it moved the core.
    assert_eq!(
        (core.height(), core.round(), core.step()),
        (1, 0, Step::Propose)
    );
}

#[test]
fn future_heights_are_buffered_within_bounds() {
    let ks = keys(60, 4);
    let set = set_of(&ks);
    let mut core = Tendermint::new(cfg(), ks[0].clone(), Vec::new());
    core.handle(Input::StartHeight {
        height: 1,
        validators: set.clone(),
    });
    let vote =
        |h: Height| Input::Vote(Vote::new_signed(&ks[1], "t", VoteType::Prevote, h, 0, None));
    core.handle(vote(2));
    core.handle(vote(100));
    core.handle(vote(0));
    assert_eq!(core.metrics().messages_buffered, 1);
    assert_eq!(core.metrics().messages_dropped_future, 1);
    assert_eq!(core.metrics().messages_dropped_past, 1);
    assert!(core.behind());
    // Starting height 2 replays the buffered vote (verified then).
    core.handle(Input::StartHeight {
        height: 2,
        validators: set,
    });
    assert_eq!(
        core.gossip()
            .iter()
            .filter(|m| matches!(m, Message::Vote(v) if v.validator == ks[1].public().address()))
            .count(),
        1
    );
}

#[test]
fn an_equivocating_voter_yields_evidence_once() {
    let ks = keys(80, 4);
    let set = set_of(&ks);
    let mut core = Tendermint::new(cfg(), ks[0].clone(), Vec::new());
    core.handle(Input::StartHeight {
        height: 1,
        validators: set.clone(),
    });
    let a = Vote::new_signed(
        &ks[2],
        "t",
        VoteType::Precommit,
        1,
        0,
        Some(Hash::digest(b"a")),
    );
    let b = Vote::new_signed(
        &ks[2],
        "t",
        VoteType::Precommit,
        1,
        0,
        Some(Hash::digest(b"b")),
    );
    core.handle(Input::Vote(a));
    let effects = core.handle(Input::Vote(b.clone()));
    let ev: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Evidence(ev) => Some(ev),
            _ => None,
        })
        .collect();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].verify("t", &set).unwrap(), ks[2].public().address());
    assert!(
        !core
            .handle(Input::Vote(b))
            .iter()
            .any(|e| matches!(e, Effect::Evidence(_)))
    );
    assert_eq!(core.metrics().double_signs, 1);
}
