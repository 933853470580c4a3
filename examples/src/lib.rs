//! Shared helpers for wirepool's example binaries.

pub mod args;
pub mod fetch;
pub mod report;
pub mod server;
