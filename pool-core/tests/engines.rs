//! Several engines behind one Client (`ClientBuilder::engine_threads`).
//!
//! - By host (the default), each origin's pool lives in exactly one engine: several hosts
//!   spread over the engines, one host always goes to the same one (its connection is
//!   reused), and the stats, `close_idle`, `shutdown` and a response outliving its
//!   client work across all of them.
//! - By caller, each calling thread sticks to one engine, so one host is served by
//!   several; the per-host limits are divided among the engines.
//! - A panic in one engine fails that engine's requests with `EngineFailed`; the other
//!   keeps serving.
//!
//! Which engine did the work is seen from the engine side: tracer hooks run on the
//! engine's thread, whose name is `wirepool-engine-<index>`. Hosts are names
//! (`h0.test`, ...) sent to loopback servers by `connect_to` rules, so the origins (and
//! so the engines they hash to) are the same in every run.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::Duration;

use common::{gated_server, Gate, WAIT};
use testkit::{Script, TestServer};
use wirepool::trace::{ConnReturned, Tracer};
use wirepool::{Client, ClientBuilder, ConnectTo, EngineSplit, Error, ErrorKind};

/// Hosts per test: with two engines, the chance that a hash puts all of them on one is
/// 2^-7 per name set; the names below are fixed, and `two_engines_both_get_hosts` checks.
const HOSTS: usize = 8;

/// Records, per host (pool key's host), the names of the threads its connections came
/// back to the pool on, and how many times per thread.
#[derive(Default)]
struct EngineOf {
    seen: Mutex<BTreeMap<String, BTreeMap<String, usize>>>,
}

impl Tracer for EngineOf {
    fn conn_returned(&self, ev: &ConnReturned<'_>) {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        let mut seen = self.seen.lock().unwrap();
        *seen
            .entry(ev.host.host().to_owned())
            .or_default()
            .entry(thread)
            .or_default() += 1;
    }
}

impl EngineOf {
    /// The one engine thread that served `host`; panics if none or several did.
    fn engine_of(&self, host: &str) -> String {
        let seen = self.seen.lock().unwrap();
        let threads = seen.get(host).unwrap_or_else(|| panic!("{host} not seen"));
        assert_eq!(threads.len(), 1, "{host} was served by {threads:?}");
        threads.keys().next().unwrap().clone()
    }

    /// Every thread name seen, for any host.
    fn threads(&self) -> BTreeSet<String> {
        let seen = self.seen.lock().unwrap();
        seen.values().flat_map(|t| t.keys().cloned()).collect()
    }

    /// Requests returned per thread, for `host`.
    fn per_thread(&self, host: &str) -> BTreeMap<String, usize> {
        self.seen
            .lock()
            .unwrap()
            .get(host)
            .cloned()
            .unwrap_or_default()
    }
}

/// The names of the two engine threads.
fn two_engine_names() -> BTreeSet<String> {
    ["wirepool-engine-0", "wirepool-engine-1"]
        .map(String::from)
        .into()
}

/// `n` hosts `h0.test` ... each on its own loopback server, and a builder that connects
/// them there (and is not routed through any proxy of the environment).
struct Hosts {
    servers: Vec<TestServer>,
}

impl Hosts {
    fn new(n: usize, start: impl Fn() -> TestServer) -> Hosts {
        Hosts {
            servers: (0..n).map(|_| start()).collect(),
        }
    }

    fn keep_alive(n: usize) -> Hosts {
        Hosts::new(n, || TestServer::keep_alive(b"hello"))
    }

    fn name(i: usize) -> String {
        format!("h{i}.test")
    }

    fn url(i: usize, path: &str) -> String {
        format!("http://{}{path}", Hosts::name(i))
    }

    fn builder(&self, engines: usize) -> ClientBuilder {
        let mut builder = Client::builder()
            .engine_threads(engines)
            .proxy_from_env(false);
        for (i, server) in self.servers.iter().enumerate() {
            let rule = format!("{}:80:{}", Hosts::name(i), server.addr());
            builder = builder.connect_to(ConnectTo::parse(&rule).unwrap());
        }
        builder
    }
}

/// Sends `rounds` sequential GETs to every host, reading each body.
fn visit(client: &Client, rounds: usize) {
    for _ in 0..rounds {
        for i in 0..HOSTS {
            let text = client
                .get(Hosts::url(i, "/"))
                .send()
                .unwrap()
                .text()
                .unwrap();
            assert_eq!(text, "hello");
        }
    }
}

