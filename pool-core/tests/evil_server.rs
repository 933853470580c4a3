//! An evil-server fuzzer: seeded random mutations of valid responses, served over real
//! sockets to the real [`Client`] (and the engine under it), with the pool's invariants
//! checked after every exchange.
//!
//! Each iteration `n` is drawn from `(seed, n)` alone, so any one can be replayed:
//! - a valid response: status (1xx heads before it, from none to a flood of 10 000),
//!   HTTP/1.1 or 1.0, random fields, `Connection: close` or not, a body framed by
//!   `Content-Length`, chunks (sizes, extensions, trailers) or the close, to a `GET` or a
//!   `HEAD`;
//! - in most iterations, one to three mutations of it ([`Mutation`]): the status line,
//!   the framing fields (lengths that lie, lengths that disagree, `Transfer-Encoding`
//!   variants), malformed field lines, heads over the limits, chunk sizes that overflow
//!   or are not hex, broken chunk terminators and trailers, flipped, inserted, deleted
//!   and duplicated bytes, truncation, bytes after the end, garbage between `1xx` heads;
//! - split points (one write, a few, or a head byte by byte, with pauses of 0-3 ms) and
//!   an ending: keep the connection open and go on serving it, FIN, RST, or a pause then
//!   FIN.
//!
//! After the evil request, the same lane sends a known-good request to the same server,
//! whose answer names the iteration. What must hold:
//! - no panic, here or on the engine thread (`EngineFailed` is a finding);
//! - an outcome within the request's deadline (plus a margin for a loaded machine);
//! - a failure has one of the kinds a broken server can cause (`Protocol`,
//!   `ConnectionClosed`, `Timeout`, `ResponseHeaderTimeout`), and right after it the
//!   lane's host has no idle connection: never a pooled connection after an error;
//! - an unmutated response arrives exactly: status, every body byte, and its connection
//!   pooled or not as its framing and `Connection` say;
//! - the good request after it always gets its own answer, byte for byte: a connection
//!   left with stray bytes was never handed out again;
//! - at the end, after `close_idle()`, no server connection is open and the process's
//!   descriptors are back to the baseline.
//!
//! Before the good request a lane waits until the server has written everything it
//! will write for the evil one, then ~10 ms more: stray bytes must be on the client's
//! socket when the next request is dispatched, or a connection pooled a moment earlier
//! could meet them with the next request, which no client can prevent (the engine sees
//! them on its next readiness event, and no event of ours says when that was handled).
//!
//! Settings (environment): `WIREPOOL_EVIL_SECS` (default 4), `WIREPOOL_EVIL_SEED`
//! (decimal or `0x` hex; default random, always printed), `WIREPOOL_EVIL_LANES`
//! (default 6), `WIREPOOL_EVIL_ONLY=N` replays iteration `N` alone. A failure prints
//! the command that replays each failing iteration.
//!
//! Descriptors are process-wide: this binary holds `testkit::process_lock()`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use common::{env_number, mix, random_seed, Rng};

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::{host_stats, wait_until, WAIT};
use testkit::{open_fds, ServerConn, TestServer};
use wirepool::http::{Method, Request};
use wirepool::{Body, Client, ErrorKind, RequestOptions};

// ---- settings -----------------------------------------------------------------------------

/// How long the fuzzer runs unless `WIREPOOL_EVIL_SECS` says otherwise.
const DEFAULT_SECS: u64 = 4;

/// Lanes (threads, each with its own server and so its own pool) unless
/// `WIREPOOL_EVIL_LANES` says otherwise.
const DEFAULT_LANES: usize = 6;

/// The evil request's total timeout: what ends a response that never completes.
const EVIL_TIMEOUT: Duration = Duration::from_millis(1500);

/// The client's response-head timeout (shorter, so both deadlines fire).
const HEAD_TIMEOUT: Duration = Duration::from_millis(800);

/// Slack past [`EVIL_TIMEOUT`] before an outcome counts as late (two loaded cores).
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// How long a lane waits after the server wrote its last evil byte before the good
/// request (see the module docs).
const SETTLE: Duration = Duration::from_millis(10);

/// The error kinds a broken server may cause.
const PEER_ERRORS: [ErrorKind; 4] = [
    ErrorKind::Protocol,
    ErrorKind::ConnectionClosed,
    ErrorKind::Timeout,
    ErrorKind::ResponseHeaderTimeout,
];

// ---- seeded draws -------------------------------------------------------------------------

impl Rng {
    fn new(seed: u64, iter: u64) -> Rng {
        Rng(mix(seed ^ mix(iter)) | 1)
    }

    /// True with probability `percent`/100.
    fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() >> 56) as u8).collect()
    }
}

