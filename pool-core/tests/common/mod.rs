//! Helpers shared by the integration tests: driving an [`Engine`] until requests finish,
//! a gate that holds server responses until the test lets them go, and small waits.
//!
//! Every wait here has a deadline, so a bug fails the test instead of hanging it.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use testkit::{ServerConn, TestServer};
use wirepool::http::{Request, StatusCode};
use wirepool::{Body, Engine, Error, ErrorKind, Event, Flow, HostStats, RequestId, RequestInfo};

/// The longest any single step of a test may take before it is called a hang.
pub const WAIT: Duration = Duration::from_secs(10);

/// A `GET url` request with no body.
pub fn get(url: &str) -> Request<Body> {
    Request::get(url).body(Body::empty()).unwrap()
}

/// Polls `cond` every few milliseconds until it holds; false after `timeout`.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The wirepool error inside an `io::Error` returned by `ResponseBody::read`.
pub fn kind_of(e: &io::Error) -> Option<ErrorKind> {
    e.get_ref()?
        .downcast_ref::<Error>()
        .map(wirepool::Error::kind)
}

/// The stats of the host `server` runs on.
pub fn host_stats(stats: &wirepool::Stats, server: &TestServer) -> HostStats {
    let port = server.addr().port();
    stats
        .hosts
        .iter()
        .find(|(key, _)| key.port() == port)
        .map(|(_, s)| s.clone())
        .unwrap_or_default()
}

/// A finished request as the engine reported it.
#[derive(Debug)]
pub struct Finished {
    pub id: RequestId,
    pub result: Result<Reply, Error>,
}

/// A response that arrived in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub info: RequestInfo,
}

impl Finished {
    pub fn reply(&self) -> &Reply {
        match &self.result {
            Ok(r) => r,
            Err(e) => panic!("{} failed: {e:?}", self.id),
        }
    }

    pub fn error(&self) -> &Error {
        match &self.result {
            Ok(r) => panic!("{} succeeded with {}, expected an error", self.id, r.status),
            Err(e) => e,
        }
    }
}

/// Drives an engine and collects what it reports, in the order it reports it.
#[derive(Debug, Default)]
pub struct Driver {
    heads: HashMap<RequestId, (StatusCode, RequestInfo)>,
    bodies: HashMap<RequestId, Vec<u8>>,
    /// Finished requests in completion order.
    pub finished: Vec<Finished>,
}

impl Driver {
    pub fn new() -> Driver {
        Driver::default()
    }

    /// One engine turn (waiting at most 20 ms).
    pub fn turn(&mut self, engine: &mut Engine) {
        let Driver {
            heads,
            bodies,
            finished,
        } = self;
        engine
            .poll(Some(Duration::from_millis(20)), |ev| {
                match ev {
                    Event::Head { id, head, info } => {
                        heads.insert(id, (head.status(), *info));
                    }
                    Event::Data { id, data } => bodies.entry(id).or_default().extend(data),
                    Event::Done { id, info } => {
                        let status = heads.remove(&id).map(|h| h.0).unwrap_or_default();
                        let body = bodies.remove(&id).unwrap_or_default();
                        finished.push(Finished {
                            id,
                            result: Ok(Reply { status, body, info }),
                        });
                    }
                    Event::Failed { id, error } => {
                        heads.remove(&id);
                        bodies.remove(&id);
                        finished.push(Finished {
                            id,
                            result: Err(error),
                        });
                    }
                }
                Flow::Continue
            })
            .unwrap();
    }

    /// Turns the engine until `cond` holds; panics after `timeout` with `what`.
    pub fn run_until(
        &mut self,
        engine: &mut Engine,
        what: &str,
        mut cond: impl FnMut(&Driver, &Engine) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        while !cond(self, engine) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; finished so far: {:?}",
                self.finished
            );
            self.turn(engine);
        }
    }

    /// Turns the engine until every id in `ids` finished.
    pub fn run_all(&mut self, engine: &mut Engine, ids: &[RequestId]) {
        self.run_until(engine, "all requests to finish", |d, _| {
            ids.iter().all(|id| d.get(*id).is_some())
        });
    }

    /// The finished request `id`, if it finished.
    pub fn get(&self, id: RequestId) -> Option<&Finished> {
        self.finished.iter().find(|f| f.id == id)
    }

    /// Whether `id` got its head.
    pub fn has_head(&self, id: RequestId) -> bool {
        self.heads.contains_key(&id)
    }

    /// The finished request `id`; panics if it did not finish.
    pub fn outcome(&self, id: RequestId) -> &Finished {
        self.get(id)
            .unwrap_or_else(|| panic!("{id} has not finished"))
    }
}

/// Holds server responses until the test lets them through, one permit each.
///
/// A server handler calls [`Gate::pass`] before answering; the test calls
/// [`Gate::open`]. A handler never waits past [`WAIT`] or the server's drop.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<(Mutex<usize>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Lets `n` more responses through.
    pub fn open(&self, n: usize) {
        let (permits, cv) = &*self.0;
        *permits.lock().unwrap_or_else(PoisonError::into_inner) += n;
        cv.notify_all();
    }

    /// Lets every held and future response through.
    pub fn open_all(&self) {
        self.open(usize::MAX / 2);
    }

    /// Waits for a permit; false if none came in time or the server is stopping.
    pub fn pass(&self, conn: &ServerConn) -> bool {
        let deadline = Instant::now() + WAIT;
        let (permits, cv) = &*self.0;
        let mut left = permits.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *left > 0 {
                *left -= 1;
                return true;
            }
            if conn.is_server_stopping() || Instant::now() >= deadline {
                return false;
            }
            left = cv
                .wait_timeout(left, Duration::from_millis(20))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A keep-alive server that answers each request with `body` only after
/// `gate` lets it through.
pub fn gated_server(gate: &Gate, body: &'static [u8]) -> TestServer {
    let gate = gate.clone();
    TestServer::start(move |conn| {
        while conn.read_request().is_some() {
            if !gate.pass(conn) {
                return;
            }
            conn.respond(200, &[], body);
        }
    })
}

// ---- seeded draws (the soak and the evil-server fuzzer) ----------------------------------

/// A number from the environment (decimal or `0x` hex): the seeds and sizes of the
/// seeded tests. Panics on a value that is not a number (a typo must not pass as "unset").
pub fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let raw = raw.trim();
    let parsed = match raw.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => raw.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={raw:?} is not a number")))
}

/// A fresh seed for a seeded test run (printed by the test, so a failure can be replayed).
pub fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    mix(nanos ^ (u64::from(std::process::id()) << 32))
}

/// splitmix64's finalizer: spreads any input over all 64 bits.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xorshift64*: a small seeded generator (state never 0).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

/// Runs `test` of this test binary again in a child process, with `env` set, and fails
/// if the child fails, runs past `deadline`, or never printed `summary` (proof that it
/// ran its checks, not an empty test list). For tests that need a process of their own
/// (a lower descriptor limit, a clean memory baseline). The child's output is printed.
pub fn run_child(test: &str, env: (&str, &str), deadline: Duration, summary: &str) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(env.0, env.1)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child {test} ran past {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    println!("child stdout:\n{}", text(&output.stdout));
    println!("child stderr:\n{}", text(&output.stderr));
    assert!(status.success(), "the child failed: {status}");
    assert!(
        text(&output.stdout).contains(summary),
        "the child printed no summary"
    );
}
