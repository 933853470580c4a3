//! `loadbench`: runs `loadgen` against a local server and prints the tables for
//! `docs/benchmarks.md` ("Engine and Client under load").
//!
//! ```text
//! loadbench [--reps N] [--secs S] [--conns 1,64] [--server auto|nginx|builtin]
//!           [--no-pin] [--strace SECS] [--out FILE]
//!           [--idle-wait SECS] [--max-others FRACTION] [--retries N]
//! ```
//!
//! What it does, in order:
//! 1. Starts the server: nginx when it is installed (`--server auto`, the default) with
//!    a config written to a temporary directory (1 worker, `return 200` with a 13-byte
//!    body, unlimited keep-alive, no access log, 127.0.0.1 and a free port); otherwise
//!    the built-in `bench-server` next to this binary.
//! 2. With `taskset` and at least 2 CPUs, pins the server to CPU 0 and every `loadgen`
//!    run to CPU 1, so client and server do not steal each other's core.
//! 3. For each concurrency C, runs engine mode and client mode alternately
//!    (A B A B ...), `--reps` times each, `--secs` seconds per run (`loadgen -d`), and
//!    keeps each run's JSON line (all of them go to `--out`, JSON Lines).
//!    The machine may be shared (our development machines are): before each run it
//!    waits up to `--idle-wait` (90 s) for a second in which the machine is at least
//!    95 % idle, and after it computes how much CPU *other* processes used during the
//!    run (machine busy time from `/proc/stat`, minus loadgen's own CPU time, minus the
//!    server's). A run where others used more than `--max-others` (0.05) of one CPU is
//!    repeated, up to `--retries` (3) times; the figure is kept in the raw results
//!    (`others_cpu_s`) and its median is printed, so disturbed numbers are visible.
//! 4. Prints the median of each figure per (C, mode), the spread of requests/s, the
//!    machine (`nproc`, CPU model, load average before and after), the date and the
//!    commands: a Markdown fragment ready for the docs.
//! 5. With `--strace SECS`: one extra engine-mode run at the largest C under
//!    `strace -c -f`, and the system calls per request it saw.
//!
//! It needs `loadgen` built in the same profile: `benches/run.sh` builds both and runs
//! this. Benchmarks are never part of `cargo test`.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: loadbench [--reps N] [--secs S] [--conns 1,64] [--server auto|nginx|builtin]
                 [--no-pin] [--strace SECS] [--out FILE]
                 [--idle-wait SECS] [--max-others FRACTION] [--retries N]";

/// The body nginx and bench-server send: 13 bytes.
const BODY: &str = "hello, world!";

/// How long a server gets to start listening.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Options {
    reps: usize,
    secs: f64,
    conns: Vec<usize>,
    server: ServerChoice,
    pin: bool,
    strace_secs: Option<f64>,
    out: PathBuf,
    /// Longest wait for an idle machine before each run.
    idle_wait: Duration,
    /// A run during which other processes used more than this share of one CPU is
    /// repeated (up to `retries` times).
    max_others: f64,
    retries: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerChoice {
    Auto,
    Nginx,
    Builtin,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        reps: 5,
        secs: 5.0,
        conns: vec![1, 64],
        server: ServerChoice::Auto,
        pin: true,
        strace_secs: None,
        out: PathBuf::from("target/loadbench/results.jsonl"),
        idle_wait: Duration::from_secs(90),
        max_others: 0.05,
        retries: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--reps" => {
                o.reps = value()?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--reps wants a positive whole number")?
            }
            "--secs" => {
                o.secs = value()?
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or("--secs wants a positive number")?
            }
            "--conns" => {
                o.conns = value()?
                    .split(',')
                    .map(|c| c.trim().parse().ok().filter(|&c| c > 0))
                    .collect::<Option<Vec<usize>>>()
                    .ok_or("--conns wants a list like 1,64")?
            }
            "--server" => {
                o.server = match value()?.as_str() {
                    "auto" => ServerChoice::Auto,
                    "nginx" => ServerChoice::Nginx,
                    "builtin" => ServerChoice::Builtin,
                    other => return Err(format!("--server auto|nginx|builtin, not {other:?}")),
                }
            }
            "--no-pin" => o.pin = false,
            "--strace" => {
                o.strace_secs = Some(
                    value()?
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s > 0.0)
                        .ok_or("--strace wants seconds")?,
                )
            }
            "--out" => o.out = PathBuf::from(value()?),
            "--idle-wait" => {
                o.idle_wait = value()?
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or("--idle-wait wants seconds")?
            }
            "--max-others" => {
                o.max_others = value()?
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or("--max-others wants a fraction of a CPU, e.g. 0.05")?
            }
            "--retries" => {
                o.retries = value()?
                    .parse()
                    .map_err(|_| "--retries wants a whole number")?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

/// A running server process, stopped and reaped on drop (with its temporary directory).
struct Server {
    name: String,
    child: Child,
    addr: SocketAddr,
    temp_dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its worker. `Child::kill` is SIGKILL,
        // which would leave the worker running as an orphan.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.temp_dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// A free loopback port: bind port 0, read it, close. Another process could take it in
/// between; the server start then fails loudly.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `cmd` prefixed with `taskset -c CPU` when pinning.
fn pinned(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn wait_until_listening(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the server exited at start: {status}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "nothing listens on {addr} after {SERVER_START_TIMEOUT:?}"
    ))
}

/// The nginx config: one worker, a fixed 13-byte answer, keep-alive without limits.
fn nginx_config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 200 \"{BODY}\"; }}
    }}
}}
"
    )
}

