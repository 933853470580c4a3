//! The `fetch` binary end to end: the built executable run against `testkit` servers on
//! 127.0.0.1, checking its stdout, stderr, exit status and what the server received.

mod common;

use std::time::Duration;

use common::{fetch, Run};

use testkit::{Script, ServerConn, TestServer};

/// A keep-alive server that answers every request with `200`, an `X-Test` header and
/// `body`.
fn server_with_header(body: &'static [u8]) -> TestServer {
    TestServer::start(move |conn: &mut ServerConn| {
        while conn.read_request().is_some() {
            conn.respond(200, &[("X-Test", "yes")], body);
        }
    })
}

#[test]
fn two_urls_to_a_keep_alive_server_dial_once_and_reuse_once() {
    let server = TestServer::keep_alive(b"pong");
    let url = server.url("/");
    let run = fetch(&["--stats", &url, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"pongpong");
    assert_eq!(run.stat("requests"), 2, "{}", run.stats_line());
    assert_eq!(run.stat("dials"), 1, "{}", run.stats_line());
    assert_eq!(run.stat("reused"), 1, "{}", run.stats_line());
    assert!(run.stats_line().ends_with('}'));
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 2);
}

#[test]
fn trace_lines_show_the_dial_then_the_reuse() {
    let server = TestServer::keep_alive(b"pong");
    let url = server.url("/t");
    let run = fetch(&["--trace", &url, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.trace_lines();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].contains(&format!("url={url} method=GET status=200 reused=false ")),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(" connect_us="), "{}", lines[0]);
    assert!(
        lines[1].contains("status=200 reused=true idle_us="),
        "{}",
        lines[1]
    );
    // The breakdown: both requests on connection 1; only the first one connected.
    assert!(!lines[1].contains(" connect_us="), "{}", lines[1]);
    for line in lines {
        assert!(line.contains(" conn_id=1 "), "{line}");
        assert!(line.contains(" wait_us="), "{line}");
        assert!(line.contains(" ttfb_us="), "{line}");
        assert!(line.contains(" total_us="), "{line}");
        assert!(line.contains(" head_us="), "{line}");
        assert!(line.ends_with(" bytes=4"), "{line}");
        for pair in line.split(' ') {
            let (key, value) = pair.split_once('=').expect("key=value");
            assert!(!key.is_empty() && !value.is_empty(), "{pair} in {line}");
        }
    }
}

/// `--metrics`: the Prometheus text at exit on stderr, with the pool's counters.
#[test]
fn metrics_print_the_prometheus_text_at_exit() {
    let server = TestServer::keep_alive(b"pong");
    let url = server.url("/m");
    let run = fetch(&["--metrics", &url, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"pongpong");
    let pool = format!("pool=\"http://127.0.0.1:{}\"", server.addr().port());
    for needle in [
        "# TYPE wirepool_requests_total counter\nwirepool_requests_total 2\n".to_owned(),
        format!("wirepool_dials_total{{{pool}}} 1\n"),
        format!("wirepool_reuses_total{{{pool}}} 1\n"),
        format!("wirepool_ttfb_seconds_count{{{pool}}} 2\n"),
        "# TYPE wirepool_request_duration_seconds histogram\n".to_owned(),
    ] {
        assert!(
            run.stderr.contains(&needle),
            "{needle:?} missing from:\n{}",
            run.stderr
        );
    }
}

#[test]
fn include_prints_the_status_line_and_headers_before_the_body() {
    let server = server_with_header(b"body");
    let run = fetch(&["-i", &server.url("/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout_text(),
        "HTTP/1.1 200 OK\nx-test: yes\ncontent-length: 4\n\nbody"
    );
}

#[test]
fn post_data_arrives_at_the_server() {
    let server = TestServer::keep_alive(b"ok");
    let url = server.url("/submit");
    let explicit = fetch(&["-X", "POST", "-d", "name=wirepool&x=1", &url]);
    assert_eq!(explicit.code, 0, "{explicit:?}");
    let implied = fetch(&["--data", "second", &url]);
    assert_eq!(implied.code, 0, "{implied:?}");
    let put = fetch(&["-XPUT", "-d", "third", &url]);
    assert_eq!(put.code, 0, "{put:?}");

    let recorded = server.recorded();
    assert_eq!(recorded.len(), 3);
    let seen: Vec<(&str, &str, &[u8])> = recorded
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str(), r.body.as_slice()))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/submit", &b"name=wirepool&x=1"[..]),
            ("POST", "/submit", b"second"),
            ("PUT", "/submit", b"third"),
        ]
    );
    assert_eq!(recorded[0].header("content-length"), Some("17"));
}

