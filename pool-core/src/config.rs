//! Settings shared by the [`Engine`](crate::Engine) and the [`Client`](crate::Client).
//!
//! The defaults are production defaults, not Go's: every request has a total deadline and
//! a response-header deadline, the idle pool per host is large enough for typical
//! concurrency (Go keeps 2 and closes the rest after every burst), unread bodies are
//! drained so their connection can be reused, and TCP keepalive probes find dead peers.
//! `docs/tuning.md` maps each Go `http.Transport` knob to the setting here.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderValue;
use http1_codec::{EncodedField, HeadLimits, HeaderCase};

use crate::dns::SharedResolver;
use crate::error::{Error, ErrorKind};
use crate::pool::ReuseOrder;
use crate::route::{ConnectTo, NoProxy, Proxy, ResolveTo};

/// The largest read buffer and response head accepted (64 MiB). A connection's read
/// buffer grows up to the larger of the two, so these bound the memory one connection
/// can pin; Go's `MaxResponseHeaderBytes` defaults to 10 MiB.
pub const MAX_BUFFER_BYTES: usize = 64 << 20;

/// The most resolver threads accepted: lookups block a thread each, and more than this
/// many at once is a resolver outage, not a reason for more threads.
pub const MAX_RESOLVER_THREADS: usize = 256;

/// Linux's limits for TCP keepalive probes (`MAX_TCP_KEEPIDLE`, `MAX_TCP_KEEPINTVL`:
/// 32 767 s; `MAX_TCP_KEEPCNT`: 127); the kernel refuses more, and zero.
const MAX_KEEPALIVE_SECS: u64 = 32_767;
const MAX_KEEPALIVE_PROBES: u32 = 127;

/// TCP keepalive probe settings (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
/// `TCP_KEEPCNT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Idle time before the first probe. Default 30 s.
    pub idle: Duration,
    /// Time between probes. Default 15 s.
    pub interval: Duration,
    /// Unanswered probes before the kernel drops the connection. Default 3.
    pub retries: u32,
}

impl Default for TcpKeepalive {
    fn default() -> Self {
        TcpKeepalive {
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(15),
            retries: 3,
        }
    }
}

