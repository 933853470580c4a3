//! Trace hooks: what happens to a request and its connection, as it happens.
//!
//! A [`Tracer`] is the Rust shape of Go's `net/http/httptrace.ClientTrace`: a trait whose
//! methods all default to doing nothing, so an implementation overrides only the events
//! it cares about. Install one for every request of a client
//! ([`ClientBuilder::tracer`](crate::ClientBuilder::tracer),
//! [`Engine::set_tracer`](crate::Engine::set_tracer)), or for one request by putting a
//! [`RequestTracer`] in the request's extensions; when both are there, both are called
//! (the client's first).
//!
//! ```text
//!  submit ─► queued? ─► dns_start ─► dns_done ─► connect_start ─► connect_done (per address)
//!                         (names only; a cached answer too)         ─► tls_start ─► tls_done
//!        ─► got_conn (fresh or reused) ─► wrote_headers ─► [got_100_continue] ─► wrote_request
//!        ─► first_byte ─► head_received ─► body_done ─► conn_returned | conn_closed
//!  on failure: conn_closed ─► retry (then again from got_conn or a dial) | request_failed
//!  Engine::cancel / a dropped body: canceled (then conn_closed, or conn_returned after a drain)
//! ```
//!
//! # Where each event fires
//!
//! Every event kind fires from exactly one function, where the pool makes that decision
//! or the connection takes that step — never from each transition that might lead there:
//!
//! | event | fired by |
//! |---|---|
//! | `queued` | `settle.rs` `dispatch`: the request joins the host's wait queue |
//! | `dns_start`, `dns_done` | `settle.rs` `open_conn` (a cached answer), `Engine::handle_dns_answers` (the resolver's); both through `Engine::dns_answered` |
//! | `connect_start` | `conn/dial.rs` `next_attempt`: the one place an attempt starts |
//! | `connect_done` | `conn/dial.rs` `Dial::end_attempt`: the one place an attempt ends (connected, failed, or abandoned when another won or the dial was dropped) |
//! | `tls_start`, `tls_done` | `Engine::apply`: `NeedsTls` starts one; whatever follows a handshake (`NeedsTunnel`, the origin's `NeedsTls`, `Connected`) ends it, in `Engine::handshake_finished` (a failure: `Engine::fail_conn` while handshaking) |
//! | `got_conn` | `settle.rs` `start_exchange`: a request is put on a connection |
//! | `wrote_headers`, `wrote_request` | `conn/write.rs` `drive_write`: the write loop |
//! | `got_100_continue`, `first_byte`, `head_received` | `conn/read.rs` `read_head` |
//! | `body_done` | `Engine::finish_request` |
//! | `request_failed` | `Engine::fail_request` (and `Engine::shutdown`, through the same helper) |
//! | `retry` | `Engine::fail_or_retry` |
//! | `canceled` | `Engine::cancel`, `Engine::discard` |
//! | `conn_returned` | `settle.rs` `release` (to the idle pool or a waiter) |
//! | `conn_closed` | `Engine::close_conn` |
//!
//! # The rules of a tracer
//!
//! - Hooks run **on the engine thread**, inside its loop: a slow hook delays every request
//!   of the engine. Record and return; send anything heavy to another thread.
//! - Events of one request come in the order of the diagram above. Each `connect_start`
//!   is followed by exactly one `connect_done` for the same address.
//! - `at` is the engine's instant for its current turn (the engine reads the clock once per
//!   turn), so events of one turn share it.
//! - A per-request tracer sees its request's events and those of the connection while it
//!   carries the request, up to the `conn_returned` or `conn_closed` that ends its use.
//!   The client's tracer also sees connections closing on their own (idle timeout,
//!   eviction, a server closing an idle connection), and the connections
//!   `Engine::prewarm` opens: their dial events and `conn_returned`, no request events.
//!
//! # Cost
//!
//! With no tracer installed, each of these places tests two `Option`s that are `None`:
//! no event is built, nothing allocates, nothing locks. With a tracer, an event is a small
//! struct on the stack and one virtual call. [`LogTracer`] logs every event through the
//! `log` crate (target `wirepool::trace`).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{StatusCode, Version};
use tls_glue::{HandshakeKind, TlsVersion};

