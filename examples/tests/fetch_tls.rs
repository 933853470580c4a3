//! `fetch` over HTTPS end to end: the built executable against `testkit`'s TLS server,
//! trusting the test CA through `--cacert PATH` (a temporary file, as a user would pass).

mod common;

use std::time::Duration;

use common::fetch;

use testkit::tls::{ServerSetup, TestPki, TlsTestServer};

#[test]
fn cacert_makes_https_work() {
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"hello over tls\n");
    let url = server.url("/");
    let run = fetch(&["--cacert", ca.path_str(), &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout_text(), "hello over tls\n");
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
    assert_eq!(run.stdout_text(), "xx");
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
/// the error says so, exit status 60 (curl's), and no request reached the server.
#[test]
fn a_cacert_of_another_ca_is_an_unknown_issuer() {
    let pki = TestPki::new();
    let other = TestPki::with_name("some other ca").ca_pem_file();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"never");
    let url = server.url("/");
    let run = fetch(&["--cacert", other.path_str(), &url]);
    assert_eq!(run.code, 60, "{run:?}");
    let lines = run.error_lines();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(
        lines[0].starts_with(&format!("fetch: (60) {url}: tls error: ")),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("unknown authority"), "{}", lines[0]);
    assert!(run.stdout.is_empty());
    assert!(server.wait_for_handshakes_ended(1, Duration::from_secs(5)));
    assert_eq!(server.requests(), 0);
}

/// `-k` skips verification: the untrusted test CA works, as with curl.
#[test]
fn insecure_accepts_an_untrusted_certificate() {
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"anyway");
    let url = server.url("/");
    let run = fetch(&["-k", "-w", "%{http_code} %{num_connects} %{scheme}", &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout_text(), "anyway200 1 https");
}

/// A server that speaks no TLS at all (it answers the ClientHello in plain HTTP): the
/// handshake fails, curl's 35.
#[test]
fn a_server_without_tls_is_a_handshake_error() {
    let server = testkit::TestServer::start(|conn| {
        conn.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        conn.close();
    });
    let url = server.url("/").replace("http://", "https://");
    let run = fetch(&["-k", "-m", "5", &url]);
    assert_eq!(run.code, 35, "{run:?}");
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
    assert!(run.code == 60 || run.code == 35, "{run:?}");
    let lines = run.error_lines();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(
        lines[0].starts_with(&format!("fetch: ({}) {url}: tls error", run.code)),
        "{}",
        lines[0]
    );
    assert_eq!(server.requests(), 0);
}
