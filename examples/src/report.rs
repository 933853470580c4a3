//! How the tools report: error chains on one line, and the pool's stats as JSON.
//!
//! Both are meant for a terminal and for scripts at once, so each fits on one line and
//! has a fixed shape:
//!
//! - [`error_chain`]: `connect failed: Connection refused (os error 111)` — the error's
//!   own short text, then each `source()` in turn, joined by `": "`.
//! - [`stats_json`]: one JSON object (serde), the counters in a fixed order.
//!
//! Nothing here prints; callers decide where the text goes.

use std::collections::BTreeMap;
use std::error::Error;

use serde::Serialize;
use wirepool::{CloseCause, CloseCounts, HostStats, NotReusable, Route, Stats};

/// `err` and its chain of sources on one line, joined by `": "`. A source whose text
/// repeats the previous one (an `io::Error` wrapping our error shows the same text) is
/// skipped, and line breaks inside a message become spaces, so the result is one line.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string().replace(['\r', '\n'], " ");
        if parts.last() != Some(&text) && !text.is_empty() {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The counters of one host, or the totals, as they appear in the JSON.
#[derive(Serialize)]
struct HostCounters {
    requests: u64,
    dials: u64,
    /// `HostStats::reuses`: requests served on a connection from the idle pool.
    reused: u64,
    retries: u64,
    idle: usize,
    active: usize,
    connecting: usize,
    waiting: usize,
    tls_full_handshakes: u64,
    tls_resumed_handshakes: u64,
    /// Closed connections by cause (`CloseCause::as_str` in snake case), in
    /// `CloseCause::ALL` order (serde_json keeps a `BTreeMap` sorted, so a Vec of pairs
    /// would lose nothing either; the order is the documented one).
    closes: Closes,
    /// The `not_reusable` closes by reason (`NotReusable::as_str`, snake case).
    not_reusable_by: Closes,
    /// Resends the retry budget refused.
    retries_denied: u64,
    /// Requests that waited for a connection and got one; their summed wait (µs);
    /// those that timed out waiting; those refused by a full queue.
    queued: u64,
    queue_wait_us: u64,
    queue_timeouts: u64,
    queue_rejected: u64,
    /// What the pool learned from the server's silent closes.
    learned: Learned,
}

/// `LearnedLimits` in the JSON (`null` limits when none is known, and in the total).
#[derive(Serialize)]
struct Learned {
    requests_per_conn: Option<u32>,
    idle_timeout_ms: Option<u64>,
    silent_closes: u64,
    confirmed: u64,
    refuted: u64,
    expired: u64,
}

impl HostCounters {
    /// Adds `other`'s counters to these (the totals of several clients).
    fn add(&mut self, other: &HostCounters) {
        self.requests += other.requests;
        self.dials += other.dials;
        self.reused += other.reused;
        self.retries += other.retries;
        self.idle += other.idle;
        self.active += other.active;
        self.connecting += other.connecting;
        self.waiting += other.waiting;
        self.tls_full_handshakes += other.tls_full_handshakes;
        self.tls_resumed_handshakes += other.tls_resumed_handshakes;
        self.closes.add(&other.closes);
        self.not_reusable_by.add(&other.not_reusable_by);
        self.retries_denied += other.retries_denied;
        self.queued += other.queued;
        self.queue_wait_us = self.queue_wait_us.saturating_add(other.queue_wait_us);
        self.queue_timeouts += other.queue_timeouts;
        self.queue_rejected += other.queue_rejected;
        // Limits are per host; totals carry the counters only.
        self.learned.silent_closes += other.learned.silent_closes;
        self.learned.confirmed += other.learned.confirmed;
        self.learned.refuted += other.learned.refuted;
        self.learned.expired += other.learned.expired;
    }
}

/// `{"idle_timeout":0,"lifetime":0,...}` in `CloseCause::ALL` order.
struct Closes(Vec<(String, u64)>);

impl Closes {
    /// Adds `other`'s counts, cause by cause (both are built in the same order).
    fn add(&mut self, other: &Closes) {
        for ((_, n), (_, m)) in self.0.iter_mut().zip(&other.0) {
            *n += m;
        }
    }
}

impl Serialize for Closes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl From<&CloseCounts> for Closes {
    fn from(c: &CloseCounts) -> Closes {
        Closes(
            CloseCause::ALL
                .into_iter()
                .map(|cause| (snake(cause.as_str()), c.get(cause)))
                .collect(),
        )
    }
}

impl From<&HostStats> for HostCounters {
    fn from(s: &HostStats) -> HostCounters {
        HostCounters {
            requests: s.requests,
            dials: s.dials,
            reused: s.reuses,
            retries: s.retries,
            idle: s.idle,
            active: s.active,
            connecting: s.connecting,
            waiting: s.waiting,
            tls_full_handshakes: s.tls_full_handshakes,
            tls_resumed_handshakes: s.tls_resumed_handshakes,
            closes: Closes::from(&s.closes),
            not_reusable_by: Closes(
                NotReusable::ALL
                    .into_iter()
                    .map(|why| (snake(why.as_str()), s.closes.not_reusable_by.get(why)))
                    .collect(),
            ),
            retries_denied: s.retries_denied,
            queued: s.queued,
            queue_wait_us: u64::try_from(s.queue_wait.as_micros()).unwrap_or(u64::MAX),
            queue_timeouts: s.queue_timeouts,
            queue_rejected: s.queue_rejected,
            learned: Learned {
                requests_per_conn: s.learned.requests_per_conn,
                idle_timeout_ms: s
                    .learned
                    .idle_timeout
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                silent_closes: s.learned.silent_closes,
                confirmed: s.learned.confirmed,
                refuted: s.learned.refuted,
                expired: s.learned.expired,
            },
        }
    }
}

/// `"http/1.0 without keep-alive"` → `"http_1_0_without_keep_alive"`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

#[derive(Serialize)]
struct HostEntry<'a> {
    host: &'a str,
    port: u16,
    scheme: &'a str,
    /// How the pool reaches the host, when not directly: `via proxy http://proxy:3128`,
    /// `via unix:/run/app.sock` (`Route`'s `Display`).
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<String>,
    #[serde(flatten)]
    counters: HostCounters,
}

