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
//!
//!   early response (RFC 9112 §9.5): Writing ──(final head before the request is out)──►
//!       ReadingBody, never reused; Writing ──(write error)──► WriteFailed ──(a complete
//!       head was already in the socket)──► ReadingBody, never reused; else Closed
//! ```
//!
//! Invariants the code keeps:
//! - A connection carries at most one request; the request's id is in the state.
//! - Only `Idle` connections are in the host's idle pool, and an `Idle` connection has no
//!   buffered bytes: bytes or EOF on an idle socket mean it was closed or poisoned by the
//!   server, and it is closed before anyone can reuse it.
//! - A connection goes back to the pool only when the whole request was written, the
//!   body was read to its framed end, the keep-alive verdict allows it, and no byte
//!   follows the response. Anything else
//!   closes it, with the reason counted in the stats.
//! - Every state change goes through [`Engine::set_state`] (or [`Engine::map_state`] when
//!   data moves from the old state to the new one), which can trace `old => new`.
//!
//! This module holds the per-connection transitions as `impl Engine` blocks, because a
//! transition may touch the request slab, the pools and the timers. `engine.rs` owns the
//! loop and the decisions *between* connections (which request gets which connection).

use std::fmt;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http1_codec::{BodyDecoder, HeadKind, Remaining, ResponseParser};
use mio::net::TcpStream;
use mio::{Interest, Token};

use crate::engine::{encode_request_head, Engine, Event, Sink};
use crate::error::{Error, ErrorKind};
use crate::pool::{CloseCause, HostId, Scheme};
use crate::request::{Flow, HeadView, RequestId};
use crate::socket::{self, ConnectCheck};
use crate::timer::{Deadline, DeadlineTable, Owner};
use crate::transport::{tls_error, Handshake, Transport};
use tls_glue::HandshakeKind;

/// Encoded-head buffers kept for reuse (each is a few hundred bytes).
const MAX_SPARE_HEADS: usize = 1024;

/// Connect attempts raced per connection (RFC 8305): the current one and one more.
pub(crate) const DIAL_SLOTS: usize = 2;

/// The mio token of connection `conn`'s socket in `slot`.
pub(crate) fn token(conn: usize, slot: usize) -> Token {
    Token(conn * DIAL_SLOTS + slot)
}

/// The connection and slot a token names.
pub(crate) fn from_token(token: Token) -> (usize, usize) {
    (token.0 / DIAL_SLOTS, token.0 % DIAL_SLOTS)
}

/// Connect attempts in flight for a new connection (Happy Eyeballs).
pub(crate) struct Dial {
    /// Addresses in the order to try them (families interleaved, IPv6 first).
    pub(crate) addrs: Vec<SocketAddr>,
    /// Index of the next address to try.
    pub(crate) next: usize,
    /// Sockets whose connect is in progress, by slot.
    pub(crate) attempts: [Option<TcpStream>; DIAL_SLOTS],
    /// The most recent failure, reported if every address fails.
    pub(crate) last_error: Option<io::Error>,
    /// When the first attempt started (for `RequestInfo::connect`).
    pub(crate) started: Instant,
}

/// Where a connection is in its life. Each variant carries only what is valid in it.
pub(crate) enum State {
    /// Waiting for the resolver to answer for the host.
    Resolving { req: RequestId, started: Instant },
    /// TCP connect attempts in flight.
    Connecting { req: RequestId, dial: Dial },
    /// `https`: TCP is up, the TLS handshake is running.
    Handshaking { req: RequestId },
    /// Writing the request head and, when `with_body`, the body. The socket is read
    /// too: a server may answer before it has read the whole request (RFC 9112 §9.5).
    Writing { req: RequestId, with_body: bool },
    /// Writing failed (the server reset or stopped reading). It may have answered
    /// before it did: what the socket still holds is read, and a complete response is
    /// delivered; otherwise the request fails with `error`.
    WriteFailed { req: RequestId, error: Error },
    /// Head sent with `Expect: 100-continue`; the body waits for `100 Continue` or the
    /// expect-continue deadline.
    AwaitingContinue { req: RequestId },
    /// Request written; waiting for the final response head.
    AwaitingHead { req: RequestId },
    /// Delivering the response body. `keep_alive` is the codec's verdict for the exchange.
    ReadingBody {
        req: RequestId,
        decoder: BodyDecoder,
        keep_alive: bool,
    },
    /// The body was dropped unread: reading and discarding it, so the connection can go
    /// back to the pool.
    Draining { decoder: BodyDecoder, drained: u64 },
    /// In the host's idle pool (which knows since when).
    Idle,
    /// Closed; the slot is freed at the end of the loop turn.
    Closed { cause: CloseCause },
}