/// A two-engine client (by host) over `hosts`, with a tracer seeing which engine serves
/// each host.
fn two_engines(hosts: &Hosts) -> (Client, Arc<EngineOf>) {
    let tracer = Arc::new(EngineOf::default());
    let client = hosts.builder(2).tracer(tracer.clone()).build().unwrap();
    (client, tracer)
}

/// By host, with two engines: the hosts spread over both, and every request to one host
/// went to the same engine (its one connection reused: one dial per host).
#[test]
fn two_engines_both_get_hosts_and_a_host_keeps_its_engine() {
    let hosts = Hosts::keep_alive(HOSTS);
    let (client, tracer) = two_engines(&hosts);
    assert_eq!(client.engine_threads(), 2);
    visit(&client, 3);
    assert_eq!(tracer.threads(), two_engine_names());
    let stats = client.stats().unwrap();
    for (i, server) in hosts.servers.iter().enumerate() {
        // Panics if the host was served by more than one engine.
        let engine = tracer.engine_of(&Hosts::name(i));
        assert_eq!(tracer.per_thread(&Hosts::name(i))[&engine], 3);
        assert_eq!(server.connections(), 1, "host {i}");
        let (_, host) = stats
            .hosts
            .iter()
            .find(|(k, _)| k.host() == Hosts::name(i))
            .unwrap();
        assert_eq!(
            (host.requests, host.dials, host.reuses),
            (3, 1, 2),
            "host {i}"
        );
    }
}

/// Merged stats: one entry per host, and the totals are the sums over them.
#[test]
fn stats_of_two_engines_add_up() {
    let hosts = Hosts::keep_alive(HOSTS);
    let (client, tracer) = two_engines(&hosts);
    visit(&client, 2);
    assert_eq!(tracer.threads(), two_engine_names());
    let stats = client.stats().unwrap();
    assert_eq!(stats.hosts.len(), HOSTS);
    let sum =
        |f: fn(&wirepool::HostStats) -> u64| stats.hosts.iter().map(|(_, h)| f(h)).sum::<u64>();
    assert_eq!(stats.total.requests, 2 * HOSTS as u64);
    assert_eq!(stats.total.requests, sum(|h| h.requests));
    assert_eq!(stats.total.dials, HOSTS as u64);
    assert_eq!(stats.total.dials, sum(|h| h.dials));
    assert_eq!(stats.total.reuses, sum(|h| h.reuses));
    assert_eq!(stats.total.idle, HOSTS);
}

/// `close_idle` reaches every engine: each host's idle connection is closed.
#[test]
fn close_idle_closes_the_idle_connections_of_every_engine() {
    let hosts = Hosts::keep_alive(HOSTS);
    let (client, tracer) = two_engines(&hosts);
    visit(&client, 1);
    assert_eq!(tracer.threads(), two_engine_names());
    for server in &hosts.servers {
        assert!(server.wait_for_open_connections(1, WAIT));
    }
    client.close_idle();
    for (i, server) in hosts.servers.iter().enumerate() {
        assert!(server.wait_for_open_connections(0, WAIT), "host {i}");
    }
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

/// `shutdown` stops every engine: the requests in flight on each fail with `PoolClosed`,
/// and so does a later send to any host.
#[test]
fn shutdown_fails_the_requests_in_flight_on_every_engine() {
    let gate = Gate::new();
    let hosts = Hosts::new(HOSTS, || gated_server(&gate, b"late"));
    let (client, _) = two_engines(&hosts);
    let waiting: Vec<_> = (0..HOSTS)
        .map(|i| {
            let client = client.clone();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(client.get(Hosts::url(i, "/")).send().map(|_| ()));
            });
            rx
        })
        .collect();
    for server in &hosts.servers {
        assert!(server.wait_for_requests(1, WAIT));
    }
    client.shutdown();
    for (i, rx) in waiting.into_iter().enumerate() {
        let err = rx.recv_timeout(WAIT).unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PoolClosed, "host {i}: {err:?}");
    }
    for i in 0..HOSTS {
        let err = client.get(Hosts::url(i, "/")).send().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PoolClosed, "host {i}");
    }
    // The held handlers answer into closed sockets, see EOF and end.
    gate.open_all();
    for server in &hosts.servers {
        assert!(server.wait_for_open_connections(0, WAIT));
    }
}

