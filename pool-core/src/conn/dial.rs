//! Resolving and connecting: a new connection's first states.
//!
//! A connection starts `Resolving` (the engine asks its resolver for the name it dials:
//! the origin's, a `connect_to` target's or the proxy's, and hands the answer to
//! [`Conn::handle_dns`]), then races connect attempts over the answer's addresses as
//! RFC 8305 (Happy Eyeballs) describes: one attempt, and another after
//! `happy_eyeballs_delay` while the first is still pending, families interleaved. The
//! first attempt to connect wins; the others are dropped. Sockets are opened here with
//! socket2 so that `TCP_NODELAY`, keepalive probes and a local bind are set *before*
//! `connect`, which then returns at once (`EINPROGRESS`); writability tells the outcome.
//!
//! A connection over a Unix domain socket skips `Resolving`: [`Conn::start_unix`]
//! connects to the path (one attempt, under the same `connect_timeout`).
//!
//! This room does not pick the host, count dials or open TLS: the engine decides when to
//! dial, and [`Conn::after_connect`] says what the connection needs next (TLS, a tunnel,
//! or nothing: [`Next::Connected`]).

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, TcpKeepalive, Type};

use super::{Conn, Ctx, Next, State, Stream, Transport};
use crate::config::Config;
use crate::dns::DnsError;
use crate::error::{Error, ErrorKind};
use crate::request::{Req, RequestId};
use crate::timer::Deadline;
use crate::trace::{ConnectDone, ConnectResult, ConnectStart, Tracers};

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
    /// Connects in progress, by slot.
    pub(crate) attempts: [Option<Attempt>; DIAL_SLOTS],
    /// The most recent failure, reported if every address fails.
    pub(crate) last_error: Option<io::Error>,
    /// When the first attempt started (for `RequestInfo::connect`).
    pub(crate) started: Instant,
}

/// One connect in progress.
pub(crate) struct Attempt {
    pub(crate) stream: Stream,
    /// The address tried (`None` over a Unix domain socket).
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) started: Instant,
}

/// Who is dialing, for the `connect_*` trace events.
pub(crate) struct DialTrace<'a> {
    pub(crate) trace: Tracers<'a>,
    pub(crate) now: Instant,
    pub(crate) conn_id: u64,
    pub(crate) request: Option<RequestId>,
}

impl DialTrace<'_> {
    /// `connect_start` for an attempt to `addr`.
    fn connect_start(&self, addr: Option<SocketAddr>) {
        self.trace.emit(|t| {
            t.connect_start(&ConnectStart {
                at: self.now,
                request: self.request,
                conn_id: self.conn_id,
                addr,
            })
        });
    }

    /// The one place `connect_done` fires: every attempt that started ends here once.
    fn connect_done(&self, addr: Option<SocketAddr>, started: Instant, result: ConnectResult<'_>) {
        self.trace.emit(|t| {
            t.connect_done(&ConnectDone {
                at: self.now,
                request: self.request,
                conn_id: self.conn_id,
                addr,
                result,
                took: self.now.saturating_duration_since(started),
            })
        });
    }
}

impl Dial {
    /// Ends the attempt in `slot`, the one place an attempt ends: reported to the
    /// tracers, and out of the poller unless it connected (then its stream is returned,
    /// still registered, to carry the connection).
    fn end_attempt(
        &mut self,
        slot: usize,
        result: ConnectResult<'_>,
        registry: &Registry,
        cx: &DialTrace<'_>,
    ) -> Option<Stream> {
        let Attempt {
            mut stream,
            addr,
            started,
        } = self.attempts.get_mut(slot)?.take()?;
        cx.connect_done(addr, started, result);
        if matches!(result, ConnectResult::Connected) {
            return Some(stream);
        }
        let _ = registry.deregister(&mut stream);
        None
    }

    /// Drops every attempt in flight, out of the poller (reported as abandoned).
    pub(crate) fn abandon(&mut self, registry: &Registry, cx: &DialTrace<'_>) {
        for slot in 0..DIAL_SLOTS {
            self.end_attempt(slot, ConnectResult::Abandoned, registry, cx);
        }
    }
}

