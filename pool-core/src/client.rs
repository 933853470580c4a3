//! The blocking [`Client`]: an [`Engine`] on its own thread behind a channel.
//!
//! ```text
//!  caller threads                         engine thread
//!  ──────────────                         ─────────────
//!  send(req) ─── Command::Send ──► channel ─► Engine::submit
//!      │              + Waker::wake              │ poll loop
//!      ▼                                         ▼
//!  parks on its own mailbox ◄──────── Msg::Head (http::Response<()>, RequestInfo)
//!  ResponseBody::read  ◄────────────── Msg::Data (one copy of the borrowed slice)
//!      │ consumed bytes below the budget?  ──► Command::Resume (engine reads again)
//!      └ dropped unread ─────────────────────► Command::Discard (engine drains)
//! ```
//!
//! Body bytes cross threads with one deliberate copy, and those copies count against
//! `body_buffer_limit`: when a reader falls behind by more than that, the engine stops
//! reading the socket (TCP flow control then slows the server), so a slow reader costs
//! a bounded amount of memory. The budget is one atomic counter per response: the
//! engine pauses when its add crosses the limit, the reader resumes it when its subtract
//! crosses back, and a crossing up is always followed by exactly one crossing down.
//! The budget counts payload, so what holds the payload must cost about as much: small
//! pieces (a body of one-byte chunks, say) are appended to the last queued piece instead
//! of each becoming a message with an allocation of its own.
//!
//! Lifetime: the engine runs while anyone may still need it. Every `Client` handle and
//! every unfinished [`ResponseBody`] owns it (an `Arc`), so a response can outlive the
//! client that sent it, as with reqwest, ureq or Go; when the last of them is gone the
//! engine shuts down, closes its sockets and its thread is joined. [`Client::shutdown`]
//! is the hard stop: requests in flight and bodies still arriving fail with
//! [`ErrorKind::PoolClosed`] at once.
//!
//! Every caller gets an answer in bounded time, whatever happens to the engine thread.
//! A request's mailbox is closed by its `Route` when dropped, and the route travels
//! inside the `Command::Send`, so a command dropped unprocessed (queued when the engine
//! stopped, or refused by a closed channel) still wakes its caller. The engine thread
//! catches its own panic: routes dropped while unwinding report
//! [`ErrorKind::EngineFailed`], the shared status makes every later call (`send`,
//! `stats`, a body read) say so, and commands still queued are failed before the thread
//! ends. A status flag and a fence on each side make sure no command is enqueued after
//! that final drain without its sender seeing the stop.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TryRecvError};
use http::{HeaderMap, Request, StatusCode, Version};
use mio::Waker;

use crate::config::{Config, TcpKeepalive};
use crate::engine::{Engine, Event};
use crate::error::{Error, ErrorKind};
use crate::middleware::{Middleware, Next};
use crate::pool::{ReuseOrder, Stats};
use crate::request::{Body, Flow, RequestId, RequestInfo, RequestOptions};

/// Work for the engine thread.
enum Command {
    Send {
        request: Box<Request<Body>>,
        opts: RequestOptions,
        /// Closes the caller's mailbox when dropped, wherever that happens: in the
        /// engine's route table, or with the command itself if it is never processed.
        reply: Route,
    },
    Discard(RequestId),
    Resume(RequestId),
    CloseIdle,
    Stats(Sender<Stats>),
    Shutdown,
    /// Test-only (see [`Client::__panic_engine_for_tests`]): sleep, then panic.
    PanicForTests(Duration),
}

/// What the engine thread tells one request's caller.
enum Msg {
    Head(RequestId, http::Response<()>, RequestInfo),
    Data(Vec<u8>),
    Done(RequestInfo),
    Failed(Error),
}

/// Body pieces up to this size are coalesced in a response's mailbox (see
/// [`Mailbox::push_data`]). The budget (`body_buffer_limit`) counts payload bytes, so
/// what a paused reader costs must be close to its payload: with coalescing a queue
/// holds at most two messages per `COALESCE_BYTES` of payload, whatever the chunk sizes
/// the server chose. 16 KiB is the default read buffer, so the usual full-buffer piece
/// is never appended to (no extra copy) and tiny pieces fill buffers of this size.
const COALESCE_BYTES: usize = 16 * 1024;

