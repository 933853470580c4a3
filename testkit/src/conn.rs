//! One accepted connection: reading requests, writing scripted responses, faults.
//!
//! Reading keeps every byte it received but has not yet handed out in `pending`, so
//! pipelined requests come out one at a time, and a request that fails to parse stays
//! there for the error message.
//!
//! A connection accepted by a [`TlsTestServer`](crate::tls::TlsTestServer) carries a rustls
//! `ServerConnection` between the socket and all of this: every read and write goes through
//! it, the handshake runs on the first one, and [`ServerConn::close`] sends `close_notify`
//! first. Nothing else changes, so every [`Script`](crate::Script) runs over TLS as it is.

use super::PATTERN_PERIOD;
use super::{
    pattern_block, response_bytes, show, ServerLimits, Shared, HEAD_LIMIT_BYTES, IO_TIMEOUT,
};
use crate::tls::{Handshake, HandshakeKind};
use rustls::{ServerConfig, ServerConnection};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The longest chunk-size or trailer line accepted in a chunked request body.
const LINE_LIMIT_BYTES: usize = 4096;

/// A request as the server read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Index of the connection it came on (0 for the first accepted connection).
    pub conn: usize,
    /// Method as sent, e.g. `GET`.
    pub method: String,
    /// Request target as sent, e.g. `/a?b` or `http://host/a` for a proxy request.
    pub target: String,
    /// Header fields in order, names as sent (not lowercased), values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body with any chunked framing removed.
    pub body: Vec<u8>,
    /// Every byte of the request as it arrived: head, then body with its framing.
    pub raw: Vec<u8>,
}

impl RecordedRequest {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A request head read by [`ServerConn::read_head`], its body not read yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Index of the connection it came on.
    pub conn: usize,
    /// Method as sent.
    pub method: String,
    /// Request target as sent.
    pub target: String,
    /// Header fields in order, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The head's bytes, up to and including the empty line.
    pub raw: Vec<u8>,
}

impl RequestHead {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the client asked for `100 Continue` before sending its body.
    pub fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why a request could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The client closed before sending any byte of a request, or the server is
    /// stopping, or this side already closed the connection.
    Closed,
    /// The client closed in the middle of a request.
    Truncated,
    /// Nothing arrived within the connection's I/O timeout ([`IO_TIMEOUT`] by default).
    Timeout,
    /// The bytes are not an HTTP/1.1 request this server understands.
    Malformed(String),
    /// Another socket error, such as a reset from the client.
    Io(io::ErrorKind),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Closed => f.write_str("connection closed before a request"),
            ReadError::Truncated => f.write_str("connection closed in the middle of a request"),
            ReadError::Timeout => f.write_str("timed out waiting for request bytes"),
            ReadError::Malformed(why) => write!(f, "malformed request: {why}"),
            ReadError::Io(kind) => write!(f, "socket error: {kind}"),
        }
    }
}

/// How a request body is delimited (RFC 9112 §6.3, request side).
enum BodyFraming {
    Empty,
    Length(usize),
    Chunked,
}

/// One accepted connection, handed to the server's handler.
///
/// Writes ignore errors (the client under test may be gone; that is often the point),
/// reads report them. Once [`close`](Self::close) or [`reset`](Self::reset) ran, reads
/// return [`ReadError::Closed`] and writes do nothing.
///
/// On a TLS connection (from a [`TlsTestServer`](crate::tls::TlsTestServer)) the same
/// methods read and write plaintext through rustls; the handshake runs on the first read
/// or write (or an explicit [`handshake`](Self::handshake)), so a handler that does
/// neither leaves the client's `ClientHello` unanswered.
pub struct ServerConn {
    index: usize,
    /// `None` once this side closed the connection.
    stream: Option<TcpStream>,
    /// The TLS layer, on connections of a TLS server.
    tls: Option<Box<TlsLayer>>,
    /// Bytes received and not yet handed out as part of a request.
    pending: Vec<u8>,
    shared: Arc<Shared>,
}

