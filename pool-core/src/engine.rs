//! The engine: one thread, one `mio::Poll`, every connection and pool it touches.
//!
//! Nothing in here is shared or locked. A caller submits requests, then calls
//! [`Engine::poll`] in a loop; each call is one turn:
//!
//! ```text
//!  submit() ──► pending ─┐
//!                        ▼
//!  poll(): settle ─► mio poll (timeout = next deadline) ─► dispatch events by token
//!            ▲                                               │ readable / writable
//!            │                                               ▼
//!            └──── fire due deadlines ◄──── connection state machines (conn.rs)
//!                                                  │ Head, Data (borrowed), Done, Failed
//!                                                  ▼
//!                                           the caller's callback
//! ```
//!
//! "Settle" hands pending requests a connection: the host's most recently idled one
//! (LIFO by default), else a new dial if `max_conns_per_host` allows, else a place in the
//! host's FIFO wait queue. When a connection finishes a response it goes to the first
//! waiter, or back to the idle pool. This module owns those decisions; what a single
//! connection does with bytes lives in `conn.rs`.
//!
//! The engine reads the clock once per turn. Body data is handed to the callback as a
//! slice of the connection's read buffer; the callback answers [`Flow::Pause`] to stop
//! reading that socket until [`Engine::resume`] (this is how the blocking
//! [`Client`](crate::Client) bounds memory for slow readers).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use http1_codec::{RequestFraming, RequestHead, ResponseParser, TargetForm};
use mio::{Events, Poll, Token, Waker};

use crate::config::Config;
use crate::conn::{from_token, Conn, State};
use crate::dns::{Lookup, Resolver};
use crate::error::{Error, ErrorKind};
use crate::pool::{CloseCause, HostId, PoolLimits, Pools, Scheme, Stats};
use crate::request::{is_idempotent, Body, Flow, HeadView, RequestId, RequestInfo, RequestOptions};
use crate::slab::Slab;
use tls_glue::TlsConfig;

use crate::timer::{Deadline, DeadlineTable, Owner, Popped, Timers};

/// The token of the engine's waker (resolver answers, cross-thread commands).
const WAKER_TOKEN: Token = Token(usize::MAX);

/// Read buffers and head parsers kept for reuse by the next busy connection; more than
/// this are freed (a burst of closes should not pin memory for good).
const MAX_SPARE_BUFFERS: usize = 64;

/// Readiness events taken from the kernel per `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// What the engine reports about a request. Borrowed data is valid during the callback.
#[derive(Debug)]
pub enum Event<'a> {
    /// The final response head arrived. `1xx` interim responses are not reported:
    /// `100 Continue` releases an `Expect: 100-continue` body, others are skipped.
    Head {
        /// The request.
        id: RequestId,
        /// Status, version and headers, borrowed from the connection's buffer.
        head: HeadView<'a>,
        /// Reuse facts and timings so far.
        info: &'a RequestInfo,
    },
    /// A piece of the response body, borrowed from the connection's buffer.
    Data {
        /// The request.
        id: RequestId,
        /// Body bytes (never empty).
        data: &'a [u8],
    },
    /// The body ended; the request is finished.
    Done {
        /// The request.
        id: RequestId,
        /// Reuse facts and timings.
        info: RequestInfo,
    },
    /// The request failed; no further event comes for it.
    Failed {
        /// The request.
        id: RequestId,
        /// What went wrong.
        error: Error,
    },
}

