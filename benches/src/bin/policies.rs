//! `policies`: before/after figures for the pool's policies about the server
//! (docs/tuning.md), and the servers to reproduce them with `loadgen`.
//!
//! ```text
//! policies silent-close [N...]  POSTs from 32 threads against a server that closes each
//!                               connection silently after its N-th response (default
//!                               N = 1 2 5, and a server without a limit): learning off/on
//! policies keepalive-hint       callers that pause around the server's idle timeout
//!                               (1 s): no hint and no learning, learning, the hint
//! policies scale-out            a service behind a fake DNS goes from one instance to
//!                               three, then is replaced by two others: requests per
//!                               instance with follow_dns off/on
//! policies dying                GETs against a server on which every reuse fails: the
//!                               retry budget off (1.0) and at its default (0.2)
//! policies serve [N]            serve on 127.0.0.1 (the silently closing server, N = 5 by
//!                               default) until stdin closes, for `loadgen -m POST`
//! ```
//!
//! Options: `--threads T` (32), `--requests R` per run (20 000), `--method GET|POST`
//! (POST), `--close-delay-ms D` (0): how late the server's close reaches the client, as
//! a one-way network delay would make it (testkit's `ServerLimits::close_delay`).
//!
//! Each run uses a fresh client against `testkit` loopback servers and prints one line:
//! requests, failures by kind, dials, reuses and what the pool counted. This is a
//! measurement, not a test: the numbers depend on the machine and on scheduling, which
//! is why they live in docs and not in assertions.

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use testkit::{ServerLimits, TestServer};
use wirepool::http::{Method, Request};
use wirepool::{Body, Client, ClientBuilder, HostStats};

/// Options shared by the scenarios.
#[derive(Clone, Debug)]
struct Opts {
    threads: usize,
    requests: usize,
    method: Method,
    /// How late the server's close reaches the client.
    close_delay: Duration,
}

/// What one run of a load produced.
#[derive(Debug, Default)]
struct Outcome {
    ok: usize,
    failed: BTreeMap<String, usize>,
    elapsed: Duration,
    stats: HostStats,
}

impl Outcome {
    fn failures(&self) -> usize {
        self.failed.values().sum()
    }

    fn line(&self, label: &str) -> String {
        let total = self.ok + self.failures();
        let pct = 100.0 * self.failures() as f64 / total.max(1) as f64;
        let kinds: Vec<String> = self
            .failed
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let s = &self.stats;
        let c = &s.closes;
        format!(
            "{label:<26} {total:>6} req {:>6} failed ({pct:>5.2} %)  dials {:>6}  reuses {:>6}  retries {:>4}  silent closes {:>5}  closes: keep-alive {:>5}, learned {:>5}  learned {:?}/{:?}  [{}]  {:.1} s",
            self.failures(),
            s.dials,
            s.reuses,
            s.retries,
            s.learned.silent_closes,
            c.keepalive_timeout + c.keepalive_max,
            c.learned_request_limit + c.learned_idle_limit,
            s.learned.requests_per_conn,
            s.learned.idle_timeout,
            kinds.join(", "),
            self.elapsed.as_secs_f64()
        )
    }
}

/// One request of the load.
fn request(method: &Method, url: &str) -> Request<Body> {
    let body = if *method == Method::POST {
        Body::from("payload")
    } else {
        Body::empty()
    };
    Request::builder()
        .method(method.clone())
        .uri(url)
        .body(body)
        .expect("a valid request")
}

/// Records the outcome of one request.
fn record(outcome: &Mutex<Outcome>, result: Result<(), wirepool::Error>) {
    let mut out = outcome.lock().unwrap_or_else(PoisonError::into_inner);
    match result {
        Ok(()) => out.ok += 1,
        Err(e) => *out.failed.entry(format!("{:?}", e.kind())).or_default() += 1,
    }
}

/// The stats of the one host `client` talked to.
fn host_stats(client: &Client) -> HostStats {
    client
        .stats()
        .ok()
        .and_then(|s| s.hosts.into_iter().next())
        .map(|(_, h)| h)
        .unwrap_or_default()
}

