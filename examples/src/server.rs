//! A small embedded HTTP/1.1 server, so `demo` and `logging` need no setup.
//!
//! Blocking `std::net` with one thread per connection: simple to read and fast enough to
//! keep a hundred client workers busy on loopback. It speaks just enough HTTP/1.1 for
//! the tools: keep-alive by default, `Connection: close` honoured, request bodies framed
//! by `Content-Length` read and ignored, every response `200` with a fixed body. It
//! counts accepted connections and requests so the tools can show the server's side of
//! the story (dials seen from the other end).
//!
//! It is not a general server: no chunked request bodies, no pipelining guarantees.
//! The request loop (`answer_requests`) is shared with the TLS server
//! (`crate::tls_server`), which runs it over a rustls stream instead of a `TcpStream`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Longest request head the server reads before giving up on a connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long a connection may sit without sending a request before the server drops it.
pub(crate) const IDLE_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Counters shared with the connection threads.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
}

/// The listening half both embedded servers share: a thread that accepts on 127.0.0.1
/// and hands each connection to `serve` on a thread of its own. Dropping it stops the
/// accept thread (connection threads end when their clients go).
#[derive(Debug)]
pub(crate) struct Acceptor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    /// Binds a free port on 127.0.0.1 and starts accepting. Threads are named `name`
    /// (accept) and `name-conn` (connections).
    pub(crate) fn start<F>(name: &str, serve: F) -> io::Result<Acceptor>
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let conn_name = format!("{name}-conn");
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new().name(name.into()).spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let serve = Arc::clone(&serve);
                    // Detached: each ends when its client closes or goes quiet.
                    let _ = thread::Builder::new()
                        .name(conn_name.clone())
                        .spawn(move || serve(stream));
                }
            })?
        };
        Ok(Acceptor {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running embedded server; stops when dropped.
#[derive(Debug)]
pub struct DemoServer {
    acceptor: Acceptor,
    counters: Arc<Counters>,
}

impl DemoServer {
    /// Starts a server on 127.0.0.1 (a free port) answering every request with
    /// `body_len` bytes.
    pub fn start(body_len: usize) -> io::Result<DemoServer> {
        let counters = Arc::new(Counters::default());
        let response = response_bytes(body_len);
        let acceptor = {
            let counters = Arc::clone(&counters);
            Acceptor::start("demo-server", move |stream| {
                counters.connections.fetch_add(1, Ordering::Relaxed);
                serve(stream, &counters, &response);
            })?
        };
        Ok(DemoServer { acceptor, counters })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }
}

pub(crate) fn response_bytes(body_len: usize) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    out.extend((0..body_len).map(|i| b'a' + (i % 26) as u8));
    out
}

/// Serves one plain TCP connection until the client closes it, asks to close, or
/// misbehaves.
fn serve(stream: TcpStream, counters: &Counters, response: &[u8]) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_READ_TIMEOUT));
    let (stream, ending) = answer_requests(stream, &counters.requests, response);
    if ending == Ending::CloseRequested {
        let _ = stream.shutdown(Shutdown::Write);
    }
}

/// Why [`answer_requests`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The client closed the stream (EOF, or a read error such as a timeout or a reset).
    PeerClosed,
    /// The client sent `Connection: close`; its response has been written. The caller
    /// ends the stream its own way (TCP `shutdown`, or TLS `close_notify`).
    CloseRequested,
    /// A malformed request (bad `Content-Length`, head over [`MAX_HEAD_BYTES`]) or a
    /// failed write: the connection is dropped without an answer.
    Broken,
}

/// The HTTP/1.1 side of a connection, shared by the plain and the TLS server: reads
/// request heads line by line, skips `Content-Length` request bodies, counts each request
/// in `requests` and writes `response` to it, until the stream ends or the client asks
/// to close. Returns the stream so the caller can close it properly.
pub(crate) fn answer_requests<S: Read + Write>(
    stream: S,
    requests: &AtomicU64,
    response: &[u8],
) -> (S, Ending) {
    let mut reader = BufReader::new(stream);
    let ending = answer_on(&mut reader, requests, response);
    (reader.into_inner(), ending)
}

