//! Soak: one [`Client`] shared by many threads for a bounded time, against a server that
//! injects seeded random faults into single exchanges, and a ledger that must explain
//! every failure.
//!
//! What it proves (issue 9's "done when"):
//! - every request gets exactly one outcome, within its deadline (plus a margin for a
//!   loaded machine); a caller that never returns fails the test instead of hanging it;
//! - a response carries its own request's bytes and nobody else's: request `N` goes to
//!   path `/N` with `X-Req-Id: N`, the server answers with `X-Req-Id: N`, the body length
//!   in `X-Body-Len`, and a body that is a slice of a random block at an offset drawn from
//!   `N`; the client checks every byte it received, of failed responses too;
//! - a request fails only because of a fault injected on *its own* exchange. The server
//!   writes down, per request id, every attempt it read (connection, fault). At the end a
//!   failed request's last attempt must carry a failing fault that can produce the error
//!   kind the client got, a request that succeeded must have had a harmless last
//!   exchange, and only a reset may have made the client send it again. A GET that met a
//!   connection the server had closed while it sat idle (a stale connection:
//!   [`Fault::CloseWhenIdle`] on the previous exchange) must not fail: the engine resends
//!   it once on a fresh connection;
//! - nothing leaks: after `close_idle()` the server sees no open connection while the
//!   client is still alive and the pool's gauges are zero; after dropping the client and
//!   the server, the process's descriptors and threads are back to what they were;
//! - memory is flat after warm-up: the resident set size, sampled every 200 ms, has a
//!   median in the last third of the run no more than 8 MiB + 5 % above the median of
//!   the middle third (the first third is warm-up). See [`judge_rss`].
//!
//! The faults are listed in [`Fault`] with their weights in [`FAULT_WEIGHTS`]. Bodies
//! (Content-Length or chunked in random chunks, 0 to 256 KiB) and head padding (heads of
//! ~70 bytes to ~2 KiB) vary with every exchange, so heads of different lengths arrive
//! whole, split or trickled on many connections at once. One caller in
//! [`DROP_EARLY_IN`] reads only a part of the body and drops the response, so that
//! connections also go through the engine's background drain before they are reused;
//! the idle pool is smaller than the number of callers ([`MAX_IDLE`]), so it also evicts.
//!
//! Settings (environment): `WIREPOOL_SOAK_SECS` (default 15), `WIREPOOL_SOAK_SEED`
//! (decimal or `0x` hex; default random, always printed), `WIREPOOL_SOAK_THREADS`
//! (default 24). A failure prints the environment that replays it:
//! `WIREPOOL_SOAK_SEED=.. WIREPOOL_SOAK_SECS=.. WIREPOOL_SOAK_THREADS=.. cargo test -p
//! pool-core --test soak -- --nocapture`. The seed fixes every request's body, its
//! reader, and the exchange of each of its attempts; which exchanges meet on the wire at
//! the same moment still depends on scheduling, so a rare failure may need a few runs
//! (or a longer one) to show again.
//!
//! No speed is asserted: the loops are bounded in time, every wait has a deadline, and
//! everything runs on 127.0.0.1. Descriptors and threads are process-wide: this test
//! lives in a binary of its own and holds `testkit::process_lock()`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use common::{env_number, mix, random_seed, Rng};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{kind_of, wait_until};
use testkit::{open_fds, ServerConn, TestServer};
use wirepool::http::Request;
use wirepool::{Body, Client, ErrorKind, RequestOptions, Stats};

// ---- settings -----------------------------------------------------------------------------

/// How long the soak sends requests unless `WIREPOOL_SOAK_SECS` says otherwise.
const DEFAULT_SECS: u64 = 15;

/// Caller threads sharing the one client unless `WIREPOOL_SOAK_THREADS` says otherwise.
const DEFAULT_THREADS: usize = 24;

/// Every request's own total timeout (`RequestOptions::timeout`). Long enough that a
/// healthy exchange (a 256 KiB body, a trickled head) finishes on a loaded two-core
/// machine in a debug build.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The client's `response_header_timeout`, shorter than [`REQUEST_TIMEOUT`] so that both
/// deadlines fire: it ends a [`Fault::HangBeforeHead`], the total timeout ends a
/// [`Fault::HangMidBody`]. A trickled head takes at most ~300 ms of it.
const HEAD_TIMEOUT: Duration = Duration::from_secs(3);

/// Idle connections the client keeps, fewer than the callers, so that the pool also
/// evicts.
const MAX_IDLE: usize = 8;

/// Slack allowed past [`REQUEST_TIMEOUT`] before an outcome counts as late: the caller
/// thread, the engine thread and the server threads share two cores with other builds.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// How long the end-of-run checks wait for sockets and threads to go away.
const SETTLE: Duration = Duration::from_secs(10);

/// The longest response body.
const MAX_BODY: usize = 256 * 1024;

/// A body this long or shorter goes out in one write together with the garbage behind it,
/// in one segment on loopback, so the client has the garbage before the body's last byte
/// is used. Longer bodies get [`Fault::Whole`] instead of [`Fault::GarbageAfter`]: garbage
/// that arrives after the client pooled the connection may meet the next request, which no
/// client can avoid.
const GARBAGE_AFTER_MAX_BODY: usize = 8 * 1024;

/// The body length announced by faults that cut a body short when the request's own body
/// is empty (there must be something to cut).
const CUT_BODY_LEN: usize = 1000;

/// Exchanges remembered for the "earlier on the same connection" part of a problem
/// report: with 24 callers, far more than any connection's recent past.
const RECENT_EXCHANGES: usize = 8192;