/// The server side of TLS on one connection, and what became of its handshake.
struct TlsLayer {
    session: ServerConnection,
    /// Set once the handshake finished or failed (and was recorded on the server).
    outcome: Option<Result<Handshake, String>>,
}

impl fmt::Debug for ServerConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConn")
            .field("index", &self.index)
            .field("open", &self.stream.is_some())
            .field("tls", &self.tls.as_ref().map(|t| &t.outcome))
            .field("pending", &show(&self.pending))
            .finish_non_exhaustive()
    }
}

impl ServerConn {
    /// Counts and registers a freshly accepted connection; `None` if the server is
    /// stopping (the connection is then closed at once). With `tls`, the connection
    /// speaks TLS with that configuration (the handshake runs on first use).
    pub(super) fn register(
        stream: TcpStream,
        shared: &Arc<Shared>,
        tls: Option<&Arc<ServerConfig>>,
    ) -> Option<ServerConn> {
        let tls = match tls {
            None => None,
            Some(config) => Some(Box::new(TlsLayer {
                session: ServerConnection::new(Arc::clone(config)).ok()?,
                outcome: None,
            })),
        };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let clone = stream.try_clone().ok()?;
        let index = shared.update(|s| {
            if s.stopping {
                return None;
            }
            let index = s.connections;
            s.connections += 1;
            s.open += 1;
            s.live.insert(index, clone);
            Some(index)
        })?;
        Some(ServerConn {
            index,
            stream: Some(stream),
            tls,
            pending: Vec::new(),
            shared: Arc::clone(shared),
        })
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// This connection's index: 0 for the first connection the server accepted.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The client's address, while the connection is open.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.stream.as_ref()?.peer_addr().ok()
    }

    /// The socket itself, for scripts this type has no method for. On a TLS connection
    /// this is the ciphertext side: bytes written here bypass TLS.
    pub fn stream(&self) -> Option<&TcpStream> {
        self.stream.as_ref()
    }

    /// Replaces [`IO_TIMEOUT`] for this connection's reads and writes.
    pub fn set_io_timeout(&mut self, timeout: Duration) {
        if let Some(stream) = &self.stream {
            let _ = stream.set_read_timeout(Some(timeout));
            let _ = stream.set_write_timeout(Some(timeout));
        }
    }

    /// Whether the server is being dropped; long scripts may check it to end early.
    pub fn is_server_stopping(&self) -> bool {
        self.shared.is_stopping()
    }

    // ---- reading -------------------------------------------------------------------

    /// Reads one whole request (head and body) and records it. `None` on EOF before a
    /// request, on a timeout, a socket error or bytes that are not a request; use
    /// [`try_read_request`](Self::try_read_request) to know which.
    pub fn read_request(&mut self) -> Option<RecordedRequest> {
        self.try_read_request().ok()
    }

    /// Reads one whole request (head and body) and records it.
    pub fn try_read_request(&mut self) -> Result<RecordedRequest, ReadError> {
        let head = self.read_head()?;
        self.read_body(head)
    }

    /// Reads one request head, leaving its body unread: for `Expect: 100-continue`, or
    /// to answer before the body arrives. Finish with [`read_body`](Self::read_body),
    /// which records the request.
    pub fn read_head(&mut self) -> Result<RequestHead, ReadError> {
        let end = match self.find(0, b"\r\n\r\n", HEAD_LIMIT_BYTES) {
            Err(ReadError::Truncated) if self.pending.is_empty() => Err(ReadError::Closed),
            other => other,
        }?;
        let raw: Vec<u8> = self.pending.drain(..end).collect();
        parse_head(self.index, raw).map_err(ReadError::Malformed)
    }