/// One request's messages from the engine thread to its caller.
///
/// A `Mutex` + `Condvar` queue rather than a channel: the caller parks as soon as it has
/// nothing to read (a channel's blocking receive spins and yields first, which costs a
/// CPU that the engine thread needs), and the engine signals only a caller that is
/// actually parked. It is closed when the request's [`Route`] is dropped (by the
/// engine, or with a command that never ran), which is how a reader learns that nothing
/// more will come.
struct Mailbox {
    state: Mutex<MailState>,
    ready: Condvar,
    /// Body bytes pushed and not yet consumed by the reader: the backpressure budget,
    /// lock-free on both sides (see the module docs).
    buffered: AtomicUsize,
    /// The engine pauses the socket when `buffered` crosses this (`body_buffer_limit`).
    limit: usize,
}

#[derive(Default)]
struct MailState {
    queue: VecDeque<Msg>,
    /// The caller is parked in `recv`.
    waiting: bool,
    /// The engine will send nothing more.
    closed: bool,
    /// The caller dropped its end: messages would only pile up.
    reader_gone: bool,
}

impl Mailbox {
    fn new(limit: usize) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            state: Mutex::new(MailState::default()),
            ready: Condvar::new(),
            buffered: AtomicUsize::new(0),
            limit: limit.max(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, MailState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Engine side: queues `msg` without waking the caller (the engine wakes every
    /// mailbox it filled once, at the end of its turn, so a head, its body and its end
    /// usually cost one wake-up). `Err(())` when the caller is gone.
    fn push(&self, msg: Msg) -> Result<(), ()> {
        let mut state = self.lock();
        if state.reader_gone {
            return Err(());
        }
        state.queue.push_back(msg);
        Ok(())
    }

    /// Engine side: queues a copy of `data`, a piece of the body, without waking the
    /// caller (see [`push`](Self::push)). A piece smaller than [`COALESCE_BYTES`] is
    /// appended to the last queued piece while that stays under the size, so that a
    /// body of tiny chunks is held as a few large buffers rather than one allocation and
    /// one queue slot per byte; a larger piece is queued as is (the one copy there is
    /// anyway, no extra one). `Err(())` when the caller is gone.
    fn push_data(&self, data: &[u8]) -> Result<(), ()> {
        let mut state = self.lock();
        if state.reader_gone {
            return Err(());
        }
        if let Some(Msg::Data(last)) = state.queue.back_mut() {
            if last.len() + data.len() <= COALESCE_BYTES {
                last.extend_from_slice(data);
                return Ok(());
            }
        }
        state.queue.push_back(Msg::Data(data.to_vec()));
        Ok(())
    }

    /// Engine side: wakes the caller if it is parked.
    fn wake(&self) {
        let wake = self.lock().waiting;
        if wake {
            self.ready.notify_one();
        }
    }

    /// Engine side: nothing more will come.
    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let wake = state.waiting;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
    }

    /// Caller side: the next message, parking until one comes; `None` once closed and
    /// empty.
    fn recv(&self) -> Option<Msg> {
        let mut state = self.lock();
        loop {
            if let Some(msg) = state.queue.pop_front() {
                return Some(msg);
            }
            if state.closed {
                return None;
            }
            state.waiting = true;
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting = false;
        }
    }

    /// Caller side: the reader is gone; drop what is queued.
    fn hang_up(&self) {
        let mut state = self.lock();
        state.reader_gone = true;
        state.queue.clear();
    }
}

/// The sending half the caller side keeps: commands plus the waker that interrupts
/// the engine's poll.
struct Handle {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    status: Arc<EngineStatus>,
}

impl Handle {
    /// Hands `cmd` to the engine. `Err` when the engine has stopped: the command may
    /// then never run, so a caller must not wait for its answer; the error says why.
    /// (A command that raced the stop may have run all the same; at a shutdown, calling
    /// it failed is the honest answer either way.)
    fn send(&self, cmd: Command) -> Result<(), Error> {
        if let Err(refused) = self.tx.send(cmd) {
            // The engine thread is gone; dropping the command answers it.
            drop(refused);
            return Err(self.status.error());
        }
        // Pairs with the fence in `EngineStatus::stop`: either the engine thread, which
        // drains the channel after it stops, finds this command, or this load sees the
        // stop. Never neither, so a command cannot sit unanswered in the channel.
        fence(Ordering::SeqCst);
        if self.status.is_stopped() {
            return Err(self.status.error());
        }
        // A failed wake means the engine is gone; the channel reports that next time.
        let _ = self.waker.wake();
        Ok(())
    }
}

/// Whether the engine thread still runs, and if not, how it ended: shared by the engine
/// thread, which sets it once, and the callers, who read it to say why nothing came.
#[derive(Debug, Default)]
struct EngineStatus(AtomicU8);

impl EngineStatus {
    const RUNNING: u8 = 0;
    const STOPPED: u8 = 1;
    const PANICKED: u8 = 2;