/// Distinct body offsets in the pattern block; a prime, so offsets of different requests
/// rarely line up.
const PATTERN_OFFSETS: usize = 65_521;

// ---- faults -------------------------------------------------------------------------------

/// What the server does with one exchange (one request it has read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Fault {
    /// The whole response in one write.
    Whole,
    /// The head in two to five pieces, 1-5 ms apart; the body with the last piece.
    SplitHead,
    /// The head one byte per write (up to 1 ms apart, at most ~300 ms in all), then the
    /// body.
    TrickleHead,
    /// The whole response, then (0-20 ms later) the server closes without a word: a stale
    /// connection for whoever reuses it, which must not fail (retried once).
    CloseWhenIdle,
    /// The whole response followed in the same write by garbage: the response is fine,
    /// the connection must never be reused (the server keeps serving it, so a reuse would
    /// fail the next, innocent request).
    GarbageAfter,
    /// Garbage instead of a response, then a close.
    GarbageResponse,
    /// The head and part of the body, then a FIN: a truncated body.
    Truncated,
    /// The head and part of the body, then a RST.
    ResetMidBody,
    /// A RST right after reading the request: nothing of a response.
    ResetBeforeResponse,
    /// Never answers; holds the connection until the client gives up.
    HangBeforeHead,
    /// The head and part of the body, then nothing until the client gives up.
    HangMidBody,
}

/// Each fault's share of a thousand exchanges. Hangs are rare: each one holds a caller
/// for seconds.
const FAULT_WEIGHTS: [(Fault, u32); 11] = [
    (Fault::Whole, 398),
    (Fault::SplitHead, 250),
    (Fault::TrickleHead, 20),
    (Fault::CloseWhenIdle, 120),
    (Fault::GarbageAfter, 40),
    (Fault::GarbageResponse, 40),
    (Fault::Truncated, 50),
    (Fault::ResetMidBody, 40),
    (Fault::ResetBeforeResponse, 40),
    (Fault::HangBeforeHead, 1),
    (Fault::HangMidBody, 1),
];

impl Fault {
    /// The error kinds this fault may cause on its own exchange; empty for a fault after
    /// which the exchange must succeed.
    fn expected_errors(self) -> &'static [ErrorKind] {
        match self {
            Fault::Whole
            | Fault::SplitHead
            | Fault::TrickleHead
            | Fault::CloseWhenIdle
            | Fault::GarbageAfter => &[],
            Fault::GarbageResponse | Fault::Truncated => &[ErrorKind::Protocol],
            Fault::ResetMidBody | Fault::ResetBeforeResponse => &[ErrorKind::ConnectionClosed],
            Fault::HangBeforeHead => &[ErrorKind::ResponseHeaderTimeout],
            Fault::HangMidBody => &[ErrorKind::Timeout],
        }
    }

    /// Whether the exchange must fail.
    fn fails(self) -> bool {
        !self.expected_errors().is_empty()
    }

    /// Whether the client may have seen no response byte at all, so that a GET on a
    /// reused connection is resent: a reset before the response, or one that overtook
    /// the partial response. After any other fault a resend is a bug.
    fn may_be_retried(self) -> bool {
        matches!(self, Fault::ResetBeforeResponse | Fault::ResetMidBody)
    }

    /// Whether the exchange cuts the body short (and needs a body to cut).
    fn cuts_body(self) -> bool {
        matches!(
            self,
            Fault::Truncated | Fault::ResetMidBody | Fault::HangMidBody
        )
    }
}

// ---- seeded draws -------------------------------------------------------------------------

impl Rng {
    /// The stream for `(seed, id, stream)`: the same numbers on every run with that seed.
    fn for_id(seed: u64, id: u64, stream: u64) -> Rng {
        Rng(mix(seed ^ mix(id ^ mix(stream))) | 1)
    }
}

/// Stream numbers, so that the body does not depend on the attempt and the attempts do
/// not depend on each other.
const STREAM_BODY: u64 = 1;
const STREAM_READER: u64 = 2;
const STREAM_IDLE_CLOSE: u64 = 3;
const STREAM_ATTEMPT: u64 = 0x100;

/// A fixed block of random bytes; every body is a slice of it.
fn pattern_block() -> &'static [u8] {
    static BLOCK: OnceLock<Vec<u8>> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut rng = Rng(0x5eed_b10c_0dd5_eed5);
        (0..PATTERN_OFFSETS + MAX_BODY.max(CUT_BODY_LEN))
            .map(|_| (rng.next() >> 56) as u8)
            .collect()
    })
}

/// Request `id`'s body length and where its bytes start in the pattern block.
fn body_spec(seed: u64, id: u64) -> (usize, usize) {
    let mut rng = Rng::for_id(seed, id, STREAM_BODY);
    let len = match rng.below(10) {
        0..=4 => rng.between(0, 1024),
        5..=7 => rng.between(0, 32 * 1024),
        _ => rng.between(0, MAX_BODY),
    };
    (len, rng.below(PATTERN_OFFSETS))
}

/// Request `id`'s body bytes `..len` (any `len` up to the largest body: a cut body is a
/// prefix of the full one).
fn body_bytes(seed: u64, id: u64, len: usize) -> &'static [u8] {
    let (_, offset) = body_spec(seed, id);
    &pattern_block()[offset..offset + len]
}

// ---- findings -----------------------------------------------------------------------------

/// Something the soak found wrong: a class, to count alike findings, and the particulars.
#[derive(Clone, Debug)]
struct Problem {
    class: String,
    text: String,
}

