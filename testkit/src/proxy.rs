//! An in-process HTTP forward proxy for tests: absolute-form requests and `CONNECT`
//! tunnels, optional Basic credentials, and the faults clients must survive (a refused
//! `CONNECT`, a proxy that never answers).
//!
//! ```
//! use testkit::proxy::{ProxyOptions, TestProxy};
//! use testkit::TestServer;
//!
//! let origin = TestServer::keep_alive(b"hello");
//! // Names the proxy resolves itself (the client never resolves a proxied name).
//! let proxy = TestProxy::start(ProxyOptions::default().host("origin.test", origin.addr()));
//! // ... point a client at proxy.url() and request http://origin.test/ ...
//! assert_eq!(proxy.tunnels(), 0);
//! ```
//!
//! It is built on [`TestServer`] (one thread per client connection, the same timeouts
//! and drop guarantees), so [`TestProxy::recorded`] holds every request the proxy read:
//! `CONNECT host:port` and absolute-form `GET http://host/path`, with their headers —
//! which is how a test sees whether `Proxy-Authorization` reached the proxy. What it
//! forwards to the origin has `Proxy-Authorization` and `Proxy-Connection` removed and
//! the target in origin form, as a real proxy does.
//!
//! What it is not: a general proxy. A client connection's absolute-form requests must
//! all name one origin (wirepool keeps one pool per origin, so they do); responses are
//! relayed by their framing (Content-Length, chunked, or to EOF). A tunnel relays bytes
//! both ways in one thread, polling each side with a short timeout.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{RecordedRequest, ServerConn, TestServer};

/// How long each side of a tunnel is waited on before the other gets its turn.
const RELAY_POLL: Duration = Duration::from_millis(2);

/// How long a hanging proxy holds a connection (it is woken earlier when the proxy is
/// dropped).
const HANG_FOR: Duration = Duration::from_secs(60);

/// What a [`TestProxy`] does.
#[derive(Clone, Debug, Default)]
pub struct ProxyOptions {
    /// Require `Proxy-Authorization: Basic` with this user and password; anything else
    /// gets `407 Proxy Authentication Required`.
    pub credentials: Option<(String, String)>,
    /// Answer every `CONNECT` with this status (403, say) instead of opening a tunnel.
    pub refuse_connect: Option<u16>,
    /// Read each request head, then never answer (until the proxy is dropped).
    pub hang: bool,
    /// Names the proxy resolves to these addresses (the port in the request is
    /// replaced); other names go to the system resolver.
    pub hosts: HashMap<String, SocketAddr>,
}

impl ProxyOptions {
    /// Resolves `name` (any port) to `addr`.
    pub fn host(mut self, name: &str, addr: SocketAddr) -> ProxyOptions {
        self.hosts.insert(name.to_ascii_lowercase(), addr);
        self
    }

    /// Requires these credentials.
    pub fn credentials(mut self, user: &str, password: &str) -> ProxyOptions {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Refuses `CONNECT` with `status`.
    pub fn refuse_connect(mut self, status: u16) -> ProxyOptions {
        self.refuse_connect = Some(status);
        self
    }

    /// Never answers.
    pub fn hang(mut self) -> ProxyOptions {
        self.hang = true;
        self
    }
}

/// A forward proxy on `127.0.0.1`. See the [module docs](self).
pub struct TestProxy {
    server: TestServer,
    tunnels: Arc<AtomicUsize>,
}

impl std::fmt::Debug for TestProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProxy")
            .field("server", &self.server)
            .field("tunnels", &self.tunnels())
            .finish()
    }
}

impl TestProxy {
    /// Starts a plain-HTTP proxy with `options`.
    pub fn start(options: ProxyOptions) -> TestProxy {
        let tunnels = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&tunnels);
        let options = Arc::new(options);
        let server = TestServer::start(move |conn| serve(conn, &options, &counter));
        TestProxy { server, tunnels }
    }

    /// Starts a proxy that clients reach over TLS (an `https://` proxy) with `setup`.
    pub fn start_tls(setup: crate::tls::ServerSetup, options: ProxyOptions) -> TestProxy {
        let tunnels = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&tunnels);
        let options = Arc::new(options);
        let server = TestServer::start_with(Some(setup.into_rustls()), move |conn| {
            serve(conn, &options, &counter)
        });
        TestProxy { server, tunnels }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT` (no escaping: use plain credentials).
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.server.addr())
    }

    /// Every request the proxy read (`CONNECT`s and absolute-form requests).
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.server.recorded()
    }

    /// Client connections accepted.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Client connections still open on the proxy's side.
    pub fn open_connections(&self) -> usize {
        self.server.open_connections()
    }

    /// Waits until exactly `n` client connections are open; false on timeout.
    pub fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.server.wait_for_open_connections(n, timeout)
    }

    /// Tunnels opened (`CONNECT` answered with 200).
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

/// `Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[((n >> shift) & 0x3f) as usize])
            } else {
                '='
            });
        }
    }
    out
}