    /// Engine side, once, before it drains the channel: the engine will process
    /// nothing more; `panicked` says whether it died or was shut down.
    fn stop(&self, panicked: bool) {
        let code = if panicked {
            Self::PANICKED
        } else {
            Self::STOPPED
        };
        self.0.store(code, Ordering::SeqCst);
        // Pairs with the fence in `Handle::send`: the drain that follows sees every
        // command a caller enqueued without seeing this store.
        fence(Ordering::SeqCst);
    }

    fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst) != Self::RUNNING
    }

    fn is_panicked(&self) -> bool {
        self.0.load(Ordering::SeqCst) == Self::PANICKED
    }

    /// The error for a command or request the engine will never answer.
    fn error(&self) -> Error {
        stopped_error(self.is_panicked())
    }
}

/// The error for work a stopped engine will never do: [`ErrorKind::EngineFailed`] if it
/// panicked, [`ErrorKind::PoolClosed`] if it was shut down.
fn stopped_error(panicked: bool) -> Error {
    if panicked {
        Error::msg(ErrorKind::EngineFailed, "the engine thread panicked")
    } else {
        Error::msg(ErrorKind::PoolClosed, "the engine thread has stopped")
    }
}

/// The engine thread and the way to reach it.
///
/// Every `Client` handle and every open [`ResponseBody`] holds it through an `Arc`, so
/// the engine lives exactly as long as someone may still need it: a response can
/// outlive the client that sent it (a helper that builds a client, sends and returns
/// the response works whatever the body's size), and when the last owner goes the
/// engine is shut down and its thread joined.
struct EngineThread {
    handle: Handle,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl EngineThread {
    /// Stops the engine (in-flight requests fail with `PoolClosed`, sockets close) and
    /// joins its thread. Idempotent; a concurrent caller returns once the thread is
    /// joined.
    fn shutdown(&self) {
        // Refused when the engine has stopped already; the join below is then quick.
        let _ = self.handle.send(Command::Shutdown);
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = thread.take() {
            // The engine thread never owns an `EngineThread`; should that ever change,
            // joining itself would deadlock, so it lets itself finish instead.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for EngineThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What sending needs: the engine and the settings. Middleware reaches the pool
/// through it.
pub(crate) struct Core {
    engine: Arc<EngineThread>,
    config: Config,
}

struct Inner {
    core: Core,
    middleware: Vec<Arc<dyn Middleware>>,
}

/// A blocking HTTP/1.1 client over a connection pool. Cheap to clone; all clones share
/// one engine thread and its pools.
///
/// ```no_run
/// use std::io::Read;
/// let client = pool_core::Client::new()?;
/// let mut resp = client.get("http://127.0.0.1:8080/")?;
/// println!("{} (reused: {})", resp.status(), resp.info().reused);
/// let body = resp.text()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.core.config)
            .finish()
    }
}

impl Client {
    /// A client with the default (production) settings.
    pub fn new() -> Result<Client, Error> {
        ClientBuilder::new().build()
    }

    /// A builder to change settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The client's settings.
    pub fn config(&self) -> &Config {
        &self.inner.core.config
    }

    /// Sends `request` and blocks until the response head (or an error) arrives.
    pub fn send(&self, request: Request<Body>) -> Result<Response, Error> {
        self.send_with(request, RequestOptions::default())
    }

    /// Sends `request` with its own deadline, through the middleware chain.
    pub fn send_with(
        &self,
        request: Request<Body>,
        opts: RequestOptions,
    ) -> Result<Response, Error> {
        Next {
            chain: &self.inner.middleware,
            core: &self.inner.core,
        }
        .run(request, opts)
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<Response, Error> {
        let request = Request::get(url)
            .body(Body::empty())
            .map_err(|e| Error::with_source(ErrorKind::InvalidRequest, e))?;
        self.send(request)
    }

    /// Closes every idle connection now.
    pub fn close_idle(&self) {
        let _ = self.command(Command::CloseIdle);
    }

    /// Stops the engine now, for every handle of this client: requests in flight and
    /// bodies still arriving fail with [`ErrorKind::PoolClosed`] (bytes that had already
    /// arrived are still read first), every socket is closed and the engine thread is
    /// joined before this returns. Later sends from any handle fail with `PoolClosed`.
    /// Calling it again does nothing.
    ///
    /// Without it, the engine stops by itself once the last `Client` handle and the
    /// last unfinished [`ResponseBody`] are gone.
    pub fn shutdown(&self) {
        self.inner.core.engine.shutdown();
    }

    /// A snapshot of the pool's counters: requests, dials, reuses, retries, closes by
    /// cause, and the idle/active/connecting/waiting gauges, in total and per host.
    ///
    /// # Errors
    ///
    /// A stopped engine has no pool to report on: [`ErrorKind::PoolClosed`] after
    /// [`shutdown`](Self::shutdown), [`ErrorKind::EngineFailed`] if the engine thread
    /// panicked. (All zeros would read as an idle, healthy pool.)
    pub fn stats(&self) -> Result<Stats, Error> {
        let (tx, rx) = bounded(1);
        self.command(Command::Stats(tx))?;
        rx.recv().map_err(|_| {
            // Dropped unanswered: by a stopped engine, or by a panic unwinding the
            // engine thread before the status says so (a running engine always answers).
            let status = &self.inner.core.engine.handle.status;
            stopped_error(!status.is_stopped() || status.is_panicked())
        })
    }

    /// **Test-only; not part of the API** (hidden, may change or go at any time): makes
    /// the engine thread sleep for `after`, then panic, so that tests can check what
    /// callers see when the engine dies. Commands sent during the sleep queue up behind
    /// the panic and are never processed, which is how a test reaches that case.
    #[doc(hidden)]
    pub fn __panic_engine_for_tests(&self, after: Duration) {
        let _ = self.command(Command::PanicForTests(after));
    }

    /// Hands `cmd` to the engine thread.
    fn command(&self, cmd: Command) -> Result<(), Error> {
        self.inner.core.engine.handle.send(cmd)
    }
}

impl Core {
    /// Sends `request` to the engine and waits for the head: the end of the chain.
    pub(crate) fn send(
        &self,
        request: Request<Body>,
        opts: RequestOptions,
    ) -> Result<Response, Error> {
        let rx = Mailbox::new(self.config.body_buffer_limit);
        self.engine.handle.send(Command::Send {
            request: Box::new(request),
            opts,
            reply: Route::new(Arc::clone(&rx)),
        })?;
        match rx.recv() {
            Some(Msg::Head(id, head, info)) => Ok(Response {
                head,
                info,
                body: ResponseBody {
                    id,
                    rx,
                    engine: Some(Arc::clone(&self.engine)),
                    chunk: Vec::new(),
                    pos: 0,
                    state: BodyState::Open,
                    final_info: None,
                },
            }),
            Some(Msg::Failed(e)) => Err(e),
            Some(_) => Err(Error::msg(
                ErrorKind::Io,
                "engine sent body data before the head",
            )),
            // Closed without a word: the engine stopped before it got to this request.
            None => Err(self.engine.handle.status.error()),
        }
    }
}

/// A response whose head has arrived; the body streams through [`ResponseBody`].
#[derive(Debug)]
pub struct Response {
    head: http::Response<()>,
    info: RequestInfo,
    body: ResponseBody,
}

impl Response {
    /// Status code.
    pub fn status(&self) -> StatusCode {
        self.head.status()
    }

    /// HTTP version.
    pub fn version(&self) -> Version {
        self.head.version()
    }

    /// Response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.head.headers()
    }

    /// Whether the connection was reused, timings so far.
    pub fn info(&self) -> &RequestInfo {
        &self.info
    }

    /// The body, to read with [`std::io::Read`].
    pub fn body_mut(&mut self) -> &mut ResponseBody {
        &mut self.body
    }

    /// The head and the body apart.
    pub fn into_parts(self) -> (http::Response<()>, ResponseBody) {
        (self.head, self.body)
    }

    /// Reads the whole body.
    pub fn bytes(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.body.read_to_end(&mut out).map_err(into_error)?;
        Ok(out)
    }

    /// Reads the whole body as UTF-8 text (invalid sequences replaced).
    pub fn text(&mut self) -> Result<String, Error> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// Turns the `io::Error` that `Read` returned back into our error where it was one.
fn into_error(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(ours) = inner.downcast::<Error>() {
                return *ours;
            }
        }
        return Error::new(ErrorKind::Io);
    }
    Error::with_source(ErrorKind::Io, e)
}

#[derive(Debug, PartialEq, Eq)]
enum BodyState {
    Open,
    Done,
    Failed,
}

/// A response body being received; implements [`std::io::Read`]. Dropping it before the
/// end lets the engine drain the rest (up to `drain_limit`) so the connection is reused.
///
/// Until it has been read to its end (or failed, or been dropped) it keeps the engine
/// running, even when every [`Client`] handle is gone; [`Client::shutdown`] stops the
/// engine regardless, and the body then fails with [`ErrorKind::PoolClosed`].
pub struct ResponseBody {
    id: RequestId,
    rx: Arc<Mailbox>,
    /// The engine delivering this body; released once the body has ended, so that a
    /// finished response kept around does not keep the engine running.
    engine: Option<Arc<EngineThread>>,
    chunk: Vec<u8>,
    pos: usize,
    state: BodyState,
    /// Timings of the whole exchange, once the body ended.
    final_info: Option<RequestInfo>,
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    /// Reuse facts and timings of the whole exchange (with `total`), once the body has
    /// been read to its end.
    pub fn final_info(&self) -> Option<&RequestInfo> {
        self.final_info.as_ref()
    }