    /// Reads the body that belongs to `head` (Content-Length or chunked; none if
    /// neither is present) and records the whole request.
    pub fn read_body(&mut self, head: RequestHead) -> Result<RecordedRequest, ReadError> {
        let (end, body) = match body_framing(&head).map_err(ReadError::Malformed)? {
            BodyFraming::Empty => (0, Vec::new()),
            BodyFraming::Length(len) => {
                self.fill_to(len)?;
                (len, self.pending[..len].to_vec())
            }
            BodyFraming::Chunked => self.scan_chunked()?,
        };
        let mut raw = head.raw;
        raw.extend(self.pending.drain(..end));
        let request = RecordedRequest {
            conn: head.conn,
            method: head.method,
            target: head.target,
            headers: head.headers,
            body,
            raw,
        };
        self.shared.update(|s| {
            s.requests += 1;
            if !s.forget_requests {
                s.recorded.push(request.clone());
            }
        });
        Ok(request)
    }

    /// Reads the next request and asserts that its bytes (head and body, as sent) are
    /// exactly `expected`. Panics with both byte strings shown otherwise.
    pub fn expect_request_bytes(&mut self, expected: &[u8]) -> RecordedRequest {
        let index = self.index;
        let head = match self.read_head() {
            Ok(head) => head,
            Err(e) => panic!(
                "connection {index}: expected request {:?}, but {e}; received: {:?}",
                show(expected),
                show(&self.pending)
            ),
        };
        let head_raw = head.raw.clone();
        match self.read_body(head) {
            Ok(request) => {
                assert!(
                    request.raw == expected,
                    "connection {index}: request bytes differ\nexpected: {:?}\n     got: {:?}",
                    show(expected),
                    show(&request.raw)
                );
                request
            }
            Err(e) => panic!(
                "connection {index}: expected request {:?}, but {e}; received: {:?}{:?}",
                show(expected),
                show(&head_raw),
                show(&self.pending)
            ),
        }
    }

    /// Reads exactly `len` raw bytes, with no HTTP parsing and no recording: for bytes
    /// that are not a request, or to check what a client sent after a head.
    pub fn read_raw(&mut self, len: usize) -> Result<Vec<u8>, ReadError> {
        self.fill_to(len)?;
        Ok(self.pending.drain(..len).collect())
    }