fn answer_on<S: Read + Write>(
    reader: &mut BufReader<S>,
    requests: &AtomicU64,
    response: &[u8],
) -> Ending {
    let mut line = String::new();
    loop {
        let mut content_length = 0u64;
        let mut close = false;
        let mut head_bytes = 0usize;
        // Request line, then headers up to the blank line.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return Ending::PeerClosed,
                Ok(n) => head_bytes += n,
            }
            if head_bytes > MAX_HEAD_BYTES {
                return Ending::Broken;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    match value.parse() {
                        Ok(n) => content_length = n,
                        Err(_) => return Ending::Broken,
                    }
                } else if name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        match io::copy(&mut reader.take(content_length), &mut io::sink()) {
            Ok(n) if n == content_length => {}
            _ => return Ending::PeerClosed,
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let out = reader.get_mut();
        if out.write_all(response).and_then(|()| out.flush()).is_err() {
            return Ending::Broken;
        }
        if close {
            return Ending::CloseRequested;
        }
    }
}

/// Sockets in TCP `TIME_WAIT` whose local or remote port is `port`, read from
/// `/proc/net/tcp` and `/proc/net/tcp6` (Linux). `None` where those files do not exist.
pub fn time_wait_count(port: u16) -> Option<usize> {
    let mut total = 0;
    let mut found = false;
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        found = true;
        total += text
            .lines()
            .skip(1)
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3
                    && f[3] == "06"
                    && (port_of(f[1]) == Some(port) || port_of(f[2]) == Some(port))
            })
            .count();
    }
    found.then_some(total)
}

/// The port of an `ADDR:PORT` hex pair from `/proc/net/tcp`.
fn port_of(field: &str) -> Option<u16> {
    u16::from_str_radix(field.rsplit(':').next()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_keep_alive_and_counts() {
        let server = DemoServer::start(5).unwrap();
        let mut s = TcpStream::connect(server.addr()).unwrap();
        let mut buf = vec![0u8; 256];
        for _ in 0..2 {
            s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
                .unwrap();
            let mut got = Vec::new();
            while !got.ends_with(b"abcde") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "server closed early");
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got.starts_with(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"));
        }
        assert_eq!((server.connections(), server.requests()), (1, 2));
    }

    /// A stream whose reads come from `input` and whose writes collect in `output`.
    struct Scripted {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn request_loop_cases() {
        const OK: &[u8] = b"R";
        let big_head = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "y".repeat(MAX_HEAD_BYTES)
        );
        // (input, responses written, requests counted, ending)
        let cases: &[(&[u8], &[u8], u64, Ending)] = &[
            (b"", b"", 0, Ending::PeerClosed),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                b"R",
                1,
                Ending::PeerClosed,
            ),
            (
                b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                b"RR",
                2,
                Ending::PeerClosed,
            ),
            (
                b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcGET / HTTP/1.1\n\n",
                b"RR",
                2,
                Ending::PeerClosed,
            ),
            // Connection: close ends the loop after the answer; the next request is not answered.
            (
                b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                b"R",
                1,
                Ending::CloseRequested,
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                b"",
                0,
                Ending::Broken,
            ),
            // A body cut short is not a request.
            (
                b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc",
                b"",
                0,
                Ending::PeerClosed,
            ),
            (big_head.as_bytes(), b"", 0, Ending::Broken),
        ];
        for (i, &(input, responses, count, ending)) in cases.iter().enumerate() {
            let requests = AtomicU64::new(0);
            let stream = Scripted {
                input: io::Cursor::new(input.to_vec()),
                output: Vec::new(),
            };
            let (stream, got) = answer_requests(stream, &requests, OK);
            assert_eq!(got, ending, "case {i}");
            assert_eq!(stream.output, responses, "case {i}");
            assert_eq!(requests.load(Ordering::Relaxed), count, "case {i}");
        }
    }

    #[test]
    fn parses_proc_net_ports() {
        assert_eq!(port_of("0100007F:1F90"), Some(8080));
        assert_eq!(port_of("garbage"), None);
        assert!(time_wait_count(1).is_some() || !std::path::Path::new("/proc/net/tcp").exists());
    }
}
