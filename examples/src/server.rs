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

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Longest request head the server reads before giving up on a connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long a connection may sit without sending a request before the server drops it.
const IDLE_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Counters shared with the connection threads.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
}

/// A running embedded server; stops when dropped.
#[derive(Debug)]
pub struct DemoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    accept_thread: Option<JoinHandle<()>>,
}

impl DemoServer {
    /// Starts a server on 127.0.0.1 (a free port) answering every request with
    /// `body_len` bytes.
    pub fn start(body_len: usize) -> io::Result<DemoServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let response = Arc::new(response_bytes(body_len));
        let accept_thread = {
            let (stop, counters) = (Arc::clone(&stop), Arc::clone(&counters));
            thread::Builder::new()
                .name("demo-server".into())
                .spawn(move || accept_loop(&listener, &stop, &counters, &response))?
        };
        Ok(DemoServer {
            addr,
            stop,
            counters,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
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

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

fn response_bytes(body_len: usize) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    out.extend((0..body_len).map(|i| b'a' + (i % 26) as u8));
    out
}

fn accept_loop(
    listener: &TcpListener,
    stop: &AtomicBool,
    counters: &Arc<Counters>,
    response: &Arc<Vec<u8>>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let (counters, response) = (Arc::clone(counters), Arc::clone(response));
        // Connection threads are detached: each ends when its client closes or goes quiet.
        let _ = thread::Builder::new()
            .name("demo-conn".into())
            .spawn(move || serve(stream, &counters, &response));
    }
}

/// Serves one connection until the client closes it, asks to close, or misbehaves.
fn serve(stream: TcpStream, counters: &Counters, response: &[u8]) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_READ_TIMEOUT));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        let mut content_length = 0usize;
        let mut close = false;
        let mut head_bytes = 0usize;
        // Request line, then headers up to the blank line.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(n) => head_bytes += n,
            }
            if head_bytes > MAX_HEAD_BYTES {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    match value.parse() {
                        Ok(n) => content_length = n,
                        Err(_) => return,
                    }
                } else if name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        if io::copy(
            &mut (&mut reader).take(content_length as u64),
            &mut io::sink(),
        )
        .is_err()
        {
            return;
        }
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if writer.write_all(response).is_err() {
            return;
        }
        if close {
            let _ = writer.shutdown(Shutdown::Write);
            return;
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

    #[test]
    fn parses_proc_net_ports() {
        assert_eq!(port_of("0100007F:1F90"), Some(8080));
        assert_eq!(port_of("garbage"), None);
        assert!(time_wait_count(1).is_some() || !std::path::Path::new("/proc/net/tcp").exists());
    }
}
