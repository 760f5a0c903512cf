//! A validator that crashes after persisting a signature but before sending
//! it never signs a conflicting message after restart: the write-ahead log
//! (a real file) is replayed into the new core, which re-sends what it had
//! signed instead, and restores its lock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::Bytes;
use lambda_chain::consensus::wal::Wal;
use lambda_chain::consensus::{
    ConsensusEngine, Effect, EngineConfig, Input, Message, ProposalMessage, Step, Tendermint,
    Timeout,
};
use lambda_chain::types::{Hash, Proposal, Validator, ValidatorSet, Vote, VoteType};
use lambda_common::keys::SigningKey;

fn keys() -> Vec<SigningKey> {
    (0..4u8)
        .map(|i| SigningKey::from_seed([70 + i; 32]))
        .collect()
}

fn set(keys: &[SigningKey]) -> ValidatorSet {
    ValidatorSet::new(
        keys.iter()
            .map(|k| Validator::new(k.public(), 10))
            .collect(),
    )
    .unwrap()
}

fn cfg() -> EngineConfig {
    EngineConfig {
        chain_id: "wal".into(),
        ..EngineConfig::default()
    }
}

fn key_of<'a>(keys: &'a [SigningKey], addr: &lambda_common::keys::Address) -> &'a SigningKey {
    keys.iter().find(|k| k.public().address() == *addr).unwrap()
}

fn proposal(keys: &[SigningKey], set: &ValidatorSet, round: u32, block: &[u8]) -> ProposalMessage {
    let proposer = key_of(keys, &set.proposer(1, round).address);
    ProposalMessage {
        proposal: Proposal::new_signed(proposer, "wal", 1, round, None, Hash::digest(block)),
        block: Bytes::copy_from_slice(block),
    }
}

/// Feeds an input, answering validity requests with "valid"; returns every
/// effect.
fn feed(e: &mut Tendermint, input: Input) -> Vec<Effect> {
    let mut out = Vec::new();
    let mut work = vec![input];
    while let Some(i) = work.pop() {
        for eff in e.handle(i) {
            if let Effect::ValidateBlock {
                height, block_hash, ..
            } = &eff
            {
                work.push(Input::BlockVerdict {
                    height: *height,
                    block_hash: *block_hash,
                    valid: true,
                });
            }
            out.push(eff);
        }
    }
    out
}

fn sent_votes(effects: &[Effect], t: VoteType) -> Vec<Vote> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Broadcast(Message::Vote(v)) if v.vote_type == t => Some(v.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn crash_between_persist_and_send_never_leads_to_a_conflicting_signature() {
    let ks = keys();
    let set = set(&ks);
    // A validator that is not the proposer of (1, 0).
    let me = ks
        .iter()
        .find(|k| k.public().address() != set.proposer(1, 0).address)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let block = b"block X".to_vec();
    let x = Hash::digest(&block);

    // First life: the proposal arrives, the core decides to prevote X.
    let mut wal = Wal::open(dir.path()).unwrap();
    let mut e = Tendermint::new(cfg(), me.clone(), wal.entries().to_vec());
    feed(
        &mut e,
        Input::StartHeight {
            height: 1,
            validators: set.clone(),
        },
    );
    let effects = feed(&mut e, Input::Proposal(proposal(&ks, &set, 0, &block)));
    let persist = effects
        .iter()
        .position(|e| matches!(e, Effect::Persist(_)))
        .unwrap();
    let send = effects
        .iter()
        .position(|e| matches!(e, Effect::Broadcast(Message::Vote(_))))
        .unwrap();
    assert!(persist < send, "persist comes before the broadcast");
    let Effect::Persist(entry) = &effects[persist] else {
        unreachable!()
    };
    wal.append(entry).unwrap();
    // ...and the process dies here: the prevote never left.
    drop(e);
    drop(wal);

    // Second life: the proposal is lost; the propose timeout fires, which
    // would make a fresh core prevote nil.
    let wal = Wal::open(dir.path()).unwrap();
    assert_eq!(wal.entries().len(), 1);
    let mut e = Tendermint::new(cfg(), me.clone(), wal.entries().to_vec());
    let mut effects = feed(
        &mut e,
        Input::StartHeight {
            height: 1,
            validators: set.clone(),
        },
    );
    effects.extend(feed(
        &mut e,
        Input::Timeout(Timeout {
            height: 1,
            round: 0,
            step: Step::Propose,
        }),
    ));
    let prevotes = sent_votes(&effects, VoteType::Prevote);
    assert!(
        !prevotes.is_empty(),
        "the signed prevote is sent after restart"
    );
    assert!(
        prevotes.iter().all(|v| v.block_hash == Some(x)),
        "only the persisted prevote for X is ever sent: {prevotes:?}"
    );
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Persist(_))),
        "nothing new was signed"
    );
    assert_eq!(e.metrics().sign_refused, 1);
}

#[test]
fn a_restarted_validator_keeps_its_lock() {
    let ks = keys();
    let set = set(&ks);
    let me = ks
        .iter()
        .find(|k| {
            let a = k.public().address();
            a != set.proposer(1, 0).address && a != set.proposer(1, 1).address
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let block = b"block X".to_vec();
    let x = Hash::digest(&block);

    // First life: proposal X and prevotes for X from everyone: the core
    // locks X and precommits it; everything it signs is persisted.
    let mut wal = Wal::open(dir.path()).unwrap();
    let mut e = Tendermint::new(cfg(), me.clone(), Vec::new());
    let mut effects = feed(
        &mut e,
        Input::StartHeight {
            height: 1,
            validators: set.clone(),
        },
    );
    effects.extend(feed(
        &mut e,
        Input::Proposal(proposal(&ks, &set, 0, &block)),
    ));
    for k in ks.iter().filter(|k| k.public() != me.public()) {
        let v = Vote::new_signed(k, "wal", VoteType::Prevote, 1, 0, Some(x));
        effects.extend(feed(&mut e, Input::Vote(v)));
    }
    assert_eq!(e.locked_round(), Some(0));
    for eff in &effects {
        if let Effect::Persist(entry) = eff {
            wal.append(entry).unwrap();
        }
    }
    drop(wal);

    // Second life, round 1: a proposal for another block Y (no proof of
    // lock) must get a nil prevote, because the lock on X survived.
    let wal = Wal::open(dir.path()).unwrap();
    let mut e = Tendermint::new(cfg(), me.clone(), wal.entries().to_vec());
    feed(
        &mut e,
        Input::StartHeight {
            height: 1,
            validators: set.clone(),
        },
    );
    assert_eq!(e.locked_round(), Some(0));
    // Move to round 1 with f+1 round-1 votes from others.
    let others: Vec<&SigningKey> = ks.iter().filter(|k| k.public() != me.public()).collect();
    for k in &others[..2] {
        feed(
            &mut e,
            Input::Vote(Vote::new_signed(k, "wal", VoteType::Prevote, 1, 1, None)),
        );
    }
    assert_eq!(e.round(), 1);
    let y = proposal(&ks, &set, 1, b"block Y");
    let effects = feed(&mut e, Input::Proposal(y));
    let prevotes = sent_votes(&effects, VoteType::Prevote);
    assert_eq!(prevotes.len(), 1);
    assert_eq!(
        prevotes[0].block_hash, None,
        "locked on X: prevote nil for Y"
    );
}
