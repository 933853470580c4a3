//! The blocking [`Client`]: an [`Engine`] on its own thread behind a channel.
//!
//! ```text
//!  caller threads                         engine thread
//!  ──────────────                         ─────────────
//!  send(req) ─── Command::Send ──► channel ─► Engine::submit
//!      │   + Waker::wake if it may sleep         │ poll loop
//!      ▼                                         ▼
//!  parks on its doorbell    ◄──────── Msg::Head (http::Response<()>, RequestInfo)
//!  (its mailbox says where)            one futex wake per turn for all callers
//!  ResponseBody::read  ◄────────────── Msg::Data (one copy of the borrowed slice)
//!      │ consumed bytes below the budget?  ──► Command::Resume (engine reads again)
//!      └ dropped unread ─────────────────────► Command::Discard (engine drains)
//! ```
//!
//! The pieces, each in its own module, listed in dependency order: a module uses only the
//! ones above it, so there is no import cycle.
//!
//! ```text
//!   doorbell       where callers park; one system call wakes a turn's callers
//!      ▲
//!   channel        Command, Msg, Mailbox (+ the Upload queue), Route, Handle, EngineStatus: the wire
//!      ▲
//!   upload         streamed request bodies: the caller's Feeder, the engine's PipeSource
//!   cancel         CancelToken: ends requests from another thread
//!   engine_thread  EngineThread (spawn, lifetime, shutdown), run_engine, route
//!      ▲
//!   decode         gzip/deflate response bodies (feature `compression`)
//!   response       Response, ResponseBody (io::Read over a mailbox), RedirectHop
//!      ▲
//!   middleware     Middleware, Next, and Core: the end of the chain, which sends
//!      ▲
//!   redirect       RedirectPolicy, Attempt, Action, and the redirect loop around the chain
//!   stack          Stack: redirects ─► middleware ─► Core, shared by clients and builders
//!   builder        RequestBuilder: client.get(url).header(..).body(..).send()
//!      ▲
//!   mod            Client, ClientBuilder: settings, build, the public calls
//! ```
//!
//! Each module may also use any module further up (`middleware` builds the `Command`
//! that `channel` defines, for one); none uses one below it. `Core` (what sending needs:
//! the engine thread and the settings) lives with the chain it ends, not with the wire:
//! it builds a `Response` and holds the `EngineThread`, so in `channel` it would close a
//! cycle through both.
//!
//! # What this module owns
//!
//! The public face: [`Client`] (cheap clones sharing one engine thread, the public calls
//! that become commands) and [`ClientBuilder`] (the settings, named after Go's
//! `http.Transport` where one exists, and `build`, which validates them and starts the
//! engine thread).
//!
//! # What it deliberately does not do
//!
//! No protocol, threading or body logic lives here; each is in the module named for it
//! above, so that this file reads as the API and the others can be checked on their own.
//!
//! Body bytes cross threads with one deliberate copy, counted against
//! `body_buffer_limit`, so a slow reader costs bounded memory (see `channel`). Every
//! `Client` handle and every unfinished [`ResponseBody`] owns the engine, so a response
//! can outlive its client; [`Client::shutdown`] is the hard stop (see `engine_thread`).
//! Every caller gets an answer in bounded time, whatever happens to the engine thread:
//! a stopped or panicked engine is reported as [`ErrorKind::PoolClosed`] or
//! [`ErrorKind::EngineFailed`], never as a hang.

mod cancel;
mod channel;
#[cfg(feature = "compression")]
mod decode;
mod doorbell;
mod engine_thread;
mod middleware;
mod response;
mod upload;

mod builder;
mod redirect;
mod stack;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use http::{HeaderValue, Method, Request, Uri};

use crate::body::Body;
use crate::config::{Config, TcpKeepalive};
use crate::dns::{Resolve, SharedResolver};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::pool::{ReuseOrder, Stats};
use crate::request::RequestOptions;
use crate::route::{ConnectTo, NoProxy, Proxy, ResolveTo};
use crate::trace::Tracer;
use channel::{stopped_error, Command};
use engine_thread::EngineThread;
use middleware::Core;
use stack::Stack;

