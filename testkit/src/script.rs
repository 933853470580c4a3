//! Ready-made connection scripts for the faults tests keep needing.
//!
//! Each [`Script`] variant is one server behaviour, run on every connection by
//! [`TestServer::scripted`](super::TestServer::scripted), or on chosen connections from
//! a handler of your own:
//!
//! ```ignore
//! // The first connection goes stale after one response; later ones are healthy.
//! let server = TestServer::start(|conn| match conn.index() {
//!     0 => Script::CloseAfterResponse(b"first").run(conn),
//!     _ => conn.serve_keep_alive(b"again"),
//! });
//! ```
//!
//! Scripts that leave the connection usable keep answering requests until the client
//! closes, so a test can check with [`TestServer::recorded`](super::TestServer::recorded)
//! whether the client wrongly sent another request on a poisoned connection.

use super::{response_bytes, ServerConn};
use std::time::Duration;

/// The `Content-Length` that [`Script::TruncatedBody`] and [`Script::ResetMidBody`]
/// announce.
pub const ANNOUNCED_LEN: usize = 1000;

/// The body bytes those two scripts actually send before closing or resetting.
pub const SENT_PREFIX: &[u8] = b"0123456789";

/// The bytes [`Script::GarbageAfterBody`] sends after a complete response.
pub const GARBAGE: &[u8] = b"HTTP/1.1 200 OK junk";

/// The body of the responses of scripts that take no body argument.
pub const SCRIPT_BODY: &[u8] = b"hello";

