//! `testkit`: a scriptable loopback HTTP/1.1 server for wirepool's tests.
//!
//! The pool's interesting behaviour shows up only against a real socket: which
//! connection a request went out on, whether a stale connection was reused, what the
//! client did when the server reset, stalled or sent ambiguous framing. This module
//! gives tests such a peer, written with blocking `std::net` sockets and one thread per
//! connection, so that a test script reads top to bottom like the conversation it
//! expects:
//!
//! ```
//! use testkit::{Script, TestServer};
//!
//! // Every accepted connection runs this script on its own thread.
//! let server = TestServer::start(|conn| {
//!     conn.expect_request_bytes(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
//!     conn.respond(200, &[], b"hello"); // Content-Length is added for us
//!     conn.reset();                      // the client's next read sees ECONNRESET
//! });
//! // ... point a client at server.url("/a") ...
//! assert_eq!(server.connections(), 0);
//!
//! // Ready-made behaviours: a healthy keep-alive server, or a fault on every connection.
//! let healthy = TestServer::keep_alive(b"pong");
//! let faulty = TestServer::scripted(Script::TruncatedBody);
//! ```
//!
//! How to script a connection: the handler gets a [`ServerConn`] and does what a
//! server would, one call per step: [`read_request`](ServerConn::read_request) (or
//! [`expect_request_bytes`](ServerConn::expect_request_bytes) to pin the bytes), then
//! [`respond`](ServerConn::respond), [`write`](ServerConn::write) raw bytes,
//! [`trickle`](ServerConn::trickle), [`stall`](ServerConn::stall),
//! [`close`](ServerConn::close) or [`reset`](ServerConn::reset). Returning from the
//! handler closes the connection. Branch on [`ServerConn::index`] to treat the first
//! connection differently from later ones, and use the counters afterwards
//! ([`TestServer::connections`], [`TestServer::recorded`]) to see what the client
//! reused.
//!
//! What it offers:
//! - [`TestServer`] binds `127.0.0.1:0`, accepts on a thread of its own and runs the
//!   handler for each connection on a new thread. It counts connections and requests,
//!   records every request with the index of the connection it came on, and knows how
//!   many connections are still open on its side (for leak checks).
//! - [`ServerConn`] is one accepted connection: read whole requests (Content-Length or
//!   chunked bodies), assert exact request bytes, write responses whole, chunked, one
//!   byte at a time, stall, close with a FIN or reset with a RST.
//! - [`ServerLimits`] with [`TestServer::with_limits`]: a server that closes a
//!   connection silently after so many requests or so long idle, with or without a
//!   `Keep-Alive: timeout=, max=` hint (what the pool's keep-alive policies react to).
//! - [`Script`] names the faults tests keep needing (truncated bodies, resets, garbage
//!   after a body, ambiguous framing, `100 Continue`, a huge body for slow readers).
//! - [`open_fds`], [`free_port_refused`] and [`process_lock`] help leak and
//!   connect-refused tests; [`BlackHole`] is an address whose connects never finish
//!   (for connect timeouts and Happy Eyeballs races).
//! - [`unix::UnixServer`]: the same server on a Unix domain socket.
//! - [`proxy`]: an HTTP forward proxy (absolute form and `CONNECT`, credentials, a
//!   refused `CONNECT`, a proxy that never answers).
//! - [`tls`]: the same server speaking TLS ([`tls::TlsTestServer`]), certificates made
//!   at test time ([`tls::TestPki`]), handshake records (full or resumed, client
//!   certificate, SNI) and TLS-only faults (close with or without `close_notify`, a
//!   handshake never answered).
//!
//! What it guarantees, so that a broken test fails instead of hanging:
//! - every blocking read and write on a server socket times out after [`IO_TIMEOUT`]
//!   (changeable per connection), and `accept` wakes at least every [`ACCEPT_POLL`];
//! - dropping the [`TestServer`] stops the accept loop, shuts down every live
//!   connection (which wakes blocked reads, writes and [`ServerConn::stall`]) and joins
//!   all threads within [`JOIN_TIMEOUT`];
//! - a handler that panics (a failed [`ServerConn::expect_request_bytes`], say) closes
//!   its connection, and the panic is raised again when the server is dropped, so the
//!   test fails even if the client never noticed. Panics that happen while the server
//!   is already stopping are ignored.
//!
//! What it deliberately is not: fast, or a complete HTTP server. It understands exactly
//! as much HTTP/1.1 as the tests need and rejects the rest with [`ReadError::Malformed`].
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)] // a test fixture: a broken fixture should fail the test loudly

mod conn;
pub mod proxy;
mod script;
pub mod tls;
#[cfg(unix)]
pub mod unix;