    /// Gives back `n` consumed bytes of budget; resumes the engine when this takes the
    /// buffered amount from above the limit to at or below it.
    fn consumed(&self, n: usize) {
        let before = self.rx.buffered.fetch_sub(n, Ordering::AcqRel);
        if before > self.rx.limit && before - n <= self.rx.limit {
            if let Some(engine) = &self.engine {
                let _ = engine.handle.send(Command::Resume(self.id));
            }
        }
    }

    /// The body has ended (done or failed): the engine owes it nothing more. If this
    /// was the engine's last owner, the engine stops here.
    fn end(&mut self, state: BodyState) {
        self.state = state;
        self.engine = None;
    }
}

impl Read for ResponseBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.chunk.len() {
                let n = out.len().min(self.chunk.len() - self.pos);
                out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
                self.pos += n;
                if self.pos == self.chunk.len() {
                    let len = self.chunk.len();
                    self.chunk.clear();
                    self.pos = 0;
                    self.consumed(len);
                }
                return Ok(n);
            }
            match self.state {
                BodyState::Done => return Ok(0),
                BodyState::Failed => return Err(io::Error::other(Error::new(ErrorKind::Io))),
                BodyState::Open => {}
            }
            match self.rx.recv() {
                Some(Msg::Data(data)) => {
                    self.chunk = data;
                    self.pos = 0;
                }
                Some(Msg::Done(info)) => {
                    self.final_info = Some(info);
                    self.end(BodyState::Done);
                }
                Some(Msg::Failed(e)) => {
                    self.end(BodyState::Failed);
                    let kind = if e.is_timeout() {
                        io::ErrorKind::TimedOut
                    } else {
                        io::ErrorKind::Other
                    };
                    return Err(io::Error::new(kind, e));
                }
                Some(Msg::Head(..)) => {}
                None => {
                    let error = match &self.engine {
                        Some(engine) => engine.handle.status.error(),
                        None => stopped_error(false),
                    };
                    self.end(BodyState::Failed);
                    return Err(io::Error::other(error));
                }
            }
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.rx.hang_up();
        if let Some(engine) = self.engine.take() {
            if self.state == BodyState::Open {
                let _ = engine.handle.send(Command::Discard(self.id));
            }
            // If this body was the engine's last owner, the engine stops here.
        }
    }
}