    /// Discards everything the client sends until it closes (or the server stops) and
    /// returns those bytes: "hold the connection open, never answer", which also shows
    /// whether the client sent anything more.
    pub fn wait_for_client_close(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(ReadError::Timeout) if !self.is_server_stopping() => {}
                Err(_) => break,
            }
        }
        std::mem::take(&mut self.pending)
    }

    /// The bytes received and not yet handed out, or else the next bytes to arrive (one
    /// read, within the I/O timeout): for relaying a byte stream (a proxy's tunnel).
    /// An empty vector is EOF.
    pub fn read_some(&mut self) -> Result<Vec<u8>, ReadError> {
        if self.pending.is_empty() {
            self.fill()?;
        }
        Ok(std::mem::take(&mut self.pending))
    }

    /// Reads once more from the socket into `pending`; `Ok(0)` is EOF.
    fn fill(&mut self) -> Result<usize, ReadError> {
        if self.stream.is_none() {
            return Err(ReadError::Closed);
        }
        if !self.is_tls_ready() {
            return Err(self.handshake_read_error());
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.read_plain(&mut buf) {
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A TLS client that closes without close_notify: the end of its requests
                // all the same (clients often skip close_notify when closing idle).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ReadError::Timeout)
                }
                Err(e) => return Err(ReadError::Io(e.kind())),
            }
        }
    }

    /// One read of plaintext: from the socket, or through TLS.
    fn read_plain(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        match self.tls.as_deref_mut() {
            None => stream.read(buf),
            Some(tls) => rustls::Stream::new(&mut tls.session, stream).read(buf),
        }
    }

    /// Reads until `pending` holds at least `len` bytes.
    fn fill_to(&mut self, len: usize) -> Result<(), ReadError> {
        while self.pending.len() < len {
            if self.fill()? == 0 {
                return Err(ReadError::Truncated);
            }
        }
        Ok(())
    }

    /// Reads until `delim` occurs in `pending` at or after `from`; returns the index
    /// just past it. More than `limit` bytes after `from` without it is malformed.
    fn find(&mut self, from: usize, delim: &[u8], limit: usize) -> Result<usize, ReadError> {
        let mut searched = from;
        loop {
            if let Some(at) = self.pending[searched..]
                .windows(delim.len())
                .position(|w| w == delim)
            {
                return Ok(searched + at + delim.len());
            }
            if self.pending.len() - from > limit {
                return Err(ReadError::Malformed(format!(
                    "no {:?} within {limit} bytes",
                    show(delim)
                )));
            }
            // The delimiter may straddle what we have and what comes next.
            searched = self.pending.len().saturating_sub(delim.len() - 1).max(from);
            if self.fill()? == 0 {
                return Err(ReadError::Truncated);
            }
        }
    }

    /// Reads a whole chunked body at the start of `pending` without consuming it;
    /// returns its length on the wire and the decoded body.
    fn scan_chunked(&mut self) -> Result<(usize, Vec<u8>), ReadError> {
        let mut at = 0;
        let mut body = Vec::new();
        loop {
            let line_end = self.find(at, b"\r\n", LINE_LIMIT_BYTES)?;
            let size =
                parse_chunk_size(&self.pending[at..line_end - 2]).map_err(ReadError::Malformed)?;
            at = line_end;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    let end = self.find(at, b"\r\n", LINE_LIMIT_BYTES)?;
                    let empty = end - at == 2;
                    at = end;
                    if empty {
                        return Ok((at, body));
                    }
                }
            }
            self.fill_to(at + size + 2)?;
            body.extend_from_slice(&self.pending[at..at + size]);
            if &self.pending[at + size..at + size + 2] != b"\r\n" {
                return Err(ReadError::Malformed(
                    "chunk data not followed by CRLF".into(),
                ));
            }
            at += size + 2;
        }
    }

    // ---- writing -------------------------------------------------------------------

    /// Writes `bytes`, ignoring errors: the client may be gone.
    pub fn write(&mut self, bytes: &[u8]) {
        let _ = self.try_write(bytes);
    }

    /// Writes all of `bytes`, reporting errors.
    pub fn try_write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.write_plain(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.flush_tls()
    }

    /// One write of plaintext: to the socket, or through TLS (handshaking first).
    fn write_plain(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if !self.is_tls_ready() {
            return Err(io::Error::other("the TLS handshake failed"));
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        match self.tls.as_deref_mut() {
            None => stream.write(bytes),
            Some(tls) => rustls::Stream::new(&mut tls.session, stream).write(bytes),
        }
    }

    /// Writes out every TLS record rustls still holds (a no-op without TLS).
    fn flush_tls(&mut self) -> io::Result<()> {
        match (self.stream.as_mut(), self.tls.as_deref_mut()) {
            (Some(stream), Some(tls)) => flush_session(&mut tls.session, stream),
            _ => Ok(()),
        }
    }

    /// Writes a complete response in one write: `headers`, a `Content-Length` unless
    /// `headers` frame the body themselves (see [`response_bytes`]), then `body`.
    pub fn respond(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        self.write(&response_bytes(status, headers, body));
    }

    /// Writes a `Transfer-Encoding: chunked` response, one write per chunk, then the
    /// last chunk. Empty chunks are skipped (a zero-size chunk would end the body).
    pub fn respond_chunked(&mut self, status: u16, chunks: &[&[u8]]) {
        self.write(&response_bytes(
            status,
            &[("Transfer-Encoding", "chunked")],
            b"",
        ));
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
            self.write(&framed);
        }
        self.write(b"0\r\n\r\n");
    }

    /// Writes the interim `HTTP/1.1 100 Continue` response.
    pub fn send_continue(&mut self) {
        self.write(b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    /// Writes `bytes` one byte per write, waiting `per_byte` between bytes. Stops early
    /// if a write fails or the server stops.
    pub fn trickle(&mut self, bytes: &[u8], per_byte: Duration) {
        for (i, byte) in bytes.iter().enumerate() {
            if i > 0 && !self.stall(per_byte) {
                return;
            }
            if self.try_write(std::slice::from_ref(byte)).is_err() {
                return;
            }
        }
    }

    /// Sends `200` with a body of `len` bytes of [`pattern`](super::pattern), generated
    /// on the fly, as fast as the client reads. Stops when the client goes away, a write
    /// blocks longer than the I/O timeout, or the server stops; returns the body bytes
    /// written. Large `len` (1 GiB) serves slow-reader and drain-limit tests.
    pub fn respond_with_pattern(&mut self, len: u64) -> u64 {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
        if self.try_write(head.as_bytes()).is_err() {
            return 0;
        }
        let block = pattern_block();
        let mut sent = 0u64;
        while sent < len && !self.shared.is_stopping() {
            if self.stream.is_none() {
                break;
            }
            let start = (sent % PATTERN_PERIOD) as usize;
            let n = (len - sent).min((block.len() - start) as u64) as usize;
            match self.write_plain(&block[start..start + n]) {
                Ok(0) => break,
                Ok(written) => sent += written as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = self.flush_tls();
        sent
    }

    // ---- time and endings -------------------------------------------------------------

    /// Waits `d` without reading or writing; `Duration::MAX` waits until the server is
    /// dropped. Returns false if it woke early because the server is stopping.
    pub fn stall(&mut self, d: Duration) -> bool {
        self.shared.sleep(d)
    }

    /// Closes this side in order: a FIN after everything written so far (on a TLS
    /// connection whose handshake finished, `close_notify` first: a clean TLS close).
    /// (If the client sent bytes that were never read, the kernel answers with a RST
    /// instead; read them first if that matters.)
    pub fn close(&mut self) {
        self.send_close_notify();
        self.close_without_notify();
    }

    /// Closes with a FIN and, on a TLS connection, *without* `close_notify`: to the
    /// client the stream may have been cut, which for a close-delimited body is a
    /// truncation. On a plain connection the same as [`close`](Self::close).
    pub fn close_without_notify(&mut self) {
        if let Some(stream) = &self.stream {
            let _ = stream.shutdown(Shutdown::Write);
        }
        self.release();
    }

    /// Sends TLS `close_notify` (after the handshake finished; best effort) without
    /// closing the socket. Nothing on a plain connection.
    pub fn send_close_notify(&mut self) {
        let Some(tls) = self.tls.as_deref_mut() else {
            return;
        };
        if self.stream.is_none() || tls.session.is_handshaking() {
            return;
        }
        tls.session.send_close_notify();
        let _ = self.flush_tls();
    }

    /// Aborts the connection: SO_LINGER 0, then close, so the kernel sends a RST and the
    /// client's next read or write fails with ECONNRESET (or EPIPE).
    pub fn reset(&mut self) {
        if let Some(stream) = &self.stream {
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
        }
        self.release();
    }

    /// Answers every request with `200` and `body` until the client closes, the
    /// connection errs, or the server stops. Like a real server, it answers `HEAD`
    /// without the body bytes, and closes after answering a request that carried
    /// `Connection: close` (echoing the header).
    pub fn serve_keep_alive(&mut self, body: &[u8]) {
        while let Some(request) = self.read_request() {
            let client_closes = request
                .header("connection")
                .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
            let headers: &[(&str, &str)] = if client_closes {
                &[("Connection", "close")]
            } else {
                &[]
            };
            let mut response = response_bytes(200, headers, body);
            if request.method == "HEAD" {
                response.truncate(response.len() - body.len());
            }
            self.write(&response);
            if client_closes {
                self.close();
                return;
            }
        }
    }

    /// Serves like a server with keep-alive limits (see [`ServerLimits`]): answers
    /// requests with `200` and `body` until it reaches `limits.max_requests` or the
    /// connection sits idle for `limits.idle_timeout`, then closes with a FIN and no
    /// `Connection: close` on the last response — the *silent* close of Node's 5 s
    /// keep-alive, of load balancers and of servers with a request cap. With
    /// `limits.hint`, every response carries `Keep-Alive: timeout=T, max=M` (`M` counting
    /// down the requests left, as Apache does). A request with `Connection: close` is
    /// answered with `Connection: close` and ends the connection, as in
    /// [`serve_keep_alive`](Self::serve_keep_alive).
    pub fn serve_with_limits(&mut self, body: &[u8], limits: ServerLimits) {
        let mut served = 0usize;
        loop {
            let idle_since = std::time::Instant::now();
            if let Some(idle) = limits.idle_timeout {
                self.set_io_timeout(idle.saturating_add(limits.close_delay));
            }
            let Some(request) = self.read_request() else {
                break;
            };
            if let Some(idle) = limits.idle_timeout {
                self.set_io_timeout(IO_TIMEOUT);
                if idle_since.elapsed() > idle.saturating_sub(limits.close_delay)
                    && !limits.close_delay.is_zero()
                {
                    break; // "arrived" after the server had closed: no answer
                }
            }
            served += 1;
            let client_closes = request
                .header("connection")
                .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
            let mut headers: Vec<(&str, String)> = Vec::new();
            if client_closes {
                headers.push(("Connection", "close".to_string()));
            } else if limits.hint {
                let mut value = Vec::new();
                if let Some(idle) = limits.idle_timeout {
                    value.push(format!("timeout={}", idle.as_secs()));
                }
                if let Some(max) = limits.max_requests {
                    value.push(format!("max={}", max.saturating_sub(served)));
                }
                if !value.is_empty() {
                    headers.push(("Keep-Alive", value.join(", ")));
                }
            }
            let borrowed: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let mut response = response_bytes(200, &borrowed, body);
            if request.method == "HEAD" {
                response.truncate(response.len() - body.len());
            }
            self.write(&response);
            if client_closes {
                break;
            }
            if limits.max_requests.is_some_and(|max| served >= max) {
                if !limits.close_delay.is_zero() {
                    self.stall(limits.close_delay);
                }
                break;
            }
        }
        self.close();
    }

    // ---- TLS -----------------------------------------------------------------------------

    /// Writes `plaintext` (through TLS on a TLS connection) followed by `raw` bytes that
    /// bypass TLS, in one socket write, so that the client reads both at once: for a
    /// peer that corrupts the stream right after a valid response.
    pub fn write_then_raw(&mut self, plaintext: &[u8], raw: &[u8]) {
        if !self.is_tls_ready() {
            return;
        }
        let mut wire = Vec::new();
        match self.tls.as_deref_mut() {
            None => wire.extend_from_slice(plaintext),
            Some(tls) => {
                let _ = tls.session.writer().write_all(plaintext);
                while tls.session.wants_write() {
                    if tls.session.write_tls(&mut wire).is_err() {
                        break;
                    }
                }
            }
        }
        wire.extend_from_slice(raw);
        if let Some(stream) = self.stream.as_mut() {
            let _ = stream.write_all(&wire);
        }
    }

    /// Sends a TLS 1.3 `KeyUpdate` (asking the client to update its keys too) now, as a
    /// server might before a connection goes idle. False on a plain connection, before
    /// the handshake, or with TLS 1.2 (which has no key updates).
    pub fn send_key_update(&mut self) -> bool {
        if !self.is_tls_ready() {
            return false;
        }
        let Some(tls) = self.tls.as_deref_mut() else {
            return false;
        };
        if tls.session.refresh_traffic_keys().is_err() {
            return false;
        }
        self.flush_tls().is_ok()
    }

    /// Sends a fatal TLS alert now, encrypted as any alert after the handshake is, and
    /// stops using TLS on this connection (the socket stays open: close or reset it
    /// next, or let the handler return).
    ///
    /// rustls has no call that sends an alert on demand, so this provokes one the way a
    /// real peer would meet it: a record that fails to decrypt is fed to the server's own
    /// session, which answers with `bad_record_mac` and refuses to go on. False on a
    /// plain connection or if the handshake did not finish.
    pub fn send_fatal_alert(&mut self) -> bool {
        if !self.is_tls_ready() {
            return false;
        }
        let Some(tls) = self.tls.as_deref_mut() else {
            return false;
        };
        // An application-data record (type 23, version 3.3) whose 32 bytes of "ciphertext"
        // cannot authenticate under the session's keys.
        let mut record = vec![23, 3, 3, 0, 32];
        record.extend_from_slice(&[0x5a; 32]);
        if tls.session.read_tls(&mut &record[..]).is_err() {
            return false;
        }
        if tls.session.process_new_packets().is_ok() {
            return false;
        }
        self.flush_tls().is_ok()
    }

    /// Whether this connection speaks TLS (it came from a
    /// [`TlsTestServer`](crate::tls::TlsTestServer)).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Runs the TLS handshake now if it has not run yet, and records its outcome on the
    /// server ([`TlsTestServer::handshakes`](crate::tls::TlsTestServer::handshakes) or
    /// [`handshake_failures`](crate::tls::TlsTestServer::handshake_failures)). Reads and
    /// writes call it for you. On a plain connection, `Err("not a TLS connection")`.
    /// A failed handshake sends rustls' alert to the client; the connection is then
    /// unusable (reads return an error, writes do nothing).
    pub fn handshake(&mut self) -> Result<Handshake, String> {
        let index = self.index;
        let Some(tls) = self.tls.as_deref_mut() else {
            return Err("not a TLS connection".to_owned());
        };
        if let Some(outcome) = &tls.outcome {
            return outcome.clone();
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("connection closed before the handshake".to_owned());
        };
        let mut failure = None;
        while tls.session.is_handshaking() {
            match tls.session.complete_io(stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(match e.kind() {
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                            "timed out waiting for the client's handshake".to_owned()
                        }
                        io::ErrorKind::UnexpectedEof => {
                            "the client closed during the handshake".to_owned()
                        }
                        _ => e.to_string(),
                    });
                    break;
                }
            }
        }
        let outcome = match failure {
            Some(why) => Err(why),
            None => {
                // The TLS 1.3 session tickets rustls queued at the end of the handshake.
                let _ = flush_session(&mut tls.session, stream);
                let session = &tls.session;
                Ok(Handshake {
                    conn: index,
                    kind: match session.handshake_kind() {
                        Some(rustls::HandshakeKind::Resumed) => HandshakeKind::Resumed,
                        _ => HandshakeKind::Full,
                    },
                    version: session
                        .protocol_version()
                        .map(|v| format!("{v:?}"))
                        .unwrap_or_default(),
                    client_cert: session.peer_certificates().is_some_and(|c| !c.is_empty()),
                    sni: session.server_name().map(str::to_owned),
                    alpn: session.alpn_protocol().map(<[u8]>::to_vec),
                })
            }
        };
        tls.outcome = Some(outcome.clone());
        self.shared.update(|s| match &outcome {
            Ok(handshake) => s.handshakes.push(handshake.clone()),
            Err(why) => s.handshake_failures.push((index, why.clone())),
        });
        if matches!(&outcome, Err(why) if !why.starts_with("timed out")) {
            linger(stream);
        }
        outcome
    }

    /// True on a plain connection, and on a TLS one whose handshake succeeded (running
    /// it if it has not run yet).
    fn is_tls_ready(&mut self) -> bool {
        self.tls.is_none() || self.handshake().is_ok()
    }

    /// The read error that stands for a failed handshake.
    fn handshake_read_error(&self) -> ReadError {
        match self.tls.as_ref().and_then(|t| t.outcome.as_ref()) {
            Some(Err(why)) if why.starts_with("timed out") => ReadError::Timeout,
            Some(Err(why)) if why.contains("closed") => ReadError::Closed,
            _ => ReadError::Io(io::ErrorKind::InvalidData),
        }
    }

    /// Closes the socket for good (both descriptors of it) and counts it closed.
    fn release(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let clone = self.shared.lock().live.remove(&self.index);
        // The socket closes with its last descriptor; only then is it counted closed.
        drop(clone);
        drop(stream);
        self.shared.update(|s| s.open -= 1);
    }
}

impl Drop for ServerConn {
    /// The handler returned: close as [`close`](ServerConn::close) does (with
    /// `close_notify` on TLS), unless the handler closed already.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.send_close_notify();
        }
        self.release();
    }
}

