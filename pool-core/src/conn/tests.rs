//! Unit tests of the connection state machine.
//!
//! Each test builds a [`Conn`] directly in the state under test, over a scripted stream
//! (reads played from a queue, writes recorded while `write_room` lasts), then steps it
//! through its real entry points — `handle_ready`, `drive_read`, `start_exchange`,
//! `handle_deadline`, `discard`, `handle_dns`, `shut` — with explicit instants
//! (`t0 + n ms`: no clock, no sleep, no socket). It checks what the connection decided
//! (the [`Next`], summarised as an [`Out`]), the state it is in, what the caller's sink
//! got, which deadlines are armed and which bytes went out. What the engine does with a
//! decision (pools, retries, stats) is for the integration tests in `pool-core/tests/`.
//!
//! The harness mirrors the engine: readiness is edge-triggered (one scripted read per
//! readable event, as a short read clears `readable`), the request passed to a transition
//! is the one the state carries, and body data goes to a sink that answers with a
//! [`Flow`] taken from a queue (`Continue` once it is empty).
//!
//! What is covered, state by input (bytes; EOF; errors; deadlines):
//! - resolving: DNS error, empty answer; -; -; connect, total.
//! - connecting: event for an empty slot; -; last attempt's error; connect,
//!   happy-eyeballs, total.
//! - tls-handshake: a plaintext answer; EOF (handshake failure); reset; tls-handshake,
//!   total.
//! - writing: in pieces under `write_room`; early response (split at every byte); EOF;
//!   write error with a complete, partial or no early response; total, stale ones.
//! - awaiting-continue: 100, 103, a final head, 100 + final (split, body blocked); EOF;
//!   body write error after 100; expect-continue, total.
//! - awaiting-head: the response table, whole and split at every byte (1xx, 101, HEAD,
//!   204/304, framing errors, garbage); EOF before and in the head; reset, other error,
//!   `Interrupted`; response-head, total.
//! - reading-body: length, chunked with trailers, close-delimited, none; pause/resume;
//!   bytes after the end; close-delimited end and truncation at EOF, with and without
//!   read-closed; reset, buffer limit; total, lifetime (ignored).
//! - draining: to the end, over `drain_limit`, stray bytes after it, already buffered;
//!   EOF; bad chunk, reset; drain, lifetime (ignored).
//! - idle: stray bytes, spurious wake-up; EOF; reset; idle-expiry, lifetime.
//! - the server's `Keep-Alive: timeout=, max=`: kept on the connection, `max` counted
//!   down by each request, a used-up budget is not reusable (after `Connection: close`
//!   and stray bytes).
//! - retiring: EOF and stray bytes close it; the end of its watch (idle-expiry).
//! - closed: events ignored; `shut` clears deadlines and transport.
//! - tunneling (CONNECT through a proxy): the plan's order of layers; 2xx in pieces,
//!   1xx before it, refusals with their status line, bytes after the answer, garbage;
//!   EOF; reset; a CONNECT written in pieces; proxy-connect.
//!
//! Not here, for want of a socket or a TLS server: real connect attempts (Happy Eyeballs
//! across two slots, socket options, `check_connect`) and TLS after the handshake
//! (truncated close-delimited bodies, session tickets while idle, `close_notify` on
//! `shut`). The integration tests (`faults.rs`, `tls.rs`) cover those.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Request};
use http1_codec::{BodyDecoder, BodyFraming, HeadLimits, ResponseParser};

use super::transport::script::{ScriptRead, ScriptStream};
use super::{Conn, Ctx, Dial, Hop, Next, Plan, Readiness, State, Stream, Transport};
use crate::body::{Body, Outgoing};
use crate::config::Config;
use crate::dns::DnsError;
use crate::error::{Error, ErrorKind};
use crate::event::Event;
use crate::pool::NotReusable::{
    CloseDelimitedBody, DrainLimit, DrainTimeout, EarlyResponse, Http10, RequestSentClose,
    ServerSentClose,
};
use crate::pool::{CloseCause, Limit, NotReusable};
use crate::request::{
    encode_connect_head, encode_request_head, is_idempotent, Flow, HeadForm, Place, Req, RequestId,
    RequestInfo,
};
use crate::timer::{Deadline, Owner, Timers};
use crate::trace::Tracers;

/// The request every test connection carries.
const RID: RequestId = RequestId(7);

/// The connection's slab id (its deadline entries name it).
const CID: usize = 3;

/// The read buffer size of the tests' settings: small, so a long head makes the lent
/// scratch buffer grow.
const BUF_BYTES: usize = 4096;

// ---- harness ----------------------------------------------------------------------------

/// What the caller's sink was told, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// A final response head, by status.
    Head(u16),
    /// A piece of body data.
    Data(Vec<u8>),
}

/// A [`Next`] in a form tests can compare (a failure keeps only its kind; the error
/// itself is kept in [`Harness::error`]).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Wait,
    NeedsTls(Hop),
    NeedsTunnel,
    Connected,
    Finished(Option<RequestId>, Result<(), CloseCause>),
    Close(CloseCause),
    Fail(ErrorKind),
}

/// The response for request `RID` ended; `reuse` is the verdict.
fn finished(reuse: Result<(), CloseCause>) -> Out {
    Out::Finished(Some(RID), reuse)
}

/// The verdict "not reusable, because `why`".
fn not_reusable(why: NotReusable) -> Result<(), CloseCause> {
    Err(CloseCause::NotReusable(why))
}

/// A request to `example.test` with `body` and extra `headers`.
fn request(method: Method, body: &[u8], headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri("http://example.test/upload");
    for &(name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::copy_from_slice(body))
        .expect("a valid request")
}

/// The engine's bookkeeping for `request`, submitted at `t0`, head encoded.
fn new_req(request: Request<Body>, t0: Instant) -> Req {
    let (parts, body) = request.into_parts();
    let request = Request::from_parts(parts, ());
    let body = Outgoing::new(body).expect("an in-memory body");
    let mut head = Vec::new();
    encode_request_head(
        &request,
        &body,
        &HeadForm::default(),
        &Config::default(),
        &mut head,
    )
    .expect("the request encodes");
    Req {
        idempotent: is_idempotent(request.method(), request.headers()),
        expect_continue: http1_codec::expects_continue(request.headers()),
        request,
        body,
        host: 0,
        place: Place::OnConn(CID),
        deadline: Some(t0 + Duration::from_secs(30)),
        submitted: t0,
        got_response_bytes: false,
        fresh_only: false,
        warm: false,
        head,
        form: HeadForm::default(),
        info: RequestInfo::default(),
        tracer: None,
    }
}

/// A connection, the request it carries, and what the engine would lend a transition.
struct Harness {
    t0: Instant,
    config: Config,
    timers: Timers,
    /// Only for its registry: no socket is registered in these tests.
    poll: mio::Poll,
    conn: Conn,
    req: Req,
    /// What the sink got.
    seen: Vec<Seen>,
    /// The sink's answers, in order; `Continue` once empty.
    flows: VecDeque<Flow>,
    /// The error of the last `Fail`.
    error: Option<Error>,
    /// The engine's read scratch, lent to the connection while it reads.
    scratch: Vec<u8>,
}

impl Harness {
    /// A new connection for `request`, resolving its host (no transport yet).
    fn new(request: Request<Body>) -> Harness {
        let t0 = Instant::now();
        Harness {
            t0,
            config: Config {
                read_buffer_size: BUF_BYTES,
                ..Config::default()
            },
            timers: Timers::default(),
            poll: mio::Poll::new().expect("a poller"),
            conn: Conn::new(0, 1, Plan::default(), RID, t0),
            req: new_req(request, t0),
            seen: Vec::new(),
            flows: VecDeque::new(),
            error: None,
            scratch: Vec::new(),
        }
    }

    /// `GET /upload`, no body.
    fn get() -> Harness {
        Harness::new(request(Method::GET, b"", &[]))
    }

    /// Puts an established scripted stream under the connection, equipped as the engine
    /// does when it gets a request (a parser; reads go into the lent scratch). Writes go
    /// through (unlimited room) until a test says otherwise.
    fn connected(mut self) -> Harness {
        let script = ScriptStream {
            write_room: usize::MAX,
            ..ScriptStream::default()
        };
        self.conn.transport = Some(Transport::plain(Stream::Script(script)));
        self.conn.rbuf.equip();
        self.conn.parser = ResponseParser::default();
        self.conn.writable = true;
        self
    }

    fn in_state(mut self, state: State) -> Harness {
        self.conn.set_state(state);
        self
    }

    /// `request` written; the connection waits for the response head.
    fn awaiting_head(request: Request<Body>) -> Harness {
        Harness::new(request)
            .connected()
            .in_state(State::AwaitingHead { req: RID })
    }

    /// The head of a `GET` response was delivered; its body is framed by `framing`.
    fn reading_body(framing: BodyFraming, keep_alive: Result<(), CloseCause>) -> Harness {
        Harness::get().connected().in_state(State::ReadingBody {
            req: RID,
            decoder: BodyDecoder::new(framing),
            keep_alive,
        })
    }

    /// An idle connection in the pool, as `release` leaves it: one request served, read
    /// buffer and parser given back.
    fn idle() -> Harness {
        let mut h = Harness::get().connected().in_state(State::Idle);
        h.conn.served = 1;
        h.conn.rbuf.release();
        h
    }

