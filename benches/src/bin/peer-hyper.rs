//! `peer-hyper`: `loadgen`'s load on hyper 1.x with hyper-util's pooled legacy `Client`.
//!
//! ```text
//! peer-hyper [-c C] [-n N | -d TIME] [--json] [--mode cur|mt]
//!            [--cacert PATH | --insecure] [--no-reuse] [--no-resume] URL
//! ```
//!
//! The options are `loadgen`'s ([`examples::load::LoadOptions`]); the ones this peer
//! does not do (`-t`, `-R`, `-m`, `-H`, `--body`, `--url-list`) are usage errors.
//!
//! - `--mode cur` (default, client `hyper-cur`): a tokio current-thread runtime; the
//!   main thread runs everything, like loadgen's engine mode.
//! - `--mode mt` (client `hyper-mt`): tokio's multi-thread runtime with its default worker
//!   count (the CPUs this process may use: 1 when the runner pins it with `taskset`).
//!
//! C tasks each loop: send a GET, read the body to its end frame by frame (no copy),
//! record the latency, send the next — C requests in flight, a closed loop like wrk's
//! and loadgen's. The pool keeps up to C idle connections per host
//! (`pool_max_idle_per_host`; 0 with `--no-reuse`). Dials are counted by a connector
//! wrapper (every `call` is a new connection; hyper-util may dial while also waiting
//! for an idle connection, and such extra dials are real and counted).
//!
//! `https://` goes through hyper-rustls, given the rustls `ClientConfig` that tls-glue
//! builds from the same options as loadgen's (ring provider, the `--cacert` root,
//! resumption cache; `--no-resume` turns the cache off), so only the client code differs.
//! Full and resumed handshakes are read from each new connection's rustls state.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use clap::{CommandFactory, Parser, ValueEnum};
use examples::cpu::{self, CpuUsage};
use examples::load::report::{LoadReport, Tally};
use examples::load::{parse_or_exit, usage_exit, LoadOptions, Plan};
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::MaybeHttpsStream;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use wirepool::tls::rustls::HandshakeKind;

/// The command line: loadgen's load options and the runtime.
#[derive(Parser, Debug)]
#[command(
    name = "peer-hyper",
    about = "loadgen's load on hyper-util's pooled Client"
)]
struct Cli {
    #[command(flatten)]
    load: LoadOptions,
    /// tokio runtime: cur (current-thread, client hyper-cur) or mt (multi-thread, hyper-mt)
    #[arg(long, value_enum, default_value_t = Runtime::Cur)]
    mode: Runtime,
}

/// Which tokio runtime runs the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Runtime {
    Cur,
    Mt,
}

/// Counters the connector wrapper shares with the report.
#[derive(Debug, Default)]
struct DialCounts {
    dials: AtomicU64,
    tls_full: AtomicU64,
    tls_resumed: AtomicU64,
}

/// What a new connection says about its TLS handshake.
trait HandshakeInfo {
    /// `Some(true)` resumed, `Some(false)` full, `None` plain TCP.
    fn resumed(&self) -> Option<bool>;
}

impl HandshakeInfo for TokioIo<TcpStream> {
    fn resumed(&self) -> Option<bool> {
        None
    }
}

impl HandshakeInfo for MaybeHttpsStream<TokioIo<TcpStream>> {
    fn resumed(&self) -> Option<bool> {
        match self {
            MaybeHttpsStream::Http(_) => None,
            MaybeHttpsStream::Https(tls) => {
                let kind = tls.inner().get_ref().1.handshake_kind();
                Some(kind == Some(HandshakeKind::Resumed))
            }
        }
    }
}

/// A connector that counts the connections it opens (and their handshakes).
#[derive(Clone, Debug)]
struct Counting<S> {
    inner: S,
    counts: Arc<DialCounts>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> tower_service::Service<Uri> for Counting<S>
where
    S: tower_service::Service<Uri> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: HandshakeInfo,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let counts = self.counts.clone();
        counts.dials.fetch_add(1, Ordering::Relaxed);
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            let conn = connecting.await?;
            match conn.resumed() {
                Some(true) => counts.tls_resumed.fetch_add(1, Ordering::Relaxed),
                Some(false) => counts.tls_full.fetch_add(1, Ordering::Relaxed),
                None => 0,
            };
            Ok(conn)
        })
    }
}

/// The plain connector hyper-util users start from: `TCP_NODELAY` on, like ours.
fn http_connector() -> HttpConnector {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false); // https:// URLs reach it through hyper-rustls
    http
}

