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
//!            └──── fire due deadlines ◄──── Conn transitions (conn/) ─► Next
//!                                                  │ Head, Data (borrowed)   │
//!                                                  ▼                         ▼
//!                                           the caller's callback     apply(): pools,
//!                                                                      wait queues,
//!                                                                      retries, Done/Failed
//! ```
//!
//! **A connection decides, the engine applies.** The engine lends a connection the
//! request it carries and a [`Ctx`] (this turn's instant, the settings, the deadline
//! heap, the poller's registry, the caller's sink), runs one transition, and applies the
//! [`Next`] it returns in one place ([`Engine::apply`]): count a dial or a handshake,
//! start the request's exchange, report a request done and release or close the
//! connection, or fail the exchange (and retry the request when that is safe). Which
//! request gets which connection — idle reuse, a new dial, the wait queue, hand-offs —
//! is `settle.rs`; the policies about the server (idle limits from the `Keep-Alive` hint
//! and from learned limits, retiring and watching, the retry budget, DNS refresh, dial
//! spread and rebalancing) are `policies.rs`; the request table is `requests.rs`; buffer
//! recycling is `spares.rs`.
//!
//! The engine reads the clock once per turn, and again around a TLS handshake (whose
//! CPU cost is spent inside a turn and would otherwise be charged to the phases around
//! it in the timings and trace events). Body data is handed to the callback as a
//! slice of the connection's read buffer; the callback answers [`Flow::Pause`] to stop
//! reading that socket until [`Engine::resume`] (this is how the blocking
//! [`Client`](crate::Client) bounds memory for slow readers).

mod policies;
mod requests;
mod settle;
mod spares;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use mio::{Events, Poll, Token, Waker};
use tls_glue::{HandshakeKind, TlsConfig, TlsSession};

use crate::body::{Body, Outgoing};
use crate::config::Config;
use crate::conn::{from_token, Conn, Ctx, Hop, Next, Readiness, State};
use crate::dns::Resolver;
use crate::error::{Error, ErrorKind};
use crate::event::Sink;
use crate::pool::{CloseCause, HostId, PoolKey, PoolLimits, Pools, Scheme, Stats};
use crate::request::{
    encode_connect_head, encode_request_head, is_idempotent, Flow, HeadForm, Place, Req, RequestId,
    RequestInfo, RequestOptions,
};
use crate::route::{DialTarget, EnvProxies, Route, Routes};
use crate::slab::Slab;
use crate::timer::{Deadline, Owner, Popped, Timers};
use crate::trace::{
    BodyDone, Canceled, ConnClosed, DnsDone, RequestFailed, RequestTracer, Retry, TlsDone,
    TlsHandshake, TlsStart, Tracer, Tracers,
};

pub use crate::event::Event;

use requests::Requests;
use settle::Work;
use spares::Spares;

/// The token of the engine's waker (resolver answers, cross-thread commands).
const WAKER_TOKEN: Token = Token(usize::MAX);

