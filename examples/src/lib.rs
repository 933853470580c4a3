//! Shared helpers for wirepool's example binaries.
pub mod cpu_time;
pub mod histogram;
pub mod json;
pub mod progress;
pub mod server;
