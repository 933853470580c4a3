//! Name resolution for the Engine: blocking `getaddrinfo` on a few worker threads, answers
//! through a channel and a `mio::Waker`, a TTL cache, and the Happy Eyeballs dial order.
//!
//! # What this module owns
//!
//! * [`Resolver`]: turns `host:port` into socket addresses without ever blocking the Engine
//!   thread. IP literals answer at once; a fresh cache entry answers at once; anything else
//!   becomes a job for a worker thread, and the answer arrives later through
//!   [`Resolver::poll_answer`] after the Engine's `mio::Poll` was woken.
//! * The cache of successful answers (lower-cased host + port → addresses) with one TTL for
//!   all entries, bounded to [`MAX_CACHE_ENTRIES`].
//! * [`happy_eyeballs_order`]: the order in which a dial should try the addresses.
//!
//! ```text
//!   Engine thread                               worker threads (lazily started)
//!   lookup(host, port, now) ──► Ready(addrs)       (literal IP or fresh cache entry)
//!                           └─► Pending ──job──►  getaddrinfo (blocks here, not there)
//!   mio::Poll wakes  ◄──────────── Waker::wake ◄──┤
//!   poll_answer(now) ◄──────────── answer ◄───────┘
//! ```
//!
//! # What it deliberately does not do
//!
//! * No DNS protocol of its own: the system resolver (`/etc/hosts`, nsswitch, search
//!   domains, its own caches) is what users expect a client to obey. The price is that
//!   `getaddrinfo` reports no TTL, so the cache uses one configured TTL for every name.
//! * No dialing and no racing of connection attempts: the Engine owns sockets and timers.
//!   This module only says in which order addresses should be tried.
//! * No per-request state: the Engine matches an [`Answer`] to the connections waiting for
//!   it by host and port.
//!
//! # Threads and shutdown
//!
//! Worker threads start on the first lookup that needs one and then wait on a shared job
//! channel. Dropping the [`Resolver`] closes that channel and does **not** join the workers:
//! a worker blocked in `getaddrinfo` (which cannot be interrupted and may take as long as the
//! system resolver's own timeouts) finishes that call, finds the answer channel closed and
//! exits; idle workers exit at once. So a dropped Resolver may leave threads behind for as
//! long as one system lookup takes, but Drop itself never blocks on the network.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::Waker;

/// Most cached answers kept. A client talks to a bounded set of hosts in practice; the bound
/// only stops a client that visits an unbounded set (a crawler) from growing without limit.
pub(crate) const MAX_CACHE_ENTRIES: usize = 1024;

/// The longest an answer is cached: a configured `dns_ttl` beyond the clock's range
/// (`Duration::MAX` means "never expire") is cut to a century.
const LONGEST_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How a worker turns `host:port` into addresses: the system resolver in production, a fake
/// in tests (of this module and of the Engine) so they need no network.
pub(crate) type LookupFn = Arc<dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// A name resolver the engine calls instead of the system's: service discovery, a
/// fixed table, or a fake DNS in tests.
///
/// It runs on the engine's resolver threads (`resolver_threads`), never on the engine
/// thread, so it may block; its answers are cached for `dns_ttl` like the system's. It
/// is asked only for names: IP literals and `resolve` rules
/// ([`ResolveTo`](crate::ResolveTo)) never reach it. The addresses are tried in
/// RFC 8305 order (families interleaved), each racing the next after
/// `happy_eyeballs_delay`.
///
/// Any `Fn(&str, u16) -> io::Result<Vec<SocketAddr>>` closure is a resolver:
///
/// ```
/// use std::net::SocketAddr;
/// let client = wirepool::Client::builder()
///     .resolver(|host: &str, port: u16| -> std::io::Result<Vec<SocketAddr>> {
///         match host {
///             "api.service" => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
///             _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "unknown service")),
///         }
///     })
///     .build()?;
/// # Ok::<(), wirepool::Error>(())
/// ```
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` (lower-cased, never an IP literal) for `port`. An empty
    /// list or an error fails the requests waiting for it with `ErrorKind::Dns`.
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

impl<F> Resolve for F
where
    F: Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
{
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        self(host, port)
    }
}

/// A [`Resolve`] shared by the engine's resolver threads (what
/// [`Config::resolver`](crate::Config::resolver) holds).
#[derive(Clone)]
pub struct SharedResolver(Arc<dyn Resolve>);

impl SharedResolver {
    /// Wraps `resolver`.
    pub fn new(resolver: impl Resolve) -> SharedResolver {
        SharedResolver(Arc::new(resolver))
    }

    /// As the worker threads call it.
    pub(crate) fn lookup_fn(&self) -> LookupFn {
        let inner = Arc::clone(&self.0);
        Arc::new(move |host: &str, port: u16| inner.resolve(host, port))
    }
}

impl fmt::Debug for SharedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedResolver(..)")
    }
}

/// The system resolver: `getaddrinfo` through `std::net::ToSocketAddrs`.
fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

/// The result of [`Resolver::lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The addresses are known now (IP literal or fresh cache entry); never empty.
    Ready(Arc<[SocketAddr]>),
    /// A worker is resolving the name; an [`Answer`] for this host and port will come out of
    /// [`Resolver::poll_answer`] after the Engine's poll is woken.
    Pending,
}