/// Every setting of the pool, with production defaults. Build one with
/// [`Config::default`] and change fields, or use [`ClientBuilder`](crate::ClientBuilder).
///
/// Durations are never too large: `Duration::MAX` (or anything past the clock's range)
/// means "never". Values that cannot work are refused by [`Config::validate`], which
/// [`Engine::new`](crate::Engine::new) and the builder call: see there for each rule.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Config {
    /// Total deadline of a request: waiting for a connection, connecting, writing, the
    /// response head and the whole body. `None` = no limit. Default 30 s.
    pub timeout: Option<Duration>,
    /// Deadline for DNS plus TCP connect of a new connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Deadline from the request being fully written to the response head being read.
    /// `None` = only `timeout` applies. Default 10 s.
    pub response_header_timeout: Option<Duration>,
    /// With `Expect: 100-continue`, how long to wait for `100 Continue` before sending the
    /// body anyway (as Go and curl do). Default 1 s.
    pub expect_continue_timeout: Duration,
    /// An idle connection unused for this long is closed. Default 90 s.
    pub idle_timeout: Duration,
    /// Idle connections kept per host; when full, the oldest idle one is closed.
    /// Default 100 (Go: 2).
    pub max_idle_per_host: usize,
    /// Idle connections kept across all hosts; when full, the least recently used idle
    /// connection of any host is closed. Default 1000.
    pub max_idle_total: usize,
    /// Open connections (connecting + active + idle) per host; requests beyond it wait
    /// in a FIFO queue. `None` = unlimited (the default, like Go).
    pub max_conns_per_host: Option<usize>,
    /// A connection older than this is not reused (it finishes its request, then
    /// closes). Lets DNS changes take effect behind long-lived pools. Default `None`.
    pub max_conn_lifetime: Option<Duration>,
    /// Fraction (0.0..=1.0) of `max_conn_lifetime` taken off at random per connection, so
    /// a pool opened in one burst does not expire in one burst. Default 0.1.
    pub lifetime_jitter: f64,
    /// Requests served by one connection before it is closed. `None` = unlimited.
    pub max_requests_per_conn: Option<u32>,
    /// Which idle connection is reused first. Default LIFO (most recently used: warm,
    /// least likely to have been closed by the server).
    pub reuse_order: ReuseOrder,
    /// A response body dropped unread is read and discarded up to this many bytes so the
    /// connection can be reused; past it the connection is closed. Default 64 KiB.
    pub drain_limit: u64,
    /// Time allowed for that background drain. Default 2 s.
    pub drain_timeout: Duration,
    /// Resends, on a fresh connection, of an idempotent request that failed on a reused
    /// connection before any response byte arrived, when its body can start again (a
    /// streamed body that cannot is never resent: the stale connection's error is
    /// returned). Default 1; 0 disables.
    pub max_retries: u8,
    /// The most those resends may be, as a fraction (0.0..=1.0) of the host's recent
    /// requests (the last 10 to 20 s), so that a server that is dying — closing every
    /// connection — is not sent twice the load; past it the error is returned (counted
    /// in `HostStats::retries_denied`). A floor of 10 resends per 10 s lets a quiet
    /// client still recover from a stale connection. Default 0.2, as Finagle's retry
    /// budget and Envoy's `retry_budget.budget_percent`; 0.0 allows the floor only.
    pub retry_budget: f64,
    /// Time taken off a server's idle timeout — announced (`Keep-Alive: timeout=N`) or
    /// learned from its silent closes — before the pool stops reusing an idle
    /// connection: a request must reach the server before the server's own timer closes
    /// the connection. Default 1 s (undici's `keepAliveTimeoutThreshold`): more than a
    /// request takes to cross any network a pool is used over and the whole-second
    /// granularity of servers' timers, little against the usual timeouts (5 s for
    /// Node.js and Apache: reuse until 4 s). An idle timeout shorter than the margin
    /// means no idle reuse at all (a waiting request may still take the connection at
    /// once). The idle timeout used is never longer than `idle_timeout`.
    pub keepalive_margin: Duration,
    /// Learn the limits a server shows by closing connections without warning (after
    /// so many requests, or so much idle time) and stop reusing connections just before
    /// them, so that a request — a `POST` above all — is not sent on a connection the
    /// server is closing. See `docs/tuning.md` and `LearnedLimits` in the stats. Default
    /// on; off reuses every connection until the server closes it.
    pub learn_server_limits: bool,
    /// Follow the host's DNS answer instead of pinning it: new dials start with the
    /// answer's least loaded address (least connections, not always the first); the
    /// answer is looked up again when its `dns_ttl` runs out while the host has
    /// connections, and then connections to addresses that left it are closed (idle
    /// ones at once, busy ones when their request ends; `CloseCause::DnsChange`), and
    /// if it brought new addresses (a scale-out) connections on crowded addresses are
    /// moved there as they come back to the pool (`CloseCause::Rebalance`). Needs a
    /// `dns_ttl` above zero to refresh. Default on; off dials the answer's first
    /// address first (Happy Eyeballs order) and keeps connections to whatever they
    /// reached until they close — `max_conn_lifetime` is then the only way to pick up a
    /// change (Go's behaviour).
    pub follow_dns: bool,
    /// Requests that may wait for a connection per host once `max_conns_per_host` is
    /// reached; one more fails at once with [`ErrorKind::WaitQueueFull`](crate::ErrorKind::WaitQueueFull)
    /// (nothing sent: safe to retry, elsewhere or later). `Some(0)`: never wait.
    /// Default `None` (no limit: each waiter is bounded by its own deadlines).
    pub max_waiters_per_host: Option<usize>,
    /// Longest a request may wait for a connection (in the queue behind
    /// `max_conns_per_host`); past it the request fails with
    /// [`ErrorKind::PoolWaitTimeout`](crate::ErrorKind::PoolWaitTimeout), told apart from
    /// the total `timeout`, which keeps running from submission. Default `None` (only
    /// `timeout` bounds the wait).
    pub pool_wait_timeout: Option<Duration>,
    /// `TCP_NODELAY`. Default on: requests are written in one piece, Nagle only adds delay.
    pub tcp_nodelay: bool,
    /// TCP keepalive probes. Default on (30 s idle).
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Local address to bind before connecting. Default `None`.
    pub local_address: Option<IpAddr>,
    /// How long a DNS answer is reused (`getaddrinfo` and the `resolver` hook give no TTL
    /// of their own, so this is the TTL of every answer); with `follow_dns`, a host with
    /// connections has its answer looked up again when it runs out. Default 30 s; zero
    /// disables the cache (and the refresh: every dial resolves). curl:
    /// `--dns-cache-timeout` (60 s); Go caches nothing.
    pub dns_ttl: Duration,
    /// Threads that run blocking `getaddrinfo`. Default 2.
    pub resolver_threads: usize,
    /// TLS settings for `https` (roots, client certificate, resumption cache). `None`:
    /// built on the first `https` request from the system's trust store.
    pub tls: Option<tls_glue::TlsConfig>,
    /// Deadline for the TLS handshake of a new connection. Default 10 s (as Go).
    pub tls_handshake_timeout: Duration,
    /// Delay before racing the next address family (RFC 8305). Default 250 ms.
    pub happy_eyeballs_delay: Duration,
    /// Limits on the response head (size, header count). Default 64 KiB, 100 headers.
    pub head_limits: HeadLimits,
    /// Size of each socket read: the engine's one read buffer, lent to the connection
    /// reading (a connection keeps only the bytes it could not use yet). Default 64 KiB:
    /// a 64 KiB body takes two reads instead of five, and the buffer exists once per
    /// engine, not per connection.
    pub read_buffer_size: usize,
    /// Client only: body bytes buffered between a caller's thread and the engine, in
    /// each direction. Response bodies: bytes the engine may buffer for a reader that
    /// has not read them yet; beyond it the engine stops reading that socket. Streamed
    /// request bodies: bytes read from the caller's reader and not yet written; beyond
    /// it the reader waits. Default 256 KiB.
    pub body_buffer_limit: usize,
    /// How request header names go on the wire: canonical `Title-Case` (`Host`,
    /// `Content-Length`, `X-Token`; the default, as Go and curl send them) or
    /// [`HeaderCase::Lower`] (as the `http` crate stores them).
    pub header_case: HeaderCase,
    /// The `User-Agent` sent when a request has none; `None` sends none. Default
    /// `wirepool/<version>`.
    pub user_agent: Option<HeaderValue>,
    /// `user_agent` encoded once in `header_case` (`User-Agent: …\r\n`), so that every
    /// request head gets it with one copy (set by `Default` and again by `Engine::new`).
    pub(crate) encoded_user_agent: Option<EncodedField>,
    /// `Accept-Encoding: gzip, deflate\r\n` in `header_case`, for the Client's
    /// compression layer (see `client/decode.rs`).
    pub(crate) encoded_accept_encoding: Option<EncodedField>,
    /// Client only: ask for compressed responses (`Accept-Encoding: gzip, deflate`,
    /// added only to requests that set no `Accept-Encoding` and no `Range`) and decode
    /// them transparently. Default on when the `compression` feature is built (it is a
    /// default feature); without the feature this setting does nothing.
    pub decompress: bool,
    /// Client only: the most bytes a compressed response body may decode to; more fails
    /// the read with [`ErrorKind::BodyTooLarge`] (a decompression bomb). `None` = no
    /// limit. Default 64 MiB.
    pub max_decoded_body_bytes: Option<u64>,
    /// The HTTP proxy for every request (`http://` and `https://`), instead of the
    /// environment's. Default `None`. Go: `Transport.Proxy = http.ProxyURL(u)`; curl:
    /// `-x`. See `docs/proxies.md`.
    pub proxy: Option<Proxy>,
    /// Hosts that never go through a proxy, instead of the environment's `NO_PROXY`.
    /// Default `None`. curl: `--noproxy`.
    pub no_proxy: Option<NoProxy>,
    /// Read `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy` (and their
    /// upper-case forms) when the engine is built, for whatever `proxy` and `no_proxy`
    /// leave unset. Default on, as Go's `http.ProxyFromEnvironment` and curl.
    pub proxy_from_env: bool,
    /// Deadline for a proxy's answer to `CONNECT`, from the moment the TCP connection
    /// to the proxy is up (and its TLS handshake, for an `https://` proxy). The TCP
    /// connect itself is under `connect_timeout`. Default 10 s.
    pub proxy_connect_timeout: Duration,
    /// Send every request over this Unix domain socket; the URL's host is only the
    /// `Host` header. Default `None`. curl: `--unix-socket`.
    pub unix_socket: Option<PathBuf>,
    /// Rules that send connections for one `host:port` to another (curl's
    /// `--connect-to`); the first that applies wins. Default none.
    pub connect_to: Vec<ConnectTo>,
    /// Static answers for `host:port` that skip the resolver (curl's `--resolve`).
    /// Default none.
    pub resolve: Vec<ResolveTo>,
    /// Resolves names instead of the system resolver (`getaddrinfo`), on the resolver
    /// threads: service discovery, or a fake DNS in tests. Default `None`.
    pub resolver: Option<SharedResolver>,
}

