//! One connection's state machine: what it does with bytes, readiness and deadlines.
//!
//! ```text
//!   Resolving ──► Connecting ──(https: Handshaking)──► Writing ──► AwaitingHead ──► ReadingBody ──┬─► Idle ──┐
//!       │             │            │  ▲           ▲  (1xx skipped)          │    │     │
//!       │             │            ▼  │ 100 or    │                         │    │     │
//!       │             │       AwaitingContinue ───┘ expect-continue timeout │    │     │
//!       │             │                                                      │    │     │
//!       │             │          body dropped unread: ReadingBody ──► Draining ─► Idle │
//!       ▼             ▼                                                            ▼     │
//!    Closed ◄──────── any error, deadline, peer close, "not reusable" verdict ◄─────────┘
//!                                          Idle ──► Writing (reused for the next request)
//!                         ReadingBody / Idle ──► Retiring (at a learned server limit: no more
//!                                                requests; watched for the server's close) ──► Closed
//!
//!   early response (RFC 9112 §9.5): Writing ──(final head before the request is out)──►
//!       ReadingBody, never reused; Writing ──(write error)──► WriteFailed ──(a complete
//!       head was already in the socket)──► ReadingBody, never reused; else Closed
//!
//!   through a proxy: Connecting ──(https:// proxy: Handshaking(proxy))──► Tunneling
//!       (CONNECT, for an https:// origin; 2xx) ──► Handshaking(origin) ──► Writing;
//!       an http:// origin goes on to Writing (absolute form) with no tunnel.
//!   over a Unix socket: Connecting (no Resolving) ──► the same as TCP.
//! ```
//!
//! **A connection decides, the engine applies.** Each transition is a method on [`Conn`]
//! that gets the request the connection carries (if any) and a [`Ctx`] — the instant of
//! this turn, the settings, a place to arm deadlines, the poller's registry and the
//! caller's event sink, all lent by the engine — and returns a [`Next`]: wait, the
//! connection is ready for its request, the response finished (reuse it or close it
//! and why), close, or fail the exchange. The engine applies that to its pools, wait
//! queues and request table. No transition reaches into the engine, which is what lets
//! the unit tests in `tests.rs` build a connection in any state, feed it bytes, EOF,
//! errors and deadlines with explicit instants, and check what it decided — without a
//! socket (the transport runs over a scripted stream there).
//!
//! The rooms:
//! - `dial.rs`: resolving and connecting (Happy Eyeballs attempts, socket options);
//! - `handshake.rs`: the TLS handshakes (to an `https://` proxy, to an `https` origin);
//! - `tunnel.rs`: the `CONNECT` request that opens a tunnel through an HTTP proxy;
//! - `write.rs`: putting a request on the connection, writing it, `Expect: 100-continue`,
//!   and what happens when writing fails;
//! - `read.rs`: the read buffer (reads go into a scratch lent by the engine), response
//!   heads, bodies (delivered or drained, one loop), EOF, and the health check of an
//!   idle connection;
//! - `transport.rs`: the bytes under it all (plain or TLS, over TCP, a Unix socket, or
//!   a scripted stream).
//!
//! Invariants the code keeps:
//! - A connection carries at most one request; the request's id is in the state.
//! - Only `Idle` connections are in the host's idle pool, and an `Idle` connection has no
//!   buffered bytes: bytes or EOF on an idle socket mean it was closed or poisoned by the
//!   server, and it is closed before anyone can reuse it.
//! - A connection goes back to the pool only when the whole request was written, the
//!   body was read to its framed end, the keep-alive verdict allows it, and no byte
//!   follows the response. Anything else closes it, with the reason counted in the stats.
//! - Every state change goes through [`Conn::set_state`], which logs `old => new` at
//!   trace level (target `wirepool::conn`), so a log reads as the machine's history.

mod dial;
mod handshake;
mod read;
mod transport;
mod tunnel;
mod write;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http1_codec::{BodyDecoder, ResponseParser};
use mio::Registry;
use tls_glue::HandshakeKind;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::event::Sink;
use crate::pool::{CloseCause, HostId, Limit, NotReusable};
use crate::request::{Req, RequestId};
use crate::timer::{Deadline, DeadlineTable, Owner, Timers};
use crate::trace::{Tracer, Tracers};

pub(crate) use dial::{from_token, Dial};
pub(crate) use read::ReadBuf;
pub(crate) use transport::{Stream, Transport};