/// A finished lookup, as returned by [`Resolver::poll_answer`].
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    /// The host as looked up, ASCII-lower-cased (so it equals the host of a `PoolKey`).
    pub host: Box<str>,
    /// The port as looked up.
    pub port: u16,
    /// The addresses in the system resolver's order (never empty), or why there are none.
    pub result: Result<Arc<[SocketAddr]>, DnsError>,
}

/// Name resolution failed: the name does not exist, has no address, or the system resolver
/// could not be asked. The environment is at fault, not the peer or the caller's code;
/// retrying later may succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsError {
    /// The host that was looked up.
    host: Box<str>,
    /// What went wrong.
    cause: DnsCause,
}

/// What went wrong in a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
enum DnsCause {
    /// The resolver succeeded but returned no address.
    NoAddress,
    /// The resolver failed; `kind` and `message` are taken from its `io::Error`, which is
    /// not `Clone` and so is not kept itself.
    Failed {
        /// The error's kind, for callers that branch on it.
        kind: io::ErrorKind,
        /// The error's text, without std's generic "failed to lookup address information"
        /// prefix (our own Display already says that).
        message: Box<str>,
    },
}

/// The prefix std puts before every `getaddrinfo` error text.
const STD_LOOKUP_PREFIX: &str = "failed to lookup address information: ";

impl DnsError {
    /// The resolver returned no address for `host`.
    fn no_address(host: &str) -> Self {
        DnsError {
            host: host.into(),
            cause: DnsCause::NoAddress,
        }
    }

    /// The resolver failed for `host` with `err` (also how the connection's unit tests
    /// make a failed answer).
    pub(crate) fn failed(host: &str, err: &io::Error) -> Self {
        let text = err.to_string();
        let message = text.strip_prefix(STD_LOOKUP_PREFIX).unwrap_or(&text);
        DnsError {
            host: host.into(),
            cause: DnsCause::Failed {
                kind: err.kind(),
                message: message.into(),
            },
        }
    }

    /// The host that could not be resolved.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// True if the resolver answered but with no address at all.
    pub fn is_no_address(&self) -> bool {
        self.cause == DnsCause::NoAddress
    }

    /// The kind of the resolver's I/O error, or `None` when it answered with no address.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match &self.cause {
            DnsCause::NoAddress => None,
            DnsCause::Failed { kind, .. } => Some(*kind),
        }
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            DnsCause::NoAddress => write!(f, "no address found for {}", self.host),
            DnsCause::Failed { message, .. } => {
                write!(f, "lookup of {} failed: {}", self.host, message)
            }
        }
    }
}

impl std::error::Error for DnsError {}

/// A lookup for a worker thread.
#[derive(Debug)]
struct Job {
    /// Lower-cased host.
    host: Box<str>,
    /// Port.
    port: u16,
}

/// A worker's raw result, turned into an [`Answer`] on the Engine thread.
#[derive(Debug)]
struct Reply {
    /// Lower-cased host, as in the job.
    host: Box<str>,
    /// Port, as in the job.
    port: u16,
    /// What the lookup function returned.
    result: io::Result<Vec<SocketAddr>>,
}

