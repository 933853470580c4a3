//! Per-host connection pools: idle lists, open-connection accounting, wait queues and
//! counters, all behind O(1) operations on plain indices.
//!
//! # What this module owns
//!
//! * The mapping from a request's scheme + host + port to a [`HostId`] ([`Pools::host_id`]),
//!   found without allocating once the host is known.
//! * For each host: how many connections are open (connecting, active or idle) so that
//!   `max_conns_per_host` can be enforced, the idle connections, the FIFO queue of request
//!   ids waiting for a connection, and the counters behind [`Stats`].
//! * One global LRU order of every idle connection across hosts, so that
//!   `max_idle_total` evicts the connection that has been idle longest anywhere.
//!
//! # What it deliberately does not do
//!
//! It never sees a socket, a clock or a connection object. Connections are named by
//! [`ConnId`] (the Engine's slab index) and time is passed in as `now`. Whatever must happen
//! to a connection — closing an evicted one, arming an idle-expiry deadline, re-checking
//! readiness — is the Engine's job; this module only answers "which one". That keeps the
//! pool logic testable with plain integers (see the model test at the bottom) and keeps
//! every syscall in the Engine's loop.
//!
//! # Data layout and invariants
//!
//! Idle connections live in a `Vec<Option<IdleNode>>` indexed by [`ConnId`]: slot `c` is
//! `Some` exactly when connection `c` is idle. Each idle node is linked into two intrusive
//! doubly linked lists at once:
//!
//! ```text
//!   host list (one per host)      oldest ⇄ … ⇄ newest      pop: newest (LIFO) or oldest (FIFO)
//!   LRU list  (one for all hosts) oldest ⇄ … ⇄ newest      evict: oldest
//! ```
//!
//! Invariants, checked after every step of the model test by `check_invariants`:
//!
//! 1. A node is in its host's list and in the LRU list, or in neither (then its slot is
//!    `None`). There are no other states.
//! 2. In each list, `a.next == Some(b)` if and only if `b.prev == Some(a)`; the `oldest` end
//!    has no `prev`, the `newest` end has no `next`; the stored `len` is the number of nodes
//!    reachable from `oldest`.
//! 3. Both lists are ordered by the instant the connection went idle: a push always links
//!    at the `newest` end, so no sort is ever needed.
//! 4. The sum of all host list lengths equals the LRU length (`idle_total`).
//!
//! Because a node knows its neighbours, removing any idle connection (it became readable,
//! its idle deadline fired, it was picked for reuse) is O(1), which is the reason for the
//! intrusive lists instead of a `VecDeque` per host.
//!
//! Waiters are a `VecDeque` of `(request id, ticket)` plus a map from live request ids to
//! their ticket. Removing a waiter only drops it from the map (a tombstone is left in the
//! queue and skipped by `pop_waiter`); the queue is compacted when tombstones outnumber live
//! entries, so removal is amortized O(1) and [`Pools::waiting`] is always exact.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

/// Index of a connection in the Engine's slab. The Engine reuses the ids of closed
/// connections, so an id names a connection only while that connection exists.
pub(crate) type ConnId = usize;

/// Index of a host pool inside [`Pools`]. Never reused while the `Pools` lives, so an id may
/// be kept in a connection or a request for as long as the Engine runs.
pub(crate) type HostId = usize;

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

/// The URI scheme of a pooled connection: it decides whether the connection runs TLS, so two
/// connections to the same host and port but different schemes never share a pool.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain-text HTTP/1.1 over TCP.
    Http,
    /// HTTP/1.1 over TLS.
    Https,
}

impl Scheme {
    /// The scheme as written in a URI: `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when a URI names none: 80 for `http`, 443 for `https`.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What makes two connections interchangeable: scheme, lower-cased host and port.
///
/// A request may reuse any idle connection with an equal key. (A proxy will become part of
/// the key when proxies arrive: a connection through a proxy is not a connection to the
/// origin.) Host names compare ASCII case-insensitively, as DNS names do; the stored host is
/// lower-cased once at construction so `Eq` and `Hash` can stay derived.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct PoolKey {
    /// Plain or TLS: connections of different schemes are never interchangeable.
    scheme: Scheme,
    /// Lower-cased host name or IP literal, exactly as it will be resolved and used for SNI.
    host: Box<str>,
    /// TCP port; always explicit (the scheme's default filled in by the caller).
    port: u16,
}

