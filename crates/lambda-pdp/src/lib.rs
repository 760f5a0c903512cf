//! BLS provable data possession: the Shacham–Waters public scheme in its
//! multi-sector form on BLS12-381. The data owner tags, storage nodes prove,
//! validators challenge and verify.
//!
//! An object is cut into blocks of s sectors of 31 bytes (`layout`). The
//! owner's [`Tagger`] computes σ_i = (H(name ‖ i) · Π_j u_j^{m_ij})^sk per
//! block and signs the [`TagMetadata`] (name, length, s, u_j, public key).
//! A [`Challenger`] derives a [`Challenge`] (seed and block count) from chain
//! data; [`prove`] (or the [`ProverService`] over a [`BlockSource`]) answers
//! with a [`Proof`] σ = Π σ_i^{v_i}, μ_j = Σ v_i·m_ij; a [`Verifier`] checks
//! e(σ, g2) = e(Π H(name ‖ i)^{v_i} · Π u_j^{μ_j}, pk).
//!
//! The hot kernels run on a [`Backend`]: `blst` (default) or pure-Rust
//! `bls12_381`; types, encodings and results are the same.
//!
//! Modules, bottom up: [`error`]; [`codec`] (strict point and scalar
//! encodings); [`hash`] (hash-to-curve H); [`msm`] (Pippenger);
//! [`fixed_base`] (generator comb table); [`layout`] (bytes → sectors);
//! [`sums`] (exact μ accumulation); [`keys`]; [`metadata`]; [`challenge`];
//! [`tag`]; [`proof`]; [`mod@verify`]; [`wire`] (protobuf messages); [`service`]
//! (block source and gRPC prover); [`backend`] (kernels on either library);
//! [`bundle`] (how an audited object is stored: metadata, tags and data in
//! one value).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backend;
pub mod bundle;
pub mod challenge;
pub mod codec;
pub mod error;
pub mod fixed_base;
pub mod hash;
pub mod keys;
pub mod layout;
pub mod metadata;
pub mod msm;
pub mod proof;
pub mod service;
pub mod sums;
pub mod tag;
pub mod verify;
pub mod wire;

pub use backend::Backend;
pub use bundle::{Bundle, bundle_key};
pub use challenge::{Challenge, ChallengedBlock, Challenger, MAX_CHALLENGE};
pub use error::PdpError;
pub use keys::{KeyPair, PublicKey, SecretKey};
pub use layout::{Layout, MAX_SECTORS, SECTOR_BYTES};
pub use metadata::{SignedMetadata, TagMetadata};
pub use proof::{Proof, prove, prove_with};
pub use service::{BlockSource, MemorySource, ProverService, prove_from};
pub use tag::{Tag, TaggedObject, Tagger};
pub use verify::{Verifier, verify};