/// A cached successful answer.
#[derive(Clone, Debug)]
struct CacheEntry {
    /// The addresses, shared with every connection dialed from them.
    addrs: Arc<[SocketAddr]>,
    /// First instant at which the entry is stale.
    expires: Instant,
}

/// Resolves host names for one Engine without blocking it. See the module docs.
pub(crate) struct Resolver {
    /// Wakes the Engine's poll when a worker has posted an answer.
    waker: Arc<Waker>,
    /// How many worker threads to start (at least one).
    threads: usize,
    /// How long a successful answer is reused; zero disables the cache.
    ttl: Duration,
    /// What the workers call to resolve a name.
    lookup_fn: LookupFn,
    /// Sending side of the job channel; `None` until the first job starts the workers.
    /// Dropping it (with the Resolver) is what tells the workers to exit.
    jobs: Option<Sender<Job>>,
    /// Kept to clone into workers, and to post an error ourselves if no worker can start.
    replies_tx: Sender<Reply>,
    /// Answers from the workers, drained by `poll_answer`.
    replies_rx: Receiver<Reply>,
    /// Cache keys (`host:port`, lower-cased) of jobs not yet answered through
    /// `poll_answer`; a second lookup of one of them queues nothing (coalescing).
    in_flight: HashSet<Box<str>>,
    /// Successful answers by cache key, at most [`MAX_CACHE_ENTRIES`].
    cache: HashMap<Box<str>, CacheEntry>,
    /// Reused buffer for building cache keys, so a cache hit does not allocate.
    key_buf: String,
    /// Static answers (`Config::resolve`) by cache key: they never expire and never
    /// reach a worker.
    fixed: HashMap<Box<str>, Arc<[SocketAddr]>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("threads", &self.threads)
            .field("ttl", &self.ttl)
            .field("started", &self.jobs.is_some())
            .field("in_flight", &self.in_flight.len())
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver using the system resolver on up to `threads` worker threads (at least
    /// one), caching successful answers for `ttl` (zero: no cache). No thread starts until a
    /// lookup needs one.
    pub fn new(waker: Arc<Waker>, threads: usize, ttl: Duration) -> Self {
        Self::with_lookup_fn(waker, threads, ttl, Arc::new(system_lookup))
    }

    /// Like [`Resolver::new`] but resolving with `lookup_fn` (called on the worker threads):
    /// lets tests, including the Engine's, run without a network or a system resolver.
    pub fn with_lookup_fn(
        waker: Arc<Waker>,
        threads: usize,
        ttl: Duration,
        lookup_fn: LookupFn,
    ) -> Self {
        let (replies_tx, replies_rx) = crossbeam_channel::unbounded();
        Resolver {
            waker,
            threads: threads.max(1),
            ttl,
            lookup_fn,
            jobs: None,
            replies_tx,
            replies_rx,
            in_flight: HashSet::new(),
            cache: HashMap::new(),
            key_buf: String::new(),
            fixed: HashMap::new(),
        }
    }

    /// Answers `host:port` with `addrs` from now on, without asking anyone (curl's
    /// `--resolve`). A later rule for the same name replaces an earlier one.
    pub fn fix(&mut self, host: &str, port: u16, addrs: &[SocketAddr]) {
        self.fill_key(host, port);
        self.fixed
            .insert(self.key_buf.as_str().into(), Arc::from(addrs));
    }

    /// Addresses for `host:port`, now if possible.
    ///
    /// IP literals (`192.0.2.1`, `::1`, `[::1]`) answer `Ready` without a thread; so does a
    /// cache entry that has not expired at `now`. Otherwise a job is queued — unless one for
    /// the same host (case-insensitive) and port is already in flight — and `Pending` is
    /// returned. A cache hit does not allocate.
    pub fn lookup(&mut self, host: &str, port: u16, now: Instant) -> Lookup {
        if let Some(ip) = parse_ip_literal(host) {
            return Lookup::Ready(Arc::new([SocketAddr::new(ip, port)]));
        }
        self.fill_key(host, port);
        if let Some(addrs) = self.fixed.get(self.key_buf.as_str()) {
            return Lookup::Ready(Arc::clone(addrs));
        }
        if let Some(entry) = self.cache.get(self.key_buf.as_str()) {
            if now < entry.expires {
                return Lookup::Ready(Arc::clone(&entry.addrs));
            }
            self.cache.remove(self.key_buf.as_str());
        }
        if self.in_flight.contains(self.key_buf.as_str()) {
            return Lookup::Pending;
        }
        self.in_flight.insert(self.key_buf.as_str().into());
        // ASCII lower-casing keeps byte lengths, so the key starts with the lower-cased host.
        let job = Job {
            host: self.key_buf[..host.len()].into(),
            port,
        };
        self.submit(job);
        Lookup::Pending
    }

    /// When the cached answer for `host:port` expires: `None` for IP literals, static
    /// answers (`fix`) and names not cached (or with a zero TTL). The engine refreshes a
    /// host's answer then, while the host has connections.
    pub fn expiry(&mut self, host: &str, port: u16) -> Option<Instant> {
        if parse_ip_literal(host).is_some() {
            return None;
        }
        self.fill_key(host, port);
        if self.fixed.contains_key(self.key_buf.as_str()) {
            return None;
        }
        self.cache.get(self.key_buf.as_str()).map(|e| e.expires)
    }

    /// The next finished lookup, if any; never blocks.
    ///
    /// A success is cached until `now + ttl` (not at all when the TTL is zero). Errors are
    /// not cached: the next lookup asks again.
    pub fn poll_answer(&mut self, now: Instant) -> Option<Answer> {
        let reply = self.replies_rx.try_recv().ok()?;
        self.fill_key(&reply.host, reply.port);
        self.in_flight.remove(self.key_buf.as_str());
        let result = match reply.result {
            Ok(addrs) if addrs.is_empty() => Err(DnsError::no_address(&reply.host)),
            Ok(addrs) => {
                let addrs: Arc<[SocketAddr]> = addrs.into();
                // A TTL past the clock's range means "never expires": a century stands in.
                let ttl = self.ttl.min(LONGEST_TTL);
                if let Some(expires) = now.checked_add(ttl).filter(|_| !ttl.is_zero()) {
                    self.insert_cached(now, expires, Arc::clone(&addrs));
                }
                Ok(addrs)
            }
            Err(err) => Err(DnsError::failed(&reply.host, &err)),
        };
        Some(Answer {
            host: reply.host,
            port: reply.port,
            result,
        })
    }

    #[cfg(test)]
    /// Forgets every cached answer (lookups in flight are not affected and will be cached
    /// when they finish).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// Writes the cache key of `host:port` (host ASCII-lower-cased) into `key_buf`.
    fn fill_key(&mut self, host: &str, port: u16) {
        self.key_buf.clear();
        self.key_buf.push_str(host);
        self.key_buf.make_ascii_lowercase();
        // Writing into a String cannot fail.
        let _ = write!(self.key_buf, ":{port}");
    }

    /// Caches `addrs` under the key in `key_buf`, making room if the cache is full: first by
    /// dropping expired entries, then the entry closest to expiry.
    fn insert_cached(&mut self, now: Instant, expires: Instant, addrs: Arc<[SocketAddr]>) {
        if self.cache.len() >= MAX_CACHE_ENTRIES && !self.cache.contains_key(self.key_buf.as_str())
        {
            self.cache.retain(|_, entry| now < entry.expires);
            if self.cache.len() >= MAX_CACHE_ENTRIES {
                let soonest = self
                    .cache
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires)
                    .map(|(key, _)| key.clone());
                if let Some(key) = soonest {
                    self.cache.remove(&key);
                }
            }
        }
        self.cache
            .insert(self.key_buf.as_str().into(), CacheEntry { addrs, expires });
    }

