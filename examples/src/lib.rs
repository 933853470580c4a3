//! Shared helpers for wirepool's example binaries.