#[derive(Serialize)]
struct StatsJson<'a> {
    #[serde(flatten)]
    total: HostCounters,
    hosts: Vec<HostEntry<'a>>,
}

/// The pool's counters as one line of JSON:
///
/// ```text
/// {"requests":2,"dials":1,"reused":1,"retries":0,"idle":1,"active":0,"connecting":0,
///  "waiting":0,"tls_full_handshakes":0,"tls_resumed_handshakes":0,
///  "closes":{"idle_timeout":0,...},"hosts":[{"host":"127.0.0.1","port":8080,
///  "scheme":"http","requests":2,...}]}
/// ```
///
/// (shown wrapped; the real output has no line breaks). `reused` is the number of
/// requests served on a connection from the idle pool; `closes` counts closed
/// connections by cause, with the cause names of [`CloseCause::as_str`] in snake case.
/// `hosts` has the same counters per pool key, and its `route` when the pool does not
/// reach the host directly (`"route":"via proxy http://127.0.0.1:3128"`).
pub fn stats_json(stats: &Stats) -> String {
    stats_json_all(std::slice::from_ref(stats))
}

/// [`stats_json`] of several clients as one: the totals added up, the hosts of all of
/// them sorted by key (`fetch` runs one client per proxy).
pub fn stats_json_all(all: &[Stats]) -> String {
    let mut total: Option<HostCounters> = None;
    let mut hosts: Vec<_> = all.iter().flat_map(|s| &s.hosts).collect();
    hosts.sort_by(|a, b| a.0.cmp(&b.0));
    for stats in all {
        let counters = HostCounters::from(&stats.total);
        match &mut total {
            Some(t) => t.add(&counters),
            None => total = Some(counters),
        }
    }
    let json = StatsJson {
        total: total.unwrap_or_else(|| HostCounters::from(&HostStats::default())),
        hosts: hosts
            .into_iter()
            .map(|(key, host)| HostEntry {
                host: key.host(),
                port: key.port(),
                scheme: key.scheme().as_str(),
                route: (*key.route() != Route::Direct).then(|| key.route().to_string()),
                counters: HostCounters::from(host),
            })
            .collect(),
    };
    serde_json::to_string(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The closes of `stats` by cause, for callers that want them as a map.
pub fn closes_by_cause(closes: &CloseCounts) -> BTreeMap<String, u64> {
    Closes::from(closes).0.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;
    use std::io;

    #[test]
    fn empty_stats_have_every_field_in_order() {
        let json = stats_json(&Stats::default());
        assert!(json
            .starts_with(r#"{"requests":0,"dials":0,"reused":0,"retries":0,"idle":0,"active":0,"#));
        assert!(json.contains(r#""closes":{"idle_timeout":0,"lifetime":0,"server_close":0,"#));
        assert!(json.contains(r#""rebalance":0},"not_reusable_by":{"server_sent_close":0,"#));
        assert!(json.contains(r#""http_1_0_without_keep_alive":0,"#));
        assert!(json.ends_with(r#","hosts":[]}"#));
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(value["tls_full_handshakes"], 0);
        assert_eq!(
            closes_by_cause(&CloseCounts::default()).len(),
            CloseCause::ALL.len()
        );
        assert!(json.contains(r#""learned_request_limit":0,"#));
        assert!(json.contains(r#""queue_rejected":0,"learned":{"requests_per_conn":null,"#));
        assert_eq!(stats_json_all(&[]), json, "no client: all zero");
    }

    #[test]
    fn several_clients_add_up() {
        let mut a = Stats::default();
        a.total.requests = 2;
        a.total.dials = 1;
        a.total.closes.idle_timeout = 3;
        let json = stats_json_all(&[a.clone(), a]);
        let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(value["requests"], 4);
        assert_eq!(value["dials"], 2);
        assert_eq!(value["closes"]["idle_timeout"], 6);
    }

    #[derive(Debug)]
    struct Outer(io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connect failed")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chains_join_sources() {
        let err = Outer(io::Error::other("refused\nreally"));
        assert_eq!(error_chain(&err), "connect failed: refused really");
        // An io::Error wrapping ours shows the same text as ours: said once.
        let wrapped = io::Error::other(Outer(io::Error::other("boom")));
        assert_eq!(error_chain(&wrapped), "connect failed: boom");
    }
}