pub use conn::{ReadError, RecordedRequest, RequestHead, ServerConn};
pub use script::{Script, ANNOUNCED_LEN, GARBAGE, SCRIPT_BODY, SENT_PREFIX};

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a blocking read or write on a server socket may wait. Long enough for any
/// sane test step, short enough that a test waiting on the wrong side fails in seconds.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the accept loop wakes to check whether the server is stopping (a drop
/// also wakes it at once by connecting to it).
pub const ACCEPT_POLL: Duration = Duration::from_millis(100);

/// How long dropping a [`TestServer`] waits for its threads before leaving them
/// behind (a handler stuck in `std::thread::sleep`, for instance).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest request head [`ServerConn::read_head`] accepts; longer is malformed.
pub const HEAD_LIMIT_BYTES: usize = 64 * 1024;

/// The keep-alive limits of a server run by [`ServerConn::serve_with_limits`]: how many
/// requests one connection may carry and how long it may sit idle before the server
/// closes it, and whether the server says so in a `Keep-Alive` header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerLimits {
    /// Requests answered per connection before the server closes it; `None`: no cap.
    pub max_requests: Option<usize>,
    /// How long a connection may wait for its next request before the server closes it
    /// (whole seconds in the hint); `None`: until the client closes.
    pub idle_timeout: Option<Duration>,
    /// Send `Keep-Alive: timeout=T, max=M` (the parts that are set) on each response.
    pub hint: bool,
    /// How late the server's close reaches the client, as over a network with this
    /// one-way delay (zero: at once, as on loopback). After the last response a
    /// connection may carry, the FIN follows this long after it; with an idle timeout
    /// `T`, the FIN leaves at `T + close_delay`, and a request that arrives when the
    /// connection has been idle for more than `T − close_delay` is taken as one that
    /// was still in flight when the server closed: it is read but never answered.
    /// Either way the client has a window in which it reuses a dead connection.
    pub close_delay: Duration,
}

impl ServerLimits {
    /// Closes silently after `n` responses per connection.
    pub fn requests(n: usize) -> ServerLimits {
        ServerLimits {
            max_requests: Some(n),
            ..ServerLimits::default()
        }
    }

    /// Closes silently after `idle` without a request.
    pub fn idle(idle: Duration) -> ServerLimits {
        ServerLimits {
            idle_timeout: Some(idle),
            ..ServerLimits::default()
        }
    }

    /// The same limits, with the server's close reaching the client `delay` late (see
    /// [`ServerLimits::close_delay`](field@ServerLimits::close_delay)).
    pub fn close_delay(self, delay: Duration) -> ServerLimits {
        ServerLimits {
            close_delay: delay,
            ..self
        }
    }

    /// The same limits, announced in a `Keep-Alive` header on every response.
    pub fn with_hint(self) -> ServerLimits {
        ServerLimits { hint: true, ..self }
    }
}