/// A scripted server behaviour for one connection; see each variant.
#[derive(Clone, Debug)]
pub enum Script {
    /// Answers requests with `200` and the body until the client closes: a healthy
    /// keep-alive server, the same as [`TestServer::keep_alive`](super::TestServer::keep_alive).
    KeepAlive(&'static [u8]),
    /// Answers one request with `200` and the body, framed for keep-alive (no
    /// `Connection: close`), then closes with a FIN: the connection the client pooled
    /// is dead when it comes to reuse it.
    CloseAfterResponse(&'static [u8]),
    /// Answers one request with `200` and the body, framed for keep-alive; when the
    /// client reuses the connection, reads its next request and closes without an
    /// answer (FIN). The reused connection fails before any response byte: the case
    /// in which an idempotent request is retried once on a fresh connection.
    StaleOnReuse(&'static [u8]),
    /// Answers one request with `200`, `Connection: close` and the body, then closes:
    /// the client must not pool the connection.
    ConnectionClose(&'static [u8]),
    /// Reads a request, announces `Content-Length: 1000` ([`ANNOUNCED_LEN`]), sends the
    /// 10 bytes of [`SENT_PREFIX`], then closes with a FIN: a truncated body.
    TruncatedBody,
    /// Like [`TruncatedBody`](Self::TruncatedBody) but ends with a RST: the client sees
    /// ECONNRESET in the middle of the body.
    ResetMidBody,
    /// Reads a request and resets at once: no response byte ever arrives, the case in
    /// which an idempotent request on a reused connection may be retried.
    ResetBeforeResponse,
    /// Reads a request and never answers; holds the connection until the client closes
    /// it or the server is dropped. For response-head and total timeouts.
    NeverAnswer,
    /// Answers each request with a valid `200` whose head is written one byte at a
    /// time, `per_byte` apart, then the body [`SCRIPT_BODY`] at once. For head timeouts
    /// and for parsers fed a byte at a time.
    TrickleHead {
        /// Pause between two bytes of the head.
        per_byte: Duration,
    },
    /// Answers each request with a valid `200` ([`SCRIPT_BODY`], Content-Length framing)
    /// followed in the same write by [`GARBAGE`]. The client must not reuse the
    /// connection: bytes are waiting where the next response should start.
    GarbageAfterBody,
    /// Answers each request with both `Content-Length: 5` and
    /// `Transfer-Encoding: chunked` (a smuggling vector): the client must refuse it.
    ContentLengthAndChunked,
    /// Answers each request with two different Content-Length headers (5 and 6) and a
    /// 5-byte body: ambiguous framing the client must refuse.
    ConflictingContentLengths,
    /// Reads a head; if it carries `Expect: 100-continue`, sends `100 Continue`; reads
    /// the body, then answers `200` echoing the body. Repeats until the client closes.
    ExpectContinue,
    /// Reads a head carrying `Expect: 100-continue` and answers `417 Expectation Failed`
    /// at once, without reading the body; then closes. The client must not send the
    /// body on this connection (or must not reuse it). The head alone is not a
    /// recorded request: [`TestServer::requests`](super::TestServer::requests) stays 0.
    RejectExpectation,
    /// Answers each request with a `200` whose body is `len` bytes of
    /// [`pattern`](super::pattern), generated on the fly and written as fast as the
    /// client reads (see [`ServerConn::respond_with_pattern`]). With `len` of a GiB, the
    /// slow-reader and drain-limit case; if the client reads it all, the connection
    /// stays usable.
    PatternBody {
        /// Body length in bytes.
        len: u64,
    },
}

impl Script {
    /// Runs this script on `conn`.
    pub fn run(&self, conn: &mut ServerConn) {
        match *self {
            Script::KeepAlive(body) => conn.serve_keep_alive(body),
            Script::CloseAfterResponse(body) => {
                if conn.read_request().is_some() {
                    conn.respond(200, &[], body);
                }
                conn.close();
            }
            Script::StaleOnReuse(body) => {
                if conn.read_request().is_some() {
                    conn.respond(200, &[], body);
                    if conn.read_request().is_some() {
                        conn.close();
                    }
                }
            }
            Script::ConnectionClose(body) => {
                if conn.read_request().is_some() {
                    conn.respond(200, &[("Connection", "close")], body);
                }
                conn.close();
            }
            Script::TruncatedBody | Script::ResetMidBody => {
                if conn.read_request().is_none() {
                    return;
                }
                let announced = ANNOUNCED_LEN.to_string();
                conn.write(&response_bytes(
                    200,
                    &[("Content-Length", &announced)],
                    SENT_PREFIX,
                ));
                if matches!(self, Script::ResetMidBody) {
                    conn.reset();
                } else {
                    conn.close();
                }
            }
            Script::ResetBeforeResponse => {
                if conn.read_request().is_some() {
                    conn.reset();
                }
            }
            Script::NeverAnswer => {
                if conn.read_request().is_some() {
                    conn.wait_for_client_close();
                }
            }
            Script::TrickleHead { per_byte } => {
                while conn.read_request().is_some() {
                    let response = response_bytes(200, &[], SCRIPT_BODY);
                    let (head, body) = response.split_at(response.len() - SCRIPT_BODY.len());
                    conn.trickle(head, per_byte);
                    conn.write(body);
                }
            }
            Script::GarbageAfterBody => {
                while conn.read_request().is_some() {
                    let mut response = response_bytes(200, &[], SCRIPT_BODY);
                    response.extend_from_slice(GARBAGE);
                    conn.write(&response);
                }
            }
            Script::ContentLengthAndChunked => {
                while conn.read_request().is_some() {
                    conn.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
                          5\r\nhello\r\n0\r\n\r\n",
                    );
                }
            }
            Script::ConflictingContentLengths => {
                while conn.read_request().is_some() {
                    conn.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                    );
                }
            }
            Script::ExpectContinue => loop {
                let Ok(head) = conn.read_head() else {
                    return;
                };
                if head.expects_continue() {
                    conn.send_continue();
                }
                let Ok(request) = conn.read_body(head) else {
                    return;
                };
                conn.respond(200, &[], &request.body);
            },
            Script::RejectExpectation => {
                if conn.read_head().is_ok() {
                    conn.respond(417, &[("Connection", "close")], b"");
                }
                conn.close();
            }
            Script::PatternBody { len } => {
                while conn.read_request().is_some() {
                    if conn.respond_with_pattern(len) < len {
                        return;
                    }
                }
            }
        }
    }
}