/// After a failed handshake (rustls has written its alert): FIN, then read and drop
/// what the client still sends until it closes, for at most [`LINGER`]. Closing with
/// unread bytes would make the kernel send a RST, which can destroy the alert before the
/// client reads it (with TLS 1.3 the client may already have sent its request).
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let mut buf = [0u8; 4096];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// How long [`linger`] waits for the client to close after a failed handshake.
const LINGER: Duration = Duration::from_secs(1);

/// Writes out every TLS record `session` holds.
fn flush_session(session: &mut ServerConnection, stream: &mut TcpStream) -> io::Result<()> {
    while session.wants_write() {
        session.write_tls(stream)?;
    }
    Ok(())
}

/// Parses the bytes of a request head (ending in the empty line) read on `conn`.
fn parse_head(conn: usize, raw: Vec<u8>) -> Result<RequestHead, String> {
    let text = std::str::from_utf8(&raw).map_err(|_| "head is not UTF-8".to_owned())?;
    let mut lines = text
        .strip_suffix("\r\n\r\n")
        .ok_or("head does not end in CRLF CRLF")?
        .split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {request_line:?}"));
    };
    if method.is_empty() || target.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(format!("bad request line {request_line:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(format!("bad header name in {line:?}"));
        }
        headers.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
    }
    let (method, target) = (method.to_owned(), target.to_owned());
    Ok(RequestHead {
        conn,
        method,
        target,
        headers,
        raw,
    })
}