/// A loopback HTTP/1.1 server that runs a handler for every accepted connection.
///
/// Dropping it stops everything; see the [module docs](self) for the guarantees.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on `127.0.0.1` with an OS-chosen port. Every accepted connection
    /// runs `handler` on its own thread; the connection closes when `handler` returns.
    pub fn start<F>(handler: F) -> TestServer
    where
        F: Fn(&mut ServerConn) + Send + Sync + 'static,
    {
        TestServer::start_with(None, handler)
    }

    /// [`start`](Self::start), speaking TLS with `tls` if given (see [`tls`]).
    fn start_with<F>(tls: Option<Arc<rustls::ServerConfig>>, handler: F) -> TestServer
    where
        F: Fn(&mut ServerConn) + Send + Sync + 'static,
    {
        let listener = bind_listener();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let accept_thread = thread::Builder::new()
            .name(format!("test-server-{}", addr.port()))
            .spawn({
                let shared = Arc::clone(&shared);
                let handler = Arc::new(handler);
                move || accept_loop(&listener, &shared, tls.as_ref(), &handler)
            })
            .unwrap();
        TestServer {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// A keep-alive server: every connection answers each request with `200` and
    /// `body` (Content-Length framing) until the client closes.
    pub fn keep_alive(body: &'static [u8]) -> TestServer {
        TestServer::start(move |conn| conn.serve_keep_alive(body))
    }

    /// A keep-alive server with limits: every connection runs
    /// [`ServerConn::serve_with_limits`] with `body` and `limits` (a request cap, an idle
    /// timeout, with or without a `Keep-Alive` hint).
    pub fn with_limits(body: &'static [u8], limits: ServerLimits) -> TestServer {
        TestServer::start(move |conn| conn.serve_with_limits(body, limits))
    }

    /// A server that runs `script` on every connection.
    pub fn scripted(script: Script) -> TestServer {
        TestServer::start(move |conn| script.run(conn))
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Complete requests (head and body) read so far, on all connections. A request
    /// counts as soon as it has been read, before the handler answers it: once a client
    /// has its response, the request is already counted and recorded.
    pub fn requests(&self) -> usize {
        self.shared.lock().requests
    }

    /// Every complete request read so far, in the order they were read (none while
    /// [`keep_records`](Self::keep_records) is off).
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.shared.lock().recorded.clone()
    }

    /// Whether requests read from now on are kept for [`recorded`](Self::recorded) (on
    /// by default). A long run that never looks at them turns it off, so that the
    /// server's memory does not grow with every request (the soak measures the
    /// process's memory). [`requests`](Self::requests) counts either way.
    pub fn keep_records(&self, keep: bool) {
        self.shared.update(|s| s.forget_requests = !keep);
    }

    /// Connections accepted and not yet closed on the server side. A connection closes
    /// when its handler returns or calls [`ServerConn::close`] / [`ServerConn::reset`];
    /// a handler that serves until EOF therefore closes when the client does.
    pub fn open_connections(&self) -> usize {
        self.shared.lock().open
    }

    /// Waits until at least `n` connections have been accepted; false on timeout.
    pub fn wait_for_connections(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.connections >= n)
    }

    /// Waits until at least `n` complete requests have been read; false on timeout.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.requests >= n)
    }

    /// Waits until exactly `n` connections are open on the server side; false on
    /// timeout. `wait_for_open_connections(0, ..)` is the usual leak check.
    pub fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.open == n)
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("connections", &state.connections)
            .field("open", &state.open)
            .field("requests", &state.requests)
            .finish_non_exhaustive()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let deadline = Instant::now() + JOIN_TIMEOUT;
        // Under the lock, so no connection registers after the sweep unnoticed.
        self.shared.update(|s| {
            s.stopping = true;
            for stream in s.live.values() {
                // Wakes the connection's thread out of any blocking read or write.
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        // Wake the accept loop now rather than at its next ACCEPT_POLL.
        let _ = TcpStream::connect_timeout(&self.addr, ACCEPT_POLL);
        if let Some(accept) = self.accept_thread.take() {
            join_until(accept, deadline);
        }
        let conn_threads = std::mem::take(&mut self.shared.lock().conn_threads);
        for handle in conn_threads {
            join_until(handle, deadline);
        }
        let panics = std::mem::take(&mut self.shared.lock().handler_panics);
        if thread::panicking() {
            return;
        }
        if let Some(p) = panics.iter().find(|p| !p.while_stopping) {
            panic!(
                "test server handler panicked on connection {}: {}",
                p.conn, p.message
            );
        }
    }
}

/// The number of open file descriptors of this process (entries of `/proc/self/fd`).
///
/// The count is process-wide, and tests in one binary run in parallel: compare counts
/// only in a test binary of its own, or hold [`process_lock`] in every test of the
/// binary.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Serializes the tests of one binary that hold it, for checks of process-wide
/// numbers such as [`open_fds`]. Not poisoned by a failed test.
pub fn process_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A `127.0.0.1` address where nothing listens, so connecting is refused: binds port 0,
/// reads the port and closes the listener. Another process could take the port in
/// between; that is unlikely enough for tests.
pub fn free_port_refused() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap()
}

/// A `127.0.0.1` address where a connect never finishes: nothing answers and nothing
/// refuses, as behind a firewall that drops packets.
///
/// How, without root: a listener with a backlog of 0 whose one queue slot is taken by a
/// connection nobody accepts. Linux drops further SYNs while the accept queue is full
/// (`tcp_abort_on_overflow` is 0 by default), so a new connect stays in `SYN_SENT` and
/// retransmits until its own timeout. Dropping the `BlackHole` closes the listener.
#[derive(Debug)]
pub struct BlackHole {
    addr: SocketAddr,
    _listener: socket2::Socket,
    _filler: TcpStream,
}

