//! What an idle pooled connection costs in resident memory, not only in live heap.
//!
//! What must hold: after a burst that has N requests in flight at once (so N connections
//! are busy together), the N connections sit idle in the pool and the process's
//! resident set grew by at most issue 15's target per connection plus 50 % (margin for
//! page granularity and a smaller N than the benchmark's 10 000): 9 KiB for plain
//! connections ([`PLAIN`]), 24 KiB for TLS ones ([`TLS`]). A connection that held a
//! 16 KiB read buffer while busy and freed it when it went idle fails the plain test:
//! the allocator keeps freed chunks that sit between live ones, so the resident set
//! stays at the peak (measured before the fix: 18 104 B per plain connection, 26 906 B
//! per TLS one; after: 1 785 B and 10 735 B).
//!
//! Resident memory is per process, and the test server runs a thread per connection:
//! so the test runs in two processes, as `fd_exhaustion.rs` does. The parent (this
//! binary, as `cargo test` starts it) runs the server (TLS: with a certificate from
//! `testkit`'s PKI) and starts itself again with [`CHILD_ENV`] set; that child drives an [`Engine`] against the parent's server and
//! measures its own `VmRSS`. The child's assertions fail its exit status, which fails
//! the parent; its output is printed either way.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::get;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::{ServerConn, TestServer};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Config, Engine, Event, Flow};

/// The environment variable that makes this binary the child: `URL N [CA_PEM_FILE]`.
const CHILD_ENV: &str = "WIREPOOL_IDLE_MEMORY_CHILD";

/// One case: plain or TLS, how many connections, the limit per idle connection.
struct Case {
    /// The test's name, for `--exact` when the binary starts itself.
    test: &'static str,
    tls: bool,
    /// Connections opened at once (fewer when the descriptor limit is lower).
    conns: usize,
    /// Issue 15's target plus 50 %, bytes of RSS growth per idle connection.
    max_rss_per_idle_conn: usize,
}

/// Plain connections: target 6 KiB.
const PLAIN: Case = Case {
    test: "idle_connections_give_their_read_memory_back",
    tls: false,
    conns: 2000,
    max_rss_per_idle_conn: 9 * 1024,
};

/// TLS connections: target 16 KiB. Fewer: every one is a full handshake (debug build).
const TLS: Case = Case {
    test: "idle_tls_connections_stay_small",
    tls: true,
    conns: 1000,
    max_rss_per_idle_conn: 24 * 1024,
};

/// Fewer than this many connections would measure page rounding more than connections.
const MIN_CONNS: usize = 500;

/// Descriptors kept free for everything else in each process.
const FD_HEADROOM: u64 = 200;

/// How long the server holds an answer waiting for the others (TLS handshakes in a
/// debug build on a busy machine are slow).
const HOLD_AT_MOST: Duration = Duration::from_secs(60);

/// How long the child may run before the parent calls it a hang.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn idle_connections_give_their_read_memory_back() {
    run(&PLAIN);
}

#[test]
fn idle_tls_connections_stay_small() {
    run(&TLS);
}

/// The parent's part of `case`, or the child's when this process is the child.
fn run(case: &Case) {
    match std::env::var(CHILD_ENV) {
        Ok(args) => child(case, &args),
        Err(_) => parent(case),
    }
}

/// Raises this process's soft descriptor limit to the hard one; returns it.
fn raise_fd_limit() -> u64 {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    hard
}