fn start_nginx(nginx: &Path, cpu: Option<usize>) -> Result<Server, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let dir = std::env::temp_dir().join(format!("wirepool-loadbench-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let conf = dir.join("nginx.conf");
    fs::write(&conf, nginx_config(&dir, port)).map_err(|e| format!("{}: {e}", conf.display()))?;
    let version = Command::new(nginx)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_else(|_| "nginx".into());
    let mut child = pinned(nginx, cpu)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if let Err(e) = wait_until_listening(addr, &mut child) {
        let _ = child.kill();
        let _ = child.wait();
        let log = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        let _ = fs::remove_dir_all(&dir);
        return Err(format!("nginx: {e}\n{log}"));
    }
    Ok(Server {
        name: format!("{version} (1 worker, `return 200` with a 13-byte body)"),
        child,
        addr,
        temp_dir: Some(dir),
    })
}

fn start_builtin(exe_dir: &Path, cpu: Option<usize>) -> Result<Server, String> {
    let program = exe_dir.join("bench-server");
    let mut child = pinned(&program, cpu)
        .arg("127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "bench-server did not say where it listens: {line:?}"
        ));
    };
    wait_until_listening(addr, &mut child)?;
    Ok(Server {
        name: "bench-server (built-in, std threads, 13-byte body)".into(),
        child,
        addr,
        temp_dir: None,
    })
}

/// Busy ticks of the whole machine so far (all CPUs; steal included: time the
/// hypervisor gave to someone else is a disturbance too), from `/proc/stat`.
fn machine_busy_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else {
        return 0;
    };
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    let v: Vec<u64> = cpu
        .split_whitespace()
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    if v.len() < 8 {
        return 0;
    }
    v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
}

/// `utime + stime` ticks of process `pid` and of its direct children (nginx's workers).
fn process_tree_ticks(pid: u32) -> u64 {
    let ticks = |pid: &str| -> u64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return 0;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // fields 14 and 15 of the line are 11 and 12 after the command name
        let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        get(11) + get(12)
    };
    let children =
        fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    ticks(&pid.to_string()) + children.split_whitespace().map(ticks).sum::<u64>()
}

/// Waits until one second passes with the machine at least 95 % idle, or `max` passes.
fn wait_for_idle(max: Duration) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let deadline = Instant::now() + max;
    loop {
        let before = machine_busy_ticks();
        std::thread::sleep(Duration::from_secs(1));
        let busy = machine_busy_ticks().saturating_sub(before) as f64 / (100.0 * cpus);
        if busy <= 0.05 {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "loadbench: machine still {:.0} % busy; running anyway",
                busy * 100.0
            );
            return;
        }
    }
}