/// What a transition lends a connection: nothing else of the engine is reachable.
pub(crate) struct Ctx<'a> {
    /// The instant of this engine turn: a transition never reads the clock.
    pub(crate) now: Instant,
    pub(crate) config: &'a Config,
    /// This connection's slab id: its deadline heap entries and socket tokens name it.
    pub(crate) cid: usize,
    /// Where deadlines are armed (the engine's heap).
    pub(crate) timers: &'a mut Timers,
    /// The poller, to register connect attempts and deregister sockets.
    pub(crate) registry: &'a Registry,
    /// The caller's callback: response heads and body data go out through it.
    pub(crate) sink: Sink<'a>,
    /// The client's tracer, if one is installed (the request's is on the connection).
    pub(crate) tracer: Option<&'a dyn Tracer>,
    /// The engine's read buffer: a connection reads into it and keeps only the bytes
    /// it could not use yet (see [`ReadBuf`]).
    pub(crate) scratch: &'a mut Vec<u8>,
}

/// What a transition decided; the engine applies it.
#[derive(Debug)]
pub(crate) enum Next {
    /// Nothing more now: wait for readiness, a deadline, a DNS answer or the caller.
    Wait,
    /// The socket is up (or the tunnel, or the proxy's TLS) and `hop` wants TLS: the
    /// engine hands over a TLS session for it ([`Conn::start_handshake`]).
    NeedsTls { hop: Hop },
    /// The connection to the proxy is up: the engine hands over the `CONNECT` request
    /// and a read buffer ([`Conn::start_tunnel`]).
    NeedsTunnel,
    /// The connection is up (with the handshake's kind for `https`): the engine counts
    /// it and starts the request's exchange ([`Conn::start_exchange`]).
    Connected { tls: Option<HandshakeKind> },
    /// The response ended, or a dropped body was drained to its end. `req` (if any) is
    /// done; `reuse` says whether the connection may carry another request, and if not,
    /// why it closes.
    Finished {
        req: Option<RequestId>,
        reuse: Result<(), CloseCause>,
    },
    /// Close the connection; any request on it was dealt with already.
    Close(CloseCause),
    /// The exchange failed: close the connection, then retry or report the request.
    Fail(Error),
}

/// Where a connection is in its life. Each variant carries only what is valid in it.
pub(crate) enum State {
    /// Waiting for the resolver to answer for the host.
    Resolving { req: RequestId, started: Instant },
    /// TCP connect attempts in flight.
    Connecting { req: RequestId, dial: Dial },
    /// The TLS handshake with `hop` is running since `started`: the origin (`https`), or
    /// an `https://` proxy.
    Handshaking {
        req: RequestId,
        hop: Hop,
        started: Instant,
    },
    /// Through a proxy: `CONNECT origin:port` is being written, or its answer read.
    Tunneling { req: RequestId },
    /// Writing the request head and, when `with_body`, the body. The socket is read
    /// too: a server may answer before it has read the whole request (RFC 9112 §9.5).
    Writing { req: RequestId, with_body: bool },
    /// Writing failed (the server reset or stopped reading). It may have answered
    /// before it did: what the socket still holds is read, and a complete response is
    /// delivered; otherwise the request fails with `error` (taken out when handed over:
    /// a failure is reported once, however deep the read that met it).
    WriteFailed {
        req: RequestId,
        error: Option<Error>,
    },
    /// Head sent with `Expect: 100-continue`; the body waits for `100 Continue` or the
    /// expect-continue deadline.
    AwaitingContinue { req: RequestId },
    /// Request written; waiting for the final response head.
    AwaitingHead { req: RequestId },
    /// Delivering the response body. `keep_alive` is the verdict for the exchange: the
    /// codec's, with our request's headers and whether the whole request went out.
    ReadingBody {
        req: RequestId,
        decoder: BodyDecoder,
        keep_alive: Result<(), CloseCause>,
    },
    /// The body was dropped unread: reading and discarding it, so the connection can go
    /// back to the pool.
    Draining { decoder: BodyDecoder, drained: u64 },
    /// In the host's idle pool (which knows since when).
    Idle,
    /// Out of the pool for good at a limit learned from the server's silent closes
    /// (and counted closed), but left open, unused, to watch whether the server closes
    /// it as the limit predicts (until the `IdleExpiry` deadline): a close confirms the
    /// limit, none refutes it. No request ever goes out on it.
    Retiring { limit: Limit },
    /// Closed; the slot is freed at the end of the loop turn.
    Closed { cause: CloseCause },
}

impl State {
    /// The request this connection is working on, if any.
    pub(crate) fn request(&self) -> Option<RequestId> {
        match *self {
            State::Resolving { req, .. }
            | State::Connecting { req, .. }
            | State::Handshaking { req, .. }
            | State::Tunneling { req }
            | State::Writing { req, .. }
            | State::WriteFailed { req, .. }
            | State::AwaitingContinue { req }
            | State::AwaitingHead { req }
            | State::ReadingBody { req, .. } => Some(req),
            State::Draining { .. }
            | State::Idle
            | State::Retiring { .. }
            | State::Closed { .. } => None,
        }
    }

