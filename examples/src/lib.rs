//! Shared helpers for wirepool's example binaries.

pub mod args;
pub mod cpu;
pub mod cpu_time;
pub mod fetch;
pub mod histogram;
pub mod json;
pub mod load;
pub mod memory;
pub mod progress;
pub mod report;
pub mod server;
pub mod tls_server;
