//! No socket leaks: thousands of requests against servers with random faults, then
//! `close_idle()` and dropping the client (or engine) bring the process's open file
//! descriptors back to where they were.
//!
//! File descriptors are per process, so this binary holds `testkit::process_lock()` in
//! every test.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{get, wait_until, WAIT};
use testkit::{open_fds, Script, TestServer};
use wirepool::http::Request;
use wirepool::{Body, Client, Config, Engine, Event, Flow, RequestOptions};

/// xorshift64*: a seeded generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One server per behaviour, healthy ones listed twice so most requests succeed.
fn fault_servers() -> Vec<TestServer> {
    let scripts = [
        Script::KeepAlive(b"ok"),
        Script::KeepAlive(b"ok"),
        Script::CloseAfterResponse(b"bye"),
        Script::StaleOnReuse(b"stale"),
        Script::ConnectionClose(b"close"),
        Script::TruncatedBody,
        Script::ResetMidBody,
        Script::ResetBeforeResponse,
        Script::GarbageAfterBody,
        Script::ContentLengthAndChunked,
        Script::ConflictingContentLengths,
        Script::ExpectContinue,
        Script::PatternBody { len: 300 * 1024 },
        Script::NeverAnswer, // keep last: `random_request` picks it less often
    ];
    scripts.into_iter().map(TestServer::scripted).collect()
}

/// Waits until every server has closed its side of every connection, then until the
/// descriptor count is back to `baseline`.
fn assert_back_to_baseline(servers: &[TestServer], baseline: usize) {
    for server in servers {
        assert!(
            server.wait_for_open_connections(0, WAIT),
            "{server:?} still has connections open"
        );
    }
    // Server threads close their sockets just after counting them closed.
    let settled = wait_until(WAIT, || open_fds() <= baseline);
    assert!(settled, "open fds: {} now, {baseline} before", open_fds());
}

/// One request with a random server and a random way of treating the response.
fn random_request(client: &Client, servers: &[TestServer], refused: &str, rng: &mut Rng) {
    let mut pick = rng.below(servers.len() + 1);
    if pick == servers.len() - 1 {
        pick = rng.below(servers.len() + 1); // `NeverAnswer` is slow: make it rarer
    }
    let url = match servers.get(pick) {
        Some(server) => server.url("/"),
        None => refused.to_owned(),
    };
    let request = if rng.below(16) == 0 {
        Request::post(&url)
            .header("Expect", "100-continue")
            .body(Body::from("data"))
            .unwrap()
    } else {
        get(&url)
    };
    // Short, so that `NeverAnswer` costs little (a timeout on a loaded machine is just one more fault).
    let opts = RequestOptions::timeout(Duration::from_millis(100));
    let Ok(mut resp) = client.send_with(request, opts) else {
        return;
    };
    match rng.below(3) {
        0 => drop(resp),
        1 => {
            let mut some = [0u8; 100];
            let _ = resp.body_mut().read(&mut some);
        }
        _ => {
            let _ = resp.bytes();
        }
    }
}

#[test]
fn no_fd_leak_after_thousands_of_requests_with_random_faults() {
    let _lock = testkit::process_lock();
    const THREADS: usize = 4;
    const EACH: usize = 500;
    let servers = fault_servers();
    let refused = format!("http://{}/", testkit::free_port_refused());
    let baseline = open_fds();
    let started = Instant::now();
    {
        let client = Client::builder()
            .expect_continue_timeout(Duration::from_millis(20))
            .max_idle_per_host(4)
            .build()
            .unwrap();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (client, servers, refused) = (client.clone(), &servers, &refused);
                s.spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                    for _ in 0..EACH {
                        random_request(&client, servers, refused, &mut rng);
                    }
                });
            }
        });
        let stats = client.stats().unwrap();
        assert_eq!(stats.total.requests as usize, THREADS * EACH, "{stats:#?}");
        assert_eq!((stats.total.active, stats.total.connecting), (0, 0));
        client.close_idle();
        assert!(wait_until(WAIT, || client.stats().unwrap().total.idle == 0));
        // Every connection ever dialed is closed, and counted as closed once.
        let stats = client.stats().unwrap();
        assert_eq!(stats.total.closes.total(), stats.total.dials, "{stats:?}");
    }
    assert_back_to_baseline(&servers, baseline);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// Engine mode with cancels at random points: submitted, waiting for a connection
/// (`max_conns_per_host`), mid-exchange. Dropping the engine closes everything.
#[test]
fn no_fd_leak_with_random_cancels_in_engine_mode() {
    let _lock = testkit::process_lock();
    let servers = fault_servers();
    let baseline = open_fds();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    {
        let mut config = Config::default();
        config.max_conns_per_host = Some(2);
        config.timeout = Some(Duration::from_millis(500));
        let mut engine = Engine::new(config).unwrap();
        let mut live = Vec::new();
        for round in 0..100 {
            for _ in 0..5 {
                let server = &servers[rng.below(servers.len())];
                live.push(engine.submit(get(&server.url("/"))).unwrap());
            }
            let mut finished = Vec::new();
            engine
                .poll(Some(Duration::from_millis(1)), |ev| {
                    match ev {
                        Event::Done { id, .. } | Event::Failed { id, .. } => finished.push(id),
                        Event::Head { .. } | Event::Data { .. } => {}
                    }
                    Flow::Continue
                })
                .unwrap();
            live.retain(|id| !finished.contains(id));
            // Cancel about a third of what is in flight, wherever it is.
            let mut kept = Vec::new();
            for id in live.drain(..) {
                if rng.below(3) == 0 {
                    if round % 2 == 0 {
                        engine.cancel(id);
                    } else {
                        engine.discard(id);
                    }
                } else {
                    kept.push(id);
                }
            }
            live = kept;
        }
        // Let the rest finish (or time out), then check the books.
        let deadline = Instant::now() + WAIT;
        while engine.in_flight() > 0 {
            assert!(Instant::now() < deadline, "requests never finished");
            engine
                .poll(Some(Duration::from_millis(10)), |_| Flow::Continue)
                .unwrap();
        }
        let stats = engine.stats();
        assert_eq!(
            (
                stats.total.active,
                stats.total.connecting,
                stats.total.waiting
            ),
            (0, 0, 0),
            "{stats:?}"
        );
        engine.close_idle();
        let stats = engine.stats();
        assert_eq!(stats.total.idle, 0);
        assert_eq!(stats.total.closes.total(), stats.total.dials, "{stats:?}");
    }
    assert_back_to_baseline(&servers, baseline);
}

/// Dropping a Client with idle connections and without `close_idle()` closes them too.
#[test]
fn dropping_the_client_closes_idle_connections() {
    let _lock = testkit::process_lock();
    let server = TestServer::keep_alive(b"k");
    let baseline = open_fds();
    {
        let client = Client::new().unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                let client = client.clone();
                let url = server.url("/");
                s.spawn(move || {
                    for _ in 0..10 {
                        client.get(&url).unwrap().bytes().unwrap();
                    }
                });
            }
        });
        assert!(client.stats().unwrap().total.idle >= 1);
    }
    assert_back_to_baseline(std::slice::from_ref(&server), baseline);
}
