//! `fetch` behaves as a curl user expects: `-o`, `-O`, `-s`/`-S`, `-v`, `-f`, `-I`, `-m`,
//! `-w` with curl's variables, `-d @file`, `--trace-file`, and curl's exit codes. The
//! built executable against `testkit` servers on 127.0.0.1.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{fetch, fetch_in};
use testkit::{Script, ServerConn, TestServer};

/// A fresh empty directory under the system's temporary one.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fetch-curl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Answers `/missing` with 404 and a body, everything else with 200 and `body`.
fn status_server(body: &'static [u8]) -> TestServer {
    TestServer::start(move |conn: &mut ServerConn| {
        while let Some(request) = conn.read_request() {
            if request.target == "/missing" {
                conn.respond(404, &[("X-Why", "gone")], b"not here");
            } else if request.method == "HEAD" {
                let head = testkit::response_bytes(200, &[("Content-Length", "4")], b"");
                conn.write(&head);
            } else {
                conn.respond(200, &[("Content-Type", "text/plain")], body);
            }
        }
    })
}

#[test]
fn output_to_files_to_stdout_and_by_remote_name() {
    let server = TestServer::keep_alive(b"contents");
    let dir = temp_dir("out");
    let file = dir.join("saved.txt");
    let a = server.url("/a/first.txt");
    let b = server.url("/b/second.bin");
    let c = server.url("/c");
    let run = fetch_in(
        &["-o", file.to_str().expect("utf-8 path"), "-O", &a, &b, &c],
        Some(&dir),
    );
    assert_eq!(run.code, 0, "{run:?}");
    // -o for the first URL, -O for the second, stdout for the third.
    assert_eq!(std::fs::read(&file).expect("-o file"), b"contents");
    assert_eq!(
        std::fs::read(dir.join("second.bin")).expect("-O file"),
        b"contents"
    );
    assert_eq!(run.stdout, b"contents");
    // -o - is stdout.
    let run = fetch(&["-o", "-", &c]);
    assert_eq!(run.stdout, b"contents");
    // -O of a URL that ends in / has no name: curl's 23.
    let run = fetch_in(&["-O", &server.url("/")], Some(&dir));
    assert_eq!(run.code, 23, "{run:?}");
    assert!(
        run.stderr.contains("Remote file name has no length"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn silent_hides_errors_and_show_error_brings_them_back() {
    let refused = format!("http://{}/", testkit::free_port_refused());
    let run = fetch(&["-s", &refused]);
    assert_eq!(run.code, 7);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let run = fetch(&["-sS", &refused]);
    assert_eq!(run.code, 7);
    assert!(run.stderr.starts_with("fetch: (7) "), "{}", run.stderr);
    let run = fetch(&["-s", "-S", &refused]);
    assert_eq!(run.error_lines().len(), 1, "{}", run.stderr);
}

#[test]
fn verbose_shows_heads_and_the_pools_decisions() {
    let server = status_server(b"hi");
    let url = server.url("/v");
    let run = fetch(&["-v", "-H", "X-Mine: 1", &url, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"hihi", "verbose output never goes to stdout");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let port = server.addr().port();
    assert!(
        lines.contains(&format!("* Connected to 127.0.0.1 port {port} (#1)").as_str()),
        "{}",
        run.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("* Re-using existing connection with host 127.0.0.1")),
        "{}",
        run.stderr
    );
    for expected in [
        "> GET /v HTTP/1.1",
        &format!("> host: 127.0.0.1:{port}"),
        "> x-mine: 1",
        ">",
        "< HTTP/1.1 200 OK",
        "< content-type: text/plain",
        "<",
    ] {
        assert_eq!(
            lines.iter().filter(|l| **l == expected).count(),
            2,
            "{expected:?} once per request in:\n{}",
            run.stderr
        );
    }
}

#[test]
fn fail_prints_nothing_on_400_and_up_and_exits_22() {
    let server = status_server(b"fine");
    let run = fetch(&["-f", &server.url("/missing")]);
    assert_eq!(run.code, 22, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(
        run.stderr.contains("The requested URL returned error: 404"),
        "{}",
        run.stderr
    );
    // -f -i prints no head either; -s silences the message.
    let run = fetch(&["-f", "-i", "-s", &server.url("/missing")]);
    assert_eq!((run.code, run.stdout.len(), run.stderr.len()), (22, 0, 0));
    // Below 400 -f changes nothing; without -f a 404 is a response: exit 0.
    let run = fetch(&["-f", &server.url("/ok")]);
    assert_eq!((run.code, run.stdout.as_slice()), (0, &b"fine"[..]));
    let run = fetch(&[&server.url("/missing")]);
    assert_eq!((run.code, run.stdout.as_slice()), (0, &b"not here"[..]));
    // The pool drained the failed response: the next request reuses the connection.
    let run = fetch(&["-f", "--stats", &server.url("/missing"), &server.url("/ok")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stat("dials"), 1, "{}", run.stats_line());
}

#[test]
fn head_sends_head_and_prints_the_response_head() {
    let server = status_server(b"body");
    let run = fetch(&["-I", &server.url("/h")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout_text(), "HTTP/1.1 200 OK\ncontent-length: 4\n\n");
    let recorded = server.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "HEAD");
}

#[test]
fn max_time_takes_fractions_and_exits_28() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let run = fetch(&["-m", "0.3", &server.url("/")]);
    assert_eq!(run.code, 28, "{run:?}");
    assert!(
        run.elapsed < Duration::from_secs(3),
        "took {:?}",
        run.elapsed
    );
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    let run = fetch(&["--max-time", "0.3", &server.url("/")]);
    assert_eq!(run.code, 28, "{run:?}");
}

#[test]
fn write_out_prints_curls_variables_without_adding_a_newline() {
    let server = status_server(b"twelve bytes");
    let url = server.url("/w");
    let run = fetch(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!((run.code, run.stdout_text()), (0, "200".to_owned()));
    let run = fetch(&["-o", "/dev/null", "-w", "%{http_code}\\n", &url]);
    assert_eq!(run.stdout_text(), "200\n");
    let format = "%{http_code} %{num_connects} %{size_download} %{time_namelookup} \
                  %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}\\n";
    let run = fetch(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        format,
        &url,
        &url,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout_text().leak().lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f[0], "200");
        // A dial for the first, a reuse for the second.
        assert_eq!(f[1], if i == 0 { "1" } else { "0" }, "{line}");
        assert_eq!(f[2], "12");
        let t: Vec<f64> = f[3..].iter().map(|v| v.parse().expect("seconds")).collect();
        assert!(f[3..]
            .iter()
            .all(|v| v.split_once('.').is_some_and(|(_, d)| d.len() == 6)));
        assert_eq!(t[2], 0.0, "no TLS: time_appconnect is 0");
        assert!(
            t[0] <= t[1] && t[1] <= t[3] && t[3] <= t[4] && t[4] > 0.0,
            "{line}"
        );
    }
    // No response: 000, and -w still runs; exit code and error message as variables.
    let refused = format!("http://{}/", testkit::free_port_refused());
    let run = fetch(&["-s", "-w", "%{http_code} %{exitcode}", &refused]);
    assert_eq!((run.code, run.stdout_text()), (7, "000 7".to_owned()));
    // %{json} is JSON; an unknown variable warns on stderr and prints nothing.
    let run = fetch(&["-o", "/dev/null", "-w", "%{json}", &url]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout_text()).expect("JSON");
    assert_eq!(json["http_code"], 200);
    assert_eq!(json["size_download"], 12);
    let run = fetch(&["-o", "/dev/null", "-w", "[%{bogus}]", &url]);
    assert_eq!(run.stdout_text(), "[]");
    assert!(
        run.stderr.contains("unknown --write-out variable: 'bogus'"),
        "{}",
        run.stderr
    );
    // @file reads the format from a file.
    let dir = temp_dir("w");
    let fmt = dir.join("fmt");
    std::fs::write(&fmt, "code=%{response_code}").expect("write");
    let at = format!("@{}", fmt.display());
    let run = fetch(&["-o", "/dev/null", "-w", &at, &url]);
    assert_eq!(run.stdout_text(), "code=200");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_from_a_file_and_trace_to_a_file() {
    let server = TestServer::keep_alive(b"ok");
    let dir = temp_dir("data");
    let body = dir.join("body");
    std::fs::write(&body, "a=1\nb=2\n").expect("write");
    let trace = dir.join("trace.log");
    let at = format!("@{}", body.display());
    let run = fetch(&[
        "-d",
        &at,
        "--trace-file",
        trace.to_str().expect("utf-8"),
        &server.url("/p"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let recorded = server.recorded();
    assert_eq!(
        recorded[0].body, b"a=1b=2",
        "-d @file drops line breaks, as curl"
    );
    assert_eq!(
        recorded[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let log = std::fs::read_to_string(&trace).expect("trace file");
    assert!(log.starts_with("url=http://"), "{log}");
    assert!(log.contains(" method=POST status=200 "), "{log}");
    assert!(
        !run.stderr.contains("url="),
        "trace went to the file: {}",
        run.stderr
    );
    // --data-binary keeps them.
    let run = fetch(&["--data-binary", &at, &server.url("/p")]);
    assert_eq!(run.code, 0);
    assert_eq!(server.recorded()[1].body, b"a=1\nb=2\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_codes_are_curls() {
    // 6: the name does not resolve (.invalid never does, RFC 6761).
    let run = fetch(&["-m", "10", "http://no-such-host.invalid/"]);
    assert_eq!(run.code, 6, "{run:?}");
    // 7: refused.
    let refused = format!("http://{}/", testkit::free_port_refused());
    assert_eq!(fetch(&[&refused]).code, 7);
    // 2: an unknown option, usage on stderr; 3: a malformed URL.
    let run = fetch(&["--no-such-option", "http://127.0.0.1/"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Usage:"), "{}", run.stderr);
    assert_eq!(fetch(&["http://exa mple/"]).code, 3);
    // 52: the server closed without answering.
    let server = TestServer::start(|conn: &mut ServerConn| {
        let _ = conn.read_request();
        conn.close();
    });
    let run = fetch(&[&server.url("/")]);
    assert_eq!(run.code, 52, "{run:?}");
}
