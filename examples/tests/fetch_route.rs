//! `fetch`'s route options end to end: `-x/--proxy`, `--noproxy`, the proxy variables as
//! curl reads them, `--unix-socket`, `--resolve` and `--connect-to`, against testkit's
//! forward proxy ([`TestProxy`], which records what it read), its Unix-socket server
//! and its plain and TLS servers, all on 127.0.0.1.
//!
//! Whether a request went through the proxy is read off the proxy (`recorded()`,
//! `tunnels()`) and the origin, never off fetch's own output alone. Environment
//! variables are set on the child process only (`fetch_env`), so these tests need no
//! lock; every run starts with no proxy variable at all.

mod common;

use common::{fetch, fetch_env, Run};

use testkit::proxy::{ProxyOptions, TestProxy};
use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::unix::UnixServer;
use testkit::TestServer;

fn stderr_has(run: &Run, line: &str) -> bool {
    run.stderr.lines().any(|l| l == line)
}

/// The request targets the proxy read, in order.
fn proxy_targets(proxy: &TestProxy) -> Vec<String> {
    proxy
        .recorded()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

// ---------------------------------------------------------------------------------------
// -x / --proxy
// ---------------------------------------------------------------------------------------

#[test]
fn plain_http_goes_to_the_proxy_in_absolute_form_and_its_connection_is_reused() {
    let origin = TestServer::keep_alive(b"pong");
    let proxy = TestProxy::start(ProxyOptions::default());
    let url = origin.url("/a?b=1");
    let run = fetch(&["-x", &proxy.url(), "--stats", &url, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"pongpong");
    let absolute = format!("GET {url}");
    assert_eq!(proxy_targets(&proxy), [absolute.clone(), absolute]);
    assert_eq!(
        proxy.connections(),
        1,
        "the second URL reused the first connection"
    );
    assert_eq!(proxy.tunnels(), 0);
    // The proxy forwarded both (in origin form).
    assert_eq!(origin.recorded()[0].target, "/a?b=1");
    assert_eq!(origin.requests(), 2);
    assert_eq!(run.stat("dials"), 1, "{}", run.stats_line());
    assert_eq!(run.stat("reused"), 1, "{}", run.stats_line());
    let route = format!("\"route\":\"via proxy {}\"", proxy.url());
    assert!(run.stats_line().contains(&route), "{}", run.stats_line());
}

#[test]
fn https_goes_through_a_connect_tunnel_with_tls_to_the_origin() {
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let origin = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"secret");
    let proxy = TestProxy::start(ProxyOptions::default());
    let url = origin.url_with_host("localhost", "/");
    let run = fetch(&[
        "-v",
        "--cacert",
        ca.path_str(),
        "-x",
        &proxy.url(),
        &url,
        &url,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"secretsecret");
    let connect = format!("CONNECT localhost:{}", origin.addr().port());
    assert_eq!(proxy_targets(&proxy), [connect]);
    assert_eq!(proxy.tunnels(), 1, "one tunnel, reused");
    assert_eq!(origin.requests(), 2);
    assert_eq!(origin.full_handshakes(), 1);
    // -v says where the request went, and what the library knows of the tunnel.
    let port = proxy.addr().port();
    assert!(
        stderr_has(
            &run,
            &format!("* Connected to proxy 127.0.0.1 port {port} (#1)")
        ),
        "{}",
        run.stderr
    );
    let tunnel = format!(
        "* Establish HTTP proxy tunnel to localhost:{}",
        origin.addr().port()
    );
    assert!(stderr_has(&run, &tunnel), "{}", run.stderr);
    assert!(
        stderr_has(&run, "* CONNECT tunnel established, response 2xx"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("* Re-using existing connection with proxy 127.0.0.1 (#1,"),
        "{}",
        run.stderr
    );
    // Inside the tunnel the request is in origin form.
    assert!(stderr_has(&run, "> GET / HTTP/1.1"), "{}", run.stderr);
}

#[test]
fn proxy_credentials_reach_the_proxy_only() {
    let origin = TestServer::keep_alive(b"ok");
    let proxy = TestProxy::start(ProxyOptions::default().credentials("user", "pw"));
    let url = origin.url("/");
    let run = fetch(&["-v", "-x", &proxy.url_with_credentials("user", "pw"), &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"ok");
    let seen = proxy.recorded();
    assert_eq!(
        seen[0].header("proxy-authorization"),
        Some("Basic dXNlcjpwdw==")
    );
    assert_eq!(origin.recorded()[0].header("proxy-authorization"), None);
    // -v shows the absolute form and that the header was added, not the credentials.
    assert!(
        stderr_has(&run, &format!("> GET {url} HTTP/1.1")),
        "{}",
        run.stderr
    );
    assert!(
        stderr_has(&run, "> Proxy-Authorization: Basic ***"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("dXNlcjpwdw"), "{}", run.stderr);
    // Without them the proxy's 407 is the response (plain http), as in curl.
    let run = fetch(&[
        "-x",
        &proxy.url(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url,
    ]);
    assert_eq!(
        (run.code, run.stdout_text().as_str()),
        (0, "407"),
        "{run:?}"
    );
}

#[test]
fn a_refused_connect_exits_56_and_says_the_status() {
    let proxy = TestProxy::start(ProxyOptions::default().refuse_connect(403));
    let run = fetch(&["-v", "-k", "-x", &proxy.url(), "https://127.0.0.1:1/"]);
    assert_eq!(run.code, 56, "{run:?}");
    assert!(
        stderr_has(&run, "* CONNECT tunnel failed, response 403"),
        "{}",
        run.stderr
    );
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    // The proxy's own status line (testkit's proxy words it "403 Status").
    assert!(errors[0].contains("\"HTTP/1.1 403 "), "{}", errors[0]);
    assert!(
        errors[0].contains("via proxy http://127.0.0.1:"),
        "{}",
        errors[0]
    );
    assert_eq!(proxy_targets(&proxy), ["CONNECT 127.0.0.1:1"]);
    // A proxy that wants credentials refuses CONNECT with 407: 56 too.
    let proxy = TestProxy::start(ProxyOptions::default().credentials("u", "p"));
    let run = fetch(&["-s", "-k", "-x", &proxy.url(), "https://127.0.0.1:1/"]);
    assert_eq!(run.code, 56, "{run:?}");
}

#[test]
fn proxy_failures_exit_with_curls_codes() {
    let url = "http://127.0.0.1:1/";
    // 7: nothing listens where the proxy should be.
    let refused = format!("http://{}", testkit::free_port_refused());
    let run = fetch(&["-x", &refused, url]);
    assert_eq!(run.code, 7, "{run:?}");
    // 5: the proxy's name does not resolve (.invalid never does, RFC 6761).
    let run = fetch(&["-m", "10", "-x", "http://no-such-proxy.invalid:3128", url]);
    assert_eq!(run.code, 5, "{run:?}");
    // 5: a proxy URL curl cannot parse; nothing is sent.
    let run = fetch(&["-x", "http://127.0.0.1:99999", url]);
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("Unsupported proxy syntax"), "{run:?}");
    // 7: a scheme curl does not know; 4: SOCKS, which curl has and this build does not.
    let run = fetch(&["-x", "ftp://127.0.0.1:21", url]);
    assert_eq!(run.code, 7, "{run:?}");
    assert!(run.stderr.contains("Unsupported proxy scheme"), "{run:?}");
    let run = fetch(&["-x", "socks5://127.0.0.1:1080", url]);
    assert_eq!(run.code, 4, "{run:?}");
    // 28: a proxy that never answers CONNECT, within -m.
    let hang = TestProxy::start(ProxyOptions::default().hang());
    let run = fetch(&["-m", "0.5", "-k", "-x", &hang.url(), "https://127.0.0.1:1/"]);
    assert_eq!(run.code, 28, "{run:?}");
}

#[test]
fn a_proxy_without_a_port_is_on_1080_as_in_curl() {
    // A stand-in proxy on curl's default port, if the port is free on this machine.
    let listener = match std::net::TcpListener::bind("127.0.0.1:1080") {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("skipped: 127.0.0.1:1080 is not free ({e})");
            return;
        }
    };
    let answer = std::thread::spawn(move || {
        // Every wait has a deadline: a fetch that never comes fails the test, not hangs.
        listener.set_nonblocking(true).expect("non-blocking");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut conn = loop {
            match listener.accept() {
                Ok((conn, _)) => break conn,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return format!("nothing connected to 127.0.0.1:1080: {e}"),
            }
        };
        conn.set_nonblocking(false).expect("blocking");
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match std::io::Read::read(&mut conn, &mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n1080";
        std::io::Write::write_all(&mut conn, reply).expect("reply");
        String::from_utf8_lossy(&head).into_owned()
    });
    let run = fetch(&["-x", "127.0.0.1", "http://origin.test/x"]);
    let head = answer.join().expect("the stand-in proxy");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"1080");
    assert!(
        head.starts_with("GET http://origin.test/x HTTP/1.1\r\n"),
        "{head}"
    );
}

// ---------------------------------------------------------------------------------------
// --noproxy and -x ""
// ---------------------------------------------------------------------------------------

#[test]
fn noproxy_matches_bypass_the_proxy() {
    let origin = TestServer::keep_alive(b"direct");
    let proxy = TestProxy::start(ProxyOptions::default());
    let url = origin.url("/");
    for list in ["127.0.0.1", "example.test, 127.0.0.0/8", "*"] {
        let run = fetch(&["-x", &proxy.url(), "--noproxy", list, &url]);
        assert_eq!(run.code, 0, "{list}: {run:?}");
        assert_eq!(run.stdout, b"direct");
    }
    assert!(proxy.recorded().is_empty(), "{:?}", proxy_targets(&proxy));
    assert_eq!(origin.requests(), 3);
    // A list that does not match leaves the proxy in use ('*' only alone means all).
    let run = fetch(&["-x", &proxy.url(), "--noproxy", "127.0.0.2, *", &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.recorded().len(), 1);
}

#[test]
fn an_empty_proxy_turns_the_environment_off() {
    let origin = TestServer::keep_alive(b"direct");
    let proxy = TestProxy::start(ProxyOptions::default());
    let url = origin.url("/");
    let run = fetch_env(&["-x", "", &url], &[("http_proxy", &proxy.url())]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"direct");
    assert!(proxy.recorded().is_empty());
}

// ---------------------------------------------------------------------------------------
// The environment, as curl reads it
// ---------------------------------------------------------------------------------------

#[test]
fn http_proxy_is_read_in_lower_case_only() {
    let origin = TestServer::keep_alive(b"x");
    let proxy = TestProxy::start(ProxyOptions::default());
    let url = origin.url("/");
    // Upper case is ignored (curl's rule, against "httpoxy"): straight to the origin.
    let run = fetch_env(&[&url], &[("HTTP_PROXY", &proxy.url())]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(proxy.recorded().is_empty());
    assert_eq!(origin.requests(), 1);
    // Lower case is used, for 127.0.0.1 too (curl proxies loopback; Go would not).
    let run = fetch_env(&["-v", &url], &[("http_proxy", &proxy.url())]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy_targets(&proxy), [format!("GET {url}")]);
    let uses = format!("* Uses proxy env variable http_proxy == '{}'", proxy.url());
    assert!(stderr_has(&run, &uses), "{}", run.stderr);
}

#[test]
fn https_proxy_all_proxy_and_no_proxy() {
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let origin = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"s");
    let proxy = TestProxy::start(ProxyOptions::default());
    let url = origin.url("/");
    let args = ["--cacert", ca.path_str(), url.as_str()];
    // HTTPS_PROXY (upper case is fine for https).
    let run = fetch_env(&args, &[("HTTPS_PROXY", &proxy.url())]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.tunnels(), 1);
    // http_proxy is for http:// only.
    let run = fetch_env(&args, &[("http_proxy", &proxy.url())]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.tunnels(), 1, "not proxied");
    // ALL_PROXY when the scheme has none.
    let run = fetch_env(&args, &[("ALL_PROXY", &proxy.url())]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.tunnels(), 2);
    // NO_PROXY exempts the host (and applies to -x as well).
    let no = [
        ("ALL_PROXY", proxy.url()),
        ("NO_PROXY", "localhost,127.0.0.1".into()),
    ];
    let no: Vec<(&str, &str)> = no.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = fetch_env(&args, &no);
    assert_eq!(run.code, 0, "{run:?}");
    let run = fetch_env(&["-x", &proxy.url(), args[0], args[1], args[2]], &no);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.tunnels(), 2, "NO_PROXY matched: not proxied");
    // --noproxy "" overrides NO_PROXY: proxied again.
    let run = fetch_env(&["--noproxy", "", args[0], args[1], args[2]], &no);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.tunnels(), 3);
    assert_eq!(origin.requests(), 6);
}

#[test]
fn an_unusable_proxy_variable_fails_only_the_urls_it_would_carry() {
    let origin = TestServer::keep_alive(b"ok");
    let url = origin.url("/");
    let run = fetch_env(
        &[url.as_str(), "https://127.0.0.1:1/"],
        &[("https_proxy", "socks5://127.0.0.1:1080")],
    );
    // The https:// URL fails with 4 (SOCKS); the http:// one went straight.
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(run.stdout, b"ok");
    assert_eq!(origin.requests(), 1);
}

// ---------------------------------------------------------------------------------------
// --unix-socket
// ---------------------------------------------------------------------------------------

#[test]
fn unix_socket_reaches_the_server_with_the_urls_host_as_host() {
    let server = UnixServer::keep_alive(b"over unix");
    let path = server.path().to_str().expect("UTF-8 path");
    let proxy = TestProxy::start(ProxyOptions::default());
    let run = fetch(&[
        "-v",
        "--stats",
        "--unix-socket",
        path,
        "-x",
        &proxy.url(),
        "http://localhost/version",
        "http://localhost/version",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"over unixover unix");
    let seen = server.recorded();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].target, "/version");
    assert_eq!(seen[0].header("host"), Some("localhost"));
    assert_eq!(server.connections(), 1, "pooled: one connection, reused");
    assert!(proxy.recorded().is_empty(), "the socket wins over -x");
    assert!(
        stderr_has(
            &run,
            &format!("* Connected to localhost ({path}) port 80 (#1)")
        ),
        "{}",
        run.stderr
    );
    let route = format!("\"route\":\"via unix:{path}\"");
    assert!(run.stats_line().contains(&route), "{}", run.stats_line());
    // A missing socket is a connect failure (7).
    let run = fetch(&[
        "--unix-socket",
        "/nonexistent/wirepool.sock",
        "http://localhost/",
    ]);
    assert_eq!(run.code, 7, "{run:?}");
}

// ---------------------------------------------------------------------------------------
// --resolve and --connect-to
// ---------------------------------------------------------------------------------------

#[test]
fn resolve_makes_a_name_connect_to_the_given_address() {
    let origin = TestServer::keep_alive(b"resolved");
    let port = origin.addr().port();
    let url = format!("http://origin.test:{port}/");
    let entry = format!("origin.test:{port}:127.0.0.1");
    let run = fetch(&["-v", "--resolve", &entry, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"resolved");
    let host = format!("origin.test:{port}");
    assert_eq!(origin.recorded()[0].header("host"), Some(host.as_str()));
    assert!(
        stderr_has(&run, &format!("* Added {entry} to DNS cache")),
        "{}",
        run.stderr
    );
    assert!(
        stderr_has(&run, "* Hostname origin.test was found in DNS cache"),
        "{}",
        run.stderr
    );
    // Bracketed IPv6 addresses parse; ::1 refuses (nothing listens there) and the
    // race falls back to 127.0.0.1. '+' and '*' entries, as curl takes them.
    for entry in [
        format!("+origin.test:{port}:[::1],127.0.0.1"),
        format!("*:{port}:127.0.0.1"),
    ] {
        let run = fetch(&["--resolve", &entry, &url]);
        assert_eq!(run.code, 0, "{entry}: {run:?}");
        assert_eq!(run.stdout, b"resolved");
    }
    // Without the entry, the name does not resolve (6).
    let run = fetch(&["-m", "10", "http://origin.invalid:1/"]);
    assert_eq!(run.code, 6, "{run:?}");
}

#[test]
fn connect_to_redirects_the_connection_but_keeps_host_and_tls_name() {
    let origin = TestServer::keep_alive(b"moved");
    let port = origin.addr().port();
    // Any host, any port -> 127.0.0.1:PORT; the Host header is the URL's.
    let rule = format!("::127.0.0.1:{port}");
    let run = fetch(&["-v", "--connect-to", &rule, "http://elsewhere.test:1234/"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"moved");
    assert_eq!(
        origin.recorded()[0].header("host"),
        Some("elsewhere.test:1234")
    );
    assert!(
        stderr_has(&run, "* Connecting to hostname: 127.0.0.1"),
        "{}",
        run.stderr
    );
    assert!(
        stderr_has(&run, &format!("* Connecting to port: {port}")),
        "{}",
        run.stderr
    );
    // An empty PORT2 keeps the URL's port; a rule that does not match is skipped.
    let url = format!("http://origin.test:{port}/");
    let run = fetch(&[
        "--connect-to",
        "other.test::127.0.0.2:",
        "--connect-to",
        "origin.test::127.0.0.1:",
        &url,
    ]);
    assert_eq!(run.code, 0, "{run:?}");

    // HTTPS: the certificate is checked against the URL's name, not the target's.
    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let setup = ServerSetup::new(pki.server_cert(&["origin.test"]));
    let tls = TlsTestServer::keep_alive(setup, b"tls moved");
    let port = tls.addr().port();
    let url = format!("https://origin.test:{port}/");
    let rule = format!("origin.test:{port}:127.0.0.1:{port}");
    let run = fetch(&["--cacert", ca.path_str(), "--connect-to", &rule, &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"tls moved");
    // The same connection named by its address fails the name check (60).
    let run = fetch(&["--cacert", ca.path_str(), &tls.url("/")]);
    assert_eq!(run.code, 60, "{run:?}");
}

#[test]
fn bad_route_options_are_usage_errors() {
    for args in [
        ["--resolve", "origin.test:80", "http://h/"],
        ["--resolve", "origin.test:80:not-an-ip", "http://h/"],
        ["--connect-to", "a:1:b", "http://h/"],
    ] {
        let run = fetch(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains("Usage:"), "{run:?}");
    }
}

// ---------------------------------------------------------------------------------------
// A real proxy
// ---------------------------------------------------------------------------------------

/// Through tinyproxy, which `.ci/run` starts on 127.0.0.1 (Basic credentials required)
/// and names in `WIREPOOL_TEST_PROXY` (see `pool-core/tests/real_proxy.rs`). Without
/// the variable the test returns at once; with it, an unreachable proxy is a failure.
#[test]
fn through_a_real_proxy_from_the_environment() {
    let Ok(url) = std::env::var("WIREPOOL_TEST_PROXY") else {
        return;
    };
    let origin = TestServer::keep_alive(b"real");
    let run = fetch_env(&["-v", &origin.url("/")], &[("http_proxy", &url)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"real");
    assert!(
        run.stderr.contains("* Connected to proxy 127.0.0.1 port "),
        "{run:?}"
    );
    assert_eq!(origin.requests(), 1);

    let pki = TestPki::new();
    let ca = pki.ca_pem_file();
    let tls = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"real tls");
    let https = tls.url("/");
    let args = ["--cacert", ca.path_str(), https.as_str(), https.as_str()];
    let run = fetch_env(&args, &[("HTTPS_PROXY", &url)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, b"real tlsreal tls");
    assert_eq!(tls.connections(), 1, "one tunnel, reused");
    // Without the credentials the proxy refuses the CONNECT (407): curl's 56.
    let bare = match url.rsplit_once('@') {
        Some((_, hostport)) => format!("http://{hostport}"),
        None => url.clone(),
    };
    let run = fetch_env(&args, &[("HTTPS_PROXY", &bare)]);
    assert_eq!(run.code, 56, "{run:?}");
    assert!(run.stderr.contains(" 407 "), "{run:?}");
}