/// A number field of loadgen's flat JSON line (`"key":123.4`); `None` if absent or null.
fn field(line: &str, key: &str) -> Option<f64> {
    let pat = format!("\"{key}\":");
    let at = line.find(&pat)? + pat.len();
    let rest = &line[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Output of a shell command, trimmed; empty when it cannot run.
fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One `loadgen --json` run; returns its JSON line.
fn run_loadgen(
    loadgen: &Path,
    cpu: Option<usize>,
    url: &str,
    c: usize,
    secs: f64,
    mode: &str,
) -> Result<String, String> {
    let out = pinned(loadgen, cpu)
        .args(["--url", url, "-c", &c.to_string(), "-d", &secs.to_string()])
        .args(["--mode", mode, "--json"])
        .output()
        .map_err(|e| format!("cannot run loadgen: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "loadgen failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if field(&line, "errors").unwrap_or(1.0) > 0.0 {
        eprintln!("loadbench: warning: errors in run: {line}");
    }
    Ok(line)
}

/// Runs loadgen under `strace -c -f` and returns a Markdown table of calls per request.
fn strace_run(
    loadgen: &Path,
    cpu: Option<usize>,
    url: &str,
    c: usize,
    secs: f64,
) -> Result<String, String> {
    let summary = std::env::temp_dir().join(format!("wirepool-strace-{}.txt", std::process::id()));
    let strace = find_program("strace").ok_or("strace is not installed")?;
    let mut cmd = pinned(&strace, cpu);
    cmd.args(["-c", "-f", "-o"])
        .arg(&summary)
        .arg(loadgen)
        .args(["--url", url, "-c", &c.to_string(), "-d", &secs.to_string()])
        .args(["--mode", "engine", "--json"]);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run strace: {e}"))?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let n = field(&line, "n")
        .filter(|&n| n > 0.0)
        .ok_or("no requests under strace")?;
    let text = fs::read_to_string(&summary).map_err(|e| format!("strace summary: {e}"))?;
    let _ = fs::remove_file(&summary);
    let mut rows = Vec::new();
    for l in text.lines() {
        // % time, seconds, usecs/call, calls, [errors], syscall
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.len() < 5 || cols[0].parse::<f64>().is_err() {
            continue;
        }
        let (Ok(calls), Some(name)) = (cols[3].parse::<f64>(), cols.last()) else {
            continue;
        };
        if *name == "total" {
            rows.push(("total".to_string(), calls));
        } else {
            rows.push((name.to_string(), calls));
        }
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "strace -c -f, engine mode, C={c}, {secs} s: {n} requests ({:.0} req/s under strace)\n",
        field(&line, "rps").unwrap_or(f64::NAN)
    );
    let _ = writeln!(s, "| syscall | calls | per request |\n|---|---|---|");
    for (name, calls) in rows.iter().filter(|(_, c)| c / n >= 0.001) {
        let _ = writeln!(s, "| `{name}` | {calls:.0} | {:.3} |", calls / n);
    }
    Ok(s)
}

fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("loadbench: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("loadbench: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let exe_dir = exe.parent().ok_or("no directory for this binary")?;
    let loadgen = exe_dir.join("loadgen");
    if !loadgen.is_file() {
        return Err(format!(
            "{} not found: build it first (benches/run.sh does)",
            loadgen.display()
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = opts.pin && cpus >= 2 && find_program("taskset").is_some();
    let (server_cpu, client_cpu) = if pin {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    let nginx = find_program("nginx");
    let server = match (opts.server, nginx) {
        (ServerChoice::Nginx | ServerChoice::Auto, Some(nginx)) => start_nginx(&nginx, server_cpu)?,
        (ServerChoice::Nginx, None) => return Err("nginx is not installed".into()),
        (ServerChoice::Builtin | ServerChoice::Auto, _) => start_builtin(exe_dir, server_cpu)?,
    };
    let url = format!("http://{}/", server.addr);
    eprintln!("loadbench: server {} on {url}", server.name);
    if let Some(dir) = opts.out.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let mut jsonl = String::new();
    let load_before = sh("cat /proc/loadavg");
    let started = sh("date -u '+%Y-%m-%d %H:%M UTC'");
    let modes = ["engine", "client"];
    let clk_tck: f64 = sh("getconf CLK_TCK").parse().unwrap_or(100.0);
    // results[c_index][mode_index] = JSON lines
    let mut results: Vec<[Vec<String>; 2]> = vec![Default::default(); opts.conns.len()];
    for (ci, &c) in opts.conns.iter().enumerate() {
        for rep in 1..=opts.reps {
            for (mi, mode) in modes.iter().enumerate() {
                eprintln!("loadbench: C={c} {mode} run {rep}/{}", opts.reps);
                let mut attempt = 0;
                let line = loop {
                    attempt += 1;
                    wait_for_idle(opts.idle_wait);
                    let machine0 = machine_busy_ticks();
                    let server0 = process_tree_ticks(server.child.id());
                    let line = run_loadgen(&loadgen, client_cpu, &url, c, opts.secs, mode)?;
                    let machine = machine_busy_ticks().saturating_sub(machine0);
                    let server_ticks =
                        process_tree_ticks(server.child.id()).saturating_sub(server0);
                    let ours = field(&line, "cpu_total_s").unwrap_or(0.0);
                    let others =
                        ((machine.saturating_sub(server_ticks)) as f64 / clk_tck - ours).max(0.0);
                    let secs = field(&line, "secs").unwrap_or(opts.secs);
                    let line = format!(
                        "{},\"others_cpu_s\":{others:.3},\"server_cpu_s\":{:.3},\"attempt\":{attempt}}}",
                        line.trim_end_matches('}'),
                        server_ticks as f64 / clk_tck
                    );
                    if others <= opts.max_others * secs || attempt > opts.retries {
                        break line;
                    }
                    eprintln!(
                        "loadbench: other processes used {others:.2} CPU-s during the run; again"
                    );
                };
                jsonl.push_str(&line);
                jsonl.push('\n');
                results[ci][mi].push(line);
            }
        }
    }
    let strace = match opts.strace_secs {
        Some(secs) => {
            let c = opts.conns.iter().copied().max().unwrap_or(64);
            Some(strace_run(&loadgen, client_cpu, &url, c, secs)?)
        }
        None => None,
    };
    let load_after = sh("cat /proc/loadavg");
    fs::write(&opts.out, &jsonl).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let server_name = server.name.clone();
    drop(server); // stops it before the report is printed

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
        "Pinning: {}. Load average (1/5/15 min) before: {}; after: {}.",
        if pin {
            "server on CPU 0, loadgen on CPU 1 (`taskset`)"
        } else {
            "none"
        },
        first3(&load_before),
        first3(&load_after)
    );
    let _ = writeln!(
        md,
        "Runs: {} × {} s per (C, mode), engine and client alternating (A B A B); medians.\n",
        opts.reps, opts.secs
    );
    let _ = writeln!(
        md,
        "| C | client | requests/s | p50 µs | p99 µs | CPU µs/request | user / sys s per run | requests/s range | others' CPU % |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for (ci, &c) in opts.conns.iter().enumerate() {
        for (mi, _) in modes.iter().enumerate() {
            let lines = &results[ci][mi];
            let med = |key: &str| {
                let mut v: Vec<f64> = lines.iter().filter_map(|l| field(l, key)).collect();
                median(&mut v)
            };
            let rps: Vec<f64> = lines.iter().filter_map(|l| field(l, "rps")).collect();
            let (lo, hi) = rps.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &r| {
                (lo.min(r), hi.max(r))
            });
            let client = lines
                .first()
                .and_then(|l| {
                    let at = l.find("\"client\":\"")? + 10;
                    l[at..].split('"').next().map(str::to_string)
                })
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| {c} | {client} | {:.0} | {:.1} | {:.1} | {:.2} | {:.2} / {:.2} | {lo:.0}–{hi:.0} | {:.1} |",
                med("rps"),
                med("p50_us"),
                med("p99_us"),
                med("cpu_us_per_req"),
                med("cpu_user_s"),
                med("cpu_sys_s"),
                100.0 * med("others_cpu_s") / med("secs"),
            );
        }
    }
    if let Some(s) = strace {
        let _ = writeln!(md, "\n{s}");
    }
    let _ = writeln!(md, "\nRaw runs (JSON Lines): `{}`.", opts.out.display());
    println!("{md}");
    Ok(())
}

/// The three load averages of a `/proc/loadavg` line.
fn first3(loadavg: &str) -> String {
    loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_and_medians() {
        let line = r#"{"client":"wirepool-engine","c":64,"rps":80255.9,"p50_us":720.9,"cpu_us_per_req":null}"#;
        assert_eq!(field(line, "rps"), Some(80255.9));
        assert_eq!(field(line, "c"), Some(64.0));
        assert_eq!(field(line, "cpu_us_per_req"), None);
        assert_eq!(field(line, "absent"), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn nginx_config_has_the_promised_settings() {
        let conf = nginx_config(Path::new("/tmp/x"), 8080);
        for needle in [
            "worker_processes 1;",
            "access_log off;",
            "keepalive_requests 1000000000;",
            "listen 127.0.0.1:8080",
            "return 200 \"hello, world!\";",
        ] {
            assert!(conf.contains(needle), "{needle}");
        }
        assert_eq!(BODY.len(), 13);
    }
}
