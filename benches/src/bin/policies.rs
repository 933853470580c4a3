//! `policies`: before/after figures for the pool's keep-alive policies (docs/tuning.md).
//!
//! ```text
//! policies silent-close [N...]   POSTs from 32 threads against a server that closes each
//!                                connection silently after its N-th response (default
//!                                N = 1 2 5 and a server without a limit)
//! ```
//!
//! Each scenario runs the same load twice, with the policy off and on, against a
//! `testkit` loopback server, and prints one line per run: requests, failures by kind,
//! dials, reuses and the pool's own counters. Options: `--threads T` (32),
//! `--requests R` per run (20 000), `--method GET|POST` (POST).
//!
//! This is a measurement, not a test: the numbers depend on the machine and on
//! scheduling, which is why they live in docs and not in assertions.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The server's FIN this long after a connection's last response.
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
        format!(
            "{label:<22} {total:>6} requests {:>6} failed ({pct:>5.2} %)  dials {:>6}  reuses {:>6}  silent closes {:>5}  retired {:>5}  learned {:?} (confirmed {}, refuted {})  [{}]  {:.1} s",
            self.failures(),
            s.dials,
            s.reuses,
            s.learned.silent_closes,
            s.closes.learned_request_limit + s.closes.learned_idle_limit,
            s.learned.requests_per_conn,
            s.learned.confirmed,
            s.learned.refuted,
            kinds.join(", "),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Sends `opts.requests` requests to `url` from `opts.threads` threads.
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
                    let body = if method == Method::POST {
                        Body::from("payload")
                    } else {
                        Body::empty()
                    };
                    let request = Request::builder()
                        .method(method.clone())
                        .uri(&url)
                        .body(body)
                        .expect("a valid request");
                    let result = client.send(request).and_then(|mut r| r.bytes());
                    let mut out = outcome.lock().unwrap_or_else(|e| e.into_inner());
                    match result {
                        Ok(_) => out.ok += 1,
                        Err(e) => *out.failed.entry(format!("{:?}", e.kind())).or_default() += 1,
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let mut out = std::mem::take(&mut *outcome.lock().unwrap_or_else(|e| e.into_inner()));
    out.elapsed = started.elapsed();
    // One host per run: its own stats carry what was learned (the total does not).
    if let Some((_, host)) = client.stats().ok().and_then(|s| s.hosts.into_iter().next()) {
        out.stats = host;
    }
    out
}

/// The client of a run: the policies on (`true`) or off.
fn client(policy: bool) -> Client {
    ClientBuilder::new()
        .learn_server_limits(policy)
        .build()
        .expect("client")
}

fn silent_close(ns: &[Option<usize>], opts: &Opts) {
    println!(
        "silent close: {} {} requests from {} threads per run, FIN {:?} after the last response",
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
        for policy in [false, true] {
            let outcome = run_load(&client(policy), &url, opts);
            let label = format!("{name}, policy {}", if policy { "on" } else { "off" });
            println!("{}", outcome.line(&label));
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(scenario) = args.next() else {
        eprintln!("usage: policies silent-close [N...] [--threads T] [--requests R] [--method M]");
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
                Ok(n) => values.push(n),
                Err(_) => {
                    eprintln!("unknown argument {other:?}");
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
        other => {
            eprintln!("unknown scenario {other:?}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
