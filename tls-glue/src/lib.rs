//! rustls over the engine's non-blocking sockets, as a byte transformer.
//!
//! PLACEHOLDER
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod config;
mod error;
mod session;

pub use config::{
    default_provider, TlsConfig, TlsConfigBuilder, TlsVersion, TrustRoots, ALPN_HTTP1,
    DEFAULT_MAX_CACHED_SESSIONS,
};
pub use error::{Error, ErrorKind};
pub use session::{HandshakeKind, PlaintextRead, TlsSession};

/// The rustls version this crate is built against, re-exported for callers that need its
/// types (a custom [`rustls::client::ClientSessionStore`], a
/// [`rustls::crypto::CryptoProvider`]).
pub use rustls;