pub use builder::RequestBuilder;
pub use cancel::CancelToken;
pub use middleware::{Middleware, Next};
pub use redirect::{Action, Attempt, RedirectPolicy, DEFAULT_MAX_REDIRECTS};
pub use response::{RedirectHop, Response, ResponseBody};

/// A blocking HTTP/1.1 client over a connection pool. Cheap to clone; all clones share
/// one engine thread and its pools.
///
/// ```no_run
/// let client = wirepool::Client::new()?;
/// let mut resp = client.get("http://127.0.0.1:8080/").send()?;
/// println!("{} (reused: {})", resp.status(), resp.info().reused);
/// let body = resp.text()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `get`, `post` and the other verbs return a [`RequestBuilder`], as in ureq and
/// reqwest (`client.get(url).send()`): headers, query, timeout, body and cancel token
/// chain on it before the one call that can fail. [`send`](Client::send) takes a
/// ready `http::Request` instead.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Stack>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.core.config)
            .finish()
    }
}

impl Client {
    /// A client with the default (production) settings.
    pub fn new() -> Result<Client, Error> {
        ClientBuilder::new().build()
    }

    /// A builder to change settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The client's settings.
    pub fn config(&self) -> &Config {
        &self.inner.core.config
    }

    /// Sends `request` and blocks until the response head (or an error) arrives,
    /// following redirects as the client's [`RedirectPolicy`] says, each hop through
    /// the middleware chain. The body may be anything [`Body`] is made from (`Vec<u8>`,
    /// `String`, `&'static str`, a [`Body`] from a reader, ...): a streamed body is fed
    /// to the engine from this thread while it waits.
    pub fn send<B: Into<Body>>(&self, request: Request<B>) -> Result<Response, Error> {
        self.send_with(request, RequestOptions::default())
    }

    /// Sends `request` with its own timeout or deadline (see [`send`](Self::send)).
    pub fn send_with<B: Into<Body>>(
        &self,
        request: Request<B>,
        opts: RequestOptions,
    ) -> Result<Response, Error> {
        self.inner.send(request.map(Into::into), opts)
    }

    /// A request with `method` to `url`, to build and [`send`](RequestBuilder::send).
    /// `url` is anything `http::Uri` converts from (`&str`, `String`, `Uri`); one that
    /// does not parse fails at `send` with `InvalidRequest`.
    pub fn request<U>(&self, method: Method, url: U) -> RequestBuilder
    where
        U: TryInto<Uri>,
        U::Error: Into<http::Error>,
    {
        RequestBuilder::new(Arc::clone(&self.inner), method, url)
    }

    /// A `GET url` request to build and send: `client.get(url).send()?`.
    pub fn get<U>(&self, url: U) -> RequestBuilder
    where
        U: TryInto<Uri>,
        U::Error: Into<http::Error>,
    {
        self.request(Method::GET, url)
    }

    /// A `POST url` request to build (`.body(..)`, `.json(..)`) and send.
    pub fn post<U>(&self, url: U) -> RequestBuilder
    where
        U: TryInto<Uri>,
        U::Error: Into<http::Error>,
    {
        self.request(Method::POST, url)
    }

    /// A `PUT url` request to build and send.
    pub fn put<U>(&self, url: U) -> RequestBuilder
    where
        U: TryInto<Uri>,
        U::Error: Into<http::Error>,
    {
        self.request(Method::PUT, url)
    }

