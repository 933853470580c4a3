//! Settings shared by the [`Engine`](crate::Engine) and the [`Client`](crate::Client).
//!
//! The defaults are production defaults, not Go's: every request has a total deadline and
//! a response-header deadline, the idle pool per host is large enough for typical
//! concurrency (Go keeps 2 and closes the rest after every burst), unread bodies are
//! drained so their connection can be reused, and TCP keepalive probes find dead peers.
//! `docs/tuning.md` maps each Go `http.Transport` knob to the setting here.

use std::net::IpAddr;
use std::time::Duration;

use http1_codec::HeadLimits;

use crate::pool::ReuseOrder;

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
    /// connection before any response byte arrived. Default 1; 0 disables.
    pub max_retries: u8,
    /// `TCP_NODELAY`. Default on: requests are written in one piece, Nagle only adds delay.
    pub tcp_nodelay: bool,
    /// TCP keepalive probes. Default on (30 s idle).
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Local address to bind before connecting. Default `None`.
    pub local_address: Option<IpAddr>,
    /// How long a DNS answer is reused. Default 30 s; zero disables the cache.
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
    /// Size of a connection's read buffer. Default 16 KiB.
    pub read_buffer_size: usize,
    /// Client only: body bytes the engine may buffer for a reader that has not read
    /// them yet; beyond it the engine stops reading that socket. Default 256 KiB.
    pub body_buffer_limit: usize,
}

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
            tcp_nodelay: true,
            tcp_keepalive: Some(TcpKeepalive::default()),
            local_address: None,
            dns_ttl: Duration::from_secs(30),
            resolver_threads: 2,
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            happy_eyeballs_delay: Duration::from_millis(250),
            head_limits: HeadLimits::default(),
            read_buffer_size: 16 * 1024,
            body_buffer_limit: 256 * 1024,
        }
    }
}
