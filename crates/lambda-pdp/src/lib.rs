//! BLS provable data possession: the Shacham–Waters public scheme in its
//! multi-sector form on BLS12-381. The data owner tags, storage nodes prove,
//! validators challenge and verify.
//!
//! Nothing is implemented here yet; see the PDP issue and `ARCHITECTURE.md`.