impl State {
    /// The request this connection is working on, if any.
    pub(crate) fn request(&self) -> Option<RequestId> {
        match *self {
            State::Resolving { req, .. }
            | State::Connecting { req, .. }
            | State::Handshaking { req }
            | State::Writing { req, .. }
            | State::WriteFailed { req, .. }
            | State::AwaitingContinue { req }
            | State::AwaitingHead { req }
            | State::ReadingBody { req, .. } => Some(req),
            State::Draining { .. } | State::Idle | State::Closed { .. } => None,
        }
    }

    /// Whether response bytes are expected now (head or body). While the request is
    /// written they may come early.
    fn is_reading(&self) -> bool {
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
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Resolving { .. } => f.write_str("resolving"),
            State::Connecting { .. } => f.write_str("connecting"),
            State::Handshaking { .. } => f.write_str("tls-handshake"),
            State::Writing { .. } => f.write_str("writing"),
            State::WriteFailed { .. } => f.write_str("write-failed"),
            State::AwaitingContinue { .. } => f.write_str("awaiting-continue"),
            State::AwaitingHead { .. } => f.write_str("awaiting-head"),
            State::ReadingBody { .. } => f.write_str("reading-body"),
            State::Draining { drained, .. } => write!(f, "draining({drained} bytes)"),
            State::Idle => f.write_str("idle"),
            State::Closed { cause } => write!(f, "closed({cause})"),
        }
    }
}

/// A connection's read buffer: bytes in `buf[start..end]` are received and not yet used.
///
/// It is taken from the engine's spare buffers when the connection becomes busy and given
/// back when it goes idle, so idle connections hold no buffer memory.
#[derive(Default)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    /// Unused received bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Installs a (spare) buffer of at least `size` bytes.
    pub(crate) fn attach(&mut self, mut buf: Vec<u8>, size: usize) {
        if buf.len() < size {
            buf.resize(size, 0);
        }
        self.buf = buf;
        self.start = 0;
        self.end = 0;
    }

    /// Takes the buffer out (the caller keeps it as a spare).
    pub(crate) fn detach(&mut self) -> Vec<u8> {
        self.start = 0;
        self.end = 0;
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn has_buffer(&self) -> bool {
        !self.buf.is_empty()
    }

    /// One `read` into the free space; grows the buffer up to `max` bytes when it is
    /// full of unused bytes (a head or chunk line larger than the buffer).
    /// Returns the byte count and whether the read filled all the space offered.
    fn read_from(&mut self, transport: &mut Transport, max: usize) -> io::Result<(usize, bool)> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < max {
                let grown = (self.buf.len() * 2).clamp(4096, max);
                self.buf.resize(grown, 0);
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    "read buffer limit reached",
                ));
            }
        }
        let space = self.buf.len() - self.end;
        let n = transport.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok((n, n == space))
    }
}

/// One pooled connection.
pub(crate) struct Conn {
    /// The host pool it belongs to.
    pub(crate) host: HostId,
    /// Unique within the engine, never reused (the slab index is): what
    /// `RequestInfo::conn_id` reports.
    pub(crate) serial: u64,
    pub(crate) state: State,
    /// The established socket, with TLS for `https` (None while resolving or connecting).
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
    pub(crate) rbuf: ReadBuf,
    /// This connection's response-head parser. It remembers how far it searched an
    /// unfinished head, so it must never see another connection's bytes.
    pub(crate) parser: ResponseParser,
    /// The encoded request head being written.
    pub(crate) wbuf: Vec<u8>,
    /// Bytes of head + body written so far.
    pub(crate) written: usize,
    /// Requests completed on this connection.
    pub(crate) served: u32,
    /// Not reused after this instant (`max_conn_lifetime` with jitter).
    pub(crate) expires_at: Option<Instant>,
    pub(crate) deadlines: DeadlineTable,
}

impl Conn {
    pub(crate) fn new(
        host: HostId,
        serial: u64,
        req: RequestId,
        now: Instant,
        expires_at: Option<Instant>,
        parser: ResponseParser,
    ) -> Conn {
        Conn {
            host,
            serial,
            state: State::Resolving { req, started: now },
            transport: None,
            slot: 0,
            readable: false,
            writable: false,
            read_closed: false,
            paused: false,
            rbuf: ReadBuf::default(),
            parser,
            wbuf: Vec::new(),
            written: 0,
            served: 0,
            expires_at,
            deadlines: DeadlineTable::default(),
        }
    }

    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// What the buffered bytes led to; applied by [`Engine::drive_read`].
enum Step {
    /// Everything buffered was used; read more if the socket has more.
    NeedInput,
    /// The state moved on (a head was parsed); run the new state over what is buffered.
    Progress,
    /// The caller asked to stop reading.
    Paused,
    /// The response (or drained body) ended: `reusable` is the verdict.
    BodyDone { reusable: bool },
    /// `100 Continue` arrived: send the body.
    SendBody,
    /// The exchange failed; the connection must close.
    Fail(Error),
    /// Nothing to read in this state.
    Idle,
}

/// Maps an I/O error on an established connection to our error kind.
fn io_error(e: io::Error) -> Error {
    if tls_error(&e).is_some() {
        if let Some(inner) = e.into_inner() {
            return match inner.downcast::<tls_glue::Error>() {
                Ok(tls) => Error::with_source(ErrorKind::Tls, *tls),
                Err(other) => Error::with_source(ErrorKind::Tls, other),
            };
        }
        return Error::new(ErrorKind::Tls);
    }
    let kind = match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::ConnectionClosed,
        _ => ErrorKind::Io,
    };
    Error::with_source(kind, e)
}