impl PoolKey {
    /// Builds a key, lower-casing ASCII letters of `host`.
    pub fn new(scheme: Scheme, host: &str, port: u16) -> Self {
        PoolKey {
            scheme,
            host: host.to_ascii_lowercase().into_boxed_str(),
            port,
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The lower-cased host (an IPv6 literal keeps the form it was given in, bracketed or not).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True if this key names `scheme://host:port`, comparing `host` ASCII case-insensitively.
    fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        self.scheme == scheme && self.port == port && self.host.eq_ignore_ascii_case(host)
    }
}

impl fmt::Display for PoolKey {
    /// `http://example.com:80`; an unbracketed IPv6 literal is bracketed: `http://[::1]:80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') && !self.host.starts_with('[') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------

/// A small, fast, non-cryptographic hasher in the style of rustc's FxHash.
///
/// Used where keys are either trusted (engine-assigned request ids) or already reduced to a
/// `u64` by [`host_hash`]. Host names come from the caller's own requests, not from peers, so
/// hash-flooding resistance (what std's SipHash buys) is not needed on this path, and the
/// per-request lookup stays a few multiplications.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct FxHasher {
    /// Running state; every word is folded in with a rotate, xor and multiply.
    hash: u64,
}

/// Odd multiplier from rustc-hash: spreads each input word over the high bits.
const FX_SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    /// Folds one 64-bit word into the state.
    #[inline]
    fn add_word(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add_word(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add_word(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add_word(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add_word(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the best-mixed bits at the top; hash tables index with the low
        // bits, so rotate the top down (what rustc-hash 2 does).
        self.hash.rotate_left(26)
    }
}

/// `BuildHasher` for [`FxHasher`], for `HashMap`s with trusted or pre-hashed keys.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// Hashes scheme, ASCII-lower-cased `host` and port without allocating, so that
/// [`Pools::host_id`] can find a known host from the request's own bytes.
fn host_hash(scheme: Scheme, host: &str, port: u16) -> u64 {
    let mut h = FxHasher::default();
    h.add_word(scheme as u64);
    h.add_word(u64::from(port));
    let bytes = host.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        for (dst, src) in word.iter_mut().zip(chunk) {
            *dst = src.to_ascii_lowercase();
        }
        h.add_word(u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    // The length goes into the last word so that "a" and "a\0" cannot collide by padding.
    let mut word = [0u8; 8];
    for (dst, src) in word.iter_mut().zip(rest) {
        *dst = src.to_ascii_lowercase();
    }
    h.add_word(u64::from_le_bytes(word) ^ ((bytes.len() as u64) << 56));
    h.finish()
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

/// Which idle connection of a host a request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReuseOrder {
    /// The most recently returned one. Keeps a small hot set busy and lets the rest age out
    /// through the idle timeout, so the pool shrinks after a burst. The default.
    #[default]
    Lifo,
    /// The one idle longest. Spreads requests over every idle connection (useful behind a
    /// load balancer that balances per connection), at the cost of keeping all of them warm.
    Fifo,
}

/// Pool sizes and policy, fixed when [`Pools`] is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolLimits {
    /// Most idle connections kept per host; returning one more evicts that host's oldest.
    /// 0 disables keeping idle connections at all.
    pub max_idle_per_host: usize,
    /// Most idle connections kept across all hosts; one more evicts the least recently idled
    /// connection anywhere. 0 disables keeping idle connections at all.
    pub max_idle_total: usize,
    /// Most open connections (connecting + active + idle) per host, or `None` for no limit.
    /// Requests beyond it wait in the host's FIFO queue.
    pub max_conns_per_host: Option<usize>,
    /// Which idle connection a request reuses.
    pub order: ReuseOrder,
}

// ---------------------------------------------------------------------------------------
// Counters and the stats snapshot
// ---------------------------------------------------------------------------------------

/// Why a connection was closed, for the close counters in [`Stats`] and for logs.
///
/// The limits behind these causes are the client's own settings. A server's
/// `Keep-Alive: timeout=N, max=M` header is not read today: a server that closes idle
/// connections sooner than `idle_timeout` shows up as [`CloseCause::ServerClose`] (the
/// idle socket becomes readable at EOF and is dropped before reuse), not as
/// [`CloseCause::IdleTimeout`] or [`CloseCause::MaxRequests`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCause {
    /// It sat idle for `idle_timeout` (found when its idle-expiry deadline fires, or when
    /// a request finds it expired on checkout).
    IdleTimeout,
    /// It reached `max_conn_lifetime` (shortened by `lifetime_jitter`), for example so that
    /// a DNS change is picked up.
    Lifetime,
    /// The server closed it: EOF or a reset while idle, EOF before any byte of a response
    /// arrived, or EOF while an unread body was being drained.
    ServerClose,
    /// An I/O, TLS or protocol error (a body cut short included) or a deadline (connect,
    /// TLS handshake, response head, total) in the middle of an exchange, bytes after the
    /// end of a response, or unsolicited bytes on an idle connection.
    Error,
    /// Made room: the idle pool was full (`max_idle_per_host` or `max_idle_total`) and
    /// the oldest idle connection (of the host, or of all hosts) was closed, or with a
    /// limit of 0 the connection coming back; or a request retried after a stale
    /// connection was waiting at `max_conns_per_host` and a used connection was closed so
    /// that it could dial a fresh one.
    Evicted,
    /// It served `max_requests_per_conn` requests (a client setting; the server's
    /// `Keep-Alive: max=` is not read).
    MaxRequests,
    /// The exchange left it unfit for reuse: the keep-alive verdict said close (`Connection:
    /// close` from either side, HTTP/1.0 without `keep-alive`, a close-delimited body, a
    /// final response that came before the whole request was sent), or a body
    /// dropped unread was over `drain_limit` or not drained within `drain_timeout`.
    NotReusable,
    /// The pool or the Engine was shut down, or `close_idle()` was called.
    Shutdown,
    /// The caller canceled the request (`Engine::cancel`, or `Engine::discard` before the
    /// response head arrived) while it was on this connection: its state is unknown.
    Canceled,
}

impl CloseCause {
    /// Every cause, in the order of the fields of [`CloseCounts`].
    pub const ALL: [CloseCause; 9] = [
        CloseCause::IdleTimeout,
        CloseCause::Lifetime,
        CloseCause::ServerClose,
        CloseCause::Error,
        CloseCause::Evicted,
        CloseCause::MaxRequests,
        CloseCause::NotReusable,
        CloseCause::Shutdown,
        CloseCause::Canceled,
    ];

    /// The name used in logs and metrics, e.g. `"idle timeout"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseCause::IdleTimeout => "idle timeout",
            CloseCause::Lifetime => "lifetime",
            CloseCause::ServerClose => "server close",
            CloseCause::Error => "error",
            CloseCause::Evicted => "evicted",
            CloseCause::MaxRequests => "max requests",
            CloseCause::NotReusable => "not reusable",
            CloseCause::Shutdown => "shutdown",
            CloseCause::Canceled => "canceled",
        }
    }
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Number of closed connections per [`CloseCause`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseCounts {
    /// Closed by [`CloseCause::IdleTimeout`].
    pub idle_timeout: u64,
    /// Closed by [`CloseCause::Lifetime`].
    pub lifetime: u64,
    /// Closed by [`CloseCause::ServerClose`].
    pub server_close: u64,
    /// Closed by [`CloseCause::Error`].
    pub error: u64,
    /// Closed by [`CloseCause::Evicted`].
    pub evicted: u64,
    /// Closed by [`CloseCause::MaxRequests`].
    pub max_requests: u64,
    /// Closed by [`CloseCause::NotReusable`].
    pub not_reusable: u64,
    /// Closed by [`CloseCause::Shutdown`].
    pub shutdown: u64,
    /// Closed by [`CloseCause::Canceled`].
    pub canceled: u64,
}

impl CloseCounts {
    /// The counter for `cause`.
    pub fn get(&self, cause: CloseCause) -> u64 {
        match cause {
            CloseCause::IdleTimeout => self.idle_timeout,
            CloseCause::Lifetime => self.lifetime,
            CloseCause::ServerClose => self.server_close,
            CloseCause::Error => self.error,
            CloseCause::Evicted => self.evicted,
            CloseCause::MaxRequests => self.max_requests,
            CloseCause::NotReusable => self.not_reusable,
            CloseCause::Shutdown => self.shutdown,
            CloseCause::Canceled => self.canceled,
        }
    }

    /// Counts one close for `cause`.
    pub(crate) fn record(&mut self, cause: CloseCause) {
        *self.slot_mut(cause) += 1;
    }

    /// All closes, whatever the cause.
    pub fn total(&self) -> u64 {
        CloseCause::ALL.iter().map(|&c| self.get(c)).sum()
    }

    /// The counter for `cause`, writable.
    fn slot_mut(&mut self, cause: CloseCause) -> &mut u64 {
        match cause {
            CloseCause::IdleTimeout => &mut self.idle_timeout,
            CloseCause::Lifetime => &mut self.lifetime,
            CloseCause::ServerClose => &mut self.server_close,
            CloseCause::Error => &mut self.error,
            CloseCause::Evicted => &mut self.evicted,
            CloseCause::MaxRequests => &mut self.max_requests,
            CloseCause::NotReusable => &mut self.not_reusable,
            CloseCause::Shutdown => &mut self.shutdown,
            CloseCause::Canceled => &mut self.canceled,
        }
    }

    /// Adds `other` into `self` (for totals across hosts).
    fn add(&mut self, other: &CloseCounts) {
        for cause in CloseCause::ALL {
            *self.slot_mut(cause) += other.get(cause);
        }
    }
}

/// Event counters of one host, incremented by the Engine where the event happens
/// (through [`Pools::stats_mut`]). Gauges (idle, active, connecting, waiting) are not here:
/// [`Pools`] derives them from its own structure, so they cannot drift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HostCounters {
    /// Requests submitted for this host (each counted once, retries included in `retries`).
    pub requests: u64,
    /// Connections dialed (TCP connects started).
    pub dials: u64,
    /// Requests served on a connection taken from the idle pool.
    pub reuses: u64,
    /// Requests retried on a fresh connection after failing on a reused one.
    pub retries: u64,
    /// TLS handshakes that verified a certificate chain (no session to resume).
    pub tls_full_handshakes: u64,
    /// TLS handshakes that resumed an earlier session (ticket or session id).
    pub tls_resumed_handshakes: u64,
    /// Connections closed, by cause.
    pub closes: CloseCounts,
}

/// Counters and gauges of one host (or the sum over all hosts), as seen at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostStats {
    /// Requests submitted.
    pub requests: u64,
    /// Connections dialed.
    pub dials: u64,
    /// Requests served on a reused idle connection.
    pub reuses: u64,
    /// Requests retried on a fresh connection after failing on a reused one.
    pub retries: u64,
    /// TLS handshakes that verified a certificate chain (no session to resume).
    pub tls_full_handshakes: u64,
    /// TLS handshakes that resumed an earlier session.
    pub tls_resumed_handshakes: u64,
    /// Idle connections now.
    pub idle: usize,
    /// Connections now carrying a request (open, past connecting, not idle).
    pub active: usize,
    /// Connections now being set up (DNS, TCP connect, TLS handshake).
    pub connecting: usize,
    /// Requests now waiting for a connection because of `max_conns_per_host`.
    pub waiting: usize,
    /// Connections closed so far, by cause.
    pub closes: CloseCounts,
}

impl HostStats {
    /// Adds `other` into `self`.
    fn add(&mut self, other: &HostStats) {
        self.requests += other.requests;
        self.dials += other.dials;
        self.reuses += other.reuses;
        self.retries += other.retries;
        self.tls_full_handshakes += other.tls_full_handshakes;
        self.tls_resumed_handshakes += other.tls_resumed_handshakes;
        self.idle += other.idle;
        self.active += other.active;
        self.connecting += other.connecting;
        self.waiting += other.waiting;
        self.closes.add(&other.closes);
    }
}

/// A snapshot of the pool: every host's counters and gauges, and their sum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Sum over all hosts.
    pub total: HostStats,
    /// One entry per host the pool has seen, sorted by key.
    pub hosts: Vec<(PoolKey, HostStats)>,
}