/// One client connection: requests until it closes.
fn serve(conn: &mut ServerConn, options: &ProxyOptions, tunnels: &AtomicUsize) {
    let mut upstream: Option<(String, TcpStream)> = None;
    loop {
        let Ok(head) = conn.read_head() else { return };
        if options.hang {
            conn.stall(HANG_FOR);
            return;
        }
        let Ok(request) = conn.read_body(head) else {
            return;
        };
        if let Some((user, password)) = &options.credentials {
            if request.header("proxy-authorization") != Some(basic(user, password).as_str()) {
                conn.write(&crate::response_bytes(
                    407,
                    &[("Proxy-Authenticate", "Basic realm=\"testkit\"")],
                    b"",
                ));
                if request.method == "CONNECT" {
                    return;
                }
                continue;
            }
        }
        if request.method == "CONNECT" {
            if let Some(status) = options.refuse_connect {
                conn.write(&crate::response_bytes(
                    status,
                    &[],
                    b"refused by testkit proxy",
                ));
                return;
            }
            let Some(mut origin) = dial(&request.target, options) else {
                conn.write(&crate::response_bytes(502, &[], b"cannot reach the origin"));
                return;
            };
            // Counted before the client can know: a test that saw its request succeed
            // sees the tunnel counted.
            tunnels.fetch_add(1, Ordering::SeqCst);
            conn.write(b"HTTP/1.1 200 Connection established\r\n\r\n");
            relay(conn, &mut origin);
            return;
        }
        // Absolute form: http://authority/path
        let Some(rest) = request.target.strip_prefix("http://") else {
            conn.write(&crate::response_bytes(400, &[], b"not absolute-form"));
            return;
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        if upstream.as_ref().is_some_and(|(a, _)| *a != authority) {
            conn.write(&crate::response_bytes(
                400,
                &[],
                b"one origin per connection",
            ));
            return;
        }
        if upstream.is_none() {
            let Some(stream) = dial(&authority, options) else {
                conn.write(&crate::response_bytes(502, &[], b"cannot reach the origin"));
                return;
            };
            upstream = Some((authority.clone(), stream));
        }
        let Some((_, origin)) = upstream.as_mut() else {
            return;
        };
        let mut out = format!("{} {path} HTTP/1.1\r\n", request.method).into_bytes();
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("proxy-authorization")
                || name.eq_ignore_ascii_case("proxy-connection")
            {
                continue;
            }
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&request.body);
        if origin.write_all(&out).is_err() {
            return;
        }
        match relay_response(origin, conn, request.method == "HEAD") {
            Some(true) => {}
            _ => return,
        }
    }
}

/// Connects to `target` (`host:port`, the host maybe a name in `options.hosts`).
fn dial(target: &str, options: &ProxyOptions) -> Option<TcpStream> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addr = match options.hosts.get(&bare.to_ascii_lowercase()) {
        Some(addr) => *addr,
        None => (bare, port).to_socket_addrs().ok()?.next()?,
    };
    let stream = TcpStream::connect_timeout(&addr, crate::IO_TIMEOUT).ok()?;
    let _ = stream.set_nodelay(true);
    Some(stream)
}

/// Relays bytes both ways until either side ends (or the proxy is dropped).
fn relay(conn: &mut ServerConn, origin: &mut TcpStream) {
    conn.set_io_timeout(RELAY_POLL);
    let _ = origin.set_read_timeout(Some(RELAY_POLL));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if conn.is_server_stopping() {
            break;
        }
        match conn.read_some() {
            Ok(bytes) if bytes.is_empty() => break,
            Ok(bytes) => {
                if origin.write_all(&bytes).is_err() {
                    break;
                }
            }
            Err(crate::ReadError::Timeout) => {}
            Err(_) => break,
        }
        match origin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if conn.try_write(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = origin.shutdown(Shutdown::Both);
}

/// Relays one response from `origin` to `conn` by its framing. `Some(true)` when the
/// connection can carry another request.
fn relay_response(origin: &mut TcpStream, conn: &mut ServerConn, head_only: bool) -> Option<bool> {
    let _ = origin.set_read_timeout(Some(crate::IO_TIMEOUT));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = origin.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let mut fields: HashMap<&str, &str> = HashMap::new();
    for line in head.split("\r\n").skip(1) {
        if let Some((n, v)) = line.split_once(':') {
            fields.insert(n.trim(), v.trim());
        }
    }
    let close = fields
        .get("connection")
        .is_some_and(|v| v.contains("close"));
    let bodiless = head_only || (100..200).contains(&status) || status == 204 || status == 304;
    let mut read_to = |buf: &mut Vec<u8>, len: usize| -> Option<()> {
        while buf.len() < len {
            let n = origin.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    if bodiless {
        conn.try_write(&buf[..head_end]).ok()?;
        return Some(!close);
    }
    if let Some(len) = fields.get("content-length") {
        let len: usize = len.parse().ok()?;
        read_to(&mut buf, head_end + len)?;
        conn.try_write(&buf[..head_end + len]).ok()?;
        return Some(!close);
    }
    if fields
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        // Walk the chunks until the last one and the end of the trailers.
        let mut at = head_end;
        loop {
            let line_end = loop {
                if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + i + 2;
                }
                let want = buf.len() + 1;
                read_to(&mut buf, want)?;
            };
            let size_text = String::from_utf8_lossy(&buf[at..line_end - 2]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            at = line_end;
            if size == 0 {
                loop {
                    let end = loop {
                        if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                            break at + i + 2;
                        }
                        let want = buf.len() + 1;
                        read_to(&mut buf, want)?;
                    };
                    let empty = end - at == 2;
                    at = end;
                    if empty {
                        conn.try_write(&buf[..at]).ok()?;
                        return Some(!close);
                    }
                }
            }
            read_to(&mut buf, at + size + 2)?;
            at += size + 2;
        }
    }
    // Close-delimited: relay to EOF, then the client's connection ends too.
    conn.try_write(&buf).ok()?;
    while let Ok(n) = origin.read(&mut chunk) {
        if n == 0 || conn.try_write(&chunk[..n]).is_err() {
            break;
        }
    }
    Some(false)
}
