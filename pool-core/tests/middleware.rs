//! The middleware chain around `Client::send`: order, request rewriting, short-circuit.

use std::sync::{Arc, Mutex};

use testkit::TestServer;
use wirepool::http::{HeaderValue, Request};
use wirepool::{Body, Client, Error, ErrorKind, Next, RequestOptions, Response};

#[test]
fn chain_runs_outermost_first_and_can_rewrite_requests() {
    let server = TestServer::keep_alive(b"ok");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (Arc::clone(&log), Arc::clone(&log));
    let client = Client::builder()
        .middleware(
            move |req: Request<Body>, opts: RequestOptions, next: Next<'_>| {
                a.lock().unwrap().push("outer in");
                let resp = next.run(req, opts);
                a.lock().unwrap().push("outer out");
                resp
            },
        )
        .middleware(
            move |mut req: Request<Body>, opts: RequestOptions, next: Next<'_>| {
                b.lock().unwrap().push("inner in");
                req.headers_mut()
                    .insert("x-trace-id", HeaderValue::from_static("abc123"));
                let resp = next.run(req, opts);
                b.lock().unwrap().push("inner out");
                resp
            },
        )
        .build()
        .unwrap();
    let mut resp = client.get(&server.url("/m")).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(
        *log.lock().unwrap(),
        ["outer in", "inner in", "inner out", "outer out"]
    );
    assert_eq!(server.recorded()[0].header("x-trace-id"), Some("abc123"));
}

#[test]
fn middleware_can_answer_without_sending() {
    let server = TestServer::keep_alive(b"never");
    let client = Client::builder()
        .middleware(
            |req: Request<Body>,
             _opts: RequestOptions,
             _next: Next<'_>|
             -> Result<Response, Error> {
                assert_eq!(req.uri().path(), "/blocked");
                Err(Error::new(ErrorKind::Canceled))
            },
        )
        .build()
        .unwrap();
    let err = client.get(&server.url("/blocked")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Canceled);
    assert_eq!(server.connections(), 0, "nothing reached the server");
}