impl Engine {
    /// The one place a connection changes state; traces `old => new` when tracing is on.
    pub(crate) fn set_state(&mut self, cid: usize, new: State) {
        let trace = self.trace;
        if let Some(conn) = self.conns.get_mut(cid) {
            if trace {
                eprintln!("wirepool: conn#{cid}: {} => {new}", conn.state);
            }
            conn.state = new;
        }
    }

    /// A state change that moves data out of the old state (the body decoder into
    /// `Draining`): `f` gets the old state by value. Traced like [`Engine::set_state`].
    pub(crate) fn map_state(&mut self, cid: usize, f: impl FnOnce(State) -> State) {
        let trace = self.trace;
        if let Some(conn) = self.conns.get_mut(cid) {
            let old_name = trace.then(|| conn.state.to_string());
            // `Idle` is only a placeholder for the moment `f` runs; it carries no data.
            let old = std::mem::replace(&mut conn.state, State::Idle);
            conn.state = f(old);
            if let Some(old_name) = old_name {
                eprintln!("wirepool: conn#{cid}: {old_name} => {}", conn.state);
            }
        }
    }

    /// Arms deadline `kind` of connection `cid` at `at`.
    pub(crate) fn set_conn_deadline(&mut self, cid: usize, kind: Deadline, at: Instant) {
        if let Some(conn) = self.conns.get_mut(cid) {
            if conn.deadlines.set(kind, at) {
                self.timers.push(at, Owner::Conn(cid), kind);
            }
        }
    }

    /// Arms deadline `kind` of connection `cid` to pass `delay` from now; a delay past
    /// the clock's range arms nothing (it means "never").
    pub(crate) fn arm_after(&mut self, cid: usize, kind: Deadline, delay: Duration) {
        if let Some(at) = self.now.checked_add(delay) {
            self.set_conn_deadline(cid, kind, at);
        }
    }

    // ---- dialling -------------------------------------------------------------------

    /// DNS answered: start connecting to `addrs`.
    pub(crate) fn start_dial(&mut self, cid: usize, addrs: &[SocketAddr]) {
        let Some(conn) = self.conns.get(cid) else {
            return;
        };
        let Some(req) = conn.state.request() else {
            return;
        };
        let dial = Dial {
            addrs: crate::dns::happy_eyeballs_order(addrs),
            next: 0,
            attempts: [None, None],
            last_error: None,
            started: self.now,
        };
        self.set_state(cid, State::Connecting { req, dial });
        self.next_attempt(cid);
    }

    /// Starts the next connect attempt in a free slot; fails the dial when no attempt is
    /// in flight and no address is left.
    pub(crate) fn next_attempt(&mut self, cid: usize) {
        let delay = self.config.happy_eyeballs_delay;
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let State::Connecting { dial, .. } = &mut conn.state else {
            return;
        };
        let mut started_more = false;
        if let Some(slot) = dial.attempts.iter().position(Option::is_none) {
            while dial.next < dial.addrs.len() {
                let addr = dial.addrs[dial.next];
                dial.next += 1;
                match socket::start_connect(addr, &self.config) {
                    Ok(mut stream) => {
                        match self.poll.registry().register(
                            &mut stream,
                            token(cid, slot),
                            Interest::READABLE | Interest::WRITABLE,
                        ) {
                            Ok(()) => {
                                dial.attempts[slot] = Some(stream);
                                started_more = dial.next < dial.addrs.len();
                                break;
                            }
                            Err(e) => dial.last_error = Some(e),
                        }
                    }
                    Err(e) => dial.last_error = Some(e),
                }
            }
        }
        let in_flight = dial.attempts.iter().any(Option::is_some);
        if !in_flight {
            let err = match dial.last_error.take() {
                Some(e) => Error::with_source(ErrorKind::Connect, e),
                None => Error::msg(ErrorKind::Connect, "no address to connect to"),
            };
            self.fail_conn(cid, err);
            return;
        }
        if started_more {
            self.arm_after(cid, Deadline::HappyEyeballs, delay);
        }
    }

