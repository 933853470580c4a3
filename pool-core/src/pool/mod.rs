//! Per-host connection pools: idle lists, open-connection accounting, wait queues and
//! counters, all behind O(1) operations on plain indices. [`Pools`] is what the Engine
//! calls; the pieces it is built from live in the submodules.
//!
//! ```text
//!   mod.rs        Pools: host lookup, open counts, idle push/pop, waiters, snapshot
//!     ├─ key.rs        Scheme, PoolKey, HostId, the Fx hasher and host hashing
//!     ├─ idle_list.rs  the intrusive host and LRU lists, ConnId, Evicted
//!     ├─ learn.rs      Learner: the limits a server shows by closing silently
//!     ├─ budget.rs     RetryBudget: resends as a fraction of recent requests
//!     ├─ addrs.rs      HostAddrs: connections per address of the DNS answer
//!     ├─ stats.rs      CloseCause, CloseCounts, HostCounters, HostStats, Stats
//!     ├─ timings.rs    Histogram, Timings: fixed-bucket latency histograms
//!     └─ prometheus.rs Stats::to_prometheus: the text exposition format
//! ```
//!
//! The submodules depend only on `key` (a list node names its host; a snapshot names its
//! key) and on each other in this order, never on this module: `key`, `timings`,
//! `learn` ← `idle_list`, `stats` ← `prometheus` ← `mod` (`budget` and `addrs` stand
//! alone).
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
//! Each idle connection is linked into two intrusive lists at once, its host's and the
//! global LRU (see [`idle_list`] for the lists and their own invariants). Across the lists,
//! checked after every step of the model test by `check_invariants`:
//!
//! 1. A node is in its host's list and in the LRU list, or in neither (then its slot is
//!    `None`). There are no other states.
//! 2. The sum of all host list lengths equals the LRU length (`idle_total`).
//!
//! Waiters are a `VecDeque` of `(request id, ticket)` plus a map from live request ids to
//! their ticket. Removing a waiter only drops it from the map (a tombstone is left in the
//! queue and skipped by `pop_waiter`); the queue is compacted when tombstones outnumber live
//! entries, so removal is amortized O(1) and the waiting count ([`HostStats::waiting`]) is always
//! exact.

mod addrs;
mod budget;
mod idle_list;
mod key;
mod learn;
mod prometheus;
mod stats;
mod timings;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use idle_list::{link_newest, unlink, Chain, IdleNode, Links, ListEnds, CHAINS};
pub(crate) use key::host_hash;
use key::FxBuild;
use stats::HostGauges;

pub(crate) use addrs::HostAddrs;
pub(crate) use budget::RetryBudget;
pub(crate) use idle_list::{ConnId, Evicted};
pub(crate) use key::HostId;
pub use key::{PoolKey, Scheme};
pub use learn::LearnedLimits;
pub(crate) use learn::{Learner, Limit};
pub(crate) use stats::HostCounters;
pub use stats::{CloseCause, CloseCounts, HostStats, NotReusable, NotReusableCounts, Stats};
pub use timings::{Histogram, Timings};

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
// Host pools
// ---------------------------------------------------------------------------------------

/// A waiter queue is compacted once it is longer than this many times the live waiters
/// (plus [`TOMBSTONE_SLACK`]): each compaction then removes at least as many tombstones as
/// there are live entries to copy, which is what keeps `remove_waiter` amortized O(1).
const TOMBSTONE_RATIO: usize = 2;