/// Sends `opts.requests` requests to `url` from `opts.threads` threads sharing `client`.
fn run_load(client: &Client, url: &str, opts: &Opts) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let started = Instant::now();
    let workers: Vec<_> = (0..opts.threads)
        .map(|_| {
            let (client, url, next, outcome) = (
                client.clone(),
                url.to_string(),
                Arc::clone(&next),
                Arc::clone(&outcome),
            );
            let (method, total) = (opts.method.clone(), opts.requests);
            thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let result = client
                        .send(request(&method, &url))
                        .and_then(|r| r.bytes())
                        .map(|_| ());
                    record(&outcome, result);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let mut out = std::mem::take(&mut *outcome.lock().unwrap_or_else(PoisonError::into_inner));
    out.elapsed = started.elapsed();
    out.stats = host_stats(client);
    out
}

// ---- silent closes ----------------------------------------------------------------------

fn silent_close(ns: &[Option<usize>], opts: &Opts) {
    println!(
        "silent close: {} {} requests from {} threads per run, the server's close {:?} late",
        opts.method, opts.requests, opts.threads, opts.close_delay
    );
    for &n in ns {
        let limits = match n {
            Some(n) => ServerLimits::requests(n).close_delay(opts.close_delay),
            None => ServerLimits::default(),
        };
        let server = TestServer::with_limits(b"ok", limits);
        let url = server.url("/");
        let name = n.map_or("no limit".to_string(), |n| format!("N = {n}"));
        for learn in [false, true] {
            let client = ClientBuilder::new()
                .learn_server_limits(learn)
                .build()
                .expect("client");
            let outcome = run_load(&client, &url, opts);
            let label = format!("{name}, learning {}", if learn { "on" } else { "off" });
            println!("{}", outcome.line(&label));
        }
    }
}

// ---- the keep-alive hint ------------------------------------------------------------------

/// Callers that each send a request, then pause for a time drawn evenly from
/// 0.5–1.5 s, against a server that closes connections idle for 1 s. Each caller has a
/// client of its own (one service among many calling the API now and then), so a
/// connection's idle time is the caller's pause.
fn keepalive_hint(opts: &Opts) {
    let idle = Duration::from_secs(1);
    let per_caller = (opts.requests / opts.threads).max(1);
    println!(
        "keep-alive hint: {} callers x {per_caller} {} requests, pauses 0.5-1.5 s; the server closes after 1 s idle, its close {:?} late; margin 200 ms",
        opts.threads, opts.method, opts.close_delay
    );
    let runs: [(&str, bool, bool); 3] = [
        ("no hint, no learning", false, false),
        ("no hint, learning", false, true),
        ("hint (timeout=1)", true, false),
    ];
    for (label, hint, learn) in runs {
        let mut limits = ServerLimits::idle(idle).close_delay(opts.close_delay);
        limits.hint = hint;
        let server = TestServer::with_limits(b"ok", limits);
        let url = server.url("/");
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let stats = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let callers: Vec<_> = (0..opts.threads)
            .map(|i| {
                let (url, outcome, stats, method) = (
                    url.clone(),
                    Arc::clone(&outcome),
                    Arc::clone(&stats),
                    opts.method.clone(),
                );
                thread::spawn(move || {
                    let client = ClientBuilder::new()
                        .learn_server_limits(learn)
                        .keepalive_margin(Duration::from_millis(200))
                        .build()
                        .expect("client");
                    let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ (i as u64 + 1);
                    for _ in 0..per_caller {
                        let result = client
                            .send(request(&method, &url))
                            .and_then(|r| r.bytes())
                            .map(|_| ());
                        record(&outcome, result);
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let pause = 500 + rng % 1000;
                        thread::sleep(Duration::from_millis(pause));
                    }
                    stats
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(host_stats(&client));
                })
            })
            .collect();
        for c in callers {
            let _ = c.join();
        }
        let mut out = std::mem::take(&mut *outcome.lock().unwrap_or_else(PoisonError::into_inner));
        out.elapsed = started.elapsed();
        for s in stats.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let t = &mut out.stats;
            t.dials += s.dials;
            t.reuses += s.reuses;
            t.retries += s.retries;
            t.learned.silent_closes += s.learned.silent_closes;
            t.closes.keepalive_timeout += s.closes.keepalive_timeout;
            t.closes.learned_idle_limit += s.closes.learned_idle_limit;
            t.learned.idle_timeout = t.learned.idle_timeout.or(s.learned.idle_timeout);
        }
        println!("{}", out.line(label));
    }
}

// ---- scale-out ----------------------------------------------------------------------------