#[test]
fn headers_arrive_at_the_server() {
    let server = TestServer::keep_alive(b"ok");
    let run = fetch(&[
        "-H",
        "X-One: 1",
        "--header",
        "X-Two:   two words  ",
        "-H",
        "X-One: again",
        &server.url("/"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let recorded = server.recorded();
    assert_eq!(recorded.len(), 1);
    let ones: Vec<&str> = recorded[0]
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-one"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ones, ["1", "again"]);
    assert_eq!(recorded[0].header("x-two"), Some("two words"));
}

#[test]
fn a_failing_url_is_reported_and_the_others_are_still_fetched() {
    let server = TestServer::keep_alive(b"good;");
    let good = server.url("/");
    let refused = format!("http://{}/", testkit::free_port_refused());
    let run = fetch(&["--trace", &good, &refused, &good]);
    // As curl: the last URL decides the exit status; the failure is still reported.
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"good;good;");
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with(&format!("fetch: (7) {refused}: connect failed: ")),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("refused"), "{}", errors[0]);
    let traces = run.trace_lines();
    assert_eq!(traces.len(), 3, "{}", run.stderr);
    assert!(traces[1].contains("status=failed"), "{}", traces[1]);
    assert!(traces[1].ends_with("error=connect_failed"), "{}", traces[1]);
    assert!(traces[2].contains("reused=true"), "{}", traces[2]);
    // The failure last: exit 7.
    let run = fetch(&[&good, &refused]);
    assert_eq!(run.code, 7, "{run:?}");
}

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let server = TestServer::keep_alive(b"ok");
    let url = server.url("/");
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["--bogus", &url],
        vec!["-X"],
        vec!["--timeout", "soon", &url],
        vec!["--timeout", "0", &url],
        vec!["-H", "X-Evil: a\r\nInjected: yes", &url],
        vec!["-H", "X-Evil: a\nInjected: yes", &url],
        vec!["-H", "no colon", &url],
        vec!["--include=yes", &url],
        vec!["--trace=out.txt", &url],
        vec!["-k", "--cacert", "ca.pem", &url],
    ];
    for args in cases {
        let run = fetch(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}");
        assert!(
            run.stderr.starts_with("fetch: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("Usage: fetch"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // A malformed URL is curl's 3, another scheme its 1; nothing is sent either way,
    // not even for the good URL before it.
    for (bad, code) in [("http://", 3), ("http://a b/", 3), ("ftp://h/x", 1)] {
        let run = fetch(&[url.as_str(), bad]);
        assert_eq!(run.code, code, "{bad}: {run:?}");
        assert!(
            run.stderr.starts_with(&format!("fetch: ({code}) ")),
            "{}",
            run.stderr
        );
    }
    assert_eq!(server.connections(), 0, "a usage error sent something");
}

#[test]
fn help_goes_to_stdout_and_exits_0() {
    let run = fetch(&["--help"]);
    assert_eq!(run.code, 0);
    let text = run.stdout_text();
    assert!(text.contains("Usage: fetch [OPTIONS] <URL>..."), "{text}");
    for option in [
        "--trace",
        "--stats",
        "--sleep",
        "--cacert",
        "--output",
        "--remote-name",
        "--silent",
        "--show-error",
        "--verbose",
        "--fail",
        "--head",
        "--insecure",
        "--max-time",
        "--write-out",
        "--trace-file",
        "--include",
        "--data",
        "--header",
        "--request",
    ] {
        assert!(text.contains(option), "help lacks {option}");
    }
    assert!(run.stderr.is_empty());
}

#[test]
fn an_unreadable_cacert_is_curls_77_and_nothing_is_sent() {
    let server = TestServer::keep_alive(b"ok");
    let run = fetch(&["--cacert", "/nonexistent/ca.pem", &server.url("/")]);
    assert_eq!(run.code, 77, "{run:?}");
    assert!(
        run.stderr
            .starts_with("fetch: (77) --cacert /nonexistent/ca.pem: "),
        "{}",
        run.stderr
    );
    assert_eq!(server.connections(), 0);
}

#[test]
fn https_to_a_closed_port_is_a_connect_error() {
    let run = fetch(&["https://127.0.0.1:1/"]);
    assert_eq!(run.code, 7, "{run:?}");
    let lines = run.error_lines();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(
        lines[0].starts_with("fetch: (7) https://127.0.0.1:1/: connect failed"),
        "{}",
        lines[0]
    );
}

#[test]
fn timeout_fires_against_a_server_that_never_answers() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let run = fetch(&["--timeout", "0.2", "--trace", &server.url("/")]);
    assert_eq!(run.code, 28, "{run:?}");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("timed out"), "{}", errors[0]);
    assert!(
        run.trace_lines()[0].ends_with("error=request_timed_out"),
        "{}",
        run.stderr
    );
}

