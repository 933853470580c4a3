//! `bench-server`: the fallback HTTP/1.1 server for `loadbench` when nginx is missing.
//!
//! ```text
//! bench-server [ADDR...]     default 127.0.0.1:0; prints "listening on ADDR" (the first)
//! ```
//!
//! One thread, one `mio::Poll` over every listener and connection — the shape of nginx
//! with one worker, so it copes with 10 000 connections over 1 000 listening addresses
//! (the scale runs) as well as with 64 hot ones. Every request gets `200` with headers
//! like nginx's (`Server`, `Content-Type`, `Content-Length`, `Connection`) and:
//! - path `/64k`: a 65 536-byte body (nginx serves a static file of that size);
//! - any other path: the 13-byte body `hello, world!` (nginx's `return 200`).
//!
//! Connections are kept alive forever. Pipelined requests are answered in order; request
//! bodies framed by `Content-Length` are skipped; a chunked request body or a head over
//! 16 KiB closes the connection. Output that the socket does not take at once waits in the
//! connection's buffer for the next writable event (edge-triggered: each socket is
//! registered once, for both directions). It exists to give the load generators a peer
//! that costs little and behaves the same on every machine; nginx is the reference.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// The head of the 13-byte answer.
const SMALL: &[u8] = b"HTTP/1.1 200 OK\r\nServer: bench-server\r\nContent-Type: text/plain\r\n\
Content-Length: 13\r\nConnection: keep-alive\r\n\r\nhello, world!";

/// The head of the 64 KiB answer; the body follows.
const LARGE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: bench-server\r\nContent-Type: \
application/octet-stream\r\nContent-Length: 65536\r\nConnection: keep-alive\r\n\r\n";

/// Size of the `/64k` body.
const LARGE_BODY_BYTES: usize = 64 * 1024;

/// The longest request head accepted; a longer one closes the connection.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Tokens below this are listeners; connections start here.
const FIRST_CONN: usize = 1 << 20;

/// One client connection.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed (a partial head).
    input: Vec<u8>,
    /// Request body bytes still to skip.
    skip: usize,
    /// Response bytes not yet written.
    output: Vec<u8>,
    /// How much of `output` is written.
    written: usize,
}

fn main() -> ExitCode {
    let mut addrs: Vec<String> = std::env::args().skip(1).collect();
    if addrs.is_empty() {
        addrs.push("127.0.0.1:0".into());
    }
    match serve(&addrs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(addrs: &[String]) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listeners = Vec::with_capacity(addrs.len());
    for (i, a) in addrs.iter().enumerate() {
        let addr: SocketAddr = a
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{a}: {e}")))?;
        let mut l =
            TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("{a}: {e}")))?;
        poll.registry()
            .register(&mut l, Token(i), Interest::READABLE)?;
        listeners.push(l);
    }
    println!("listening on {}", listeners[0].local_addr()?);
    let large: Vec<u8> = LARGE_HEAD
        .iter()
        .copied()
        .chain((0..LARGE_BODY_BYTES).map(|i| b'a' + (i % 26) as u8))
        .collect();
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            let t = ev.token().0;
            if t < FIRST_CONN {
                accept_all(&poll, &listeners[t], &mut conns, &mut free);
                continue;
            }
            let slot = t - FIRST_CONN;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue; // closed already
            };
            if drive(conn, &mut buf, &large).is_err() {
                if let Some(mut c) = conns[slot].take() {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
                free.push(slot);
            }
        }
    }
}

fn accept_all(poll: &Poll, l: &TcpListener, conns: &mut Vec<Option<Conn>>, free: &mut Vec<usize>) {
    loop {
        match l.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nodelay(true);
                let slot = free.pop().unwrap_or_else(|| {
                    conns.push(None);
                    conns.len() - 1
                });
                let token = Token(FIRST_CONN + slot);
                if poll
                    .registry()
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    .is_err()
                {
                    free.push(slot);
                    continue;
                }
                conns[slot] = Some(Conn {
                    stream,
                    input: Vec::new(),
                    skip: 0,
                    output: Vec::new(),
                    written: 0,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of descriptors, aborted handshakes: keep serving the others.
            Err(e) => {
                eprintln!("bench-server: accept: {e}");
                return;
            }
        }
    }
}

/// Reads what is there, answers every complete head, writes what the socket takes.
/// `Err` closes the connection (peer closed, error, bad request).
fn drive(c: &mut Conn, buf: &mut [u8], large: &[u8]) -> io::Result<()> {
    flush(c)?;
    loop {
        let n = match c.stream.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let bytes: &[u8] = if c.input.is_empty() {
            &buf[..n]
        } else {
            c.input.extend_from_slice(&buf[..n]);
            &c.input
        };
        let mut at = 0;
        let mut answers: Vec<bool> = Vec::new(); // true: the large body
        loop {
            let skipped = c.skip.min(bytes.len() - at);
            at += skipped;
            c.skip -= skipped;
            if c.skip > 0 {
                break;
            }
            let Some(end) = find_head_end(&bytes[at..]) else {
                break;
            };
            let head = &bytes[at..at + end];
            if header_value(head, b"transfer-encoding").is_some() {
                return Err(io::ErrorKind::InvalidData.into());
            }
            c.skip = content_length(head);
            answers.push(head.starts_with(b"GET /64k "));
            at += end;
        }
        let rest = bytes[at..].to_vec();
        if rest.len() > MAX_HEAD_BYTES {
            return Err(io::ErrorKind::InvalidData.into());
        }
        c.input = rest;
        for is_large in answers {
            c.output
                .extend_from_slice(if is_large { large } else { SMALL });
        }
        flush(c)?;
        if n < buf.len() {
            return Ok(()); // a short read drained the socket (Linux stream sockets)
        }
    }
}

/// Writes pending output until done or `WouldBlock`.
fn flush(c: &mut Conn) -> io::Result<()> {
    while c.written < c.output.len() {
        match c.stream.write(&c.output[c.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    c.output.clear();
    c.written = 0;
    Ok(())
}

/// Length of the head at the start of `bytes`, blank line included, once complete.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// The value of the head's `Content-Length`, or 0.
fn content_length(head: &[u8]) -> usize {
    header_value(head, b"content-length")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The first value of header `name` (lower-case) in `head`.
fn header_value<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        line[..colon].eq_ignore_ascii_case(name).then(|| {
            line[colon + 1..]
                .strip_suffix(b"\r")
                .unwrap_or(&line[colon + 1..])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_scanning() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET";
        let end = find_head_end(req);
        assert_eq!(end, Some(req.len() - 8));
        let head = &req[..req.len() - 8];
        assert_eq!(content_length(head), 5);
        assert!(header_value(head, b"transfer-encoding").is_none());
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
        let body = SMALL.split(|&b| b == b'\n').next_back();
        assert_eq!(body, Some(&b"hello, world!"[..]));
    }
}
