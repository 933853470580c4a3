//! `bench-server`: the fallback HTTP/1.1 server for `loadbench` when nginx is missing.
//!
//! ```text
//! bench-server [ADDR]        default 127.0.0.1:0; prints "listening on ADDR" once bound
//! ```
//!
//! It answers every request with `200` and the 13-byte body `hello, world!`, with
//! headers like nginx's (`Server`, `Content-Type`, `Content-Length`, `Connection`), and
//! keeps connections alive forever. Blocking `std::net`, one thread per connection, the
//! read buffer scanned for complete heads, so pipelined requests are answered in order.
//! Request bodies framed by `Content-Length` are skipped; chunked request bodies are not
//! supported (the connection is closed). It exists to give the load generator a peer
//! that costs little and behaves the same on every machine; nginx is the reference.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

/// The response to every request: 13 body bytes, like nginx's `return 200 "hello, world!"`.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: bench-server\r\nContent-Type: text/plain\r\n\
Content-Length: 13\r\nConnection: keep-alive\r\n\r\nhello, world!";

/// The longest request head accepted; a longer one closes the connection.
const MAX_HEAD_BYTES: usize = 16 * 1024;

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-server: cannot listen on {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    match listener.local_addr() {
        Ok(a) => println!("listening on {a}"),
        Err(e) => {
            eprintln!("bench-server: {e}");
            return ExitCode::FAILURE;
        }
    }
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let _ = thread::Builder::new()
                    .name("bench-conn".into())
                    .spawn(move || serve(s));
            }
            // Out of descriptors, aborted handshakes: keep serving the others.
            Err(e) => eprintln!("bench-server: accept: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// Serves one connection until the client closes it.
fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = serve_requests(&mut stream);
}

fn serve_requests(stream: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let mut filled = 0;
    // Request body bytes still to skip (they may span reads).
    let mut skip = 0usize;
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    loop {
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        // Answer every complete head in the buffer with one write.
        let mut start = 0;
        loop {
            let skipped = skip.min(filled - start);
            start += skipped;
            skip -= skipped;
            if skip > 0 {
                break;
            }
            let Some(end) = find_head_end(&buf[start..filled]) else {
                break;
            };
            let head = &buf[start..start + end];
            if is_chunked(head) {
                return Ok(());
            }
            skip = content_length(head);
            out.extend_from_slice(RESPONSE);
            start += end;
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            return Ok(()); // head too long
        }
    }
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

fn is_chunked(head: &[u8]) -> bool {
    header_value(head, b"transfer-encoding").is_some()
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
        assert!(!is_chunked(head));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
        let body = RESPONSE.split(|&b| b == b'\n').next_back();
        assert_eq!(body, Some(&b"hello, world!"[..]));
    }
}
