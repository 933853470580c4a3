//! `loadbench`: runs wirepool's `loadgen` and the peer load generators against one local
//! server and prints the tables of `docs/benchmarks.md`.
//!
//! ```text
//! loadbench [--reps N] [--secs S] [--conns 1,16,64,256] [--server auto|nginx|builtin]
//!           [--only plain,64k,https,handshake,scale,memory,strace] [--strace SECS]
//!           [--scale-conns N] [--scale-hosts H] [--no-pin] [--out FILE]
//!           [--idle-wait SECS] [--max-others FRACTION] [--retries N]
//! ```
//!
//! What it does, in order:
//! 1. Starts one server for the session (see `benches::server`): nginx when installed,
//!    else `bench-server`; plain HTTP on 127.0.0.1, HTTPS (nginx only) with a CA made
//!    for the session, and `--scale-hosts` more loopback addresses for the scale runs.
//! 2. With `taskset` and at least 2 CPUs, pins the server to CPU 0 and every client run
//!    to CPU 1, so client and server do not steal each other's core.
//! 3. Runs each section's scenarios. In a scenario every client runs in turn, the whole
//!    round repeated `--reps` times (A B C A B C …), `--secs` per run, and the median of
//!    each figure is printed with the ratio to the scenario's first client (wirepool's
//!    engine). Sections: `plain` (13-byte body at each `--conns`), `64k` (C = 64),
//!    `https` (C = 64, connections reused), `handshake` (a connection per request: plain
//!    TCP, TLS resumed, TLS full; ours and hyper-rustls), `scale` (`--scale-conns`
//!    connections to 1 host vs over `--scale-hosts` hosts), `memory` (`idle-memory`:
//!    `--scale-conns` idle connections, plain and TLS), `strace` (`strace -c -f`,
//!    system calls per request for ours, hyper and wrk).
//! 4. Guards against a shared machine: before each run it waits up to `--idle-wait` for
//!    a second in which the machine is ≥ 95 % idle, and after it computes the CPU other
//!    processes used during the run (`benches::machine`); a run where others used more
//!    than `--max-others` of a CPU is repeated, up to `--retries` times. The median of
//!    that figure is a column of every table.
//! 5. Prints Markdown (machine, date, commands, tables, the issue-6 targets marked met or
//!    missed) on stdout; every raw JSON line goes to `--out` (JSON Lines).
//!
//! A client that cannot run here is skipped with a printed note (wrk not installed; ureq
//! and HTTPS; HTTPS without nginx), never silently. Needs the binaries built in the same
//! profile next to it: `benches/run.sh` builds them and runs this. Never part of
//! `cargo test`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use benches::machine::{
    find_program, first3, machine_busy_ticks, median, pinned, process_tree_ticks, sh, wait_for_idle,
};
use benches::server::{self, Server};
use clap::{Parser, ValueEnum};
use examples::chart::{self, Axes, Series};
use examples::load::parse_or_exit;
use serde_json::Value;

const SECTIONS: [&str; 7] = [
    "plain",
    "64k",
    "https",
    "handshake",
    "scale",
    "memory",
    "strace",
];

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "loadbench",
    about = "Runs loadgen and the peer load generators against one local server and prints \
             the tables of docs/benchmarks.md"
)]
struct Options {
    /// Rounds of every scenario (A B C A B C ...); medians are reported
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    reps: u64,
    /// Seconds per run
    #[arg(long, default_value_t = 4.0, value_parser = at_least_half)]
    secs: f64,
    /// Concurrencies of the plain section
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256",
          value_parser = clap::value_parser!(u64).range(1..))]
    conns: Vec<u64>,
    /// Which server to run
    #[arg(long, value_enum, default_value_t = ServerChoice::Auto)]
    server: ServerChoice,
    /// Sections to run
    #[arg(long, value_delimiter = ',', default_value = "plain,64k,https,handshake,scale,memory,strace",
          value_parser = clap::builder::PossibleValuesParser::new(SECTIONS))]
    only: Vec<String>,
    /// Seconds per strace run
    #[arg(long = "strace", default_value_t = 3.0, value_parser = at_least_half)]
    strace_secs: f64,
    /// Connections of the scale and memory sections
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    scale_conns: u64,
    /// Hosts (loopback addresses) of the scale and memory sections
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=25_000))]
    scale_hosts: u64,
    /// Do not pin the server and the clients to CPUs with taskset
    #[arg(long)]
    no_pin: bool,
    /// Where the raw runs go (JSON Lines)
    #[arg(long, default_value = "target/loadbench/results.jsonl")]
    out: PathBuf,
    /// Also write SVG charts into DIR: requests/s and CPU µs per request by client and
    /// concurrency, and the latency percentiles at C = 64
    #[arg(long, value_name = "DIR")]
    charts: Option<PathBuf>,
    /// Only draw the charts (into --charts DIR) from the raw runs of an earlier session
    /// (its --out file); runs nothing
    #[arg(long, value_name = "FILE", requires = "charts")]
    charts_from: Option<PathBuf>,
    /// Seconds to wait for a quiet machine before each run
    #[arg(long, default_value_t = 15.0, value_parser = non_negative)]
    idle_wait: f64,
    /// Repeat a run when other processes used more than this fraction of a CPU
    #[arg(long, default_value_t = 0.05, value_parser = non_negative)]
    max_others: f64,
    /// How often a disturbed run is repeated
    #[arg(long, default_value_t = 1)]
    retries: u64,
}

