//! `logging`: a middleware that logs every request, like a logging `RoundTripper` in Go.
//!
//! It wraps the Client's `send`: it notes the method and URL, lets the request go on
//! through the chain, then logs the status (or the error), whether the connection was
//! reused, and how long the call took until the response head arrived. Run it with no
//! arguments to see it against an embedded server, or give URLs.
//!
//! ```text
//! logging [URL...]
//! ```

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use testkit::TestServer;
use wirepool::http::Request;
use wirepool::{Body, Client, Error, Next, RequestOptions, Response};

/// The middleware: one log line per request on stderr.
fn log_requests(
    request: Request<Body>,
    opts: RequestOptions,
    next: Next<'_>,
) -> Result<Response, Error> {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let started = Instant::now();
    let result = next.run(request, opts);
    let elapsed_us = started.elapsed().as_micros();
    match &result {
        Ok(resp) => eprintln!(
            "{method} {uri} status={} reused={} head_us={elapsed_us}",
            resp.status().as_u16(),
            resp.info().reused
        ),
        Err(e) => eprintln!("{method} {uri} error=\"{e}\" after_us={elapsed_us}"),
    }
    result
}

fn main() -> ExitCode {
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    // No URL: an embedded keep-alive server (testkit's) answering 13 bytes.
    let server = urls
        .is_empty()
        .then(|| TestServer::keep_alive(b"hello, world!"));
    if let Some(s) = &server {
        urls = vec![s.url("/first"), s.url("/second"), s.url("/third")];
    }
    let client = match Client::builder().middleware(log_requests).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for url in &urls {
        let request = match Request::get(url.as_str()).body(Body::empty()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("logging: bad URL {url:?}: {e}");
                failed = true;
                continue;
            }
        };
        match client.send(request) {
            Ok(mut resp) => {
                let mut body = Vec::new();
                if let Err(e) = resp.body_mut().read_to_end(&mut body) {
                    eprintln!("logging: {url}: reading the body: {e}");
                    failed = true;
                }
            }
            Err(_) => failed = true, // the middleware logged it
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