/// Runs the server and the child; fails if the child fails or hangs.
fn parent(case: &Case) {
    // One case at a time: both share this process's descriptors.
    let _lock = testkit::process_lock();
    let limit = raise_fd_limit();
    let room = usize::try_from(limit.saturating_sub(FD_HEADROOM)).unwrap_or(case.conns);
    let conns = case.conns.min(room);
    assert!(
        conns >= MIN_CONNS,
        "the descriptor limit ({limit}) leaves room for {conns} connections only"
    );
    // `/hold` is answered once `conns` of them arrived (or after `WAIT`): every
    // connection is busy at the same time, as in the benchmark; `/warm` at once.
    let held = Arc::new((Mutex::new(0usize), Condvar::new()));
    let handler = move |conn: &mut ServerConn| {
        // Idle connections stay open while the child measures.
        conn.set_io_timeout(CHILD_DEADLINE);
        while let Some(request) = conn.read_request() {
            if request.target == "/hold" {
                let (count, arrived) = &*held;
                let mut n = count.lock().unwrap_or_else(PoisonError::into_inner);
                *n += 1;
                arrived.notify_all();
                let deadline = Instant::now() + HOLD_AT_MOST;
                while *n < conns && Instant::now() < deadline {
                    n = arrived
                        .wait_timeout(n, Duration::from_millis(50))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            conn.respond(200, &[], b"idle");
        }
    };
    // Kept alive until the child is done: the server, and the CA file the child trusts.
    let (_plain, _tls, _ca, args);
    if case.tls {
        let pki = TestPki::new();
        let ca = pki.ca_pem_file();
        let server = TlsTestServer::start(ServerSetup::localhost(&pki), handler);
        args = format!("{} {conns} {}", server.url(""), ca.path_str());
        (_tls, _ca) = (Some(server), Some(ca));
    } else {
        let server = TestServer::start(handler);
        args = format!("{} {conns}", server.url(""));
        _plain = Some(server);
    }
    common::run_child(
        case.test,
        (CHILD_ENV, &args),
        CHILD_DEADLINE,
        "idle-memory:",
    );
}

/// This process's resident set size in bytes (`VmRSS` of `/proc/self/status`).
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// Submits `requests` and polls until each is done or failed; returns (done, failed).
fn run_all(
    engine: &mut Engine,
    requests: Vec<wirepool::http::Request<wirepool::Body>>,
) -> (usize, usize) {
    let n = requests.len();
    for request in requests {
        engine.submit(request).unwrap();
    }
    let (mut done, mut failed) = (0, 0);
    let deadline = Instant::now() + CHILD_DEADLINE;
    while done + failed < n && Instant::now() < deadline {
        engine
            .poll(Some(Duration::from_millis(50)), |event| {
                match event {
                    Event::Done { .. } => done += 1,
                    Event::Failed { error, .. } => {
                        eprintln!("idle-memory: a request failed: {error}");
                        failed += 1;
                    }
                    _ => {}
                }
                Flow::Continue
            })
            .unwrap();
    }
    (done, failed)
}

/// Opens `conns` connections at once to the parent's server and measures the resident
/// set they leave behind once idle.
fn child(case: &Case, args: &str) {
    let mut args = args.split(' ');
    let url = args.next().unwrap();
    let conns: usize = args.next().unwrap().parse().unwrap();
    let ca = args.next();
    raise_fd_limit();
    let mut config = Config::default();
    config.max_idle_per_host = conns;
    config.max_idle_total = conns;
    // Memory is measured, not speed: many handshakes at once on a busy machine.
    config.tls_handshake_timeout = CHILD_DEADLINE;
    config.response_header_timeout = Some(CHILD_DEADLINE);
    config.timeout = Some(CHILD_DEADLINE);
    if let Some(ca) = ca {
        let tls = TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .add_ca_pem_file(ca)
            .build()
            .unwrap();
        config.tls = Some(tls);
    }
    assert_eq!(
        ca.is_some(),
        case.tls,
        "the parent set the child up for this case"
    );
    let limit = case.max_rss_per_idle_conn;
    let mut engine = Engine::new(config).unwrap();
    // One exchange first: what is allocated once per engine (the read buffer it lends,
    // a parser, tables) is not the idle connections' cost.
    let warm = run_all(&mut engine, vec![get(&format!("{url}/warm"))]);
    assert_eq!(warm, (1, 0), "the warm-up request failed");
    let requests = (0..conns).map(|_| get(&format!("{url}/hold"))).collect();
    let rss_before = rss_bytes();
    let (done, failed) = run_all(&mut engine, requests);
    let rss_after = rss_bytes();
    let idle = engine.stats().total.idle;
    let per_conn = rss_after.saturating_sub(rss_before) / idle.max(1);
    println!(
        "idle-memory: {conns} requests at once, {done} done, {failed} failed, {idle} idle; \
         VmRSS {} KiB -> {} KiB: {per_conn} B per idle connection (limit {limit} B)",
        rss_before / 1024,
        rss_after / 1024,
    );
    assert_eq!((done, failed), (conns, 0), "every request is served");
    // The server holds every answer until all requests arrived: each has its own
    // connection, and every one of them went back to the pool.
    assert!(idle >= conns * 9 / 10, "{idle} of {conns} connections idle");
    assert!(
        per_conn <= limit,
        "{per_conn} B of resident memory per idle connection (limit {limit} B)"
    );
}