    /// Whether response bytes are expected now (head or body). While the request is
    /// written they may come early.
    pub(crate) fn is_reading(&self) -> bool {
        matches!(
            self,
            State::Writing { .. }
                | State::WriteFailed { .. }
                | State::AwaitingContinue { .. }
                | State::AwaitingHead { .. }
                | State::ReadingBody { .. }
                | State::Draining { .. }
        )
    }

    /// Whether the connection is still being set up (it counts as connecting).
    pub(crate) fn is_dialing(&self) -> bool {
        matches!(
            self,
            State::Resolving { .. }
                | State::Connecting { .. }
                | State::Handshaking { .. }
                | State::Tunneling { .. }
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Resolving { .. } => f.write_str("resolving"),
            State::Connecting { .. } => f.write_str("connecting"),
            State::Handshaking {
                hop: Hop::Origin, ..
            } => f.write_str("tls-handshake"),
            State::Handshaking {
                hop: Hop::Proxy, ..
            } => f.write_str("tls-handshake(proxy)"),
            State::Tunneling { .. } => f.write_str("tunneling"),
            State::Writing { .. } => f.write_str("writing"),
            State::WriteFailed { .. } => f.write_str("write-failed"),
            State::AwaitingContinue { .. } => f.write_str("awaiting-continue"),
            State::AwaitingHead { .. } => f.write_str("awaiting-head"),
            State::ReadingBody { .. } => f.write_str("reading-body"),
            State::Draining { drained, .. } => write!(f, "draining({drained} bytes)"),
            State::Idle => f.write_str("idle"),
            State::Retiring { limit } => write!(f, "retiring({limit:?} limit)"),
            State::Closed { cause } => write!(f, "closed({cause})"),
        }
    }
}

/// Which end of a connection a TLS handshake is with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hop {
    /// An `https://` proxy (server name: the proxy's host).
    Proxy,
    /// The origin (server name: the URL's host).
    Origin,
}

/// The layers a new connection sets up on its socket, in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// TLS to an `https://` proxy.
    pub(crate) proxy_tls: bool,
    /// A `CONNECT` tunnel through the proxy (for an `https` origin).
    pub(crate) tunnel: bool,
    /// TLS to the origin (`https`).
    pub(crate) tls: bool,
}

/// One pooled connection.
pub(crate) struct Conn {
    /// The host pool it belongs to.
    pub(crate) host: HostId,
    /// Unique within the engine, never reused (the slab index is): what
    /// `RequestInfo::conn_id` reports.
    pub(crate) serial: u64,
    /// What follows the connect: TLS to a proxy, a tunnel, TLS to the origin.
    pub(crate) plan: Plan,
    /// The address the connect reached, until the engine notes it in the stats.
    pub(crate) peer: Option<std::net::SocketAddr>,
    /// The address this connection is counted on in its host's per-address counts: the
    /// first its dial tries, then the one it reached; `None` once uncounted (closed or
    /// retired) and over a Unix socket.
    pub(crate) addr: Option<std::net::SocketAddr>,
    pub(crate) state: State,
    /// The established stream, with TLS for `https` (None while resolving or
    /// connecting, and once closed).
    pub(crate) transport: Option<Transport>,
    /// Which dial slot's token the established socket is registered under.
    pub(crate) slot: usize,
    /// Edge-triggered readiness not consumed yet: set by events, cleared by `WouldBlock`
    /// (or a short read, which on Linux means the socket was drained).
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer shut down its sending side (a read-closed event). Its EOF comes after
    /// the last data and raises no further edge, so a short read no longer means the
    /// socket has nothing left to report: `readable` stays set until a read says so.
    pub(crate) read_closed: bool,
    /// The engine stopped reading for the caller (backpressure).
    pub(crate) paused: bool,
    /// Received bytes not used yet (reads go into the engine's scratch buffer, lent
    /// while the connection reads). Emptied and freed when it goes idle.
    pub(crate) rbuf: ReadBuf,
    /// This connection's response-head parser. It remembers how far it searched an
    /// unfinished head, so it must never see another connection's bytes.
    pub(crate) parser: ResponseParser,
    /// The encoded request head being written.
    pub(crate) wbuf: Vec<u8>,
    /// Bytes of the head written so far (the body's progress is the request's).
    pub(crate) written: usize,
    /// Requests completed on this connection.
    pub(crate) served: u32,
    /// The idle timeout the server announced in its latest `Keep-Alive: timeout=`
    /// (kept until a later response says otherwise). The engine stops reusing the
    /// connection `keepalive_margin` before it.
    pub(crate) server_idle_timeout: Option<Duration>,
    /// Requests the server still takes on this connection, from its latest
    /// `Keep-Alive: max=` and counted down as requests go out; at zero the connection
    /// is not reused.
    pub(crate) requests_left: Option<u64>,
    /// It has been in the idle pool (a pre-warmed connection has, before serving).
    pub(crate) pooled: bool,
    /// The tracer of the request it carries (or carried last, until it is returned to
    /// the pool or closed): events of the connection reach that request's tracer too.
    pub(crate) req_tracer: Option<Arc<dyn Tracer>>,
    /// Not reused after this instant (`max_conn_lifetime` with jitter).
    pub(crate) expires_at: Option<Instant>,
    pub(crate) deadlines: DeadlineTable,
}

