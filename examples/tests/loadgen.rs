//! `loadgen` end to end: the real binary against `testkit` servers.
//!
//! The point of these tests is that loadgen's numbers can be trusted and that it behaves
//! as a wrk user expects: its `--json` line is JSON with the documented keys, its
//! request count equals the server's own count, its dials equal the connections the
//! server accepted, failures are counted by kind and are not requests per second (and
//! make the exit status 1), `-H`/`-m`/`--body` reach the server, `-R` holds a rate,
//! `-t` splits the connections, durations take units, `--proxy` and `--unix-socket`
//! carry every request where they say, and Ctrl-C prints the partial report. Speed is
//! not checked here (that is `benches/`).

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::proxy::{ProxyOptions, TestProxy};
use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::unix::UnixServer;
use testkit::{Script, TestServer};

const BODY: &[u8] = b"hello, world!"; // 13 bytes, like the benchmark server's

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("run loadgen")
}

/// Runs loadgen with `--json`, checks its exit status is `code`, and parses its one line.
fn loadgen_json_status(args: &[&str], code: i32) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = loadgen(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(
        !stderr.contains('\r'),
        "progress line drawn on a pipe: {stderr:?}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "want one line of JSON, got {stdout:?}");
    let value: Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert!(value.is_object(), "{value}");
    value
}

fn loadgen_json(args: &[&str]) -> Value {
    loadgen_json_status(args, 0)
}

fn num(o: &Value, key: &str) -> f64 {
    o[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key}: want a number in {o}"))
}

/// The checks every successful run must pass against a healthy keep-alive server.
fn check_agrees_with_server(o: &Value, server: &TestServer, c: usize, n: u64) {
    for key in [
        "c",
        "n",
        "ok",
        "secs",
        "rps",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
        "cpu_user_s",
        "cpu_sys_s",
        "cpu_us_per_req",
        "dials",
        "reuses",
        "errors",
        "errors_by_kind",
        "peak_rss_kb",
    ] {
        assert!(o.get(key).is_some(), "missing {key:?} in {o}");
    }
    assert_eq!(num(o, "c"), c as f64);
    assert_eq!(num(o, "n"), n as f64, "{o}");
    assert_eq!(num(o, "ok"), n as f64, "{o}");
    assert_eq!(num(o, "errors"), 0.0, "{o}");
    assert_eq!(
        server.requests() as f64,
        num(o, "n"),
        "loadgen's count differs from the server's"
    );
    assert_eq!(
        server.connections() as f64,
        num(o, "dials"),
        "loadgen's dials differ from the connections the server accepted"
    );
    assert_eq!(num(o, "dials") + num(o, "reuses"), n as f64, "{o}");
    assert_eq!(num(o, "body_bytes"), (n as usize * BODY.len()) as f64);
    assert!(num(o, "secs") > 0.0 && num(o, "rps") > 0.0, "{o}");
    let p: Vec<f64> = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"]
        .iter()
        .map(|k| num(o, k))
        .collect();
    assert!(p[0] > 0.0, "{o}");
    assert!(
        p.windows(2).all(|w| w[0] <= w[1]),
        "percentiles out of order: {p:?}"
    );
    let (user, sys) = (num(o, "cpu_user_s"), num(o, "cpu_sys_s"));
    assert!(user >= 0.0 && sys >= 0.0, "{o}");
    assert!(num(o, "cpu_us_per_req") > 0.0, "{o}");
    assert_eq!(o["cpu_source"], "getrusage");
    assert!(num(o, "peak_rss_kb") > 0.0);
}

#[test]
fn engine_mode_counts_agree_with_the_server() {
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    let o = loadgen_json(&["--url", &url, "-c", "4", "-n", "300"]);
    assert_eq!(o["client"], "wirepool-engine");
    check_agrees_with_server(&o, &server, 4, 300);
    // The engine keeps exactly C requests in flight from the start: C dials.
    assert_eq!(num(&o, "dials"), 4.0, "{o}");
    assert_eq!(num(&o, "threads"), 1.0, "{o}");
}

#[test]
fn client_mode_counts_agree_with_the_server() {
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    let o = loadgen_json(&["--url", &url, "-c", "4", "-n", "300", "--mode", "client"]);
    assert_eq!(o["client"], "wirepool-client");
    check_agrees_with_server(&o, &server, 4, 300);
    // At most one connection per thread; fewer if a thread started after another's
    // connection was already back in the pool.
    let dials = num(&o, "dials");
    assert!((1.0..=4.0).contains(&dials), "{o}");
}

/// `--engine-threads 2` (by host, and by caller so that the one URL uses both engines):
/// the counts still agree with the server's; engine mode refuses it as bad usage.
#[test]
fn client_mode_with_two_engines_counts_agree_with_the_server() {
    for split in ["host", "caller"] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/");
        let o = loadgen_json(&[
            "--url",
            &url,
            "-c",
            "4",
            "-n",
            "300",
            "--mode",
            "client",
            "--engine-threads",
            "2",
            "--engine-split",
            split,
        ]);
        check_agrees_with_server(&o, &server, 4, 300);
        let dials = num(&o, "dials");
        assert!((1.0..=4.0).contains(&dials), "{split}: {o}");
        if split == "caller" {
            // Four threads over two engines, each engine its own pool: two dials at least.
            assert!(dials >= 2.0, "{o}");
        }
    }
    for args in [
        &[
            "-c",
            "1",
            "-n",
            "1",
            "--engine-threads",
            "2",
            "http://127.0.0.1:1/",
        ][..],
        &[
            "-c",
            "1",
            "-n",
            "1",
            "--mode",
            "client",
            "--engine-threads",
            "0",
            "http://127.0.0.1:1/",
        ][..],
    ] {
        let out = loadgen(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--engine-threads"), "{stderr}");
    }
}

/// The breakdown: one timing summary per ok request in both modes, the reused share
/// agreeing with the pool's counters, connects only for the dials; in the table too.
#[test]
fn breakdown_counts_every_ok_request_in_both_modes() {
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    for mode in ["engine", "client"] {
        let o = loadgen_json(&["--url", &url, "-c", "3", "-n", "120", "--mode", mode]);
        let b = &o["breakdown"];
        let ok = num(&o, "ok");
        assert_eq!(ok, 120.0, "{o}");
        assert_eq!(num(b, "reused") + num(b, "fresh"), ok, "{mode}: {b}");
        assert_eq!(num(b, "reused"), num(&o, "reuses"), "{mode}: {o}");
        assert_eq!(num(&b["wait_us"], "n"), ok, "{mode}: {b}");
        assert_eq!(num(&b["ttfb_us"], "n"), ok, "{mode}: {b}");
        assert_eq!(num(&b["total_us"], "n"), ok, "{mode}: {b}");
        assert_eq!(num(&b["connect_us"], "n"), num(&o, "dials"), "{mode}: {b}");
        assert!(
            b["dns_us"].is_null() && b["tls_us"].is_null(),
            "{mode}: {b}"
        );
        let (ttfb, total) = (num(&b["ttfb_us"], "p50"), num(&b["total_us"], "p50"));
        assert!(ttfb > 0.0 && ttfb <= total, "{mode}: {b}");
    }
    let out = loadgen(&["--url", &url, "-c", "2", "-n", "20"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "breakdown",
        "    wait ",
        "    ttfb ",
        "reused     90.00 % of requests (18 of 20)",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// `--noop-tracer` and `--log-layer` change nothing of the counts; the log layer writes
/// one line per request on stderr; it needs client mode.
#[test]
fn noop_tracer_and_log_layer() {
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    let o = loadgen_json(&["--url", &url, "-c", "2", "-n", "40", "--noop-tracer"]);
    check_agrees_with_server(&o, &server, 2, 40);
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    let out = loadgen(&[
        "--url",
        &url,
        "-c",
        "2",
        "-n",
        "30",
        "--mode",
        "client",
        "--log-layer",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("INFO GET ")).collect();
    assert_eq!(lines.len(), 30, "{log}");
    assert!(
        lines[0].contains(&format!("GET {url} 200 in ")),
        "{}",
        lines[0]
    );
    let refused = loadgen(&["--url", &url, "-c", "1", "-n", "1", "--log-layer"]);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn a_single_connection_is_dialled_once_and_the_url_can_be_positional() {
    for mode in ["engine", "client"] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/path?q=1");
        let o = loadgen_json(&["-c", "1", "-n", "50", "--mode", mode, &url]);
        check_agrees_with_server(&o, &server, 1, 50);
        assert_eq!(num(&o, "dials"), 1.0, "{mode}: {o}");
        assert!(server.recorded().iter().all(|r| r.target == "/path?q=1"));
    }
}

#[test]
fn threads_split_the_connections_in_both_modes() {
    for mode in ["engine", "client"] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/");
        let o = loadgen_json(&["-t", "2", "-c", "4", "-n", "200", "--mode", mode, &url]);
        assert_eq!(num(&o, "threads"), 2.0, "{mode}: {o}");
        assert_eq!(num(&o, "ok"), 200.0, "{mode}: {o}");
        assert_eq!(server.requests(), 200, "{mode}");
        // Engine: 2 engines with 2 slots each. Client: 2 threads, at most 2 connections.
        let dials = num(&o, "dials");
        let most = if mode == "engine" { 4.0 } else { 2.0 };
        assert!((1.0..=most).contains(&dials), "{mode}: {o}");
        assert_eq!(server.connections() as f64, dials, "{mode}");
    }
    let out = loadgen(&["-t", "3", "-c", "2", "-n", "1", "http://127.0.0.1:1/"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn duration_mode_takes_units_and_stops_in_about_the_given_time() {
    for (mode, duration) in [("engine", "1s"), ("client", "1000ms"), ("engine", "1")] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/");
        let started = Instant::now();
        let o = loadgen_json(&["--url", &url, "-c", "2", "-d", duration, "--mode", mode]);
        let wall = started.elapsed();
        assert!(
            wall >= Duration::from_millis(950) && wall < Duration::from_secs(5),
            "{mode}: -d {duration} took {wall:?}"
        );
        let secs = num(&o, "secs");
        assert!((0.95..3.0).contains(&secs), "{mode}: secs {secs}");
        let n = num(&o, "n");
        assert!(n >= 1.0, "{mode}: {o}");
        assert_eq!(server.requests() as f64, n, "{mode}: {o}");
        assert_eq!(num(&o, "errors"), 0.0, "{mode}: {o}");
    }
}

#[test]
fn refused_connections_are_errors_by_kind_not_requests_per_second() {
    let addr = testkit::free_port_refused();
    let url = format!("http://{addr}/");
    for mode in ["engine", "client"] {
        let o = loadgen_json_status(&["--url", &url, "-c", "2", "-n", "100", "--mode", mode], 1);
        assert_eq!(num(&o, "n"), 100.0, "{mode}: {o}");
        assert_eq!(num(&o, "ok"), 0.0, "{mode}: {o}");
        assert_eq!(num(&o, "errors"), 100.0, "{mode}: {o}");
        assert_eq!(num(&o, "rps"), 0.0, "{mode}: {o}");
        assert!(o["p50_us"].is_null(), "{mode}: {o}");
        let kinds = o["errors_by_kind"].as_object().expect("an object");
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        let (kind, count) = kinds.iter().next().expect("one kind");
        assert!(kind.contains("connect"), "{kinds:?}");
        assert_eq!(count, 100);
        // Asked to, the same run exits 0.
        let o = loadgen_json_status(
            &[
                "--url",
                &url,
                "-c",
                "2",
                "-n",
                "10",
                "--mode",
                mode,
                "--allow-errors",
            ],
            0,
        );
        assert_eq!(num(&o, "errors"), 10.0);
    }
    // The table says so too.
    let out = loadgen(&["-c", "1", "-n", "3", &url]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 ok in"), "{text}");
    assert!(
        text.contains("errors       3 (connect failed: 3)"),
        "{text}"
    );
    assert!(text.contains("Requests/sec:       0.00"), "{text}");
}

#[test]
fn method_headers_and_body_reach_the_server() {
    for mode in ["engine", "client"] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/submit");
        let o = loadgen_json(&[
            "-c",
            "2",
            "-n",
            "6",
            "--mode",
            mode,
            "-m",
            "PUT",
            "-H",
            "X-Load: yes",
            "-H",
            "Authorization: Bearer t",
            "--body",
            "payload",
            &url,
        ]);
        assert_eq!(num(&o, "ok"), 6.0, "{o}");
        let recorded = server.recorded();
        assert_eq!(recorded.len(), 6);
        for r in recorded {
            assert_eq!(r.method, "PUT");
            assert_eq!(r.header("x-load"), Some("yes"));
            assert_eq!(r.header("authorization"), Some("Bearer t"));
            assert_eq!(r.body, b"payload");
        }
    }
}

#[test]
fn rate_mode_holds_the_rate_and_measures_from_the_due_time() {
    for mode in ["engine", "client"] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/");
        let o = loadgen_json(&["-c", "2", "-d", "1s", "-R", "100", "--mode", mode, &url]);
        let n = num(&o, "n");
        // 100 requests due in the second: never more (the rate holds); fewer when a
        // loaded machine delays the client (this is not a speed test).
        assert!((50.0..=101.0).contains(&n), "{mode}: {o}");
        assert_eq!(num(&o, "rate"), 100.0);
        assert_eq!(server.requests() as f64, n);
    }
    // A server that answers every request after 50 ms with one connection cannot keep
    // up with 100/s: requests queue, and the latency counted from the due time grows
    // well past the 50 ms service time (no coordinated omission).
    let slow = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            std::thread::sleep(Duration::from_millis(50));
            conn.respond(200, &[], BODY);
        }
    });
    let o = loadgen_json(&["-c", "1", "-n", "20", "-R", "100", &slow.url("/")]);
    assert_eq!(num(&o, "ok"), 20.0);
    // The 20th request is due at 190 ms but cannot start before 19 × 50 ms = 950 ms.
    assert!(num(&o, "max_us") > 500_000.0, "{o}");
    assert!(num(&o, "p50_us") > 100_000.0, "{o}");
}

#[test]
fn human_table_lists_the_numbers_and_the_latency_distribution() {
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    let out = loadgen(&["--url", &url, "-c", "2", "-n", "20", "--latency"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "wirepool-engine",
        "requests/s",
        "p50",
        "p99.9",
        "errors       0",
        "2 dials, 18 reuses",
        "per request",
        "Latency Distribution",
        "     50%",
        "     75%",
        "     90%",
        "     99%",
        "   99.9%",
        "  99.99%",
        "     max",
        "Requests/sec:",
        "Transfer/sec:",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts loadgen, lets it run for `after`, sends it SIGINT and returns its output.
fn interrupted_run(args: &[&str], after: Duration) -> (Output, Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loadgen starts");
    thread::sleep(after);
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "loadgen ignored Ctrl-C");
        thread::sleep(Duration::from_millis(10));
    }
    let took = sent.elapsed();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let _ = child.stdout.take().map(|mut s| s.read_to_end(&mut stdout));
    let _ = child.stderr.take().map(|mut s| s.read_to_end(&mut stderr));
    let status = child.wait().expect("status");
    (
        Output {
            status,
            stdout,
            stderr,
        },
        took,
    )
}

#[test]
fn ctrl_c_prints_the_partial_report() {
    for mode in ["engine", "client"] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/");
        let (out, took) = interrupted_run(
            &["-c", "2", "-d", "60s", "--mode", mode, "--json", &url],
            Duration::from_millis(800),
        );
        assert!(
            took < Duration::from_secs(3),
            "{mode}: stopping took {took:?}"
        );
        assert_eq!(out.status.code(), Some(0), "{mode}");
        let line = String::from_utf8_lossy(&out.stdout);
        let o: Value = serde_json::from_str(line.trim()).expect("a JSON report");
        assert_eq!(o["interrupted"], true, "{o}");
        assert!(num(&o, "ok") > 0.0, "{o}");
        assert_eq!(
            num(&o, "errors"),
            0.0,
            "{mode}: in-flight requests are not failures: {o}"
        );
        assert!(num(&o, "secs") < 5.0, "{o}");
    }
    // A server that never answers: Ctrl-C still ends the run at once, with the table.
    let server = TestServer::scripted(Script::NeverAnswer);
    for mode in ["engine", "client"] {
        let (out, took) = interrupted_run(
            &["-c", "2", "-d", "60s", "--mode", mode, &server.url("/")],
            Duration::from_millis(500),
        );
        assert!(
            took < Duration::from_secs(3),
            "{mode}: stopping took {took:?}"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("interrupted"), "{mode}: {text}");
        assert!(text.contains("0 ok in"), "{mode}: {text}");
        assert!(text.contains("errors       0"), "{mode}: {text}");
    }
}

#[test]
fn proxy_carries_every_request_in_both_modes() {
    let origin = TestServer::keep_alive(BODY);
    let proxy = TestProxy::start(ProxyOptions::default());
    let url = origin.url("/p");
    for mode in ["engine", "client"] {
        let o = loadgen_json(&[
            "-c",
            "2",
            "-n",
            "20",
            "--mode",
            mode,
            "--proxy",
            &proxy.url(),
            &url,
        ]);
        assert_eq!(num(&o, "ok"), 20.0, "{mode}: {o}");
        assert_eq!(num(&o, "dials") + num(&o, "reuses"), 20.0, "{mode}: {o}");
    }
    let seen = proxy.recorded();
    assert_eq!(seen.len(), 40, "every request went through the proxy");
    assert!(seen.iter().all(|r| r.target == url), "absolute form");
    assert!(proxy.connections() <= 4, "pooled: {}", proxy.connections());
    assert_eq!(origin.requests(), 40);
    // The table says where the connections went.
    let out = loadgen(&["-c", "1", "-n", "1", "--proxy", &proxy.url(), &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{url} via proxy {}, 1 connections", proxy.url())),
        "{text}"
    );
}

#[test]
fn https_through_the_proxy_opens_one_tunnel_per_connection() {
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let origin = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), BODY);
    let proxy = TestProxy::start(ProxyOptions::default());
    let url = origin.url("/");
    let o = loadgen_json(&[
        "-c",
        "2",
        "-n",
        "30",
        "--cacert",
        ca.path_str(),
        "--proxy",
        &proxy.url(),
        &url,
    ]);
    assert_eq!(num(&o, "ok"), 30.0, "{o}");
    assert_eq!(proxy.tunnels() as f64, num(&o, "dials"), "{o}");
    assert_eq!(origin.requests(), 30);
    assert_eq!(origin.connections(), proxy.tunnels());
}

#[test]
fn unix_socket_carries_every_request() {
    let server = UnixServer::keep_alive(BODY);
    let path = server.path().to_str().expect("UTF-8 path");
    for mode in ["engine", "client"] {
        let o = loadgen_json(&[
            "-c",
            "2",
            "-n",
            "20",
            "--mode",
            mode,
            "--unix-socket",
            path,
            "http://localhost/v",
        ]);
        assert_eq!(num(&o, "ok"), 20.0, "{mode}: {o}");
    }
    assert_eq!(server.requests(), 40);
    assert!(
        server.connections() <= 4,
        "pooled: {}",
        server.connections()
    );
    let seen = server.recorded();
    assert!(seen.iter().all(|r| r.target == "/v"));
    assert!(seen.iter().all(|r| r.header("host") == Some("localhost")));
}

#[test]
fn bad_usage_exits_2_with_usage_on_stderr() {
    for (args, needle) in [
        (&[][..], "a URL is required"),
        (
            &["-c", "1", "-n", "1", "ftp://127.0.0.1:1/"][..],
            "unsupported scheme",
        ),
        (&["-c", "lots", "http://127.0.0.1:1/"][..], "-c"),
        (&["--mode", "x", "http://127.0.0.1:1/"][..], "--mode"),
        (&["-d", "10x", "http://127.0.0.1:1/"][..], "ms, s, m, h"),
        (
            &["-n", "1", "-d", "1s", "http://127.0.0.1:1/"][..],
            "cannot be used with",
        ),
        (&["--bogus", "http://127.0.0.1:1/"][..], "--bogus"),
        (
            &["--proxy", "socks5://127.0.0.1:1080", "http://127.0.0.1:1/"][..],
            "--proxy",
        ),
        (
            &["--proxy", "127.0.0.1:1", "--unix-socket", "/s", "http://h/"][..],
            "not both",
        ),
        (
            &["-H", "X: a\r\nY: b", "http://127.0.0.1:1/"][..],
            "invalid header value",
        ),
    ] {
        let out = loadgen(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {stderr:?} lacks {needle:?}"
        );
        assert!(stderr.contains("Usage: loadgen"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let help = loadgen(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--rate",
        "--latency",
        "--header",
        "--method",
        "--threads",
        "--duration",
    ] {
        assert!(
            text.contains(option),
            "{option} missing from --help:\n{text}"
        );
    }
}