/// Readiness events taken from the kernel per `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// The connection-pool engine: one thread, one `mio::Poll`, every connection and pool it
/// touches, nothing shared or locked.
///
/// Drive it on your own thread: [`submit`](Engine::submit) requests, then call
/// [`poll`](Engine::poll) in a loop. Each call is one turn:
///
/// ```text
///  submit() ──► pending ─┐
///                        ▼
///  poll(): settle ─► mio poll (timeout = next deadline) ─► dispatch events by token
///            ▲                                               │ readable / writable
///            │                                               ▼
///            └──── fire due deadlines ◄──── connection state machines
///                                                  │
///                                                  ▼
///                     your callback: Event::Head, Data (borrowed slices), Done, Failed
/// ```
///
/// "Settle" hands each pending request a connection: the host's most recently idled one
/// (LIFO by default), else a new dial if `max_conns_per_host` allows, else a place in the
/// host's FIFO wait queue. A connection whose response was read to its framed end goes to
/// the first waiter or back to the idle pool. Body bytes are handed to the callback as a
/// slice of the connection's read buffer (no copy); answer [`Flow::Pause`] to stop
/// reading that socket until [`resume`](Engine::resume). The engine reads the clock once
/// per turn, and every wait has a deadline, so a turn never blocks past `timeout`.
///
/// This is the lowest-latency way in (like curl's multi interface, or wrk); the blocking
/// [`Client`](crate::Client) runs an `Engine` on a thread of its own.
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use wirepool::http::Request;
/// use wirepool::{Body, Config, Engine, Event, Flow};
///
/// # // A one-response server on loopback, so the example runs anywhere.
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let url = format!("http://{}/", listener.local_addr()?);
/// # std::thread::spawn(move || {
/// #     let (mut sock, _) = listener.accept().unwrap();
/// #     let mut buf = [0u8; 1024];
/// #     let _ = sock.read(&mut buf);
/// #     sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap();
/// # });
/// let mut engine = Engine::new(Config::default())?;
/// let id = engine.submit(Request::get(url.as_str()).body(Body::empty())?)?;
/// let (mut status, mut body, mut finished) = (0, Vec::new(), false);
/// while !finished {
///     engine.poll(Some(Duration::from_millis(100)), |event| {
///         match event {
///             Event::Head { head, .. } => status = head.status().as_u16(),
///             Event::Data { data, .. } => body.extend_from_slice(data),
///             Event::Done { id: done, info } => {
///                 assert_eq!(done, id);
///                 assert!(!info.reused); // the first request dials
///                 finished = true;
///             }
///             Event::Failed { error, .. } => panic!("{error}"),
///         }
///         Flow::Continue
///     })?;
/// }
/// assert_eq!((status, &body[..]), (200, &b"hello"[..]));
/// assert_eq!(engine.stats().total.dials, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Engine {
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    config: Config,
    conns: Slab<Conn>,
    reqs: Requests,
    pools: Pools,
    timers: Timers,
    resolver: Resolver,
    /// Which route a new host takes (proxies, `NO_PROXY`, a Unix socket, `connect_to`):
    /// fixed when the engine is built.
    routes: Routes,
    /// Work deferred within a turn (see `settle.rs`).
    work: Work,
    spares: Spares,
    /// The TLS configuration for `https` (built from the system roots on first use
    /// when the config has none). Shared by every session: one resumption cache.
    tls: Option<TlsConfig>,
    /// This turn's instant.
    now: Instant,
    /// The serial number of the last connection opened (see `Conn::serial`).
    conn_serial: u64,
    /// xorshift state for lifetime jitter.
    rng: u64,
    /// The tracer of every request (see [`Engine::set_tracer`]).
    tracer: Option<Arc<dyn Tracer>>,
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
    ///
    /// Unless `proxy_from_env` is off (or `proxy` and `no_proxy` are both set), the proxy
    /// variables of the environment are read here, once (see `docs/proxies.md`).
    ///
    /// A TLS configuration that does not verify certificates
    /// (`danger_accept_invalid_certs_for_testing_only`) is logged here at warn level
    /// (target `wirepool::tls`), once per engine.
    pub fn new(config: Config) -> Result<Engine, Error> {
        config.validate()?;
        let config = config.prepared();
        if config
            .tls
            .as_ref()
            .is_some_and(|tls| !tls.verifies_certificates())
        {
            // Said once per engine, where any log backend shows it: off is never quiet.
            log::warn!(
                target: "wirepool::tls",
                "TLS certificate verification is OFF for this engine \
                 (danger_accept_invalid_certs_for_testing_only): any server can pose as any \
                 https host, and anyone on the path can read and change the traffic"
            );
        }
        let io_error = |e| Error::with_source(ErrorKind::Io, e);
        let poll = Poll::new().map_err(io_error)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN).map_err(io_error)?);
        let threads = config.resolver_threads.max(1);
        let mut resolver = match &config.resolver {
            Some(custom) => Resolver::with_lookup_fn(
                Arc::clone(&waker),
                threads,
                config.dns_ttl,
                custom.lookup_fn(),
            ),
            None => Resolver::new(Arc::clone(&waker), threads, config.dns_ttl),
        };
        for rule in &config.resolve {
            resolver.fix(rule.host(), rule.port(), rule.addrs());
        }
        let routes = Routes::new(&config, EnvProxies::from_process);
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
            routes,
            work: Work::default(),
            spares: Spares::default(),
            tls: None,
            now,
            conn_serial: 0,
            rng: seed | 1,
            tracer: None,
        })
    }

    /// The engine's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Installs `tracer` for every request (`None` removes it): its hooks are called on
    /// this engine's thread as requests and connections move along (see
    /// [`trace`](crate::trace)). A request's own [`RequestTracer`] is called as well.
    pub fn set_tracer(&mut self, tracer: Option<Arc<dyn Tracer>>) {
        self.tracer = tracer;
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
    /// [`poll`](Engine::poll). Fails at once if the request cannot be sent as given
    /// (among others: a body from a blocking reader, which only the
    /// [`Client`](crate::Client) sends; give the engine a [`BodySource`](crate::BodySource)).
    ///
    /// Credentials in the URL (`http://user:pass@host/`) are sent as
    /// `Authorization: Basic …` unless the request sets an `Authorization` of its own;
    /// they go only to that URL's origin.
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
        let (parts, body) = request.into_parts();
        let mut request = http::Request::from_parts(parts, ());
        let (scheme, host) = self.host_of(request.uri())?;
        let body = Outgoing::new(body)?;
        crate::auth::credentials_from_url(&mut request)?;
        let mut form = match self.pools.key(host).route() {
            Route::Proxy(proxy) if scheme == Scheme::Http => HeadForm {
                absolute: true,
                proxy_auth: proxy.authorization().cloned(),
                accept_encoding: false,
            },
            _ => HeadForm::default(),
        };
        form.accept_encoding = opts.ask_compressed;
        // Encode the head now: a bad request fails here and never on a connection, and
        // the bytes are ready for whichever connection carries the request.
        let mut encoded = self.spares.head();
        if let Err(e) = encode_request_head(&request, &body, &form, &self.config, &mut encoded) {
            self.spares.give_head(encoded);
            return Err(e);
        }
        let timeout = opts.timeout.or(self.config.timeout);
        // A timeout past the clock's range is no deadline at all.
        let deadline = match (timeout.and_then(|t| now.checked_add(t)), opts.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let idempotent = is_idempotent(request.method(), request.headers());
        let expect_continue = http1_codec::expects_continue(request.headers());
        // An empty extension map is a `None` inside: no lookup, no allocation.
        let tracer = request
            .extensions()
            .get::<RequestTracer>()
            .map(|t| Arc::clone(&t.0));
        let id = self.reqs.insert(Req {
            request,
            body,
            host,
            place: Place::Pending,
            deadline,
            submitted: now,
            idempotent,
            expect_continue,
            got_response_bytes: false,
            fresh_only: false,
            warm: false,
            head: encoded,
            form,
            info: RequestInfo::default(),
            tracer,
        });
        self.pools.stats_mut(host).requests += 1;
        self.pools.budget_mut(host).on_request(now);
        self.work.pending.push_back(id);
        Ok(id)
    }

    /// Opens up to `n` connections to `url`'s origin ahead of the first requests: TCP,
    /// any proxy tunnel and TLS handshakes included; each goes to the idle pool when it
    /// is up. Every limit holds: no more than `max_conns_per_host` allows to open, and
    /// no more than the idle pool (`max_idle_per_host`, `max_idle_total`) has room for.
    ///
    /// Returns one id per connection it is opening (fewer than `n` when a limit says
    /// so). Each reports [`Event::Done`] when its connection is up and idle, or
    /// [`Event::Failed`] with why it could not be opened (its total deadline is the
    /// configured `timeout`). The path of `url` is ignored.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidRequest`] for a URL without an `http`/`https` scheme or a
    /// host; [`ErrorKind::Proxy`] when the proxy for it cannot be used.
    pub fn prewarm(&mut self, url: &str, n: usize) -> Result<Vec<RequestId>, Error> {
        let now = Instant::now();
        let request = Request::get(url)
            .body(())
            .map_err(|e| Error::with_source(ErrorKind::InvalidRequest, e))?;
        let (_, host) = self.host_of(request.uri())?;
        let count = n
            .min(self.pools.open_room(host))
            .min(self.pools.idle_room(host));
        let deadline = self.config.timeout.and_then(|t| now.checked_add(t));
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.reqs.insert(Req {
                request: request.clone(),
                body: Outgoing::new(Body::empty())?,
                host,
                place: Place::Pending,
                deadline,
                submitted: now,
                idempotent: true,
                expect_continue: false,
                got_response_bytes: false,
                fresh_only: true,
                warm: true,
                head: Vec::new(),
                form: HeadForm::default(),
                info: RequestInfo::default(),
                tracer: None,
            });
            self.work.pending.push_back(id);
            ids.push(id);
        }
        Ok(ids)
    }

    /// The scheme and host pool of `uri`, the pool made (with its route) the first
    /// time the origin is seen.
    fn host_of(&mut self, uri: &http::Uri) -> Result<(Scheme, HostId), Error> {
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
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
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            return Err(Error::msg(ErrorKind::InvalidRequest, "the URL has no host"));
        };
        let port = uri.port_u16().unwrap_or_else(|| scheme.default_port());
        let id = match self.pools.find_host(scheme, host, port) {
            Some(id) => id,
            None => {
                let route = self.routes.route_for(scheme, host, port)?;
                let key = PoolKey::with_route(scheme, host, port, route);
                log::debug!(target: "wirepool::pool", "new pool {key}");
                self.pools.add_host(key)
            }
        };
        Ok((scheme, id))
    }

    /// Cancels a request, wherever it is: waiting in the queue, dialing, writing,
    /// waiting for its head or reading its body. A connection in the middle of its
    /// exchange is closed (its state is unknown); a waiting request leaves the queue.
    ///
    /// The outcome is reported like any other: the request ends with one
    /// [`Event::Failed`] of kind [`ErrorKind::Canceled`], in the next
    /// [`poll`](Engine::poll), and nothing else comes for it. Returns whether the
    /// request was still in flight; `false` (it had finished, failed, or been canceled
    /// or discarded before) means no event comes.
    pub fn cancel(&mut self, id: RequestId) -> bool {
        let Some(req) = self.reqs.remove(id) else {
            return false;
        };
        let on_conn = req.conn().filter(|&cid| self.carries(cid, id));
        self.trace_canceled(id, &req, on_conn, false);
        match req.place {
            Place::OnConn(cid) if on_conn.is_some() => self.close_conn(cid, CloseCause::Canceled),
            // Promised by a hand-off: the hand-off finds the request gone and releases
            // the connection again.
            Place::OnConn(_) => {}
            Place::Pending | Place::Queued { .. } => self.unqueue(id, &req),
        }
        log::debug!(target: "wirepool::pool", "{id}: canceled");
        self.work
            .outbox
            .push((id, Err(Error::new(ErrorKind::Canceled))));
        true
    }

    /// More of request `id`'s streamed body is ready: its [`BodySource`](crate::BodySource)
    /// answered [`Pull::Pending`](crate::Pull::Pending) and now has data (or its end).
    /// The connection writes on during the next [`poll`](Engine::poll). Calling it when
    /// nothing waits does nothing.
    pub fn body_ready(&mut self, id: RequestId) {
        let Some(cid) = self.reqs.get(id).and_then(Req::conn) else {
            return;
        };
        if self.carries(cid, id) {
            self.work.writers.push(cid);
        }
    }

    /// The caller will not read the rest of this response's body: the engine drains it
    /// in the background (up to `drain_limit` bytes and `drain_timeout`) so the
    /// connection can be reused, or closes the connection. No further event comes.
    pub fn discard(&mut self, id: RequestId) {
        let Some(req) = self.reqs.remove(id) else {
            return;
        };
        let on_conn = req.conn().filter(|&cid| self.carries(cid, id));
        self.trace_canceled(id, &req, on_conn, true);
        let cid = match req.place {
            Place::OnConn(cid) if on_conn.is_some() => cid,
            Place::OnConn(_) => return,
            Place::Pending | Place::Queued { .. } => return self.unqueue(id, &req),
        };
        let next = self.with_conn(cid, None, &mut |_| Flow::Continue, |conn, _, ctx| {
            conn.discard(ctx)
        });
        match next {
            Some(Next::Wait) => self.work.ready.push(cid),
            Some(Next::Close(cause)) => self.close_conn(cid, cause),
            _ => {}
        }
    }

    /// Resumes reading a response paused with [`Flow::Pause`].
    pub fn resume(&mut self, id: RequestId) {
        let Some(cid) = self.reqs.get(id).and_then(Req::conn) else {
            return;
        };
        if let Some(conn) = self.conns.get_mut(cid) {
            if conn.paused {
                conn.paused = false;
                self.work.ready.push(cid);
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
    pub fn poll<F>(&mut self, timeout: Option<Duration>, mut on_event: F) -> std::io::Result<usize>
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
        if self.work.has_work() || reported.get() > 0 {
            wait = Some(Duration::ZERO);
        }
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
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
            let readiness = Readiness {
                readable: event.is_readable() || event.is_read_closed() || event.is_error(),
                writable: event.is_writable() || event.is_write_closed() || event.is_error(),
                read_closed: event.is_read_closed(),
            };
            self.drive(cid, &mut sink, |conn, req, ctx| {
                conn.handle_ready(slot, readiness, req, ctx)
            });
        }
        self.events = events;
        if woken {
            self.handle_dns_answers(&mut sink);
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
                if req.conn().is_none() {
                    self.unqueue(id, &req);
                }
                let error = Error::new(ErrorKind::PoolClosed);
                self.trace_failed(id, &req, &error);
                on_event(Event::Failed { id, error });
            }
        }
        for cid in self.conns.ids().collect::<Vec<_>>() {
            self.close_conn(cid, CloseCause::Shutdown);
        }
        self.work.clear();
        self.free_closed();
    }

    // ---- lending a connection its context, and applying what it decides -------------

    /// Whether connection `cid` is working on request `id` (not merely promised it).
    fn carries(&self, cid: usize, id: RequestId) -> bool {
        self.conns
            .get(cid)
            .is_some_and(|c| c.state.request() == Some(id))
    }

    /// Runs transition `f` of connection `cid` with the request `rid` (default: the one
    /// its state names) and a [`Ctx`]; returns what it decided, or `None` if the
    /// connection is gone.
    fn with_conn(
        &mut self,
        cid: usize,
        rid: Option<RequestId>,
        sink: Sink<'_>,
        f: impl FnOnce(&mut Conn, Option<&mut Req>, &mut Ctx<'_>) -> Next,
    ) -> Option<Next> {
        let Engine {
            conns,
            reqs,
            timers,
            config,
            poll,
            now,
            tracer,
            spares,
            ..
        } = self;
        let conn = conns.get_mut(cid)?;
        let req = rid
            .or_else(|| conn.state.request())
            .and_then(|id| reqs.get_mut(id));
        let mut ctx = Ctx {
            now: *now,
            config,
            cid,
            timers,
            registry: poll.registry(),
            sink,
            tracer: tracer.as_deref(),
            scratch: spares.read_scratch(),
        };
        Some(f(conn, req, &mut ctx))
    }

    /// Runs transition `f` of connection `cid` and applies its decision.
    fn drive(
        &mut self,
        cid: usize,
        sink: Sink<'_>,
        f: impl FnOnce(&mut Conn, Option<&mut Req>, &mut Ctx<'_>) -> Next,
    ) {
        if let Some(next) = self.with_conn(cid, None, sink, f) {
            self.apply(cid, next, sink);
        }
    }

    /// Applies what connection `cid` decided. The one place where a connection's
    /// decisions reach the pools, the request table and the caller.
    fn apply(&mut self, cid: usize, next: Next, sink: Sink<'_>) {
        if matches!(
            next,
            Next::NeedsTls { .. } | Next::NeedsTunnel | Next::Connected { .. }
        ) {
            self.note_peer(cid);
            // What follows a TLS handshake (the proxy's or the origin's) is applied
            // here: the handshake ended.
            self.handshake_finished(cid);
        }
        match next {
            Next::Wait => {}
            Next::NeedsTls { hop } => match self.tls_session(cid, hop) {
                Ok(session) => {
                    // A handshake costs CPU inside this turn (key exchange, certificate
                    // checks): the clock is read around it so that its time is its own,
                    // not charged to the phase before or after it.
                    self.now = Instant::now();
                    self.trace_tls_start(cid, &session, hop);
                    self.drive(cid, sink, |conn, _, ctx| {
                        conn.start_handshake(session, hop, ctx)
                    })
                }
                Err(e) => self.fail_conn(cid, e),
            },
            Next::NeedsTunnel => match self.connect_head(cid) {
                Ok(head) => {
                    if let Some(conn) = self.conns.get_mut(cid) {
                        self.spares.equip(conn, self.config.head_limits);
                    }
                    self.drive(cid, sink, |conn, _, ctx| conn.start_tunnel(head, ctx))
                }
                Err(e) => self.fail_conn(cid, e),
            },
            Next::Connected { tls } => {
                let Some(conn) = self.conns.get(cid) else {
                    return;
                };
                let (host, is_tls, rid) = (conn.host, conn.plan.tls, conn.state.request());
                self.pools.dial_finished(host);
                let connect = rid.and_then(|id| self.reqs.get(id)?.info.connect);
                let counters = self.pools.stats_mut(host);
                if let Some(d) = connect {
                    counters.timings.connect.record(d);
                }
                if is_tls {
                    if tls.is_some_and(HandshakeKind::is_resumed) {
                        counters.tls_resumed_handshakes += 1;
                    } else {
                        counters.tls_full_handshakes += 1;
                    }
                }
                let Some(rid) = rid else { return };
                if self.reqs.get(rid).is_some_and(|r| r.warm) {
                    // Pre-warmed: the connection is what was asked for.
                    self.finish_request(rid);
                    self.release(cid, sink);
                } else {
                    self.start_exchange(cid, rid, sink);
                }
            }
            Next::Finished { req, reuse } => {
                if let Some(rid) = req {
                    self.note_response(cid, rid);
                    self.finish_request(rid);
                }
                match reuse {
                    Ok(()) => self.release(cid, sink),
                    Err(cause) => self.close_conn(cid, cause),
                }
            }
            Next::Close(cause) => self.close_conn(cid, cause),
            Next::Fail(err) => self.fail_conn(cid, err),
        }
    }

    /// If connection `cid` was handshaking, its handshake just finished: `tls_done`, and
    /// for the origin's, `RequestInfo::tls` and the TLS histogram.
    fn handshake_finished(&mut self, cid: usize) {
        let Some(conn) = self.conns.get(cid) else {
            return;
        };
        let State::Handshaking { hop, started, .. } = conn.state else {
            return;
        };
        let (host, rid) = (conn.host, conn.state.request());
        // See `NeedsTls`: the handshake's CPU time is its own.
        self.now = Instant::now();
        let took = self.now.saturating_duration_since(started);
        self.trace_tls_done(cid, hop, took, Ok(()));
        if hop == Hop::Origin {
            if let Some(req) = rid.and_then(|id| self.reqs.get_mut(id)) {
                req.info.tls = Some(took);
            }
            self.pools.stats_mut(host).timings.tls.record(took);
        }
    }

    /// Records in the stats the address connection `cid`'s connect reached.
    fn note_peer(&mut self, cid: usize) {
        if let Some(conn) = self.conns.get_mut(cid) {
            if let Some(peer) = conn.peer.take() {
                self.pools.set_peer(conn.host, peer);
                self.connected_to(cid, peer);
            }
        }
    }

    /// A new TLS session for connection `cid`: for its origin's host name, or its
    /// proxy's.
    fn tls_session(&mut self, cid: usize, hop: Hop) -> Result<TlsSession, Error> {
        let tls = self.tls_config()?;
        let host = self
            .conns
            .get(cid)
            .map(|c| c.host)
            .ok_or_else(|| Error::new(ErrorKind::Io))?;
        let key = self.pools.key(host);
        let name = match (hop, key.route()) {
            (Hop::Proxy, Route::Proxy(proxy)) => proxy.host(),
            _ => key.host(),
        };
        tls.new_session(crate::route::unbracket(name))
            .map_err(|e| Error::with_source(ErrorKind::Tls, e))
    }

    /// The `CONNECT` request that opens connection `cid`'s tunnel to its origin.
    fn connect_head(&mut self, cid: usize) -> Result<Vec<u8>, Error> {
        let host = self
            .conns
            .get(cid)
            .map(|c| c.host)
            .ok_or_else(|| Error::new(ErrorKind::Io))?;
        let key = self.pools.key(host);
        let auth = match key.route() {
            Route::Proxy(proxy) => proxy.authorization().map(|a| &**a),
            _ => None,
        };
        let mut head = self.spares.head();
        encode_connect_head(
            crate::route::unbracket(key.host()),
            key.port(),
            auth,
            &self.config,
            &mut head,
        )?;
        Ok(head)
    }

    /// Where connections of `host` dial (see [`dial_target`]).
    fn dial_target(&self, host: HostId) -> DialTarget<'_> {
        dial_target(&self.pools, &self.routes, host)
    }

    /// The TLS configuration, built on first use from the system trust store when the
    /// config gives none.
    fn tls_config(&mut self) -> Result<TlsConfig, Error> {
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

    /// Arms deadline `kind` of connection `cid` at `at` (for the engine's own
    /// decisions: idle expiry, lifetime, the total deadline of a new dial).
    fn arm_conn(&mut self, cid: usize, kind: Deadline, at: Instant) {
        if let Some(conn) = self.conns.get_mut(cid) {
            if conn.deadlines.set(kind, at) {
                self.timers.push(at, Owner::Conn(cid), kind);
            }
        }
    }

    // ---- endings ----------------------------------------------------------------------

    /// Request `rid` got its whole response: report it done.
    fn finish_request(&mut self, rid: RequestId) {
        if let Some(mut req) = self.reqs.remove(rid) {
            let now = self.now;
            req.info.total = now.saturating_duration_since(req.submitted);
            // A pre-warm is no request: its connection is up, nothing was sent.
            if !req.warm {
                let timings = &mut self.pools.stats_mut(req.host).timings;
                timings.ttfb.record(req.info.ttfb);
                timings.total.record(req.info.total);
                let info = &req.info;
                Tracers::new(self.tracer.as_deref(), req.tracer.as_deref()).emit(|t| {
                    t.body_done(&BodyDone {
                        at: now,
                        request: rid,
                        info,
                    })
                });
            }
            self.work.outbox.push((rid, Ok(req.info)));
            self.spares.give_head(std::mem::take(&mut req.head));
        }
    }

    /// Closes connection `cid` (any state). The caller deals with its request, if any.
    fn close_conn(&mut self, cid: usize, cause: CloseCause) {
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        match conn.state {
            State::Closed { .. } => return,
            State::Retiring { .. } => return self.end_watch(cid, cause),
            _ => {}
        }
        let host = conn.host;
        if matches!(conn.state, State::Idle) {
            let since = self.pools.idle_since(cid);
            self.pools.remove_idle(cid);
            if cause == CloseCause::ServerClose {
                // EOF or a reset on an idle connection: a silent close.
                let idle = since.map_or(Duration::ZERO, |s| self.now.saturating_duration_since(s));
                let served = conn.served;
                self.note_silent_close(host, served, idle, false);
            }
        }
        self.uncount_addr(cid);
        let Some(conn) = self.conns.get_mut(cid) else {
            return;
        };
        if conn.state.is_dialing() {
            self.pools.dial_finished(host);
        }
        log::debug!(target: "wirepool::pool", "conn#{} to {} closed: {cause}", conn.serial, self.pools.key(host));
        self.spares.strip(conn);
        // The connection is done with its request's tracer after this close.
        let req_tracer = conn.req_tracer.take();
        let trace = Tracers::new(self.tracer.as_deref(), req_tracer.as_deref());
        let now = self.now;
        trace.emit(|t| {
            t.conn_closed(&ConnClosed {
                at: now,
                request: conn.state.request(),
                conn_id: conn.serial,
                host: self.pools.key(host),
                cause,
                served: conn.served,
            })
        });
        conn.shut(self.poll.registry(), cause, trace, now);
        self.pools.conn_closed(host);
        self.pools.stats_mut(host).closes.record(cause);
        self.work.conn_closed(cid, host);
    }

    /// The exchange on `cid` failed: close the connection, then retry the request on a
    /// fresh connection if that is safe, else report the error.
    fn fail_conn(&mut self, cid: usize, err: Error) {
        let Some(conn) = self.conns.get(cid) else {
            return;
        };
        let conn_id = conn.serial;
        let rid = conn.state.request();
        if let State::Handshaking { hop, started, .. } = conn.state {
            let took = self.now.saturating_duration_since(started);
            self.trace_tls_done(cid, hop, took, Err(&err));
        }
        let cause = match err.kind() {
            ErrorKind::ConnectionClosed => CloseCause::ServerClose,
            _ => CloseCause::Error,
        };
        let (host, served) = (conn.host, conn.served);
        // A reused connection that ended before any response byte: the server closed
        // it silently (as the request went out).
        let silent = rid.and_then(|rid| self.reqs.get(rid)).and_then(|req| {
            let silent =
                cause == CloseCause::ServerClose && req.info.reused && !req.got_response_bytes;
            silent.then(|| req.info.idle_for.unwrap_or_default())
        });
        self.close_conn(cid, cause);
        if let Some(idle) = silent {
            self.note_silent_close(host, served, idle, true);
        }
        if let Some(rid) = rid {
            self.fail_or_retry(rid, conn_id, err);
        }
    }

    /// Retries `id` on a fresh connection if it failed on a reused one before any
    /// response byte, is idempotent, and has retries left; otherwise reports `err`.
    fn fail_or_retry(&mut self, id: RequestId, conn_id: u64, err: Error) {
        let max = self.config.max_retries;
        let Some(req) = self.reqs.get_mut(id) else {
            return;
        };
        let stale = req.info.reused
            && !req.got_response_bytes
            && req.idempotent
            && req.info.retries < max
            && matches!(err.kind(), ErrorKind::ConnectionClosed | ErrorKind::Io);
        let host = req.host;
        // Only a body that can start again is ever resent; a streamed one that cannot
        // gets the stale connection's error instead. (Rewound before the budget is
        // asked, so that a refusal here does not spend it.)
        let rewound = stale && req.body.rewind();
        if stale && !rewound {
            log::debug!(target: "wirepool::pool", "{id}: not resent after {err}: its streamed body cannot start again");
        }
        if rewound && self.budget_allows_retry(host) {
            let Some(req) = self.reqs.get_mut(id) else {
                return;
            };
            log::debug!(target: "wirepool::pool", "{id}: retried on a fresh connection after: {err}");
            req.info.retries += 1;
            let (at, attempt, error) = (self.now, req.info.retries, &err);
            Tracers::new(self.tracer.as_deref(), req.tracer.as_deref()).emit(|t| {
                t.retry(&Retry {
                    at,
                    request: id,
                    conn_id,
                    error,
                    attempt,
                })
            });
            // The next attempt's facts replace this one's: it goes out on a fresh
            // connection (no idle time) that it dials itself.
            let info = &mut req.info;
            (info.reused, info.idle_for, info.conn_requests) = (false, None, 0);
            (info.dns, info.connect, info.tls) = (None, None, None);
            req.fresh_only = true;
            req.place = Place::Pending;
            self.pools.stats_mut(host).retries += 1;
            self.work.pending.push_back(id);
            return;
        }
        let Some(req) = self.reqs.get(id) else {
            return;
        };
        let safe = req.idempotent || err.is_retry_safe();
        self.fail_request(id, err.retry_safe(safe));
    }

    /// Reports request `id` failed with `err` (it has no connection, or its connection
    /// was dealt with).
    fn fail_request(&mut self, id: RequestId, err: Error) {
        if let Some(req) = self.reqs.remove(id) {
            self.trace_failed(id, &req, &err);
            self.unqueue(id, &req);
            self.work.outbox.push((id, Err(err)));
        }
    }

    /// Takes a request without a connection out of the pending list or wait queue.
    fn unqueue(&mut self, id: RequestId, req: &Req) {
        match req.place {
            Place::Queued { .. } => {
                self.pools.remove_waiter(req.host, id.0);
            }
            Place::Pending => self.work.pending.retain(|p| *p != id),
            Place::OnConn(_) => {}
        }
    }

    // ---- DNS and deadlines --------------------------------------------------------------

    fn handle_dns_answers(&mut self, sink: Sink<'_>) {
        while let Some(answer) = self.resolver.poll_answer(self.now) {
            // Every host that dials this name gets the answer (a refresh has no
            // connection waiting for it).
            match &answer.result {
                Ok(addrs) => {
                    for host in self.hosts_dialing(&answer.host, answer.port) {
                        self.apply_answer(host, addrs);
                    }
                }
                Err(_) => self.refresh_failed(&answer.host, answer.port),
            }
            let waiting: Vec<usize> = self
                .work
                .resolving
                .iter()
                .copied()
                .filter(|&cid| {
                    self.conns.get(cid).is_some_and(|c| {
                        matches!(self.dial_target(c.host), DialTarget::Tcp(name, port)
                            if port == answer.port && name.eq_ignore_ascii_case(&answer.host))
                    })
                })
                .collect();
            self.work.resolving.retain(|c| !waiting.contains(c));
            for cid in waiting {
                let traced = answer.result.as_ref().map(|addrs| &addrs[..]);
                self.trace_dns_done(cid, &answer.host, traced, false);
                let result = match (&answer.result, self.conns.get(cid)) {
                    (Ok(addrs), Some(conn)) => Ok(self.dial_addrs(cid, conn.host, addrs)),
                    (result, _) => result.clone(),
                };
                self.drive(cid, sink, |conn, req, ctx| {
                    conn.handle_dns(&result, req, ctx)
                });
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
                    let idle = matches!(conn.state, State::Idle);
                    match conn.deadlines.on_pop(kind, at, now) {
                        // The idle limit is the pool's: it knows what ends the connection.
                        Popped::Fire if idle && kind == Deadline::IdleExpiry => {
                            self.idle_expired(cid)
                        }
                        Popped::Fire => self.drive(cid, sink, |conn, req, ctx| {
                            conn.handle_deadline(kind, req, ctx)
                        }),
                        Popped::Rearm(t) => self.timers.push(t, owner, kind),
                        Popped::Stale => {}
                    }
                }
                Owner::Host(host) => self.refresh_due(host, at),
                // A request's own alarm, armed while it waits for a connection; once a
                // connection carries it, the connection's `Total` deadline applies.
                Owner::Request(raw) => {
                    let id = RequestId(raw);
                    let wait_limit = self.config.pool_wait_timeout;
                    let due = self.reqs.get(id).and_then(|req| {
                        if req.conn().is_some() {
                            return None;
                        }
                        if req.deadline.is_some_and(|d| d <= now) {
                            return Some((req.host, ErrorKind::Timeout));
                        }
                        match (req.place, wait_limit) {
                            (Place::Queued { since }, Some(limit))
                                if now.saturating_duration_since(since) >= limit =>
                            {
                                Some((req.host, ErrorKind::PoolWaitTimeout))
                            }
                            _ => None,
                        }
                    });
                    if let Some((host, kind)) = due {
                        if kind == ErrorKind::PoolWaitTimeout {
                            self.pools.stats_mut(host).queue_timeouts += 1;
                        }
                        let err = Error::msg(kind, "timed out waiting for a connection");
                        self.fail_request(id, err);
                    }
                }
            }
        }
    }

    fn flush_outbox(&mut self, sink: Sink<'_>) {
        // Swap in the spare vector so neither is reallocated turn after turn.
        let mut outbox = std::mem::take(&mut self.work.spare_outbox);
        std::mem::swap(&mut outbox, &mut self.work.outbox);
        for (id, outcome) in outbox.drain(..) {
            match outcome {
                Ok(info) => sink(Event::Done { id, info }),
                Err(error) => sink(Event::Failed { id, error }),
            };
        }
        self.work.spare_outbox = outbox;
    }

    fn free_closed(&mut self) {
        for cid in self.work.to_free.drain(..) {
            self.conns.remove(cid);
        }
    }

    // ---- trace events fired by the engine (see `trace.rs` for where each fires) ----------

    /// The tracers of connection `cid`'s events: the client's and its request's.
    fn conn_tracers(&self, cid: usize) -> Tracers<'_> {
        let req = self.conns.get(cid).and_then(|c| c.req_tracer.as_deref());
        Tracers::new(self.tracer.as_deref(), req)
    }

    /// `request_failed`: request `id` (`req`, out of the table) fails with `error`.
    fn trace_failed(&self, id: RequestId, req: &Req, error: &Error) {
        Tracers::new(self.tracer.as_deref(), req.tracer.as_deref()).emit(|t| {
            t.request_failed(&RequestFailed {
                at: self.now,
                request: id,
                error,
            })
        });
    }

    /// `canceled`: the caller canceled request `id` (`req`, already out of the table) or
    /// dropped its body (`discarded`).
    fn trace_canceled(&self, id: RequestId, req: &Req, on_conn: Option<usize>, discarded: bool) {
        let trace = Tracers::new(self.tracer.as_deref(), req.tracer.as_deref());
        if trace.is_on() {
            let conn_id = on_conn
                .and_then(|cid| self.conns.get(cid))
                .map(|c| c.serial);
            trace.emit(|t| {
                t.canceled(&Canceled {
                    at: self.now,
                    request: id,
                    conn_id,
                    discarded,
                })
            });
        }
    }

    /// `dns_done` for connection `cid`: the resolver answered, or (`cached`) the cache did.
    fn trace_dns_done(
        &self,
        cid: usize,
        host: &str,
        result: Result<&[std::net::SocketAddr], &crate::dns::DnsError>,
        cached: bool,
    ) {
        let trace = self.conn_tracers(cid);
        let Some(conn) = self.conns.get(cid).filter(|_| trace.is_on()) else {
            return;
        };
        let took = match conn.state {
            State::Resolving { started, .. } if !cached => {
                self.now.saturating_duration_since(started)
            }
            _ => Duration::ZERO,
        };
        trace.emit(|t| {
            t.dns_done(&DnsDone {
                at: self.now,
                request: conn.state.request(),
                conn_id: conn.serial,
                host,
                result,
                cached,
                took,
            })
        });
    }

    /// `tls_start` on connection `cid` with `hop`, about to take `session`.
    fn trace_tls_start(&self, cid: usize, session: &TlsSession, hop: Hop) {
        let trace = self.conn_tracers(cid);
        let Some(conn) = self.conns.get(cid).filter(|_| trace.is_on()) else {
            return;
        };
        let server_name = session.server_name();
        trace.emit(|t| {
            t.tls_start(&TlsStart {
                at: self.now,
                request: conn.state.request(),
                conn_id: conn.serial,
                server_name: &server_name,
                proxy: hop == Hop::Proxy,
            })
        });
    }

    /// `tls_done` on connection `cid` with `hop`: what its session negotiated, or `Err`.
    fn trace_tls_done(&self, cid: usize, hop: Hop, took: Duration, result: Result<(), &Error>) {
        let trace = self.conn_tracers(cid);
        let Some(conn) = self.conns.get(cid).filter(|_| trace.is_on()) else {
            return;
        };
        let session = conn.transport.as_ref().and_then(|t| t.tls_session());
        let result = result.map(|()| TlsHandshake {
            kind: session.and_then(TlsSession::handshake_kind),
            protocol: session.and_then(TlsSession::protocol_version),
            cipher_suite: session.and_then(TlsSession::cipher_suite),
        });
        trace.emit(|t| {
            t.tls_done(&TlsDone {
                at: self.now,
                request: conn.state.request(),
                conn_id: conn.serial,
                proxy: hop == Hop::Proxy,
                result,
                took,
            })
        });
    }
}

/// Where connections of `host` dial: a name to resolve (the origin's, a `connect_to`
/// target's, the proxy's) or a Unix socket. (A function of the two fields, so a caller
/// can hold its answer while using the resolver.)
fn dial_target<'a>(pools: &'a Pools, routes: &'a Routes, host: HostId) -> DialTarget<'a> {
    let key = pools.key(host);
    match key.route() {
        Route::Direct => {
            let (name, port) = routes.connect_target(key.host(), key.port());
            DialTarget::Tcp(name, port)
        }
        Route::Proxy(proxy) => DialTarget::Tcp(proxy.host(), proxy.port()),
        Route::Unix(path) => DialTarget::Unix(path),
    }
}
