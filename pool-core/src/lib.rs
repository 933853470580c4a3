//! wirepool's connection-pool engine: HTTP/1.1 over a hand-written mio event loop.
//!
//! ```text
//!  your thread ──submit(Request)──► Engine ──poll()──► Event::{Head, Data, Done, Failed}
//!                                     │
//!        pools: per host (scheme+host+port, and the route: direct, a proxy, a Unix
//!               socket) an idle stack, counts, a FIFO wait queue
//!        conns: one state machine each (resolving → connecting → [tunneling] →
//!               [tls] → writing → awaiting head → reading body → idle | closed),
//!               bytes through http1-codec
//!        timers: one heap of named deadlines; the poll timeout is the next one
//!        dns:    resolver threads answer through a channel + mio::Waker
//!
//!  other threads ──Client::send──► channel + Waker ──► engine thread (runs the Engine)
//!     │  (redirects, middleware,  ◄── Response (head) + body chunks, bounded ──┘
//!     │   decompression)          ──► streamed request body pieces, bounded ──►
//! ```
//!
//! Two ways in:
//! - [`Engine`]: drive the loop on your own thread (the lowest-latency path, like curl's
//!   multi interface or wrk). Body bytes are borrowed slices of the connection's buffer.
//!   Request bodies are in memory or pulled from a non-blocking [`BodySource`].
//! - [`Client`]: a `Clone + Send + Sync` blocking facade; the engine runs on its own
//!   thread. `client.get(url)…send()` (a [`RequestBuilder`]), bodies streamed from any
//!   reader, a [`CancelToken`] per request, redirects ([`RedirectPolicy`]), transparent
//!   gzip/deflate (feature `compression`, on by default), JSON (feature `json`); the
//!   [`Response`] implements [`std::io::Read`]. `docs/client.md` walks through them.
//!
//! What the pool guarantees: a connection returns to the idle pool only when its
//! response was read to its framed end, the keep-alive verdict allows it and nothing
//! follows the response; an idle connection that turns readable (EOF or stray bytes) is
//! closed before anyone reuses it; every wait has a deadline; an idempotent request that
//! fails on a reused connection before any response byte is resent once on a fresh one
//! (within the retry budget), if its body can start again (a streamed body that cannot
//! is never resent); every submitted request ends with exactly one `Done` or `Failed` (a
//! `discard` aside). What the pool does beyond that, by default: it stops reusing a
//! connection at the limits the server announces (`Keep-Alive: timeout=, max=`) or
//! shows by closing connections silently, and follows DNS answers that change
//! (`docs/tuning.md`, "The pool's policies about the server").
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod auth;
mod body;
mod client;
mod config;
mod conn;
mod dns;
mod engine;
mod error;
mod event;
pub mod layers;
mod pool;
mod request;
mod route;
mod slab;
mod timer;
pub mod trace;

pub use auth::basic_auth;
pub use body::{Body, BodySource, Pull};
pub use client::{
    Action, Attempt, CancelToken, Client, ClientBuilder, EngineSplit, Prewarmed, RedirectHop,
    RedirectPolicy, RequestBuilder, Response, ResponseBody, DEFAULT_MAX_REDIRECTS,
    MAX_ENGINE_THREADS,
};
pub use client::{Middleware, Next};
pub use config::{Config, TcpKeepalive, DEFAULT_USER_AGENT};
pub use dns::{DnsError, Resolve, SharedResolver};
pub use engine::Engine;
pub use error::{Culprit, Error, ErrorKind, ProxyRefused};
pub use event::{Event, HeadView};
pub use pool::{
    CloseCause, CloseCounts, Histogram, HostStats, LearnedLimits, NotReusable, NotReusableCounts,
    PoolKey, ReuseOrder, Scheme, Stats, Timings,
};
pub use request::{Flow, RequestId, RequestInfo, RequestOptions};
pub use route::{ConnectTo, NoProxy, Proxy, ResolveTo, Route};

/// Re-export of the `bytes` crate's [`Bytes`]: an in-memory body, and the
/// pieces a [`BodySource`] hands the engine, without copies.
pub use bytes::Bytes;

/// Re-export of `tls-glue`: TLS configuration (`tls::TlsConfig`) and TLS errors.
pub use tls_glue as tls;

/// Re-export of the `http` crate whose types the API uses.
pub use http;

/// Response head limits (size, header count), from the codec.
pub use http1_codec::HeadLimits;

/// How request header names are written (`Title-Case` by default), from the codec.
pub use http1_codec::HeaderCase;