fn at_least_half(text: &str) -> Result<f64, String> {
    non_negative(text).map(|v| v.max(0.5))
}

fn non_negative(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("'{text}' is not a number"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ServerChoice {
    Auto,
    Nginx,
    Builtin,
}

/// A number of a JSON line; NaN when missing or null.
fn field(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// One load generator as a row of a table.
#[derive(Debug, Clone)]
struct ClientSpec {
    /// Row label.
    label: String,
    program: PathBuf,
    /// Arguments before the scenario's common ones.
    args: Vec<String>,
}

/// Clients measured against the same server, alternating, with the same common arguments.
#[derive(Debug)]
struct Scenario {
    /// Key for the raw results and the targets (`plain-c64`, ...).
    key: String,
    title: String,
    /// `-c`, `-d` and the rest, after each client's own arguments.
    common: Vec<String>,
    clients: Vec<ClientSpec>,
    secs: f64,
}

/// Everything the runs share.
struct Bench<'a> {
    opts: &'a Options,
    server: &'a Server,
    client_cpu: Option<usize>,
    clk_tck: f64,
    /// (scenario key, client label) → JSON lines of its runs.
    results: BTreeMap<(String, String), Vec<Value>>,
    md: String,
    /// Per idle connection (the memory section), for the targets.
    idle: IdleFigures,
}

/// What the memory section measured per idle connection, for the targets.
#[derive(Debug, Default, Clone, Copy)]
struct IdleFigures {
    /// Live heap bytes per idle plain connection.
    plain_heap_b: Option<f64>,
    /// Resident KiB per idle plain connection.
    plain_rss_kib: Option<f64>,
    /// Resident KiB per idle TLS connection.
    tls_rss_kib: Option<f64>,
}

impl Bench<'_> {
    /// One run of `spec`; returns its JSON line with the disturbance figures added.
    fn run_once(&self, spec: &ClientSpec, sc: &Scenario) -> Result<Value, String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            wait_for_idle(Duration::from_secs_f64(self.opts.idle_wait));
            let machine0 = machine_busy_ticks();
            let server0 = process_tree_ticks(self.server.child.id());
            let out = pinned(&spec.program, self.client_cpu)
                .args(&spec.args)
                .args(&sc.common)
                .arg("--json")
                .output()
                .map_err(|e| format!("cannot run {}: {e}", spec.program.display()))?;
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let parsed: Option<serde_json::Map<String, Value>> = serde_json::from_str(&line).ok();
            let Some(mut run) = parsed else {
                return Err(format!(
                    "{} failed ({}): {}{line}",
                    spec.label,
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            };
            let machine = machine_busy_ticks().saturating_sub(machine0);
            let server_ticks = process_tree_ticks(self.server.child.id()).saturating_sub(server0);
            let number = |k: &str| run.get(k).and_then(Value::as_f64);
            let ours = number("cpu_total_s").unwrap_or(0.0);
            let others =
                (machine.saturating_sub(server_ticks) as f64 / self.clk_tck - ours).max(0.0);
            let secs = number("secs").unwrap_or(sc.secs);
            if number("errors").unwrap_or(0.0) > 0.0 {
                eprintln!("loadbench: warning: errors in run: {line}");
            }
            let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
            run.insert("scenario".into(), sc.key.clone().into());
            run.insert("label".into(), spec.label.clone().into());
            run.insert("others_cpu_s".into(), round3(others).into());
            run.insert(
                "server_cpu_s".into(),
                round3(server_ticks as f64 / self.clk_tck).into(),
            );
            run.insert("attempt".into(), attempt.into());
            if others <= self.opts.max_others * secs || attempt > self.opts.retries {
                return Ok(Value::Object(run));
            }
            eprintln!("loadbench: others used {others:.2} CPU-s during the run; again");
        }
    }

    /// Runs a scenario (A B C A B C ...) and appends its table.
    fn scenario(&mut self, sc: &Scenario) -> Result<(), String> {
        for rep in 1..=self.opts.reps {
            for spec in &sc.clients {
                eprintln!(
                    "loadbench: {} | {} | run {rep}/{}",
                    sc.title, spec.label, self.opts.reps
                );
                let line = match self.run_once(spec, sc) {
                    Ok(line) => line,
                    Err(msg) => {
                        // One client failing does not lose the session: say so, go on.
                        eprintln!("loadbench: {msg}; this run is left out");
                        continue;
                    }
                };
                // Every run is on disk at once, so an interrupted session keeps its runs.
                let text = format!("{line}\n");
                if let Err(e) = fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&self.opts.out)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                {
                    eprintln!("loadbench: {}: {e}", self.opts.out.display());
                }
                self.results
                    .entry((sc.key.clone(), spec.label.clone()))
                    .or_default()
                    .push(line);
            }
        }
        self.table(sc);
        Ok(())
    }

    /// Median of `field` over the runs of (scenario, label).
    fn med(&self, key: &str, label: &str, field: &str) -> f64 {
        let Some(lines) = self.results.get(&(key.to_string(), label.to_string())) else {
            return f64::NAN;
        };
        let mut v: Vec<f64> = lines
            .iter()
            .map(|l| self::field(l, field))
            .filter(|x| !x.is_nan())
            .collect();
        median(&mut v)
    }

    fn table(&mut self, sc: &Scenario) {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "#### {}\n\n`{}`, {} × {} s per client, alternating; medians. Ratios: client ÷ first row.\n",
            sc.title,
            sc.common.join(" "),
            self.opts.reps,
            sc.secs
        );
        let _ = writeln!(
            md,
            "| client | requests/s | × | p50 µs | p99 µs | p99.9 µs | CPU µs/req | × | user / sys µs/req | peak RSS MiB | dials | TLS full / resumed | others' CPU % |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        let base = sc
            .clients
            .first()
            .map(|c| c.label.clone())
            .unwrap_or_default();
        let (base_rps, base_cpu) = (
            self.med(&sc.key, &base, "rps"),
            self.med(&sc.key, &base, "cpu_us_per_req"),
        );
        for spec in &sc.clients {
            let m = |f: &str| self.med(&sc.key, &spec.label, f);
            let (rps, cpu, n) = (m("rps"), m("cpu_us_per_req"), m("ok"));
            let per_req = |f: &str| m(f) * 1e6 / n;
            let tls = if m("tls_full").is_nan() {
                "–".to_string()
            } else {
                format!("{:.0} / {:.0}", m("tls_full"), m("tls_resumed"))
            };
            let _ = writeln!(
                md,
                "| {} | {rps:.0} | {:.2} | {:.1} | {:.1} | {:.1} | {cpu:.2} | {:.2} | {:.2} / {:.2} | {:.1} | {:.0} | {tls} | {:.1} |",
                spec.label,
                rps / base_rps,
                m("p50_us"),
                m("p99_us"),
                m("p999_us"),
                cpu / base_cpu,
                per_req("cpu_user_s"),
                per_req("cpu_sys_s"),
                m("peak_rss_kb") / 1024.0,
                m("dials"),
                100.0 * m("others_cpu_s") / m("secs"),
            );
        }
        println!("{md}");
        self.md.push_str(&md);
        self.md.push('\n');
    }
}