/// Builds a [`Client`]. Setting names follow Go's `http.Transport` where one exists.
#[derive(Clone, Default)]
pub struct ClientBuilder {
    config: Config,
    middleware: Vec<Arc<dyn Middleware>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("middleware", &self.middleware.len())
            .finish()
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl ClientBuilder {
    /// A builder with the default settings.
    pub fn new() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Adds a middleware around `send`. The first one added is the outermost: it sees
    /// the request first and the response last.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// TLS settings for `https`: trust roots, extra CA files, client certificate. Every
    /// connection shares its session-resumption cache. Default: the system trust store.
    pub fn tls_config(mut self, tls: tls_glue::TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Replaces every setting with `config`.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    setters! {
        /// Total deadline per request (`None`: none). Default 30 s. Go: `Client.Timeout`.
        timeout: Option<Duration>;
        /// DNS + connect deadline. Default 10 s. Go: `Dialer.Timeout`.
        connect_timeout: Duration;
        /// Written request → response head deadline. Default 10 s. Go: `ResponseHeaderTimeout`.
        response_header_timeout: Option<Duration>;
        /// Wait for `100 Continue` before sending the body anyway. Default 1 s. Go: `ExpectContinueTimeout`.
        expect_continue_timeout: Duration;
        /// Close idle connections after this. Default 90 s. Go: `IdleConnTimeout`.
        idle_timeout: Duration;
        /// Idle connections kept per host. Default 100. Go: `MaxIdleConnsPerHost` (default 2).
        max_idle_per_host: usize;
        /// Idle connections kept in total. Default 1000. Go: `MaxIdleConns`.
        max_idle_total: usize;
        /// Open connections per host; more requests wait in FIFO order. Default unlimited. Go: `MaxConnsPerHost`.
        max_conns_per_host: Option<usize>;
        /// Connections older than this are not reused. Default none.
        max_conn_lifetime: Option<Duration>;
        /// Random fraction taken off each connection's lifetime. Default 0.1.
        lifetime_jitter: f64;
        /// Requests per connection before it closes. Default unlimited.
        max_requests_per_conn: Option<u32>;
        /// LIFO (default) or FIFO reuse of idle connections.
        reuse_order: ReuseOrder;
        /// Unread body bytes drained for reuse. Default 64 KiB.
        drain_limit: u64;
        /// Time allowed for draining. Default 2 s.
        drain_timeout: Duration;
        /// Safe resends on a fresh connection. Default 1.
        max_retries: u8;
        /// `TCP_NODELAY`. Default on.
        tcp_nodelay: bool;
        /// TCP keepalive probes. Default 30 s idle. Go: `Dialer.KeepAlive`.
        tcp_keepalive: Option<TcpKeepalive>;
        /// Local address to bind. Go: `Dialer.LocalAddr`.
        local_address: Option<std::net::IpAddr>;
        /// DNS cache TTL. Default 30 s.
        dns_ttl: Duration;
        /// Body bytes buffered for a slow reader before the socket is paused. Default 256 KiB.
        body_buffer_limit: usize;
        /// TLS handshake deadline. Default 10 s. Go: `TLSHandshakeTimeout`.
        tls_handshake_timeout: Duration;
        /// Delay before racing the next address (RFC 8305). Default 250 ms. Go: `Dialer.FallbackDelay`.
        happy_eyeballs_delay: Duration;
        /// Threads running blocking DNS lookups. Default 2.
        resolver_threads: usize;
        /// Response head size and header count limits. Default 64 KiB, 100. Go: `MaxResponseHeaderBytes`.
        head_limits: http1_codec::HeadLimits;
        /// A connection's read buffer size. Default 16 KiB. Go: `ReadBufferSize`.
        read_buffer_size: usize;
    }

    /// Starts the engine thread. A setting that cannot work is refused here with
    /// [`ErrorKind::InvalidConfig`] naming it (see [`Config::validate`]).
    pub fn build(self) -> Result<Client, Error> {
        let ClientBuilder { config, middleware } = self;
        // Validates every setting (the engine thread must not meet a value it cannot use).
        let engine = Engine::new(config.clone())?;
        let waker = engine.waker();
        let (tx, rx) = unbounded();
        let status = Arc::new(EngineStatus::default());
        let thread = std::thread::Builder::new()
            .name("wirepool-engine".into())
            .spawn({
                let status = Arc::clone(&status);
                move || engine_thread(engine, rx, &status)
            })
            .map_err(|e| Error::with_source(ErrorKind::Io, e))?;
        Ok(Client {
            inner: Arc::new(Inner {
                core: Core {
                    engine: Arc::new(EngineThread {
                        handle: Handle { tx, waker, status },
                        thread: Mutex::new(Some(thread)),
                    }),
                    config,
                },
                middleware,
            }),
        })
    }
}

/// Where a request's messages go, from the moment it is sent until the engine is done
/// with it.
///
/// Dropping it closes the caller's mailbox, wherever that happens: the engine finished,
/// failed or discarded the request; the engine stopped; the `Command::Send` carrying it
/// was dropped unprocessed (queued when the engine stopped, refused by a closed
/// channel); or the engine thread is unwinding from a panic. A caller therefore never
/// waits on a mailbox that nobody will close.
struct Route {
    reply: Arc<Mailbox>,
    /// The last message was delivered through [`end`](Self::end).
    ended: bool,
}

impl Route {
    fn new(reply: Arc<Mailbox>) -> Route {
        Route {
            reply,
            ended: false,
        }
    }

    /// Delivers the request's last message (its end or its failure); the drop that
    /// follows closes the mailbox.
    fn end(mut self, msg: Msg) {
        let _ = self.reply.push(msg);
        self.ended = true;
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        // Unwinding from a panic of the engine thread: say so, rather than leave the
        // caller to guess from a bare close (the status is set only once the unwinding
        // is over, after the caller may already have looked).
        if !self.ended && std::thread::panicking() {
            let _ = self.reply.push(Msg::Failed(stopped_error(true)));
        }
        self.reply.close();
    }
}

/// The body of the engine thread: runs the engine until it is shut down or panics,
/// then answers everything it will never process.
///
/// A panic is caught rather than left to end the thread silently: the routes of
/// requests in flight are dropped while unwinding (their callers get
/// [`ErrorKind::EngineFailed`]), the status tells later callers, and commands still
/// queued are failed here. A panic is a bug; this makes it an error, not a hang.
fn engine_thread(mut engine: Engine, rx: Receiver<Command>, status: &EngineStatus) {
    let run = panic::catch_unwind(AssertUnwindSafe(|| run_engine(&mut engine, &rx)));
    let panicked = run.is_err();
    status.stop(panicked);
    // Whatever is still queued will never run. A `Send` is failed in words; dropping any
    // other command answers it (a `Stats` caller sees its reply channel close).
    while let Ok(cmd) = rx.try_recv() {
        if let Command::Send { reply, .. } = cmd {
            reply.end(Msg::Failed(stopped_error(panicked)));
        }
    }
    // Sends from now on are refused by the closed channel.
    drop(rx);
    if panicked {
        // The engine stopped halfway through a change; dropping it closes its sockets.
        // Should that panic as well, nobody is left to tell: end the thread quietly.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(engine)));
    }
}

/// The engine loop: apply commands, run a turn, route events; until shutdown.
fn run_engine(engine: &mut Engine, rx: &Receiver<Command>) {
    let mut routes: HashMap<RequestId, Route> = HashMap::new();
    // Mailboxes filled during the current turn, woken once when it ends.
    let mut filled: Vec<Arc<Mailbox>> = Vec::new();
    loop {
        let mut shutdown = false;
        loop {
            let cmd = match rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => break,
                // Every handle is gone without a Shutdown (cannot happen: the
                // `EngineThread` owning the last one sends it on drop); stop all the same.
                Err(TryRecvError::Disconnected) => {
                    shutdown = true;
                    break;
                }
            };
            match cmd {
                Command::Send {
                    request,
                    opts,
                    reply,
                } => match engine.submit_with(*request, opts) {
                    Ok(id) => {
                        routes.insert(id, reply);
                    }
                    Err(e) => reply.end(Msg::Failed(e)),
                },
                Command::Discard(id) => {
                    routes.remove(&id);
                    engine.discard(id);
                }
                Command::Resume(id) => engine.resume(id),
                Command::CloseIdle => engine.close_idle(),
                Command::Stats(reply) => {
                    let _ = reply.send(engine.stats());
                }
                Command::Shutdown => shutdown = true,
                Command::PanicForTests(after) => {
                    std::thread::sleep(after);
                    panic!("wirepool: engine thread panic requested by a test");
                }
            }
        }
        if shutdown {
            engine.shutdown(|ev| route(&mut routes, &mut filled, ev));
            wake_all(&mut filled);
            return;
        }
        let turn = engine.poll(None, |ev| route(&mut routes, &mut filled, ev));
        wake_all(&mut filled);
        if turn.is_err() {
            // The poller itself failed: nothing can make progress. Fail everything.
            engine.shutdown(|ev| route(&mut routes, &mut filled, ev));
            wake_all(&mut filled);
            return;
        }
    }
}

/// Wakes the callers whose mailboxes got messages this turn.
fn wake_all(filled: &mut Vec<Arc<Mailbox>>) {
    for mailbox in filled.drain(..) {
        mailbox.wake();
    }
}

/// Remembers that `mailbox` got a message this turn. A response's pieces usually come
/// one after another, so a repeat of the last entry is skipped: a body of many small
/// chunks costs one wake-up per turn, not one list entry per chunk.
fn note_filled(filled: &mut Vec<Arc<Mailbox>>, mailbox: &Arc<Mailbox>) {
    if !filled.last().is_some_and(|last| Arc::ptr_eq(last, mailbox)) {
        filled.push(Arc::clone(mailbox));
    }
}

/// Hands an engine event to its request's caller. Mailboxes that got a message are
/// collected in `filled`, to be woken once after the turn.
fn route(
    routes: &mut HashMap<RequestId, Route>,
    filled: &mut Vec<Arc<Mailbox>>,
    ev: Event<'_>,
) -> Flow {
    match ev {
        Event::Head { id, head, info } => {
            let Some(r) = routes.get(&id) else {
                return Flow::Continue;
            };
            let mut resp = http::Response::new(());
            *resp.status_mut() = head.status();
            *resp.version_mut() = head.version();
            *resp.headers_mut() = head.header_map();
            if r.reply.push(Msg::Head(id, resp, *info)).is_ok() {
                note_filled(filled, &r.reply);
            }
            Flow::Continue
        }
        Event::Data { id, data } => {
            let Some(r) = routes.get(&id) else {
                return Flow::Continue;
            };
            let n = data.len();
            // Counted before the bytes are queued: the reader may take them the moment
            // they are, and its subtraction must never find the counter below them.
            let before = r.reply.buffered.fetch_add(n, Ordering::AcqRel);
            if r.reply.push_data(data).is_err() {
                // The reader is gone and its Discard is on the way: stop reading until it
                // arrives, so the drain rule (not the speed of this loop) decides.
                return Flow::Pause;
            }
            note_filled(filled, &r.reply);
            if before <= r.reply.limit && before + n > r.reply.limit {
                Flow::Pause
            } else {
                Flow::Continue
            }
        }
        Event::Done { id, info } => {
            if let Some(r) = routes.remove(&id) {
                // Ending the route closes the mailbox, which wakes the caller.
                r.end(Msg::Done(info));
            }
            Flow::Continue
        }
        Event::Failed { id, error } => {
            if let Some(r) = routes.remove(&id) {
                r.end(Msg::Failed(error));
            }
            Flow::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_command(reply: Route) -> Command {
        Command::Send {
            request: Box::new(Request::new(Body::empty())),
            opts: RequestOptions::default(),
            reply,
        }
    }

    /// A `Send` that never reaches the engine (dropped in the channel, or refused)
    /// closes its caller's mailbox: the caller wakes instead of waiting for ever.
    #[test]
    fn a_send_dropped_unprocessed_closes_its_mailbox() {
        let mailbox = Mailbox::new(16);
        let cmd = send_command(Route::new(Arc::clone(&mailbox)));
        let (tx, rx) = unbounded();
        tx.send(cmd).unwrap();
        drop(rx); // the engine thread is gone with the command still queued
        drop(tx);
        assert!(mailbox.recv().is_none());
    }

    /// A route dropped while the engine thread unwinds tells its caller the engine
    /// failed, not just that the mailbox closed.
    #[test]
    fn a_route_dropped_by_a_panic_reports_engine_failed() {
        let mailbox = Mailbox::new(16);
        let route = Route::new(Arc::clone(&mailbox));
        let outcome = std::thread::spawn(move || {
            let _route = route;
            panic!("engine bug");
        })
        .join();
        assert!(outcome.is_err());
        match mailbox.recv() {
            Some(Msg::Failed(e)) => assert_eq!(e.kind(), ErrorKind::EngineFailed),
            _ => panic!("expected Failed(EngineFailed)"),
        }
        assert!(mailbox.recv().is_none());
    }

    /// Tiny pieces are coalesced up to `COALESCE_BYTES`; a full-size piece is queued as
    /// is; the bytes come out in order.
    #[test]
    fn small_pieces_are_coalesced_and_large_ones_kept_whole() {
        let mailbox = Mailbox::new(1 << 20);
        for i in 0..COALESCE_BYTES + 10 {
            mailbox.push_data(&[i as u8]).unwrap();
        }
        mailbox.push_data(&[7; COALESCE_BYTES]).unwrap();
        mailbox.push_data(b"tail").unwrap();
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        mailbox.close();
        while let Some(msg) = mailbox.recv() {
            if let Msg::Data(d) = msg {
                sizes.push(d.len());
                all.extend_from_slice(&d);
            }
        }
        assert_eq!(sizes, [COALESCE_BYTES, 10, COALESCE_BYTES, 4]);
        let expected: Vec<u8> = (0..COALESCE_BYTES + 10)
            .map(|i| i as u8)
            .chain([7; COALESCE_BYTES])
            .chain(*b"tail")
            .collect();
        assert!(all == expected);
    }
}
