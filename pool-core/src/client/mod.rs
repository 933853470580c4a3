//! The blocking [`Client`]: an [`Engine`](crate::Engine) on its own thread behind a
//! channel (or several, each on its own thread: [`ClientBuilder::engine_threads`]).
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
//!   engines        Engines: a client's engine threads, EngineSplit, which one a request goes to
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
//! the engine threads and the settings) lives with the chain it ends, not with the wire:
//! it builds a `Response` and holds the `Engines`, so in `channel` it would close a
//! cycle through both.
//!
//! # What this module owns
//!
//! The public face: [`Client`] (cheap clones sharing its engine threads, the public calls
//! that become commands: to the engine a request picks, or to every engine) and
//! [`ClientBuilder`] (the settings, named after Go's `http.Transport` where one exists,
//! and `build`, which validates them and starts the engine threads).
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
mod engines;
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
use crate::error::{Error, ErrorKind};
use crate::pool::{ReuseOrder, Stats};
use crate::request::RequestOptions;
use crate::route::{ConnectTo, NoProxy, Proxy, ResolveTo};
use crate::trace::Tracer;
use channel::{stopped_error, Command};
use engines::Engines;
use middleware::Core;
use stack::Stack;

pub use builder::RequestBuilder;
pub use cancel::CancelToken;
pub use engines::{EngineSplit, MAX_ENGINE_THREADS};
pub use middleware::{Middleware, Next};
pub use redirect::{Action, Attempt, RedirectPolicy, DEFAULT_MAX_REDIRECTS};
pub use response::{RedirectHop, Response, ResponseBody};