/// The callback type the state machine reports through.
pub(crate) type Sink<'s> = &'s mut dyn FnMut(Event<'_>) -> Flow;

/// A submitted request's bookkeeping.
pub(crate) struct Req {
    pub(crate) request: Request<Body>,
    pub(crate) host: HostId,
    /// Total deadline (`timeout` or the request's own).
    pub(crate) deadline: Option<Instant>,
    /// Deadlines while no connection carries the request (only `Total` is used).
    pub(crate) timers: DeadlineTable,
    /// The connection carrying it, once it has one.
    pub(crate) conn: Option<usize>,
    pub(crate) submitted: Instant,
    /// When it joined the host's wait queue.
    pub(crate) queued_at: Option<Instant>,
    pub(crate) idempotent: bool,
    pub(crate) expect_continue: bool,
    /// A response byte arrived on the current attempt (a retry is no longer safe).
    pub(crate) got_response_bytes: bool,
    /// A retry must not take an idle connection.
    pub(crate) fresh_only: bool,
    /// The encoded request head until a connection takes it (empty after that; encoded
    /// again only if the request is retried).
    pub(crate) head: Vec<u8>,
    pub(crate) info: RequestInfo,
}

/// Requests by id; the id carries a generation so a stale id never finds a new request.
#[derive(Default)]
pub(crate) struct Requests {
    slab: Slab<(u32, Req)>,
    generation: u32,
}

impl Requests {
    fn insert(&mut self, req: Req) -> RequestId {
        self.generation = self.generation.wrapping_add(1);
        let g = self.generation;
        let idx = self.slab.insert((g, req));
        RequestId((u64::from(g) << 32) | idx as u64)
    }

    fn split(id: RequestId) -> (usize, u32) {
        ((id.0 & 0xffff_ffff) as usize, (id.0 >> 32) as u32)
    }

    pub(crate) fn get(&self, id: RequestId) -> Option<&Req> {
        let (idx, g) = Requests::split(id);
        self.slab
            .get(idx)
            .filter(|(gen, _)| *gen == g)
            .map(|(_, r)| r)
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut Req> {
        let (idx, g) = Requests::split(id);
        self.slab
            .get_mut(idx)
            .filter(|(gen, _)| *gen == g)
            .map(|(_, r)| r)
    }

    pub(crate) fn remove(&mut self, id: RequestId) -> Option<Req> {
        self.get(id)?;
        self.slab.remove(Requests::split(id).0).map(|(_, r)| r)
    }

    fn ids(&self) -> Vec<RequestId> {
        self.slab
            .ids()
            .filter_map(|i| {
                self.slab
                    .get(i)
                    .map(|(g, _)| RequestId((u64::from(*g) << 32) | i as u64))
            })
            .collect()
    }

    fn len(&self) -> usize {
        self.slab.len()
    }
}

/// The connection-pool engine. See the module docs for the loop.
pub struct Engine {
    pub(crate) poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    pub(crate) config: Config,
    pub(crate) conns: Slab<Conn>,
    pub(crate) reqs: Requests,
    pub(crate) pools: Pools,
    pub(crate) timers: Timers,
    resolver: Resolver,
    /// Connections waiting for a DNS answer.
    resolving: Vec<usize>,
    /// Read buffers of connections that went idle, for the next busy one.
    pub(crate) spare_bufs: Vec<Vec<u8>>,
    /// Head parsers (with their header storage) of connections that went idle: an idle
    /// connection keeps none, and no parser ever carries progress to another one.
    pub(crate) spare_parsers: Vec<ResponseParser>,
    /// Submitted requests not yet given a connection.
    pending: VecDeque<RequestId>,
    /// Connections with work to do next settle (resumed, draining).
    pub(crate) ready: Vec<usize>,
    /// Hosts whose open-connection count dropped: their waiters may dial.
    freed_hosts: Vec<HostId>,
    /// Released connections promised to a waiting request, started at the next settle.
    handoffs: Vec<(usize, RequestId)>,
    /// Finished requests, reported at the end of the turn.
    pub(crate) outbox: Vec<(RequestId, Result<RequestInfo, Error>)>,
    /// The outbox's twin, swapped in while the outbox is being reported.
    spare_outbox: Vec<(RequestId, Result<RequestInfo, Error>)>,
    /// The TLS configuration for `https` (built from the system roots on first use
    /// when the config has none). Shared by every session: one resumption cache.
    tls: Option<TlsConfig>,
    /// Closed connections whose slots are freed at the end of the turn.
    to_free: Vec<usize>,
    /// Buffers for encoded request heads, recycled from finished requests: a head is
    /// encoded once, at submit, and moved (not copied) onto its connection.
    pub(crate) spare_heads: Vec<Vec<u8>>,
    pub(crate) now: Instant,
    /// The serial number of the last connection opened (see `Conn::serial`).
    conn_serial: u64,
    rng: u64,
    pub(crate) trace: bool,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("conns", &self.conns.len())
            .field("requests", &self.reqs.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A new engine with `config`. Fails with [`ErrorKind::InvalidConfig`] for a setting
    /// that cannot work (see [`Config::validate`]), or [`ErrorKind::Io`] when the poller
    /// cannot be created (out of file descriptors).
    pub fn new(config: Config) -> Result<Engine, Error> {
        config.validate()?;
        let io_error = |e| Error::with_source(ErrorKind::Io, e);
        let poll = Poll::new().map_err(io_error)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN).map_err(io_error)?);
        let resolver = Resolver::new(
            Arc::clone(&waker),
            config.resolver_threads.max(1),
            config.dns_ttl,
        );
        let pools = Pools::new(PoolLimits {
            max_idle_per_host: config.max_idle_per_host,
            max_idle_total: config.max_idle_total,
            max_conns_per_host: config.max_conns_per_host,
            order: config.reuse_order,
        });
        let now = Instant::now();
        let seed = now.elapsed().as_nanos() as u64
            ^ (std::process::id() as u64).rotate_left(32)
            ^ 0x9e37_79b9_7f4a_7c15;
        Ok(Engine {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            waker,
            config,
            conns: Slab::default(),
            reqs: Requests::default(),
            pools,
            timers: Timers::default(),
            resolver,
            resolving: Vec::new(),
            spare_bufs: Vec::new(),
            spare_parsers: Vec::new(),
            pending: VecDeque::new(),
            ready: Vec::new(),
            freed_hosts: Vec::new(),
            handoffs: Vec::new(),
            outbox: Vec::new(),
            spare_outbox: Vec::new(),
            tls: None,
            to_free: Vec::new(),
            spare_heads: Vec::new(),
            now,
            conn_serial: 0,
            rng: seed | 1,
            trace: std::env::var_os("WIREPOOL_TRACE").is_some(),
        })
    }

    /// The engine's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A waker that interrupts a blocked [`poll`](Engine::poll) from another thread.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Requests submitted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.reqs.len()
    }

    /// Submits a request with the configured timeouts. It is sent during the next
    /// [`poll`](Engine::poll). Fails at once if the request cannot be sent as given.
    pub fn submit(&mut self, request: Request<Body>) -> Result<RequestId, Error> {
        self.submit_with(request, RequestOptions::default())
    }

    /// Submits a request with its own deadline.
    pub fn submit_with(
        &mut self,
        request: Request<Body>,
        opts: RequestOptions,
    ) -> Result<RequestId, Error> {
        let now = Instant::now();
        let (scheme, port) = match request.uri().scheme_str() {
            Some("http") => (Scheme::Http, 80),
            Some("https") => (Scheme::Https, 443),
            Some(other) => {
                return Err(Error::msg(
                    ErrorKind::InvalidRequest,
                    format!("unsupported scheme {other:?}"),
                ));
            }
            None => {
                return Err(Error::msg(
                    ErrorKind::InvalidRequest,
                    "the URL has no scheme",
                ))
            }
        };
        let Some(host) = request.uri().host().filter(|h| !h.is_empty()) else {
            return Err(Error::msg(ErrorKind::InvalidRequest, "the URL has no host"));
        };
        let port = request.uri().port_u16().unwrap_or(port);
        // Encode the head now: a bad request fails here and never on a connection, and
        // the bytes are ready for whichever connection carries the request.
        let mut encoded = self.spare_heads.pop().unwrap_or_default();
        encoded.clear();
        if let Err(e) = encode_request_head(&request, &mut encoded) {
            self.spare_heads.push(encoded);
            return Err(e);
        }
        let host = self.pools.host_id(scheme, host, port);
        let timeout = opts.timeout.or(self.config.timeout);
        // A timeout past the clock's range is no deadline at all.
        let deadline = match (timeout.and_then(|t| now.checked_add(t)), opts.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let idempotent = is_idempotent(request.method(), request.headers());
        let expect_continue = http1_codec::expects_continue(request.headers());
        let id = self.reqs.insert(Req {
            request,
            host,
            deadline,
            timers: DeadlineTable::default(),
            conn: None,
            submitted: now,
            queued_at: None,
            idempotent,
            expect_continue,
            got_response_bytes: false,
            fresh_only: false,
            head: encoded,
            info: RequestInfo::default(),
        });
        self.pools.stats_mut(host).requests += 1;
        self.pending.push_back(id);
        Ok(id)
    }

    /// Abandons a request: no further event comes for it. A connection in the middle of
    /// its exchange is closed (its state is unknown); a waiting request leaves the queue.
    pub fn cancel(&mut self, id: RequestId) {
        let Some(req) = self.reqs.remove(id) else {
            return;
        };
        match req.conn {
            Some(cid) => self.close_conn(cid, CloseCause::Canceled),
            None => self.unqueue(id, &req),
        }
    }

    /// The caller will not read the rest of this response's body: the engine drains it
    /// in the background (up to `drain_limit` bytes and `drain_timeout`) so the
    /// connection can be reused, or closes the connection. No further event comes.
    pub fn discard(&mut self, id: RequestId) {
        self.discard_body(id);
    }

    /// Resumes reading a response paused with [`Flow::Pause`].
    pub fn resume(&mut self, id: RequestId) {
        let Some(cid) = self.reqs.get(id).and_then(|r| r.conn) else {
            return;
        };
        if let Some(conn) = self.conns.get_mut(cid) {
            if conn.paused {
                conn.paused = false;
                self.ready.push(cid);
            }
        }
    }

    /// Closes every idle connection.
    pub fn close_idle(&mut self) {
        for cid in self.pools.drain_idle() {
            self.close_conn(cid, CloseCause::Shutdown);
        }
        self.free_closed();
    }

    /// A snapshot of the pool's counters, per host and in total.
    pub fn stats(&self) -> Stats {
        self.pools.snapshot()
    }

    /// Runs one turn of the loop: waits up to `timeout` (or the next deadline) for
    /// readiness, drives the affected connections and reports through `on_event`.
    /// Returns the number of events reported.
    pub fn poll<F>(&mut self, timeout: Option<Duration>, mut on_event: F) -> io::Result<usize>
    where
        F: FnMut(Event<'_>) -> Flow,
    {
        let reported = std::cell::Cell::new(0usize);
        let mut sink = |ev: Event<'_>| {
            reported.set(reported.get() + 1);
            on_event(ev)
        };
        self.now = Instant::now();
        self.settle(&mut sink);
        self.flush_outbox(&mut sink);
        let mut wait = timeout;
        if let Some(at) = self.timers.next_at() {
            let until = at.saturating_duration_since(self.now);
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        if !self.pending.is_empty() || !self.ready.is_empty() || reported.get() > 0 {
            wait = Some(Duration::ZERO);
        }
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.now = Instant::now();
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let mut woken = false;
        for event in events.iter() {
            if event.token() == WAKER_TOKEN {
                woken = true;
                continue;
            }
            let (cid, slot) = from_token(event.token());
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_write_closed() || event.is_error();
            let read_closed = event.is_read_closed();
            self.handle_ready(cid, slot, readable, writable, read_closed, &mut sink);
        }
        self.events = events;
        if woken {
            self.handle_dns_answers();
        }
        self.fire_deadlines(&mut sink);
        self.settle(&mut sink);
        self.flush_outbox(&mut sink);
        self.free_closed();
        Ok(reported.get())
    }

    /// Fails every request with `PoolClosed` and closes every connection.
    pub fn shutdown<F>(&mut self, mut on_event: F)
    where
        F: FnMut(Event<'_>) -> Flow,
    {
        for id in self.reqs.ids() {
            if let Some(req) = self.reqs.remove(id) {
                if req.conn.is_none() {
                    self.unqueue(id, &req);
                }
                on_event(Event::Failed {
                    id,
                    error: Error::new(ErrorKind::PoolClosed),
                });
            }
        }
        for cid in self.conns.ids().collect::<Vec<_>>() {
            self.close_conn(cid, CloseCause::Shutdown);
        }
        self.pending.clear();
        self.freed_hosts.clear();
        self.free_closed();
    }

    // ---- settling: giving requests connections ----------------------------------------

    /// Runs queued work until none is left: resumed and draining connections, pending
    /// requests, hosts with freed capacity.
    ///
    /// Connections go first: a body dropped just before the next request was sent is
    /// often already in the socket, and draining it first lets that request reuse the
    /// connection instead of dialing a new one.
    fn settle(&mut self, sink: Sink<'_>) {
        loop {
            if let Some(cid) = self.ready.pop() {
                self.drive_read(cid, sink);
            } else if let Some(id) = self.pending.pop_front() {
                self.dispatch(id, sink);
            } else if let Some((cid, id)) = self.handoffs.pop() {
                self.take_handoff(cid, id, sink);
            } else if let Some(host) = self.freed_hosts.pop() {
                self.serve_waiters(host);
            } else {
                break;
            }
        }
    }

    /// Gives request `id` an idle connection, a new one, or a place in the wait queue.
    fn dispatch(&mut self, id: RequestId, sink: Sink<'_>) {
        let now = self.now;
        let Some(req) = self.reqs.get(id) else { return };
        let host = req.host;
        if !req.fresh_only {
            while let Some((cid, since)) = self.pools.pop_idle(host) {
                let usable = self.conns.get(cid).is_some_and(|c| {
                    !c.is_expired(now)
                        && now.saturating_duration_since(since) < self.config.idle_timeout
                });
                if !usable {
                    let cause = if self.conns.get(cid).is_some_and(|c| c.is_expired(now)) {
                        CloseCause::Lifetime
                    } else {
                        CloseCause::IdleTimeout
                    };
                    self.close_idle_conn(cid, cause);
                    continue;
                }
                if let Some(req) = self.reqs.get_mut(id) {
                    req.info.idle_for = Some(now.saturating_duration_since(since));
                }
                self.reuse(cid, id, sink);
                return;
            }
        }
        if self.pools.can_open(host) {
            self.open_conn(host, id);
        } else {
            self.pools.push_waiter(host, id.0);
            if let Some(req) = self.reqs.get_mut(id) {
                req.queued_at = Some(now);
                if let Some(at) = req.deadline {
                    if req.timers.set(Deadline::Total, at) {
                        self.timers.push(at, Owner::Request(id.0), Deadline::Total);
                    }
                }
            }
        }
    }

    /// Puts an idle (or just released) connection to work for request `id`.
    fn reuse(&mut self, cid: usize, id: RequestId, sink: Sink<'_>) {
        if let Some(conn) = self.conns.get_mut(cid) {
            conn.deadlines.clear(Deadline::IdleExpiry);
            conn.deadlines.clear(Deadline::Lifetime);
        }
        self.start_exchange(cid, id, sink);
    }

    /// Dials a new connection for request `id`.
    fn open_conn(&mut self, host: HostId, id: RequestId) {
        let now = self.now;
        self.pools.conn_opened(host);
        self.pools.stats_mut(host).dials += 1;
        let expires_at = self
            .config
            .max_conn_lifetime
            .and_then(|life| now.checked_add(self.jittered(life)));
        let parser = ResponseParser::new(self.config.head_limits);
        self.conn_serial += 1;
        let conn = Conn::new(host, self.conn_serial, id, now, expires_at, parser);
        let cid = self.conns.insert(conn);
        self.arm_after(cid, Deadline::Connect, self.config.connect_timeout);
        let deadline = match self.reqs.get_mut(id) {
            Some(req) => {
                req.conn = Some(cid);
                req.deadline
            }
            None => None,
        };
        if let Some(at) = deadline {
            self.set_conn_deadline(cid, Deadline::Total, at);
        }
        let key = self.pools.key(host);
        match self.resolver.lookup(key.host(), key.port(), now) {
            Lookup::Ready(addrs) => self.start_dial(cid, &addrs),
            Lookup::Pending => self.resolving.push(cid),
        }
    }

    /// The TLS configuration, built on first use from the system trust store when the
    /// config gives none.
    pub(crate) fn tls_config(&mut self) -> Result<TlsConfig, Error> {
        if self.tls.is_none() {
            let built = match &self.config.tls {
                Some(tls) => tls.clone(),
                None => TlsConfig::builder()
                    .build()
                    .map_err(|e| Error::with_source(ErrorKind::Tls, e))?,
            };
            self.tls = Some(built);
        }
        match &self.tls {
            Some(tls) => Ok(tls.clone()),
            None => Err(Error::new(ErrorKind::Tls)),
        }
    }

    /// `life` shortened by up to `lifetime_jitter` of itself, at random.
    fn jittered(&mut self, life: Duration) -> Duration {
        // xorshift64: cheap, and good enough to spread expiries.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        // `validate` keeps the jitter in 0..=1; a lifetime too long for f64 seconds is
        // kept as it is (it means "never" anyway).
        let cut = self.config.lifetime_jitter.clamp(0.0, 1.0) * unit;
        Duration::try_from_secs_f64(life.as_secs_f64() * (1.0 - cut)).unwrap_or(life)
    }

    /// A connection finished a response and may be reused: give it to the first waiter,
    /// or put it in the idle pool.
    pub(crate) fn release(&mut self, cid: usize) {
        let now = self.now;
        let Some(conn) = self.conns.get(cid) else {
            return;
        };
        let host = conn.host;
        if self
            .config
            .max_requests_per_conn
            .is_some_and(|max| conn.served >= max)
        {
            return self.close_conn(cid, CloseCause::MaxRequests);
        }
        if conn.is_expired(now) {
            return self.close_conn(cid, CloseCause::Lifetime);
        }
        // A readable flag still set means unread bytes or EOF may be waiting.
        self.set_state(cid, State::Idle);
        self.check_idle(cid);
        if self
            .conns
            .get(cid)
            .map_or(true, |c| !matches!(c.state, State::Idle))
        {
            return;
        }
        while let Some(waiter) = self.pools.pop_waiter(host) {
            let id = RequestId(waiter);
            let Some(req) = self.reqs.get_mut(id) else {
                continue;
            };
            req.info.queued = req
                .queued_at
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            req.timers.clear(Deadline::Total);
            if req.fresh_only {
                // A retry after a stale connection must not meet another used one. This
                // connection makes room for the new one the retry dials.
                self.close_conn(cid, CloseCause::Evicted);
                self.open_conn(host, id);
                return;
            }
            req.info.idle_for = Some(Duration::ZERO);
            self.pending_handoff(cid, id);
            return;
        }
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        let buf = conn.rbuf.detach();
        if !buf.is_empty() && self.spare_bufs.len() < MAX_SPARE_BUFFERS {
            self.spare_bufs.push(buf);
        }
        let parser = std::mem::replace(
            &mut conn.parser,
            ResponseParser::new(self.config.head_limits),
        );
        if self.spare_parsers.len() < MAX_SPARE_BUFFERS {
            self.spare_parsers.push(parser);
        }
        // The write buffer keeps its (small) capacity: the next request's head is
        // encoded into it without allocating.
        let expires_at = conn.expires_at;
        for evicted in self.pools.push_idle(host, cid, now) {
            self.close_idle_conn(evicted, CloseCause::Evicted);
        }
        if !self.pools.is_idle(cid) {
            return;
        }
        self.arm_after(cid, Deadline::IdleExpiry, self.config.idle_timeout);
        if let Some(at) = expires_at {
            self.set_conn_deadline(cid, Deadline::Lifetime, at);
        }
    }

    /// Hands a released connection to a waiter at the next settle (keeps `release`
    /// free of callbacks).
    fn pending_handoff(&mut self, cid: usize, id: RequestId) {
        if let Some(req) = self.reqs.get_mut(id) {
            req.conn = Some(cid);
        }
        self.handoffs.push((cid, id));
    }

    /// Starts a handed-off exchange, unless the connection died in between (then the
    /// request is dispatched again).
    fn take_handoff(&mut self, cid: usize, id: RequestId, sink: Sink<'_>) {
        if self.reqs.get(id).is_none() {
            // Canceled meanwhile: the connection goes back through release.
            if self
                .conns
                .get(cid)
                .is_some_and(|c| matches!(c.state, State::Idle))
            {
                self.release(cid);
            }
            return;
        }
        if self
            .conns
            .get(cid)
            .is_some_and(|c| matches!(c.state, State::Idle))
        {
            self.reuse(cid, id, sink);
        } else {
            if let Some(req) = self.reqs.get_mut(id) {
                req.conn = None;
            }
            self.pending.push_back(id);
        }
    }

    /// Dials for waiters of `host` while its connection limit allows.
    fn serve_waiters(&mut self, host: HostId) {
        let now = self.now;
        while self.pools.can_open(host) {
            let Some(waiter) = self.pools.pop_waiter(host) else {
                break;
            };
            let id = RequestId(waiter);
            if let Some(req) = self.reqs.get_mut(id) {
                req.info.queued = req
                    .queued_at
                    .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                req.timers.clear(Deadline::Total);
                self.open_conn(host, id);
            }
        }
    }

    /// Closes an idle connection that is still in the pool.
    fn close_idle_conn(&mut self, cid: usize, cause: CloseCause) {
        self.pools.remove_idle(cid);
        self.close_conn(cid, cause);
    }

    /// Closes connection `cid` (any state). The caller deals with its request, if any.
    pub(crate) fn close_conn(&mut self, cid: usize, cause: CloseCause) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        if matches!(conn.state, State::Closed { .. }) {
            return;
        }
        let host = conn.host;
        if matches!(conn.state, State::Idle) {
            self.pools.remove_idle(cid);
        }
        if matches!(
            conn.state,
            State::Resolving { .. } | State::Connecting { .. } | State::Handshaking { .. }
        ) {
            self.pools.dial_finished(host);
        }
        if let Some(mut transport) = conn.transport.take() {
            transport.close_notify();
            let _ = self.poll.registry().deregister(transport.stream_mut());
        }
        if let State::Connecting { dial, .. } = &mut conn.state {
            for attempt in dial.attempts.iter_mut() {
                if let Some(mut s) = attempt.take() {
                    let _ = self.poll.registry().deregister(&mut s);
                }
            }
        }
        conn.deadlines.clear_all();
        let buf = conn.rbuf.detach();
        if !buf.is_empty() && self.spare_bufs.len() < MAX_SPARE_BUFFERS {
            self.spare_bufs.push(buf);
        }
        self.set_state(cid, State::Closed { cause });
        self.pools.conn_closed(host);
        self.pools.stats_mut(host).closes.record(cause);
        self.resolving.retain(|&c| c != cid);
        self.to_free.push(cid);
        self.freed_hosts.push(host);
    }

    /// Retries `id` on a fresh connection if it failed on a reused one before any
    /// response byte, is idempotent, and has retries left; otherwise reports `err`.
    pub(crate) fn fail_or_retry(&mut self, id: RequestId, err: Error) {
        let max = self.config.max_retries;
        let Some(req) = self.reqs.get_mut(id) else {
            return;
        };
        let retry = req.info.reused
            && !req.got_response_bytes
            && req.idempotent
            && req.info.retries < max
            && matches!(err.kind(), ErrorKind::ConnectionClosed | ErrorKind::Io);
        if retry {
            req.info.retries += 1;
            req.info.reused = false;
            req.fresh_only = true;
            req.conn = None;
            let host = req.host;
            self.pools.stats_mut(host).retries += 1;
            self.pending.push_back(id);
            return;
        }
        let safe = req.idempotent || err.is_retry_safe();
        self.reqs.remove(id);
        self.outbox.push((id, Err(err.retry_safe(safe))));
    }

    /// Takes a request without a connection out of the pending list or wait queue.
    pub(crate) fn unqueue(&mut self, id: RequestId, req: &Req) {
        self.pools.remove_waiter(req.host, id.0);
        self.pending.retain(|p| *p != id);
    }

    // ---- DNS and deadlines --------------------------------------------------------------

    fn handle_dns_answers(&mut self) {
        while let Some(answer) = self.resolver.poll_answer(self.now) {
            let waiting: Vec<usize> = self
                .resolving
                .iter()
                .copied()
                .filter(|&cid| {
                    self.conns.get(cid).is_some_and(|c| {
                        let key = self.pools.key(c.host);
                        key.port() == answer.port && key.host().eq_ignore_ascii_case(&answer.host)
                    })
                })
                .collect();
            self.resolving.retain(|c| !waiting.contains(c));
            for cid in waiting {
                let started = match self.conns.get(cid).map(|c| &c.state) {
                    Some(State::Resolving { started, req }) => Some((*started, *req)),
                    _ => None,
                };
                let Some((started, rid)) = started else {
                    continue;
                };
                if let Some(req) = self.reqs.get_mut(rid) {
                    req.info.dns = Some(self.now.saturating_duration_since(started));
                }
                match &answer.result {
                    Ok(addrs) => self.start_dial(cid, addrs),
                    Err(e) => self.fail_conn(cid, Error::with_source(ErrorKind::Dns, e.clone())),
                }
            }
        }
    }

    fn fire_deadlines(&mut self, sink: Sink<'_>) {
        let now = self.now;
        while let Some((at, owner, kind)) = self.timers.pop_due(now) {
            match owner {
                Owner::Conn(cid) => {
                    let Some(conn) = self.conns.get_mut(cid) else {
                        continue;
                    };
                    match conn.deadlines.on_pop(kind, at, now) {
                        Popped::Fire => self.on_conn_deadline(cid, kind, sink),
                        Popped::Rearm(t) => self.timers.push(t, owner, kind),
                        Popped::Stale => {}
                    }
                }
                Owner::Request(raw) => {
                    let id = RequestId(raw);
                    let Some(req) = self.reqs.get_mut(id) else {
                        continue;
                    };
                    if req.conn.is_some() {
                        continue;
                    }
                    match req.timers.on_pop(kind, at, now) {
                        Popped::Fire => {
                            if let Some(req) = self.reqs.remove(id) {
                                self.unqueue(id, &req);
                                let err = Error::msg(
                                    ErrorKind::Timeout,
                                    "timed out waiting for a connection",
                                );
                                self.outbox.push((id, Err(err)));
                            }
                        }
                        Popped::Rearm(t) => self.timers.push(t, owner, kind),
                        Popped::Stale => {}
                    }
                }
            }
        }
    }

    fn on_conn_deadline(&mut self, cid: usize, kind: Deadline, sink: Sink<'_>) {
        match kind {
            Deadline::Connect => self.fail_conn(cid, Error::new(ErrorKind::ConnectTimeout)),
            Deadline::HappyEyeballs => self.next_attempt(cid),
            Deadline::TlsHandshake => {
                let err = Error::new(ErrorKind::TlsHandshakeTimeout).retry_safe(true);
                self.fail_conn(cid, err);
            }
            Deadline::ResponseHead => {
                self.fail_conn(cid, Error::new(ErrorKind::ResponseHeaderTimeout))
            }
            Deadline::ExpectContinue => self.send_body(cid, sink),
            Deadline::Total => self.fail_conn(cid, Error::new(ErrorKind::Timeout)),
            Deadline::Drain => self.close_conn(cid, CloseCause::NotReusable),
            Deadline::IdleExpiry => self.close_conn(cid, CloseCause::IdleTimeout),
            Deadline::Lifetime => {
                if self
                    .conns
                    .get(cid)
                    .is_some_and(|c| matches!(c.state, State::Idle))
                {
                    self.close_conn(cid, CloseCause::Lifetime);
                }
            }
        }
    }

    fn flush_outbox(&mut self, sink: Sink<'_>) {
        // Swap in the spare vector so neither is reallocated turn after turn.
        let mut outbox = std::mem::take(&mut self.spare_outbox);
        std::mem::swap(&mut outbox, &mut self.outbox);
        for (id, outcome) in outbox.drain(..) {
            match outcome {
                Ok(info) => sink(Event::Done { id, info }),
                Err(error) => sink(Event::Failed { id, error }),
            };
        }
        self.spare_outbox = outbox;
    }

    fn free_closed(&mut self) {
        for cid in std::mem::take(&mut self.to_free) {
            self.conns.remove(cid);
        }
    }
}

/// Encodes `request`'s head (origin form; body framing from its method and length).
pub(crate) fn encode_request_head(request: &Request<Body>, out: &mut Vec<u8>) -> Result<(), Error> {
    let head = RequestHead {
        method: request.method(),
        uri: request.uri(),
        headers: request.headers(),
        form: TargetForm::Origin,
        framing: request_framing(request.method(), request.body().len()),
    };
    http1_codec::encode_head(&head, out).map_err(Error::from)
}

/// Request body framing: a length when there is a body or the method expects one.
fn request_framing(method: &http::Method, len: usize) -> RequestFraming {
    if len == 0
        && !matches!(
            *method,
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        )
    {
        RequestFraming::None
    } else {
        RequestFraming::Length(len as u64)
    }
}