// ---- the plan of one iteration ------------------------------------------------------------

/// What the server does after writing the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Go on reading requests on this connection (and answer good ones).
    KeepOpen,
    /// Close with a FIN.
    Fin,
    /// Close with a RST.
    Rst,
    /// Wait, then FIN.
    PauseThenFin(Duration),
}

/// How the body of the valid response is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length,
    Chunked,
    Close,
    /// No body by the rules: HEAD, 204, 304.
    None,
}

/// One way to break a response. The names say what each does.
#[derive(Clone, Debug)]
enum Mutation {
    StatusLine(&'static str),
    ContentLengthValue(String),
    SecondContentLength(String),
    TransferEncoding(&'static str),
    BadFieldLine(&'static str),
    ManyFields(usize),
    HugeField(usize),
    ChunkSizeLine(String),
    ChunkExtension(usize),
    ChunkTerminator(&'static str),
    Trailer(String),
    NoLastChunk,
    FlipByte { at: usize, to: u8 },
    InsertBytes { at: usize, bytes: Vec<u8> },
    DeleteRange { at: usize, len: usize },
    DuplicateRange { at: usize, len: usize },
    Truncate { at: usize },
    AppendAfterEnd(Vec<u8>),
    GarbageAmong1xx,
}

/// What an unmutated response must give the client.
#[derive(Clone, Debug)]
struct Expect {
    status: u16,
    body: Vec<u8>,
    /// Whether its connection may go back to the pool.
    pooled: bool,
}

/// Everything about one iteration: the request, the bytes, how they go on the wire.
#[derive(Clone, Debug)]
struct Plan {
    method: Method,
    wire: Vec<u8>,
    /// Cut points in `wire` (increasing) and the pause after each piece.
    splits: Vec<(usize, Duration)>,
    ending: Ending,
    mutations: Vec<Mutation>,
    /// Whether the caller reads only part of the body and drops the response.
    drop_after: Option<usize>,
    /// For an unmutated response: what must arrive.
    expect: Option<Expect>,
    /// Shape of the valid response, for reports.
    shape: String,
}

/// Bytes that keep turning up in broken servers' output.
const JUNK: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b":",
    b"\0",
    b"0",
    b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"0\r\n\r\n",
    b"\xff\xfe",
    b"HTTP/1.1 100 Continue\r\n\r\n",
];

const BAD_STATUS_LINES: &[&str] = &[
    "HTTP/1.2 200 OK",
    "HTTP/2 200 OK",
    "HTTP/2.0 200 OK",
    "http/1.1 200 OK",
    "HTTP/1.1 099 Low",
    "HTTP/1.1 600 High",
    "HTTP/1.1 1000 Long",
    "HTTP/1.1 20 Short",
    "HTTP/1.1 2x0 Hex",
    "HTTP/1.1  200 OK",
    "HTTP/1.1 200",
    "HTTP/1.1 101 Switching Protocols",
    "ICY 200 OK",
    "SMTP ready",
    "HTTP/1.1 200 OK\x00",
];

const TRANSFER_ENCODINGS: &[&str] = &[
    "chunked",
    "chunked, chunked",
    "gzip",
    "gzip, chunked",
    "chunked, gzip",
    "identity",
    "CHUNKED",
    " chunked",
    "chunked;q=1",
    "",
    "chunked\x0b",
];

const BAD_FIELD_LINES: &[&str] = &[
    "NoColon",
    "Sp ace: x",
    "Name : x",
    ": empty-name",
    "X-Ctl: a\x01b",
    "X-Cr: a\rb",
    " folded: x",
    "\tfolded",
    "X-\x7f: y",
    "X-Obs: a\r\n b",
];

const BAD_CHUNK_TERMINATORS: &[&str] = &["", "\n", "\r", "xx", "\r\r\n", " \r\n"];

impl Plan {
    /// The plan of iteration `iter`.
    fn draw(seed: u64, iter: u64) -> Plan {
        let mut rng = Rng::new(seed, iter);
        let method = if rng.percent(10) {
            Method::HEAD
        } else {
            Method::GET
        };
        let mutate = rng.percent(70);
        let mutations = if mutate {
            (0..rng.between(1, 3))
                .map(|_| draw_mutation(&mut rng))
                .collect()
        } else {
            Vec::new()
        };

        // The valid response.
        let status = rng.pick(&[
            200u16, 200, 200, 200, 201, 203, 206, 299, 404, 500, 204, 304,
        ]);
        let http10 = rng.percent(8);
        let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let body_len = match rng.below(10) {
            0 => 0,
            1..=6 => rng.between(1, 2048),
            7 | 8 => rng.between(2049, 64 * 1024),
            _ => rng.between(64 * 1024, 256 * 1024),
        };
        let bodiless = method == Method::HEAD || status == 204 || status == 304;
        let framing = if bodiless {
            Framing::None
        } else {
            match rng.below(20) {
                0..=9 => Framing::Length,
                10..=17 => Framing::Chunked,
                _ => Framing::Close,
            }
        };
        let framing = if http10 && framing == Framing::Chunked {
            Framing::Length
        } else {
            framing
        };
        let body = rng.bytes(body_len);
        let conn_close = rng.percent(10);
        let keep_alive_10 = http10 && rng.percent(60);

        let mut lines = vec![format!(
            "{version} {status} {}",
            testkit::reason_phrase(status)
        )];
        for i in 0..rng.below(8) {
            let value_len = rng.below(60);
            lines.push(format!("X-Field-{i}: {}", "v".repeat(value_len)));
        }
        if conn_close {
            lines.push("Connection: close".into());
        } else if keep_alive_10 {
            lines.push("Connection: keep-alive".into());
        }
        match framing {
            Framing::Length => lines.push(format!("Content-Length: {}", body.len())),
            Framing::Chunked => lines.push("Transfer-Encoding: chunked".into()),
            Framing::None if method == Method::HEAD => {
                if rng.percent(50) {
                    lines.push(format!("Content-Length: {}", body.len()));
                } else if !http10 {
                    lines.push("Transfer-Encoding: chunked".into());
                }
            }
            Framing::Close | Framing::None => {}
        }
        let pooled = match framing {
            Framing::Close => false,
            _ => !conn_close && (!http10 || keep_alive_10),
        };

        // Interim heads before it.
        let interim = match rng.below(50) {
            0 => rng.between(1000, 10_000),
            1..=5 => rng.between(1, 3),
            _ => 0,
        };

        // Head mutations change the lines.
        let mut chunk_mutations = Vec::new();
        let mut wire_mutations = Vec::new();
        for m in &mutations {
            match m {
                Mutation::StatusLine(line) => lines[0] = (*line).to_owned(),
                Mutation::ContentLengthValue(v) => {
                    match lines
                        .iter_mut()
                        .find(|l| l.to_ascii_lowercase().starts_with("content-length:"))
                    {
                        Some(l) => *l = format!("Content-Length: {v}"),
                        None => lines.push(format!("Content-Length: {v}")),
                    }
                }
                Mutation::SecondContentLength(v) => lines.push(format!("Content-Length: {v}")),
                Mutation::TransferEncoding(te) => lines.push(format!("Transfer-Encoding: {te}")),
                Mutation::BadFieldLine(line) => {
                    let at = 1 + rng.below(lines.len());
                    lines.insert(at, (*line).to_owned());
                }
                Mutation::ManyFields(n) => {
                    for i in 0..*n {
                        lines.push(format!("X-Many-{i}: m"));
                    }
                }
                Mutation::HugeField(len) => lines.push(format!("X-Huge: {}", "h".repeat(*len))),
                Mutation::ChunkSizeLine(_)
                | Mutation::ChunkExtension(_)
                | Mutation::ChunkTerminator(_)
                | Mutation::Trailer(_)
                | Mutation::NoLastChunk => chunk_mutations.push(m.clone()),
                _ => wire_mutations.push(m.clone()),
            }
        }

        let mut wire = Vec::new();
        let garbage_among_1xx = wire_mutations
            .iter()
            .any(|m| matches!(m, Mutation::GarbageAmong1xx));
        let interim = if garbage_among_1xx {
            interim.max(2)
        } else {
            interim
        };
        for i in 0..interim {
            if garbage_among_1xx && i == interim / 2 {
                wire.extend_from_slice(rng.pick(JUNK));
            }
            if rng.percent(50) {
                wire.extend_from_slice(
                    b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
                );
            } else {
                wire.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
        }
        for line in &lines {
            wire.extend_from_slice(line.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        let head_end = wire.len();
        match framing {
            Framing::Length | Framing::Close => wire.extend_from_slice(&body),
            Framing::Chunked => encode_chunked(&mut wire, &body, &chunk_mutations, &mut rng),
            Framing::None => {}
        }
        // Bytes after the end go on last, so that the end of what came before is known:
        // a cut there makes them arrive after the client may have pooled the connection.
        let (appends, others): (Vec<_>, Vec<_>) = wire_mutations
            .iter()
            .partition(|m| matches!(m, Mutation::AppendAfterEnd(_)));
        for m in others {
            apply_wire_mutation(&mut wire, m);
        }
        let response_end = wire.len();
        for m in appends {
            apply_wire_mutation(&mut wire, m);
        }

        let ending = if !mutate {
            // A clean exchange ends as a real server would: a FIN is the only ending of
            // a close-delimited body, and a server that said `Connection: close` closes.
            if !pooled || rng.percent(20) {
                Ending::Fin
            } else {
                Ending::KeepOpen
            }
        } else {
            match rng.below(20) {
                0..=5 => Ending::KeepOpen,
                6..=13 => Ending::Fin,
                14..=16 => Ending::Rst,
                _ => Ending::PauseThenFin(Duration::from_millis(rng.between(1, 50) as u64)),
            }
        };

        let splits = draw_splits(&mut rng, wire.len(), [head_end, response_end]);
        let drop_after = rng.percent(10).then(|| rng.below(body.len().max(1)));
        let expect = (!mutate).then(|| Expect {
            status,
            body: if framing == Framing::None {
                Vec::new()
            } else {
                body.clone()
            },
            pooled,
        });
        let shape = format!(
            "{method} -> {version} {status}, {framing:?} body of {} bytes, {interim} 1xx heads \
             before it, Connection: close {conn_close}, {} bytes on the wire in {} pieces, {ending:?}",
            body.len(),
            wire.len(),
            splits.len() + 1
        );
        Plan {
            method,
            wire,
            splits,
            ending,
            mutations,
            drop_after,
            expect,
            shape,
        }
    }

    /// Writes the plan on `conn`; false when the connection is over.
    fn play(&self, conn: &mut ServerConn) -> bool {
        let mut from = 0;
        for &(cut, pause) in &self.splits {
            if conn.try_write(&self.wire[from..cut]).is_err() {
                return false;
            }
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
            from = cut;
        }
        if conn.try_write(&self.wire[from..]).is_err() {
            return false;
        }
        match self.ending {
            Ending::KeepOpen => return true,
            Ending::Fin => conn.close(),
            Ending::Rst => conn.reset(),
            Ending::PauseThenFin(d) => {
                conn.stall(d);
                conn.close();
            }
        }
        false
    }
}

fn draw_mutation(rng: &mut Rng) -> Mutation {
    match rng.below(19) {
        0 => Mutation::StatusLine(rng.pick(BAD_STATUS_LINES)),
        1 => Mutation::ContentLengthValue(
            rng.pick(&[
                "-1",
                "+5",
                "0x10",
                " 5",
                "5 5",
                "5,5",
                "5, 6",
                "99999999999999999999999",
                "18446744073709551615",
                "",
                "abc",
                "0",
                "1",
                "100000",
            ])
            .to_string(),
        ),
        2 => Mutation::SecondContentLength(rng.pick(&["0", "5", "6", "1"]).to_string()),
        3 => Mutation::TransferEncoding(rng.pick(TRANSFER_ENCODINGS)),
        4 => Mutation::BadFieldLine(rng.pick(BAD_FIELD_LINES)),
        5 => Mutation::ManyFields(rng.between(95, 200)),
        6 => Mutation::HugeField(rng.between(60_000, 70_000)),
        7 => Mutation::ChunkSizeLine(
            rng.pick(&[
                "fffffffffffffffff",
                "10000000000000000",
                "-1",
                "0x5",
                " 5",
                "5 ",
                "g",
                "",
                "5;",
                "5;a=\"b",
                "1",
                "ffff",
            ])
            .to_string(),
        ),
        8 => Mutation::ChunkExtension(rng.between(100, 20_000)),
        9 => Mutation::ChunkTerminator(rng.pick(BAD_CHUNK_TERMINATORS)),
        10 => Mutation::Trailer(match rng.below(4) {
            0 => "NoColon".to_owned(),
            1 => "Content-Length: 5".to_owned(),
            2 => format!("X-Big: {}", "t".repeat(70_000)),
            _ => "X-Ok: fine".to_owned(),
        }),
        11 => Mutation::NoLastChunk,
        12 => Mutation::FlipByte {
            at: rng.next() as usize,
            to: (rng.next() >> 56) as u8,
        },
        13 => Mutation::InsertBytes {
            at: rng.next() as usize,
            bytes: rng.pick(JUNK).to_vec(),
        },
        14 => Mutation::DeleteRange {
            at: rng.next() as usize,
            len: rng.between(1, 16),
        },
        15 => Mutation::DuplicateRange {
            at: rng.next() as usize,
            len: rng.between(1, 64),
        },
        16 => Mutation::Truncate {
            at: rng.next() as usize,
        },
        17 => Mutation::AppendAfterEnd(match rng.below(3) {
            0 => rng.pick(JUNK).to_vec(),
            1 => testkit::response_bytes(200, &[], b"smuggled"),
            _ => rng.bytes(32),
        }),
        _ => Mutation::GarbageAmong1xx,
    }
}

/// Chunked encoding of `body` in random chunk sizes, with the chunk mutations applied
/// to one chunk (or to the end).
fn encode_chunked(wire: &mut Vec<u8>, body: &[u8], mutations: &[Mutation], rng: &mut Rng) {
    let mut chunks = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = rng.between(1, 16 * 1024).min(rest.len());
        chunks.push(&rest[..n]);
        rest = &rest[n..];
    }
    let target = rng.below(chunks.len() + 1);
    for (i, chunk) in chunks.iter().enumerate() {
        let mut size = format!("{:x}", chunk.len());
        let mut terminator = "\r\n".to_owned();
        if i == target {
            for m in mutations {
                match m {
                    Mutation::ChunkSizeLine(line) => size.clone_from(line),
                    Mutation::ChunkExtension(len) => {
                        let _ = write!(size, ";ext={}", "e".repeat(*len));
                    }
                    Mutation::ChunkTerminator(t) => (*t).clone_into(&mut terminator),
                    _ => {}
                }
            }
        } else if rng.percent(5) {
            size.push_str(";name=value");
        }
        wire.extend_from_slice(size.as_bytes());
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(terminator.as_bytes());
    }
    if mutations.iter().any(|m| matches!(m, Mutation::NoLastChunk)) {
        return;
    }
    wire.extend_from_slice(b"0\r\n");
    if rng.percent(10) {
        wire.extend_from_slice(b"X-Trailer: t\r\n");
    }
    for m in mutations {
        if let Mutation::Trailer(line) = m {
            wire.extend_from_slice(line.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
    }
    wire.extend_from_slice(b"\r\n");
}

fn apply_wire_mutation(wire: &mut Vec<u8>, m: &Mutation) {
    let len = wire.len();
    match m {
        Mutation::FlipByte { at, to } if len > 0 => wire[at % len] = *to,
        Mutation::InsertBytes { at, bytes } => {
            let at = at % (len + 1);
            wire.splice(at..at, bytes.iter().copied());
        }
        Mutation::DeleteRange { at, len: n } if len > 0 => {
            let at = at % len;
            wire.drain(at..(at + n).min(len));
        }
        Mutation::DuplicateRange { at, len: n } if len > 0 => {
            let at = at % len;
            let copy = wire[at..(at + n).min(len)].to_vec();
            wire.splice(at..at, copy);
        }
        Mutation::Truncate { at } => wire.truncate(at % (len + 1)),
        Mutation::AppendAfterEnd(bytes) => wire.extend_from_slice(bytes),
        _ => {}
    }
}

/// Cut points: one write, a few pieces, or (for a short response) the head byte by
/// byte; mostly no pause, sometimes 1-3 ms. The ends of the head and of the response
/// (before any bytes appended after it) are favoured, with a pause after them.
fn draw_splits(rng: &mut Rng, len: usize, boundaries: [usize; 2]) -> Vec<(usize, Duration)> {
    let head_end = boundaries[0];
    if len < 2 {
        return Vec::new();
    }
    let pause = |rng: &mut Rng| {
        if rng.percent(70) {
            Duration::ZERO
        } else {
            Duration::from_millis(rng.between(1, 3) as u64)
        }
    };
    match rng.below(20) {
        0..=7 => Vec::new(),
        8 if head_end <= 600 && head_end < len => (1..head_end)
            .map(|at| (at, Duration::from_micros(200)))
            .collect(),
        _ => {
            let mut cuts: Vec<(usize, Duration)> = (0..rng.between(1, 6))
                .map(|_| (rng.between(1, len - 1), pause(rng)))
                .collect();
            for at in boundaries {
                if (1..len).contains(&at) && rng.percent(40) {
                    cuts.push((at, Duration::from_millis(rng.between(1, 3) as u64)));
                }
            }
            cuts.sort_unstable();
            cuts.dedup_by_key(|c| c.0);
            cuts
        }
    }
}

// ---- the server ---------------------------------------------------------------------------

/// The good answer to `/good/N`.
fn good_body(iter: u64) -> Vec<u8> {
    format!("good answer for iteration {iter}").into_bytes()
}

/// What the servers tell the lanes: how many times each iteration's evil response was
/// started and finished (a resend plays it again), and requests they could not place.
#[derive(Default)]
struct Board {
    plays: Mutex<HashMap<u64, (u32, u32)>>,
    changed: Condvar,
    strays: Mutex<Vec<String>>,
}

impl Board {
    fn update(&self, iter: u64, f: impl FnOnce(&mut (u32, u32))) {
        let mut plays = self.plays.lock().unwrap_or_else(PoisonError::into_inner);
        f(plays.entry(iter).or_default());
        self.changed.notify_all();
    }

    /// Waits until every play of `iter` that started has finished; false on timeout.
    fn wait_played(&self, iter: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut plays = self.plays.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match plays.get(&iter) {
                Some(&(started, finished)) if started > 0 && started == finished => return true,
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            plays = self
                .changed
                .wait_timeout(plays, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn serve(conn: &mut ServerConn, seed: u64, board: &Board) {
    while let Some(request) = conn.read_request() {
        let target = request.target.clone();
        let parsed = target
            .strip_prefix("/good/")
            .map(|n| (true, n))
            .or_else(|| target.strip_prefix("/evil/").map(|n| (false, n)))
            .and_then(|(good, n)| Some((good, n.parse::<u64>().ok()?)));
        let Some((good, iter)) = parsed else {
            let text = format!("server conn {}: unknown target {target:?}", conn.index());
            board
                .strays
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(text);
            return;
        };
        if good {
            conn.respond(200, &[], &good_body(iter));
            continue;
        }
        let plan = Plan::draw(seed, iter);
        if request.method != plan.method.as_str() {
            let text = format!("iteration {iter} arrived as {}", request.method);
            board
                .strays
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(text);
        }
        board.update(iter, |p| p.0 += 1);
        let go_on = plan.play(conn);
        board.update(iter, |p| p.1 += 1);
        if !go_on {
            return;
        }
    }
}

// ---- the lanes ----------------------------------------------------------------------------

/// A broken invariant, with the iteration that broke it.
#[derive(Debug)]
struct Finding {
    iter: u64,
    what: String,
}

/// What one evil exchange came to, for the figures.
#[derive(Debug, Default)]
struct Tally {
    iterations: u64,
    clean: u64,
    ok: u64,
    partial: u64,
    failed: BTreeMap<String, u64>,
    mutations: BTreeMap<&'static str, u64>,
    good_reused: u64,
    slowest: Duration,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.iterations += other.iterations;
        self.clean += other.clean;
        self.ok += other.ok;
        self.partial += other.partial;
        for (k, v) in other.failed {
            *self.failed.entry(k).or_default() += v;
        }
        for (k, v) in other.mutations {
            *self.mutations.entry(k).or_default() += v;
        }
        self.good_reused += other.good_reused;
        self.slowest = self.slowest.max(other.slowest);
    }
}

fn mutation_name(m: &Mutation) -> &'static str {
    match m {
        Mutation::StatusLine(_) => "status-line",
        Mutation::ContentLengthValue(_) => "content-length-value",
        Mutation::SecondContentLength(_) => "second-content-length",
        Mutation::TransferEncoding(_) => "transfer-encoding",
        Mutation::BadFieldLine(_) => "bad-field-line",
        Mutation::ManyFields(_) => "many-fields",
        Mutation::HugeField(_) => "huge-field",
        Mutation::ChunkSizeLine(_) => "chunk-size-line",
        Mutation::ChunkExtension(_) => "chunk-extension",
        Mutation::ChunkTerminator(_) => "chunk-terminator",
        Mutation::Trailer(_) => "trailer",
        Mutation::NoLastChunk => "no-last-chunk",
        Mutation::FlipByte { .. } => "flip-byte",
        Mutation::InsertBytes { .. } => "insert-bytes",
        Mutation::DeleteRange { .. } => "delete-range",
        Mutation::DuplicateRange { .. } => "duplicate-range",
        Mutation::Truncate { .. } => "truncate",
        Mutation::AppendAfterEnd(_) => "append-after-end",
        Mutation::GarbageAmong1xx => "garbage-among-1xx",
    }
}

struct Lane<'a> {
    client: &'a Client,
    server: &'a TestServer,
    board: &'a Board,
    seed: u64,
}

impl Lane<'_> {
    /// The lane's host's idle connection count.
    fn idle(&self) -> usize {
        host_stats(&self.client.stats().unwrap(), self.server).idle
    }

    /// One iteration: the evil request, its checks, the settle, the good request.
    fn iteration(&self, iter: u64, tally: &mut Tally, findings: &mut Vec<Finding>) {
        let plan = Plan::draw(self.seed, iter);
        let mut find = |what: String| findings.push(Finding { iter, what });
        tally.iterations += 1;
        tally.clean += u64::from(plan.expect.is_some());
        for m in &plan.mutations {
            *tally.mutations.entry(mutation_name(m)).or_default() += 1;
        }

        // The evil request.
        let request = Request::builder()
            .method(plan.method.clone())
            .uri(self.server.url(&format!("/evil/{iter}")))
            .body(Body::empty())
            .unwrap();
        let started = Instant::now();
        let outcome = match self
            .client
            .send_with(request, RequestOptions::timeout(EVIL_TIMEOUT))
        {
            Err(e) => Err(e),
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let mut body = Vec::new();
                let read = match plan.drop_after {
                    Some(n) => resp.body_mut().take(n as u64).read_to_end(&mut body),
                    None => resp.body_mut().read_to_end(&mut body),
                };
                drop(resp);
                match read {
                    Ok(_) => Ok((status, body)),
                    Err(e) => match e
                        .into_inner()
                        .and_then(|i| i.downcast::<wirepool::Error>().ok())
                    {
                        Some(err) => Err(*err),
                        None => {
                            find("a body read error that is not a wirepool error".into());
                            Err(wirepool::Error::new(ErrorKind::Io))
                        }
                    },
                }
            }
        };
        let elapsed = started.elapsed();
        tally.slowest = tally.slowest.max(elapsed);
        if elapsed > EVIL_TIMEOUT + DEADLINE_MARGIN {
            find(format!(
                "the outcome took {elapsed:?} (deadline {EVIL_TIMEOUT:?})"
            ));
        }
        match &outcome {
            Ok(_) if plan.drop_after.is_some() => tally.partial += 1,
            Ok(_) => tally.ok += 1,
            Err(e) => *tally.failed.entry(format!("{:?}", e.kind())).or_default() += 1,
        }
        match (&outcome, &plan.expect) {
            (Err(e), _) => {
                if !PEER_ERRORS.contains(&e.kind()) {
                    find(format!(
                        "failed with {:?}, not a kind a server can cause: {e:?}",
                        e.kind()
                    ));
                }
                let idle = self.idle();
                if idle != 0 {
                    find(format!(
                        "{idle} idle connection(s) right after a failure ({e:?})"
                    ));
                }
                if plan.expect.is_some() && plan.drop_after.is_none() {
                    find(format!("an unmutated response failed: {e:?}"));
                }
            }
            (Ok((status, body)), Some(expect)) => {
                if *status != expect.status {
                    find(format!(
                        "status {status}, the server sent {}",
                        expect.status
                    ));
                }
                let want = match plan.drop_after {
                    Some(n) => &expect.body[..n.min(expect.body.len())],
                    None => &expect.body[..],
                };
                if body != want {
                    let at = body.iter().zip(want).position(|(a, b)| a != b);
                    find(format!(
                        "body of {} bytes differs from the {} sent (first difference at {at:?})",
                        body.len(),
                        want.len()
                    ));
                }
            }
            (Ok(_), None) => {}
        }

        // Everything the server will write for it is written; then the settle.
        if !self.board.wait_played(iter, WAIT) {
            find("the server never finished playing the evil response".into());
        }
        std::thread::sleep(SETTLE);
        if let (Ok(_), Some(expect), Ending::KeepOpen, None) =
            (&outcome, &plan.expect, plan.ending, plan.drop_after)
        {
            let idle = self.idle();
            if idle != usize::from(expect.pooled) {
                find(format!(
                    "{idle} idle connection(s) after a clean response that is {}pooled",
                    if expect.pooled { "" } else { "not " }
                ));
            }
        }

        // The good request: always its own answer.
        let good = self
            .client
            .send_with(
                Request::get(self.server.url(&format!("/good/{iter}")))
                    .body(Body::empty())
                    .unwrap(),
                RequestOptions::timeout(WAIT),
            )
            .and_then(|resp| {
                let reused = resp.info().reused;
                let status = resp.status().as_u16();
                resp.bytes().map(|b| (status, b, reused))
            });
        match good {
            Ok((200, body, reused)) if body == good_body(iter) => {
                tally.good_reused += u64::from(reused);
            }
            Ok((status, body, reused)) => find(format!(
                "the good request after it got {status} {:?} (reused {reused})",
                testkit::show(&body[..body.len().min(80)])
            )),
            Err(e) => find(format!("the good request after it failed: {e:?}")),
        }
    }
}

// ---- the test -----------------------------------------------------------------------------

#[test]
fn mutated_responses_never_poison_the_pool() {
    let _lock = testkit::process_lock();
    let seed = env_number("WIREPOOL_EVIL_SEED").unwrap_or_else(random_seed);
    let secs = env_number("WIREPOOL_EVIL_SECS").unwrap_or(DEFAULT_SECS);
    let only = env_number("WIREPOOL_EVIL_ONLY");
    let lanes = match only {
        Some(_) => 1,
        None => env_number("WIREPOOL_EVIL_LANES").map_or(DEFAULT_LANES, |n| n as usize),
    };
    println!(
        "evil: WIREPOOL_EVIL_SEED={seed:#x} WIREPOOL_EVIL_SECS={secs} WIREPOOL_EVIL_LANES={lanes}"
    );

    let fd_baseline = open_fds();
    let board = Arc::new(Board::default());
    let servers: Vec<TestServer> = (0..lanes)
        .map(|_| {
            let board = Arc::clone(&board);
            let server = TestServer::start(move |conn| serve(conn, seed, &board));
            // Nothing here reads the server's records; they would grow with every request.
            server.keep_records(false);
            server
        })
        .collect();
    // Learning is off: the random FINs after responses look like a server limit, and a
    // connection retired at a learned limit is (rightly) not pooled, which the
    // "pooled as its framing says" invariant below does not expect.
    let client = Client::builder()
        .response_header_timeout(Some(HEAD_TIMEOUT))
        .learn_server_limits(false)
        .build()
        .unwrap();

    let next = AtomicU64::new(only.unwrap_or(0));
    let stop_at = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let (tally, mut findings) = std::thread::scope(|scope| {
        let handles: Vec<_> = servers
            .iter()
            .map(|server| {
                let lane = Lane {
                    client: &client,
                    server,
                    board: &board,
                    seed,
                };
                let next = &next;
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    let mut findings = Vec::new();
                    loop {
                        let iter = next.fetch_add(1, Ordering::Relaxed);
                        lane.iteration(iter, &mut tally, &mut findings);
                        if only.is_some() || Instant::now() >= stop_at {
                            break;
                        }
                    }
                    (tally, findings)
                })
            })
            .collect();
        let mut tally = Tally::default();
        let mut findings = Vec::new();
        for h in handles {
            let (t, f) = h.join().unwrap();
            tally.merge(t);
            findings.extend(f);
        }
        (tally, findings)
    });
    let ran_for = started.elapsed();

    let stats = client.stats().unwrap();
    println!(
        "evil: {} iterations in {ran_for:.1?} on {lanes} lanes ({} unmutated): {} ok, {} read in \
         part, failed {:?}; slowest {:.1?}; good requests after them: all checked, {} on a \
         reused connection",
        tally.iterations,
        tally.clean,
        tally.ok,
        tally.partial,
        tally.failed,
        tally.slowest,
        tally.good_reused
    );
    println!("evil: mutations {:?}", tally.mutations);
    let t = &stats.total;
    println!(
        "evil: pool: requests {} dials {} reuses {} retries {}; closes {:?}",
        t.requests, t.dials, t.reuses, t.retries, t.closes
    );

    for stray in board
        .strays
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        findings.push(Finding {
            iter: u64::MAX,
            what: stray.clone(),
        });
    }
    // Nothing left behind.
    client.close_idle();
    for server in &servers {
        if !server.wait_for_open_connections(0, WAIT) {
            findings.push(Finding {
                iter: u64::MAX,
                what: format!(
                    "after close_idle() a server still has {} connection(s) open",
                    server.open_connections()
                ),
            });
        }
    }
    let t = client.stats().unwrap().total;
    if (t.idle, t.active, t.connecting, t.waiting) != (0, 0, 0, 0) || t.closes.total() != t.dials {
        findings.push(Finding {
            iter: u64::MAX,
            what: format!("gauges or closes off after close_idle(): {t:?}"),
        });
    }
    drop(client);
    drop(servers);
    if !wait_until(WAIT, || open_fds() <= fd_baseline) {
        findings.push(Finding {
            iter: u64::MAX,
            what: format!("open fds: {} at the end, {fd_baseline} before", open_fds()),
        });
    }

    if !findings.is_empty() {
        let mut report = String::new();
        let mut seen = Vec::new();
        for f in findings.iter().take(30) {
            let _ = writeln!(report, "- iteration {}: {}", f.iter, f.what);
            if f.iter != u64::MAX && !seen.contains(&f.iter) {
                seen.push(f.iter);
                let plan = Plan::draw(seed, f.iter);
                let _ = writeln!(
                    report,
                    "    {}; mutations {:?}; drop after {:?}\n    replay: WIREPOOL_EVIL_SEED={seed:#x} \
                     WIREPOOL_EVIL_ONLY={} cargo test -p wirepool --test evil_server -- --nocapture",
                    plan.shape,
                    plan.mutations
                        .iter()
                        .map(|m| format!("{m:?}").chars().take(80).collect::<String>())
                        .collect::<Vec<_>>(),
                    plan.drop_after,
                    f.iter
                );
            }
        }
        panic!("evil server: {} findings:\n{report}", findings.len());
    }
    assert!(tally.iterations > 0);
    let kinds: Vec<_> = tally.failed.keys().collect();
    println!("evil: no findings (failure kinds seen: {kinds:?})");
}