/// Each response keeps its own engine alive: bodies far larger than the read-ahead
/// budget, from hosts on both engines, are read in full after the client is gone, and
/// then every engine stops and closes its sockets.
#[test]
fn responses_outlive_their_client_on_every_engine() {
    const LEN: u64 = 2 << 20;
    let hosts = Hosts::new(HOSTS, || {
        TestServer::scripted(Script::PatternBody { len: LEN })
    });
    let (client, tracer) = two_engines(&hosts);
    let responses: Vec<_> = (0..HOSTS)
        .map(|i| client.get(Hosts::url(i, "/")).send().unwrap())
        .collect();
    drop(client);
    for (i, resp) in responses.into_iter().enumerate() {
        let (_, mut body) = resp.into_parts();
        let read = std::io::copy(&mut body, &mut std::io::sink()).unwrap();
        assert_eq!(read, LEN, "host {i}");
    }
    assert_eq!(tracer.threads(), two_engine_names());
    for server in &hosts.servers {
        assert!(server.wait_for_open_connections(0, WAIT));
    }
}

/// The client goes while one body is still arriving: the engine serving it keeps
/// running until the body is read, the other engine (held by nobody) stops at once and
/// closes its idle connections.
#[test]
fn dropping_the_client_stops_only_the_engines_no_body_holds() {
    const LEN: u64 = 2 << 20;
    // "/" answers "hello" (keep-alive); "/big" a body far over the read-ahead budget.
    let hosts = Hosts::new(HOSTS, || {
        TestServer::start(|conn| {
            while let Some(request) = conn.read_request() {
                if request.target == "/big" {
                    conn.respond_with_pattern(LEN);
                } else {
                    conn.respond(200, &[], b"hello");
                }
            }
        })
    });
    let (client, tracer) = two_engines(&hosts);
    visit(&client, 1);
    let on_zero: Vec<_> = (0..HOSTS)
        .filter(|&i| tracer.engine_of(&Hosts::name(i)) == "wirepool-engine-0")
        .collect();
    let on_one: Vec<_> = (0..HOSTS).filter(|i| !on_zero.contains(i)).collect();
    assert!(!on_zero.is_empty() && !on_one.is_empty());
    let (_, mut body) = client
        .get(Hosts::url(on_zero[0], "/big"))
        .send()
        .unwrap()
        .into_parts();
    drop(client);
    // Engine 1 stopped: its idle connections are closed while the body is unread.
    for &i in &on_one {
        assert!(
            hosts.servers[i].wait_for_open_connections(0, WAIT),
            "host {i}"
        );
    }
    let mut all = Vec::new();
    body.read_to_end(&mut all).unwrap();
    assert_eq!(all.len() as u64, LEN);
    drop(body);
    for &i in &on_zero {
        assert!(
            hosts.servers[i].wait_for_open_connections(0, WAIT),
            "host {i}"
        );
    }
}

/// One engine panics: requests to its hosts fail with `EngineFailed`, the hosts of the
/// other engine are still served, and `stats` reports the failure.
#[test]
fn a_panicked_engine_fails_its_hosts_and_the_other_keeps_serving() {
    let hosts = Hosts::keep_alive(HOSTS);
    let (client, tracer) = two_engines(&hosts);
    visit(&client, 1);
    let on = |engine: &str| {
        (0..HOSTS)
            .filter(|&i| tracer.engine_of(&Hosts::name(i)) == engine)
            .collect::<Vec<_>>()
    };
    let (dead, alive) = (on("wirepool-engine-1"), on("wirepool-engine-0"));
    assert!(!dead.is_empty() && !alive.is_empty(), "{dead:?} {alive:?}");
    client.__panic_one_engine_for_tests(1, Duration::ZERO);
    for &i in &dead {
        let err = client.get(Hosts::url(i, "/")).send().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::EngineFailed, "host {i}: {err:?}");
    }
    for _ in 0..3 {
        for &i in &alive {
            let text = client
                .get(Hosts::url(i, "/"))
                .send()
                .unwrap()
                .text()
                .unwrap();
            assert_eq!(text, "hello", "host {i}");
        }
    }
    assert_eq!(client.stats().unwrap_err().kind(), ErrorKind::EngineFailed);
    // Dead: its sockets are closed; alive: its connections are still pooled.
    for &i in &dead {
        assert!(
            hosts.servers[i].wait_for_open_connections(0, WAIT),
            "host {i}"
        );
    }
    for &i in &alive {
        assert_eq!(hosts.servers[i].open_connections(), 1, "host {i}");
    }
}

