//! The peer load generators speak `loadgen`'s JSON: a tiny run of each against
//! `bench-server` on loopback (20 requests; not a benchmark).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use benches::report::{json_number, json_str};

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

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
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
            assert_eq!(json_str(&line, "client"), Some(client), "{line}");
            assert_eq!(json_number(&line, "n"), Some(20.0), "{line}");
            assert_eq!(json_number(&line, "errors"), Some(0.0), "{line}");
            assert_eq!(
                json_number(&line, "body_bytes"),
                Some(20.0 * body),
                "{line}"
            );
            assert!(json_number(&line, "dials").is_some_and(|d| (2.0..=20.0).contains(&d)));
            assert!(json_number(&line, "peak_rss_kb").is_some_and(|kb| kb > 0.0));
            assert!(json_number(&line, "p50_us").is_some_and(|us| us > 0.0));
        }
    }
    // A dial per request when asked.
    let url = format!("http://{}/", s.1);
    let line = run(
        env!("CARGO_BIN_EXE_peer-hyper"),
        &["--url", &url, "-c", "1", "-n", "5", "--no-reuse", "--json"],
    );
    assert_eq!(json_number(&line, "dials"), Some(5.0), "{line}");
}

#[test]
fn peers_reject_what_they_cannot_do() {
    let ureq = Command::new(env!("CARGO_BIN_EXE_peer-ureq"))
        .args(["--url", "https://127.0.0.1:1/", "-c", "1", "-n", "1"])
        .output()
        .expect("runs");
    assert_eq!(ureq.status.code(), Some(2));
    let wrk = Command::new(env!("CARGO_BIN_EXE_peer-wrk"))
        .args(["--url", "http://127.0.0.1:1/", "-c", "1", "-n", "1"])
        .output()
        .expect("runs");
    assert_eq!(wrk.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrk.stderr).contains("-d SECS"));
}