/// The request body framing: chunked wins when Transfer-Encoding ends in it; otherwise
/// Content-Length (all copies must agree); otherwise no body.
fn body_framing(head: &RequestHead) -> Result<BodyFraming, String> {
    if let Some(te) = head.header("transfer-encoding") {
        let last = te.rsplit(',').next().unwrap_or_default().trim();
        return if last.eq_ignore_ascii_case("chunked") {
            Ok(BodyFraming::Chunked)
        } else {
            Err(format!("unsupported transfer-encoding {te:?}"))
        };
    }
    let mut length = None;
    for (name, value) in &head.headers {
        if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value
                .parse()
                .map_err(|_| format!("bad content-length {value:?}"))?;
            if length.is_some_and(|l| l != len) {
                return Err("conflicting content-length headers".into());
            }
            length = Some(len);
        }
    }
    Ok(length.map_or(BodyFraming::Empty, BodyFraming::Length))
}

/// Parses a chunk-size line (without CRLF), ignoring chunk extensions.
fn parse_chunk_size(line: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(line).map_err(|_| "chunk size not UTF-8".to_owned())?;
    let digits = text.split(';').next().unwrap_or_default().trim();
    usize::from_str_radix(digits, 16).map_err(|_| format!("bad chunk size {text:?}"))
}