/// By caller: two threads sending to one host use the two engines, one each; each
/// thread's requests all go to its own engine, over its own connection.
#[test]
fn by_caller_two_threads_use_two_engines_for_one_host() {
    const EACH: usize = 5;
    let hosts = Hosts::keep_alive(1);
    let tracer = Arc::new(EngineOf::default());
    let client = hosts
        .builder(2)
        .engine_split(EngineSplit::ByCaller)
        .tracer(tracer.clone())
        .build()
        .unwrap();
    // Both threads send before either goes on, so neither could be first and last alone.
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (client, barrier) = (client.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                for k in 0..EACH {
                    let text = client.get(Hosts::url(0, "/")).send()?.text()?;
                    assert_eq!(text, "hello");
                    if k == 0 {
                        barrier.wait();
                    }
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let per_thread = tracer.per_thread(&Hosts::name(0));
    assert_eq!(
        per_thread,
        BTreeMap::from([
            ("wirepool-engine-0".to_owned(), EACH),
            ("wirepool-engine-1".to_owned(), EACH)
        ])
    );
    assert_eq!(hosts.servers[0].connections(), 2);
    // Merged stats: one entry for the host, adding both engines' pools.
    let stats = client.stats().unwrap();
    assert_eq!(stats.hosts.len(), 1);
    let host = &stats.hosts[0].1;
    assert_eq!(
        (host.requests, host.dials, host.idle),
        (2 * EACH as u64, 2, 2)
    );
    assert_eq!(
        (host.requests, host.dials, host.reuses, host.idle),
        (
            stats.total.requests,
            stats.total.dials,
            stats.total.reuses,
            stats.total.idle
        )
    );
    assert_eq!(host.conns_per_address, vec![(hosts.servers[0].addr(), 2)]);
}

/// By caller, the per-host limits are divided among the engines (rounded up): with
/// `max_conns_per_host(3)` over two engines a thread's engine may open 2. By host, the
/// one engine of the host gets the whole limit. (Prewarm goes to the engine that would
/// serve the calling thread's request.)
#[test]
fn by_caller_divides_the_per_host_limits() {
    let hosts = Hosts::keep_alive(1);
    let limited = |split| {
        hosts
            .builder(2)
            .engine_split(split)
            .max_conns_per_host(Some(3))
            .build()
            .unwrap()
    };
    let by_caller = limited(EngineSplit::ByCaller);
    let warm = by_caller.prewarm(&Hosts::url(0, "/"), 10).unwrap();
    assert_eq!((warm.opened, warm.skipped), (2, 8), "{warm:?}");
    let by_host = limited(EngineSplit::ByHost);
    let warm = by_host.prewarm(&Hosts::url(0, "/"), 10).unwrap();
    assert_eq!((warm.opened, warm.skipped), (3, 7), "{warm:?}");
    assert!(hosts.servers[0].wait_for_connections(5, WAIT));
}

/// `engine_threads` outside 1..=256 is refused at `build`, naming the setting.
#[test]
fn an_engine_count_out_of_range_is_refused() {
    for n in [0, wirepool::MAX_ENGINE_THREADS + 1, usize::MAX] {
        let err = Client::builder().engine_threads(n).build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{n}");
        assert!(
            err.to_string().contains("engine_threads")
                || format!("{err:?}").contains("engine_threads"),
            "{err:?}"
        );
    }
    let one = Client::builder().engine_threads(1).build().unwrap();
    assert_eq!(one.engine_threads(), 1);
    assert_eq!(Client::new().unwrap().engine_threads(), 1);
}

/// With the default one engine, its thread is `wirepool-engine-0`.
#[test]
fn one_engine_is_engine_zero() {
    let hosts = Hosts::keep_alive(1);
    let tracer = Arc::new(EngineOf::default());
    let client = hosts.builder(1).tracer(tracer.clone()).build().unwrap();
    client
        .get(Hosts::url(0, "/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        tracer.threads(),
        BTreeSet::from(["wirepool-engine-0".to_owned()])
    );
}
