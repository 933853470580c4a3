//! rustls over the engine's non-blocking sockets.
//!
//! Not written yet: HTTPS support is tracked by its own issue. The crate exists so the
//! workspace has its final shape and the dependency direction (`http1-codec` <-
//! `tls-glue` <- `pool-core`) is fixed from the start.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