    /// A `PATCH url` request to build and send.
    pub fn patch<U>(&self, url: U) -> RequestBuilder
    where
        U: TryInto<Uri>,
        U::Error: Into<http::Error>,
    {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE url` request to build and send.
    pub fn delete<U>(&self, url: U) -> RequestBuilder
    where
        U: TryInto<Uri>,
        U::Error: Into<http::Error>,
    {
        self.request(Method::DELETE, url)
    }

    /// A `HEAD url` request to build and send.
    pub fn head<U>(&self, url: U) -> RequestBuilder
    where
        U: TryInto<Uri>,
        U::Error: Into<http::Error>,
    {
        self.request(Method::HEAD, url)
    }

    /// Opens up to `n` connections to `url`'s origin before the first requests need
    /// them (TCP, any proxy tunnel and TLS handshakes included) and waits until each is
    /// up and idle or has failed. Every limit holds: no more connections than
    /// `max_conns_per_host` allows, and no more than the idle pool has room for
    /// (`max_idle_per_host`, `max_idle_total`); what they leave out is `skipped`. The
    /// path of `url` is ignored.
    ///
    /// ```no_run
    /// let client = wirepool::Client::new()?;
    /// let warm = client.prewarm("https://api.example/", 8)?;
    /// println!("{} opened, {} failed", warm.opened, warm.failed);
    /// # Ok::<(), wirepool::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidRequest`] for a URL that names no `http`/`https` origin,
    /// [`ErrorKind::Proxy`] for an unusable proxy, and [`ErrorKind::PoolClosed`] /
    /// [`ErrorKind::EngineFailed`] when the engine is gone. A connection that fails to
    /// open is counted in the result, not returned as an error.
    pub fn prewarm(&self, url: &str, n: usize) -> Result<Prewarmed, Error> {
        let mailboxes: Vec<_> = (0..n).map(|_| channel::Mailbox::new(1)).collect();
        let replies = mailboxes
            .iter()
            .map(|m| channel::Route::new(Arc::clone(m)))
            .collect();
        self.command(Command::Prewarm {
            url: url.to_owned(),
            replies,
        })?;
        let mut out = Prewarmed::default();
        for mailbox in mailboxes {
            match mailbox.recv() {
                Some(channel::Msg::Done(_)) => out.opened += 1,
                Some(channel::Msg::Failed(e)) => {
                    if matches!(e.kind(), ErrorKind::InvalidRequest | ErrorKind::Proxy)
                        && out.opened + out.failed == 0
                    {
                        // The URL or its proxy: nothing was tried.
                        return Err(e);
                    }
                    out.failed += 1;
                    out.first_error.get_or_insert(e);
                }
                Some(_) => out.failed += 1,
                None => out.skipped += 1,
            }
        }
        let status = &self.inner.core.engine.handle.status;
        if status.is_stopped() && out.opened == 0 {
            return Err(status.error());
        }
        Ok(out)
    }

    /// Closes every idle connection now.
    pub fn close_idle(&self) {
        let _ = self.command(Command::CloseIdle);
    }

    /// Stops the engine now, for every handle of this client: requests in flight and
    /// bodies still arriving fail with [`ErrorKind::PoolClosed`] (bytes that had already
    /// arrived are still read first), every socket is closed and the engine thread is
    /// joined before this returns. Later sends from any handle fail with `PoolClosed`.
    /// Calling it again does nothing.
    ///
    /// Without it, the engine stops by itself once the last `Client` handle and the
    /// last unfinished [`ResponseBody`] are gone.
    pub fn shutdown(&self) {
        self.inner.core.engine.shutdown();
    }

    /// A snapshot of the pool's counters: requests, dials, reuses, retries, closes by
    /// cause, and the idle/active/connecting/waiting gauges, in total and per host.
    ///
    /// # Errors
    ///
    /// A stopped engine has no pool to report on: [`ErrorKind::PoolClosed`] after
    /// [`shutdown`](Self::shutdown), [`ErrorKind::EngineFailed`] if the engine thread
    /// panicked. (All zeros would read as an idle, healthy pool.)
    pub fn stats(&self) -> Result<Stats, Error> {
        let (tx, rx) = bounded(1);
        self.command(Command::Stats(tx))?;
        rx.recv().map_err(|_| {
            // Dropped unanswered: by a stopped engine, or by a panic unwinding the
            // engine thread before the status says so (a running engine always answers).
            let status = &self.inner.core.engine.handle.status;
            stopped_error(!status.is_stopped() || status.is_panicked())
        })
    }

    /// **Test-only; not part of the API** (hidden, may change or go at any time): makes
    /// the engine thread sleep for `after`, then panic, so that tests can check what
    /// callers see when the engine dies. Commands sent during the sleep queue up behind
    /// the panic and are never processed, which is how a test reaches that case.
    #[doc(hidden)]
    pub fn __panic_engine_for_tests(&self, after: Duration) {
        let _ = self.command(Command::PanicForTests(after));
    }

    /// Hands `cmd` to the engine thread.
    fn command(&self, cmd: Command) -> Result<(), Error> {
        self.inner.core.engine.handle.send(cmd)
    }
}

/// What [`Client::prewarm`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Prewarmed {
    /// Connections opened and now idle in the pool (or already carrying a request
    /// that was waiting for one).
    pub opened: usize,
    /// Connections that could not be opened (DNS, connect, TLS, proxy, timeout).
    pub failed: usize,
    /// Connections not attempted because a limit left no room.
    pub skipped: usize,
    /// Why the first failed connection failed.
    pub first_error: Option<Error>,
}

