//! Interop with a real server: nginx, plain and over TLS, started by `.ci/run` (see
//! `.ci/interop.sh`) on 127.0.0.1 with its own configuration, a CA made for the run, and
//! `keepalive_requests` and `keepalive_timeout` set small so that the server closes
//! connections under the pool both ways: with `Connection: close` on the last allowed
//! response, and silently once a connection has sat idle past the timeout.
//!
//! Every body the Client reads is compared byte for byte with curl's output for the same
//! URL and request headers, and static files with the file on disk: large files (1 and
//! 32 MiB), chunked responses (server-side includes, gzip), `HEAD`, `204` and `304`.
//! The pool's counters must show what the server did (dials per `keepalive_requests`,
//! a fresh dial after every idle timeout, no retry).
//!
//! Through a real proxy too: tinyproxy (which `.ci/run` starts for `real_proxy.rs`, with
//! Basic credentials) carries the plain requests in absolute form and the `https` ones
//! through a `CONNECT` tunnel, and the bytes are compared with `curl --proxy` through
//! the same proxy.
//!
//! The tests are `#[ignore]`d: `cargo test` has no nginx. `.ci/run` sets
//! `WIREPOOL_INTEROP_HTTP`, `WIREPOOL_INTEROP_HTTPS`, `WIREPOOL_INTEROP_CA`,
//! `WIREPOOL_INTEROP_ROOT`, `WIREPOOL_INTEROP_KEEPALIVE_REQUESTS`,
//! `WIREPOOL_INTEROP_KEEPALIVE_TIMEOUT_MS` and `WIREPOOL_INTEROP_PROXY` and runs them
//! with `--ignored`; run that way without the variables, or with a server that does not
//! answer, they fail: they never pass without having talked to nginx (and tinyproxy).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use wirepool::http::Request;
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Body, Client, Proxy, Response};

/// One interop target, from the environment.
struct Target {
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    base: String,
    /// The CA file for `https` (curl's `--cacert`, the Client's only root).
    ca: Option<PathBuf>,
    /// nginx's document root: the files the bodies are compared with.
    root: PathBuf,
    keepalive_requests: u64,
    keepalive_timeout: Duration,
    /// The proxy every request goes through (`http://USER:PASSWORD@HOST:PORT`).
    proxy: Option<String>,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests run against the nginx that .ci/run starts")
    })
}

fn target(scheme_var: &str, tls: bool) -> Target {
    Target {
        base: env(scheme_var),
        ca: tls.then(|| PathBuf::from(env("WIREPOOL_INTEROP_CA"))),
        root: PathBuf::from(env("WIREPOOL_INTEROP_ROOT")),
        keepalive_requests: env("WIREPOOL_INTEROP_KEEPALIVE_REQUESTS").parse().unwrap(),
        keepalive_timeout: Duration::from_millis(
            env("WIREPOOL_INTEROP_KEEPALIVE_TIMEOUT_MS")
                .parse()
                .unwrap(),
        ),
        proxy: None,
    }
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn client(&self) -> Client {
        // The environment's proxy settings never apply: these tests say which proxy.
        let mut builder = Client::builder()
            .timeout(Some(Duration::from_secs(30)))
            .proxy_from_env(false);
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(Proxy::parse(proxy).unwrap());
        }
        if let Some(ca) = &self.ca {
            let tls = TlsConfig::builder()
                .trust_roots(TrustRoots::OnlyAdded)
                .add_ca_pem_file(ca)
                .build()
                .unwrap();
            builder = builder.tls_config(tls);
        }
        builder.build().unwrap()
    }

    /// curl's status and body for `path` with `headers` (`-X HEAD` is `-I`).
    fn curl(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
        let out = tempfile(&format!("curl-{}", path.replace('/', "_")));
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--http1.1", "-o"])
            .arg(&out)
            .args(["-w", "%{http_code}"]);
        if method == "HEAD" {
            cmd.arg("-I");
        }
        if let Some(ca) = &self.ca {
            cmd.arg("--cacert").arg(ca);
        }
        // curl reads proxies from the environment too: say which, or none.
        match &self.proxy {
            Some(proxy) => cmd.arg("--proxy").arg(proxy),
            None => cmd.arg("--noproxy").arg("*"),
        };
        for (name, value) in headers {
            cmd.arg("-H").arg(format!("{name}: {value}"));
        }
        cmd.arg(self.url(path));
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("curl could not run ({e}): .ci/run installs it"));
        assert!(
            output.status.success(),
            "curl {path} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let status = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap();
        let body = std::fs::read(&out).unwrap_or_default();
        let _ = std::fs::remove_file(&out);
        // With -I curl writes the head to the file: the body of a HEAD is empty.
        (status, if method == "HEAD" { Vec::new() } else { body })
    }

    /// The Client's response for `path` with `headers`, read to the end.
    fn fetch(
        &self,
        client: &Client,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (Response, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let mut resp = client
            .send(req.body(Body::empty()).unwrap())
            .unwrap_or_else(|e| panic!("{method} {}: {e:?}", self.url(path)));
        let body = resp.body_mut().read_all().unwrap();
        (resp, body)
    }
}