/// A blocking HTTP/1.1 client over a connection pool. Cheap to clone; all clones share
/// its engine thread (or threads: [`ClientBuilder::engine_threads`]) and their pools.
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
        let engines = &self.inner.core.engines;
        f.debug_struct("Client")
            .field("config", &self.inner.core.config)
            .field("engine_threads", &engines.all().len())
            .field("engine_split", &engines.split())
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

    /// The client's settings, as given to the builder. With several engines each runs
    /// with its share of some limits (see [`ClientBuilder::engine_threads`]).
    pub fn config(&self) -> &Config {
        &self.inner.core.config
    }

    /// How many engine threads the client runs ([`ClientBuilder::engine_threads`]).
    pub fn engine_threads(&self) -> usize {
        self.inner.core.engines.all().len()
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
    ///
    /// With several engines the connections open in the engine that will serve `url`:
    /// by host, the one that owns its origin's pool; by caller
    /// ([`EngineSplit::ByCaller`]), the calling thread's engine, so prewarm from the
    /// thread that will send (or once from each).
    pub fn prewarm(&self, url: &str, n: usize) -> Result<Prewarmed, Error> {
        let engine = self.inner.core.engines.pick_str(url);
        let mailboxes: Vec<_> = (0..n).map(|_| channel::Mailbox::new(1)).collect();
        let replies = mailboxes
            .iter()
            .map(|m| channel::Route::new(Arc::clone(m)))
            .collect();
        engine.handle.send(Command::Prewarm {
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
        let status = &engine.handle.status;
        if status.is_stopped() && out.opened == 0 {
            return Err(status.error());
        }
        Ok(out)
    }

    /// Closes every idle connection now, in every engine.
    pub fn close_idle(&self) {
        for engine in self.inner.core.engines.all() {
            // A stopped engine has no idle connection left to close.
            let _ = engine.handle.send(Command::CloseIdle);
        }
    }

    /// Stops every engine now, for every handle of this client: requests in flight and
    /// bodies still arriving fail with [`ErrorKind::PoolClosed`] (bytes that had already
    /// arrived are still read first), every socket is closed and the engine threads are
    /// joined before this returns. Later sends from any handle fail with `PoolClosed`.
    /// Calling it again does nothing.
    ///
    /// Without it, each engine stops by itself once the last `Client` handle and the
    /// last unfinished [`ResponseBody`] it serves are gone.
    pub fn shutdown(&self) {
        let engines = self.inner.core.engines.all();
        // All are told first, so that they stop side by side; then each is joined.
        for engine in engines {
            let _ = engine.handle.send(Command::Shutdown);
        }
        for engine in engines {
            engine.shutdown();
        }
    }

    /// A snapshot of the pool's counters: requests, dials, reuses, retries, closes by
    /// cause, and the idle/active/connecting/waiting gauges, in total and per host.
    ///
    /// With several engines, their snapshots merged: the totals add up, and each host
    /// appears once (by caller, where every engine may have a pool for one host, its
    /// entries are added together).
    ///
    /// # Errors
    ///
    /// A stopped engine has no pool to report on: [`ErrorKind::PoolClosed`] after
    /// [`shutdown`](Self::shutdown), [`ErrorKind::EngineFailed`] if an engine thread
    /// panicked (even if the other engines still serve). (All zeros would read as an
    /// idle, healthy pool.)
    pub fn stats(&self) -> Result<Stats, Error> {
        let engines = self.inner.core.engines.all();
        // Every engine is asked first, so that they answer side by side.
        let mut asked = Vec::with_capacity(engines.len());
        for engine in engines {
            let (tx, rx) = bounded(1);
            engine.handle.send(Command::Stats(tx))?;
            asked.push((engine, rx));
        }
        let mut merged: Option<Stats> = None;
        for (engine, rx) in asked {
            let stats = rx.recv().map_err(|_| {
                // Dropped unanswered: by a stopped engine, or by a panic unwinding the
                // engine thread before the status says so (a running engine always
                // answers).
                let status = &engine.handle.status;
                stopped_error(!status.is_stopped() || status.is_panicked())
            })?;
            match &mut merged {
                None => merged = Some(stats),
                Some(all) => all.merge(stats),
            }
        }
        let mut merged = merged.unwrap_or_default();
        if engines.len() > 1 {
            merged.coalesce_hosts();
        }
        Ok(merged)
    }

    /// **Test-only; not part of the API** (hidden, may change or go at any time): makes
    /// the engine thread sleep for `after`, then panic, so that tests can check what
    /// callers see when the engine dies. Commands sent during the sleep queue up behind
    /// the panic and are never processed, which is how a test reaches that case. With
    /// several engines, engine 0 (another: `__panic_one_engine_for_tests`).
    #[doc(hidden)]
    pub fn __panic_engine_for_tests(&self, after: Duration) {
        self.__panic_one_engine_for_tests(0, after);
    }

    /// **Test-only; not part of the API** (hidden): as
    /// [`__panic_engine_for_tests`](Self::__panic_engine_for_tests), for the engine
    /// `index` (thread `wirepool-engine-<index>`); nothing if there is no such engine.
    #[doc(hidden)]
    pub fn __panic_one_engine_for_tests(&self, index: usize, after: Duration) {
        if let Some(engine) = self.inner.core.engines.all().get(index) {
            let _ = engine.handle.send(Command::PanicForTests(after));
        }
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
pub struct ClientBuilder {
    config: Config,
    middleware: Vec<Arc<dyn Middleware>>,
    redirect: RedirectPolicy,
    tracer: Option<Arc<dyn Tracer>>,
    /// Engine threads to run (checked by `build`).
    engine_threads: usize,
    /// Which engine a request goes to, with more than one.
    engine_split: EngineSplit,
    /// A setting refused when it was given (reported by `build`).
    invalid: Option<Error>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            config: Config::default(),
            middleware: Vec::new(),
            redirect: RedirectPolicy::default(),
            tracer: None,
            engine_threads: 1,
            engine_split: EngineSplit::default(),
            invalid: None,
        }
    }
}

impl Clone for ClientBuilder {
    fn clone(&self) -> Self {
        ClientBuilder {
            config: self.config.clone(),
            middleware: self.middleware.clone(),
            redirect: self.redirect.clone(),
            tracer: self.tracer.clone(),
            engine_threads: self.engine_threads,
            engine_split: self.engine_split,
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
            .field("engine_threads", &self.engine_threads)
            .field("engine_split", &self.engine_split)
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

    /// Runs `n` engines, each on its own thread (`wirepool-engine-0`, `-1`, ...), so
    /// that one client can use `n` cores. Default 1, which is the fastest per request:
    /// raise it only when the engine thread is busy 100 % of a core and cores are free
    /// (see `docs/tuning.md`, "Several engines"). `0` or more than
    /// [`MAX_ENGINE_THREADS`] is refused by `build` with [`ErrorKind::InvalidConfig`].
    ///
    /// Each request goes to one engine, chosen by [`engine_split`](Self::engine_split):
    /// by default by its origin, so that one host's pool lives in one engine and every
    /// per-host limit stays exact. What is divided among the engines: `max_idle_total`
    /// (each keeps `max_idle_total / n`, rounded up), and by caller the per-host limits
    /// (see [`EngineSplit::ByCaller`]). What each engine has of its own: pools, timers,
    /// the DNS cache, its read buffer (`read_buffer_size`) and `resolver_threads` lookup
    /// threads (so `n × resolver_threads` in all), and, without a [`tls_config`](Self::tls_config), the default TLS settings
    /// and their resumption cache. What all share: the tracer, a custom
    /// [`resolver`](Self::resolver), the `tls_config` given (its resumption cache
    /// included), middleware and redirects (which run on the caller's thread).
    ///
    /// ```
    /// use wirepool::{Client, EngineSplit, ErrorKind};
    ///
    /// let client = Client::builder().engine_threads(2).build()?;
    /// assert_eq!(client.engine_threads(), 2);
    /// let per_caller = Client::builder()
    ///     .engine_threads(2)
    ///     .engine_split(EngineSplit::ByCaller)
    ///     .build()?;
    /// let err = Client::builder().engine_threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    /// # Ok::<(), wirepool::Error>(())
    /// ```
    pub fn engine_threads(mut self, n: usize) -> Self {
        self.engine_threads = n;
        self
    }

    /// How a client with several engines chooses a request's engine: by its origin
    /// ([`EngineSplit::ByHost`], the default) or by the calling thread
    /// ([`EngineSplit::ByCaller`]). No effect with one engine.
    pub fn engine_split(mut self, split: EngineSplit) -> Self {
        self.engine_split = split;
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

    /// Starts the engine thread (or threads). A setting that cannot work is refused
    /// here with [`ErrorKind::InvalidConfig`] naming it (see [`Config::validate`]).
    pub fn build(self) -> Result<Client, Error> {
        let ClientBuilder {
            config,
            middleware,
            redirect,
            tracer,
            engine_threads,
            engine_split,
            invalid,
        } = self;
        if let Some(e) = invalid {
            return Err(e);
        }
        // Validates every setting (an engine thread must not meet a value it cannot use).
        let engines = Engines::start(&config, engine_threads, engine_split, tracer.as_ref())?;
        Ok(Client {
            inner: Arc::new(Stack {
                core: Core { engines, config },
                middleware,
                redirect,
            }),
        })
    }
}
