//! Ready-made middleware ("layers") for the [`Client`](crate::Client): logging and retries.
//!
//! ```
//! use std::time::Duration;
//! use wirepool::layers::{LogLayer, RetryLayer};
//!
//! let client = wirepool::Client::builder()
//!     .middleware(LogLayer::new()) // outermost: logs once per send, retries included
//!     .middleware(RetryLayer::new().max_retries(3).base_backoff(Duration::from_millis(20)))
//!     .build()?;
//! # Ok::<(), wirepool::Error>(())
//! ```
//!
//! # What this module owns
//!
//! - [`LogLayer`]: one line per request through the `log` crate: method, URL, status (or
//!   error), time to the head, whether the connection was reused, which connection.
//! - [`RetryLayer`] with its [`RetryBudget`]: idempotent requests that failed in a way
//!   worth trying again (a connect error, a reset, a 502/503/504, a 429) are sent again
//!   after an exponential backoff with full jitter, or after the server's `Retry-After`
//!   for 503 and 429; never more than the budget allows (a fraction of recent requests,
//!   as Finagle and Envoy do), so retries cannot multiply the load on a failing server.
//!
//! # What it deliberately does not do
//!
//! Layers run on the caller's thread, around the channel to the engine; they never see
//! the engine's insides. The engine's own stale-connection retry (an idempotent request
//! that failed on a reused connection before any response byte) happens below every
//! layer and is not counted here. Nothing here redirects, decompresses or caches.

mod logging;
mod retry;

pub use logging::LogLayer;
pub use retry::{RetryBudget, RetryLayer};