fn main() -> ExitCode {
    let cli: Cli = parse_or_exit();
    let plan = match cli.load.check().and_then(|plan| {
        plan.refuse_unsupported("peer-hyper")?;
        Ok(plan)
    }) {
        Ok(plan) => plan,
        Err(msg) => usage_exit(&mut Cli::command(), msg),
    };
    let multi_thread = cli.mode == Runtime::Mt;
    let runtime = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peer-hyper: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = if multi_thread {
        "hyper-mt"
    } else {
        "hyper-cur"
    };
    match runtime.block_on(run(plan.clone(), name)) {
        Ok(report) => {
            if plan.options.json {
                println!("{}", report.to_json());
            } else {
                println!("{}", report.to_table(plan.options.latency));
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("peer-hyper: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run(plan: Plan, name: &str) -> Result<LoadReport, String> {
    let counts = Arc::new(DialCounts::default());
    let mut builder = Client::builder(TokioExecutor::new());
    builder.pool_max_idle_per_host(if plan.options.no_reuse {
        0
    } else {
        plan.connections
    });
    if plan.is_https() {
        // The same rustls configuration loadgen builds (tls-glue: ring, roots, cache).
        let tls = match plan.tls_config()? {
            Some(tls) => tls,
            None => wirepool::tls::TlsConfig::builder()
                .build()
                .map_err(|e| format!("TLS configuration: {e}"))?,
        };
        let mut rustls_config = tls.as_rustls().as_ref().clone();
        // hyper-rustls sets ALPN itself (`http/1.1` from `enable_http1`, the same value
        // tls-glue sets) and refuses a config that already has it.
        rustls_config.alpn_protocols.clear();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls_config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http_connector());
        let client = builder.build(Counting {
            inner: https,
            counts: counts.clone(),
        });
        drive(client, plan, name, counts).await
    } else {
        let client = builder.build(Counting {
            inner: http_connector(),
            counts: counts.clone(),
        });
        drive(client, plan, name, counts).await
    }
}

/// Runs the load with `client`: C tasks, each a closed loop.
async fn drive<C>(
    client: Client<C, Empty<Bytes>>,
    plan: Plan,
    name: &str,
    counts: Arc<DialCounts>,
) -> Result<LoadReport, String>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let uri: Uri = plan.url.clone();
    let started = Arc::new(AtomicU64::new(0));
    // One tally for all tasks: an uncontended lock per request (~20 ns) instead of C
    // histograms of 30 KiB each, which would inflate peak RSS at C = 256.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let cpu0 = cpu::sample().ok();
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        let (client, uri, started, tally) =
            (client.clone(), uri.clone(), started.clone(), tally.clone());
        let stop = plan.stop;
        tasks.push(tokio::spawn(async move {
            loop {
                let ticket = started.fetch_add(1, Ordering::Relaxed);
                if !stop.may_start(ticket, t0) {
                    break;
                }
                let sent = Instant::now();
                let mut req = Request::new(Empty::<Bytes>::new());
                *req.uri_mut() = uri.clone();
                let outcome = match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let mut body = resp.into_body();
                        let mut bytes = 0u64;
                        let mut failed = None;
                        while let Some(frame) = body.frame().await {
                            match frame {
                                Ok(f) => bytes += f.data_ref().map_or(0, |d| d.len() as u64),
                                Err(e) => {
                                    failed = Some(format!("body: {e}"));
                                    break;
                                }
                            }
                        }
                        failed.map_or(Ok((status, bytes)), Err)
                    }
                    Err(e) if e.is_connect() => Err("connect".to_string()),
                    Err(e) => Err(format!("request: {e}")),
                };
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                match outcome {
                    Ok((status, bytes)) => t.ok(status, bytes, sent.elapsed()),
                    Err(kind) => t.error(&kind),
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| format!("a load task failed: {e}"))?;
    }
    let elapsed = t0.elapsed();
    let cpu1 = cpu::sample().ok();
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Ok(LoadReport {
        client: name.to_string(),
        url: plan.url.to_string(),
        connections: plan.connections,
        threads: 1,
        elapsed,
        tally,
        dials: Some(load(&counts.dials)),
        tls_handshakes: plan
            .is_https()
            .then(|| (load(&counts.tls_full), load(&counts.tls_resumed))),
        cpu: cpu0.zip(cpu1).map(|(a, b)| CpuUsage::between(&a, &b)),
        peak_rss_kb: cpu::peak_rss_kb(),
        ..LoadReport::default()
    })
}
