//! Shared helpers for wirepool's example binaries.

pub mod chart;
pub mod cpu;
pub mod fetch;
pub mod load;
pub mod pool;
pub mod progress;
pub mod report;

/// The README's Rust examples, compiled as doc tests of this crate (`cargo test -p
/// examples --doc`), so that the code a new user copies keeps compiling.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
