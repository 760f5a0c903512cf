//! Shared helpers of Lambda's benchmarks and load generators. The
//! benchmarks themselves are in `benches/benches/` (criterion) and the load
//! generators in `benches/src/bin/`; `benches/README.md` lists each with the
//! command that produced its figures.