// ---------------------------------------------------------------------------------------
// Intrusive lists
// ---------------------------------------------------------------------------------------

/// Which of the two lists an idle node is linked into; indexes [`IdleNode::links`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chain {
    /// The idle list of the node's own host.
    Host = 0,
    /// The global LRU list across hosts.
    Lru = 1,
}

/// A node's neighbours in one list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Links {
    /// The neighbour that went idle just before this one (towards `oldest`).
    prev: Option<ConnId>,
    /// The neighbour that went idle just after this one (towards `newest`).
    next: Option<ConnId>,
}

/// The two ends and the length of one list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ListEnds {
    /// The node idle longest: evicted first, reused first under FIFO.
    oldest: Option<ConnId>,
    /// The node returned most recently: reused first under LIFO.
    newest: Option<ConnId>,
    /// Number of nodes in the list, kept so counts are O(1).
    len: usize,
}

/// What the pool knows about an idle connection.
#[derive(Clone, Copy, Debug)]
struct IdleNode {
    /// The host whose list holds this node, so `remove_idle(conn)` needs nothing else.
    host: HostId,
    /// When the connection went idle: returned on reuse (for the "idle time" trace) and the
    /// reason the lists are ordered.
    since: Instant,
    /// Neighbours in the host list (`[Chain::Host]`) and in the LRU list (`[Chain::Lru]`).
    links: [Links; 2],
}

/// The idle node of `conn`, which the list invariants say must exist.
fn node_mut(nodes: &mut [Option<IdleNode>], conn: ConnId) -> &mut IdleNode {
    nodes[conn]
        .as_mut()
        .expect("invariant: every id linked in an idle list has an idle node")
}

/// Links the (already stored) node `conn` at the `newest` end of a list.
fn link_newest(nodes: &mut [Option<IdleNode>], ends: &mut ListEnds, chain: Chain, conn: ConnId) {
    let old_newest = ends.newest;
    node_mut(nodes, conn).links[chain as usize] = Links {
        prev: old_newest,
        next: None,
    };
    match old_newest {
        Some(prev) => node_mut(nodes, prev).links[chain as usize].next = Some(conn),
        None => ends.oldest = Some(conn),
    }
    ends.newest = Some(conn);
    ends.len += 1;
}

/// Unlinks node `conn` from a list in O(1). The node stays stored; its links are cleared.
fn unlink(nodes: &mut [Option<IdleNode>], ends: &mut ListEnds, chain: Chain, conn: ConnId) {
    let Links { prev, next } = std::mem::take(&mut node_mut(nodes, conn).links[chain as usize]);
    match prev {
        Some(p) => node_mut(nodes, p).links[chain as usize].next = next,
        None => ends.oldest = next,
    }
    match next {
        Some(n) => node_mut(nodes, n).links[chain as usize].prev = prev,
        None => ends.newest = prev,
    }
    ends.len -= 1;
}

// ---------------------------------------------------------------------------------------
// Evicted
// ---------------------------------------------------------------------------------------

/// Connections that [`Pools::push_idle`] pushed out of the pool; the caller must close them.
///
/// An iterator over at most two ids, stored inline so that returning a connection never
/// allocates. (Today at most one id comes back per push: evicting a host's oldest keeps the
/// total unchanged, so the total limit can only be exceeded when the host limit was not.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Evicted {
    /// The ids; only `ids[next..len]` are still to be yielded.
    ids: [ConnId; 2],
    /// How many of `ids` are filled.
    len: u8,
    /// Index of the next id to yield.
    next: u8,
}

impl Evicted {
    /// Adds one id.
    fn push(&mut self, conn: ConnId) {
        self.ids[usize::from(self.len)] = conn;
        self.len += 1;
    }

    #[cfg(test)]
    /// The ids not yet yielded.
    pub fn as_slice(&self) -> &[ConnId] {
        &self.ids[usize::from(self.next)..usize::from(self.len)]
    }
}

impl Iterator for Evicted {
    type Item = ConnId;