/// Entries a waiter queue may hold beyond [`TOMBSTONE_RATIO`] × live before it is
/// compacted, so that a short queue is not rebuilt on every removal.
const TOMBSTONE_SLACK: usize = 16;

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
    /// The limits learned from the server's silent closes.
    learner: Learner,
    /// Recent requests and resends, for the retry budget.
    budget: RetryBudget,
    /// Open connections per address of the answer, for dials and rebalancing.
    addrs: HostAddrs,
    /// When the host's DNS answer is refreshed next (its cache entry expires).
    dns_refresh_at: Option<Instant>,
    /// The addresses the last dial of this host tried (resolver, static rule or literal).
    addresses: Option<Arc<[SocketAddr]>>,
    /// The address the last successful connect of this host reached.
    peer: Option<SocketAddr>,
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
            learner: Learner::default(),
            budget: RetryBudget::default(),
            addrs: HostAddrs::default(),
            dns_refresh_at: None,
            addresses: None,
            peer: None,
        }
    }

    /// Drops tombstones once they outnumber live waiters, keeping removal amortized O(1) and
    /// the queue's memory proportional to the live count.
    fn compact_waiters(&mut self) {
        let bound = TOMBSTONE_RATIO * self.waiting.len() + TOMBSTONE_SLACK;
        if self.waiter_queue.len() > bound {
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

    /// The id of the pool for `scheme://host:port`, created (for a direct route) if this
    /// is the first request to it. `host` compares ASCII case-insensitively.
    #[cfg(test)]
    pub fn host_id(&mut self, scheme: Scheme, host: &str, port: u16) -> HostId {
        match self.find_host(scheme, host, port) {
            Some(id) => id,
            None => self.add_host(PoolKey::new(scheme, host, port)),
        }
    }

    /// The id of the pool for `scheme://host:port` if the engine has seen it. `host`
    /// compares ASCII case-insensitively. Hashes the given bytes and compares; it does not
    /// allocate. (The route is not looked at: the engine picks one route per origin.)
    pub fn find_host(&self, scheme: Scheme, host: &str, port: u16) -> Option<HostId> {
        let hash = self.hash_of(scheme, host, port);
        let mut cursor = self.index.get(&hash).copied();
        while let Some(id) = cursor {
            let pool = &self.hosts[id];
            if pool.key.matches(scheme, host, port) {
                return Some(id);
            }
            cursor = pool.next_same_hash;
        }
        None
    }

    /// Adds the pool for `key` (its origin must not have one yet) and returns its id.
    pub fn add_host(&mut self, key: PoolKey) -> HostId {
        debug_assert!(self
            .find_host(key.scheme(), key.host(), key.port())
            .is_none());
        let hash = self.hash_of(key.scheme(), key.host(), key.port());
        let first = self.index.get(&hash).copied();
        let id = self.hosts.len();
        self.hosts.push(HostPool::new(key, first));
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

    /// Every host id, in creation order.
    pub fn hosts(&self) -> impl Iterator<Item = HostId> {
        0..self.hosts.len()
    }

    /// How many hosts there are (ids are `0..host_count()`).
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    // --- open-connection accounting -----------------------------------------------------

    /// True if `host` may open another connection under `max_conns_per_host`.
    pub fn can_open(&self, host: HostId) -> bool {
        match self.limits.max_conns_per_host {
            Some(max) => self.hosts[host].open < max,
            None => true,
        }
    }

    /// How many more connections `host` may open under `max_conns_per_host`
    /// (`usize::MAX` without a limit).
    pub fn open_room(&self, host: HostId) -> usize {
        match self.limits.max_conns_per_host {
            Some(max) => max.saturating_sub(self.hosts[host].open),
            None => usize::MAX,
        }
    }

    /// How many more connections of `host` the idle pool could keep without evicting:
    /// the room under `max_idle_per_host` and under `max_idle_total`, less the
    /// connections of `host` already open and not idle (they will come back to it).
    pub fn idle_room(&self, host: HostId) -> usize {
        let pool = &self.hosts[host];
        let busy = pool.open - pool.idle.len;
        let per_host = self.limits.max_idle_per_host.saturating_sub(pool.open);
        let total = self
            .limits
            .max_idle_total
            .saturating_sub(self.lru.len + busy);
        per_host.min(total)
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
            links: [Links::default(); CHAINS],
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

    /// Requests waiting for `host`; exact, tombstones are not counted.
    pub fn waiting(&self, host: HostId) -> usize {
        self.hosts[host].waiting.len()
    }

    // --- counters -------------------------------------------------------------------------

    /// The event counters of `host`, for the Engine to increment where events happen.
    pub fn stats_mut(&mut self, host: HostId) -> &mut HostCounters {
        &mut self.hosts[host].counters
    }

    /// The retry budget of `host`.
    pub fn budget_mut(&mut self, host: HostId) -> &mut RetryBudget {
        &mut self.hosts[host].budget
    }

    /// What the pool learned about `host`'s server.
    pub fn learner(&self, host: HostId) -> &Learner {
        &self.hosts[host].learner
    }

    /// The same, to record evidence.
    pub fn learner_mut(&mut self, host: HostId) -> &mut Learner {
        &mut self.hosts[host].learner
    }

    /// The counters and gauges of every host, sorted by key, and their sum.
    ///
    /// `idle`, `waiting` and `connecting` come from the structure; `active` is
    /// `open − idle − connecting`.
    pub fn snapshot(&self) -> Stats {
        Stats::from_hosts(self.hosts.iter().map(|pool| {
            let gauges = HostGauges {
                open: pool.open,
                idle: pool.idle.len,
                connecting: pool.connecting,
                waiting: pool.waiting.len(),
            };
            let mut stats = HostStats::new(&pool.counters, gauges, pool.learner.snapshot());
            stats.addresses = pool
                .addresses
                .as_deref()
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            stats.conns_per_address = pool.addrs.per_address(&stats.addresses);
            stats.peer = pool.peer;
            (pool.key.clone(), stats)
        }))
    }

    /// A dial of `host` is trying `addrs` (for the stats: the host's answer).
    pub fn set_addresses(&mut self, host: HostId, addrs: &Arc<[SocketAddr]>) {
        let pool = &mut self.hosts[host];
        if !pool
            .addresses
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, addrs))
        {
            pool.addresses = Some(Arc::clone(addrs));
        }
    }

    /// The addresses the last dial (or DNS refresh) of `host` got.
    pub fn addresses(&self, host: HostId) -> Option<&Arc<[SocketAddr]>> {
        self.hosts[host].addresses.as_ref()
    }

    /// The same, to count connections and decide on moves.
    pub fn addrs_mut(&mut self, host: HostId) -> &mut HostAddrs {
        &mut self.hosts[host].addrs
    }

    /// What DNS says of a connection of `host` on `addr` that is idle or coming back:
    /// its address left the answer (`DnsChange`), or it should move to a less loaded
    /// address after a scale-out (`Rebalance`, counted as a move), or nothing.
    pub fn addr_verdict(&mut self, host: HostId, addr: SocketAddr) -> Option<CloseCause> {
        let pool = &mut self.hosts[host];
        let answer = pool.addresses.as_deref()?;
        if !answer.contains(&addr) {
            return Some(CloseCause::DnsChange);
        }
        pool.addrs
            .take_crowded(addr, answer)
            .then_some(CloseCause::Rebalance)
    }

    /// When `host`'s answer is refreshed next.
    pub fn dns_refresh_at(&self, host: HostId) -> Option<Instant> {
        self.hosts[host].dns_refresh_at
    }

    /// Sets (or clears) when `host`'s answer is refreshed next.
    pub fn set_dns_refresh_at(&mut self, host: HostId, at: Option<Instant>) {
        self.hosts[host].dns_refresh_at = at;
    }

    /// The idle connections of `host`, oldest first (for a sweep after a DNS change).
    pub fn idle_conns(&self, host: HostId) -> Vec<ConnId> {
        let mut out = Vec::with_capacity(self.hosts[host].idle.len);
        let mut cursor = self.hosts[host].idle.oldest;
        while let Some(conn) = cursor {
            out.push(conn);
            cursor = self.idle[conn]
                .as_ref()
                .and_then(|n| n.links[Chain::Host as usize].next);
        }
        out
    }

    /// A connect of `host` reached `peer`.
    pub fn set_peer(&mut self, host: HostId, peer: SocketAddr) {
        self.hosts[host].peer = Some(peer);
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
        /// docs and of `idle_list`'s; returns each host's idle list, oldest first.
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
        assert_eq!(pools.check_invariants(), vec![Vec::<usize>::new(), vec![]]);
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
        assert_eq!(pools.check_invariants(), vec![Vec::<usize>::new(), vec![]]);
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
        // Compaction keeps at most ratio × live + slack entries (+1 just pushed); 1 live.
        assert!(pools.hosts[a].waiter_queue.len() <= TOMBSTONE_RATIO + TOMBSTONE_SLACK + 1);
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
