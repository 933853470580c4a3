//! The peer load generators speak `loadgen`'s JSON: a tiny run of each against
//! `bench-server` on loopback (20 requests; not a benchmark).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// `bench-server` on a free loopback port, killed on drop.
struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench-server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("bench-server starts");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    BufReader::new(out).read_line(&mut line).expect("a line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address")
        .to_string();
    Server(child, addr)
}

fn run(program: &str, args: &[&str]) -> Value {
    let out = Command::new(program).args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).expect("one JSON line")
}

fn num(line: &Value, key: &str) -> Option<f64> {
    line.get(key).and_then(Value::as_f64)
}

#[test]
fn hyper_and_ureq_peers_print_loadgens_json() {
    let s = server();
    for path in ["", "64k"] {
        let url = format!("http://{}/{path}", s.1);
        let body = if path.is_empty() { 13.0 } else { 65536.0 };
        for (program, extra, client) in [
            (env!("CARGO_BIN_EXE_peer-hyper"), "cur", "hyper-cur"),
            (env!("CARGO_BIN_EXE_peer-hyper"), "mt", "hyper-mt"),
            (env!("CARGO_BIN_EXE_peer-ureq"), "", "ureq"),
        ] {
            let mut args = vec!["--url", &url, "-c", "2", "-n", "20", "--json"];
            if !extra.is_empty() {
                args.extend(["--mode", extra]);
            }
            let line = run(program, &args);
            assert_eq!(line["client"], client, "{line}");
            assert_eq!(num(&line, "n"), Some(20.0), "{line}");
            assert_eq!(num(&line, "ok"), Some(20.0), "{line}");
            assert_eq!(num(&line, "errors"), Some(0.0), "{line}");
            assert_eq!(num(&line, "body_bytes"), Some(20.0 * body), "{line}");
            // Two workers may share one connection when the first answer comes back
            // before the second request starts (a busy machine).
            assert!(
                num(&line, "dials").is_some_and(|d| (1.0..=20.0).contains(&d)),
                "{line}"
            );
            assert!(num(&line, "peak_rss_kb").is_some_and(|kb| kb > 0.0));
            assert!(num(&line, "p50_us").is_some_and(|us| us > 0.0));
            assert_eq!(line["cpu_source"], "getrusage");
        }
    }
    // A dial per request when asked.
    let url = format!("http://{}/", s.1);
    let line = run(
        env!("CARGO_BIN_EXE_peer-hyper"),
        &["--url", &url, "-c", "1", "-n", "5", "--no-reuse", "--json"],
    );
    assert_eq!(num(&line, "dials"), Some(5.0), "{line}");
}

#[test]
fn peers_reject_what_they_cannot_do() {
    let ureq = Command::new(env!("CARGO_BIN_EXE_peer-ureq"))
        .args(["--url", "https://127.0.0.1:1/", "-c", "1", "-n", "1"])
        .output()
        .expect("runs");
    assert_eq!(ureq.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&ureq.stderr).contains("https://"));
    let wrk = Command::new(env!("CARGO_BIN_EXE_peer-wrk"))
        .args(["--url", "http://127.0.0.1:1/", "-c", "1", "-n", "1"])
        .output()
        .expect("runs");
    assert_eq!(wrk.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrk.stderr).contains("-d TIME"));
    // An option of loadgen's that a peer cannot do is refused, not ignored.
    let hyper = Command::new(env!("CARGO_BIN_EXE_peer-hyper"))
        .args(["-R", "100", "-c", "1", "-n", "1", "http://127.0.0.1:1/"])
        .output()
        .expect("runs");
    assert_eq!(hyper.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&hyper.stderr).contains("-R/--rate"));
    // loadgen's --proxy and --unix-socket too: no peer sends through them.
    for (program, option, value) in [
        (
            env!("CARGO_BIN_EXE_peer-hyper"),
            "--proxy",
            "http://127.0.0.1:1",
        ),
        (
            env!("CARGO_BIN_EXE_peer-ureq"),
            "--proxy",
            "http://127.0.0.1:1",
        ),
        (
            env!("CARGO_BIN_EXE_peer-wrk"),
            "--unix-socket",
            "/tmp/none.sock",
        ),
    ] {
        let out = Command::new(program)
            .args([option, value, "-c", "1", "-d", "1s", "http://127.0.0.1:1/"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{program} {option}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(option),
            "{program} {option}"
        );
    }
}