impl Problem {
    fn new(class: impl Into<String>, text: impl Into<String>) -> Problem {
        Problem {
            class: class.into(),
            text: text.into(),
        }
    }
}

// ---- the server ---------------------------------------------------------------------------

/// One exchange as the server read it.
#[derive(Clone, Copy, Debug)]
struct Attempt {
    /// Server-side index of the connection it came on.
    conn: usize,
    fault: Fault,
}

/// What the server did, for the end-of-run verdict.
#[derive(Debug, Default)]
struct Ledger {
    state: Mutex<LedgerState>,
}

#[derive(Debug, Default)]
struct LedgerState {
    /// Every attempt of every request id whose outcome has not been judged yet, in the
    /// order read (a judged request's entry is removed, so the ledger stays small).
    attempts: HashMap<u64, Vec<Attempt>>,
    /// The last [`RECENT_EXCHANGES`] exchanges, as (server connection, request id,
    /// fault), oldest first: what came before on a connection, for problem reports.
    recent: VecDeque<(usize, u64, Fault)>,
    /// How often each fault was injected.
    faults: BTreeMap<Fault, u64>,
    /// Requests the server could not make sense of (they must never happen).
    problems: Vec<Problem>,
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the next attempt of request `id` on connection `conn` and decides its
    /// exchange (drawn from the seed, the id and the attempt's number).
    fn begin(&self, seed: u64, id: u64, conn: usize) -> Exchange {
        let attempt = {
            let mut state = self.lock();
            let attempts = state.attempts.entry(id).or_default();
            let attempt = attempts.len() as u64;
            let fault = Exchange::fault(seed, id, attempt);
            attempts.push(Attempt { conn, fault });
            if state.recent.len() == RECENT_EXCHANGES {
                state.recent.pop_front();
            }
            state.recent.push_back((conn, id, fault));
            *state.faults.entry(fault).or_default() += 1;
            attempt
        };
        // Building the response (up to 256 KiB) happens outside the lock.
        Exchange::draw(seed, id, attempt)
    }

    fn problem(&self, what: String) {
        let problem = Problem::new("the server read a request that is not ours", what);
        self.lock().problems.push(problem);
    }
}

/// The response to one attempt, and how it goes on the wire.
#[derive(Debug)]
struct Exchange {
    fault: Fault,
    /// Head and framed body, ready to write.
    wire: Vec<u8>,
    head_len: usize,
    /// Cut points inside the head ([`Fault::SplitHead`]), increasing.
    head_cuts: Vec<usize>,
    /// Pause between pieces of a split or trickled head.
    pause: Duration,
    /// Where a cut body stops (a position in `wire` past the head).
    cut_at: usize,
    /// Which garbage, for the garbage faults.
    garbage: usize,
}

/// Bytes that are not the start of an HTTP/1.1 response, or not a usable one.
const GARBAGE: [&[u8]; 5] = [
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 200 OK junk",
    b"\x00\x01\x02\xff binary\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",
];

impl Exchange {
    /// The fault of attempt `attempt` of request `id`: the first draw of its stream.
    fn fault(seed: u64, id: u64, attempt: u64) -> Fault {
        Exchange::draw_fault(
            &mut Rng::for_id(seed, id, STREAM_ATTEMPT + attempt),
            seed,
            id,
        )
    }

    fn draw_fault(rng: &mut Rng, seed: u64, id: u64) -> Fault {
        let mut pick = rng.below(1000) as u32;
        let mut fault = Fault::Whole;
        for (f, weight) in FAULT_WEIGHTS {
            if pick < weight {
                fault = f;
                break;
            }
            pick -= weight;
        }
        if fault == Fault::GarbageAfter && body_spec(seed, id).0 > GARBAGE_AFTER_MAX_BODY {
            fault = Fault::Whole;
        }
        fault
    }

    /// Everything about attempt `attempt` of request `id`.
    fn draw(seed: u64, id: u64, attempt: u64) -> Exchange {
        let mut rng = Rng::for_id(seed, id, STREAM_ATTEMPT + attempt);
        let fault = Exchange::draw_fault(&mut rng, seed, id);
        let (body_len, _) = body_spec(seed, id);
        let len = if fault.cuts_body() && body_len == 0 {
            CUT_BODY_LEN
        } else {
            body_len
        };
        let chunked = rng.below(3) == 0;
        // Padding makes heads from ~70 bytes to ~2 KiB long, so that one connection's
        // partial head can be longer than another's complete one.
        let mut head = format!("HTTP/1.1 200 OK\r\nX-Req-Id: {id}\r\nX-Body-Len: {len}\r\n");
        for i in 0..rng.below(13) {
            let pad = "p".repeat(rng.below(151));
            let _ = write!(head, "X-Pad-{i}: {pad}\r\n");
        }
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        } else {
            let _ = write!(head, "Content-Length: {len}\r\n\r\n");
        }
        let head_len = head.len();
        let mut wire = head.into_bytes();
        let body = body_bytes(seed, id, len);
        if chunked {
            let mut rest = body;
            while !rest.is_empty() {
                let n = rng.between(1, 16 * 1024).min(rest.len());
                wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        } else {
            wire.extend_from_slice(body);
        }
        let mut head_cuts: Vec<usize> = (0..rng.between(1, 4))
            .map(|_| rng.between(1, head_len - 1))
            .collect();
        head_cuts.sort_unstable();
        head_cuts.dedup();
        let pause = match fault {
            Fault::TrickleHead => Duration::from_micros((300_000 / head_len as u64).min(1000)),
            _ => Duration::from_millis(rng.between(1, 5) as u64),
        };
        // At least the head, never the whole response (a fault that cuts the body has
        // one to cut).
        let cut_at = if wire.len() > head_len {
            rng.between(head_len, wire.len() - 1)
        } else {
            head_len
        };
        Exchange {
            fault,
            wire,
            head_len,
            head_cuts,
            pause,
            cut_at,
            garbage: rng.below(GARBAGE.len()),
        }
    }

