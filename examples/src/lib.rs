//! Shared helpers for wirepool's example binaries.
pub mod server;
