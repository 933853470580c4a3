//! The idle connections' intrusive lists: one list per host and one global LRU list,
//! every node linked into both, each unlinked in O(1); and [`Evicted`], the ids a push
//! pushed out.
//!
//! # What this module owns
//!
//! The list mechanics only: nodes live in a `Vec<Option<IdleNode>>` indexed by [`ConnId`]
//! (slot `c` is `Some` exactly when connection `c` is idle), and each node carries its
//! neighbours in both lists ([`Chain::Host`] and [`Chain::Lru`]):
//!
//! ```text
//!   host list (one per host)      oldest ⇄ … ⇄ newest      pop: newest (LIFO) or oldest (FIFO)
//!   LRU list  (one for all hosts) oldest ⇄ … ⇄ newest      evict: oldest
//! ```
//!
//! Invariants of each list (checked, together with those across lists that
//! [`Pools`](super::Pools) keeps, by the model test in `pool/mod.rs`):
//!
//! 1. `a.next == Some(b)` if and only if `b.prev == Some(a)`; the `oldest` end has no
//!    `prev`, the `newest` end has no `next`; the stored `len` is the number of nodes
//!    reachable from `oldest`.
//! 2. A list is ordered by the instant its connections went idle: [`link_newest`] always
//!    links at the `newest` end, so no sort is ever needed.
//!
//! Because a node knows its neighbours, removing any idle connection (it became readable,
//! its idle deadline fired, it was picked for reuse) is O(1), which is the reason for the
//! intrusive lists instead of a `VecDeque` per host.
//!
//! # What it deliberately does not do
//!
//! It applies no limit and no policy: which list a connection joins, when one is evicted
//! and which end is reused are [`Pools`](super::Pools)' decisions. Keeping the pointer
//! work here and the policy there lets each be read (and checked) on its own.

use std::time::Instant;

use super::key::HostId;

/// Index of a connection in the Engine's slab. The Engine reuses the ids of closed
/// connections, so an id names a connection only while that connection exists.
pub(crate) type ConnId = usize;

/// How many lists every idle node is linked into: one per [`Chain`] variant.
pub(super) const CHAINS: usize = 2;

/// Which of the two lists an idle node is linked into; indexes [`IdleNode::links`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Chain {
    /// The idle list of the node's own host.
    Host = 0,
    /// The global LRU list across hosts.
    Lru = 1,
}

/// A node's neighbours in one list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Links {
    /// The neighbour that went idle just before this one (towards `oldest`).
    pub(super) prev: Option<ConnId>,
    /// The neighbour that went idle just after this one (towards `newest`).
    pub(super) next: Option<ConnId>,
}

/// The two ends and the length of one list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ListEnds {
    /// The node idle longest: evicted first, reused first under FIFO.
    pub(super) oldest: Option<ConnId>,
    /// The node returned most recently: reused first under LIFO.
    pub(super) newest: Option<ConnId>,
    /// Number of nodes in the list, kept so counts are O(1).
    pub(super) len: usize,
}

/// What the pool knows about an idle connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct IdleNode {
    /// The host whose list holds this node, so `remove_idle(conn)` needs nothing else.
    pub(super) host: HostId,
    /// When the connection went idle: returned on reuse (for the "idle time" trace) and the
    /// reason the lists are ordered.
    pub(super) since: Instant,
    /// Neighbours in the host list (`[Chain::Host]`) and in the LRU list (`[Chain::Lru]`).
    pub(super) links: [Links; CHAINS],
}

/// The idle node of `conn`, which the list invariants say must exist.
fn node_mut(nodes: &mut [Option<IdleNode>], conn: ConnId) -> &mut IdleNode {
    nodes[conn]
        .as_mut()
        .expect("invariant: every id linked in an idle list has an idle node")
}

/// Links the (already stored) node `conn` at the `newest` end of a list.
pub(super) fn link_newest(
    nodes: &mut [Option<IdleNode>],
    ends: &mut ListEnds,
    chain: Chain,
    conn: ConnId,
) {
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
pub(super) fn unlink(
    nodes: &mut [Option<IdleNode>],
    ends: &mut ListEnds,
    chain: Chain,
    conn: ConnId,
) {
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

/// At most this many connections leave the pool on one push: the host's oldest (over
/// `max_idle_per_host`) and the least recently idled of all hosts (over `max_idle_total`).
const MAX_EVICTED: usize = 2;

/// Connections that [`Pools::push_idle`](super::Pools::push_idle) pushed out of the pool;
/// the caller must close them.
///
/// An iterator over at most [`MAX_EVICTED`] ids, stored inline so that returning a connection never
/// allocates. (Today at most one id comes back per push: evicting a host's oldest keeps the
/// total unchanged, so the total limit can only be exceeded when the host limit was not.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Evicted {
    /// The ids; only `ids[next..len]` are still to be yielded.
    ids: [ConnId; MAX_EVICTED],
    /// How many of `ids` are filled.
    len: u8,
    /// Index of the next id to yield.
    next: u8,
}

impl Evicted {
    /// Adds one id.
    pub(super) fn push(&mut self, conn: ConnId) {
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