impl Conn {
    /// The resolver answered for this connection's host.
    pub(crate) fn handle_dns(
        &mut self,
        answer: &Result<std::sync::Arc<[SocketAddr]>, DnsError>,
        req: Option<&mut Req>,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        let State::Resolving { started, .. } = self.state else {
            return Next::Wait;
        };
        if let Some(req) = req {
            req.info.dns = Some(ctx.now.saturating_duration_since(started));
        }
        match answer {
            Ok(addrs) => self.start_dial(addrs, ctx),
            Err(e) => Next::Fail(Error::with_source(ErrorKind::Dns, e.clone())),
        }
    }

    /// Start connecting to the Unix domain socket at `path`.
    #[cfg(unix)]
    pub(crate) fn start_unix(&mut self, path: &std::path::Path, ctx: &mut Ctx<'_>) -> Next {
        let Some(req) = self.state.request() else {
            return Next::Wait;
        };
        let mut dial = Dial {
            addrs: Vec::new(),
            next: 0,
            attempts: [None, None],
            last_error: None,
            started: ctx.now,
        };
        let cx = DialTrace {
            trace: Tracers::new(ctx.tracer, self.req_tracer.as_deref()),
            now: ctx.now,
            conn_id: self.serial,
            request: Some(req),
        };
        cx.connect_start(None);
        let connected = mio::net::UnixStream::connect(path).and_then(|mut stream| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            ctx.registry
                .register(&mut stream, token(ctx.cid, 0), interest)
                .map(|()| stream)
        });
        match connected {
            Ok(stream) => {
                dial.attempts[0] = Some(Attempt {
                    stream: Stream::Unix(stream),
                    addr: None,
                    started: ctx.now,
                })
            }
            Err(e) => {
                cx.connect_done(None, ctx.now, ConnectResult::Failed(&e));
                let what = format!("unix socket {}: {e}", path.display());
                return Next::Fail(Error::with_source(
                    ErrorKind::Connect,
                    io::Error::new(e.kind(), what),
                ));
            }
        }
        self.set_state(State::Connecting { req, dial });
        Next::Wait
    }

    /// Unix domain sockets exist only on Unix.
    #[cfg(not(unix))]
    pub(crate) fn start_unix(&mut self, path: &std::path::Path, _ctx: &mut Ctx<'_>) -> Next {
        Next::Fail(Error::msg(
            ErrorKind::Connect,
            format!(
                "unix socket {}: not supported on this platform",
                path.display()
            ),
        ))
    }

    /// Start connecting to `addrs` (the DNS answer, or a cached one).
    pub(crate) fn start_dial(&mut self, addrs: &[SocketAddr], ctx: &mut Ctx<'_>) -> Next {
        let Some(req) = self.state.request() else {
            return Next::Wait;
        };
        let dial = Dial {
            addrs: crate::dns::happy_eyeballs_order(addrs),
            next: 0,
            attempts: [None, None],
            last_error: None,
            started: ctx.now,
        };
        self.set_state(State::Connecting { req, dial });
        self.next_attempt(ctx)
    }

    /// Starts the next connect attempt in a free slot; fails the dial when no attempt is
    /// in flight and no address is left.
    pub(crate) fn next_attempt(&mut self, ctx: &mut Ctx<'_>) -> Next {
        let cid = ctx.cid;
        let cx = DialTrace {
            trace: Tracers::new(ctx.tracer, self.req_tracer.as_deref()),
            now: ctx.now,
            conn_id: self.serial,
            request: self.state.request(),
        };
        let State::Connecting { dial, .. } = &mut self.state else {
            return Next::Wait;
        };
        let mut started_more = false;
        if let Some(slot) = dial.attempts.iter().position(Option::is_none) {
            while dial.next < dial.addrs.len() {
                let addr = dial.addrs[dial.next];
                dial.next += 1;
                cx.connect_start(Some(addr));
                let registered = start_connect(addr, ctx.config).and_then(|stream| {
                    let mut stream = Stream::Tcp(stream);
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    ctx.registry
                        .register(&mut stream, token(cid, slot), interest)
                        .map(|()| stream)
                });
                match registered {
                    Ok(stream) => {
                        dial.attempts[slot] = Some(Attempt {
                            stream,
                            addr: Some(addr),
                            started: ctx.now,
                        });
                        started_more = dial.next < dial.addrs.len();
                        break;
                    }
                    // Refused at once (no route, no IPv6): an attempt that ended as it
                    // started, never in a slot.
                    Err(e) => {
                        cx.connect_done(Some(addr), ctx.now, ConnectResult::Failed(&e));
                        dial.last_error = Some(e);
                    }
                }
            }
        }
        if dial.attempts.iter().all(Option::is_none) {
            return Next::Fail(match dial.last_error.take() {
                Some(e) => Error::with_source(ErrorKind::Connect, e),
                None => Error::msg(ErrorKind::Connect, "no address to connect to"),
            });
        }
        if started_more {
            let delay = ctx.config.happy_eyeballs_delay;
            self.arm_after(ctx, Deadline::HappyEyeballs, delay);
        }
        Next::Wait
    }

    /// Readiness on a connect attempt.
    pub(crate) fn handle_connect_ready(
        &mut self,
        slot: usize,
        req: Option<&mut Req>,
        ctx: &mut Ctx<'_>,
    ) -> Next {
        let cx = DialTrace {
            trace: Tracers::new(ctx.tracer, self.req_tracer.as_deref()),
            now: ctx.now,
            conn_id: self.serial,
            request: self.state.request(),
        };
        let State::Connecting { dial, .. } = &mut self.state else {
            return Next::Wait;
        };
        let Some(attempt) = dial.attempts.get(slot).and_then(Option::as_ref) else {
            return Next::Wait;
        };
        match check_connect(&attempt.stream) {
            ConnectCheck::Pending => Next::Wait,
            ConnectCheck::Failed(e) => {
                dial.end_attempt(slot, ConnectResult::Failed(&e), ctx.registry, &cx);
                dial.last_error = Some(e);
                self.next_attempt(ctx)
            }
            ConnectCheck::Connected(peer) => {
                let Some(stream) =
                    dial.end_attempt(slot, ConnectResult::Connected, ctx.registry, &cx)
                else {
                    return Next::Wait;
                };
                dial.abandon(ctx.registry, &cx);
                if let Some(req) = req {
                    req.info.connect = Some(ctx.now.saturating_duration_since(dial.started));
                }
                self.transport = Some(Transport::plain(stream));
                self.peer = peer;
                self.slot = slot;
                self.writable = true;
                self.deadlines.clear(Deadline::Connect);
                self.deadlines.clear(Deadline::HappyEyeballs);
                // TLS, a tunnel or the request; still connecting (in the stats) until
                // the last layer is up.
                self.after_connect()
            }
        }
    }
}