    /// Plays the exchange on `conn`; false when the connection is over.
    fn play(&self, conn: &mut ServerConn, idle_close_after: Duration) -> bool {
        match self.fault {
            Fault::Whole => conn.write(&self.wire),
            Fault::SplitHead => {
                let mut from = 0;
                for &cut in &self.head_cuts {
                    if conn.try_write(&self.wire[from..cut]).is_err() {
                        return false;
                    }
                    std::thread::sleep(self.pause);
                    from = cut;
                }
                conn.write(&self.wire[from..]);
            }
            Fault::TrickleHead => {
                for i in 0..self.head_len {
                    if conn.try_write(&self.wire[i..=i]).is_err() {
                        return false;
                    }
                    std::thread::sleep(self.pause);
                }
                conn.write(&self.wire[self.head_len..]);
            }
            Fault::CloseWhenIdle => {
                conn.write(&self.wire);
                std::thread::sleep(idle_close_after);
                conn.close();
                return false;
            }
            Fault::GarbageAfter => {
                let mut wire = self.wire.clone();
                wire.extend_from_slice(GARBAGE[self.garbage]);
                conn.write(&wire);
            }
            Fault::GarbageResponse => {
                conn.write(GARBAGE[self.garbage]);
                conn.close();
                return false;
            }
            Fault::Truncated => {
                conn.write(&self.wire[..self.cut_at]);
                conn.close();
                return false;
            }
            Fault::ResetMidBody => {
                conn.write(&self.wire[..self.cut_at]);
                conn.reset();
                return false;
            }
            Fault::ResetBeforeResponse => {
                conn.reset();
                return false;
            }
            Fault::HangBeforeHead => {
                conn.wait_for_client_close();
                return false;
            }
            Fault::HangMidBody => {
                conn.write(&self.wire[..self.cut_at]);
                conn.wait_for_client_close();
                return false;
            }
        }
        true
    }
}

/// One server connection: read requests and play each one's exchange, until the client
/// closes or a fault ends the connection.
fn serve(conn: &mut ServerConn, seed: u64, ledger: &Ledger) {
    while let Some(request) = conn.read_request() {
        let id = request
            .header("x-req-id")
            .and_then(|v| v.parse::<u64>().ok());
        let Some(id) = id else {
            ledger.problem(format!(
                "server conn {}: request without a usable X-Req-Id: {:?}",
                conn.index(),
                testkit::show(&request.raw)
            ));
            return;
        };
        if request.method != "GET" || request.target != format!("/{id}") {
            ledger.problem(format!(
                "server conn {}: request {id} arrived as {} {}",
                conn.index(),
                request.method,
                request.target
            ));
        }
        let exchange = ledger.begin(seed, id, conn.index());
        let idle_close_after =
            Duration::from_millis(Rng::for_id(seed, id, STREAM_IDLE_CLOSE).below(21) as u64);
        if !exchange.play(conn, idle_close_after) {
            return;
        }
    }
}

// ---- the callers --------------------------------------------------------------------------

/// Where a failure surfaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// `send` returned the error: no head.
    Head,
    /// Reading the body returned it.
    Body,
}

#[derive(Debug)]
struct Failure {
    kind: ErrorKind,
    stage: Stage,
    /// The error's text and its source's, e.g. `protocol error from server: ...`.
    cause: String,
    detail: String,
}