    /// `t0 + ms`.
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Runs transition `f` at `t0 + ms` with the engine's loans; `f` gets the request
    /// when `with_req` (the state carries it, or it is being put on the connection).
    fn step(
        &mut self,
        ms: u64,
        with_req: bool,
        f: impl FnOnce(&mut Conn, Option<&mut Req>, &mut Ctx<'_>) -> Next,
    ) -> Out {
        let now = self.at(ms);
        let Harness {
            config,
            timers,
            poll,
            conn,
            req,
            seen,
            flows,
            error,
            scratch,
            ..
        } = self;
        let mut sink = |event: Event<'_>| {
            match event {
                Event::Head { head, .. } => seen.push(Seen::Head(head.status().as_u16())),
                Event::Data { data, .. } => seen.push(Seen::Data(data.to_vec())),
                other => panic!("a connection reported {other:?}"),
            }
            flows.pop_front().unwrap_or(Flow::Continue)
        };
        let mut ctx = Ctx {
            now,
            config,
            cid: CID,
            timers,
            registry: poll.registry(),
            sink: &mut sink,
            tracer: None,
            scratch,
        };
        let req = with_req.then_some(req);
        match f(conn, req, &mut ctx) {
            Next::Wait => Out::Wait,
            Next::NeedsTls { hop } => Out::NeedsTls(hop),
            Next::NeedsTunnel => Out::NeedsTunnel,
            Next::Connected { .. } => Out::Connected,
            Next::Finished { req, reuse } => Out::Finished(req, reuse),
            Next::Close(cause) => Out::Close(cause),
            Next::Fail(err) => {
                let kind = err.kind();
                *error = Some(err);
                Out::Fail(kind)
            }
        }
    }

    /// Runs `f` as the engine does: with the request the state carries, if any.
    fn run(
        &mut self,
        ms: u64,
        f: impl FnOnce(&mut Conn, Option<&mut Req>, &mut Ctx<'_>) -> Next,
    ) -> Out {
        let carries = self.conn.state.request().is_some();
        self.step(ms, carries, f)
    }

    fn ready(&mut self, ms: u64, readiness: Readiness) -> Out {
        let slot = self.conn.slot;
        self.run(ms, |c, req, ctx| c.handle_ready(slot, readiness, req, ctx))
    }

    fn readable(&mut self, ms: u64) -> Out {
        let readiness = Readiness {
            readable: true,
            ..Readiness::default()
        };
        self.ready(ms, readiness)
    }

    fn writable(&mut self, ms: u64) -> Out {
        let readiness = Readiness {
            writable: true,
            ..Readiness::default()
        };
        self.ready(ms, readiness)
    }

    fn deadline(&mut self, ms: u64, kind: Deadline) -> Out {
        self.run(ms, |c, req, ctx| c.handle_deadline(kind, req, ctx))
    }

    /// Puts the request on the connection (`Engine::start_exchange`).
    fn start(&mut self, ms: u64) -> Out {
        self.step(ms, true, |c, req, ctx| match req {
            Some(req) => c.start_exchange(RID, req, ctx),
            None => Next::Wait,
        })
    }

    /// The caller dropped the body (`Engine::discard`: no request, a sink that takes
    /// nothing more).
    fn discard(&mut self, ms: u64) -> Out {
        self.step(ms, false, |c, _, ctx| c.discard(ctx))
    }

    /// The engine's `resume` and the `drive_read` of its next settle.
    fn resume(&mut self, ms: u64) -> Out {
        self.conn.paused = false;
        self.run(ms, |c, req, ctx| c.drive_read(req, ctx))
    }

    fn script(&mut self) -> &mut ScriptStream {
        self.conn
            .transport
            .as_mut()
            .and_then(Transport::script_mut)
            .expect("a scripted transport")
    }

    /// The next read returns `bytes`.
    fn feed(&mut self, bytes: &[u8]) {
        self.script()
            .reads
            .push_back(ScriptRead::Bytes(bytes.to_vec()));
    }

    fn feed_eof(&mut self) {
        self.script().reads.push_back(ScriptRead::Eof);
    }

    fn feed_error(&mut self, kind: io::ErrorKind) {
        self.script().reads.push_back(ScriptRead::Error(kind));
    }

    /// Scripted reads not taken yet.
    fn unread(&mut self) -> usize {
        self.script().reads.len()
    }

    fn written(&mut self) -> Vec<u8> {
        self.script().written.clone()
    }

    fn heads(&self) -> Vec<u16> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Head(status) => Some(*status),
                Seen::Data(_) => None,
            })
            .collect()
    }

    /// Body data delivered so far, pieces joined.
    fn body(&self) -> Vec<u8> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Data(data) => Some(data.as_slice()),
                Seen::Head(_) => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    fn state(&self) -> String {
        self.conn.state.to_string()
    }

    fn armed(&self, kind: Deadline) -> Option<Instant> {
        self.conn.deadlines.get(kind)
    }

    /// The error of the last `Fail`.
    fn error(&self) -> &Error {
        self.error.as_ref().expect("a failure")
    }

    /// The `io::ErrorKind` under the last failure, if it has one.
    fn error_io_kind(&self) -> Option<io::ErrorKind> {
        self.error().io_kind()
    }
}

// ---- resolving ----------------------------------------------------------------------------

#[test]
fn resolving_dns_error_fails_with_dns_and_records_lookup_time() {
    let mut h = Harness::get();
    let lookup = io::Error::new(io::ErrorKind::NotFound, "no such host");
    let answer = Err(DnsError::failed("example.test", &lookup));
    let out = h.run(40, |c, req, ctx| c.handle_dns(&answer, req, ctx));
    assert_eq!(out, Out::Fail(ErrorKind::Dns));
    assert!(h.error().is_retry_safe(), "nothing was sent");
    assert_eq!(h.req.info.dns, Some(Duration::from_millis(40)));
}

#[test]
fn resolving_answer_without_address_fails_to_connect() {
    let mut h = Harness::get();
    let answer: Result<Arc<[SocketAddr]>, DnsError> = Ok(Arc::from(Vec::new()));
    let out = h.run(5, |c, req, ctx| c.handle_dns(&answer, req, ctx));
    assert_eq!(out, Out::Fail(ErrorKind::Connect));
    assert_eq!(h.state(), "connecting");
    assert_eq!(h.req.info.dns, Some(Duration::from_millis(5)));
}

#[test]
fn resolving_connect_deadline_times_out() {
    let mut h = Harness::get();
    assert_eq!(
        h.deadline(10_000, Deadline::Connect),
        Out::Fail(ErrorKind::ConnectTimeout)
    );
    assert!(h.error().is_timeout() && h.error().is_retry_safe());
}

#[test]
fn resolving_ignores_readiness_and_a_late_answer_is_ignored_elsewhere() {
    let mut h = Harness::get();
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.state(), "resolving");
    // An answer for a connection that moved on (here: already established) is ignored.
    let mut h = Harness::get()
        .connected()
        .in_state(State::AwaitingHead { req: RID });
    let answer: Result<Arc<[SocketAddr]>, DnsError> = Ok(Arc::from(Vec::new()));
    assert_eq!(
        h.run(1, |c, req, ctx| c.handle_dns(&answer, req, ctx)),
        Out::Wait
    );
    assert_eq!(h.state(), "awaiting-head");
}

// ---- connecting ---------------------------------------------------------------------------

/// Connecting with no attempt in flight and no address left (`last_error` from the
/// last attempt that failed).
fn connecting(last_error: Option<io::Error>) -> Harness {
    let mut h = Harness::get();
    let dial = Dial {
        addrs: Vec::new(),
        next: 0,
        attempts: [None, None],
        last_error,
        started: h.t0,
    };
    h.conn.set_state(State::Connecting { req: RID, dial });
    h
}

#[test]
fn connecting_without_an_address_fails_to_connect() {
    let mut h = Harness::get();
    assert_eq!(
        h.run(1, |c, _, ctx| c.start_dial(&[], ctx)),
        Out::Fail(ErrorKind::Connect)
    );
    assert!(h.error().is_retry_safe());
}

#[test]
fn connecting_next_attempt_with_nothing_left_reports_the_last_error() {
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    let mut h = connecting(Some(refused));
    assert_eq!(
        h.deadline(250, Deadline::HappyEyeballs),
        Out::Fail(ErrorKind::Connect)
    );
    assert_eq!(h.error_io_kind(), Some(io::ErrorKind::ConnectionRefused));
}

#[test]
fn connecting_readiness_for_an_empty_slot_is_ignored() {
    let mut h = connecting(None);
    for slot in 0..2 {
        let readiness = Readiness {
            writable: true,
            ..Readiness::default()
        };
        let out = h.run(1, |c, req, ctx| c.handle_ready(slot, readiness, req, ctx));
        assert_eq!(out, Out::Wait);
    }
    assert_eq!(h.state(), "connecting");
}

#[test]
fn connecting_shut_abandons_the_dial() {
    let mut h = connecting(None);
    h.run(0, |c, _, ctx| {
        c.arm_after(ctx, Deadline::Connect, Duration::from_secs(10));
        Next::Wait
    });
    let registry = h.poll.registry();
    h.conn
        .shut(registry, CloseCause::Canceled, Tracers::default(), h.t0);
    assert_eq!(h.state(), "closed(canceled)");
    assert_eq!(h.armed(Deadline::Connect), None);
}

// ---- handshaking --------------------------------------------------------------------------

#[test]
fn handshaking_deadline_times_out_and_is_retry_safe() {
    let mut h = Harness::get().connected().in_state(State::Handshaking {
        req: RID,
        hop: Hop::Origin,
        started: Instant::now(),
    });
    assert_eq!(
        h.deadline(10_000, Deadline::TlsHandshake),
        Out::Fail(ErrorKind::TlsHandshakeTimeout)
    );
    assert!(h.error().is_retry_safe(), "nothing of the request was sent");
}

#[test]
fn handshaking_over_a_plain_transport_is_done_at_once() {
    let mut h = Harness::get().connected().in_state(State::Handshaking {
        req: RID,
        hop: Hop::Origin,
        started: Instant::now(),
    });
    h.run(0, |c, _, ctx| {
        c.arm_after(ctx, Deadline::TlsHandshake, Duration::from_secs(10));
        Next::Wait
    });
    assert_eq!(h.writable(1), Out::Connected);
    assert_eq!(h.armed(Deadline::TlsHandshake), None);
}