use crate::dns::DnsError;
use crate::error::Error;
use crate::pool::{CloseCause, PoolKey};
use crate::request::{RequestId, RequestInfo};

/// Hooks called as a request and its connection move along. Every method does nothing
/// unless overridden. Called on the engine thread: keep them quick (see the module docs).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use wirepool::trace::{GotConn, Step, Tracer};
///
/// /// Remembers when each request's first response byte came.
/// #[derive(Default)]
/// struct FirstBytes(Mutex<Vec<(u64, std::time::Instant)>>);
///
/// impl Tracer for FirstBytes {
///     fn first_byte(&self, ev: &Step) {
///         self.0.lock().unwrap().push((ev.request.as_u64(), ev.at));
///     }
/// }
///
/// let tracer = Arc::new(FirstBytes::default());
/// let client = wirepool::Client::builder().tracer(tracer.clone()).build()?;
/// # Ok::<(), wirepool::Error>(())
/// ```
#[allow(unused_variables)]
pub trait Tracer: Send + Sync {
    /// The request joined its host's wait queue (`max_conns_per_host` reached). How long
    /// it waited comes with [`got_conn`](Tracer::got_conn).
    fn queued(&self, ev: &Queued<'_>) {}
    /// A new connection asks for the addresses of the name it dials — the origin's, a
    /// `connect_to` target's, or its proxy's (names only: an IP literal needs no lookup
    /// and has no DNS events, nor has a Unix socket).
    fn dns_start(&self, ev: &DnsStart<'_>) {}
    /// The addresses are known (or the lookup failed); `cached` when the answer came at
    /// once, from the engine's DNS cache or a fixed `ResolveTo` rule, without asking the
    /// resolver.
    fn dns_done(&self, ev: &DnsDone<'_>) {}
    /// A TCP connect to one address started (Happy Eyeballs may race two).
    fn connect_start(&self, ev: &ConnectStart) {}
    /// A connect attempt ended: connected, failed, or abandoned (another attempt won, or
    /// the connection was closed while connecting).
    fn connect_done(&self, ev: &ConnectDone<'_>) {}
    /// A TLS handshake starts: with the origin (`https`), or with an `https://` proxy
    /// ([`TlsStart::proxy`]; the origin's follows through the tunnel).
    fn tls_start(&self, ev: &TlsStart<'_>) {}
    /// The TLS handshake finished (full or resumed, protocol, cipher suite) or failed.
    fn tls_done(&self, ev: &TlsDone<'_>) {}
    /// The request has a connection and is about to be written: a fresh one, an idle one,
    /// or one handed over by the request before it.
    fn got_conn(&self, ev: &GotConn) {}
    /// The request head is written (with `Expect: 100-continue`, the body waits).
    fn wrote_headers(&self, ev: &Step) {}
    /// The whole request (head and body) is written.
    fn wrote_request(&self, ev: &Step) {}
    /// The server answered `100 Continue`: the body goes out now.
    fn got_100_continue(&self, ev: &Step) {}
    /// The first byte of the response arrived (an interim `1xx` counts).
    fn first_byte(&self, ev: &Step) {}
    /// The final response head was parsed and handed to the caller.
    fn head_received(&self, ev: &HeadReceived) {}
    /// The body was read to its end: the request is done, with its final timings.
    fn body_done(&self, ev: &BodyDone<'_>) {}
    /// The request failed and is reported to the caller with this error.
    fn request_failed(&self, ev: &RequestFailed<'_>) {}
    /// The caller gave up on the request: [`Engine::cancel`](crate::Engine::cancel), or
    /// its body was dropped unread ([`Engine::discard`](crate::Engine::discard); the
    /// engine may then drain the rest and reuse the connection).
    fn canceled(&self, ev: &Canceled) {}
    /// The request failed on a reused connection before any response byte and goes out
    /// again on a fresh connection.
    fn retry(&self, ev: &Retry<'_>) {}
    /// The connection finished its exchange and went back to the idle pool, or straight
    /// to a request waiting for it.
    fn conn_returned(&self, ev: &ConnReturned<'_>) {}
    /// The connection was closed, and why.
    fn conn_closed(&self, ev: &ConnClosed<'_>) {}
}

/// A tracer for one request, put in its extensions:
///
/// ```
/// use std::sync::Arc;
/// use wirepool::trace::{LogTracer, RequestTracer};
/// use wirepool::{http::Request, Body};
///
/// let mut request = Request::get("http://127.0.0.1:8080/").body(Body::empty())?;
/// request.extensions_mut().insert(RequestTracer(Arc::new(LogTracer)));
/// # Ok::<(), wirepool::http::Error>(())
/// ```
#[derive(Clone)]
pub struct RequestTracer(pub Arc<dyn Tracer>);

impl fmt::Debug for RequestTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestTracer")
    }
}

/// [`Tracer::queued`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Queued<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request.
    pub request: RequestId,
    /// Its host pool.
    pub host: &'a PoolKey,
    /// Requests in the host's wait queue, this one included.
    pub waiting: usize,
}

/// [`Tracer::dns_start`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DnsStart<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request the connection is dialed for.
    pub request: Option<RequestId>,
    /// The new connection (as in [`RequestInfo::conn_id`]).
    pub conn_id: u64,
    /// The host name looked up.
    pub host: &'a str,
    /// The port.
    pub port: u16,
}

/// [`Tracer::dns_done`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DnsDone<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request the connection is dialed for.
    pub request: Option<RequestId>,
    /// The new connection.
    pub conn_id: u64,
    /// The host name looked up.
    pub host: &'a str,
    /// The addresses, in the resolver's order, or why there are none.
    pub result: Result<&'a [SocketAddr], &'a DnsError>,
    /// The answer came at once: the engine's cache (`dns_ttl`) or a `ResolveTo` rule.
    pub cached: bool,
    /// Since `dns_start` (zero for a cached answer).
    pub took: Duration,
}

/// [`Tracer::connect_start`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectStart {
    /// The engine's instant.
    pub at: Instant,
    /// The request the connection is dialed for.
    pub request: Option<RequestId>,
    /// The new connection.
    pub conn_id: u64,
    /// The address tried (`None` over a Unix domain socket: its path is in the pool
    /// key's route).
    pub addr: Option<SocketAddr>,
}

/// How a connect attempt ended ([`ConnectDone::result`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ConnectResult<'a> {
    /// Connected: this attempt carries the connection.
    Connected,
    /// Failed (refused, unreachable, ...); the next address is tried if there is one.
    Failed(&'a io::Error),
    /// Dropped unfinished: another attempt connected first, or the connection was closed
    /// while connecting (connect timeout, cancel, shutdown).
    Abandoned,
}

/// [`Tracer::connect_done`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectDone<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request the connection is dialed for.
    pub request: Option<RequestId>,
    /// The new connection.
    pub conn_id: u64,
    /// The address tried (`None` over a Unix domain socket).
    pub addr: Option<SocketAddr>,
    /// How the attempt ended.
    pub result: ConnectResult<'a>,
    /// Since this attempt's `connect_start`.
    pub took: Duration,
}

/// [`Tracer::tls_start`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TlsStart<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request the connection is dialed for.
    pub request: Option<RequestId>,
    /// The connection.
    pub conn_id: u64,
    /// The name the certificate is checked against (and sent as SNI unless an IP).
    pub server_name: &'a str,
    /// The handshake is with an `https://` proxy (the origin's follows through the
    /// tunnel), not with the origin.
    pub proxy: bool,
}

/// A finished TLS handshake ([`TlsDone::result`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsHandshake {
    /// Full, full with a HelloRetryRequest, or resumed.
    pub kind: Option<HandshakeKind>,
    /// The protocol version negotiated.
    pub protocol: Option<TlsVersion>,
    /// The cipher suite negotiated, by its IANA name (`TLS13_AES_256_GCM_SHA384`).
    pub cipher_suite: Option<&'static str>,
}

impl TlsHandshake {
    /// Whether an earlier session was resumed (no certificate chain sent or checked).
    pub fn is_resumed(&self) -> bool {
        self.kind.is_some_and(HandshakeKind::is_resumed)
    }
}

/// [`Tracer::tls_done`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TlsDone<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request the connection is dialed for.
    pub request: Option<RequestId>,
    /// The connection.
    pub conn_id: u64,
    /// With an `https://` proxy, not the origin (see [`TlsStart::proxy`]).
    pub proxy: bool,
    /// What was negotiated, or why the handshake failed.
    pub result: Result<TlsHandshake, &'a Error>,
    /// Since `tls_start`.
    pub took: Duration,
}

/// [`Tracer::got_conn`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GotConn {
    /// The engine's instant.
    pub at: Instant,
    /// The request.
    pub request: RequestId,
    /// The connection it goes out on.
    pub conn_id: u64,
    /// The connection carried a request before.
    pub reused: bool,
    /// How long the reused connection sat idle (zero for a hand-over from the request
    /// before; `None` for a fresh connection).
    pub idle_for: Option<Duration>,
    /// Requests the connection carried before this one.
    pub served: u32,
    /// Time the request spent in its host's wait queue.
    pub queued_for: Duration,
    /// Since the request was submitted (queue, DNS, connect and TLS included).
    pub wait: Duration,
}

