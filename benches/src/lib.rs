//! Benchmark harnesses for wirepool (see `docs/benchmarks.md`).
//!
//! The binaries in `src/bin/` are load generators built on other HTTP clients — the
//! *peers* wirepool is compared with — plus the servers and the runner. Every load
//! generator takes `loadgen`'s load options and prints `loadgen`'s JSON line (both in
//! `examples::load`), so the runner treats them alike:
//!
//! ```text
//! loadbench ──runs──▶ loadgen (wirepool) │ peer-hyper │ peer-ureq │ peer-wrk ──▶ nginx / bench-server
//!     ▲                        one JSON line each on stdout
//!     └────────────── medians, ratios, Markdown tables
//! ```
//!
//! Nothing here runs under `cargo test` except the unit tests of the helpers.

pub mod machine;
pub mod server;
