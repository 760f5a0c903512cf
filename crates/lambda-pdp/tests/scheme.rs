#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! End-to-end checks of the scheme: honest proofs verify; a prover that
//! alters, drops or swaps a challenged block or tag fails; proofs for another
//! challenge or object are refused by name; metadata tampering is caught;
//! encodings round-trip. Every scenario runs on both backends, and honest
//! proofs are checked across them (tag on one, prove on another, verify on
//! a third).

use group::Curve;
use lambda_pdp::{
    Backend, Challenge, Challenger, KeyPair, PdpError, Proof, SECTOR_BYTES, Tag, TaggedObject,
    Tagger, Verifier, prove, prove_with, wire,
};

fn data(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

struct Fixture {
    obj: TaggedObject,
    bytes: Vec<u8>,
}

impl Fixture {
    fn new(tagger: &Tagger, name: &[u8], len: usize, s: u32) -> Self {
        let bytes = data(len, name.len() as u8);
        Self {
            obj: tagger.tag(name, &bytes, s).unwrap(),
            bytes,
        }
    }

    fn block(&self, i: u64) -> Vec<u8> {
        let r = self
            .obj
            .metadata
            .metadata()
            .layout()
            .block_range(i)
            .unwrap();
        self.bytes[r.start as usize..r.end as usize].to_vec()
    }

    fn honest(&self, ch: &Challenge) -> Proof {
        prove(self.obj.metadata.metadata(), ch, |i| {
            Ok((self.block(i), self.obj.tags[i as usize]))
        })
        .unwrap()
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(&self.obj.metadata).unwrap()
    }

    fn honest_with(&self, backend: Backend, ch: &Challenge) -> Proof {
        prove_with(backend, self.obj.metadata.metadata(), ch, |i| {
            Ok((self.block(i), self.obj.tags[i as usize]))
        })
        .unwrap()
    }

    fn verifier_with(&self, backend: Backend) -> Verifier {
        self.verifier().with_backend(backend)
    }
}

#[test]
fn honest_proofs_verify_on_and_across_backends() {
    let keys = KeyPair::generate();
    for tb in Backend::ALL {
        honest_case(&Tagger::new(keys.clone()).with_backend(tb));
    }
}

fn honest_case(tagger: &Tagger) {
    // Sector counts 1, 4, 32; lengths with a short last block and a short
    // last sector; challenges below, equal to and above the block count.
    for (s, len, count) in [
        (1u32, 31 * 50 + 7, 10u32),
        (4, 124 * 20, 20),
        (32, 992 * 9 + 100, 64),
        (4, 5, 3),
    ] {
        let f = Fixture::new(tagger, b"object", len, s);
        for seed in 0..2u8 {
            let ch = Challenge::new([seed; 32], count).unwrap();
            let proofs = Backend::ALL.map(|pb| f.honest_with(pb, &ch));
            assert_eq!(proofs[0], proofs[1], "backends prove alike");
            for vb in Backend::ALL {
                let r = f.verifier_with(vb).verify(&ch, &proofs[0]);
                assert!(r.is_ok(), "s={s} len={len} {vb:?}: {r:?}");
            }
        }
    }
}

#[test]
fn altering_dropping_or_swapping_any_challenged_block_fails() {
    for b in Backend::ALL {
        altering_case(b);
    }
}

fn altering_case(b: Backend) {
    let tagger = Tagger::new(KeyPair::generate()).with_backend(b);
    let f = Fixture::new(&tagger, b"victim", 62 * 30, 2);
    let v = f.verifier_with(b);
    let ch = Challenge::new([7; 32], 6).unwrap();
    let challenged = ch.indices(30);
    assert_eq!(challenged.len(), 6);
    for &target in &challenged {
        // One flipped bit in the block.
        let altered = prove_with(b, f.obj.metadata.metadata(), &ch, |i| {
            let mut b = f.block(i);
            if i == target {
                let at = i as usize % b.len();
                b[at] ^= 1;
            }
            Ok((b, f.obj.tags[i as usize]))
        })
        .unwrap();
        assert_eq!(
            v.verify(&ch, &altered),
            Err(PdpError::PairingCheckFailed),
            "altered block {target}"
        );
        // The block answered by another block and its tag.
        let swapped = prove_with(b, f.obj.metadata.metadata(), &ch, |i| {
            let j = if i == target { (i + 1) % 30 } else { i };
            Ok((f.block(j), f.obj.tags[j as usize]))
        })
        .unwrap();
        assert_eq!(
            v.verify(&ch, &swapped),
            Err(PdpError::PairingCheckFailed),
            "swapped block {target}"
        );
        // The block left out: zero data and the identity as its tag.
        let dropped = prove_with(b, f.obj.metadata.metadata(), &ch, |i| {
            if i == target {
                Ok((
                    vec![0; f.block(i).len()],
                    Tag::from_point(bls12_381::G1Affine::identity()),
                ))
            } else {
                Ok((f.block(i), f.obj.tags[i as usize]))
            }
        })
        .unwrap();
        assert_eq!(
            v.verify(&ch, &dropped),
            Err(PdpError::PairingCheckFailed),
            "dropped block {target}"
        );
    }
    // A wrong tag with the right data fails too.
    let target = challenged[0];
    let bad_tag = prove_with(b, f.obj.metadata.metadata(), &ch, |i| {
        let t = if i == target {
            f.obj.tags[(i as usize + 1) % 30]
        } else {
            f.obj.tags[i as usize]
        };
        Ok((f.block(i), t))
    })
    .unwrap();
    assert_eq!(v.verify(&ch, &bad_tag), Err(PdpError::PairingCheckFailed));
    // Tampering with σ or μ of an honest proof fails.
    let honest = f.honest_with(b, &ch);
    let mut p = honest.clone();
    p.mu[1] += bls12_381::Scalar::one();
    assert_eq!(v.verify(&ch, &p), Err(PdpError::PairingCheckFailed));
    let mut p = honest;
    p.sigma =
        (bls12_381::G1Projective::from(p.sigma) + bls12_381::G1Affine::generator()).to_affine();
    assert_eq!(v.verify(&ch, &p), Err(PdpError::PairingCheckFailed));
}

#[test]
fn proofs_for_another_challenge_or_object_are_refused_by_name() {
    let tagger = Tagger::new(KeyPair::generate());
    let a = Fixture::new(&tagger, b"a", 31 * 40, 1);
    let b = Fixture::new(&tagger, b"b", 31 * 40, 1);
    let ch = Challenger::new(8).unwrap();
    let c1 = ch.challenge(b"contract", 1, &[1; 32]);
    let c2 = ch.challenge(b"contract", 2, &[1; 32]);
    let pa = a.honest(&c1);
    assert_eq!(a.verifier().verify(&c2, &pa), Err(PdpError::SeedMismatch));
    assert_eq!(b.verifier().verify(&c1, &pa), Err(PdpError::ObjectMismatch));
    // Relabelled as b's proof: the digest passes, the pairing does not.
    let mut relabelled = pa.clone();
    relabelled.metadata_digest = b.obj.metadata.metadata().digest();
    assert_eq!(
        b.verifier().verify(&c1, &relabelled),
        Err(PdpError::PairingCheckFailed)
    );
    // Answering c2's indices but claiming c1's seed fails the pairing.
    let mut reseeded = a.honest(&c2);
    reseeded.seed = *c1.seed();
    assert_eq!(
        a.verifier().verify(&c1, &reseeded),
        Err(PdpError::PairingCheckFailed)
    );
    let mut short = pa;
    short.mu.push(bls12_381::Scalar::zero());
    assert_eq!(
        a.verifier().verify(&c1, &short),
        Err(PdpError::SectorCountMismatch {
            expected: 1,
            got: 2
        })
    );
}

#[test]
fn tampered_or_foreign_metadata_is_refused() {
    let owner = Tagger::new(KeyPair::generate());
    let f = Fixture::new(&owner, b"obj", 31 * 8 * 4, 8);
    let mut pb = wire::encode_metadata(&f.obj.metadata);
    let decoded = wire::decode_metadata(&pb).unwrap();
    assert_eq!(decoded, f.obj.metadata);
    // Another owner's signature over the same metadata.
    let thief = KeyPair::generate();
    let forged = lambda_pdp::SignedMetadata::from_parts(
        f.obj.metadata.metadata().clone(),
        thief.secret().sign(&f.obj.metadata.metadata().encode()),
    );
    assert_eq!(
        Verifier::new(&forged).unwrap_err(),
        PdpError::BadMetadataSignature
    );
    // A flipped bit in the name (last bytes of the encoding are elsewhere):
    // decode succeeds or fails, but never verifies.
    let pos = pb.iter().position(|&b| b == b'o').unwrap();
    pb[pos] ^= 0x01;
    if let Ok(m) = wire::decode_metadata(&pb) {
        assert_eq!(m.verify(), Err(PdpError::BadMetadataSignature));
    }
}

#[test]
fn encodings_round_trip() {
    let tagger = Tagger::new(KeyPair::generate());
    let f = Fixture::new(&tagger, b"rt", SECTOR_BYTES * 3 * 5, 3);
    let ch = Challenge::new([3; 32], 4).unwrap();
    let p = f.honest(&ch);
    let back = wire::decode_proof(&wire::encode_proof(&p)).unwrap();
    assert_eq!(back, p);
    f.verifier().verify(&ch, &back).unwrap();
    assert_eq!(
        wire::decode_challenge(&wire::encode_challenge(&ch)).unwrap(),
        ch
    );
    for (i, t) in f.obj.tags.iter().enumerate() {
        assert_eq!(
            wire::decode_tag(&wire::encode_tag(i as u64, t)).unwrap(),
            (i as u64, *t)
        );
    }
    let pk = *tagger.keys().public();
    assert_eq!(
        lambda_pdp::PublicKey::from_bytes(&pk.to_bytes()).unwrap(),
        pk
    );
}