/// A step of an exchange on a connection: [`Tracer::wrote_headers`],
/// [`Tracer::wrote_request`], [`Tracer::got_100_continue`], [`Tracer::first_byte`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Step {
    /// The engine's instant.
    pub at: Instant,
    /// The request.
    pub request: RequestId,
    /// Its connection.
    pub conn_id: u64,
}

/// [`Tracer::head_received`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HeadReceived {
    /// The engine's instant.
    pub at: Instant,
    /// The request.
    pub request: RequestId,
    /// Its connection.
    pub conn_id: u64,
    /// The final status.
    pub status: StatusCode,
    /// The response's HTTP version.
    pub version: Version,
}

/// [`Tracer::body_done`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BodyDone<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request.
    pub request: RequestId,
    /// Its final reuse facts and timings (what `Event::Done` carries).
    pub info: &'a RequestInfo,
}

/// [`Tracer::request_failed`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestFailed<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request.
    pub request: RequestId,
    /// What the caller is told.
    pub error: &'a Error,
}

/// [`Tracer::canceled`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Canceled {
    /// The engine's instant.
    pub at: Instant,
    /// The request.
    pub request: RequestId,
    /// The connection carrying it, if it had one.
    pub conn_id: Option<u64>,
    /// The body was dropped unread ([`Engine::discard`](crate::Engine::discard)), rather
    /// than the request canceled.
    pub discarded: bool,
}