/// An error's text followed by its source's.
fn cause_of(e: &wirepool::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

#[derive(Debug)]
struct Success {
    retries: u8,
    /// The caller read the whole body (else it read a part and dropped the rest, for
    /// the engine to drain or close).
    complete: bool,
}

/// The share of callers that read only a part of the body and drop the response, so
/// that connections go through the background drain before they are reused.
const DROP_EARLY_IN: usize = 10;

/// How many body bytes the caller of request `id` reads before dropping the response;
/// `None`: all of them.
fn reader_keeps(seed: u64, id: u64) -> Option<usize> {
    let mut rng = Rng::for_id(seed, id, STREAM_READER);
    (rng.below(DROP_EARLY_IN) == 0).then(|| rng.between(0, body_spec(seed, id).0))
}

/// One request's outcome as its caller saw it.
#[derive(Debug)]
struct Outcome {
    id: u64,
    elapsed: Duration,
    result: Result<Success, Failure>,
    /// What was wrong with the bytes or the head (never allowed).
    wrong: Vec<Problem>,
}

/// Sends request `id` and reads its whole response, checking every byte.
fn exchange(client: &Client, base: &str, seed: u64, id: u64) -> Outcome {
    let started = Instant::now();
    let request = Request::get(format!("{base}/{id}"))
        .header("X-Req-Id", id.to_string())
        .body(Body::empty())
        .unwrap();
    let mut wrong = Vec::new();
    let opts = RequestOptions::timeout(REQUEST_TIMEOUT);
    let result = match client.send_with(request, opts) {
        Err(e) => Err(Failure {
            kind: e.kind(),
            stage: Stage::Head,
            cause: cause_of(&e),
            detail: format!("{e:?}"),
        }),
        Ok(mut resp) => {
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if header("x-req-id") != Some(id.to_string()) {
                wrong.push(Problem::new(
                    "a response head carried another request's id",
                    format!("request {id} got the head of {:?}", header("x-req-id")),
                ));
            }
            if resp.status() != 200 {
                wrong.push(Problem::new(
                    "a response with a status the server never sends",
                    format!("request {id} got status {}", resp.status()),
                ));
            }
            let announced = header("x-body-len").and_then(|v| v.parse::<usize>().ok());
            let retries = resp.info().retries;
            let keep = reader_keeps(seed, id);
            let mut got = Vec::new();
            let read = match keep {
                None => resp.body_mut().read_to_end(&mut got),
                Some(n) => resp.body_mut().take(n as u64).read_to_end(&mut got),
            };
            // The rest is the engine's to drain (or to close).
            drop(resp);
            // Every byte that arrived, of a complete body or a cut one, must be this
            // request's.
            let limit = pattern_block().len() - body_spec(seed, id).1;
            let expected = body_bytes(seed, id, got.len().min(limit));
            if let Some(at) = got.iter().zip(expected).position(|(a, b)| a != b) {
                wrong.push(Problem::new(
                    "body bytes that are not the request's own",
                    format!(
                        "request {id}: body byte {at} of {} is not its own (got {:?}, expected {:?})",
                        got.len(),
                        testkit::show(&got[at..got.len().min(at + 16)]),
                        testkit::show(&expected[at..expected.len().min(at + 16)])
                    ),
                ));
            }
            match read {
                Ok(_) => {
                    let (len, _) = body_spec(seed, id);
                    match keep {
                        None if got.len() != len || announced != Some(len) => {
                            wrong.push(Problem::new(
                                "a complete body of the wrong length",
                                format!(
                                    "request {id}: body of {} bytes (X-Body-Len {announced:?}), expected {len}",
                                    got.len()
                                ),
                            ));
                        }
                        // A part: as much as asked for, or less if the body ended.
                        Some(n) if got.len() != n.min(announced.unwrap_or(len)) => {
                            wrong.push(Problem::new(
                                "a partial read of the wrong length",
                                format!(
                                    "request {id}: read {} of the first {n} body bytes (X-Body-Len {announced:?})",
                                    got.len()
                                ),
                            ));
                        }
                        _ => {}
                    }
                    Ok(Success {
                        retries,
                        complete: keep.is_none(),
                    })
                }
                Err(e) => {
                    let kind = kind_of(&e).unwrap_or_else(|| {
                        wrong.push(Problem::new(
                            "a body read error that is not a wirepool error",
                            format!("request {id}: body read failed with {e:?}"),
                        ));
                        ErrorKind::Io
                    });
                    let ours = e
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<wirepool::Error>());
                    Err(Failure {
                        kind,
                        stage: Stage::Body,
                        cause: ours.map_or_else(|| e.to_string(), cause_of),
                        detail: format!("{e:?} after {} body bytes", got.len()),
                    })
                }
            }
        }
    };
    Outcome {
        id,
        elapsed: started.elapsed(),
        result,
        wrong,
    }
}

/// What every caller thread shares.
struct Callers {
    client: Client,
    base: String,
    seed: u64,
    next_id: AtomicU64,
    stop_at: Instant,
    /// Per caller: the request it is waiting for, and since when (for the watchdog).
    in_flight: Vec<Mutex<Option<(u64, Instant)>>>,
    ledger: Arc<Ledger>,
    max_retries: u8,
}

/// What a caller's outcomes came to: the counts for the figures and the problems found.
/// Each outcome is judged as soon as it is known and then forgotten, with its request's
/// attempts in the ledger, so that the soak's own memory does not grow with the number
/// of requests (its memory is measured).
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    ok: u64,
    retried: u64,
    read_in_part: u64,
    failed: BTreeMap<String, u64>,
    slowest_ok: Duration,
    problems: Vec<Problem>,
}

impl Tally {
    fn count(&mut self, o: &Outcome) {
        self.requests += 1;
        match &o.result {
            Ok(success) => {
                self.ok += 1;
                self.retried += u64::from(success.retries > 0);
                self.read_in_part += u64::from(!success.complete);
                self.slowest_ok = self.slowest_ok.max(o.elapsed);
            }
            Err(f) => *self.failed.entry(format!("{:?}", f.kind)).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.retried += other.retried;
        self.read_in_part += other.read_in_part;
        for (kind, n) in other.failed {
            *self.failed.entry(kind).or_default() += n;
        }
        self.slowest_ok = self.slowest_ok.max(other.slowest_ok);
        self.problems.extend(other.problems);
    }
}

fn run_caller(callers: &Callers, me: usize) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < callers.stop_at {
        let id = callers.next_id.fetch_add(1, Ordering::Relaxed);
        *lock(&callers.in_flight[me]) = Some((id, Instant::now()));
        let outcome = exchange(&callers.client, &callers.base, callers.seed, id);
        *lock(&callers.in_flight[me]) = None;
        // Every attempt of this request was read before its outcome could be known (the
        // server writes an attempt down before it answers or fails it).
        let mut ledger = callers.ledger.lock();
        tally.problems.extend(judge(
            std::slice::from_ref(&outcome),
            &ledger,
            callers.max_retries,
        ));
        ledger.attempts.remove(&id);
        drop(ledger);
        tally.count(&outcome);
    }
    tally
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---- measuring ----------------------------------------------------------------------------

/// How often the resident set size is sampled during the run.
const RSS_EVERY: Duration = Duration::from_millis(200);

/// Growth of the median RSS from the middle third of the run to the last third that
/// still counts as flat: the allocator's arenas (24 caller threads, the engine, a server
/// thread per connection) settle at their own pace, and bodies of up to 256 KiB come
/// and go, so a few MiB move either way; a leak of even a few hundred bytes per request
/// grows past this within a minute.
const RSS_SLACK_BYTES: usize = 8 << 20;

/// The same, as a fraction of the middle third's median.
const RSS_SLACK_FRACTION: f64 = 0.05;

/// Samples this process's resident set size on a thread of its own while the callers run.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<(Duration, usize)>>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = std::thread::Builder::new()
            .name("soak-rss".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || {
                    let started = Instant::now();
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(rss) = rss_bytes() {
                            samples.push((started.elapsed(), rss));
                        }
                        std::thread::sleep(RSS_EVERY);
                    }
                    samples
                }
            })
            .unwrap();
        RssSampler { stop, handle }
    }

    /// Stops the sampler (its thread is joined, so the thread count is not off) and
    /// returns the samples: time since the start, RSS in bytes.
    fn stop(self) -> Vec<(Duration, usize)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// This process's resident set size in bytes (`VmRSS` of `/proc/self/status`).