impl Conn {
    /// A connection about to dial for `req`, resolving its host first.
    pub(crate) fn new(host: HostId, serial: u64, plan: Plan, req: RequestId, now: Instant) -> Conn {
        Conn {
            host,
            serial,
            plan,
            peer: None,
            addr: None,
            state: State::Resolving { req, started: now },
            transport: None,
            slot: 0,
            readable: false,
            writable: false,
            read_closed: false,
            paused: false,
            rbuf: ReadBuf::default(),
            parser: ResponseParser::default(),
            wbuf: Vec::new(),
            written: 0,
            served: 0,
            server_idle_timeout: None,
            requests_left: None,
            pooled: false,
            req_tracer: None,
            expires_at: None,
            deadlines: DeadlineTable::default(),
        }
    }

    /// The one place a connection changes state; logs `old => new` at trace level.
    pub(crate) fn set_state(&mut self, new: State) {
        if log::log_enabled!(target: "wirepool::conn", log::Level::Trace) {
            log::trace!(target: "wirepool::conn", "conn#{}: {} => {new}", self.serial, self.state);
        }
        self.state = new;
    }

    /// A state change that moves data out of the old state (the body decoder into
    /// `Draining`): `f` gets the old state by value. Logged like [`Conn::set_state`].
    pub(crate) fn map_state(&mut self, f: impl FnOnce(State) -> State) {
        let trace = log::log_enabled!(target: "wirepool::conn", log::Level::Trace);
        let old_name = trace.then(|| self.state.to_string());
        // `Idle` is only a placeholder for the moment `f` runs; it carries no data.
        let old = std::mem::replace(&mut self.state, State::Idle);
        self.state = f(old);
        if let Some(old_name) = old_name {
            log::trace!(target: "wirepool::conn", "conn#{}: {old_name} => {}", self.serial, self.state);
        }
    }

    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// What comes after the socket connected: TLS to the proxy, the tunnel, TLS to the
    /// origin, or the request (the first layer of the plan not set up yet).
    pub(crate) fn after_connect(&self) -> Next {
        if self.plan.proxy_tls {
            Next::NeedsTls { hop: Hop::Proxy }
        } else {
            self.after_proxy_tls()
        }
    }

    /// What comes after the proxy's TLS handshake (or the connect, without one).
    pub(crate) fn after_proxy_tls(&self) -> Next {
        if self.plan.tunnel {
            Next::NeedsTunnel
        } else {
            self.after_tunnel()
        }
    }

    /// What comes after the tunnel opened (or the connect, without one).
    pub(crate) fn after_tunnel(&self) -> Next {
        if self.plan.tls {
            Next::NeedsTls { hop: Hop::Origin }
        } else {
            Next::Connected { tls: None }
        }
    }

    /// Arms deadline `kind` at `at`.
    pub(crate) fn arm(&mut self, ctx: &mut Ctx<'_>, kind: Deadline, at: Instant) {
        if self.deadlines.set(kind, at) {
            ctx.timers.push(at, Owner::Conn(ctx.cid), kind);
        }
    }

    /// Arms deadline `kind` to pass `delay` from now; a delay past the clock's range
    /// arms nothing (it means "never").
    pub(crate) fn arm_after(&mut self, ctx: &mut Ctx<'_>, kind: Deadline, delay: Duration) {
        if let Some(at) = ctx.now.checked_add(delay) {
            self.arm(ctx, kind, at);
        }
    }