    /// Readiness on a connect attempt.
    fn handle_connect_ready(&mut self, cid: usize, slot: usize, sink: Sink<'_>) {
        let now = self.now;
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let State::Connecting { req, dial } = &mut conn.state else {
            return;
        };
        let req = *req;
        let Some(attempt) = dial.attempts[slot].as_ref() else {
            return;
        };
        match socket::check_connect(attempt) {
            ConnectCheck::Pending => {}
            ConnectCheck::Failed(e) => {
                if let Some(mut s) = dial.attempts[slot].take() {
                    let _ = self.poll.registry().deregister(&mut s);
                }
                dial.last_error = Some(e);
                self.next_attempt(cid);
            }
            ConnectCheck::Connected => {
                let winner = dial.attempts[slot].take();
                for other in dial.attempts.iter_mut() {
                    if let Some(mut s) = other.take() {
                        let _ = self.poll.registry().deregister(&mut s);
                    }
                }
                let connect_time = now.saturating_duration_since(dial.started);
                let Some(stream) = winner else {
                    return;
                };
                conn.transport = Some(Transport::plain(stream));
                conn.slot = slot;
                conn.writable = true;
                conn.deadlines.clear(Deadline::Connect);
                conn.deadlines.clear(Deadline::HappyEyeballs);
                let host = conn.host;
                if let Some(r) = self.reqs.get_mut(req) {
                    r.info.connect = Some(connect_time);
                }
                if self.pools.key(host).scheme() == Scheme::Https {
                    // Still connecting (in the stats) until the handshake is done.
                    self.start_handshake(cid, req, sink);
                } else {
                    self.pools.dial_finished(host);
                    self.start_exchange(cid, req, sink);
                }
            }
        }
    }

    /// TCP is up for an `https` connection: put a TLS session on it and start the
    /// handshake under `tls_handshake_timeout`.
    fn start_handshake(&mut self, cid: usize, req: RequestId, sink: Sink<'_>) {
        let session = match self.tls_config() {
            Ok(tls) => {
                let host = self.conns.get(cid).map(|c| c.host);
                match host.map(|h| tls.new_session(self.pools.key(h).host())) {
                    Some(Ok(session)) => session,
                    Some(Err(e)) => {
                        return self.fail_conn(cid, Error::with_source(ErrorKind::Tls, e))
                    }
                    None => return,
                }
            }
            Err(e) => return self.fail_conn(cid, e),
        };
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let Some(transport) = conn.transport.take() else {
            return;
        };
        conn.transport = Some(transport.into_tls(session));
        self.set_state(cid, State::Handshaking { req });
        let timeout = self.config.tls_handshake_timeout;
        self.arm_after(cid, Deadline::TlsHandshake, timeout);
        self.drive_handshake(cid, sink);
    }