/// TCP is up for an `https` connection: the engine's `start_handshake` with a real
/// client session (no server: the tests play what a broken one sends).
fn tls_handshake_started() -> Harness {
    let mut h = Harness::get().connected();
    let dial = Dial {
        addrs: Vec::new(),
        next: 0,
        attempts: [None, None],
        last_error: None,
        started: h.t0,
    };
    h.conn.set_state(State::Connecting { req: RID, dial });
    let tls = tls_glue::TlsConfig::builder()
        .danger_accept_invalid_certs_for_testing_only()
        .build()
        .expect("a TLS configuration");
    let session = tls.new_session("example.test").expect("a session");
    assert_eq!(
        h.run(0, |c, _, ctx| c.start_handshake(session, Hop::Origin, ctx)),
        Out::Wait
    );
    assert_eq!(h.state(), "tls-handshake");
    assert_eq!(
        h.armed(Deadline::TlsHandshake),
        Some(h.at(0) + h.config.tls_handshake_timeout)
    );
    assert_eq!(
        h.written().first(),
        Some(&0x16),
        "a ClientHello record went out"
    );
    h
}

/// The `tls_glue` kind under the last failure.
fn tls_kind(h: &Harness) -> Option<tls_glue::ErrorKind> {
    std::error::Error::source(h.error())
        .and_then(|s| s.downcast_ref::<tls_glue::Error>())
        .map(tls_glue::Error::kind)
}

#[test]
fn handshaking_waits_for_the_server() {
    let mut h = tls_handshake_started();
    assert_eq!(h.readable(5), Out::Wait);
    assert_eq!(h.state(), "tls-handshake");
    assert!(!h.conn.readable);
}

#[test]
fn handshaking_eof_is_a_handshake_failure_retry_safe() {
    let mut h = tls_handshake_started();
    h.feed_eof();
    assert_eq!(h.readable(5), Out::Fail(ErrorKind::Tls));
    assert_eq!(tls_kind(&h), Some(tls_glue::ErrorKind::HandshakeFailure));
    assert!(h.error().is_retry_safe(), "nothing of the request was sent");
}

#[test]
fn handshaking_reset_is_a_closed_connection_retry_safe() {
    let mut h = tls_handshake_started();
    h.feed_error(io::ErrorKind::ConnectionReset);
    assert_eq!(h.readable(5), Out::Fail(ErrorKind::ConnectionClosed));
    assert_eq!(h.error_io_kind(), Some(io::ErrorKind::ConnectionReset));
    assert!(h.error().is_retry_safe());
}

#[test]
fn handshaking_plaintext_answer_is_a_tls_error() {
    let mut h = tls_handshake_started();
    h.feed(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.readable(5), Out::Fail(ErrorKind::Tls));
    assert!(h.error().is_retry_safe());
}

// ---- writing ------------------------------------------------------------------------------

/// A `POST` of `body` put on a fresh connection that takes `room` bytes per writable
/// event.
fn posting(body: &[u8], headers: &[(&str, &str)], room: usize) -> Harness {
    let mut h = Harness::new(request(Method::POST, body, headers))
        .connected()
        .in_state(State::Idle);
    h.script().write_room = room;
    h
}

#[test]
fn writing_in_pieces_waits_for_writable_and_resumes() {
    let body: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    for room in [1, 7, 64, 1000] {
        let mut h = posting(&body, &[], room);
        let head = h.req.head.clone();
        let mut t = 0;
        let mut out = h.start(t);
        while h.state() == "writing" {
            assert_eq!(out, Out::Wait, "room {room}");
            assert!(!h.conn.writable, "room {room}: stops at WouldBlock");
            assert_eq!(h.armed(Deadline::ResponseHead), None, "room {room}");
            t += 1;
            h.script().write_room = room;
            out = h.writable(t);
        }
        assert_eq!(out, Out::Wait, "room {room}");
        assert_eq!(h.state(), "awaiting-head", "room {room}");
        assert_eq!(
            h.written(),
            [head.as_slice(), &body].concat(),
            "room {room}"
        );
        let header_timeout = h.config.response_header_timeout.map(|d| h.at(t) + d);
        assert_eq!(h.armed(Deadline::ResponseHead), header_timeout);
        // The response completes the exchange.
        h.feed(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.readable(t + 1), finished(Ok(())), "room {room}");
        assert_eq!(h.armed(Deadline::ResponseHead), None);
    }
}

#[test]
fn start_exchange_records_the_connection_and_reuse() {
    let mut h = Harness::get().connected().in_state(State::Idle);
    h.conn.served = 2;
    h.conn.serial = 41;
    h.req.got_response_bytes = true; // left over from an earlier attempt
    h.req.place = Place::Pending;
    let head = h.req.head.clone();
    assert_eq!(h.start(0), Out::Wait);
    assert_eq!(h.state(), "awaiting-head");
    assert_eq!(h.req.place, Place::OnConn(CID));
    assert_eq!(h.req.info.conn_id, 41);
    assert!(h.req.info.reused);
    assert!(!h.req.got_response_bytes);
    assert_eq!(h.written(), head);
    assert!(h.req.head.is_empty(), "the head moved onto the connection");
}

#[test]
fn keep_alive_hint_sets_the_idle_timeout_and_counts_down_the_requests_left() {
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.feed(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.readable(1), finished(Ok(())), "max=1: one more request");
    assert_eq!(h.conn.server_idle_timeout, Some(Duration::from_secs(5)));
    assert_eq!(h.conn.requests_left, Some(1));
    // The next request uses up the budget: a response that says nothing more ends it.
    h.conn.set_state(State::Idle);
    h.req.head.clear();
    assert_eq!(h.start(2), Out::Wait);
    assert_eq!(h.conn.requests_left, Some(0));
    h.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.readable(3), finished(Err(CloseCause::KeepAliveMax)));
    assert_eq!(
        h.conn.server_idle_timeout,
        Some(Duration::from_secs(5)),
        "kept until a response says otherwise"
    );
}

#[test]
fn keep_alive_max_verdicts() {
    // (response head, verdict): the server's own `Connection: close` and stray bytes
    // are named before the used-up budget.
    let cases: [(&[u8], Result<(), CloseCause>); 5] = [
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: max=0\r\nContent-Length: 0\r\n\r\n", Err(CloseCause::KeepAliveMax)),
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=0\r\nContent-Length: 0\r\n\r\n", Ok(())),
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: max=bogus\r\nContent-Length: 0\r\n\r\n", Ok(())),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: max=0\r\nContent-Length: 0\r\n\r\n", not_reusable(ServerSentClose)),
        (b"HTTP/1.1 200 OK\r\nKeep-Alive: max=0\r\nContent-Length: 0\r\n\r\nX", Err(CloseCause::Error)),
    ];
    for (response, verdict) in cases {
        let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
        h.feed(response);
        assert_eq!(
            h.readable(1),
            finished(verdict),
            "{}",
            String::from_utf8_lossy(response)
        );
    }
}

#[test]
fn start_exchange_encodes_a_retried_request_again() {
    let mut h = Harness::get().connected().in_state(State::Idle);
    let head = std::mem::take(&mut h.req.head);
    assert_eq!(h.start(0), Out::Wait);
    assert_eq!(h.written(), head);
}

#[test]
fn write_error_with_nothing_to_read_fails_with_the_write_error() {
    let cases = [
        (io::ErrorKind::BrokenPipe, ErrorKind::ConnectionClosed),
        (io::ErrorKind::ConnectionReset, ErrorKind::ConnectionClosed),
        (io::ErrorKind::PermissionDenied, ErrorKind::Io),
    ];
    for (io_kind, kind) in cases {
        // On the first write, and on a later one after WouldBlock.
        let mut h = posting(&[b'x'; 1000], &[], usize::MAX);
        h.script().write_error = Some(io_kind);
        assert_eq!(h.start(0), Out::Fail(kind), "{io_kind:?}");
        assert_eq!(h.error_io_kind(), Some(io_kind));
        assert!(!h.req.got_response_bytes);

        let mut h = posting(&[b'x'; 1000], &[], 100);
        assert_eq!(h.start(0), Out::Wait);
        h.script().write_error = Some(io_kind);
        assert_eq!(h.writable(1), Out::Fail(kind), "{io_kind:?}");
        assert_eq!(h.state(), "write-failed");
        assert_eq!(h.error_io_kind(), Some(io_kind));
    }
}