fn rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn median(mut values: Vec<usize>) -> usize {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// RSS flat after warm-up: the first third of the run is warm-up (pools, buffers and
/// arenas filling); the median of the last third may exceed the median of the middle
/// third by at most the slack. Prints the figures; a run too short for three thirds of
/// samples is reported and not judged.
fn judge_rss(samples: &[(Duration, usize)]) -> Vec<Problem> {
    const MIB: f64 = (1 << 20) as f64;
    let Some(&(end, _)) = samples.last() else {
        println!("soak: rss: no samples (no /proc/self/status?)");
        return Vec::new();
    };
    let third = end / 3;
    let middle: Vec<usize> = samples
        .iter()
        .filter(|(t, _)| *t >= third && *t < third * 2)
        .map(|s| s.1)
        .collect();
    let last: Vec<usize> = samples
        .iter()
        .filter(|(t, _)| *t >= third * 2)
        .map(|s| s.1)
        .collect();
    if middle.len() < 5 || last.len() < 5 {
        println!(
            "soak: rss: {} samples, too few to judge (run for 3 s or more)",
            samples.len()
        );
        return Vec::new();
    }
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let (warm, middle, last) = (samples[0].1, median(middle), median(last));
    let allowed = RSS_SLACK_BYTES + (middle as f64 * RSS_SLACK_FRACTION) as usize;
    println!(
        "soak: rss: {:.1} MiB at the start, median {:.1} MiB after warm-up (middle third), \
         {:.1} MiB in the last third (growth {:+.1} MiB, allowed {:.1}), peak {:.1} MiB; \
         {} samples over {end:.1?}",
        warm as f64 / MIB,
        middle as f64 / MIB,
        last as f64 / MIB,
        (last as f64 - middle as f64) / MIB,
        allowed as f64 / MIB,
        peak as f64 / MIB,
        samples.len()
    );
    if last > middle + allowed {
        let text = format!(
            "median RSS grew from {:.1} MiB (middle third) to {:.1} MiB (last third), more \
             than the {:.1} MiB allowed",
            middle as f64 / MIB,
            last as f64 / MIB,
            allowed as f64 / MIB
        );
        return vec![Problem::new("memory: RSS not flat after warm-up", text)];
    }
    Vec::new()
}

/// The pool's counters. The one place that calls `Client::stats`, so that a change of its
/// signature is one edit.
fn pool_stats(client: &Client) -> Stats {
    client.stats().expect("the engine is running")
}

/// This process's thread count (`Threads:` in `/proc/self/status`), where there is one.
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

// ---- the verdict --------------------------------------------------------------------------

/// Checks every outcome against what the server did; returns the violations.
fn judge(outcomes: &[Outcome], ledger: &LedgerState, max_retries: u8) -> Vec<Problem> {
    let mut problems = Vec::new();
    let late = REQUEST_TIMEOUT + DEADLINE_MARGIN;
    let history = |id: u64| -> String {
        let attempts = ledger.attempts.get(&id).map_or(&[][..], Vec::as_slice);
        let mut out = format!("attempts {attempts:?}");
        // What came before on the same connections: a fault there may be the cause.
        for a in attempts {
            let earlier: Vec<_> = ledger
                .recent
                .iter()
                .filter(|(conn, _, _)| *conn == a.conn)
                .take_while(|(_, other, _)| *other != id)
                .map(|(_, other, fault)| (*other, *fault))
                .collect();
            if !earlier.is_empty() {
                let _ = write!(
                    out,
                    "; earlier on server conn {}: {:?}",
                    a.conn,
                    &earlier[earlier.len().saturating_sub(3)..]
                );
            }
        }
        out
    };
    for o in outcomes {
        problems.extend(o.wrong.iter().cloned());
        let id = o.id;
        if o.elapsed > late {
            problems.push(Problem::new(
                format!(
                    "an outcome later than the timeout ({REQUEST_TIMEOUT:?}) + {DEADLINE_MARGIN:?}"
                ),
                format!(
                    "request {id} took {:?}: {:?}; {}",
                    o.elapsed,
                    o.result,
                    history(id)
                ),
            ));
        }
        let attempts = ledger.attempts.get(&id).map_or(&[][..], Vec::as_slice);
        if attempts.len() > usize::from(max_retries) + 1 {
            problems.push(Problem::new(
                "a request sent more often than the retry budget allows",
                format!(
                    "request {id} was read by the server {} times; {}",
                    attempts.len(),
                    history(id)
                ),
            ));
        }
        if let Some((_, earlier)) = attempts.split_last() {
            if let Some(a) = earlier.iter().find(|a| !a.fault.may_be_retried()) {
                problems.push(Problem::new(
                    format!(
                        "a request resent after {:?}, which sends response bytes",
                        a.fault
                    ),
                    format!("request {id}: {}", history(id)),
                ));
            }
        }
        match (&o.result, attempts.last()) {
            (_, None) => problems.push(Problem::new(
                "a request that ended without the server ever reading it",
                format!("request {id} ended with {:?}", o.result),
            )),
            (Ok(success), Some(last)) => {
                // A dropped body may have been cut after the part that was read.
                if last.fault.fails() && success.complete {
                    problems.push(Problem::new(
                        format!("a success although the last exchange had {:?}", last.fault),
                        format!("request {id}: {}", history(id)),
                    ));
                }
                if usize::from(success.retries) + 1 < attempts.len() {
                    problems.push(Problem::new(
                        "fewer retries reported than the server saw",
                        format!(
                            "request {id} says {} retries but the server read it {} times; {}",
                            success.retries,
                            attempts.len(),
                            history(id)
                        ),
                    ));
                }
            }
            (Err(failure), Some(last)) => {
                if !last.fault.fails() {
                    problems.push(Problem::new(
                        format!(
                            "a failure without a failing fault on its own exchange: {} ({:?} stage)",
                            failure.cause, failure.stage
                        ),
                        format!(
                            "request {id} failed with {:?} after {:?} ({}); {}",
                            failure.kind,
                            o.elapsed,
                            failure.detail,
                            history(id)
                        ),
                    ));
                } else if !last.fault.expected_errors().contains(&failure.kind) {
                    problems.push(Problem::new(
                        format!(
                            "{:?} failed as {:?} instead of one of {:?}",
                            last.fault,
                            failure.kind,
                            last.fault.expected_errors()
                        ),
                        format!(
                            "request {id} failed with {:?} ({:?} stage: {}); {}",
                            failure.kind,
                            failure.stage,
                            failure.detail,
                            history(id)
                        ),
                    ));
                }
            }
        }
    }
    problems
}

// ---- the test -----------------------------------------------------------------------------

/// The run's settings, from the environment.
#[derive(Debug)]
struct Settings {
    seed: u64,
    secs: u64,
    threads: usize,
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            seed: env_number("WIREPOOL_SOAK_SEED").unwrap_or_else(random_seed),
            secs: env_number("WIREPOOL_SOAK_SECS").unwrap_or(DEFAULT_SECS),
            threads: env_number("WIREPOOL_SOAK_THREADS").map_or(DEFAULT_THREADS, |n| n as usize),
        }
    }

    /// The environment that replays this run.
    fn replay(&self) -> String {
        format!(
            "WIREPOOL_SOAK_SEED={:#x} WIREPOOL_SOAK_SECS={} WIREPOOL_SOAK_THREADS={}",
            self.seed, self.secs, self.threads
        )
    }
}