/// [`Tracer::retry`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Retry<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request.
    pub request: RequestId,
    /// The (reused) connection it failed on, now closed.
    pub conn_id: u64,
    /// Why it failed there.
    pub error: &'a Error,
    /// Which resend this is (1 for the first).
    pub attempt: u8,
}

/// [`Tracer::conn_returned`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnReturned<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request whose exchange just ended on it (none after a drain).
    pub request: Option<RequestId>,
    /// The connection.
    pub conn_id: u64,
    /// Its host pool.
    pub host: &'a PoolKey,
    /// Requests it has carried.
    pub served: u32,
    /// The waiting request it was handed to, instead of the idle pool.
    pub handed_to: Option<RequestId>,
}

/// [`Tracer::conn_closed`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnClosed<'a> {
    /// The engine's instant.
    pub at: Instant,
    /// The request it carried when it closed, if any.
    pub request: Option<RequestId>,
    /// The connection.
    pub conn_id: u64,
    /// Its host pool.
    pub host: &'a PoolKey,
    /// Why (as counted in [`Stats`](crate::Stats)).
    pub cause: CloseCause,
    /// Requests it carried.
    pub served: u32,
}

/// The tracers an event goes to: the client's and the request's. Copy, two pointers;
/// with neither installed, [`emit`](Tracers::emit) is two `None` checks.
#[derive(Clone, Copy, Default)]
pub(crate) struct Tracers<'a> {
    client: Option<&'a dyn Tracer>,
    request: Option<&'a dyn Tracer>,
}