#[test]
fn write_error_then_complete_early_response_is_delivered_not_reusable() {
    let mut h = posting(&[b'x'; 10_000], &[], 100);
    assert_eq!(h.start(0), Out::Wait);
    h.script().write_error = Some(io::ErrorKind::ConnectionReset);
    h.feed(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 2\r\n\r\nno");
    assert_eq!(
        h.writable(1),
        finished(not_reusable(EarlyResponse)),
        "the server cannot know where our body would have ended"
    );
    assert_eq!(h.heads(), [413]);
    assert_eq!(h.body(), b"no");
}

#[test]
fn write_error_then_partial_early_response_fails_with_the_write_error() {
    let mut h = posting(&[b'x'; 10_000], &[], 100);
    assert_eq!(h.start(0), Out::Wait);
    h.script().write_error = Some(io::ErrorKind::ConnectionReset);
    h.feed(b"HTTP/1.1 413 Content Too Large\r\nContent-Le");
    assert_eq!(h.writable(1), Out::Fail(ErrorKind::ConnectionClosed));
    assert_eq!(h.error_io_kind(), Some(io::ErrorKind::ConnectionReset));
    assert!(h.req.got_response_bytes, "not resent: the server answered");
    // The same when the server's EOF follows the partial head.
    let mut h = posting(&[b'x'; 10_000], &[], 100);
    assert_eq!(h.start(0), Out::Wait);
    h.script().write_error = Some(io::ErrorKind::BrokenPipe);
    h.feed(b"HTTP/1.1 413 Content Too Large\r\n");
    h.feed_eof();
    assert_eq!(h.writable(1), Out::Fail(ErrorKind::ConnectionClosed));
    assert_eq!(h.error_io_kind(), Some(io::ErrorKind::BrokenPipe));
}

#[test]
fn early_final_response_while_the_body_is_blocked_is_not_reusable() {
    let mut h = posting(&[b'x'; 10_000], &[], 100);
    assert_eq!(h.start(0), Out::Wait);
    let sent = h.written();
    h.feed(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nno");
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.state(), "reading-body");
    assert_eq!(h.heads(), [413]);
    // The rest of the request is not written any more.
    h.script().write_room = usize::MAX;
    assert_eq!(h.writable(2), Out::Wait);
    assert_eq!(h.written(), sent);
    h.feed(b"pe");
    assert_eq!(h.readable(3), finished(not_reusable(EarlyResponse)));
    assert_eq!(h.body(), b"nope");
}

#[test]
fn early_response_split_at_every_byte_while_writing() {
    let response: &[u8] = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 2\r\n\r\nno";
    for at in 1..response.len() {
        let mut h = posting(&[b'x'; 10_000], &[], 100);
        assert_eq!(h.start(0), Out::Wait);
        h.feed(&response[..at]);
        assert_eq!(h.readable(1), Out::Wait, "split at {at}");
        h.feed(&response[at..]);
        let out = h.readable(2);
        assert_eq!(out, finished(not_reusable(EarlyResponse)), "split at {at}");
        assert_eq!(
            (h.heads(), h.body()),
            (vec![413], b"no".to_vec()),
            "split at {at}"
        );
    }
}

#[test]
fn eof_while_writing_fails_before_any_response_byte() {
    let mut h = posting(&[b'x'; 10_000], &[], 100);
    assert_eq!(h.start(0), Out::Wait);
    h.feed_eof();
    assert_eq!(h.readable(1), Out::Fail(ErrorKind::ConnectionClosed));
    assert!(
        !h.req.got_response_bytes,
        "a reused connection may retry this"
    );
}

// ---- awaiting 100-continue ---------------------------------------------------------------

const EXPECT: &[(&str, &str)] = &[("expect", "100-continue")];

/// A `POST` with `Expect: 100-continue` whose head went out.
fn awaiting_continue(body: &[u8]) -> Harness {
    let mut h = posting(body, EXPECT, usize::MAX);
    let head = h.req.head.clone();
    assert_eq!(h.start(0), Out::Wait);
    assert_eq!(h.state(), "awaiting-continue");
    assert_eq!(h.written(), head, "only the head goes first");
    assert_eq!(
        h.armed(Deadline::ExpectContinue),
        Some(h.at(0) + h.config.expect_continue_timeout)
    );
    assert_eq!(h.armed(Deadline::ResponseHead), None);
    h
}

#[test]
fn continue_sends_the_body_then_the_response_is_reusable() {
    let mut h = awaiting_continue(b"payload");
    let head = h.written();
    h.feed(b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(h.readable(10), Out::Wait);
    assert_eq!(h.state(), "awaiting-head");
    assert_eq!(h.written(), [head.as_slice(), b"payload"].concat());
    assert_eq!(h.armed(Deadline::ExpectContinue), None);
    let header_timeout = h.config.response_header_timeout.map(|d| h.at(10) + d);
    assert_eq!(h.armed(Deadline::ResponseHead), header_timeout);
    assert!(h.heads().is_empty(), "100 is not reported");
    h.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(h.readable(11), finished(Ok(())));
    assert_eq!(h.heads(), [200]);
}

#[test]
fn continue_and_final_response_in_one_read() {
    let mut h = awaiting_continue(b"payload");
    h.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(h.readable(10), finished(Ok(())));
    assert!(h.written().ends_with(b"payload"));
    assert_eq!(h.body(), b"ok");
}

#[test]
fn continue_and_final_response_while_the_body_is_blocked() {
    // The server answers 100 and, in the same breath, a final response (it will not
    // read the body after all). The body cannot go out: the buffered final response is
    // delivered anyway, as an early response (RFC 9112 §9.5), not left waiting for a
    // writable edge that may never come.
    let mut h = awaiting_continue(&[b'x'; 10_000]);
    h.script().write_room = 0;
    h.feed(
        b"HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 413 Content Too Large\r\nContent-Length: 2\r\n\r\nno",
    );
    assert_eq!(h.readable(10), finished(not_reusable(EarlyResponse)));
    assert_eq!(h.heads(), [413]);
    assert_eq!(h.body(), b"no");
}

#[test]
fn continue_then_body_write_error_fails_with_the_write_error() {
    for (io_kind, kind) in [
        (io::ErrorKind::BrokenPipe, ErrorKind::ConnectionClosed),
        (io::ErrorKind::PermissionDenied, ErrorKind::Io),
    ] {
        let mut h = awaiting_continue(b"payload");
        h.script().write_error = Some(io_kind);
        h.feed(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(h.readable(10), Out::Fail(kind), "{io_kind:?}");
        assert_eq!(h.error_io_kind(), Some(io_kind), "{:?}", h.error());
    }
    // A malformed early response after the failed write: still the write error's fault.
    let mut h = awaiting_continue(b"payload");
    h.script().write_error = Some(io::ErrorKind::ConnectionReset);
    h.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2OO OK\r\n\r\n");
    assert_eq!(h.readable(10), Out::Fail(ErrorKind::ConnectionClosed));
    assert_eq!(h.error_io_kind(), Some(io::ErrorKind::ConnectionReset));
}

#[test]
fn continue_exchange_split_at_every_byte_sends_the_body_once() {
    let response: &[u8] =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for at in 1..response.len() {
        let mut h = awaiting_continue(b"payload");
        let head = h.written();
        h.feed(&response[..at]);
        assert_eq!(h.readable(1), Out::Wait, "split at {at}");
        h.feed(&response[at..]);
        assert_eq!(h.readable(2), finished(Ok(())), "split at {at}");
        let sent = [head.as_slice(), b"payload"].concat();
        assert_eq!(h.written(), sent, "split at {at}");
        assert_eq!(h.body(), b"ok", "split at {at}");
    }
}

#[test]
fn informational_while_awaiting_continue_keeps_waiting() {
    let mut h = awaiting_continue(b"payload");
    let head = h.written();
    h.feed(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n");
    assert_eq!(h.readable(10), Out::Wait);
    assert_eq!(h.state(), "awaiting-continue");
    assert_eq!(h.written(), head);
    assert!(h.armed(Deadline::ExpectContinue).is_some());
}

#[test]
fn expect_continue_without_a_body_does_not_wait() {
    let mut h = posting(b"", EXPECT, usize::MAX);
    assert_eq!(h.start(0), Out::Wait);
    assert_eq!(h.state(), "awaiting-head");
    assert_eq!(h.armed(Deadline::ExpectContinue), None);
}

#[test]
fn expect_continue_deadline_sends_the_body() {
    let mut h = awaiting_continue(b"payload");
    assert_eq!(h.deadline(1000, Deadline::ExpectContinue), Out::Wait);
    assert_eq!(h.state(), "awaiting-head");
    assert!(h.written().ends_with(b"payload"));
    // A stale wake-up after the body went out does nothing.
    let before = h.written();
    assert_eq!(h.deadline(1001, Deadline::ExpectContinue), Out::Wait);
    assert_eq!(h.written(), before);
}

#[test]
fn final_response_instead_of_continue_is_not_reusable() {
    let mut h = awaiting_continue(b"payload");
    let head = h.written();
    h.feed(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.readable(10), finished(not_reusable(EarlyResponse)));
    assert_eq!(h.heads(), [401]);
    assert_eq!(h.written(), head, "the body was never sent");
    assert_eq!(h.armed(Deadline::ExpectContinue), None);
}

#[test]
fn eof_while_awaiting_continue_fails() {
    let mut h = awaiting_continue(b"payload");
    h.feed_eof();
    assert_eq!(h.readable(10), Out::Fail(ErrorKind::ConnectionClosed));
}

// ---- awaiting the head, and the body after it: one table -----------------------------------

/// A response read from `AwaitingHead` to its outcome.
struct Case {
    name: &'static str,
    method: Method,
    request_headers: &'static [(&'static str, &'static str)],
    response: &'static [u8],
    /// The server closes after `response`.
    eof: bool,
    /// Final heads delivered (1xx are not).
    heads: &'static [u16],
    /// Body bytes delivered, pieces joined.
    body: &'static [u8],
    out: Out,
    /// Every split of `response` gives the same outcome (not so when bytes follow the
    /// end: a split right at the end leaves them unread).
    split: bool,
}

fn case(name: &'static str, response: &'static [u8], heads: &'static [u16], out: Out) -> Case {
    Case {
        name,
        method: Method::GET,
        request_headers: &[],
        response,
        eof: false,
        heads,
        body: b"",
        out,
        split: true,
    }
}

impl Case {
    fn body(self, body: &'static [u8]) -> Case {
        Case { body, ..self }
    }
    fn eof(self) -> Case {
        Case { eof: true, ..self }
    }
    fn method(self, method: Method) -> Case {
        Case { method, ..self }
    }
    fn request_headers(self, request_headers: &'static [(&'static str, &'static str)]) -> Case {
        Case {
            request_headers,
            ..self
        }
    }
    fn no_split(self) -> Case {
        Case {
            split: false,
            ..self
        }
    }
}

fn response_cases() -> Vec<Case> {
    use CloseCause::Error as Garbage;
    use ErrorKind::{ConnectionClosed, Protocol};
    vec![
        case(
            "content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            &[200],
            finished(Ok(())),
        )
        .body(b"hello"),
        case(
            "content-length: 0",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            &[200],
            finished(Ok(())),
        ),
        case(
            "chunked with trailers",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n",
            &[200],
            finished(Ok(())),
        )
        .body(b"hello world"),
        case(
            "empty chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            &[200],
            finished(Ok(())),
        ),
        case(
            "close-delimited ends at EOF",
            b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
            &[200],
            finished(not_reusable(CloseDelimitedBody)),
        )
        .body(b"until the end")
        .eof(),
        case(
            "HTTP/1.0 without keep-alive",
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
            &[200],
            finished(not_reusable(Http10)),
        )
        .body(b"ok"),
        case(
            "HTTP/1.0 with keep-alive",
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
            &[200],
            finished(Ok(())),
        )
        .body(b"ok"),
        case(
            "Connection: close",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            &[200],
            finished(not_reusable(ServerSentClose)),
        )
        .body(b"ok"),
        case(
            "request sent Connection: close",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            &[200],
            finished(not_reusable(RequestSentClose)),
        )
        .body(b"ok")
        .request_headers(&[("connection", "close")]),
        case(
            "HEAD with Content-Length has no body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
            &[200],
            finished(Ok(())),
        )
        .method(Method::HEAD),
        case(
            "204 has no body",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            &[204],
            finished(Ok(())),
        ),
        case(
            "304 with Content-Length has no body",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
            &[304],
            finished(Ok(())),
        ),
        case(
            "103 early hints skipped",
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            &[200],
            finished(Ok(())),
        )
        .body(b"hi"),
        case(
            "two 1xx then final",
            b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            &[200],
            finished(Ok(())),
        )
        .body(b"hi"),
        case(
            "101 is refused",
            b"HTTP/1.1 101 Switching Protocols\r\n\
              Upgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            &[],
            Out::Fail(Protocol),
        ),
        case(
            "garbage status line",
            b"HTTP/1.1 2OO OK\r\n\r\n",
            &[],
            Out::Fail(Protocol),
        ),
        case("not HTTP", b"hello there\r\n\r\n", &[], Out::Fail(Protocol)),
        case(
            "conflicting Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
            &[],
            Out::Fail(Protocol),
        ),
        case(
            "Transfer-Encoding with Content-Length",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n",
            &[],
            Out::Fail(Protocol),
        ),
        case(
            "bad chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            &[200],
            Out::Fail(Protocol),
        ),
        case("EOF before any byte", b"", &[], Out::Fail(ConnectionClosed)).eof(),
        case(
            "EOF in the middle of the head",
            b"HTTP/1.1 200 OK\r\nContent-Le",
            &[],
            Out::Fail(Protocol),
        )
        .eof(),
        case(
            "EOF in a length body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
            &[200],
            Out::Fail(Protocol),
        )
        .body(b"hello")
        .eof(),
        case(
            "EOF in a chunked body",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            &[200],
            Out::Fail(Protocol),
        )
        .body(b"hel")
        .eof(),
        case(
            "bytes after the end",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
            &[200],
            finished(Err(Garbage)),
        )
        .body(b"ok")
        .no_split(),
        case(
            "a body after a 204",
            b"HTTP/1.1 204 No Content\r\n\r\nsurprise",
            &[204],
            finished(Err(Garbage)),
        )
        .no_split(),
        case(
            "a body after a HEAD response",
            b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsurprise",
            &[200],
            finished(Err(Garbage)),
        )
        .method(Method::HEAD)
        .no_split(),
        case(
            "bytes after a close verdict are no worse",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokjunk",
            &[200],
            finished(not_reusable(ServerSentClose)),
        )
        .body(b"ok"),
    ]
}

/// Plays `case` with each of `pieces` read after its own readable event (EOF after the
/// last one if the case says so), until the connection decides.
fn play(case: &Case, pieces: &[&[u8]]) -> (Out, Harness) {
    let mut h = Harness::awaiting_head(request(case.method.clone(), b"", case.request_headers));
    let mut t = 0;
    for piece in pieces {
        t += 1;
        h.feed(piece);
        let out = h.readable(t);
        if out != Out::Wait {
            return (out, h);
        }
    }
    if !case.eof {
        return (Out::Wait, h);
    }
    h.feed_eof();
    let out = h.readable(t + 1);
    (out, h)
}

fn check(case: &Case, pieces: &[&[u8]], how: &str) {
    let (out, h) = play(case, pieces);
    let name = case.name;
    assert_eq!(out, case.out, "{name} ({how})");
    assert_eq!(h.heads(), case.heads, "{name} ({how})");
    assert_eq!(
        String::from_utf8_lossy(&h.body()),
        String::from_utf8_lossy(case.body),
        "{name} ({how})"
    );
    assert_eq!(
        h.req.got_response_bytes,
        !case.response.is_empty(),
        "{name} ({how})"
    );
}

#[test]
fn responses_in_one_read() {
    for case in response_cases() {
        let pieces: &[&[u8]] = if case.response.is_empty() {
            &[]
        } else {
            &[case.response]
        };
        check(&case, pieces, "one read");
    }
}

#[test]
fn responses_split_at_every_byte_give_the_same_outcome() {
    for case in response_cases().iter().filter(|c| c.split) {
        let bytes = case.response;
        for at in 1..bytes.len() {
            check(
                case,
                &[&bytes[..at], &bytes[at..]],
                &format!("split at {at}"),
            );
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        check(case, &singles, "byte by byte");
    }
}

#[test]
fn response_head_deadline_times_out() {
    let mut h = Harness::get().connected().in_state(State::Idle);
    assert_eq!(h.start(0), Out::Wait);
    h.feed(b"HTTP/1.1 200 OK\r\n");
    assert_eq!(h.readable(5), Out::Wait);
    assert_eq!(
        h.deadline(10_000, Deadline::ResponseHead),
        Out::Fail(ErrorKind::ResponseHeaderTimeout)
    );
    assert!(h.error().is_timeout());
}

#[test]
fn response_head_deadline_is_cleared_by_the_head() {
    let mut h = Harness::get().connected().in_state(State::Idle);
    assert_eq!(h.start(0), Out::Wait);
    assert!(h.armed(Deadline::ResponseHead).is_some());
    h.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel");
    assert_eq!(h.readable(5), Out::Wait);
    assert_eq!(h.state(), "reading-body");
    assert_eq!(h.armed(Deadline::ResponseHead), None);
    assert_eq!(h.req.info.head, Duration::from_millis(5));
}

#[test]
fn read_error_while_awaiting_the_head() {
    for (io_kind, kind) in [
        (io::ErrorKind::ConnectionReset, ErrorKind::ConnectionClosed),
        (io::ErrorKind::Other, ErrorKind::Io),
    ] {
        let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
        h.feed_error(io_kind);
        assert_eq!(h.readable(1), Out::Fail(kind), "{io_kind:?}");
        assert_eq!(h.error_io_kind(), Some(io_kind));
        assert!(!h.req.got_response_bytes);
    }
}

#[test]
fn interrupted_read_is_retried() {
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.feed_error(io::ErrorKind::Interrupted);
    h.feed(b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(h.readable(1), finished(Ok(())));
}

#[test]
fn a_head_longer_than_the_read_buffer_grows_it() {
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    let mut response = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    response.extend(std::iter::repeat(b'a').take(BUF_BYTES + 1000));
    response.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
    h.feed(&response);
    assert_eq!(h.readable(1), finished(Ok(())));
    assert_eq!(h.body(), b"ok");
}

#[test]
fn a_connection_keeps_only_the_bytes_it_could_not_use() {
    // Reads go into the engine's scratch; between turns the connection holds the
    // unfinished head only, in a buffer of its own the size of those bytes.
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.feed(b"HTTP/1.1 200 OK\r\nContent-Le");
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.conn.rbuf.data(), b"HTTP/1.1 200 OK\r\nContent-Le");
    assert!(h.conn.rbuf.own_capacity() < BUF_BYTES / 4);
    assert_eq!(
        h.scratch.len(),
        BUF_BYTES,
        "the scratch is back with the engine"
    );
    h.feed(b"ngth: 2\r\n\r\nok");
    assert_eq!(h.readable(2), finished(Ok(())));
    assert_eq!(h.body(), b"ok");
    assert!(h.conn.rbuf.is_empty());
}

#[test]
fn a_small_read_buffer_grows_for_a_long_head() {
    // Valid settings below the 4 KiB growth step: the buffer may grow to 2048 + 1024.
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.config.read_buffer_size = 512;
    h.config.head_limits = HeadLimits {
        max_head_bytes: 2048,
        max_headers: 100,
    };
    assert!(h.config.validate().is_ok());
    h.conn.parser = ResponseParser::new(h.config.head_limits);
    let mut response = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    response.extend(std::iter::repeat(b'a').take(1000));
    response.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
    h.feed(&response);
    assert_eq!(h.readable(1), finished(Ok(())));
    assert_eq!(h.body(), b"ok");
    // A head over the limit is the server's error, not a reason to grow further.
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.config.read_buffer_size = 512;
    h.config.head_limits.max_head_bytes = 2048;
    h.conn.parser = ResponseParser::new(h.config.head_limits);
    let mut response = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    response.extend(std::iter::repeat(b'a').take(5000));
    h.feed(&response);
    assert_eq!(h.readable(1), Out::Fail(ErrorKind::Protocol));
}

#[test]
fn readiness_for_another_slot_is_ignored() {
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.feed(b"HTTP/1.1 204 No Content\r\n\r\n");
    let readiness = Readiness {
        readable: true,
        ..Readiness::default()
    };
    let out = h.run(1, |c, req, ctx| c.handle_ready(1, readiness, req, ctx));
    assert_eq!(out, Out::Wait, "a losing connect attempt's late event");
    assert_eq!(h.unread(), 1);
}

// ---- reading the body ----------------------------------------------------------------------

#[test]
fn body_pieces_are_delivered_in_order() {
    let mut h = Harness::reading_body(BodyFraming::Length(11), Ok(()));
    for (t, piece) in [&b"hel"[..], b"lo ", b"wor"].into_iter().enumerate() {
        h.feed(piece);
        assert_eq!(h.readable(t as u64), Out::Wait);
        assert_eq!(h.state(), "reading-body");
    }
    h.feed(b"ld");
    assert_eq!(h.readable(9), finished(Ok(())));
    assert_eq!(
        h.seen,
        [&b"hel"[..], b"lo ", b"wor", b"ld"]
            .map(|d| Seen::Data(d.to_vec()))
            .to_vec()
    );
    assert_eq!(h.conn.served, 1);
}

#[test]
fn pause_stops_reading_and_resume_continues() {
    let mut h = Harness::reading_body(BodyFraming::Length(10), Ok(()));
    h.flows.push_back(Flow::Pause);
    h.feed(b"01234");
    assert_eq!(h.readable(1), Out::Wait);
    assert!(h.conn.paused);
    // More arrives while paused: it stays in the socket.
    h.feed(b"56789");
    assert_eq!(h.readable(2), Out::Wait);
    assert_eq!(h.unread(), 1, "nothing read while paused");
    assert_eq!(h.body(), b"01234");
    assert_eq!(h.resume(3), finished(Ok(())));
    assert_eq!(h.body(), b"0123456789");
    assert!(!h.conn.paused);
}

#[test]
fn pause_on_the_head_holds_the_buffered_body() {
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.flows.push_back(Flow::Pause);
    h.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody");
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.heads(), [200]);
    assert!(h.body().is_empty());
    assert_eq!(h.resume(2), finished(Ok(())));
    assert_eq!(h.body(), b"body");
    // A response without a body also waits for the caller.
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.flows.push_back(Flow::Pause);
    h.feed(b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.resume(2), finished(Ok(())));
}

#[test]
fn close_delimited_body_ends_with_the_read_closed_event() {
    // The peer's FIN comes with the last data: one event, and the EOF is read after the
    // short read instead of waiting for an edge that never comes.
    let mut h = Harness::reading_body(
        BodyFraming::CloseDelimited,
        not_reusable(CloseDelimitedBody),
    );
    h.feed(b"the rest");
    h.feed_eof();
    let readiness = Readiness {
        readable: true,
        read_closed: true,
        ..Readiness::default()
    };
    assert_eq!(
        h.ready(1, readiness),
        finished(not_reusable(CloseDelimitedBody))
    );
    assert_eq!(h.body(), b"the rest");
}

#[test]
fn response_and_fin_in_one_event_then_the_idle_check_finds_the_eof() {
    let mut h = Harness::awaiting_head(request(Method::GET, b"", &[]));
    h.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    h.feed_eof();
    let readiness = Readiness {
        readable: true,
        read_closed: true,
        ..Readiness::default()
    };
    assert_eq!(h.ready(1, readiness), finished(Ok(())));
    assert!(h.conn.readable, "the FIN is still to be read");
    // `release` sets `Idle` and checks the connection before pooling it.
    h.conn.set_state(State::Idle);
    assert_eq!(
        h.run(1, |c, _, _| c.check_idle()),
        Out::Close(CloseCause::ServerClose)
    );
}

#[test]
fn a_short_read_waits_for_the_next_edge() {
    let mut h = Harness::reading_body(
        BodyFraming::CloseDelimited,
        not_reusable(CloseDelimitedBody),
    );
    h.feed(b"part");
    h.feed_eof();
    assert_eq!(h.readable(1), Out::Wait);
    assert!(!h.conn.readable);
    assert_eq!(h.readable(2), finished(not_reusable(CloseDelimitedBody)));
}

#[test]
fn read_error_in_the_body_fails() {
    let mut h = Harness::reading_body(BodyFraming::Length(10), Ok(()));
    h.feed(b"0123");
    h.feed_error(io::ErrorKind::ConnectionReset);
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.readable(2), Out::Fail(ErrorKind::ConnectionClosed));
}

#[test]
fn trailers_over_the_buffer_limit_fail() {
    // Trailers are buffered whole: a section bigger than the buffer may grow to fails.
    let mut h = Harness::reading_body(BodyFraming::Chunked, Ok(()));
    h.config.read_buffer_size = BUF_BYTES;
    h.config.head_limits.max_head_bytes = BUF_BYTES;
    let mut body = b"0\r\nX-Trailer: ".to_vec();
    body.extend(std::iter::repeat(b'a').take(2 * BUF_BYTES));
    body.extend_from_slice(b"\r\n\r\n");
    h.feed(&body);
    assert_eq!(h.readable(1), Out::Fail(ErrorKind::Protocol));
    let error = format!("{:?}", h.error());
    assert!(error.contains("buffer limit"), "{error}");
}

// ---- draining ------------------------------------------------------------------------------

/// A body of `framing` with `first` already delivered, then dropped by the caller.
fn discarded(framing: BodyFraming, first: &[u8]) -> (Out, Harness) {
    let mut h = Harness::reading_body(framing, Ok(()));
    h.run(0, |c, _, ctx| {
        c.arm_after(ctx, Deadline::Total, Duration::from_secs(30));
        Next::Wait
    });
    h.feed(first);
    assert_eq!(h.readable(1), Out::Wait);
    let out = h.discard(2);
    (out, h)
}

#[test]
fn discard_a_small_rest_drains_then_reuses() {
    let (out, mut h) = discarded(BodyFraming::Length(10), b"0123");
    assert_eq!(out, Out::Wait);
    assert_eq!(h.state(), "draining(0 bytes)");
    assert_eq!(
        h.armed(Deadline::Drain),
        Some(h.at(2) + h.config.drain_timeout)
    );
    assert_eq!(h.armed(Deadline::Total), None, "the request is gone");
    h.feed(b"45");
    assert_eq!(h.readable(3), Out::Wait);
    assert_eq!(h.state(), "draining(2 bytes)");
    h.feed(b"6789");
    assert_eq!(h.readable(4), Out::Finished(None, Ok(())));
    assert_eq!(h.armed(Deadline::Drain), None);
    assert_eq!(h.body(), b"0123", "drained bytes are not delivered");
    assert_eq!(h.conn.served, 1);
}

#[test]
fn discard_drains_what_is_already_buffered() {
    // The caller paused with the rest of the body in the buffer, then dropped it: the
    // engine's next settle drains it without a read.
    let mut h = Harness::reading_body(BodyFraming::Chunked, Ok(()));
    h.flows.push_back(Flow::Pause);
    h.feed(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    assert_eq!(h.readable(1), Out::Wait);
    assert!(h.conn.paused);
    assert_eq!(h.discard(2), Out::Wait);
    assert!(!h.conn.paused);
    assert_eq!(
        h.run(2, |c, req, ctx| c.drive_read(req, ctx)),
        Out::Finished(None, Ok(()))
    );
    assert_eq!(h.body(), b"abc");
}

#[test]
fn discard_with_stray_bytes_after_the_drained_body_closes() {
    let (out, mut h) = discarded(BodyFraming::Length(4), b"01");
    assert_eq!(out, Out::Wait);
    h.conn.rbuf.push(b"23XX");
    assert_eq!(
        h.run(3, |c, req, ctx| c.drive_read(req, ctx)),
        Out::Finished(None, Err(CloseCause::Error))
    );
}

#[test]
fn draining_past_the_drain_limit_is_not_reusable() {
    let mut h = Harness::reading_body(BodyFraming::Chunked, Ok(()));
    h.config.drain_limit = 8;
    h.feed(b"3\r\nabc\r\n");
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.discard(2), Out::Wait, "the chunked rest is unknown: try");
    h.feed(b"6\r\nabcdef\r\n");
    assert_eq!(h.readable(3), Out::Wait);
    assert_eq!(h.state(), "draining(6 bytes)");
    h.feed(b"6\r\nghijkl\r\n0\r\n\r\n");
    assert_eq!(h.readable(4), Out::Finished(None, not_reusable(DrainLimit)));
    assert_eq!(h.conn.served, 1);
    assert_eq!(h.armed(Deadline::Drain), None);
}

#[test]
fn discard_decides_drain_or_close_from_what_is_left() {
    use CloseCause::Canceled;
    let limit = Config::default().drain_limit;
    let cases: [(&str, BodyFraming, Result<(), CloseCause>, Out); 6] = [
        (
            "length within the limit",
            BodyFraming::Length(limit),
            Ok(()),
            Out::Wait,
        ),
        (
            "length over the limit",
            BodyFraming::Length(limit + 1),
            Ok(()),
            Out::Close(CloseCause::NotReusable(DrainLimit)),
        ),
        (
            "chunked, between chunks",
            BodyFraming::Chunked,
            Ok(()),
            Out::Wait,
        ),
        (
            "close-delimited",
            BodyFraming::CloseDelimited,
            not_reusable(CloseDelimitedBody),
            Out::Close(CloseCause::NotReusable(CloseDelimitedBody)),
        ),
        (
            "verdict already says close",
            BodyFraming::Length(1),
            not_reusable(ServerSentClose),
            Out::Close(CloseCause::NotReusable(ServerSentClose)),
        ),
        (
            "a protocol error verdict",
            BodyFraming::Length(1),
            Err(CloseCause::Error),
            Out::Close(CloseCause::Error),
        ),
    ];
    for (name, framing, keep_alive, want) in cases {
        let mut h = Harness::reading_body(framing, keep_alive);
        assert_eq!(h.discard(1), want, "{name}");
        let drains = want == Out::Wait;
        assert_eq!(h.state().starts_with("draining"), drains, "{name}");
        assert_eq!(h.armed(Deadline::Drain).is_some(), drains, "{name}");
    }
    // A chunk already known to be bigger than the limit.
    let mut h = Harness::reading_body(BodyFraming::Chunked, Ok(()));
    h.feed(format!("{:x}\r\nab", limit + 10).as_bytes());
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(
        h.discard(2),
        Out::Close(CloseCause::NotReusable(DrainLimit))
    );
    // Before a head there is nothing to drain: the request is canceled.
    for state in [
        State::Writing {
            req: RID,
            with_body: true,
        },
        State::AwaitingContinue { req: RID },
        State::AwaitingHead { req: RID },
    ] {
        let mut h = Harness::get().connected().in_state(state);
        assert_eq!(h.discard(1), Out::Close(Canceled));
    }
}

#[test]
fn a_broken_body_while_draining_fails_the_connection() {
    let (_, mut h) = discarded(BodyFraming::Chunked, b"3\r\nabc\r\n");
    h.feed(b"zz\r\n");
    assert_eq!(h.readable(3), Out::Fail(ErrorKind::Protocol));
    let (_, mut h) = discarded(BodyFraming::Length(10), b"0123");
    h.feed_error(io::ErrorKind::ConnectionReset);
    assert_eq!(h.readable(3), Out::Fail(ErrorKind::ConnectionClosed));
}

#[test]
fn eof_while_draining_closes() {
    let (out, mut h) = discarded(BodyFraming::Length(10), b"0123");
    assert_eq!(out, Out::Wait);
    h.feed_eof();
    assert_eq!(h.readable(3), Out::Close(CloseCause::ServerClose));
}

// ---- idle ----------------------------------------------------------------------------------

#[test]
fn idle_socket_readable_is_closed_or_kept() {
    use CloseCause::{Error as Garbage, ServerClose};
    let cases: [(&str, Option<ScriptRead>, Out); 5] = [
        (
            "stray bytes",
            Some(ScriptRead::Bytes(
                b"HTTP/1.1 408 Request Timeout\r\n\r\n".to_vec(),
            )),
            Out::Close(Garbage),
        ),
        ("EOF", Some(ScriptRead::Eof), Out::Close(ServerClose)),
        (
            "reset",
            Some(ScriptRead::Error(io::ErrorKind::ConnectionReset)),
            Out::Close(ServerClose),
        ),
        ("spurious wake-up", None, Out::Wait),
        (
            "interrupted, then nothing",
            Some(ScriptRead::Error(io::ErrorKind::Interrupted)),
            Out::Wait,
        ),
    ];
    for (name, read, want) in cases {
        let mut h = Harness::idle();
        if let Some(read) = read {
            h.script().reads.push_back(read);
        }
        assert_eq!(h.readable(1), want, "{name}");
        if want == Out::Wait {
            assert_eq!(h.state(), "idle", "{name}");
            assert!(!h.conn.readable, "{name}: WouldBlock consumed the edge");
        }
    }
}

#[test]
fn retiring_connection_closes_on_the_servers_close_and_nothing_else() {
    use CloseCause::{Error as Garbage, ServerClose};
    let cases: [(&str, Option<ScriptRead>, Out); 4] = [
        ("EOF", Some(ScriptRead::Eof), Out::Close(ServerClose)),
        (
            "reset",
            Some(ScriptRead::Error(io::ErrorKind::ConnectionReset)),
            Out::Close(ServerClose),
        ),
        (
            "stray bytes",
            Some(ScriptRead::Bytes(b"x".to_vec())),
            Out::Close(Garbage),
        ),
        ("spurious wake-up", None, Out::Wait),
    ];
    for (name, read, want) in cases {
        let mut h = Harness::idle().in_state(State::Retiring { limit: Limit::Idle });
        if let Some(read) = read {
            h.script().reads.push_back(read);
        }
        assert_eq!(h.readable(1), want, "{name}");
        if want == Out::Wait {
            assert_eq!(h.state(), "retiring(Idle limit)", "{name}");
        }
        assert!(h.written().is_empty(), "{name}: nothing is ever sent on it");
    }
}

#[test]
fn idle_check_reads_nothing_without_readiness() {
    let mut h = Harness::idle();
    h.feed(b"stale");
    assert_eq!(h.writable(1), Out::Wait);
    assert_eq!(h.run(1, |c, _, _| c.check_idle()), Out::Wait);
    assert_eq!(h.unread(), 1);
    // The engine's `release` runs the check with the flag left by the last read.
    h.conn.readable = true;
    assert_eq!(
        h.run(2, |c, _, _| c.check_idle()),
        Out::Close(CloseCause::Error)
    );
}

#[test]
fn idle_connection_is_reused_for_the_next_request() {
    let mut h = Harness::idle();
    h.conn.rbuf.equip(); // the engine equips it again
    let head = h.req.head.clone();
    assert_eq!(h.start(1), Out::Wait);
    assert!(h.req.info.reused);
    assert_eq!(h.written(), head);
    h.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(h.readable(2), finished(Ok(())));
    assert_eq!(h.conn.served, 2);
}

// ---- deadlines ----------------------------------------------------------------------------

#[test]
fn deadlines_by_state() {
    use CloseCause::{IdleTimeout, Lifetime};
    use ErrorKind::{ConnectTimeout, ResponseHeaderTimeout, Timeout, TlsHandshakeTimeout};
    type Build = fn() -> Harness;
    let resolving: Build = Harness::get;
    let connecting_: Build = || connecting(None);
    let handshaking: Build = || {
        Harness::get().connected().in_state(State::Handshaking {
            req: RID,
            hop: Hop::Origin,
            started: Instant::now(),
        })
    };
    let writing: Build = || {
        let mut h = posting(&[b'x'; 1000], &[], 10);
        assert_eq!(h.start(0), Out::Wait);
        h
    };
    let awaiting_continue_: Build = || awaiting_continue(b"payload");
    let awaiting_head: Build = || Harness::awaiting_head(request(Method::GET, b"", &[]));
    let reading_body: Build = || Harness::reading_body(BodyFraming::Length(10), Ok(()));
    let draining: Build = || discarded(BodyFraming::Length(10), b"0123").1;
    let idle: Build = Harness::idle;
    let retiring: Build = || {
        Harness::idle().in_state(State::Retiring {
            limit: Limit::Requests,
        })
    };
    let cases: [(&str, Build, Deadline, Out); 22] = [
        (
            "resolving",
            resolving,
            Deadline::Connect,
            Out::Fail(ConnectTimeout),
        ),
        ("resolving", resolving, Deadline::Total, Out::Fail(Timeout)),
        (
            "connecting",
            connecting_,
            Deadline::Connect,
            Out::Fail(ConnectTimeout),
        ),
        (
            "connecting",
            connecting_,
            Deadline::Total,
            Out::Fail(Timeout),
        ),
        (
            "tls-handshake",
            handshaking,
            Deadline::TlsHandshake,
            Out::Fail(TlsHandshakeTimeout),
        ),
        (
            "tls-handshake",
            handshaking,
            Deadline::Total,
            Out::Fail(Timeout),
        ),
        ("writing", writing, Deadline::Total, Out::Fail(Timeout)),
        // Stale wake-ups: not this state's deadline.
        ("writing", writing, Deadline::ExpectContinue, Out::Wait),
        ("writing", writing, Deadline::Lifetime, Out::Wait),
        (
            "awaiting-continue",
            awaiting_continue_,
            Deadline::Total,
            Out::Fail(Timeout),
        ),
        (
            "awaiting-head",
            awaiting_head,
            Deadline::ResponseHead,
            Out::Fail(ResponseHeaderTimeout),
        ),
        (
            "awaiting-head",
            awaiting_head,
            Deadline::Total,
            Out::Fail(Timeout),
        ),
        (
            "reading-body",
            reading_body,
            Deadline::Total,
            Out::Fail(Timeout),
        ),
        // A connection past its lifetime finishes its exchange; `release` closes it.
        ("reading-body", reading_body, Deadline::Lifetime, Out::Wait),
        (
            "draining",
            draining,
            Deadline::Drain,
            Out::Close(CloseCause::NotReusable(DrainTimeout)),
        ),
        ("draining", draining, Deadline::Lifetime, Out::Wait),
        ("idle", idle, Deadline::IdleExpiry, Out::Close(IdleTimeout)),
        ("idle", idle, Deadline::Lifetime, Out::Close(Lifetime)),
        ("idle", idle, Deadline::ExpectContinue, Out::Wait),
        // The end of a retiring connection's watch: the engine hears "idle timeout".
        (
            "retiring",
            retiring,
            Deadline::IdleExpiry,
            Out::Close(IdleTimeout),
        ),
        ("retiring", retiring, Deadline::Lifetime, Out::Wait),
        ("idle", idle, Deadline::PoolWait, Out::Wait),
    ];
    for (state, build, kind, want) in cases {
        let mut h = build();
        assert!(h.state().starts_with(state), "{state}: built {}", h.state());
        assert_eq!(h.deadline(60_000, kind), want, "{state} x {kind}");
        if want == Out::Wait {
            assert!(h.state().starts_with(state), "{state} x {kind}");
        }
    }
}

#[test]
fn armed_deadlines_go_to_the_engine_heap_under_this_connection() {
    let mut h = Harness::get().connected().in_state(State::Idle);
    assert_eq!(h.start(0), Out::Wait);
    let at = h.armed(Deadline::ResponseHead).expect("armed");
    assert_eq!(h.timers.next_at(), Some(at));
    assert_eq!(
        h.timers.pop_due(at),
        Some((at, Owner::Conn(CID), Deadline::ResponseHead))
    );
}

#[test]
fn a_timeout_past_the_clock_arms_nothing() {
    let mut h = posting(b"payload", EXPECT, usize::MAX);
    h.config.expect_continue_timeout = Duration::MAX;
    h.config.response_header_timeout = Some(Duration::MAX);
    assert_eq!(h.start(0), Out::Wait);
    assert_eq!(h.state(), "awaiting-continue");
    assert_eq!(h.armed(Deadline::ExpectContinue), None);
    h.feed(b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.state(), "awaiting-head");
    assert_eq!(h.armed(Deadline::ResponseHead), None);
    assert_eq!(h.timers.len(), 0);
    // No response-header timeout at all: only the total deadline applies.
    let mut h = Harness::get().connected().in_state(State::Idle);
    h.config.response_header_timeout = None;
    assert_eq!(h.start(0), Out::Wait);
    assert_eq!(h.armed(Deadline::ResponseHead), None);
}

// ---- closed --------------------------------------------------------------------------------

#[test]
fn shut_clears_deadlines_and_transport_and_ignores_events() {
    let mut h = Harness::get().connected().in_state(State::Idle);
    assert_eq!(h.start(0), Out::Wait);
    h.run(0, |c, _, ctx| {
        c.arm_after(ctx, Deadline::Total, Duration::from_secs(30));
        Next::Wait
    });
    assert!(h.armed(Deadline::ResponseHead).is_some());
    let registry = h.poll.registry();
    h.conn
        .shut(registry, CloseCause::Error, Tracers::default(), h.t0);
    assert_eq!(h.state(), "closed(error)");
    assert!(h.conn.transport.is_none());
    for kind in [Deadline::ResponseHead, Deadline::Total] {
        assert_eq!(h.armed(kind), None, "{kind}");
    }
    assert_eq!(h.readable(1), Out::Wait);
    assert_eq!(h.state(), "closed(error)");
}

// ---- tunneling (CONNECT through a proxy) -------------------------------------------------

/// An `https` connection through a proxy, connected to the proxy: the engine's
/// `start_tunnel` with the encoded `CONNECT` (credentials when `auth`).
fn tunneling(auth: Option<&str>) -> Harness {
    let mut h = Harness::get().connected();
    h.conn.plan = Plan {
        proxy_tls: false,
        tunnel: true,
        tls: true,
    };
    let dial = Dial {
        addrs: Vec::new(),
        next: 0,
        attempts: [None, None],
        last_error: None,
        started: h.t0,
    };
    h.conn.set_state(State::Connecting { req: RID, dial });
    let mut head = Vec::new();
    encode_connect_head("origin.test", 443, auth, &Config::default(), &mut head)
        .expect("CONNECT encodes");
    assert_eq!(h.run(0, |c, _, ctx| c.start_tunnel(head, ctx)), Out::Wait);
    assert_eq!(h.state(), "tunneling");
    h
}

#[test]
fn after_connect_the_plan_says_what_comes_next() {
    let mut h = Harness::get();
    let cases = [
        (Plan::default(), Out::Connected),
        (
            Plan {
                tls: true,
                ..Plan::default()
            },
            Out::NeedsTls(Hop::Origin),
        ),
        (
            Plan {
                proxy_tls: true,
                tunnel: true,
                tls: true,
            },
            Out::NeedsTls(Hop::Proxy),
        ),
        (
            Plan {
                tunnel: true,
                tls: true,
                ..Plan::default()
            },
            Out::NeedsTunnel,
        ),
    ];
    for (plan, want) in cases {
        h.conn.plan = plan;
        assert_eq!(h.run(0, |c, _, _| c.after_connect()), want, "{plan:?}");
    }
    // After the proxy's handshake: the tunnel; after the tunnel: the origin's TLS.
    h.conn.plan = Plan {
        proxy_tls: true,
        tunnel: true,
        tls: true,
    };
    assert_eq!(h.run(0, |c, _, _| c.after_proxy_tls()), Out::NeedsTunnel);
    assert_eq!(
        h.run(0, |c, _, _| c.after_tunnel()),
        Out::NeedsTls(Hop::Origin)
    );
    // An http origin through an https proxy: no tunnel, no origin TLS.
    h.conn.plan = Plan {
        proxy_tls: true,
        ..Plan::default()
    };
    assert_eq!(h.run(0, |c, _, _| c.after_proxy_tls()), Out::Connected);
}

#[test]
fn tunneling_writes_connect_and_opens_on_2xx() {
    let mut h = tunneling(Some("Basic dTpw"));
    assert_eq!(
        String::from_utf8(h.written()).unwrap(),
        format!(
            "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\
             User-Agent: {}\r\nProxy-Authorization: Basic dTpw\r\n\r\n",
            crate::config::DEFAULT_USER_AGENT
        )
    );
    assert_eq!(
        h.armed(Deadline::ProxyConnect),
        Some(h.at(0) + h.config.proxy_connect_timeout)
    );
    // The answer in two pieces; nothing after it.
    h.feed(b"HTTP/1.1 200 Connection est");
    assert_eq!(h.readable(1), Out::Wait);
    h.feed(b"ablished\r\nVia: testkit\r\n\r\n");
    assert_eq!(h.readable(2), Out::NeedsTls(Hop::Origin));
    assert_eq!(h.armed(Deadline::ProxyConnect), None);
    assert!(h.conn.rbuf.is_empty() && h.conn.wbuf.is_empty());
    assert!(
        h.seen.is_empty(),
        "the proxy's answer is not the caller's response"
    );
}

#[test]
fn tunneling_skips_1xx_and_opens_an_http_origin_too() {
    let mut h = tunneling(None);
    h.conn.plan.tls = false;
    h.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(h.readable(1), Out::Connected);
}

#[test]
fn tunneling_refused_carries_the_status_line() {
    for (answer, status, line) in [
        (
            &b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!"[..],
            403,
            "HTTP/1.1 403 Forbidden",
        ),
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
            407,
            "HTTP/1.1 407 Proxy Authentication Required",
        ),
        (
            b"HTTP/1.0 502 Bad Gateway\r\n\r\n",
            502,
            "HTTP/1.0 502 Bad Gateway",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            101,
            "HTTP/1.1 101 Switching Protocols",
        ),
    ] {
        let mut h = tunneling(None);
        h.feed(answer);
        assert_eq!(h.readable(1), Out::Fail(ErrorKind::Proxy));
        let refused = std::error::Error::source(h.error())
            .and_then(|s| s.downcast_ref::<crate::error::ProxyRefused>())
            .expect("a ProxyRefused");
        assert_eq!(refused.status(), status);
        assert_eq!(refused.status_line(), line);
        assert!(h.error().is_retry_safe());
    }
}

#[test]
fn tunneling_failures_are_proxy_errors() {
    // EOF before an answer.
    let mut h = tunneling(None);
    h.feed_eof();
    assert_eq!(h.readable(1), Out::Fail(ErrorKind::Proxy));
    assert_eq!(h.error_io_kind(), Some(io::ErrorKind::UnexpectedEof));
    // A reset.
    let mut h = tunneling(None);
    h.feed_error(io::ErrorKind::ConnectionReset);
    assert_eq!(h.readable(1), Out::Fail(ErrorKind::Proxy));
    assert_eq!(h.error_io_kind(), Some(io::ErrorKind::ConnectionReset));
    // Not HTTP.
    let mut h = tunneling(None);
    h.feed(b"SSH-2.0-OpenSSH\r\n\r\n");
    assert_eq!(h.readable(1), Out::Fail(ErrorKind::Proxy));
    // Bytes after the 2xx head: they would be taken for the origin's TLS.
    let mut h = tunneling(None);
    h.feed(b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01");
    assert_eq!(h.readable(1), Out::Fail(ErrorKind::Proxy));
    // The deadline.
    let mut h = tunneling(None);
    assert_eq!(
        h.deadline(10_000, Deadline::ProxyConnect),
        Out::Fail(ErrorKind::ProxyConnectTimeout)
    );
    assert!(h.error().is_timeout() && h.error().is_retry_safe());
}

#[test]
fn tunneling_writes_connect_as_the_socket_takes_it() {
    let mut h = Harness::get().connected();
    h.conn.plan = Plan {
        tunnel: true,
        tls: true,
        ..Plan::default()
    };
    h.script().write_room = 10;
    let mut head = Vec::new();
    encode_connect_head("origin.test", 443, None, &Config::default(), &mut head)
        .expect("CONNECT encodes");
    let len = head.len();
    assert_eq!(h.run(0, |c, _, ctx| c.start_tunnel(head, ctx)), Out::Wait);
    assert_eq!(h.written().len(), 10);
    assert!(!h.conn.writable);
    h.script().write_room = usize::MAX;
    assert_eq!(h.writable(1), Out::Wait);
    assert_eq!(h.written().len(), len);
    // A proxy that answers 200 before the request is out is not a tunnel we opened.
    let mut h = Harness::get().connected();
    h.conn.plan = Plan {
        tunnel: true,
        tls: true,
        ..Plan::default()
    };
    h.script().write_room = 5;
    let mut head = Vec::new();
    encode_connect_head("origin.test", 443, None, &Config::default(), &mut head)
        .expect("CONNECT encodes");
    h.feed(b"HTTP/1.1 200 OK\r\n\r\n");
    h.conn.readable = true;
    assert_eq!(
        h.run(0, |c, _, ctx| c.start_tunnel(head, ctx)),
        Out::Fail(ErrorKind::Proxy)
    );
}

#[test]
fn tunneling_counts_as_dialing_and_carries_its_request() {
    let h = tunneling(None);
    assert!(h.conn.state.is_dialing());
    assert_eq!(h.conn.state.request(), Some(RID));
    assert!(!h.conn.state.is_reading());
}
