//! Shared helpers for wirepool's example binaries.

pub mod chart;
pub mod cpu;
pub mod fetch;
pub mod load;
pub mod progress;
pub mod report;