#[test]
fn sleeping_past_the_idle_timeout_dials_again() {
    let server = TestServer::keep_alive(b"pong");
    let url = server.url("/");
    let run = fetch(&[
        "--idle-timeout",
        "0.1",
        "--sleep",
        "0.5",
        "--stats",
        &url,
        &url,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.elapsed >= Duration::from_millis(500), "{run:?}");
    assert_eq!(run.stat("dials"), 2, "{}", run.stats_line());
    assert_eq!(run.stat("reused"), 0, "{}", run.stats_line());
    assert_eq!(run.stat("idle_timeout"), 1, "{}", run.stats_line());
    assert_eq!(server.connections(), 2);
}

#[test]
fn sleep_keeps_the_connection_when_shorter_than_the_idle_timeout() {
    let server = TestServer::keep_alive(b"pong");
    let url = server.url("/");
    let run = fetch(&["--sleep", "0.2", "--stats", &url, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stat("dials"), 1, "{}", run.stats_line());
    assert_eq!(run.stat("reused"), 1, "{}", run.stats_line());
}

#[test]
fn large_bodies_stream_through_intact() {
    const LEN: u64 = 8 << 20;
    let server = TestServer::scripted(Script::PatternBody { len: LEN });
    let run = fetch(&["--trace", &server.url("/big")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.len() as u64, LEN);
    assert!(
        run.stdout == testkit::pattern(0, LEN as usize),
        "body differs"
    );
    assert!(
        run.trace_lines()[0].ends_with(&format!(" bytes={LEN}")),
        "{}",
        run.stderr
    );
}

/// Announces 1000 body bytes, sends [`testkit::SENT_PREFIX`] (10), then closes after
/// `pause`: a truncated body.
fn truncating_server(pause: Duration) -> TestServer {
    TestServer::start(move |conn: &mut ServerConn| {
        if conn.read_request().is_some() {
            let announced = testkit::ANNOUNCED_LEN.to_string();
            conn.write(&testkit::response_bytes(
                200,
                &[("Content-Length", &announced)],
                testkit::SENT_PREFIX,
            ));
            conn.stall(pause);
            conn.close();
        }
    })
}

/// Checks the run against a truncating server: the bytes that came are on stdout, one
/// error line says the body could not be read, exit 18 (curl's "partial file").
fn assert_truncated(run: &Run, url: &str) {
    assert_eq!(run.code, 18, "{run:?}");
    assert_eq!(run.stdout, testkit::SENT_PREFIX);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with(&format!("fetch: (18) {url}: reading the body: ")),
        "{}",
        errors[0]
    );
    let trace = run.trace_lines()[0];
    assert!(trace.contains("status=200"), "{trace}");
    assert!(trace.contains(" bytes=10 "), "{trace}");
    assert!(trace.contains(" error="), "{trace}");
}

#[test]
fn a_body_cut_short_is_an_error_after_the_bytes_that_came() {
    let server = truncating_server(Duration::from_millis(200));
    let url = server.url("/");
    let run = fetch(&["--trace", &url]);
    assert_truncated(&run, &url);
    assert!(run
        .stderr
        .contains("connection closed before the body was complete"));
}

/// The server's FIN arrives together with the last body bytes: the engine must still
/// see the EOF at once (a short read is not taken for "drained" after a read-closed
/// event), not wait for the total timeout.
#[test]
fn a_body_cut_short_with_an_immediate_close_fails_promptly() {
    let server = TestServer::scripted(Script::TruncatedBody);
    let url = server.url("/");
    let run = fetch(&["--trace", "--timeout", "10", &url]);
    assert_truncated(&run, &url);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
}