/// Builds a [`Client`]. Setting names follow Go's `http.Transport` where one exists.
///
/// Every setting is checked once, at [`build`](ClientBuilder::build): a value that
/// cannot work is an [`ErrorKind::InvalidConfig`] error naming the setting, never a
/// panic later on the engine thread.
///
/// ```
/// use std::time::Duration;
/// use wirepool::{Client, ErrorKind};
///
/// let client = Client::builder()
///     .timeout(Some(Duration::from_secs(5)))      // the whole request, body included
///     .connect_timeout(Duration::from_secs(1))
///     .max_idle_per_host(256)                     // Go's MaxIdleConnsPerHost is 2
///     .idle_timeout(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(client.config().max_idle_per_host, 256);
///
/// // Refused at build(), with the setting named:
/// let err = Client::builder().resolver_threads(0).build().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidConfig);
/// # Ok::<(), wirepool::Error>(())
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    config: Config,
    middleware: Vec<Arc<dyn Middleware>>,
    redirect: RedirectPolicy,
    tracer: Option<Arc<dyn Tracer>>,
    /// A setting refused when it was given (reported by `build`).
    invalid: Option<Error>,
}

impl Clone for ClientBuilder {
    fn clone(&self) -> Self {
        ClientBuilder {
            config: self.config.clone(),
            middleware: self.middleware.clone(),
            redirect: self.redirect.clone(),
            tracer: self.tracer.clone(),
            invalid: self
                .invalid
                .as_ref()
                .map(|e| Error::msg(e.kind(), e.to_string())),
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("middleware", &self.middleware.len())
            .field("redirect", &self.redirect)
            .field("tracer", &self.tracer.is_some())
            .finish()
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl ClientBuilder {
    /// A builder with the default settings.
    pub fn new() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Adds a middleware around `send`. The first one added is the outermost: it sees
    /// the request first and the response last.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Which redirects to follow. Default: [`RedirectPolicy::limited`]`(10)`, never
    /// from `https` to `http`. Go: `Client.CheckRedirect`.
    pub fn redirect(mut self, policy: RedirectPolicy) -> Self {
        self.redirect = policy;
        self
    }

    /// The `User-Agent` sent when a request has none; `None` sends none. Default
    /// `wirepool/<version>`. An invalid value (CR, LF, NUL) is refused by `build`.
    pub fn user_agent(mut self, user_agent: Option<&str>) -> Self {
        self.config.user_agent = match user_agent.map(HeaderValue::from_str).transpose() {
            Ok(value) => value,
            Err(e) => {
                self.invalid = Some(Error::with_source(ErrorKind::InvalidConfig, e));
                None
            }
        };
        self
    }

    /// Installs a [`Tracer`] whose hooks see every request of the client and its
    /// connections, on the engine thread (see [`trace`](crate::trace)). A request may
    /// carry its own as well ([`RequestTracer`](crate::trace::RequestTracer)).
    pub fn tracer(mut self, tracer: Arc<dyn Tracer>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// TLS settings for `https`: trust roots, extra CA files, client certificate. Every
    /// connection shares its session-resumption cache. Default: the system trust store.
    pub fn tls_config(mut self, tls: tls_glue::TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Sends every request through this HTTP proxy instead of the environment's (curl's
    /// `-x`, Go's `http.ProxyURL`): `http://` requests in absolute form, `https://`
    /// through a `CONNECT` tunnel. Loopback origins are proxied too; `no_proxy` (or the
    /// environment's `NO_PROXY`, unless `proxy_from_env(false)`) exempts hosts.
    ///
    /// ```no_run
    /// use wirepool::{Client, Proxy};
    /// let client = Client::builder()
    ///     .proxy(Proxy::parse("http://user:secret@proxy.internal:3128")?)
    ///     .no_proxy("localhost, .cluster.local, 10.0.0.0/8")
    ///     .build()?;
    /// # Ok::<(), wirepool::Error>(())
    /// ```
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.config.proxy = Some(proxy);
        self
    }

    /// Hosts that never go through a proxy (`NO_PROXY` syntax, see [`NoProxy`]),
    /// instead of the environment's `NO_PROXY`. An empty list proxies every host.
    pub fn no_proxy(mut self, list: &str) -> Self {
        self.config.no_proxy = Some(NoProxy::parse(list));
        self
    }

    /// Whether to read `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy` (and the
    /// upper-case forms) at `build`. Default on. See `docs/proxies.md`.
    pub fn proxy_from_env(mut self, read: bool) -> Self {
        self.config.proxy_from_env = read;
        self
    }

    /// Sends every request over the Unix domain socket at `path` (curl's
    /// `--unix-socket`): the URL's host is only the `Host` header.
    ///
    /// ```no_run
    /// let docker = wirepool::Client::builder()
    ///     .unix_socket("/var/run/docker.sock")
    ///     .build()?;
    /// let version = docker.get("http://localhost/version").send()?.text()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unix_socket(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.unix_socket = Some(path.into());
        self
    }

    /// Adds a rule that sends connections for one `host:port` elsewhere (curl's
    /// `--connect-to`); the request still names the original host.
    pub fn connect_to(mut self, rule: ConnectTo) -> Self {
        self.config.connect_to.push(rule);
        self
    }

    /// Adds static addresses for a `host:port` that skip the resolver (curl's
    /// `--resolve`).
    pub fn resolve(mut self, rule: ResolveTo) -> Self {
        self.config.resolve.push(rule);
        self
    }

    /// Resolves names with `resolver` instead of the system resolver (see [`Resolve`]).
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.config.resolver = Some(SharedResolver::new(resolver));
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    setters! {
        /// Total deadline per request (`None`: none). Default 30 s. Go: `Client.Timeout`.
        timeout: Option<Duration>;
        /// DNS + connect deadline. Default 10 s. Go: `Dialer.Timeout`.
        connect_timeout: Duration;
        /// Written request → response head deadline. Default 10 s. Go: `ResponseHeaderTimeout`.
        response_header_timeout: Option<Duration>;
        /// Wait for `100 Continue` before sending the body anyway. Default 1 s. Go: `ExpectContinueTimeout`.
        expect_continue_timeout: Duration;
        /// Close idle connections after this. Default 90 s. Go: `IdleConnTimeout`.
        idle_timeout: Duration;
        /// Idle connections kept per host. Default 100. Go: `MaxIdleConnsPerHost` (default 2).
        max_idle_per_host: usize;
        /// Idle connections kept in total. Default 1000. Go: `MaxIdleConns`.
        max_idle_total: usize;
        /// Open connections per host; more requests wait in FIFO order. Default unlimited. Go: `MaxConnsPerHost`.
        max_conns_per_host: Option<usize>;
        /// Connections older than this are not reused. Default none.
        max_conn_lifetime: Option<Duration>;
        /// Random fraction taken off each connection's lifetime. Default 0.1.
        lifetime_jitter: f64;
        /// Requests per connection before it closes. Default unlimited.
        max_requests_per_conn: Option<u32>;
        /// LIFO (default) or FIFO reuse of idle connections.
        reuse_order: ReuseOrder;
        /// Unread body bytes drained for reuse. Default 64 KiB.
        drain_limit: u64;
        /// Time allowed for draining. Default 2 s.
        drain_timeout: Duration;
        /// Safe resends on a fresh connection. Default 1.
        max_retries: u8;
        /// Most resends as a fraction of the host's recent requests (floor: 10). Default 0.2. Envoy: `retry_budget.budget_percent`.
        retry_budget: f64;
        /// Time taken off a server's announced or learned idle timeout. Default 1 s. Node's undici: `keepAliveTimeoutThreshold`.
        keepalive_margin: Duration;
        /// Learn the limits a server shows by closing connections silently, and stop reusing just before them. Default on.
        learn_server_limits: bool;
        /// Follow DNS: least-connections dials, answers refreshed on `dns_ttl`, connections to departed addresses closed, moves after a scale-out. Default on.
        follow_dns: bool;
        /// Requests that may wait per host at `max_conns_per_host`; more fail at once (`WaitQueueFull`). Default unlimited.
        max_waiters_per_host: Option<usize>;
        /// Longest wait for a connection (`PoolWaitTimeout`), apart from `timeout`. Default none.
        pool_wait_timeout: Option<Duration>;
        /// `TCP_NODELAY`. Default on.
        tcp_nodelay: bool;
        /// TCP keepalive probes. Default 30 s idle. Go: `Dialer.KeepAlive`.
        tcp_keepalive: Option<TcpKeepalive>;
        /// Local address to bind. Go: `Dialer.LocalAddr`.
        local_address: Option<std::net::IpAddr>;
        /// DNS cache TTL, and with `follow_dns` how often a host's answer is refreshed. Default 30 s. curl: `--dns-cache-timeout`.
        dns_ttl: Duration;
        /// Body bytes buffered for a slow reader before the socket is paused. Default 256 KiB.
        body_buffer_limit: usize;
        /// TLS handshake deadline. Default 10 s. Go: `TLSHandshakeTimeout`.
        tls_handshake_timeout: Duration;
        /// Delay before racing the next address (RFC 8305). Default 250 ms. Go: `Dialer.FallbackDelay`.
        happy_eyeballs_delay: Duration;
        /// Deadline for a proxy's answer to `CONNECT`. Default 10 s.
        proxy_connect_timeout: Duration;
        /// Threads running blocking DNS lookups. Default 2.
        resolver_threads: usize;
        /// Response head size and header count limits. Default 64 KiB, 100. Go: `MaxResponseHeaderBytes`.
        head_limits: http1_codec::HeadLimits;
        /// Size of each socket read (one buffer per engine). Default 64 KiB. Go: `ReadBufferSize`.
        read_buffer_size: usize;
        /// Request header names in `Title-Case` (default) or lower case.
        header_case: http1_codec::HeaderCase;
        /// Ask for gzip/deflate and decode responses (feature `compression`). Default on. Go: `DisableCompression` (inverted).
        decompress: bool;
        /// The most bytes a compressed body may decode to. Default 64 MiB.
        max_decoded_body_bytes: Option<u64>;
    }

    /// Starts the engine thread. A setting that cannot work is refused here with
    /// [`ErrorKind::InvalidConfig`] naming it (see [`Config::validate`]).
    pub fn build(self) -> Result<Client, Error> {
        let ClientBuilder {
            config,
            middleware,
            redirect,
            tracer,
            invalid,
        } = self;
        if let Some(e) = invalid {
            return Err(e);
        }
        // Validates every setting (the engine thread must not meet a value it cannot use).
        let mut engine = Engine::new(config.clone())?;
        engine.set_tracer(tracer);
        let engine = Arc::new(EngineThread::spawn(engine)?);
        Ok(Client {
            inner: Arc::new(Stack {
                core: Core { engine, config },
                middleware,
                redirect,
            }),
        })
    }
}