/// What the Client's compression layer offers.
pub(crate) const ACCEPT_ENCODING_OFFER: &str = "gzip, deflate";

/// `Accept-Encoding: gzip, deflate` encoded in `case` (a constant: it always encodes).
fn accept_encoding_field(case: HeaderCase) -> Option<EncodedField> {
    EncodedField::new(
        http::header::ACCEPT_ENCODING,
        ACCEPT_ENCODING_OFFER.as_bytes(),
        case,
    )
    .ok()
}

/// The `User-Agent` sent by default: `wirepool/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("wirepool/", env!("CARGO_PKG_VERSION"));

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(10),
            response_header_timeout: Some(Duration::from_secs(10)),
            expect_continue_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 100,
            max_idle_total: 1000,
            max_conns_per_host: None,
            max_conn_lifetime: None,
            lifetime_jitter: 0.1,
            max_requests_per_conn: None,
            reuse_order: ReuseOrder::Lifo,
            drain_limit: 64 * 1024,
            drain_timeout: Duration::from_secs(2),
            max_retries: 1,
            retry_budget: 0.2,
            keepalive_margin: Duration::from_secs(1),
            learn_server_limits: true,
            follow_dns: true,
            max_waiters_per_host: None,
            pool_wait_timeout: None,
            tcp_nodelay: true,
            tcp_keepalive: Some(TcpKeepalive::default()),
            local_address: None,
            dns_ttl: Duration::from_secs(30),
            resolver_threads: 2,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            happy_eyeballs_delay: Duration::from_millis(250),
            head_limits: HeadLimits::default(),
            read_buffer_size: 64 * 1024,
            body_buffer_limit: 256 * 1024,
            header_case: HeaderCase::Title,
            user_agent: Some(HeaderValue::from_static(DEFAULT_USER_AGENT)),
            encoded_user_agent: EncodedField::new(
                http::header::USER_AGENT,
                DEFAULT_USER_AGENT.as_bytes(),
                HeaderCase::Title,
            )
            .ok(),
            encoded_accept_encoding: accept_encoding_field(HeaderCase::Title),
            decompress: cfg!(feature = "compression"),
            max_decoded_body_bytes: Some(64 << 20),
            proxy: None,
            no_proxy: None,
            proxy_from_env: true,
            proxy_connect_timeout: Duration::from_secs(10),
            unix_socket: None,
            connect_to: Vec::new(),
            resolve: Vec::new(),
            resolver: None,
        }
    }
}

