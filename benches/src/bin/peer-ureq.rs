//! `peer-ureq`: `loadgen`'s load on ureq 3, one blocking thread per connection.
//!
//! ```text
//! peer-ureq [-c C] [-n N | -d TIME] [--json] [--no-reuse] URL
//! ```
//!
//! C threads share one `ureq::Agent` whose pool keeps up to C idle connections (per host
//! and in total; 0 with `--no-reuse`). Each thread sends a GET, reads the body to its end
//! into a reused buffer, records the latency and sends the next: the blocking peer of
//! loadgen's `--mode client`. Plain `http://` only (ureq is built without TLS features).
//! Dials are counted by a connector placed after ureq's `TcpConnector` in its chain.
//! The options are `loadgen`'s ([`examples::load::LoadOptions`]); the ones ureq cannot do
//! here (`https://`, `-t`, `-R`, `-m`, `-H`, `--body`, `--url-list`) are usage errors.

use std::io::Read;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use clap::{CommandFactory, Parser};
use examples::cpu::{self, CpuUsage};
use examples::load::report::{LoadReport, Tally};
use examples::load::{parse_or_exit, usage_exit, LoadOptions, Plan};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectionDetails, Connector, TcpConnector, Transport};
use ureq::Agent;

/// The command line: loadgen's load options.
#[derive(Parser, Debug)]
#[command(
    name = "peer-ureq",
    about = "loadgen's load on ureq 3 (plain http:// only)"
)]
struct Cli {
    #[command(flatten)]
    load: LoadOptions,
}

/// Size of each thread's body read buffer (as loadgen's client mode).
const READ_BUF_BYTES: usize = 16 * 1024;

/// Passes a new connection through, counting it.
#[derive(Debug)]
struct CountDials(Arc<AtomicU64>);

impl<In: Transport> Connector<In> for CountDials {
    type Out = In;

    fn connect(
        &self,
        _: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<In>, ureq::Error> {
        if chained.is_some() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(chained)
    }
}

fn main() -> ExitCode {
    let cli: Cli = parse_or_exit();
    let checked = cli.load.check().and_then(|plan| {
        plan.refuse_unsupported("peer-ureq")?;
        plan.refuse(
            plan.is_https(),
            "https:// (ureq is built without TLS)",
            "peer-ureq",
        )?;
        plan.refuse(plan.options.no_resume, "--no-resume", "peer-ureq")?;
        Ok(plan)
    });
    let plan = match checked {
        Ok(plan) => plan,
        Err(msg) => usage_exit(&mut Cli::command(), msg),
    };
    match run(&plan) {
        Ok(report) => {
            if plan.options.json {
                println!("{}", report.to_json());
            } else {
                println!("{}", report.to_table(plan.options.latency));
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("peer-ureq: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(plan: &Plan) -> Result<LoadReport, String> {
    let c = plan.connections;
    let idle = if plan.options.no_reuse { 0 } else { c };
    let url = plan.url.to_string();
    let config = Agent::config_builder()
        .max_idle_connections(idle)
        .max_idle_connections_per_host(idle)
        .http_status_as_error(false)
        .build();
    let dials = Arc::new(AtomicU64::new(0));
    let connector = ().chain(TcpConnector::default()).chain(CountDials(dials.clone()));
    let agent = Agent::with_parts(config, connector, DefaultResolver::default());
    let started = AtomicU64::new(0);
    // start: all threads ready; finished: all done sending; release: CPU sampled.
    let (start, finished, release) = (
        Barrier::new(c + 1),
        Barrier::new(c + 1),
        Barrier::new(c + 1),
    );
    std::thread::scope(|scope| {
        let mut workers = Vec::with_capacity(c);
        for i in 0..c {
            let (agent, started, url) = (&agent, &started, url.as_str());
            let (start, finished, release) = (&start, &finished, &release);
            let w = std::thread::Builder::new()
                .name(format!("ureq-{i}"))
                .spawn_scoped(scope, move || {
                    start.wait();
                    let t0 = Instant::now();
                    let tally = worker(agent, plan, url, started, t0);
                    finished.wait();
                    release.wait();
                    tally
                })
                .map_err(|e| format!("cannot start thread {i}: {e}"));
            match w {
                Ok(w) => workers.push(w),
                // The threads already started wait at `start` forever: give up loudly.
                Err(msg) => std::process::exit({
                    eprintln!("peer-ureq: {msg}");
                    1
                }),
            }
        }
        let cpu0 = cpu::sample().ok();
        let t0 = Instant::now();
        start.wait();
        finished.wait();
        let elapsed = t0.elapsed();
        let cpu1 = cpu::sample().ok();
        release.wait();
        let mut tally = Tally::default();
        for w in workers {
            tally.merge(&w.join().map_err(|_| "a load thread panicked".to_string())?);
        }
        let dials = dials.load(Ordering::Relaxed);
        Ok(LoadReport {
            client: "ureq".into(),
            url: plan.url.to_string(),
            connections: c,
            threads: c,
            elapsed,
            reuses: Some(tally.finished().saturating_sub(dials)),
            tally,
            dials: Some(dials),
            cpu: cpu0.zip(cpu1).map(|(a, b)| CpuUsage::between(&a, &b)),
            peak_rss_kb: cpu::peak_rss_kb(),
            ..LoadReport::default()
        })
    })
}

/// One thread's closed loop.
fn worker(agent: &Agent, plan: &Plan, url: &str, started: &AtomicU64, t0: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut buf = vec![0u8; READ_BUF_BYTES];
    loop {
        let ticket = started.fetch_add(1, Ordering::Relaxed);
        if !plan.stop.may_start(ticket, t0) {
            return tally;
        }
        let sent = Instant::now();
        match agent.get(url).call() {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let mut reader = resp.body_mut().as_reader();
                let mut bytes = 0u64;
                let outcome = loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break Ok(()),
                        Ok(n) => bytes += n as u64,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                match outcome {
                    Ok(()) => tally.ok(status, bytes, sent.elapsed()),
                    Err(e) => tally.error(&format!("body: {}", e.kind())),
                }
            }
            Err(e) => tally.error(&short_error(&e)),
        }
    }
}

/// A short, stable description of a ureq error for `errors_by_kind`.
fn short_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => format!("i/o: {}", io.kind()),
        ureq::Error::ConnectionFailed => "connect".into(),
        ureq::Error::Timeout(_) => "timeout".into(),
        other => format!("{other}"),
    }
}