#[test]
fn pool_survives_mixed_faults_from_many_threads() {
    let _lock = testkit::process_lock();
    let settings = Settings::from_env();
    println!("soak: {}", settings.replay());
    pattern_block(); // built once, before anything is timed

    let fd_baseline = open_fds();
    let thread_baseline = thread_count();
    let ledger = Arc::new(Ledger::default());
    let server = {
        let (ledger, seed) = (Arc::clone(&ledger), settings.seed);
        TestServer::start(move |conn| serve(conn, seed, &ledger))
    };
    let client = Client::builder()
        .response_header_timeout(Some(HEAD_TIMEOUT))
        .max_idle_per_host(MAX_IDLE)
        .build()
        .unwrap();

    // The soak never looks at the server's records of requests: they would grow with
    // every request, and the process's memory is measured.
    server.keep_records(false);
    let started = Instant::now();
    let rss = RssSampler::start();
    let tally = run_callers(&client, &server, &settings, &ledger);
    let ran_for = started.elapsed();
    let rss_samples = rss.stop();

    let stats = pool_stats(&client);
    let mut problems = {
        let state = ledger.lock();
        print_figures(&tally, &state, &stats, &server, &settings, ran_for);
        let mut problems = state.problems.clone();
        // Attempts left in the ledger were read after their request's outcome was
        // judged: a request sent again after its caller had its answer.
        let mut late: Vec<_> = state.attempts.iter().collect();
        late.sort_by_key(|(id, _)| **id);
        for (id, attempts) in late.into_iter().take(20) {
            problems.push(Problem::new(
                "a request the server read after its caller had the outcome",
                format!("request {id}: attempts {attempts:?}"),
            ));
        }
        problems
    };
    problems.extend(tally.problems.iter().cloned());
    problems.extend(judge_rss(&rss_samples));
    if stats.total.requests != tally.requests {
        let text = format!(
            "the pool counted {} requests, the callers sent {}",
            stats.total.requests, tally.requests
        );
        problems.push(Problem::new("stats: requests miscounted", text));
    }
    problems.extend(check_leaks(client, server, fd_baseline, thread_baseline));

    assert!(
        problems.is_empty(),
        "soak found {} problems (replay: {} cargo test -p wirepool --test soak -- --nocapture):\n{}",
        problems.len(),
        settings.replay(),
        report(&problems)
    );
}

