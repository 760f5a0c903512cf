#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Property tests: every decoder takes arbitrary bytes without panicking,
//! and answers either a value that re-encodes to the same meaning or an
//! error; mutated valid proofs never decode to a proof that verifies.

use std::sync::OnceLock;

use lambda_pdp::codec::{Identity, decode_g1, decode_g2, decode_hash, decode_scalar};
use lambda_pdp::{
    Challenge, KeyPair, Proof, PublicKey, SecretKey, Tag, TaggedObject, Tagger, Verifier, prove,
    wire,
};
use proptest::prelude::*;

fn fixture() -> &'static (TaggedObject, Vec<u8>, Challenge, Vec<u8>) {
    static F: OnceLock<(TaggedObject, Vec<u8>, Challenge, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let data: Vec<u8> = (0..31 * 2 * 10).map(|i| i as u8).collect();
        let obj = Tagger::new(KeyPair::generate())
            .tag(b"p", &data, 2)
            .unwrap();
        let ch = Challenge::new([5; 32], 4).unwrap();
        let proof = prove(obj.metadata.metadata(), &ch, |i| {
            let s = i as usize * 62;
            Ok((data[s..s + 62].to_vec(), obj.tags[i as usize]))
        })
        .unwrap();
        let enc = wire::encode_proof(&proof);
        (obj, data, ch, enc)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn message_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(p) = wire::decode_proof(&bytes) {
            prop_assert_eq!(wire::decode_proof(&wire::encode_proof(&p)).unwrap(), p);
        }
        if let Ok(m) = wire::decode_metadata(&bytes) {
            prop_assert_eq!(wire::decode_metadata(&wire::encode_metadata(&m)).unwrap(), m);
        }
        if let Ok(c) = wire::decode_challenge(&bytes) {
            prop_assert_eq!(wire::decode_challenge(&wire::encode_challenge(&c)).unwrap(), c);
        }
        if let Ok((i, t)) = wire::decode_tag(&bytes) {
            prop_assert_eq!(wire::decode_tag(&wire::encode_tag(i, &t)).unwrap(), (i, t));
        }
    }

    #[test]
    fn field_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = decode_g1(&bytes, "x", Identity::Refused);
        let _ = decode_g2(&bytes, "x", Identity::Allowed);
        let _ = decode_scalar(&bytes, "x");
        let _ = decode_hash(&bytes, "x");
        let _ = PublicKey::from_bytes(&bytes);
        let _ = SecretKey::from_bytes(&bytes);
        let _ = Tag::from_bytes(&bytes);
    }

    #[test]
    fn fixed_length_random_fields_are_refused_or_valid(raw in proptest::array::uniform32(any::<u8>()), pad in any::<[u8; 16]>()) {
        let mut g1 = [0u8; 48];
        g1[..32].copy_from_slice(&raw);
        g1[32..].copy_from_slice(&pad);
        if let Ok(p) = decode_g1(&g1, "x", Identity::Allowed) {
            prop_assert!(bool::from(p.is_torsion_free()));
        }
        if let Ok(s) = decode_scalar(&raw, "x") {
            prop_assert_eq!(s.to_bytes(), raw);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn mutated_proofs_never_verify(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (obj, _, ch, enc) = fixture();
        let mut bytes = enc.clone();
        let at = pos.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let verifier = Verifier::new(&obj.metadata).unwrap();
        if let Ok(p) = wire::decode_proof(&bytes) {
            let original: Proof = wire::decode_proof(enc).unwrap();
            prop_assume!(p != original);
            prop_assert!(verifier.verify(ch, &p).is_err());
        }
    }
}