    /// A readiness event for this connection's socket in `slot`.
    pub(crate) fn handle_ready(
        &mut self,
        slot: usize,
        readiness: Readiness,
        mut req: Option<&mut Req>,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        match self.state {
            State::Connecting { .. } => return self.handle_connect_ready(slot, req, ctx),
            State::Closed { .. } | State::Resolving { .. } => return Next::Wait,
            _ => {}
        }
        if slot != self.slot {
            return Next::Wait; // a losing connect attempt's late event
        }
        self.readable |= readiness.readable;
        self.writable |= readiness.writable;
        self.read_closed |= readiness.read_closed;
        match self.state {
            State::Handshaking { .. } => return self.drive_handshake(),
            State::Tunneling { .. } => return self.drive_tunnel(ctx),
            _ => {}
        }
        if readiness.writable && matches!(self.state, State::Writing { .. }) {
            match self.drive_write(req.as_deref_mut(), ctx) {
                Next::Wait => {}
                next => return next,
            }
        } else if readiness.writable && !matches!(self.state, State::WriteFailed { .. }) {
            // TLS records that did not fit in the socket buffer earlier.
            if let Some(Err(e)) = self.transport.as_mut().map(Transport::flush) {
                if !matches!(e, transport::TransportError::WouldBlock) {
                    return Next::Fail(transport_error(e));
                }
            }
        }
        if readiness.readable {
            return self.drive_read(req, ctx);
        }
        Next::Wait
    }

    /// Deadline `kind` of this connection passed (the engine checked the table).
    pub(crate) fn handle_deadline(
        &mut self,
        kind: Deadline,
        req: Option<&mut Req>,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        match kind {
            Deadline::Connect => Next::Fail(Error::new(ErrorKind::ConnectTimeout)),
            Deadline::HappyEyeballs => self.next_attempt(ctx),
            // Nothing of the request was sent: safe to try again, for the caller.
            Deadline::TlsHandshake => {
                Next::Fail(Error::new(ErrorKind::TlsHandshakeTimeout).retry_safe(true))
            }
            Deadline::ProxyConnect => Next::Fail(Error::new(ErrorKind::ProxyConnectTimeout)),
            Deadline::ResponseHead => Next::Fail(Error::new(ErrorKind::ResponseHeaderTimeout)),
            Deadline::ExpectContinue => self.send_body(req, ctx),
            // The request's total deadline, armed here while this connection carries it.
            Deadline::Total => Next::Fail(Error::new(ErrorKind::Timeout)),
            Deadline::Drain => Next::Close(CloseCause::NotReusable(NotReusable::DrainTimeout)),
            Deadline::IdleExpiry => Next::Close(CloseCause::IdleTimeout),
            Deadline::Lifetime if matches!(self.state, State::Idle) => {
                Next::Close(CloseCause::Lifetime)
            }
            Deadline::Lifetime => Next::Wait,
            // A request's and a host's deadlines: never armed on a connection.
            Deadline::PoolWait | Deadline::DnsRefresh => Next::Wait,
        }
    }

    /// Our side closes: `close_notify` for TLS, sockets out of the poller (connect
    /// attempts in flight end as abandoned, for `trace`), no deadline left. The engine
    /// records the cause and frees the slot.
    pub(crate) fn shut(
        &mut self,
        registry: &Registry,
        cause: CloseCause,
        trace: Tracers<'_>,
        now: Instant,
    ) {
        if let Some(mut transport) = self.transport.take() {
            transport.close_notify();
            let _ = registry.deregister(transport.stream_mut());
        }
        let (conn_id, request) = (self.serial, self.state.request());
        if let State::Connecting { dial, .. } = &mut self.state {
            let cx = dial::DialTrace {
                trace,
                now,
                conn_id,
                request,
            };
            dial.abandon(registry, &cx);
        }
        self.deadlines.clear_all();
        self.set_state(State::Closed { cause });
    }

    /// The tracers of this connection's events: the client's (lent in a [`Ctx`]) and
    /// its request's.
    pub(crate) fn tracers<'a>(&'a self, client: Option<&'a dyn Tracer>) -> Tracers<'a> {
        Tracers::new(client, self.req_tracer.as_deref())
    }
}

/// What a readiness event said about a socket.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Readiness {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) read_closed: bool,
}

/// Maps a transport failure on an established connection to our error kind.
pub(crate) fn transport_error(e: transport::TransportError) -> Error {
    use std::io;
    match e {
        transport::TransportError::Tls(tls) => Error::with_source(ErrorKind::Tls, tls),
        transport::TransportError::WouldBlock => Error::new(ErrorKind::Io),
        transport::TransportError::Io(e) => {
            let kind = match e.kind() {
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => ErrorKind::ConnectionClosed,
                _ => ErrorKind::Io,
            };
            Error::with_source(kind, e)
        }
    }
}
