//! Shared helpers for wirepool's example binaries.

pub mod cpu;
pub mod fetch;
pub mod load;
pub mod progress;
pub mod report;
pub mod server;
pub mod tls_server;