/// Runs the callers until the soak's time is up and every one of them has returned;
/// what their outcomes came to. A caller that never returns fails the test (naming what
/// it waits for) instead of hanging it.
fn run_callers(
    client: &Client,
    server: &TestServer,
    settings: &Settings,
    ledger: &Arc<Ledger>,
) -> Tally {
    let callers = Arc::new(Callers {
        client: client.clone(),
        base: format!("http://{}", server.addr()),
        seed: settings.seed,
        next_id: AtomicU64::new(1),
        stop_at: Instant::now() + Duration::from_secs(settings.secs),
        in_flight: (0..settings.threads).map(|_| Mutex::new(None)).collect(),
        ledger: Arc::clone(ledger),
        max_retries: client.config().max_retries,
    });
    let handles: Vec<JoinHandle<Tally>> = (0..settings.threads)
        .map(|me| {
            let callers = Arc::clone(&callers);
            std::thread::Builder::new()
                .name(format!("soak-caller-{me}"))
                .spawn(move || run_caller(&callers, me))
                .unwrap()
        })
        .collect();
    // Threads, not a scope: a scope would wait for a stuck caller for ever.
    let give_up = callers.stop_at + REQUEST_TIMEOUT + DEADLINE_MARGIN + SETTLE;
    while handles.iter().any(|h| !h.is_finished()) {
        if Instant::now() > give_up {
            let state = ledger.lock();
            let stuck: Vec<String> = callers
                .in_flight
                .iter()
                .filter_map(|slot| *lock(slot))
                .map(|(id, since)| {
                    format!(
                        "request {id} waiting for {:?}, attempts {:?}",
                        since.elapsed(),
                        state.attempts.get(&id)
                    )
                })
                .collect();
            panic!(
                "callers never returned ({}):\n{}",
                settings.replay(),
                stuck.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut tally = Tally::default();
    for h in handles {
        tally.merge(h.join().unwrap());
    }
    tally
}

/// Prints what happened: requests and outcomes, faults injected, the pool's counters.
fn print_figures(
    tally: &Tally,
    ledger: &LedgerState,
    stats: &Stats,
    server: &TestServer,
    settings: &Settings,
    ran_for: Duration,
) {
    let t = &stats.total;
    println!(
        "soak: {} requests in {ran_for:.1?} from {} threads: {} ok ({} after a retry, \
         {} read in part), {} failed {:?}; slowest ok {:.1?}",
        tally.requests,
        settings.threads,
        tally.ok,
        tally.retried,
        tally.read_in_part,
        tally.requests - tally.ok,
        tally.failed,
        tally.slowest_ok
    );
    println!("soak: faults injected {:?}", ledger.faults);
    println!(
        "soak: pool: requests {} dials {} reuses {} retries {} (server connections {}); \
         idle {} active {} connecting {}",
        t.requests,
        t.dials,
        t.reuses,
        t.retries,
        server.connections(),
        t.idle,
        t.active,
        t.connecting
    );
    println!("soak: closes {:?}", t.closes);
}

/// Closes idle connections, then drops the client and the server: no connection may
/// stay open, and descriptors and threads must come back to their baselines.
fn check_leaks(
    client: Client,
    server: TestServer,
    fd_baseline: usize,
    thread_baseline: Option<usize>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    client.close_idle();
    if !server.wait_for_open_connections(0, SETTLE) {
        let text = format!(
            "after close_idle() the server still has {} connections open",
            server.open_connections()
        );
        problems.push(Problem::new("leak: connections", text));
    }
    let t = pool_stats(&client).total;
    if (t.idle, t.active, t.connecting, t.waiting) != (0, 0, 0, 0) {
        let text = format!(
            "after close_idle(): idle {} active {} connecting {} waiting {} (all should be 0)",
            t.idle, t.active, t.connecting, t.waiting
        );
        problems.push(Problem::new("stats: gauges", text));
    }
    if t.closes.total() != t.dials {
        let text = format!(
            "after close_idle(): {} dials but {} closes {:?}",
            t.dials,
            t.closes.total(),
            t.closes
        );
        problems.push(Problem::new("stats: closes", text));
    }
    let fds_with_client = open_fds();
    drop(client);
    drop(server);
    let fds_settled = wait_until(SETTLE, || open_fds() <= fd_baseline);
    let threads_settled = thread_baseline.map_or(true, |base| {
        wait_until(SETTLE, || thread_count().is_some_and(|n| n <= base))
    });
    println!(
        "soak: fds: {fd_baseline} before, {fds_with_client} after close_idle, {} at the end; \
         threads: {thread_baseline:?} before, {:?} at the end",
        open_fds(),
        thread_count()
    );
    if !fds_settled {
        let text = format!("open fds: {} at the end, {fd_baseline} before", open_fds());
        problems.push(Problem::new("leak: descriptors", text));
    }
    if !threads_settled {
        let text = format!(
            "threads: {:?} at the end, {thread_baseline:?} before",
            thread_count()
        );
        problems.push(Problem::new("leak: threads", text));
    }
    problems
}

/// The problems counted by class, then the first few in full.
fn report(problems: &[Problem]) -> String {
    const SHOWN: usize = 40;
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    for p in problems {
        *classes.entry(&p.class).or_default() += 1;
    }
    let mut out = String::new();
    for (class, n) in &classes {
        let _ = writeln!(out, "{n:6} x {class}");
    }
    for p in problems.iter().take(SHOWN) {
        let _ = writeln!(out, "- {}", p.text);
    }
    if problems.len() > SHOWN {
        let _ = writeln!(out, "... and {} more", problems.len() - SHOWN);
    }
    out
}