impl<'a> Tracers<'a> {
    #[inline]
    pub(crate) fn new(client: Option<&'a dyn Tracer>, request: Option<&'a dyn Tracer>) -> Self {
        Tracers { client, request }
    }

    /// Whether any tracer is installed (to skip work an event would need).
    #[inline]
    pub(crate) fn is_on(self) -> bool {
        self.client.is_some() || self.request.is_some()
    }

    /// Calls `hook` on each installed tracer, the client's first.
    #[inline]
    pub(crate) fn emit(self, hook: impl Fn(&dyn Tracer)) {
        if let Some(t) = self.client {
            hook(t);
        }
        if let Some(t) = self.request {
            hook(t);
        }
    }
}

// ---------------------------------------------------------------------------------------
// A ready-made tracer
// ---------------------------------------------------------------------------------------

/// A tracer that logs every event through the `log` crate at debug level, target
/// `wirepool::trace`, one line each:
///
/// ```text
/// req#1 conn#1 connect_start 127.0.0.1:8080
/// req#1 conn#1 connect_done 127.0.0.1:8080 connected in 61µs
/// req#1 conn#1 got_conn fresh served=0 queued=0ns wait=97µs
/// ```
///
/// (`docs/observability.md` shows whole requests.) Nothing is formatted when the level
/// is off.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogTracer;

const LOG_TARGET: &str = "wirepool::trace";

macro_rules! trace_log {
    ($($arg:tt)*) => {
        if log::log_enabled!(target: LOG_TARGET, log::Level::Debug) {
            log::debug!(target: LOG_TARGET, $($arg)*);
        }
    };
}

/// An address, or `unix` for a Unix domain socket.
struct Addr(Option<SocketAddr>);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("unix"),
        }
    }
}

/// `req#N` or `-`.
struct Req(Option<RequestId>);

impl fmt::Display for Req {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => id.fmt(f),
            None => f.write_str("-"),
        }
    }
}