    /// Moves the TLS handshake on; when it is done, counts it and starts the request.
    fn drive_handshake(&mut self, cid: usize, sink: Sink<'_>) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let State::Handshaking { req } = conn.state else {
            return;
        };
        let Some(transport) = conn.transport.as_mut() else {
            return;
        };
        match transport.drive_handshake() {
            Ok(Handshake::Pending) => {
                conn.readable = false;
            }
            Ok(Handshake::Done(kind)) => {
                conn.deadlines.clear(Deadline::TlsHandshake);
                let host = conn.host;
                self.pools.dial_finished(host);
                let counters = self.pools.stats_mut(host);
                if kind.is_some_and(HandshakeKind::is_resumed) {
                    counters.tls_resumed_handshakes += 1;
                } else {
                    counters.tls_full_handshakes += 1;
                }
                self.start_exchange(cid, req, sink);
            }
            Err(e) => {
                // A TLS failure is `ErrorKind::Tls` with the `tls_glue::Error` as source;
                // a socket error (a reset) is what it would be on any connection.
                // Nothing of the request was sent: safe to try again, for the caller.
                self.fail_conn(cid, io_error(e).retry_safe(true));
            }
        }
    }

    // ---- writing --------------------------------------------------------------------

    /// Puts request `rid` on connection `cid` (fresh or reused) and starts writing it.
    pub(crate) fn start_exchange(&mut self, cid: usize, rid: RequestId, sink: Sink<'_>) {
        let size = self.config.read_buffer_size;
        let spare = self.spare_bufs.pop().unwrap_or_default();
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let Some(req) = self.reqs.get_mut(rid) else {
            return;
        };
        if !conn.rbuf.has_buffer() {
            // Fresh or idle until now: it has neither a read buffer nor parser storage.
            conn.rbuf.attach(spare, size);
            if let Some(mut parser) = self.spare_parsers.pop() {
                parser.reset();
                conn.parser = parser;
            }
        } else {
            self.spare_bufs.push(spare);
        }
        req.conn = Some(cid);
        req.info.conn_id = conn.serial;
        req.info.reused = conn.served > 0;
        if req.info.reused {
            // Counted here, where a used connection really takes a request, and nowhere
            // else: a hand-off that falls through is not a reuse.
            self.pools.stats_mut(conn.host).reuses += 1;
        }
        req.got_response_bytes = false;
        conn.written = 0;
        if req.head.is_empty() {
            // A retry: the first attempt's connection took the encoded head.
            if let Err(err) = encode_request_head(&req.request, &mut req.head) {
                // Encoded once already at submit; only a bug gets here.
                self.fail_conn(cid, err);
                return;
            }
        }
        // The head moves onto the connection; the request keeps the connection's old
        // buffer, emptied, to recycle when it finishes.
        std::mem::swap(&mut conn.wbuf, &mut req.head);
        req.head.clear();
        let with_body = !req.expect_continue || req.request.body().is_empty();
        let deadline = req.deadline;
        self.set_state(
            cid,
            State::Writing {
                req: rid,
                with_body,
            },
        );
        if let Some(at) = deadline {
            self.set_conn_deadline(cid, Deadline::Total, at);
        }
        self.drive_write(cid, sink);
    }

    /// Writes as much of the request as the socket takes.
    pub(crate) fn drive_write(&mut self, cid: usize, sink: Sink<'_>) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let State::Writing {
            req: rid,
            with_body,
        } = conn.state
        else {
            return;
        };
        let Some(req) = self.reqs.get(rid) else {
            return;
        };
        let Some(transport) = conn.transport.as_mut() else {
            return;
        };
        let body: &[u8] = if with_body {
            req.request.body().as_bytes()
        } else {
            &[]
        };
        let head_len = conn.wbuf.len();
        let total = head_len + body.len();
        while conn.written < total {
            if !conn.writable {
                return;
            }
            let result = if conn.written < head_len {
                let bufs = [IoSlice::new(&conn.wbuf[conn.written..]), IoSlice::new(body)];
                transport.write_vectored(&bufs)
            } else {
                transport.write_vectored(&[IoSlice::new(&body[conn.written - head_len..])])
            };
            match result {
                Ok(0) => {
                    let err = io_error(io::Error::from(io::ErrorKind::WriteZero));
                    return self.write_failed(cid, rid, err, sink);
                }
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.writable = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.write_failed(cid, rid, io_error(e), sink),
            }
        }
        if with_body {
            self.set_state(cid, State::AwaitingHead { req: rid });
            if let Some(t) = self.config.response_header_timeout {
                self.arm_after(cid, Deadline::ResponseHead, t);
            }
        } else {
            self.set_state(cid, State::AwaitingContinue { req: rid });
            let t = self.config.expect_continue_timeout;
            self.arm_after(cid, Deadline::ExpectContinue, t);
        }
        // The response may already be here (a fast server, or an early answer).
        self.drive_read(cid, sink);
    }

    /// Writing the request failed with `error`. A server that stops reading (and then
    /// resets) has often answered first, `413` being the classic case: read what the
    /// socket holds and deliver a complete response; fail with `error` otherwise.
    fn write_failed(&mut self, cid: usize, req: RequestId, error: Error, sink: Sink<'_>) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        conn.readable = true;
        self.set_state(cid, State::WriteFailed { req, error });
        self.drive_read(cid, sink);
    }

    /// The expect-continue wait ended (100 arrived or the deadline passed): send the body.
    pub(crate) fn send_body(&mut self, cid: usize, sink: Sink<'_>) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let State::AwaitingContinue { req } = conn.state else {
            return;
        };
        conn.deadlines.clear(Deadline::ExpectContinue);
        self.set_state(
            cid,
            State::Writing {
                req,
                with_body: true,
            },
        );
        self.drive_write(cid, sink);
    }

    // ---- readiness ------------------------------------------------------------------

    /// A readiness event for `cid`'s socket in `slot`.
    pub(crate) fn handle_ready(
        &mut self,
        cid: usize,
        slot: usize,
        readable: bool,
        writable: bool,
        read_closed: bool,
        sink: Sink<'_>,
    ) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        match conn.state {
            State::Connecting { .. } => return self.handle_connect_ready(cid, slot, sink),
            State::Closed { .. } | State::Resolving { .. } => return,
            _ => {}
        }
        if slot != conn.slot {
            return; // a losing connect attempt's late event
        }
        conn.readable |= readable;
        conn.writable |= writable;
        conn.read_closed |= read_closed;
        if matches!(conn.state, State::Handshaking { .. }) {
            return self.drive_handshake(cid, sink);
        }
        if writable && matches!(conn.state, State::Writing { .. }) {
            self.drive_write(cid, sink);
        } else if writable && !matches!(conn.state, State::WriteFailed { .. }) {
            // TLS records that did not fit in the socket buffer earlier.
            if let Some(Err(e)) = conn.transport.as_mut().map(Transport::flush) {
                if e.kind() != io::ErrorKind::WouldBlock {
                    return self.fail_conn(cid, io_error(e));
                }
            }
        }
        if readable {
            self.drive_read(cid, sink);
        }
    }

    /// Uses buffered bytes and reads the socket until it would block, the caller pauses,
    /// or the connection leaves the reading states.
    pub(crate) fn drive_read(&mut self, cid: usize, sink: Sink<'_>) {
        loop {
            let Some(conn) = self.conns.get(cid) else {
                return;
            };
            if matches!(conn.state, State::Idle) {
                return self.check_idle(cid);
            }
            if conn.paused {
                return;
            }
            match self.step(cid, sink) {
                Step::NeedInput => {}
                Step::Progress => continue,
                Step::Paused | Step::Idle => return,
                Step::SendBody => {
                    self.send_body(cid, sink);
                    return;
                }
                Step::Fail(err) => return self.fail_conn(cid, err),
                Step::BodyDone { reusable } => {
                    self.finish_body(cid, reusable);
                    continue; // an idle connection still checks its socket
                }
            }
            let max = self
                .config
                .head_limits
                .max_head_bytes
                .max(self.config.read_buffer_size)
                + 1024;
            let Some(conn) = self.conns.get_mut(cid) else {
                return;
            };
            if !conn.readable || !conn.state.is_reading() {
                return self.if_write_failed_fail(cid);
            }
            let Some(transport) = conn.transport.as_mut() else {
                return;
            };
            match conn.rbuf.read_from(transport, max) {
                Ok((0, _)) => return self.handle_eof(cid, false),
                Ok((_, filled)) => {
                    // A short read drained a plain socket (Linux epoll semantics); with
                    // TLS, plaintext can still wait inside the session: read on until
                    // `WouldBlock`.
                    if !filled && !conn.read_closed && !transport.is_tls() {
                        conn.readable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && tls_error(&e).is_some() => {
                    return self.handle_eof(cid, true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.readable = false;
                    return self.if_write_failed_fail(cid);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                    let err = Error::msg(ErrorKind::Protocol, "response exceeds the buffer limit");
                    return self.fail_conn(cid, err);
                }
                Err(e) => return self.fail_conn(cid, io_error(e)),
            }
        }
    }

    /// After a failed write, a socket with nothing more to read holds no (complete)
    /// early response: the request fails with the write error.
    fn if_write_failed_fail(&mut self, cid: usize) {
        if self
            .conns
            .get(cid)
            .is_some_and(|c| matches!(c.state, State::WriteFailed { .. }))
        {
            // `fail_conn` reports the stored write error.
            self.fail_conn(cid, Error::new(ErrorKind::Io));
        }
    }

    /// Runs the connection's current state over its buffered bytes.
    fn step(&mut self, cid: usize, sink: Sink<'_>) -> Step {
        let now = self.now;
        let Some(conn) = self.conns.get_mut(cid) else {
            return Step::Idle;
        };
        // The body states check for their end first: an empty body (`Content-Length: 0`,
        // 204, 304, a response to HEAD) is complete before any byte of it arrives.
        let in_body = matches!(
            conn.state,
            State::ReadingBody { .. } | State::Draining { .. }
        );
        if conn.rbuf.is_empty() && !in_body {
            return if conn.state.is_reading() {
                Step::NeedInput
            } else {
                Step::Idle
            };
        }
        match &mut conn.state {
            State::AwaitingHead { req: rid }
            | State::AwaitingContinue { req: rid }
            | State::Writing { req: rid, .. }
            | State::WriteFailed { req: rid, .. } => {
                let rid = *rid;
                let awaiting_continue = matches!(conn.state, State::AwaitingContinue { .. });
                // Not all of the request went out: the server cannot know where the rest
                // would have ended, so the connection must not carry another request.
                let request_sent = matches!(conn.state, State::AwaitingHead { .. });
                let Some(req) = self.reqs.get_mut(rid) else {
                    return Step::Idle;
                };
                req.got_response_bytes = true;
                let head = match conn.parser.parse(conn.rbuf.data(), req.request.method()) {
                    Ok(None) => return Step::NeedInput,
                    Ok(Some(head)) => head,
                    Err(e) => return Step::Fail(e.into()),
                };
                match head.kind {
                    HeadKind::Continue => {
                        conn.rbuf.consume(head.head_len);
                        conn.parser.reset();
                        if awaiting_continue {
                            return Step::SendBody;
                        }
                        Step::Progress
                    }
                    HeadKind::Informational => {
                        conn.rbuf.consume(head.head_len);
                        conn.parser.reset();
                        Step::Progress
                    }
                    HeadKind::SwitchingProtocols => Step::Fail(Error::msg(
                        ErrorKind::Protocol,
                        "101 switching protocols: upgrades are not supported",
                    )),
                    HeadKind::Final {
                        framing,
                        keep_alive,
                    } => {
                        conn.deadlines.clear(Deadline::ResponseHead);
                        conn.deadlines.clear(Deadline::ExpectContinue);
                        // A final answer before we sent the whole request (an early
                        // response, or one that came instead of `100 Continue`) leaves
                        // the server unsure whether a body follows: never reuse.
                        let keep_alive = keep_alive
                            .with_request_headers(req.request.headers())
                            .can_reuse()
                            && request_sent;
                        req.info.head = now.saturating_duration_since(req.submitted);
                        let view = HeadView {
                            head: &head,
                            parser: &conn.parser,
                            buf: conn.rbuf.data(),
                        };
                        let flow = sink(Event::Head {
                            id: rid,
                            head: view,
                            info: &req.info,
                        });
                        conn.rbuf.consume(head.head_len);
                        conn.parser.reset();
                        if flow == Flow::Pause {
                            conn.paused = true;
                        }
                        self.set_state(
                            cid,
                            State::ReadingBody {
                                req: rid,
                                decoder: BodyDecoder::new(framing),
                                keep_alive,
                            },
                        );
                        if flow == Flow::Pause {
                            return Step::Paused;
                        }
                        Step::Progress
                    }
                }
            }
            State::ReadingBody {
                req,
                decoder,
                keep_alive,
            } => {
                let (rid, reusable) = (*req, *keep_alive);
                loop {
                    if decoder.is_done() {
                        return Step::BodyDone { reusable };
                    }
                    if conn.rbuf.is_empty() {
                        return Step::NeedInput;
                    }
                    let decoded = match decoder.decode(conn.rbuf.data()) {
                        Ok(d) => d,
                        Err(e) => return Step::Fail(e.into()),
                    };
                    let mut flow = Flow::Continue;
                    if !decoded.data.is_empty() {
                        flow = sink(Event::Data {
                            id: rid,
                            data: decoded.data,
                        });
                    }
                    let (consumed, done) = (decoded.consumed, decoded.done);
                    conn.rbuf.consume(consumed);
                    if done {
                        return Step::BodyDone { reusable };
                    }
                    if flow == Flow::Pause {
                        conn.paused = true;
                        return Step::Paused;
                    }
                    if consumed == 0 {
                        return Step::NeedInput;
                    }
                }
            }
            State::Draining { decoder, drained } => loop {
                if decoder.is_done() {
                    return Step::BodyDone { reusable: true };
                }
                if conn.rbuf.is_empty() {
                    return Step::NeedInput;
                }
                let decoded = match decoder.decode(conn.rbuf.data()) {
                    Ok(d) => d,
                    Err(e) => return Step::Fail(e.into()),
                };
                *drained += decoded.data.len() as u64;
                let (consumed, done) = (decoded.consumed, decoded.done);
                conn.rbuf.consume(consumed);
                if *drained > self.config.drain_limit {
                    return Step::BodyDone { reusable: false };
                }
                if done {
                    return Step::BodyDone { reusable: true };
                }
                if consumed == 0 {
                    return Step::NeedInput;
                }
            },
            _ => Step::Idle,
        }
    }

    /// The socket reached EOF while reading. `tls_truncated`: a TLS peer closed without
    /// `close_notify`, so a close-delimited body may have been cut short.
    fn handle_eof(&mut self, cid: usize, tls_truncated: bool) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        match &mut conn.state {
            State::ReadingBody { decoder, .. } if tls_truncated && decoder.is_close_delimited() => {
                let err = Error::msg(
                    ErrorKind::Protocol,
                    "the TLS connection ended without close_notify: the close-delimited body may be truncated",
                );
                self.fail_conn(cid, err);
            }
            State::ReadingBody { decoder, .. } => match decoder.handle_eof() {
                Ok(()) => {
                    // Close-delimited body ended (`step` used every buffered byte first).
                    self.finish_body(cid, false);
                }
                Err(e) => {
                    let err = Error::with_source(ErrorKind::Protocol, e);
                    self.fail_conn(cid, err);
                }
            },
            State::Draining { .. } => self.close_conn(cid, CloseCause::ServerClose),
            State::WriteFailed { .. } => {
                // `fail_conn` reports the write error: it is why the server went away.
                self.fail_conn(cid, Error::new(ErrorKind::ConnectionClosed));
            }
            State::AwaitingHead { .. } | State::AwaitingContinue { .. } | State::Writing { .. } => {
                let err = if conn.rbuf.is_empty() {
                    Error::msg(
                        ErrorKind::ConnectionClosed,
                        "closed before any response byte",
                    )
                } else {
                    Error::msg(
                        ErrorKind::Protocol,
                        "closed in the middle of the response head",
                    )
                };
                self.fail_conn(cid, err);
            }
            _ => self.close_conn(cid, CloseCause::ServerClose),
        }
    }

    /// An idle connection's socket became readable: EOF or bytes both mean it must go.
    /// A spurious wake-up (`WouldBlock`) keeps it.
    pub(crate) fn check_idle(&mut self, cid: usize) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        if !conn.readable {
            return;
        }
        let Some(transport) = conn.transport.as_mut() else {
            return;
        };
        // For TLS this also consumes what may legitimately arrive while idle (TLS 1.3
        // session tickets); only plaintext, EOF or an error mean the connection must go.
        let mut probe = [0u8; 64];
        let cause = loop {
            match transport.read(&mut probe) {
                Ok(0) => {
                    if self.trace {
                        eprintln!("wirepool: conn#{cid}: idle socket reached EOF");
                    }
                    break CloseCause::ServerClose;
                }
                Ok(_) => break CloseCause::Error, // unsolicited bytes: poisoned
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.readable = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if self.trace {
                        eprintln!("wirepool: conn#{cid}: idle read error: {e}");
                    }
                    // A TLS violation (a bad record, a fatal alert) poisons the connection
                    // as unsolicited bytes do; EOF without close_notify, a reset and other
                    // socket errors are the server going away.
                    let poisoned = tls_error(&e).is_some_and(|t| !t.is_truncated());
                    break if poisoned {
                        CloseCause::Error
                    } else {
                        CloseCause::ServerClose
                    };
                }
            }
        };
        self.close_conn(cid, cause);
    }

    /// The body ended (read in full, drained, or close-delimited EOF).
    fn finish_body(&mut self, cid: usize, reusable: bool) {
        let now = self.now;
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        conn.served += 1;
        conn.paused = false;
        conn.deadlines.clear(Deadline::Total);
        conn.deadlines.clear(Deadline::Drain);
        // Bytes after the end of the response: the server is not speaking HTTP/1.1 to us.
        let garbage = !conn.rbuf.is_empty();
        if let Some(rid) = conn.state.request() {
            if let Some(mut req) = self.reqs.remove(rid) {
                req.info.total = now.saturating_duration_since(req.submitted);
                self.outbox.push((rid, Ok(req.info)));
                if self.spare_heads.len() < MAX_SPARE_HEADS {
                    self.spare_heads.push(std::mem::take(&mut req.head));
                }
            }
        }
        // Not reusable first: a drain that stopped at the limit leaves the rest of the
        // body buffered, and that is not garbage.
        if !reusable {
            self.close_conn(cid, CloseCause::NotReusable);
        } else if garbage {
            self.close_conn(cid, CloseCause::Error);
        } else {
            self.release(cid);
        }
    }

    /// The exchange on `cid` failed: close the connection, then retry the request on a
    /// fresh connection if that is safe, else report the error.
    pub(crate) fn fail_conn(&mut self, cid: usize, err: Error) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let rid = conn.state.request();
        // After a failed write, that failure is the cause of whatever followed.
        let err = match &mut conn.state {
            State::WriteFailed { error, .. } => std::mem::replace(error, err),
            _ => err,
        };
        let cause = match err.kind() {
            ErrorKind::ConnectionClosed => CloseCause::ServerClose,
            _ => CloseCause::Error,
        };
        self.close_conn(cid, cause);
        if let Some(rid) = rid {
            self.fail_or_retry(rid, err);
        }
    }

    /// Detaches a request whose body the caller dropped: drain it in the background if
    /// the rest is small enough, else close the connection.
    pub(crate) fn discard_body(&mut self, rid: RequestId) {
        let Some(req) = self.reqs.remove(rid) else {
            return;
        };
        let Some(cid) = req.conn else {
            return self.unqueue(rid, &req);
        };
        let limit = self.config.drain_limit;
        let drain_for = self.config.drain_timeout;
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        conn.deadlines.clear(Deadline::Total);
        let State::ReadingBody { keep_alive, .. } = conn.state else {
            // No head yet: this is a cancel.
            return self.close_conn(cid, CloseCause::Canceled);
        };
        let small = match &conn.state {
            State::ReadingBody { decoder, .. } => match decoder.remaining() {
                Remaining::Exact(n) => n <= limit,
                Remaining::AtLeast(n) => n <= limit && !decoder.is_close_delimited(),
                Remaining::Unknown => !decoder.is_close_delimited(),
            },
            _ => false,
        };
        if !keep_alive || !small {
            return self.close_conn(cid, CloseCause::NotReusable);
        }
        conn.paused = false;
        self.map_state(cid, |old| match old {
            State::ReadingBody { decoder, .. } => State::Draining {
                decoder,
                drained: 0,
            },
            other => other,
        });
        self.arm_after(cid, Deadline::Drain, drain_for);
        self.ready.push(cid);
    }
}