/// Starts a non-blocking connect to `addr` and returns the socket for mio.
fn start_connect(addr: SocketAddr, config: &Config) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(config.tcp_nodelay)?;
    if let Some(ka) = config.tcp_keepalive {
        let params = TcpKeepalive::new()
            .with_time(ka.idle)
            .with_interval(ka.interval)
            .with_retries(ka.retries);
        socket.set_tcp_keepalive(&params)?;
    }
    if let Some(ip) = config.local_address {
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// `EINPROGRESS` on Linux and the BSDs: the connect continues in the background.
fn libc_einprogress() -> i32 {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        115
    } else {
        36
    }
}

/// The outcome of a connect attempt that reported readiness.
#[derive(Debug)]
enum ConnectCheck {
    /// Connected (to this address, for TCP).
    Connected(Option<SocketAddr>),
    /// Still in progress (a spurious wake-up).
    Pending,
    /// Failed with this error.
    Failed(io::Error),
}

/// Checks a connecting socket after a readiness event, as mio documents: `take_error`
/// for a failure, `peer_addr` for success.
fn check_connect(stream: &Stream) -> ConnectCheck {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return ConnectCheck::Failed(e),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(peer) => ConnectCheck::Connected(peer),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => ConnectCheck::Pending,
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => ConnectCheck::Pending,
        Err(e) => ConnectCheck::Failed(e),
    }
}