    /// Hands `job` to the workers, starting them first if needed. If no worker can be
    /// started, answers the job with that error right away, so a lookup never hangs.
    fn submit(&mut self, job: Job) {
        if self.jobs.is_none() {
            if let Err(err) = self.start_workers() {
                self.post_failure(job, err);
                return;
            }
        }
        if let Some(jobs) = &self.jobs {
            if let Err(crossbeam_channel::SendError(job)) = jobs.send(job) {
                // Every worker is gone (none can exit while we hold the sender, unless one
                // panicked); answer instead of leaving the lookup pending forever.
                let err = io::Error::other("no resolver thread is running");
                self.post_failure(job, err);
            }
        }
    }

    /// Posts a failed reply for `job` and wakes the Engine so it sees it.
    fn post_failure(&mut self, job: Job, err: io::Error) {
        let reply = Reply {
            host: job.host,
            port: job.port,
            result: Err(err),
        };
        // We hold the receiver, so this cannot fail.
        let _ = self.replies_tx.send(reply);
        // If the poll is gone the Engine is too; nothing else to tell.
        let _ = self.waker.wake();
    }

    /// Starts the worker threads. Succeeds if at least one started.
    fn start_workers(&mut self) -> io::Result<()> {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
        let mut started = 0;
        let mut last_err = None;
        for i in 0..self.threads {
            let jobs = jobs_rx.clone();
            let replies = self.replies_tx.clone();
            let waker = Arc::clone(&self.waker);
            let lookup_fn = Arc::clone(&self.lookup_fn);
            let spawned = thread::Builder::new()
                .name(format!("wirepool-dns-{i}"))
                .spawn(move || run_worker(&jobs, &replies, &waker, &*lookup_fn));
            match spawned {
                Ok(_detached) => started += 1,
                Err(err) => last_err = Some(err),
            }
        }
        if started == 0 {
            return Err(last_err.unwrap_or_else(|| io::Error::other("no resolver thread")));
        }
        self.jobs = Some(jobs_tx);
        Ok(())
    }
}

