//! `fetch` over HTTPS end to end: the built executable against `testkit`'s TLS server,
//! trusting the test CA through `--cacert PATH` (a temporary file, as a user would pass).

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use testkit::tls::{ServerSetup, TestPki, TlsTestServer};

/// A run of `fetch` that takes longer than this is killed and fails the test.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// What one run of `fetch` produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }

    /// The `--stats` line (the only stderr line that starts with `{`).
    fn stats_line(&self) -> &str {
        let stats: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with('{')).collect();
        assert_eq!(stats.len(), 1, "one stats line expected: {}", self.stderr);
        stats[0]
    }

    /// The first `"key":N` of the stats line: the totals come before the hosts.
    fn stat(&self, key: &str) -> u64 {
        let line = self.stats_line();
        let pattern = format!("\"{key}\":");
        let start = line
            .find(&pattern)
            .unwrap_or_else(|| panic!("no {key} in {line}"))
            + pattern.len();
        let digits: String = line[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number in {line}"))
    }
}

/// Runs `fetch` with `args`, killing it after [`RUN_LIMIT`].
fn fetch(args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fetch"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fetch starts");
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut buf = String::new();
        out.read_to_string(&mut buf).map(|_| buf)
    });
    let err_reader = thread::spawn(move || {
        let mut buf = String::new();
        err.read_to_string(&mut buf).map(|_| buf)
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for fetch") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fetch {args:?} ran for more than {RUN_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status
            .code()
            .expect("fetch exited (not killed by a signal)"),
        stdout: out_reader
            .join()
            .expect("stdout reader")
            .expect("stdout is UTF-8"),
        stderr: err_reader
            .join()
            .expect("stderr reader")
            .expect("stderr is UTF-8"),
    }
}

#[test]
fn cacert_makes_https_work() {
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"hello over tls\n");
    let url = server.url("/");
    let run = fetch(&["--cacert", ca.path_str(), &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "hello over tls\n");
    assert!(run.error_lines().is_empty(), "{run:?}");
    assert_eq!(server.requests(), 1);
    assert_eq!(server.full_handshakes(), 1);
}

#[test]
fn stats_show_one_dial_one_reuse_and_one_handshake_for_the_same_url_twice() {
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"x");
    let url = server.url("/");
    let run = fetch(&["--cacert", ca.path_str(), "--stats", &url, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "xx");
    assert_eq!(run.stat("requests"), 2, "{}", run.stats_line());
    assert_eq!(run.stat("dials"), 1, "{}", run.stats_line());
    assert_eq!(run.stat("reused"), 1, "{}", run.stats_line());
    assert_eq!(run.stat("tls_full_handshakes"), 1, "{}", run.stats_line());
    assert_eq!(
        run.stat("tls_resumed_handshakes"),
        0,
        "{}",
        run.stats_line()
    );
    assert!(
        run.stats_line().contains("\"scheme\":\"https\""),
        "{}",
        run.stats_line()
    );
    assert_eq!(server.connections(), 1);
}

/// With an idle timeout shorter than the pause between the URLs, the second request
/// re-dials and resumes the first one's session.
#[test]
fn a_redial_after_idle_expiry_resumes() {
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"x");
    let url = server.url("/");
    let run = fetch(&[
        "--cacert",
        ca.path_str(),
        "--idle-timeout",
        "0.05",
        "--sleep",
        "0.3",
        "--stats",
        &url,
        &url,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stat("dials"), 2, "{}", run.stats_line());
    assert_eq!(run.stat("reused"), 0, "{}", run.stats_line());
    assert_eq!(run.stat("tls_full_handshakes"), 1, "{}", run.stats_line());
    assert_eq!(
        run.stat("tls_resumed_handshakes"),
        1,
        "{}",
        run.stats_line()
    );
    assert_eq!(
        (server.full_handshakes(), server.resumed_handshakes()),
        (1, 1)
    );
}

/// `--cacert` with some other CA: the server's certificate is from an unknown issuer;
/// the error says so, exit status 1, and no request reached the server.
#[test]
fn a_cacert_of_another_ca_is_an_unknown_issuer() {
    let pki = TestPki::new();
    let other = TestPki::with_name("some other ca").ca_pem_file();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"never");
    let url = server.url("/");
    let run = fetch(&["--cacert", other.path_str(), &url]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.error_lines();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(
        lines[0].starts_with(&format!("error: {url}: tls error: ")),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("unknown authority"), "{}", lines[0]);
    assert!(run.stdout.is_empty());
    assert!(server.wait_for_handshakes_ended(1, Duration::from_secs(5)));
    assert_eq!(server.requests(), 0);
}

/// Without `--cacert` the system store is used, which does not hold the test CA: the
/// request fails with a TLS error (unknown issuer, or no trust roots at all on a machine
/// without a CA bundle), never silently in plain text.
#[test]
fn without_cacert_the_test_ca_is_not_trusted() {
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"never");
    let url = server.url("/");
    let run = fetch(&[&url]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.error_lines();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(
        lines[0].starts_with(&format!("error: {url}: tls error")),
        "{}",
        lines[0]
    );
    assert_eq!(server.requests(), 0);
}