impl BlackHole {
    /// A new black hole on `127.0.0.1`.
    pub fn new() -> BlackHole {
        use socket2::{Domain, Protocol, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        listener
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        // Takes the one slot of the accept queue (the handshake completes in the kernel).
        let filler = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
        BlackHole {
            addr,
            _listener: listener,
            _filler: filler,
        }
    }

    /// The address whose connects never finish.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for BlackHole {
    fn default() -> Self {
        BlackHole::new()
    }
}

/// The bytes of a complete response: status line, `headers`, a `Content-Length` unless
/// `headers` already frame the body (`Content-Length` or `Transfer-Encoding`) or the
/// status has no body (1xx, 204, 304), then `body` as given.
pub fn response_bytes(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).into_bytes();
    let mut framed = false;
    for (name, value) in headers {
        framed |= name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
    if !framed && !bodiless {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The usual reason phrase for the statuses tests use; `"Status"` for others.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The period of the generated body pattern; a prime, so that block and buffer
/// boundaries never line up with it and a misplaced slice shows.
pub const PATTERN_PERIOD: u64 = 251;

/// The byte at `offset` of a body produced by [`ServerConn::respond_with_pattern`].
pub fn pattern_byte(offset: u64) -> u8 {
    (offset % PATTERN_PERIOD) as u8
}

/// `len` bytes of the pattern starting at `offset`, to compare against what a client
/// read.
pub fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (offset..offset + len as u64).map(pattern_byte).collect()
}

/// About 64 KiB of the pattern from offset 0, a whole number of periods long, so that
/// any offset is a slice of it starting at `offset % PATTERN_PERIOD`.
fn pattern_block() -> &'static [u8] {
    static BLOCK: OnceLock<Vec<u8>> = OnceLock::new();
    BLOCK.get_or_init(|| pattern(0, (PATTERN_PERIOD * 261) as usize))
}

/// Printable form of bytes for assertion messages: `\r\n` and non-ASCII escaped.
pub fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// State shared by the server handle, its accept loop and its connections.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Notified on every change of `state`: counters, recordings, stopping.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Set once, when the server handle drops.
    stopping: bool,
    connections: usize,
    open: usize,
    /// Complete requests read, recorded or not.
    requests: usize,
    recorded: Vec<RecordedRequest>,
    /// Set by `keep_records(false)`: count requests without keeping them.
    forget_requests: bool,
    /// A clone of every open connection's socket, so that a drop can shut it down.
    live: HashMap<usize, TcpStream>,
    conn_threads: Vec<JoinHandle<()>>,
    handler_panics: Vec<HandlerPanic>,
    /// TLS servers only: every completed handshake, in order.
    handshakes: Vec<tls::Handshake>,
    /// TLS servers only: (connection index, why) of every failed handshake.
    handshake_failures: Vec<(usize, String)>,
}

struct HandlerPanic {
    conn: usize,
    message: String,
    /// The server was already stopping: a script cut short by the drop, not a failure.
    while_stopping: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let result = change(&mut self.lock());
        self.changed.notify_all();
        result
    }

    fn is_stopping(&self) -> bool {
        self.lock().stopping
    }

    /// Waits until `done` holds or `timeout` passes (`Duration::MAX` waits for ever);
    /// returns whether `done` held.
    fn wait_until(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            state = match deadline {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Sleeps for `d` unless the server starts stopping; true if the whole `d` passed.
    fn sleep(&self, d: Duration) -> bool {
        !self.wait_until(d, |s| s.stopping)
    }
}

fn bind_listener() -> TcpListener {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    socket.listen(128).unwrap();
    // On Linux a blocking accept honours SO_RCVTIMEO: the accept loop wakes to check
    // for a stop even if the wake-up connection in `drop` failed.
    socket.set_read_timeout(Some(ACCEPT_POLL)).unwrap();
    socket.into()
}

fn accept_loop<F>(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    tls: Option<&Arc<rustls::ServerConfig>>,
    handler: &Arc<F>,
) where
    F: Fn(&mut ServerConn) + Send + Sync + 'static,
{
    while !shared.is_stopping() {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue; // ACCEPT_POLL passed: check for a stop
            }
            Err(_) => {
                // A transient error such as EMFILE: don't spin on it.
                shared.sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Some(mut conn) = ServerConn::register(stream, shared, tls) else {
            continue;
        };
        let index = conn.index();
        let handler = Arc::clone(handler);
        let spawned = thread::Builder::new()
            .name(format!("test-server-conn-{index}"))
            .spawn(move || {
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&mut conn)));
                if let Err(payload) = outcome {
                    conn.shared().record_panic(index, &*payload);
                }
                // `conn` drops here: its socket closes and `open` goes down.
            });
        if let Ok(handle) = spawned {
            shared.update(|s| {
                s.conn_threads.retain(|t| !t.is_finished());
                s.conn_threads.push(handle);
            });
        }
    }
}

impl Shared {
    fn record_panic(&self, conn: usize, payload: &(dyn Any + Send)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".to_owned());
        self.update(|s| {
            let while_stopping = s.stopping;
            s.handler_panics.push(HandlerPanic {
                conn,
                message,
                while_stopping,
            });
        });
    }
}

/// Joins `handle` if it finishes before `deadline`; otherwise leaves it running.
fn join_until(handle: JoinHandle<()>, deadline: Instant) {
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            let name = handle.thread().name().unwrap_or("?").to_owned();
            eprintln!("test server: thread {name} did not stop in time; leaving it behind");
            return;
        }
        thread::sleep(Duration::from_millis(2));
    }
    let _ = handle.join();
}
