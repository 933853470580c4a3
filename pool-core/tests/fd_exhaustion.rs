//! Descriptor exhaustion: the process reaches `RLIMIT_NOFILE` while the pool dials.
//!
//! What must hold: a dial whose `socket()` fails with `EMFILE` fails its request with
//! `ErrorKind::Connect` (the `io::Error` in the source, retry-safe: nothing was sent),
//! at once, without a panic, a hang or a half-made connection left in the gauges; the
//! requests that did get a socket are served and their connections pooled; the pool
//! serves again from its idle connections while the limit still holds, and fully once
//! descriptors are back; building a Client with no descriptor left is an error, not a
//! panic; at the end every descriptor is released.
//!
//! The limit is per process and would starve every other test (and the test server's
//! `accept`), so the test runs in two processes: the parent (this binary, as `cargo
//! test` starts it) runs the server and starts itself again with
//! `WIREPOOL_FD_CHILD_URL` set; that child lowers its own soft limit (`setrlimit`
//! through nix: the workspace forbids unsafe code) and drives an [`Engine`] against
//! the parent's server. The child's assertions fail its exit status, which fails the
//! parent; its output is printed either way.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::time::{Duration, Instant};

use common::{get, Driver, WAIT};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use testkit::TestServer;
use wirepool::{Client, Config, Engine, ErrorKind};

/// The environment variable that makes this binary the child, carrying the server's URL.
const CHILD_URL: &str = "WIREPOOL_FD_CHILD_URL";

/// How long the child may run before the parent calls it a hang.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// Descriptors left free under the lowered limit.
const HEADROOM: usize = 8;

/// The test's name, for `--exact` when the binary starts itself.
const TEST_NAME: &str = "emfile_fails_dials_cleanly_and_the_pool_recovers";

#[test]
fn emfile_fails_dials_cleanly_and_the_pool_recovers() {
    match std::env::var(CHILD_URL) {
        Ok(url) => child(&url),
        Err(_) => parent(),
    }
}

/// Runs the server and the child; fails if the child fails or hangs.
fn parent() {
    let server = TestServer::keep_alive(b"fd");
    common::run_child(
        TEST_NAME,
        (CHILD_URL, &server.url("/")),
        CHILD_DEADLINE,
        "fd-exhaustion:",
    );
    assert!(
        server.wait_for_open_connections(0, WAIT),
        "the child's sockets closed"
    );
}

/// The open descriptor numbers, not counting the directory handle used to list them.
fn open_fds() -> Vec<u64> {
    let mut fds: Vec<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_string_lossy().parse().ok())
        .collect();
    fds.sort_unstable();
    // The listing's own handle was open while listing and is closed now: the highest
    // number is not necessarily it, so drop whichever entry no longer exists.
    fds.retain(|fd| std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists());
    fds
}

/// The soft limit under which exactly `free` more descriptors can be opened: new
/// descriptors take the lowest free numbers, and each must be below the limit.
/// Descriptors already open above it stay usable.
fn limit_leaving(free: usize) -> u64 {
    let open = open_fds();
    let mut limit = 0u64;
    let mut left = free;
    loop {
        if !open.contains(&limit) {
            if left == 0 {
                return limit;
            }
            left -= 1;
        }
        limit += 1;
    }
}

/// Outcome counts of one round: successes, and failures with `EMFILE` behind them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Round {
    ok: usize,
    emfile: usize,
    reused: usize,
}

/// Submits `n` GETs at once (so the engine dials for all of them in one turn) and
/// drives the engine until every one has its outcome.
fn round(engine: &mut Engine, url: &str, n: usize) -> Round {
    let ids: Vec<_> = (0..n).map(|_| engine.submit(get(url)).unwrap()).collect();
    let mut driver = Driver::new();
    let started = Instant::now();
    driver.run_all(engine, &ids);
    assert!(
        started.elapsed() < WAIT,
        "a round took {:?}",
        started.elapsed()
    );
    let mut round = Round::default();
    for f in &driver.finished {
        match &f.result {
            Ok(reply) => {
                assert_eq!(reply.body, b"fd");
                round.ok += 1;
                round.reused += usize::from(reply.info.reused);
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}");
                assert!(e.is_retry_safe(), "nothing was sent");
                let io = std::error::Error::source(e)
                    .and_then(|s| s.downcast_ref::<std::io::Error>())
                    .unwrap_or_else(|| panic!("no io::Error behind {e:?}"));
                assert_eq!(io.raw_os_error(), Some(24), "EMFILE: {io:?}");
                round.emfile += 1;
            }
        }
    }
    assert_eq!(round.ok + round.emfile, n, "one outcome per request");
    let t = engine.stats().total;
    assert_eq!((t.active, t.connecting, t.waiting), (0, 0, 0), "{t:?}");
    round
}

/// Under the lowered limit: dials fail with EMFILE, the rest is served and pooled.
fn child(url: &str) {
    let mut config = Config::default();
    config.timeout = Some(WAIT);
    let mut engine = Engine::new(config).unwrap();
    // One exchange first, so that what the engine makes once (buffers, the timer heap)
    // exists before the limit; then an empty pool again.
    assert_eq!(round(&mut engine, url, 1).ok, 1);
    engine.close_idle();
    let baseline = open_fds().len();

    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let limit = limit_leaving(HEADROOM);
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();
    let free = HEADROOM;
    let n = free * 3;

    // 1. More dials than descriptors: as many as fit are served, the rest fail at once.
    let first = round(&mut engine, url, n);
    assert_eq!(first.ok, free, "one socket per free descriptor: {first:?}");
    assert_eq!(
        engine.stats().total.idle,
        free,
        "every served connection is pooled"
    );

    // 2. Still at the limit: the idle connections serve, new dials still fail cleanly.
    let second = round(&mut engine, url, n);
    assert!(second.reused >= first.ok.min(n), "{second:?}");
    assert!(second.emfile >= 1, "{second:?}");

    // 3. Building a client with no descriptor left (the pooled connections hold them
    // all) is an error, not a panic.
    assert_eq!(engine.stats().total.idle, free);
    let built = std::panic::catch_unwind(|| Client::builder().build().map(|_| ()));
    let built = built.unwrap_or_else(|_| panic!("building a client with no descriptor panicked"));
    let build_error = built.expect_err("a client built with no descriptor to spare");

    // 4. Descriptors back: everything is served again.
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    let third = round(&mut engine, url, n);
    assert_eq!(third.ok, n, "{third:?}");

    engine.close_idle();
    let settled = common::wait_until(WAIT, || open_fds().len() <= baseline);
    let stats = engine.stats().total;
    println!(
        "fd-exhaustion: limit {limit} ({free} free): round 1 {first:?}, round 2 {second:?}, \
         round 3 {third:?}; building a client with none free: {:?} ({build_error}); \
         dials {} closes {}; fds {} (baseline {baseline})",
        build_error.kind(),
        stats.dials,
        stats.closes.total(),
        open_fds().len()
    );
    assert!(settled, "descriptors back to the baseline");
    assert_eq!(stats.idle, 0);
}