/// Builds the `InvalidConfig` error for `setting`.
fn refuse(setting: &str, rule: impl fmt::Display) -> Error {
    Error::msg(ErrorKind::InvalidConfig, format!("{setting}: {rule}"))
}

impl Config {
    /// This configuration with what is derived from its settings computed (the encoded
    /// `User-Agent`): called by `Engine::new` after [`validate`](Self::validate).
    pub(crate) fn prepared(mut self) -> Config {
        self.encoded_user_agent = self.user_agent.as_ref().and_then(|ua| {
            EncodedField::new(http::header::USER_AGENT, ua.as_bytes(), self.header_case).ok()
        });
        self.encoded_accept_encoding = accept_encoding_field(self.header_case);
        self
    }

    /// Checks every setting; the error names the first one refused and what it allows.
    ///
    /// Refused: zero where zero cannot work (`connect_timeout`,
    /// `tls_handshake_timeout`, `proxy_connect_timeout`, `Some(0)` for `timeout`,
    /// `response_header_timeout`, `pool_wait_timeout`, `max_conns_per_host`,
    /// `max_requests_per_conn`, `max_decoded_body_bytes`; zero `read_buffer_size`,
    /// `body_buffer_limit`, head limits, `resolver_threads`), a `lifetime_jitter` or
    /// `retry_budget` that is not a number from 0 to 1, a `user_agent` that is not a valid
    /// field value, buffers over 64 MiB (`MAX_BUFFER_BYTES`), more than
    /// 256 resolver threads (`MAX_RESOLVER_THREADS`), and TCP keepalive values the kernel
    /// refuses (1 s to 32 767 s, 1 to 127 probes), an empty `unix_socket` path and a
    /// `resolve` rule without an address. Everything else is allowed, and a
    /// duration too large for the clock means "never".
    pub fn validate(&self) -> Result<(), Error> {
        let no_limit = "must be more than zero (None means no limit)";
        if self.timeout == Some(Duration::ZERO) {
            return Err(refuse("timeout", no_limit));
        }
        if self.response_header_timeout == Some(Duration::ZERO) {
            return Err(refuse("response_header_timeout", no_limit));
        }
        if self.pool_wait_timeout == Some(Duration::ZERO) {
            return Err(refuse(
                "pool_wait_timeout",
                "must be more than zero (None means no limit; max_waiters_per_host(Some(0)) fails at once instead of waiting)",
            ));
        }
        let never = "must be more than zero (Duration::MAX means no limit)";
        if self.connect_timeout.is_zero() {
            return Err(refuse("connect_timeout", never));
        }
        if self.tls_handshake_timeout.is_zero() {
            return Err(refuse("tls_handshake_timeout", never));
        }
        if self.proxy_connect_timeout.is_zero() {
            return Err(refuse("proxy_connect_timeout", never));
        }
        if let Some(path) = &self.unix_socket {
            if path.as_os_str().is_empty() {
                return Err(refuse("unix_socket", "must be a path"));
            }
        }
        if let Some(rule) = self.resolve.iter().find(|r| r.addrs().is_empty()) {
            return Err(refuse(
                "resolve",
                format_args!("{}:{} has no address", rule.host(), rule.port()),
            ));
        }
        if self.max_conns_per_host == Some(0) {
            return Err(refuse("max_conns_per_host", no_limit));
        }
        if self.max_requests_per_conn == Some(0) {
            return Err(refuse("max_requests_per_conn", no_limit));
        }
        if self.max_decoded_body_bytes == Some(0) {
            return Err(refuse("max_decoded_body_bytes", no_limit));
        }
        if let Some(ua) = &self.user_agent {
            if let Err(e) =
                EncodedField::new(http::header::USER_AGENT, ua.as_bytes(), self.header_case)
            {
                return Err(refuse("user_agent", e));
            }
        }
        for (setting, fraction) in [
            ("lifetime_jitter", self.lifetime_jitter),
            ("retry_budget", self.retry_budget),
        ] {
            if !(0.0..=1.0).contains(&fraction) {
                return Err(refuse(
                    setting,
                    format_args!("must be from 0.0 to 1.0, got {fraction}"),
                ));
            }
        }
        let sizes = [
            ("read_buffer_size", self.read_buffer_size),
            (
                "head_limits.max_head_bytes",
                self.head_limits.max_head_bytes,
            ),
        ];
        for (setting, bytes) in sizes {
            if bytes == 0 || bytes > MAX_BUFFER_BYTES {
                return Err(refuse(
                    setting,
                    format_args!("must be from 1 to {MAX_BUFFER_BYTES} bytes, got {bytes}"),
                ));
            }
        }
        if self.head_limits.max_headers == 0 {
            return Err(refuse("head_limits.max_headers", "must be at least 1"));
        }
        if self.body_buffer_limit == 0 {
            return Err(refuse("body_buffer_limit", "must be at least 1 byte"));
        }
        if self.resolver_threads == 0 || self.resolver_threads > MAX_RESOLVER_THREADS {
            return Err(refuse(
                "resolver_threads",
                format_args!(
                    "must be from 1 to {MAX_RESOLVER_THREADS}, got {}",
                    self.resolver_threads
                ),
            ));
        }
        if let Some(ka) = self.tcp_keepalive {
            let secs = 1..=MAX_KEEPALIVE_SECS;
            for (setting, d) in [
                ("tcp_keepalive.idle", ka.idle),
                ("tcp_keepalive.interval", ka.interval),
            ] {
                if !secs.contains(&d.as_secs()) {
                    return Err(refuse(
                        setting,
                        format_args!("must be from 1 s to {MAX_KEEPALIVE_SECS} s, got {d:?}"),
                    ));
                }
            }
            if !(1..=MAX_KEEPALIVE_PROBES).contains(&ka.retries) {
                return Err(refuse(
                    "tcp_keepalive.retries",
                    format_args!(
                        "must be from 1 to {MAX_KEEPALIVE_PROBES}, got {}",
                        ka.retries
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(config: &Config) -> String {
        match config.validate() {
            Ok(()) => panic!("accepted: {config:?}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidConfig);
                std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            }
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn each_refusal_names_its_setting() {
        type Case = (&'static str, fn(&mut Config));
        let cases: Vec<Case> = vec![
            ("timeout", |c| c.timeout = Some(Duration::ZERO)),
            ("response_header_timeout", |c| {
                c.response_header_timeout = Some(Duration::ZERO)
            }),
            ("connect_timeout", |c| c.connect_timeout = Duration::ZERO),
            ("tls_handshake_timeout", |c| {
                c.tls_handshake_timeout = Duration::ZERO
            }),
            ("proxy_connect_timeout", |c| {
                c.proxy_connect_timeout = Duration::ZERO
            }),
            ("unix_socket", |c| c.unix_socket = Some(PathBuf::new())),
            ("resolve", |c| {
                c.resolve = vec![ResolveTo::new("h", 80, Vec::new())]
            }),
            ("max_conns_per_host", |c| c.max_conns_per_host = Some(0)),
            ("max_requests_per_conn", |c| {
                c.max_requests_per_conn = Some(0)
            }),
            ("max_decoded_body_bytes", |c| {
                c.max_decoded_body_bytes = Some(0)
            }),
            ("lifetime_jitter", |c| c.lifetime_jitter = f64::NAN),
            ("lifetime_jitter", |c| c.lifetime_jitter = -0.1),
            ("lifetime_jitter", |c| c.lifetime_jitter = 1.5),
            ("lifetime_jitter", |c| c.lifetime_jitter = f64::INFINITY),
            ("retry_budget", |c| c.retry_budget = f64::NAN),
            ("retry_budget", |c| c.retry_budget = -0.01),
            ("retry_budget", |c| c.retry_budget = 1.01),
            ("pool_wait_timeout", |c| {
                c.pool_wait_timeout = Some(Duration::ZERO)
            }),
            ("read_buffer_size", |c| c.read_buffer_size = 0),
            ("read_buffer_size", |c| c.read_buffer_size = usize::MAX),
            ("max_head_bytes", |c| c.head_limits.max_head_bytes = 0),
            ("max_head_bytes", |c| {
                c.head_limits.max_head_bytes = usize::MAX
            }),
            ("max_headers", |c| c.head_limits.max_headers = 0),
            ("body_buffer_limit", |c| c.body_buffer_limit = 0),
            ("resolver_threads", |c| c.resolver_threads = 0),
            ("resolver_threads", |c| c.resolver_threads = usize::MAX),
            ("tcp_keepalive.idle", |c| {
                c.tcp_keepalive = Some(TcpKeepalive {
                    idle: Duration::ZERO,
                    ..TcpKeepalive::default()
                })
            }),
            ("tcp_keepalive.interval", |c| {
                c.tcp_keepalive = Some(TcpKeepalive {
                    interval: Duration::MAX,
                    ..TcpKeepalive::default()
                })
            }),
            ("tcp_keepalive.retries", |c| {
                c.tcp_keepalive = Some(TcpKeepalive {
                    retries: 0,
                    ..TcpKeepalive::default()
                })
            }),
        ];
        for (setting, change) in cases {
            let mut config = Config::default();
            change(&mut config);
            let message = refused(&config);
            assert!(message.contains(setting), "{setting}: {message}");
        }
    }
}