fn tempfile(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wirepool-interop-{}-{name}", std::process::id()))
}

/// Collects the checks of one run: each prints a line; failures are kept for the end.
struct Checks {
    scheme: &'static str,
    failed: Vec<String>,
    passed: usize,
}

impl Checks {
    fn check(&mut self, what: &str, ok: bool, detail: String) {
        let mark = if ok { "ok  " } else { "FAIL" };
        println!("interop {} {mark} {what}: {detail}", self.scheme);
        if ok {
            self.passed += 1;
        } else {
            self.failed.push(format!("{what}: {detail}"));
        }
    }

    fn finish(self) {
        println!(
            "interop {}: {} passed, {} failed",
            self.scheme,
            self.passed,
            self.failed.len()
        );
        assert!(
            self.failed.is_empty(),
            "interop {} failures:\n{}",
            self.scheme,
            self.failed.join("\n")
        );
    }
}

fn file(root: &Path, path: &str) -> Vec<u8> {
    std::fs::read(root.join(path.trim_start_matches('/'))).unwrap()
}

fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn run(t: &Target, scheme: &'static str) {
    let mut checks = Checks {
        scheme,
        failed: Vec::new(),
        passed: 0,
    };
    // Reachable at all: a clear failure instead of a cascade.
    let client = t.client();
    if let Err(e) = client.get(t.url("/small.txt")).send() {
        panic!("{} does not answer: {e:?}", t.base);
    }
    client.close_idle();

    // Static files: identical to the file and to curl's bytes.
    for path in ["/small.txt", "/mid-1m.bin", "/big-32m.bin"] {
        let client = t.client();
        let started = Instant::now();
        let (resp, body) = t.fetch(&client, "GET", path, &[]);
        let took = started.elapsed();
        let on_disk = file(&t.root, path);
        let (curl_status, curl_body) = t.curl("GET", path, &[]);
        checks.check(
            &format!("GET {path}"),
            resp.status() == 200 && curl_status == 200 && body == on_disk && body == curl_body,
            format!(
                "{} bytes in {took:.1?}, status {} (curl {curl_status}), same as the file: {}, \
                 same as curl: {}",
                body.len(),
                resp.status(),
                body == on_disk,
                body == curl_body
            ),
        );
    }

    // Chunked: server-side includes and gzip make nginx send chunks.
    for (path, headers) in [
        ("/ssi/page.shtml", &[][..]),
        ("/text.txt", &[("Accept-Encoding", "gzip")][..]),
    ] {
        let client = t.client();
        let (resp, body) = t.fetch(&client, "GET", path, headers);
        let te = header(&resp, "transfer-encoding");
        let (curl_status, curl_body) = t.curl("GET", path, headers);
        checks.check(
            &format!("GET {path} {headers:?}"),
            resp.status() == 200 && curl_status == 200 && te == "chunked" && body == curl_body,
            format!(
                "Transfer-Encoding {te:?}, Content-Encoding {:?}, {} bytes, same as curl: {}",
                header(&resp, "content-encoding"),
                body.len(),
                body == curl_body
            ),
        );
    }
    let expanded = b"before\nincluded part\nafter\n".to_vec();
    let (_, body) = t.fetch(&t.client(), "GET", "/ssi/page.shtml", &[]);
    checks.check(
        "server-side include expanded",
        body == expanded,
        format!("{:?}", String::from_utf8_lossy(&body)),
    );

    // HEAD, 204 and 304 have no body, and the connection goes on after each (one
    // connection per keepalive_requests exchanges at most, so a fresh client per pair).
    let big = file(&t.root, "/big-32m.bin");
    {
        let client = t.client();
        let (resp, body) = t.fetch(&client, "HEAD", "/big-32m.bin", &[]);
        let (curl_status, _) = t.curl("HEAD", "/big-32m.bin", &[]);
        let length = header(&resp, "content-length");
        let (next, next_body) = t.fetch(&client, "GET", "/small.txt", &[]);
        checks.check(
            "HEAD /big-32m.bin, then GET on the same connection",
            resp.status() == 200
                && curl_status == 200
                && body.is_empty()
                && length == big.len().to_string()
                && next.info().reused
                && next_body == file(&t.root, "/small.txt"),
            format!(
                "status {} (curl {curl_status}), Content-Length {length}, body {} bytes; the \
                 GET after it reused the connection: {}",
                resp.status(),
                body.len(),
                next.info().reused
            ),
        );
    }
    {
        let client = t.client();
        let (resp, body) = t.fetch(&client, "GET", "/nocontent", &[]);
        let (curl_status, curl_body) = t.curl("GET", "/nocontent", &[]);
        let (next, _) = t.fetch(&client, "GET", "/small.txt", &[]);
        checks.check(
            "GET /nocontent (204), then GET on the same connection",
            resp.status() == 204
                && curl_status == 204
                && body.is_empty()
                && curl_body.is_empty()
                && next.info().reused,
            format!(
                "status {} (curl {curl_status}), body {} bytes, reused after it: {}",
                resp.status(),
                body.len(),
                next.info().reused
            ),
        );
    }
    {
        let client = t.client();
        let (resp, _) = t.fetch(&client, "GET", "/mid-1m.bin", &[]);
        let etag = header(&resp, "etag");
        let headers = [("If-None-Match", etag.as_str())];
        let (resp, body) = t.fetch(&client, "GET", "/mid-1m.bin", &headers);
        let (curl_status, curl_body) = t.curl("GET", "/mid-1m.bin", &headers);
        checks.check(
            "GET /mid-1m.bin with If-None-Match (304)",
            !etag.is_empty()
                && resp.status() == 304
                && curl_status == 304
                && body.is_empty()
                && curl_body.is_empty()
                && resp.info().reused,
            format!(
                "ETag {etag}, status {} (curl {curl_status}), body {} bytes, on the reused \
                 connection: {}",
                resp.status(),
                body.len(),
                resp.info().reused
            ),
        );
    }

    // keepalive_requests: the server says `Connection: close` on the last allowed
    // response; the pool dials exactly once per that many requests and never retries.
    {
        let client = t.client();
        let n = 4 * t.keepalive_requests + 1;
        let small = file(&t.root, "/small.txt");
        let mut wrong = 0;
        for _ in 0..n {
            let (_, body) = t.fetch(&client, "GET", "/small.txt", &[]);
            wrong += usize::from(body != small);
        }
        let s = client.stats().unwrap().total;
        let dials = n.div_ceil(t.keepalive_requests);
        checks.check(
            &format!("{n} GETs with keepalive_requests {}", t.keepalive_requests),
            wrong == 0
                && s.dials == dials
                && s.retries == 0
                && s.closes.not_reusable_by.server_sent_close == dials - 1,
            format!(
                "{wrong} wrong bodies, dials {} (expected {dials}), reuses {}, retries {}, \
                 closes after Connection: close {}",
                s.dials, s.reuses, s.retries, s.closes.not_reusable_by.server_sent_close
            ),
        );
    }

    // keepalive_timeout: requests spaced past it find their idle connection closed by
    // the server; each dials anew without an error and without a retry.
    {
        let client = t.client();
        let spacing = t.keepalive_timeout + Duration::from_millis(600);
        let small = file(&t.root, "/small.txt");
        let mut fine = 0;
        for i in 0..3 {
            if i > 0 {
                std::thread::sleep(spacing);
            }
            let (resp, body) = t.fetch(&client, "GET", "/small.txt", &[]);
            fine += usize::from(body == small && !resp.info().reused);
        }
        let s = client.stats().unwrap().total;
        checks.check(
            &format!(
                "3 GETs spaced {spacing:?} apart (keepalive_timeout {:?})",
                t.keepalive_timeout
            ),
            fine == 3 && s.dials == 3 && s.retries == 0 && s.closes.server_close == 2,
            format!(
                "{fine} fine on a fresh connection, dials {}, retries {}, idle connections \
                 closed by the server {}",
                s.dials, s.retries, s.closes.server_close
            ),
        );
    }

    // Many threads through one Client, with the server closing every few requests.
    {
        let client = t.client();
        let files: Vec<(&str, Vec<u8>)> = ["/small.txt", "/mid-1m.bin", "/ssi/page.shtml"]
            .into_iter()
            .map(|p| {
                let bytes = if p.starts_with("/ssi") {
                    expanded.clone()
                } else {
                    file(&t.root, p)
                };
                (p, bytes)
            })
            .collect();
        let started = Instant::now();
        let wrong: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|w| {
                    let (client, files) = (&client, &files);
                    s.spawn(move || {
                        let mut wrong = 0;
                        for i in 0..30 {
                            let (path, want) = &files[(w + i) % files.len()];
                            match client.get(t.url(path)).send().and_then(|r| r.bytes()) {
                                Ok(body) if body == *want => {}
                                _ => wrong += 1,
                            }
                        }
                        wrong
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        let s = client.stats().unwrap().total;
        checks.check(
            "16 threads x 30 GETs through one Client",
            wrong == 0 && s.requests == 480,
            format!(
                "{wrong} wrong or failed in {:.1?}; dials {} reuses {} retries {}",
                started.elapsed(),
                s.dials,
                s.reuses,
                s.retries
            ),
        );
    }
    checks.finish();
}

/// Through the real proxy: static files, chunked responses, over plain HTTP (absolute
/// form) and HTTPS (a `CONNECT` tunnel, the origin's certificate checked), the same
/// bytes as `curl --proxy`, nothing retried.
fn run_through_proxy(t: &Target, scheme: &'static str) {
    let mut checks = Checks {
        scheme,
        failed: Vec::new(),
        passed: 0,
    };
    let client = t.client();
    if let Err(e) = client
        .get(t.url("/small.txt"))
        .send()
        .and_then(|r| r.bytes())
    {
        panic!("{} through {:?} does not answer: {e:?}", t.base, t.proxy);
    }
    for (path, headers) in [
        ("/small.txt", &[][..]),
        ("/mid-1m.bin", &[][..]),
        ("/big-32m.bin", &[][..]),
        ("/ssi/page.shtml", &[][..]),
        ("/text.txt", &[("Accept-Encoding", "gzip")][..]),
    ] {
        let (resp, body) = t.fetch(&client, "GET", path, headers);
        let (curl_status, curl_body) = t.curl("GET", path, headers);
        let on_disk =
            (!path.starts_with("/ssi") && headers.is_empty()).then(|| file(&t.root, path));
        checks.check(
            &format!("GET {path} {headers:?}"),
            resp.status() == 200
                && curl_status == 200
                && body == curl_body
                && on_disk.as_ref().map_or(true, |f| *f == body),
            format!(
                "{} bytes, status {} (curl {curl_status}), Transfer-Encoding {:?}, same as curl: \
                 {}, same as the file: {:?}",
                body.len(),
                resp.status(),
                header(&resp, "transfer-encoding"),
                body == curl_body,
                on_disk.map(|f| f == body)
            ),
        );
    }
    let s = client.stats().unwrap().total;
    checks.check(
        "pool counters",
        s.requests == 6 && s.retries == 0,
        format!(
            "requests {} dials {} reuses {} retries {}",
            s.requests, s.dials, s.reuses, s.retries
        ),
    );
    checks.finish();
}

#[test]
#[ignore = "needs the nginx and tinyproxy that .ci/run starts (WIREPOOL_INTEROP_*)"]
fn nginx_through_tinyproxy() {
    let proxy = env("WIREPOOL_INTEROP_PROXY");
    let mut plain = target("WIREPOOL_INTEROP_HTTP", false);
    plain.proxy = Some(proxy.clone());
    run_through_proxy(&plain, "http via proxy");
    let mut tls = target("WIREPOOL_INTEROP_HTTPS", true);
    tls.proxy = Some(proxy);
    run_through_proxy(&tls, "https via CONNECT");
}

#[test]
#[ignore = "needs the nginx that .ci/run starts (WIREPOOL_INTEROP_*)"]
fn nginx_plain_http() {
    run(&target("WIREPOOL_INTEROP_HTTP", false), "http");
}

#[test]
#[ignore = "needs the nginx that .ci/run starts (WIREPOOL_INTEROP_*)"]
fn nginx_https() {
    run(&target("WIREPOOL_INTEROP_HTTPS", true), "https");
}