    fn next(&mut self) -> Option<ConnId> {
        if self.next < self.len {
            let conn = self.ids[usize::from(self.next)];
            self.next += 1;
            Some(conn)
        } else {
            None
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.len - self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Evicted {}

// ---------------------------------------------------------------------------------------
// Host pools
// ---------------------------------------------------------------------------------------

/// Everything the pool keeps for one scheme + host + port.
#[derive(Debug)]
struct HostPool {
    /// The key this pool serves; lower-cased, built once when the host is first seen.
    key: PoolKey,
    /// Next host whose key has the same 64-bit hash (a collision chain through `hosts`), so
    /// the index can map a hash to a single `HostId` and still tell colliding hosts apart.
    next_same_hash: Option<HostId>,
    /// Open connections: connecting + active + idle. Enforces `max_conns_per_host`.
    open: usize,
    /// Of `open`, those still being dialed (between `conn_opened` and `dial_finished`);
    /// lets the snapshot split non-idle connections into connecting and active.
    connecting: usize,
    /// This host's idle list, oldest to newest.
    idle: ListEnds,
    /// Waiting request ids in arrival order, each with the ticket it was queued under.
    /// Entries whose ticket no longer matches `waiting` are tombstones, skipped on pop.
    waiter_queue: VecDeque<(u64, u64)>,
    /// Live waiters: request id → ticket. Its length is the exact waiting count.
    waiting: HashMap<u64, u64, FxBuild>,
    /// Next ticket to hand out; tickets let a request id be queued again after removal
    /// without its old tombstone being mistaken for it.
    next_ticket: u64,
    /// Event counters for the stats snapshot.
    counters: HostCounters,
}

impl HostPool {
    /// An empty pool for `key`.
    fn new(key: PoolKey, next_same_hash: Option<HostId>) -> Self {
        HostPool {
            key,
            next_same_hash,
            open: 0,
            connecting: 0,
            idle: ListEnds::default(),
            waiter_queue: VecDeque::new(),
            waiting: HashMap::default(),
            next_ticket: 0,
            counters: HostCounters::default(),
        }
    }

    /// Drops tombstones once they outnumber live waiters, keeping removal amortized O(1) and
    /// the queue's memory proportional to the live count.
    fn compact_waiters(&mut self) {
        if self.waiter_queue.len() > 2 * self.waiting.len() + 16 {
            let waiting = &self.waiting;
            self.waiter_queue
                .retain(|(req, ticket)| waiting.get(req) == Some(ticket));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------

/// All host pools of one Engine: idle connections, open counts, waiters and counters.
///
/// Owned by the Engine thread; no locks. See the module docs for the layout and invariants.
#[derive(Debug)]
pub(crate) struct Pools {
    /// Sizes and reuse order.
    limits: PoolLimits,
    /// Host pools indexed by [`HostId`]; only ever grows, so ids stay valid.
    hosts: Vec<HostPool>,
    /// `host_hash` → first host of the collision chain with that hash.
    index: HashMap<u64, HostId, FxBuild>,
    /// Idle node per [`ConnId`] (`None` = not idle). Grows to the largest id seen; the
    /// Engine's ids are dense slab indices, so this stays the size of its slab.
    idle: Vec<Option<IdleNode>>,
    /// The global LRU list over all idle connections, oldest to newest.
    lru: ListEnds,
    /// Test hook: when set, every host hashes to this value, forcing collision chains.
    #[cfg(test)]
    forced_hash: Option<u64>,
}

impl Pools {
    /// Empty pools with the given limits.
    pub fn new(limits: PoolLimits) -> Self {
        Pools {
            limits,
            hosts: Vec::new(),
            index: HashMap::default(),
            idle: Vec::new(),
            lru: ListEnds::default(),
            #[cfg(test)]
            forced_hash: None,
        }
    }

    /// The id of the pool for `scheme://host:port`, created if this is the first request to
    /// it. `host` compares ASCII case-insensitively. Finding a known host hashes the given
    /// bytes and compares; it does not allocate.
    pub fn host_id(&mut self, scheme: Scheme, host: &str, port: u16) -> HostId {
        let hash = self.hash_of(scheme, host, port);
        let first = self.index.get(&hash).copied();
        let mut cursor = first;
        while let Some(id) = cursor {
            let pool = &self.hosts[id];
            if pool.key.matches(scheme, host, port) {
                return id;
            }
            cursor = pool.next_same_hash;
        }
        let id = self.hosts.len();
        self.hosts
            .push(HostPool::new(PoolKey::new(scheme, host, port), first));
        self.index.insert(hash, id);
        id
    }

    /// The hash used by the host index.
    fn hash_of(&self, scheme: Scheme, host: &str, port: u16) -> u64 {
        #[cfg(test)]
        if let Some(forced) = self.forced_hash {
            return forced;
        }
        host_hash(scheme, host, port)
    }

    /// The key of `host`.
    pub fn key(&self, host: HostId) -> &PoolKey {
        &self.hosts[host].key
    }

    #[cfg(test)]
    /// Every host id, in creation order.
    pub fn hosts(&self) -> impl Iterator<Item = HostId> {
        0..self.hosts.len()
    }

    // --- open-connection accounting -----------------------------------------------------

    /// True if `host` may open another connection under `max_conns_per_host`.
    pub fn can_open(&self, host: HostId) -> bool {
        match self.limits.max_conns_per_host {
            Some(max) => self.hosts[host].open < max,
            None => true,
        }
    }

    /// A dial to `host` starts: the connection counts as open and connecting from now on.
    pub fn conn_opened(&mut self, host: HostId) {
        let pool = &mut self.hosts[host];
        pool.open += 1;
        pool.connecting += 1;
    }

    /// The dial started by [`Pools::conn_opened`] is over, whether the connection is now
    /// ready for its first request or failed (then [`Pools::conn_closed`] follows). Only
    /// moves the connection from the connecting to the active gauge.
    pub fn dial_finished(&mut self, host: HostId) {
        let pool = &mut self.hosts[host];
        debug_assert!(pool.connecting > 0, "dial_finished without conn_opened");
        pool.connecting = pool.connecting.saturating_sub(1);
    }

    /// A connection of `host` is gone for good (whatever state it was in). It must not be
    /// idle any more: an idle one is first taken out with `pop_idle`, `remove_idle` or
    /// `drain_idle`, or came back from `push_idle` as evicted.
    pub fn conn_closed(&mut self, host: HostId) {
        let pool = &mut self.hosts[host];
        debug_assert!(pool.open > 0, "conn_closed without conn_opened");
        pool.open = pool.open.saturating_sub(1);
        debug_assert!(
            pool.connecting <= pool.open,
            "closed a dial without dial_finished"
        );
        pool.connecting = pool.connecting.min(pool.open);
    }

    #[cfg(test)]
    /// Open connections of `host`: connecting + active + idle.
    pub fn open_conns(&self, host: HostId) -> usize {
        self.hosts[host].open
    }

    // --- idle connections -----------------------------------------------------------------

    /// Puts `conn` (a connection of `host`) into the idle pool at instant `now`.
    ///
    /// Returns the connections the caller must now close, each already out of the pool:
    /// * `conn` itself if either idle limit is 0;
    /// * otherwise the host's oldest idle connection if the host already held
    ///   `max_idle_per_host`, and the least recently idled connection of any host if the
    ///   total would exceed `max_idle_total`.
    ///
    /// Pushing a connection that is already idle first takes it out (it becomes the newest).
    pub fn push_idle(&mut self, host: HostId, conn: ConnId, now: Instant) -> Evicted {
        let mut evicted = Evicted::default();
        if self.is_idle(conn) {
            debug_assert!(false, "push_idle of a connection that is already idle");
            self.remove_idle(conn);
        }
        if self.limits.max_idle_per_host == 0 || self.limits.max_idle_total == 0 {
            evicted.push(conn);
            return evicted;
        }
        if self.hosts[host].idle.len >= self.limits.max_idle_per_host {
            if let Some(oldest) = self.hosts[host].idle.oldest {
                self.remove_idle(oldest);
                evicted.push(oldest);
            }
        }
        if conn >= self.idle.len() {
            self.idle.resize(conn + 1, None);
        }
        self.idle[conn] = Some(IdleNode {
            host,
            since: now,
            links: [Links::default(); 2],
        });
        link_newest(
            &mut self.idle,
            &mut self.hosts[host].idle,
            Chain::Host,
            conn,
        );
        link_newest(&mut self.idle, &mut self.lru, Chain::Lru, conn);
        if self.lru.len > self.limits.max_idle_total {
            if let Some(oldest) = self.lru.oldest {
                self.remove_idle(oldest);
                evicted.push(oldest);
            }
        }
        evicted
    }

    /// Takes an idle connection of `host` for reuse — the newest under
    /// [`ReuseOrder::Lifo`], the oldest under [`ReuseOrder::Fifo`] — with the instant it
    /// went idle.
    pub fn pop_idle(&mut self, host: HostId) -> Option<(ConnId, Instant)> {
        let ends = &self.hosts[host].idle;
        let conn = match self.limits.order {
            ReuseOrder::Lifo => ends.newest,
            ReuseOrder::Fifo => ends.oldest,
        }?;
        let since = self.idle[conn].as_ref().map(|n| n.since)?;
        self.remove_idle(conn);
        Some((conn, since))
    }

    /// Takes `conn` out of the idle pool (it became readable, its idle deadline or lifetime
    /// passed) in O(1). Returns false if it was not idle.
    pub fn remove_idle(&mut self, conn: ConnId) -> bool {
        let Some(host) = self.idle.get(conn).and_then(|n| n.as_ref()).map(|n| n.host) else {
            return false;
        };
        unlink(
            &mut self.idle,
            &mut self.hosts[host].idle,
            Chain::Host,
            conn,
        );
        unlink(&mut self.idle, &mut self.lru, Chain::Lru, conn);
        self.idle[conn] = None;
        true
    }

    /// True if `conn` is in the idle pool.
    pub fn is_idle(&self, conn: ConnId) -> bool {
        matches!(self.idle.get(conn), Some(Some(_)))
    }

    #[cfg(test)]
    /// When `conn` went idle, or `None` if it is not idle.
    pub fn idle_since(&self, conn: ConnId) -> Option<Instant> {
        self.idle.get(conn)?.as_ref().map(|n| n.since)
    }

    #[cfg(test)]
    /// Idle connections of `host`.
    pub fn idle_count(&self, host: HostId) -> usize {
        self.hosts[host].idle.len
    }

    #[cfg(test)]
    /// Idle connections across all hosts.
    pub fn idle_total(&self) -> usize {
        self.lru.len
    }

    /// Takes every idle connection out of the pool (for `close_idle()` and shutdown),
    /// oldest first. The caller closes them.
    pub fn drain_idle(&mut self) -> Vec<ConnId> {
        let mut out = Vec::with_capacity(self.lru.len);
        let mut cursor = self.lru.oldest;
        while let Some(conn) = cursor {
            cursor = self.idle[conn]
                .as_ref()
                .and_then(|n| n.links[Chain::Lru as usize].next);
            self.idle[conn] = None;
            out.push(conn);
        }
        self.lru = ListEnds::default();
        for pool in &mut self.hosts {
            pool.idle = ListEnds::default();
        }
        out
    }

    // --- waiters --------------------------------------------------------------------------

    /// Queues request `req` for a connection to `host` (because `can_open` said no and no
    /// idle connection was free). Queuing an id that is already waiting moves it to the back.
    pub fn push_waiter(&mut self, host: HostId, req: u64) {
        let pool = &mut self.hosts[host];
        let ticket = pool.next_ticket;
        pool.next_ticket += 1;
        pool.waiting.insert(req, ticket);
        pool.waiter_queue.push_back((req, ticket));
        pool.compact_waiters();
    }

    /// The request that has waited longest for `host`, now no longer waiting.
    pub fn pop_waiter(&mut self, host: HostId) -> Option<u64> {
        let pool = &mut self.hosts[host];
        while let Some((req, ticket)) = pool.waiter_queue.pop_front() {
            if pool.waiting.get(&req) == Some(&ticket) {
                pool.waiting.remove(&req);
                return Some(req);
            }
        }
        None
    }

    /// Request `req` stops waiting (timed out or canceled). Amortized O(1). Returns false if
    /// it was not waiting for `host`.
    pub fn remove_waiter(&mut self, host: HostId, req: u64) -> bool {
        let pool = &mut self.hosts[host];
        let removed = pool.waiting.remove(&req).is_some();
        if removed {
            pool.compact_waiters();
        }
        removed
    }

    #[cfg(test)]
    /// Requests waiting for `host`; exact, tombstones are not counted.
    pub fn waiting(&self, host: HostId) -> usize {
        self.hosts[host].waiting.len()
    }

    // --- counters -------------------------------------------------------------------------

    /// The event counters of `host`, for the Engine to increment where events happen.
    pub fn stats_mut(&mut self, host: HostId) -> &mut HostCounters {
        &mut self.hosts[host].counters
    }

    /// The counters and gauges of every host, sorted by key, and their sum.
    ///
    /// `idle`, `waiting` and `connecting` come from the structure; `active` is
    /// `open − idle − connecting`.
    pub fn snapshot(&self) -> Stats {
        let mut stats = Stats {
            total: HostStats::default(),
            hosts: Vec::with_capacity(self.hosts.len()),
        };
        for pool in &self.hosts {
            let c = &pool.counters;
            let host = HostStats {
                requests: c.requests,
                dials: c.dials,
                reuses: c.reuses,
                retries: c.retries,
                tls_full_handshakes: c.tls_full_handshakes,
                tls_resumed_handshakes: c.tls_resumed_handshakes,
                idle: pool.idle.len,
                active: pool
                    .open
                    .saturating_sub(pool.idle.len)
                    .saturating_sub(pool.connecting),
                connecting: pool.connecting,
                waiting: pool.waiting.len(),
                closes: c.closes,
            };
            stats.total.add(&host);
            stats.hosts.push((pool.key.clone(), host));
        }
        stats.hosts.sort_by(|a, b| a.0.cmp(&b.0));
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(
        per_host: usize,
        total: usize,
        max_conns: Option<usize>,
        order: ReuseOrder,
    ) -> PoolLimits {
        PoolLimits {
            max_idle_per_host: per_host,
            max_idle_total: total,
            max_conns_per_host: max_conns,
            order,
        }
    }

    /// Instant `t0 + n` milliseconds: explicit, ordered `now` values without a clock.
    fn at(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    fn evicted(e: Evicted) -> Vec<ConnId> {
        e.collect()
    }

    impl Pools {
        /// Walks every list forwards and backwards and checks the invariants of the module
        /// docs; returns each host's idle list, oldest first.
        fn check_invariants(&self) -> Vec<Vec<ConnId>> {
            let walk = |ends: &ListEnds, chain: Chain| -> Vec<ConnId> {
                let mut forward = Vec::new();
                let mut prev = None;
                let mut cursor = ends.oldest;
                while let Some(c) = cursor {
                    let node = self.idle[c].as_ref().expect("linked node is idle");
                    assert_eq!(node.links[chain as usize].prev, prev, "prev link of {c}");
                    forward.push(c);
                    assert!(forward.len() <= self.idle.len(), "cycle in {chain:?} list");
                    prev = Some(c);
                    cursor = node.links[chain as usize].next;
                }
                assert_eq!(ends.newest, prev, "newest end");
                assert_eq!(ends.len, forward.len(), "stored len");
                // Ordered by idle instant.
                for w in forward.windows(2) {
                    assert!(self.idle_since(w[0]) <= self.idle_since(w[1]));
                }
                forward
            };
            let lru = walk(&self.lru, Chain::Lru);
            let per_host: Vec<Vec<ConnId>> = self
                .hosts
                .iter()
                .map(|h| walk(&h.idle, Chain::Host))
                .collect();
            let sum: usize = per_host.iter().map(Vec::len).sum();
            assert_eq!(sum, lru.len(), "host lists and LRU hold the same nodes");
            let idle_slots = self.idle.iter().filter(|n| n.is_some()).count();
            assert_eq!(idle_slots, lru.len(), "no idle node outside the lists");
            for (h, list) in per_host.iter().enumerate() {
                for &c in list {
                    assert_eq!(self.idle[c].as_ref().map(|n| n.host), Some(h));
                }
            }
            per_host
        }
    }

    #[test]
    fn lifo_reuses_most_recent_and_fifo_the_oldest() {
        let t0 = Instant::now();
        for (order, expected) in [(ReuseOrder::Lifo, [3, 2, 1]), (ReuseOrder::Fifo, [1, 2, 3])] {
            let mut pools = Pools::new(limits(10, 10, None, order));
            let h = pools.host_id(Scheme::Http, "a.example", 80);
            for (i, conn) in [1, 2, 3].into_iter().enumerate() {
                assert!(pools
                    .push_idle(h, conn, at(t0, i as u64))
                    .as_slice()
                    .is_empty());
            }
            let got: Vec<ConnId> =
                std::iter::from_fn(|| pools.pop_idle(h).map(|(c, _)| c)).collect();
            assert_eq!(got, expected, "{order:?}");
            assert_eq!(pools.idle_total(), 0);
            pools.check_invariants();
        }
    }

    #[test]
    fn pop_idle_returns_the_instant_it_went_idle() {
        let t0 = Instant::now();
        let mut pools = Pools::new(limits(4, 4, None, ReuseOrder::Lifo));
        let h = pools.host_id(Scheme::Https, "a.example", 443);
        let _ = pools.push_idle(h, 7, at(t0, 5));
        assert_eq!(pools.idle_since(7), Some(at(t0, 5)));
        assert_eq!(pools.pop_idle(h), Some((7, at(t0, 5))));
        assert_eq!(pools.pop_idle(h), None);
        assert_eq!(pools.idle_since(7), None);
    }

    #[test]
    fn per_host_limit_evicts_that_hosts_oldest() {
        let t0 = Instant::now();
        for order in [ReuseOrder::Lifo, ReuseOrder::Fifo] {
            let mut pools = Pools::new(limits(2, 100, None, order));
            let a = pools.host_id(Scheme::Http, "a.example", 80);
            let b = pools.host_id(Scheme::Http, "b.example", 80);
            assert!(evicted(pools.push_idle(b, 9, at(t0, 0))).is_empty());
            assert!(evicted(pools.push_idle(a, 1, at(t0, 1))).is_empty());
            assert!(evicted(pools.push_idle(a, 2, at(t0, 2))).is_empty());
            assert_eq!(evicted(pools.push_idle(a, 3, at(t0, 3))), vec![1]);
            assert_eq!(evicted(pools.push_idle(a, 4, at(t0, 4))), vec![2]);
            assert!(!pools.is_idle(1) && !pools.is_idle(2));
            assert!(pools.is_idle(9), "other hosts are untouched");
            assert_eq!(pools.idle_count(a), 2);
            assert_eq!(pools.idle_total(), 3);
            assert_eq!(pools.check_invariants(), vec![vec![3, 4], vec![9]]);
        }
    }

    #[test]
    fn total_limit_evicts_least_recently_idled_across_hosts() {
        let t0 = Instant::now();
        let mut pools = Pools::new(limits(10, 3, None, ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let b = pools.host_id(Scheme::Http, "b.example", 80);
        let c = pools.host_id(Scheme::Http, "c.example", 80);
        assert!(evicted(pools.push_idle(a, 10, at(t0, 0))).is_empty());
        assert!(evicted(pools.push_idle(b, 20, at(t0, 1))).is_empty());
        assert!(evicted(pools.push_idle(a, 11, at(t0, 2))).is_empty());
        // Full: the oldest anywhere (10, host a) goes, though c has nothing idle.
        assert_eq!(evicted(pools.push_idle(c, 30, at(t0, 3))), vec![10]);
        // Reusing 20 makes 11 the oldest.
        assert_eq!(pools.pop_idle(b), Some((20, at(t0, 1))));
        assert!(evicted(pools.push_idle(b, 20, at(t0, 4))).is_empty());
        assert_eq!(evicted(pools.push_idle(c, 31, at(t0, 5))), vec![11]);
        assert_eq!(pools.idle_total(), 3);
        assert_eq!(
            pools.check_invariants(),
            vec![vec![], vec![20], vec![30, 31]]
        );
    }

    #[test]
    fn remove_idle_head_middle_tail_and_missing() {
        let t0 = Instant::now();
        let mut pools = Pools::new(limits(10, 10, None, ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let b = pools.host_id(Scheme::Http, "b.example", 80);
        for (i, (h, c)) in [(a, 1), (b, 2), (a, 3), (a, 4), (b, 5), (a, 6)]
            .into_iter()
            .enumerate()
        {
            let _ = pools.push_idle(h, c, at(t0, i as u64));
        }
        assert_eq!(pools.check_invariants(), vec![vec![1, 3, 4, 6], vec![2, 5]]);
        assert!(pools.remove_idle(3), "middle of a, middle of LRU");
        assert_eq!(pools.check_invariants(), vec![vec![1, 4, 6], vec![2, 5]]);
        assert!(pools.remove_idle(1), "head of a, head of LRU");
        assert_eq!(pools.check_invariants(), vec![vec![4, 6], vec![2, 5]]);
        assert!(pools.remove_idle(6), "tail of a, tail of LRU");
        assert_eq!(pools.check_invariants(), vec![vec![4], vec![2, 5]]);
        assert!(pools.remove_idle(5), "tail of b, middle of LRU");
        assert!(!pools.remove_idle(5), "already gone");
        assert!(!pools.remove_idle(999), "never seen");
        assert!(pools.remove_idle(4) && pools.remove_idle(2));
        assert_eq!(pools.check_invariants(), vec![vec![], vec![]]);
        assert_eq!(pools.idle_total(), 0);
        assert_eq!(pools.pop_idle(a), None);
    }

    #[test]
    fn conn_id_is_reusable_after_removal_even_for_another_host() {
        let t0 = Instant::now();
        let mut pools = Pools::new(limits(10, 10, None, ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let b = pools.host_id(Scheme::Https, "b.example", 443);
        let _ = pools.push_idle(a, 0, at(t0, 0));
        let _ = pools.push_idle(a, 1, at(t0, 1));
        assert!(pools.remove_idle(0));
        // The Engine's slab hands id 0 to a new connection of host b.
        let _ = pools.push_idle(b, 0, at(t0, 2));
        assert_eq!(pools.check_invariants(), vec![vec![1], vec![0]]);
        assert_eq!(pools.pop_idle(a), Some((1, at(t0, 1))));
        assert_eq!(pools.pop_idle(a), None);
        assert_eq!(pools.pop_idle(b), Some((0, at(t0, 2))));
    }

    #[test]
    fn zero_limits_hand_the_connection_straight_back() {
        let t0 = Instant::now();
        for (per_host, total) in [(0, 10), (10, 0), (0, 0)] {
            let mut pools = Pools::new(limits(per_host, total, None, ReuseOrder::Lifo));
            let h = pools.host_id(Scheme::Http, "a.example", 80);
            assert_eq!(evicted(pools.push_idle(h, 5, at(t0, 0))), vec![5]);
            assert!(!pools.is_idle(5));
            assert_eq!(pools.idle_total(), 0);
            assert_eq!(pools.pop_idle(h), None);
            pools.check_invariants();
        }
    }

    #[test]
    fn limits_of_one_keep_only_the_newest() {
        let t0 = Instant::now();
        let mut pools = Pools::new(limits(1, 1, None, ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let b = pools.host_id(Scheme::Http, "b.example", 80);
        assert!(evicted(pools.push_idle(a, 1, at(t0, 0))).is_empty());
        assert_eq!(evicted(pools.push_idle(a, 2, at(t0, 1))), vec![1]);
        assert_eq!(evicted(pools.push_idle(b, 3, at(t0, 2))), vec![2]);
        assert_eq!(pools.check_invariants(), vec![vec![], vec![3]]);
    }

    #[test]
    fn drain_idle_empties_everything_oldest_first() {
        let t0 = Instant::now();
        let mut pools = Pools::new(limits(10, 10, None, ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let b = pools.host_id(Scheme::Http, "b.example", 80);
        let _ = pools.push_idle(b, 4, at(t0, 0));
        let _ = pools.push_idle(a, 2, at(t0, 1));
        let _ = pools.push_idle(b, 9, at(t0, 2));
        assert_eq!(pools.drain_idle(), vec![4, 2, 9]);
        assert_eq!(pools.idle_total(), 0);
        assert_eq!((pools.idle_count(a), pools.idle_count(b)), (0, 0));
        assert!(!pools.is_idle(4));
        assert_eq!(pools.check_invariants(), vec![vec![], vec![]]);
        // Usable again afterwards.
        let _ = pools.push_idle(a, 4, at(t0, 3));
        assert_eq!(pools.pop_idle(a), Some((4, at(t0, 3))));
    }

    #[test]
    fn can_open_follows_max_conns_per_host() {
        let mut pools = Pools::new(limits(10, 10, Some(2), ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let b = pools.host_id(Scheme::Http, "b.example", 80);
        assert!(pools.can_open(a));
        pools.conn_opened(a);
        pools.conn_opened(a);
        assert!(!pools.can_open(a), "idle, active and connecting all count");
        assert!(pools.can_open(b), "per host");
        assert_eq!(pools.open_conns(a), 2);
        pools.dial_finished(a);
        // One idle, one still connecting: still at the limit.
        let _ = pools.push_idle(a, 0, Instant::now());
        assert!(!pools.can_open(a));
        assert!(pools.remove_idle(0));
        pools.conn_closed(a);
        assert!(pools.can_open(a));
        assert_eq!(pools.open_conns(a), 1);

        let mut unlimited = Pools::new(limits(10, 10, None, ReuseOrder::Lifo));
        let h = unlimited.host_id(Scheme::Http, "a.example", 80);
        for _ in 0..1000 {
            unlimited.conn_opened(h);
        }
        assert!(unlimited.can_open(h));

        let mut none = Pools::new(limits(10, 10, Some(0), ReuseOrder::Lifo));
        let h = none.host_id(Scheme::Http, "a.example", 80);
        assert!(!none.can_open(h));
    }

    #[test]
    fn waiters_are_fifo_with_removals_and_exact_counts() {
        let mut pools = Pools::new(limits(10, 10, Some(1), ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let b = pools.host_id(Scheme::Http, "b.example", 80);
        for req in 1..=5 {
            pools.push_waiter(a, req);
        }
        pools.push_waiter(b, 100);
        assert_eq!(pools.waiting(a), 5);
        assert!(pools.remove_waiter(a, 3), "middle");
        assert!(!pools.remove_waiter(a, 3), "twice");
        assert!(!pools.remove_waiter(a, 100), "belongs to b");
        assert!(pools.remove_waiter(a, 1), "head");
        assert!(pools.remove_waiter(a, 5), "tail");
        assert_eq!(pools.waiting(a), 2);
        assert_eq!(pools.pop_waiter(a), Some(2));
        assert_eq!(pools.waiting(a), 1);
        // A removed id queued again goes to the back, not to its old place.
        pools.push_waiter(a, 3);
        pools.push_waiter(a, 6);
        assert_eq!(pools.waiting(a), 3);
        assert_eq!(pools.pop_waiter(a), Some(4));
        assert_eq!(pools.pop_waiter(a), Some(3));
        assert_eq!(pools.pop_waiter(a), Some(6));
        assert_eq!(pools.pop_waiter(a), None);
        assert_eq!(pools.waiting(a), 0);
        assert_eq!(pools.waiting(b), 1);
        assert_eq!(pools.pop_waiter(b), Some(100));
    }

    #[test]
    fn removed_waiters_do_not_pile_up() {
        let mut pools = Pools::new(limits(10, 10, Some(1), ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        pools.push_waiter(a, u64::MAX);
        for req in 0..100_000 {
            pools.push_waiter(a, req);
            assert!(pools.remove_waiter(a, req));
        }
        assert_eq!(pools.waiting(a), 1);
        // Compaction keeps at most 2 × live + 16 entries (+1 just pushed).
        assert!(pools.hosts[a].waiter_queue.len() <= 2 + 16 + 1);
        assert_eq!(pools.pop_waiter(a), Some(u64::MAX));
    }

    #[test]
    fn host_id_is_case_insensitive_and_never_duplicates() {
        let mut pools = Pools::new(limits(10, 10, None, ReuseOrder::Lifo));
        let a = pools.host_id(Scheme::Http, "Example.COM", 80);
        assert_eq!(pools.host_id(Scheme::Http, "example.com", 80), a);
        assert_eq!(pools.host_id(Scheme::Http, "EXAMPLE.COM", 80), a);
        assert_eq!(pools.key(a).host(), "example.com");
        assert_eq!(pools.key(a).to_string(), "http://example.com:80");
        let tls = pools.host_id(Scheme::Https, "example.com", 80);
        let port = pools.host_id(Scheme::Http, "example.com", 8080);
        let other = pools.host_id(Scheme::Http, "example.org", 80);
        let ids = [a, tls, port, other];
        for (i, x) in ids.iter().enumerate() {
            for y in &ids[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(pools.hosts().count(), 4);
        // Long names go through the 8-byte chunked hash on both paths.
        let long = pools.host_id(Scheme::Https, "A-Rather-Long-Host-Name.Example.NET", 443);
        assert_eq!(
            pools.host_id(Scheme::Https, "a-rather-long-host-name.example.net", 443),
            long
        );
        assert_eq!(pools.hosts().count(), 5);
    }

    #[test]
    fn host_id_tells_apart_hosts_whose_hashes_collide() {
        let mut pools = Pools::new(limits(10, 10, None, ReuseOrder::Lifo));
        pools.forced_hash = Some(42);
        let names = ["a.example", "b.example", "c.example", "A.EXAMPLE"];
        let ids: Vec<HostId> = names
            .iter()
            .map(|n| pools.host_id(Scheme::Http, n, 80))
            .collect();
        assert_eq!(ids, vec![0, 1, 2, 0]);
        assert_eq!(pools.host_id(Scheme::Http, "b.example", 80), 1);
        assert_eq!(pools.host_id(Scheme::Http, "c.example", 81), 3);
        assert_eq!(pools.index.len(), 1);
    }

    #[test]
    fn host_hash_ignores_case_only() {
        assert_eq!(
            host_hash(Scheme::Http, "WWW.Example.Com", 80),
            host_hash(Scheme::Http, "www.example.com", 80)
        );
        assert_ne!(
            host_hash(Scheme::Http, "a", 80),
            host_hash(Scheme::Http, "a\0", 80)
        );
        assert_ne!(
            host_hash(Scheme::Http, "a", 80),
            host_hash(Scheme::Https, "a", 80)
        );
        assert_ne!(
            host_hash(Scheme::Http, "a", 80),
            host_hash(Scheme::Http, "a", 81)
        );
    }

    #[test]
    fn pool_key_display() {
        assert_eq!(
            PoolKey::new(Scheme::Https, "Example.com", 443).to_string(),
            "https://example.com:443"
        );
        assert_eq!(
            PoolKey::new(Scheme::Http, "::1", 8080).to_string(),
            "http://[::1]:8080"
        );
        assert_eq!(
            PoolKey::new(Scheme::Http, "[::1]", 80).to_string(),
            "http://[::1]:80"
        );
    }

    #[test]
    fn snapshot_sums_counters_and_derives_gauges() {
        let t0 = Instant::now();
        let mut pools = Pools::new(limits(10, 10, Some(4), ReuseOrder::Lifo));
        let b = pools.host_id(Scheme::Http, "b.example", 80);
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        // a: 3 open — one connecting, one active, one idle; 2 waiting.
        for _ in 0..3 {
            pools.conn_opened(a);
        }
        pools.dial_finished(a);
        pools.dial_finished(a);
        let _ = pools.push_idle(a, 0, t0);
        pools.push_waiter(a, 1);
        pools.push_waiter(a, 2);
        let ca = pools.stats_mut(a);
        ca.requests = 5;
        ca.dials = 3;
        ca.reuses = 2;
        ca.closes.record(CloseCause::Evicted);
        // b: one dial that failed.
        pools.conn_opened(b);
        pools.dial_finished(b);
        pools.conn_closed(b);
        let cb = pools.stats_mut(b);
        cb.requests = 1;
        cb.dials = 1;
        cb.retries = 1;
        cb.closes.record(CloseCause::Error);

        let stats = pools.snapshot();
        let keys: Vec<String> = stats.hosts.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            keys,
            ["http://a.example:80", "http://b.example:80"],
            "sorted by key"
        );
        let sa = &stats.hosts[0].1;
        assert_eq!(
            (sa.idle, sa.active, sa.connecting, sa.waiting),
            (1, 1, 1, 2)
        );
        let sb = &stats.hosts[1].1;
        assert_eq!(
            (sb.idle, sb.active, sb.connecting, sb.waiting),
            (0, 0, 0, 0)
        );
        let t = &stats.total;
        assert_eq!((t.requests, t.dials, t.reuses, t.retries), (6, 4, 2, 1));
        assert_eq!(
            (t.closes.evicted, t.closes.error, t.closes.total()),
            (1, 1, 2)
        );
        assert_eq!((t.idle, t.active, t.connecting, t.waiting), (1, 1, 1, 2));
    }

    #[test]
    fn close_cause_names_and_counters_line_up() {
        let mut counts = CloseCounts::default();
        for (i, cause) in CloseCause::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                counts.record(cause);
            }
        }
        for (i, cause) in CloseCause::ALL.into_iter().enumerate() {
            assert_eq!(counts.get(cause), i as u64 + 1, "{cause}");
        }
        assert_eq!(counts.total(), 45); // 1 + 2 + ... + 9
        assert_eq!(CloseCause::IdleTimeout.to_string(), "idle timeout");
        assert_eq!(CloseCause::NotReusable.to_string(), "not reusable");
    }

    // --- randomized model test ----------------------------------------------------------

    /// xorshift64*: a seeded generator so a failure replays exactly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The naive model: plain vectors, linear scans, obviously right.
    struct Model {
        limits: PoolLimits,
        /// Per host: idle (conn, since), oldest first.
        idle: Vec<Vec<(ConnId, Instant)>>,
        /// All idle conns, least recently idled first.
        lru: Vec<ConnId>,
        /// Per host: waiting request ids in order.
        waiters: Vec<Vec<u64>>,
        /// Per host: open connections.
        open: Vec<usize>,
    }

    impl Model {
        fn forget(&mut self, conn: ConnId) -> bool {
            let Some(pos) = self.lru.iter().position(|&c| c == conn) else {
                return false;
            };
            self.lru.remove(pos);
            for list in &mut self.idle {
                list.retain(|&(c, _)| c != conn);
            }
            true
        }

        fn push_idle(&mut self, host: HostId, conn: ConnId, now: Instant) -> Vec<ConnId> {
            if self.limits.max_idle_per_host == 0 || self.limits.max_idle_total == 0 {
                return vec![conn];
            }
            let mut out = Vec::new();
            if self.idle[host].len() >= self.limits.max_idle_per_host {
                let oldest = self.idle[host][0].0;
                self.forget(oldest);
                out.push(oldest);
            }
            self.idle[host].push((conn, now));
            self.lru.push(conn);
            if self.lru.len() > self.limits.max_idle_total {
                let oldest = self.lru[0];
                self.forget(oldest);
                out.push(oldest);
            }
            out
        }

        fn pop_idle(&mut self, host: HostId) -> Option<(ConnId, Instant)> {
            let list = &self.idle[host];
            let entry = match self.limits.order {
                ReuseOrder::Lifo => list.last(),
                ReuseOrder::Fifo => list.first(),
            }
            .copied()?;
            self.forget(entry.0);
            Some(entry)
        }
    }

    fn run_model(seed: u64, limits: PoolLimits, ops: usize) {
        const HOSTS: usize = 5;
        const CONNS: usize = 48;
        let t0 = Instant::now();
        let mut rng = XorShift(seed);
        let mut pools = Pools::new(limits);
        let mut model = Model {
            limits,
            idle: vec![Vec::new(); HOSTS],
            lru: Vec::new(),
            waiters: vec![Vec::new(); HOSTS],
            open: vec![0; HOSTS],
        };
        let names = [
            "a.example",
            "B.example",
            "c.EXAMPLE",
            "d.example",
            "e.example",
        ];
        let hosts: Vec<HostId> = names
            .iter()
            .map(|n| pools.host_id(Scheme::Http, n, 80))
            .collect();
        assert_eq!(hosts, (0..HOSTS).collect::<Vec<_>>());
        let mut next_req = 0u64;

        for step in 0..ops {
            let now = at(t0, step as u64);
            let host = rng.below(HOSTS);
            let ctx = format!("seed {seed} step {step}");
            match rng.below(10) {
                0..=2 => {
                    // Return a connection that is not idle right now.
                    let conn = rng.below(CONNS);
                    if !model.lru.contains(&conn) {
                        let got: Vec<ConnId> = pools.push_idle(host, conn, now).collect();
                        assert_eq!(got, model.push_idle(host, conn, now), "push_idle {ctx}");
                    }
                }
                3 | 4 => assert_eq!(pools.pop_idle(host), model.pop_idle(host), "pop_idle {ctx}"),
                5 => {
                    let conn = rng.below(CONNS + 4);
                    assert_eq!(
                        pools.remove_idle(conn),
                        model.forget(conn),
                        "remove_idle {ctx}"
                    );
                }
                6 => {
                    pools.push_waiter(host, next_req);
                    model.waiters[host].push(next_req);
                    next_req += 1;
                }
                7 => {
                    let expected =
                        (!model.waiters[host].is_empty()).then(|| model.waiters[host].remove(0));
                    assert_eq!(pools.pop_waiter(host), expected, "pop_waiter {ctx}");
                }
                8 => {
                    // Remove a waiter (live or long gone), from any position.
                    let req = if next_req == 0 {
                        0
                    } else {
                        rng.next() % (next_req + 2)
                    };
                    let pos = model.waiters[host].iter().position(|&r| r == req);
                    if let Some(p) = pos {
                        model.waiters[host].remove(p);
                    }
                    assert_eq!(
                        pools.remove_waiter(host, req),
                        pos.is_some(),
                        "remove_waiter {ctx}"
                    );
                }
                _ => {
                    if rng.below(2) == 0 {
                        pools.conn_opened(host);
                        pools.dial_finished(host);
                        model.open[host] += 1;
                    } else if model.open[host] > 0 {
                        pools.conn_closed(host);
                        model.open[host] -= 1;
                    }
                }
            }
            if step % 997 == 0 && rng.below(4) == 0 {
                let expected = std::mem::take(&mut model.lru);
                for list in &mut model.idle {
                    list.clear();
                }
                assert_eq!(pools.drain_idle(), expected, "drain_idle order {ctx}");
            }

            // Every query, after every op.
            let lists = pools.check_invariants();
            for (h, list) in lists.iter().enumerate() {
                let model_list: Vec<ConnId> = model.idle[h].iter().map(|&(c, _)| c).collect();
                assert_eq!(list, &model_list, "idle list of host {h}, {ctx}");
                assert_eq!(pools.idle_count(h), model.idle[h].len(), "{ctx}");
                assert_eq!(pools.waiting(h), model.waiters[h].len(), "{ctx}");
                assert_eq!(pools.open_conns(h), model.open[h], "{ctx}");
                let can = limits
                    .max_conns_per_host
                    .map_or(true, |m| model.open[h] < m);
                assert_eq!(pools.can_open(h), can, "{ctx}");
            }
            assert_eq!(pools.idle_total(), model.lru.len(), "{ctx}");
            for c in 0..CONNS + 4 {
                assert_eq!(
                    pools.is_idle(c),
                    model.lru.contains(&c),
                    "is_idle({c}) {ctx}"
                );
            }
            for list in &model.idle {
                for &(c, since) in list {
                    assert_eq!(pools.idle_since(c), Some(since), "{ctx}");
                }
            }
        }
    }

    #[test]
    fn randomized_against_a_naive_model() {
        let cases = [
            (1, limits(4, 10, Some(6), ReuseOrder::Lifo)),
            (2, limits(4, 10, Some(6), ReuseOrder::Fifo)),
            (3, limits(2, 100, None, ReuseOrder::Lifo)),
            (4, limits(100, 3, Some(1), ReuseOrder::Fifo)),
            (5, limits(1, 1, Some(0), ReuseOrder::Lifo)),
            (6, limits(0, 5, None, ReuseOrder::Lifo)),
            (7, limits(usize::MAX, usize::MAX, None, ReuseOrder::Fifo)),
        ];
        for (seed, l) in cases {
            run_model(0x9e37_79b9_7f4a_7c15 ^ seed, l, 10_000);
        }
    }
}