impl Tracer for LogTracer {
    fn queued(&self, ev: &Queued<'_>) {
        trace_log!(
            "{} queued for {} ({} waiting)",
            ev.request,
            ev.host,
            ev.waiting
        );
    }
    fn dns_start(&self, ev: &DnsStart<'_>) {
        trace_log!(
            "{} conn#{} dns_start {}:{}",
            Req(ev.request),
            ev.conn_id,
            ev.host,
            ev.port
        );
    }
    fn dns_done(&self, ev: &DnsDone<'_>) {
        let cached = if ev.cached { " (cached)" } else { "" };
        match ev.result {
            Ok(addrs) => trace_log!(
                "{} conn#{} dns_done {:?}{cached} in {:?}",
                Req(ev.request),
                ev.conn_id,
                addrs,
                ev.took
            ),
            Err(e) => trace_log!(
                "{} conn#{} dns_done failed: {e} in {:?}",
                Req(ev.request),
                ev.conn_id,
                ev.took
            ),
        }
    }
    fn connect_start(&self, ev: &ConnectStart) {
        trace_log!(
            "{} conn#{} connect_start {}",
            Req(ev.request),
            ev.conn_id,
            Addr(ev.addr)
        );
    }
    fn connect_done(&self, ev: &ConnectDone<'_>) {
        let (req, conn, addr, took) = (Req(ev.request), ev.conn_id, Addr(ev.addr), ev.took);
        match ev.result {
            ConnectResult::Connected => {
                trace_log!("{req} conn#{conn} connect_done {addr} connected in {took:?}")
            }
            ConnectResult::Failed(e) => {
                trace_log!("{req} conn#{conn} connect_done {addr} failed: {e} in {took:?}")
            }
            ConnectResult::Abandoned => {
                trace_log!("{req} conn#{conn} connect_done {addr} abandoned after {took:?}")
            }
        }
    }
    fn tls_start(&self, ev: &TlsStart<'_>) {
        trace_log!(
            "{} conn#{} tls_start {}{}",
            Req(ev.request),
            ev.conn_id,
            if ev.proxy { "proxy " } else { "" },
            ev.server_name
        );
    }
    fn tls_done(&self, ev: &TlsDone<'_>) {
        let (req, conn, took) = (Req(ev.request), ev.conn_id, ev.took);
        let hop = if ev.proxy { "proxy " } else { "" };
        match &ev.result {
            Ok(hs) => trace_log!(
                "{req} conn#{conn} tls_done {hop}{} {} {} in {took:?}",
                if hs.is_resumed() { "resumed" } else { "full" },
                match hs.protocol {
                    Some(TlsVersion::Tls13) => "TLSv1.3",
                    Some(TlsVersion::Tls12) => "TLSv1.2",
                    _ => "?",
                },
                hs.cipher_suite.unwrap_or("?"),
            ),
            Err(e) => trace_log!("{req} conn#{conn} tls_done {hop}failed: {e} in {took:?}"),
        }
    }
    fn got_conn(&self, ev: &GotConn) {
        let (req, conn, served) = (ev.request, ev.conn_id, ev.served);
        let (queued, wait) = (ev.queued_for, ev.wait);
        if ev.reused {
            let idle = ev.idle_for.unwrap_or_default();
            trace_log!(
                "{req} conn#{conn} got_conn reused served={served} idle={idle:?} queued={queued:?} wait={wait:?}"
            );
        } else {
            trace_log!(
                "{req} conn#{conn} got_conn fresh served={served} queued={queued:?} wait={wait:?}"
            );
        }
    }
    fn wrote_headers(&self, ev: &Step) {
        trace_log!("{} conn#{} wrote_headers", ev.request, ev.conn_id);
    }
    fn wrote_request(&self, ev: &Step) {
        trace_log!("{} conn#{} wrote_request", ev.request, ev.conn_id);
    }
    fn got_100_continue(&self, ev: &Step) {
        trace_log!("{} conn#{} got_100_continue", ev.request, ev.conn_id);
    }
    fn first_byte(&self, ev: &Step) {
        trace_log!("{} conn#{} first_byte", ev.request, ev.conn_id);
    }
    fn head_received(&self, ev: &HeadReceived) {
        trace_log!(
            "{} conn#{} head_received {} {:?}",
            ev.request,
            ev.conn_id,
            ev.status.as_u16(),
            ev.version
        );
    }
    fn body_done(&self, ev: &BodyDone<'_>) {
        let i = ev.info;
        trace_log!(
            "{} conn#{} body_done ttfb={:?} total={:?}",
            ev.request,
            i.conn_id,
            i.ttfb,
            i.total
        );
    }
    fn request_failed(&self, ev: &RequestFailed<'_>) {
        trace_log!("{} request_failed: {}", ev.request, ev.error);
    }
    fn canceled(&self, ev: &Canceled) {
        let what = if ev.discarded {
            "body discarded"
        } else {
            "canceled"
        };
        match ev.conn_id {
            Some(c) => trace_log!("{} conn#{c} {what}", ev.request),
            None => trace_log!("{} {what}", ev.request),
        }
    }
    fn retry(&self, ev: &Retry<'_>) {
        trace_log!(
            "{} conn#{} retry #{} after: {}",
            ev.request,
            ev.conn_id,
            ev.attempt,
            ev.error
        );
    }
    fn conn_returned(&self, ev: &ConnReturned<'_>) {
        match ev.handed_to {
            Some(to) => trace_log!(
                "{} conn#{} conn_returned handed to {to} (served {})",
                Req(ev.request),
                ev.conn_id,
                ev.served
            ),
            None => trace_log!(
                "{} conn#{} conn_returned idle (served {})",
                Req(ev.request),
                ev.conn_id,
                ev.served
            ),
        }
    }
    fn conn_closed(&self, ev: &ConnClosed<'_>) {
        trace_log!(
            "{} conn#{} conn_closed: {} (served {})",
            Req(ev.request),
            ev.conn_id,
            ev.cause,
            ev.served
        );
    }
}