/// A fake DNS for `svc.test` whose answer can change.
fn fake_dns(answer: &Arc<Mutex<Vec<SocketAddr>>>) -> impl wirepool::Resolve {
    let answer = Arc::clone(answer);
    move |_host: &str, _port: u16| -> io::Result<Vec<SocketAddr>> {
        Ok(answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }
}

/// Requests per server, in the order of `servers`.
fn requests_per(servers: &[TestServer], before: &[usize]) -> Vec<usize> {
    servers
        .iter()
        .zip(before)
        .map(|(s, b)| s.requests() - b)
        .collect()
}

fn scale_out(opts: &Opts) {
    println!(
        "scale-out: {} threads, {} {} requests before and after the answer of svc.test goes from one instance to three (dns_ttl 1 s)",
        opts.threads, opts.requests, opts.method
    );
    answer_change(opts, |servers| {
        servers.iter().map(TestServer::addr).collect()
    });
    println!(
        "replacement: the same, the answer going from the first instance to the other two (a rolling deploy)"
    );
    answer_change(opts, |servers| {
        servers[1..].iter().map(TestServer::addr).collect()
    });
}

/// Loads `svc.test` while its answer is the first of three instances, changes the
/// answer to `new(servers)`, waits for the TTL and loads it again.
fn answer_change(opts: &Opts, new: impl Fn(&[TestServer]) -> Vec<SocketAddr>) {
    for follow in [false, true] {
        let servers: Vec<TestServer> = (0..3).map(|_| TestServer::keep_alive(b"ok")).collect();
        let answer = Arc::new(Mutex::new(vec![servers[0].addr()]));
        let client = ClientBuilder::new()
            .resolver(fake_dns(&answer))
            .proxy_from_env(false)
            .dns_ttl(Duration::from_secs(1))
            .follow_dns(follow)
            .build()
            .expect("client");
        let label = format!("follow_dns {}", if follow { "on" } else { "off" });
        let zero = vec![0; servers.len()];
        let before = run_load(&client, "http://svc.test/", opts);
        let after_first = requests_per(&servers, &zero);
        *answer.lock().unwrap_or_else(PoisonError::into_inner) = new(&servers);
        // Let the answer's TTL run out (the pool refreshes it then, with follow_dns).
        thread::sleep(Duration::from_millis(1500));
        let marks: Vec<usize> = servers.iter().map(TestServer::requests).collect();
        let after = run_load(&client, "http://svc.test/", opts);
        let per = requests_per(&servers, &marks);
        let s = &after.stats;
        println!(
            "{label:<16} before: {after_first:?} ({} failed)  after: {per:?} ({} failed)  connections per instance {:?}  closes: dns change {}, rebalance {}",
            before.failures(),
            after.failures(),
            s.conns_per_address.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            s.closes.dns_change,
            s.closes.rebalance,
        );
    }
}

// ---- the retry budget -------------------------------------------------------------------------

/// A dying server: every connection answers one request, then takes the next one and
/// closes without an answer (testkit's `StaleOnReuse`), so every reuse fails and the
/// engine's resend is all that saves a GET. Learning off shows the budget alone (how
/// many requests the server had to read per request sent, and what the callers saw);
/// the last run shows the two together.
fn dying(opts: &Opts) {
    println!(
        "dying server: {} GET requests from {} threads; every reused connection fails",
        opts.requests, opts.threads
    );
    let runs = [
        ("budget 1.0 (none)", 1.0, false),
        ("budget 0.2", 0.2, false),
        ("budget 0.2, learning", 0.2, true),
    ];
    for (label, ratio, learn) in runs {
        let server = TestServer::scripted(testkit::Script::StaleOnReuse(b"ok"));
        let client = ClientBuilder::new()
            .learn_server_limits(learn)
            .retry_budget(ratio)
            .build()
            .expect("client");
        let get = Opts {
            method: Method::GET,
            ..opts.clone()
        };
        let outcome = run_load(&client, &server.url("/"), &get);
        let sent = outcome.ok + outcome.failures();
        println!(
            "{}  server load {:.2} requests read per request sent, retries denied {}",
            outcome.line(label),
            server.requests() as f64 / sent.max(1) as f64,
            outcome.stats.retries_denied
        );
    }
}

// ---- serve ----------------------------------------------------------------------------------

fn serve(n: usize, opts: &Opts) {
    let limits = ServerLimits::requests(n).close_delay(opts.close_delay);
    let server = TestServer::with_limits(b"ok", limits);
    println!(
        "listening on {} (closes each connection silently after {n} responses, {:?} late); close stdin to stop",
        server.addr(),
        opts.close_delay
    );
    for line in io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let usage = "usage: policies silent-close [N...] | keepalive-hint | scale-out | dying | serve [N]  [--threads T] [--requests R] [--method M] [--close-delay-ms D]";
    let Some(scenario) = args.next() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let mut opts = Opts {
        threads: 32,
        requests: 20_000,
        method: Method::POST,
        close_delay: Duration::ZERO,
    };
    let mut values = Vec::new();
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> Option<usize> {
            let v = args.next().and_then(|v| v.parse().ok());
            if v.is_none() {
                eprintln!("{what} needs a number");
            }
            v
        };
        match arg.as_str() {
            "--threads" => match number("--threads") {
                Some(v) => opts.threads = v.max(1),
                None => return ExitCode::from(2),
            },
            "--requests" => match number("--requests") {
                Some(v) => opts.requests = v,
                None => return ExitCode::from(2),
            },
            "--close-delay-ms" => match number("--close-delay-ms") {
                Some(v) => opts.close_delay = Duration::from_millis(v as u64),
                None => return ExitCode::from(2),
            },
            "--method" => match args
                .next()
                .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            {
                Some(m) => opts.method = m,
                None => {
                    eprintln!("--method needs a method");
                    return ExitCode::from(2);
                }
            },
            other => match other.parse::<usize>() {
                Ok(n) if n > 0 => values.push(n),
                _ => {
                    eprintln!("unknown argument {other:?}\n{usage}");
                    return ExitCode::from(2);
                }
            },
        }
    }
    match scenario.as_str() {
        "silent-close" => {
            let ns: Vec<Option<usize>> = if values.is_empty() {
                vec![Some(1), Some(2), Some(5), None]
            } else {
                values.into_iter().map(Some).collect()
            };
            silent_close(&ns, &opts);
        }
        "keepalive-hint" => keepalive_hint(&opts),
        "scale-out" => scale_out(&opts),
        "dying" => dying(&opts),
        "serve" => serve(values.first().copied().unwrap_or(5), &opts),
        other => {
            eprintln!("unknown scenario {other:?}\n{usage}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