/// A worker: resolve jobs until the job channel closes (the Resolver was dropped) or the
/// answer channel does (same reason, noticed after a slow lookup).
fn run_worker(
    jobs: &Receiver<Job>,
    replies: &Sender<Reply>,
    waker: &Waker,
    lookup_fn: &(dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync),
) {
    while let Ok(job) = jobs.recv() {
        let result = lookup_fn(&job.host, job.port);
        let reply = Reply {
            host: job.host,
            port: job.port,
            result,
        };
        if replies.send(reply).is_err() {
            return;
        }
        // An error means the poll is gone; the next recv will tell us to stop.
        let _ = waker.wake();
    }
}

/// The IP address written in `host`, if it is a literal: dotted IPv4, IPv6, or IPv6 in
/// brackets as it appears in a URI authority.
pub(crate) fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    host.parse::<IpAddr>().ok()
}

/// The order in which to try `addrs` when dialing, per RFC 8305 §4: address families
/// interleaved, starting with the family of the first address (the system resolver has
/// already sorted by RFC 6724, which puts IPv6 first where IPv6 works), each family keeping
/// its relative order. When one family runs out the rest of the other follows.
///
/// `[v6a, v6b, v4a, v4b]` becomes `[v6a, v4a, v6b, v4b]`; `[v4a, v4b, v6a]` becomes
/// `[v4a, v6a, v4b]`.
pub(crate) fn happy_eyeballs_order(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let first_is_v6 = first.is_ipv6();
    let mut leading = addrs.iter().filter(|a| a.is_ipv6() == first_is_v6);
    let mut other = addrs.iter().filter(|a| a.is_ipv6() != first_is_v6);
    let mut out = Vec::with_capacity(addrs.len());
    loop {
        match (leading.next(), other.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b).copied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const WAKE: Token = Token(0);

    /// A real poll and a waker registered with it, as the Engine has.
    fn poll_and_waker() -> (Poll, Arc<Waker>) {
        let poll = Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), WAKE).expect("waker"));
        (poll, waker)
    }

    /// Waits on `poll` like the Engine would until an answer comes out, or `limit` passes.
    fn wait_answer(
        poll: &mut Poll,
        resolver: &mut Resolver,
        now: Instant,
        limit: Duration,
    ) -> Option<Answer> {
        let deadline = Instant::now() + limit;
        let mut events = Events::with_capacity(8);
        loop {
            if let Some(answer) = resolver.poll_answer(now) {
                return Some(answer);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            poll.poll(&mut events, Some(left)).expect("poll");
        }
    }

    /// A lookup function that counts its calls and answers `addrs` for every name.
    fn counting(addrs: Vec<SocketAddr>) -> (LookupFn, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let f: LookupFn = Arc::new(move |_host: &str, port: u16| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(addrs
                .iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect())
        });
        (f, calls)
    }

    fn v4(a: u8, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, a), port))
    }

    fn v6(a: u16, port: u16) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, a),
            port,
            0,
            0,
        ))
    }

    #[test]
    fn literal_ips_answer_at_once_without_threads() {
        let (_poll, waker) = poll_and_waker();
        let (f, calls) = counting(vec![]);
        let mut r = Resolver::with_lookup_fn(waker, 2, Duration::from_secs(60), f);
        let now = Instant::now();
        let cases: [(&str, SocketAddr); 4] = [
            ("127.0.0.1", "127.0.0.1:8080".parse().expect("addr")),
            ("::1", "[::1]:8080".parse().expect("addr")),
            ("[::1]", "[::1]:8080".parse().expect("addr")),
            ("[2001:DB8::7]", "[2001:db8::7]:8080".parse().expect("addr")),
        ];
        for (host, expected) in cases {
            assert_eq!(
                r.lookup(host, 8080, now),
                Lookup::Ready(Arc::new([expected])),
                "{host}"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(r.jobs.is_none(), "no worker thread was started");
        assert!(r.poll_answer(now).is_none());
        // Not literals: brackets around IPv4, junk in brackets.
        for host in ["[127.0.0.1]", "[nope]", "1.2.3.4.5"] {
            assert_eq!(parse_ip_literal(host), None, "{host}");
        }
    }

    #[test]
    fn localhost_resolves_on_a_real_thread() {
        let (mut poll, waker) = poll_and_waker();
        let mut r = Resolver::new(waker, 1, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(r.lookup("localhost", 8080, now), Lookup::Pending);
        let answer = wait_answer(&mut poll, &mut r, now, Duration::from_secs(10))
            .expect("an answer for localhost within 10 s");
        assert_eq!((&*answer.host, answer.port), ("localhost", 8080));
        let addrs = answer.result.expect("localhost resolves");
        assert!(
            addrs
                .iter()
                .any(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
        // Now cached.
        assert_eq!(r.lookup("LocalHost", 8080, now), Lookup::Ready(addrs));
    }

    #[test]
    fn concurrent_lookups_of_one_name_are_coalesced() {
        let (mut poll, waker) = poll_and_waker();
        let (f, calls) = counting(vec![v4(1, 0)]);
        let mut r = Resolver::with_lookup_fn(waker, 2, Duration::from_secs(60), f);
        let now = Instant::now();
        assert_eq!(r.lookup("Example.com", 443, now), Lookup::Pending);
        assert_eq!(r.lookup("example.COM", 443, now), Lookup::Pending);
        let answer = wait_answer(&mut poll, &mut r, now, Duration::from_secs(10)).expect("answer");
        assert_eq!(&*answer.host, "example.com");
        assert_eq!(answer.result.expect("ok").as_ref(), &[v4(1, 443)]);
        assert!(
            wait_answer(&mut poll, &mut r, now, Duration::from_millis(200)).is_none(),
            "one answer only"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Another port is another lookup.
        assert_eq!(r.lookup("example.com", 80, now), Lookup::Pending);
        assert!(wait_answer(&mut poll, &mut r, now, Duration::from_secs(10)).is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn cache_hits_before_ttl_and_misses_from_ttl_on() {
        let (mut poll, waker) = poll_and_waker();
        let ttl = Duration::from_secs(30);
        let (f, calls) = counting(vec![v6(1, 0), v4(1, 0)]);
        let mut r = Resolver::with_lookup_fn(waker, 1, ttl, f);
        let t0 = Instant::now();
        assert_eq!(r.lookup("a.example", 80, t0), Lookup::Pending);
        let addrs = wait_answer(&mut poll, &mut r, t0, Duration::from_secs(10))
            .expect("answer")
            .result
            .expect("ok");
        let almost = t0 + ttl - Duration::from_nanos(1);
        assert_eq!(
            r.lookup("a.example", 80, t0),
            Lookup::Ready(Arc::clone(&addrs))
        );
        assert_eq!(
            r.lookup("A.EXAMPLE", 80, almost),
            Lookup::Ready(Arc::clone(&addrs))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            r.lookup("a.example", 80, t0 + ttl),
            Lookup::Pending,
            "stale at exactly ttl"
        );
        assert!(wait_answer(&mut poll, &mut r, t0 + ttl, Duration::from_secs(10)).is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(r.expiry("A.example", 80), Some(t0 + ttl + ttl), "{r:?}");
        assert_eq!(r.expiry("127.0.0.1", 80), None, "a literal never expires");
        assert_eq!(r.expiry("b.example", 80), None, "not cached");
        // The refreshed entry lives from the new answer's `now`.
        assert!(matches!(
            r.lookup("a.example", 80, t0 + ttl + ttl / 2),
            Lookup::Ready(_)
        ));
        r.clear_cache();
        assert_eq!(r.lookup("a.example", 80, t0 + ttl), Lookup::Pending);
    }

    #[test]
    fn a_ttl_past_the_clocks_range_caches_for_good() {
        let (mut poll, waker) = poll_and_waker();
        let (f, calls) = counting(vec![v4(1, 0)]);
        let mut r = Resolver::with_lookup_fn(waker, 1, Duration::MAX, f);
        let now = Instant::now();
        assert_eq!(r.lookup("a.example", 80, now), Lookup::Pending);
        assert!(wait_answer(&mut poll, &mut r, now, Duration::from_secs(10)).is_some());
        let a_year_later = now + Duration::from_secs(365 * 24 * 3600);
        assert!(matches!(
            r.lookup("a.example", 80, a_year_later),
            Lookup::Ready(_)
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let (mut poll, waker) = poll_and_waker();
        let (f, calls) = counting(vec![v4(1, 0)]);
        let mut r = Resolver::with_lookup_fn(waker, 1, Duration::ZERO, f);
        let now = Instant::now();
        for round in 1..=2 {
            assert_eq!(r.lookup("a.example", 80, now), Lookup::Pending);
            assert!(wait_answer(&mut poll, &mut r, now, Duration::from_secs(10)).is_some());
            assert_eq!(calls.load(Ordering::SeqCst), round);
        }
        assert!(r.cache.is_empty());
    }

    #[test]
    fn errors_and_empty_answers_are_reported_and_not_cached() {
        let (mut poll, waker) = poll_and_waker();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let f: LookupFn = Arc::new(move |host: &str, _port: u16| {
            counter.fetch_add(1, Ordering::SeqCst);
            if host == "empty.example" {
                Ok(Vec::new())
            } else {
                Err(io::Error::other(format!(
                    "{STD_LOOKUP_PREFIX}Name or service not known"
                )))
            }
        });
        let mut r = Resolver::with_lookup_fn(waker, 1, Duration::from_secs(60), f);
        let now = Instant::now();

        assert_eq!(r.lookup("Empty.Example", 80, now), Lookup::Pending);
        let err = wait_answer(&mut poll, &mut r, now, Duration::from_secs(10))
            .expect("answer")
            .result
            .expect_err("no addresses is an error");
        assert!(err.is_no_address());
        assert_eq!(err.io_kind(), None);
        assert_eq!(err.to_string(), "no address found for empty.example");

        assert_eq!(r.lookup("bad.example", 80, now), Lookup::Pending);
        let err = wait_answer(&mut poll, &mut r, now, Duration::from_secs(10))
            .expect("answer")
            .result
            .expect_err("lookup failed");
        assert_eq!(err.host(), "bad.example");
        assert_eq!(err.io_kind(), Some(io::ErrorKind::Other));
        assert_eq!(
            err.to_string(),
            "lookup of bad.example failed: Name or service not known"
        );

        // Not cached: asking again asks the resolver again.
        assert_eq!(r.lookup("bad.example", 80, now), Lookup::Pending);
        assert!(wait_answer(&mut poll, &mut r, now, Duration::from_secs(10)).is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(r.cache.is_empty());
    }

    #[test]
    fn an_invalid_name_fails_with_the_system_resolver() {
        let (mut poll, waker) = poll_and_waker();
        let mut r = Resolver::new(waker, 1, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(r.lookup("nonexistent.invalid", 80, now), Lookup::Pending);
        // `.invalid` is reserved (RFC 6761) and normally fails locally; 10 s covers a slow
        // system resolver, and a timeout is a failure.
        let answer = wait_answer(&mut poll, &mut r, now, Duration::from_secs(10))
            .expect("the system resolver answered within 10 s");
        let err = answer
            .result
            .expect_err("nonexistent.invalid must not resolve");
        assert_eq!(err.host(), "nonexistent.invalid");
        let text = err.to_string();
        assert!(
            text.starts_with("lookup of nonexistent.invalid failed: ")
                || text == "no address found for nonexistent.invalid",
            "{text}"
        );
    }

    #[test]
    fn cache_stays_bounded() {
        let (mut poll, waker) = poll_and_waker();
        let (f, _calls) = counting(vec![v4(1, 0)]);
        let mut r = Resolver::with_lookup_fn(waker, 2, Duration::from_secs(60), f);
        let t0 = Instant::now();
        let n = MAX_CACHE_ENTRIES + 50;
        for i in 0..n {
            assert_eq!(r.lookup(&format!("h{i}.example"), 80, t0), Lookup::Pending);
        }
        for i in 0..n {
            // Distinct `now`s make "closest to expiry" well defined: the earliest answers.
            let now = t0 + Duration::from_millis(i as u64);
            assert!(wait_answer(&mut poll, &mut r, now, Duration::from_secs(10)).is_some());
        }
        assert_eq!(r.cache.len(), MAX_CACHE_ENTRIES);
        assert!(r.in_flight.is_empty());
    }

    #[test]
    fn drop_does_not_wait_for_a_stuck_lookup() {
        let (_poll, waker) = poll_and_waker();
        let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(0);
        let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
        let f: LookupFn = Arc::new(move |_: &str, _: u16| {
            let _ = entered_tx.send(());
            let _ = release_rx.recv();
            Ok(vec![v4(1, 80)])
        });
        let alive = Arc::downgrade(&f);
        let mut r = Resolver::with_lookup_fn(waker, 1, Duration::from_secs(60), f);
        assert_eq!(
            r.lookup("stuck.example", 80, Instant::now()),
            Lookup::Pending
        );
        entered_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("worker entered the lookup");
        drop(r); // returns while the worker is still blocked in the lookup
        assert!(
            alive.upgrade().is_some(),
            "worker still holds the lookup fn"
        );
        drop(release_tx); // the lookup returns; the worker finds the channels closed
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive.upgrade().is_some() {
            assert!(Instant::now() < deadline, "worker thread did not exit");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn happy_eyeballs_order_table() {
        let (a6, b6, c6) = (v6(1, 443), v6(2, 443), v6(3, 443));
        let (a4, b4, c4) = (v4(1, 443), v4(2, 443), v4(3, 443));
        let cases: Vec<(Vec<SocketAddr>, Vec<SocketAddr>)> = vec![
            (vec![], vec![]),
            (vec![a4], vec![a4]),
            (vec![a6], vec![a6]),
            (vec![a4, b4, c4], vec![a4, b4, c4]),
            (vec![a6, b6, a4, b4], vec![a6, a4, b6, b4]),
            (vec![a6, b6, c6, a4], vec![a6, a4, b6, c6]),
            (vec![a4, b4, a6], vec![a4, a6, b4]),
            (vec![a6, a4, b6, b4], vec![a6, a4, b6, b4]),
            (vec![a4, a6, b4, b6, c4], vec![a4, a6, b4, b6, c4]),
            (vec![a6, b6, c6, a4, b4, c4], vec![a6, a4, b6, b4, c6, c4]),
        ];
        for (input, expected) in cases {
            assert_eq!(happy_eyeballs_order(&input), expected, "input {input:?}");
        }
    }
}