fn main() -> ExitCode {
    let opts: Options = parse_or_exit();
    if let (Some(dir), Some(from)) = (&opts.charts, &opts.charts_from) {
        let drawn = fs::read_to_string(from)
            .map_err(|e| format!("{}: {e}", from.display()))
            .and_then(|text| draw_charts(&runs_by_scenario(&text), dir));
        return match drawn {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("loadbench: {msg}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("loadbench: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn spec(label: &str, program: &Path, args: &[&str]) -> ClientSpec {
    ClientSpec {
        label: label.to_string(),
        program: program.to_path_buf(),
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn run(opts: &Options) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let exe_dir = exe.parent().ok_or("no directory for this binary")?;
    let bin = |name: &str| exe_dir.join(name);
    for name in [
        "loadgen",
        "peer-hyper",
        "peer-ureq",
        "peer-wrk",
        "bench-server",
        "idle-memory",
    ] {
        if !bin(name).is_file() {
            return Err(format!(
                "{} not found: benches/run.sh builds it",
                bin(name).display()
            ));
        }
    }
    let has = |s: &str| opts.only.iter().any(|o| o == s);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = !opts.no_pin && cpus >= 2 && find_program("taskset").is_some();
    let (server_cpu, client_cpu) = if pin {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    let scale = if has("scale") || has("memory") {
        server::scale_addrs(opts.scale_hosts as usize)
            .map_err(|e| format!("scale addresses: {e}"))?
    } else {
        Vec::new()
    };
    let server = match (opts.server, find_program("nginx")) {
        (ServerChoice::Nginx | ServerChoice::Auto, Some(nginx)) => {
            server::start_nginx(&nginx, server_cpu, &scale)?
        }
        (ServerChoice::Nginx, None) => return Err("nginx is not installed".into()),
        (ServerChoice::Builtin | ServerChoice::Auto, _) => {
            server::start_builtin(exe_dir, server_cpu, &scale)?
        }
    };
    let url = format!("http://{}/", server.addr);
    eprintln!("loadbench: server {} on {url}", server.name);
    let wrk = find_program("wrk").is_some();
    if !wrk {
        eprintln!(
            "loadbench: note: wrk is not installed (apt-get install -y wrk); its rows are skipped"
        );
    }
    if let Some(dir) = opts.out.parent() {
        let _ = fs::create_dir_all(dir);
    }
    fs::write(&opts.out, "").map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let load_before = sh("cat /proc/loadavg");
    let started = sh("date -u '+%Y-%m-%d %H:%M UTC'");
    let mut b = Bench {
        opts,
        server: &server,
        client_cpu,
        clk_tck: sh("getconf CLK_TCK").parse().unwrap_or(100.0),
        results: BTreeMap::new(),
        md: String::new(),
        idle: IdleFigures::default(),
    };
    let (loadgen, hyper, ureq, peer_wrk) = (
        bin("loadgen"),
        bin("peer-hyper"),
        bin("peer-ureq"),
        bin("peer-wrk"),
    );
    let secs = opts.secs.to_string();
    let all_plain = |with_ureq: bool| {
        let mut v = vec![
            spec("wirepool-engine", &loadgen, &["--mode", "engine"]),
            spec("wirepool-client", &loadgen, &["--mode", "client"]),
            spec("hyper-cur", &hyper, &["--mode", "cur"]),
            spec("hyper-mt", &hyper, &["--mode", "mt"]),
        ];
        if with_ureq {
            v.push(spec("ureq", &ureq, &[]));
        }
        if wrk {
            v.push(spec("wrk", &peer_wrk, &[]));
        }
        v
    };

    if has("plain") {
        b.md.push_str("### 13-byte body\n\n");
        for &c in &opts.conns {
            let sc = Scenario {
                key: format!("plain-c{c}"),
                title: format!("C = {c}, 13-byte body"),
                common: strings(&["--url", &url, "-c", &c.to_string(), "-d", &secs]),
                clients: all_plain(true),
                secs: opts.secs,
            };
            b.scenario(&sc)?;
        }
    }
    if has("64k") {
        b.md.push_str("### 64 KiB body\n\n");
        let sc = Scenario {
            key: "large-c64".into(),
            title: "C = 64, 64 KiB body".into(),
            common: strings(&["--url", &format!("{url}64k"), "-c", "64", "-d", &secs]),
            clients: all_plain(true),
            secs: opts.secs,
        };
        b.scenario(&sc)?;
    }
    let tls = server.tls.clone();
    if (has("https") || has("handshake")) && tls.is_none() {
        let msg = "HTTPS sections skipped: no TLS server (needs nginx).";
        eprintln!("loadbench: note: {msg}");
        b.md.push_str(&format!("{msg}\n\n"));
    }
    if let (true, Some((taddr, ca))) = (has("https"), &tls) {
        b.md.push_str("### HTTPS, connections reused\n\n");
        eprintln!("loadbench: note: ureq is built without TLS; no ureq row over HTTPS");
        let turl = format!("https://{taddr}/");
        let ca = ca.display().to_string();
        let mut clients = all_plain(false);
        clients.retain(|c| c.label != "wirepool-client");
        let sc = Scenario {
            key: "https-c64".into(),
            title: "HTTPS, C = 64, 13-byte body, connections reused".into(),
            common: strings(&["--url", &turl, "--cacert", &ca, "-c", "64", "-d", &secs]),
            clients,
            secs: opts.secs,
        };
        b.scenario(&sc)?;
    }
    if let (true, Some((taddr, ca))) = (has("handshake"), &tls) {
        b.md.push_str("### A connection per request: dial and handshake cost\n\n");
        let ca = ca.display().to_string();
        let c = "16";
        for (key, title, url, extra) in [
            (
                "dial-tcp",
                "new TCP connection per request (http)",
                url.clone(),
                vec![],
            ),
            (
                "dial-tls-resumed",
                "new TLS connection per request, resumed handshake",
                format!("https://{taddr}/"),
                vec!["--cacert", ca.as_str()],
            ),
            (
                "dial-tls-full",
                "new TLS connection per request, full handshake (no session cache)",
                format!("https://{taddr}/"),
                vec!["--cacert", ca.as_str(), "--no-resume"],
            ),
        ] {
            let mut common = strings(&["--url", &url, "-c", c, "-d", &secs, "--no-reuse"]);
            common.extend(strings(&extra));
            let sc = Scenario {
                key: key.into(),
                title: format!("C = {c}, {title}"),
                common,
                clients: vec![
                    spec("wirepool-engine", &loadgen, &["--mode", "engine"]),
                    spec("hyper-cur", &hyper, &["--mode", "cur"]),
                ],
                secs: opts.secs,
            };
            b.scenario(&sc)?;
        }
    }
    if has("scale") && !server.scale.is_empty() {
        b.md.push_str("### Scale: many connections, many hosts\n\n");
        let list = opts.out.with_file_name("scale-urls.txt");
        let urls: String = server
            .scale
            .iter()
            .map(|a| format!("http://{a}/\n"))
            .collect();
        fs::write(&list, urls).map_err(|e| format!("{}: {e}", list.display()))?;
        let n = opts.scale_conns.to_string();
        let long = (opts.secs * 2.0).to_string();
        let hosts_label = format!("wirepool-engine, {} hosts", server.scale.len());
        let list_s = list.display().to_string();
        let sc = Scenario {
            key: "scale".into(),
            title: format!(
                "C = {n} connections, 1 host vs {} hosts",
                server.scale.len()
            ),
            common: strings(&["-c", &n, "-d", &long]),
            clients: vec![
                spec(
                    "wirepool-engine, 1 host",
                    &loadgen,
                    &["--mode", "engine", "--url", &url],
                ),
                spec(
                    &hosts_label,
                    &loadgen,
                    &["--mode", "engine", "--url-list", &list_s],
                ),
            ],
            secs: opts.secs * 2.0,
        };
        b.scenario(&sc)?;
    }
    if has("memory") && !server.scale.is_empty() {
        let (md, idle) = memory_section(&b, &bin("idle-memory"), opts)?;
        b.md.push_str(&md);
        b.idle = idle;
    }
    if has("strace") {
        b.md.push_str(&strace_section(&b, &url, wrk)?);
    }
    b.md.push_str(&targets(&b, opts));
    let load_after = sh("cat /proc/loadavg");
    // (every run was appended to `opts.out` as it finished)
    if let Some(dir) = &opts.charts {
        for file in draw_charts(&b.results, dir)? {
            eprintln!("loadbench: chart {}", file.display());
        }
    }
    let server_name = server.name.clone();
    let body = std::mem::take(&mut b.md);
    drop(b);
    drop(server);

    let mut md = String::new();
    let _ = writeln!(md, "Date: {started}. Server: {server_name}.");
    let _ = writeln!(
        md,
        "Machine: `nproc` = {}, `{}`; kernel {}.",
        sh("nproc"),
        sh("lscpu | grep 'Model name' | tr -s ' '"),
        sh("uname -r")
    );
    let _ = writeln!(
        md,
        "Pinning: {}. Load average (1/5/15 min) before: {}; after: {}.\n",
        if pin {
            "server on CPU 0, clients on CPU 1 (`taskset`)"
        } else {
            "none"
        },
        first3(&load_before),
        first3(&load_after)
    );
    md.push_str(&body);
    let _ = writeln!(md, "Raw runs (JSON Lines): `{}`.", opts.out.display());
    println!("\n==== Markdown for docs/benchmarks.md ====\n\n{md}");
    Ok(())
}

/// Idle memory per connection, plain (over the scale hosts) and TLS (one host).
fn memory_section(
    b: &Bench<'_>,
    idle_memory: &Path,
    opts: &Options,
) -> Result<(String, IdleFigures), String> {
    let mut figures = IdleFigures::default();
    let mut md = String::from("### Memory per idle connection\n\n");
    let n = opts.scale_conns.to_string();
    let list = opts.out.with_file_name("scale-urls.txt");
    let urls: String = b
        .server
        .scale
        .iter()
        .map(|a| format!("http://{a}/\n"))
        .collect();
    fs::write(&list, urls).map_err(|e| format!("{}: {e}", list.display()))?;
    let mut runs = vec![(
        format!("plain, {} hosts", b.server.scale.len()),
        strings(&["--url-list", &list.display().to_string(), "-c", &n]),
    )];
    if let Some((taddr, ca)) = &b.server.tls {
        runs.push((
            "TLS 1.3, 1 host".to_string(),
            strings(&[
                "--url",
                &format!("https://{taddr}/"),
                "--cacert",
                &ca.display().to_string(),
                "-c",
                &n,
            ]),
        ));
    }
    let _ = writeln!(
        md,
        "`idle-memory … -c {n}`: {n} connections opened at once, all idle when measured.\n\n\
         | connections | idle | live heap per idle connection | of which freed by closing it | RSS per idle connection | TLS full / resumed | time to open |\n|---|---|---|---|---|---|---|"
    );
    for (label, args) in runs {
        eprintln!("loadbench: idle memory, {label}");
        wait_for_idle(Duration::from_secs_f64(opts.idle_wait));
        let out = pinned(idle_memory, b.client_cpu)
            .args(&args)
            .output()
            .map_err(|e| format!("idle-memory: {e}"))?;
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() {
            let _ = writeln!(
                md,
                "| {label} | failed: {} | | | | |",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            continue;
        }
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let f = |k: &str| field(&parsed, k);
        let _ = writeln!(
            md,
            "| {label} | {:.0} | {:.0} B | {:.0} B | {:.1} KiB | {:.0} / {:.0} | {:.2} s |",
            f("idle"),
            f("heap_per_idle_conn_b"),
            f("heap_freed_per_conn_b"),
            f("rss_per_idle_conn_kb"),
            f("tls_full"),
            f("tls_resumed"),
            f("open_secs"),
        );
        if label.starts_with("plain") {
            figures.plain_heap_b = Some(f("heap_per_idle_conn_b"));
            figures.plain_rss_kib = Some(f("rss_per_idle_conn_kb"));
        } else {
            figures.tls_rss_kib = Some(f("rss_per_idle_conn_kb"));
        }
        eprintln!("loadbench: {line}");
    }
    md.push('\n');
    Ok((md, figures))
}

/// `strace -c -f` of ours, hyper-cur and wrk at C = 64: system calls per request.
fn strace_section(b: &Bench<'_>, url: &str, wrk: bool) -> Result<String, String> {
    let Some(strace) = find_program("strace") else {
        eprintln!("loadbench: note: strace is not installed; no system-call table");
        return Ok("strace is not installed: no system-call table.\n\n".into());
    };
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let secs = b.opts.strace_secs.to_string();
    let mut clients = vec![
        (
            "wirepool-engine",
            exe_dir.join("loadgen"),
            vec!["--mode", "engine"],
        ),
        (
            "hyper-cur",
            exe_dir.join("peer-hyper"),
            vec!["--mode", "cur"],
        ),
    ];
    if wrk {
        clients.push(("wrk", exe_dir.join("peer-wrk"), vec![]));
    }
    // syscall → per-request count for each client
    let mut table: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut header = Vec::new();
    for (i, (label, program, args)) in clients.iter().enumerate() {
        eprintln!("loadbench: strace {label}");
        let summary =
            std::env::temp_dir().join(format!("wirepool-strace-{}-{i}.txt", std::process::id()));
        let out = pinned(&strace, b.client_cpu)
            .args(["-c", "-f", "-o"])
            .arg(&summary)
            .arg(program)
            .args(args)
            .args(["--url", url, "-c", "64", "-d", &secs, "--json"])
            .output()
            .map_err(|e| format!("strace: {e}"))?;
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let n = Some(field(&parsed, "n"))
            .filter(|&n| n > 0.0)
            .unwrap_or(f64::NAN);
        let text = fs::read_to_string(&summary).unwrap_or_default();
        let _ = fs::remove_file(&summary);
        for l in text.lines() {
            let cols: Vec<&str> = l.split_whitespace().collect();
            if cols.len() < 5 || cols[0].parse::<f64>().is_err() {
                continue;
            }
            let (Ok(calls), Some(name)) = (cols[3].parse::<f64>(), cols.last()) else {
                continue;
            };
            table
                .entry(name.to_string())
                .or_insert_with(|| vec![0.0; clients.len()])[i] = calls / n;
        }
        header.push(format!(
            "{label} ({:.0} req/s under strace)",
            field(&parsed, "rps")
        ));
    }
    let mut md = format!(
        "### System calls per request\n\n`strace -c -f`, C = 64, 13-byte body, {secs} s each (strace slows every client; the counts per request are what matter).\n\n| syscall | {} |\n|---|{}\n",
        header.join(" | "),
        "---|".repeat(clients.len())
    );
    let mut rows: Vec<(String, Vec<f64>)> = table.into_iter().collect();
    rows.sort_by(|a, b| b.1.iter().sum::<f64>().total_cmp(&a.1.iter().sum::<f64>()));
    for (name, v) in rows {
        if v.iter().all(|&x| x < 0.001) && name != "total" {
            continue;
        }
        let cells: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
        let _ = writeln!(md, "| `{name}` | {} |", cells.join(" | "));
    }
    md.push('\n');
    Ok(md)
}

/// Issue 6's targets, computed from the medians, each marked met or missed.
fn targets(b: &Bench<'_>, opts: &Options) -> String {
    let mut md =
        String::from("### Targets (issue 6)\n\n| target | measured | verdict |\n|---|---|---|\n");
    let mut row = |what: &str, measured: f64, limit: f64, less: bool, unit: &str| {
        if measured.is_nan() || limit.is_nan() {
            let _ = writeln!(md, "| {what} | not measured | – |");
            return;
        }
        let ok = if less {
            measured <= limit
        } else {
            measured >= limit
        };
        let _ = writeln!(
            md,
            "| {what} | {measured:.2}{unit} (limit {limit:.2}{unit}) | {} |",
            if ok { "met" } else { "**missed**" }
        );
    };
    let m = |k: &str, l: &str, f: &str| b.med(k, l, f);
    let e = "wirepool-engine";
    row(
        "C=64 engine CPU/req ≤ 0.75 × hyper-cur",
        m("plain-c64", e, "cpu_us_per_req"),
        0.75 * m("plain-c64", "hyper-cur", "cpu_us_per_req"),
        true,
        " µs",
    );
    row(
        "C=64 engine CPU/req ≤ 1.15 × wrk",
        m("plain-c64", e, "cpu_us_per_req"),
        1.15 * m("plain-c64", "wrk", "cpu_us_per_req"),
        true,
        " µs",
    );
    row(
        "C=64 engine req/s ≥ 1.3 × hyper-cur",
        m("plain-c64", e, "rps"),
        1.3 * m("plain-c64", "hyper-cur", "rps"),
        false,
        "",
    );
    row(
        "C=1 engine p50 ≤ hyper-cur",
        m("plain-c1", e, "p50_us"),
        m("plain-c1", "hyper-cur", "p50_us"),
        true,
        " µs",
    );
    row(
        "C=1 engine CPU/req ≤ 1.1 × wrk",
        m("plain-c1", e, "cpu_us_per_req"),
        1.1 * m("plain-c1", "wrk", "cpu_us_per_req"),
        true,
        " µs",
    );
    row(
        "C=64 client mode req/s ≥ 1.3 × ureq",
        m("plain-c64", "wirepool-client", "rps"),
        1.3 * m("plain-c64", "ureq", "rps"),
        false,
        "",
    );
    row(
        "64 KiB engine CPU/req ≤ hyper-cur",
        m("large-c64", e, "cpu_us_per_req"),
        m("large-c64", "hyper-cur", "cpu_us_per_req"),
        true,
        " µs",
    );
    let hosts = format!("wirepool-engine, {} hosts", opts.scale_hosts);
    row(
        &format!("{} hosts CPU/req ≤ 1.15 × 1 host", opts.scale_hosts),
        m("scale", &hosts, "cpu_us_per_req"),
        1.15 * m("scale", "wirepool-engine, 1 host", "cpu_us_per_req"),
        true,
        " µs",
    );
    row(
        "heap per idle plain connection ≤ 4 KiB",
        b.idle.plain_heap_b.unwrap_or(f64::NAN),
        4096.0,
        true,
        " B",
    );
    // Issue 15, target 3: what the allocator really keeps, not only the live heap.
    row(
        "RSS per idle plain connection ≤ 6 KiB (issue 15)",
        b.idle.plain_rss_kib.unwrap_or(f64::NAN),
        6.0,
        true,
        " KiB",
    );
    row(
        "RSS per idle TLS connection ≤ 16 KiB (issue 15)",
        b.idle.tls_rss_kib.unwrap_or(f64::NAN),
        16.0,
        true,
        " KiB",
    );
    md.push('\n');
    md
}

/// The runs of a JSON Lines file by (scenario, label), as a session collects them.
fn runs_by_scenario(text: &str) -> BTreeMap<(String, String), Vec<Value>> {
    let mut runs: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let key = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        if let (Some(scenario), Some(label)) = (key("scenario"), key("label")) {
            runs.entry((scenario, label)).or_default().push(v);
        }
    }
    runs
}

/// Median of `field` over `runs`; NaN without values.
fn median_of(runs: &[Value], field_name: &str) -> f64 {
    let mut v: Vec<f64> = runs
        .iter()
        .map(|r| field(r, field_name))
        .filter(|x| !x.is_nan())
        .collect();
    median(&mut v)
}

/// Draws the charts of `docs/benchmarks.md` into `dir`; returns the files written.
///
/// - `rps.svg`, `cpu.svg`: requests/s and CPU µs per request of every client at each
///   concurrency of the plain section (scenarios `plain-cN`), medians;
/// - `latency.svg`: p50 to p99.9 of every client at C = 64 (`plain-c64`).
fn draw_charts(
    runs: &BTreeMap<(String, String), Vec<Value>>,
    dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Clients in the order of the first run of each, concurrencies ascending.
    let mut clients: Vec<String> = Vec::new();
    let mut conns: Vec<u64> = Vec::new();
    for (scenario, label) in runs.keys() {
        let Some(c) = scenario
            .strip_prefix("plain-c")
            .and_then(|c| c.parse::<u64>().ok())
        else {
            continue;
        };
        conns.push(c);
        if !clients.contains(label) {
            clients.push(label.clone());
        }
    }
    if clients.is_empty() {
        return Err("no run of the plain section to draw".into());
    }
    clients.sort_by_key(|label| client_rank(label));
    conns.sort_unstable();
    conns.dedup();
    let series = |f: &str| -> Vec<Series> {
        clients
            .iter()
            .map(|label| Series {
                name: label.clone(),
                values: conns
                    .iter()
                    .map(|&c| {
                        let rs = runs.get(&(format!("plain-c{c}"), label.clone()))?;
                        Some(median_of(rs, f))
                    })
                    .collect(),
            })
            .collect()
    };
    let axes = |title: &str, y: &str| Axes {
        title: title.to_owned(),
        x: "concurrent requests (connections)".to_owned(),
        y: y.to_owned(),
        categories: conns.iter().map(u64::to_string).collect(),
        legend_left: false,
    };
    let mut written = Vec::new();
    let rps = dir.join("rps.svg");
    chart::lines(
        &rps,
        &axes(
            "Requests per second, 13-byte body (medians; higher is better)",
            "requests/s",
        ),
        &series("rps"),
    )?;
    written.push(rps);
    let cpu = dir.join("cpu.svg");
    chart::lines(
        &cpu,
        &axes(
            "Client CPU per request, 13-byte body (medians; lower is better)",
            "CPU µs per request (user + system)",
        ),
        &series("cpu_us_per_req"),
    )?;
    written.push(cpu);
    let percentiles = [
        ("p50", "p50_us"),
        ("p90", "p90_us"),
        ("p99", "p99_us"),
        ("p99.9", "p999_us"),
    ];
    let at = conns
        .iter()
        .copied()
        .find(|&c| c == 64)
        .or(conns.last().copied());
    if let Some(c) = at {
        let latency: Vec<Series> = clients
            .iter()
            .filter_map(|label| {
                let rs = runs.get(&(format!("plain-c{c}"), label.clone()))?;
                Some(Series {
                    name: label.clone(),
                    values: percentiles
                        .iter()
                        .map(|(_, f)| Some(median_of(rs, f)))
                        .collect(),
                })
            })
            .collect();
        let path = dir.join("latency.svg");
        chart::lines(
            &path,
            &Axes {
                title: format!("Latency percentiles at C = {c} (medians; lower is better)"),
                x: "percentile".to_owned(),
                y: "latency µs".to_owned(),
                categories: percentiles.iter().map(|(n, _)| (*n).to_owned()).collect(),
                legend_left: true,
            },
            &latency,
        )?;
        written.push(path);
    }
    Ok(written)
}

/// The order clients are listed in: ours first.
fn client_rank(label: &str) -> usize {
    [
        "wirepool-engine",
        "wirepool-client",
        "hyper-cur",
        "hyper-mt",
        "ureq",
        "wrk",
    ]
    .iter()
    .position(|l| *l == label)
    .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_from_runs() {
        let mut text = String::new();
        for (c, engine, hyper) in [(1, 20_000.0, 15_000.0), (64, 130_000.0, 95_000.0)] {
            for (label, rps) in [("wirepool-engine", engine), ("hyper-cur", hyper)] {
                text.push_str(&format!(
                    "{{\"scenario\":\"plain-c{c}\",\"label\":\"{label}\",\"rps\":{rps},\
                     \"cpu_us_per_req\":7.5,\"p50_us\":100,\"p90_us\":150,\"p99_us\":300,\
                     \"p999_us\":900}}\n"
                ));
            }
        }
        text.push_str("not json\n");
        let runs = runs_by_scenario(&text);
        assert_eq!(runs.len(), 4);
        let dir = std::env::temp_dir().join(format!("loadbench-charts-{}", std::process::id()));
        let files = draw_charts(&runs, &dir).expect("charts");
        assert_eq!(files.len(), 3);
        let rps = fs::read_to_string(dir.join("rps.svg")).expect("rps.svg");
        assert!(rps.contains("wirepool-engine") && rps.contains("hyper-cur"));
        let latency = fs::read_to_string(dir.join("latency.svg")).expect("latency.svg");
        assert!(latency.contains("p99.9") && latency.contains("C = 64"));
        let _ = fs::remove_dir_all(&dir);
        assert!(draw_charts(&BTreeMap::new(), &dir).is_err());
    }
}
