//! A bounded, deterministic fuzz run for CI (no nightly needed): seeded pseudo-random
//! byte strings and mutations of valid responses go through the head parser and the body
//! decoders. Nothing may panic, consumed counts must stay within the input (the harness
//! asserts it), and — a differential check — a random split of the same bytes must give
//! the same outcome as one piece.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use http::Method;
use http1_codec::{BodyDecoder, BodyFraming, ChunkLimits, HeadLimits, ResponseParser};
use support::{run, XorShift};

const SEEDS: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nclose-delimited",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
];

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"0",
    b"\0",
    b"\xff",
    b"0\r\n\r\n",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"ffffffffffffffffff",
    b"HTTP/1.1 ",
    b"\r\n\r\n",
    b"Connection: close\r\n",
    b"-1",
];

const METHODS: [Method; 4] = [Method::GET, Method::HEAD, Method::POST, Method::CONNECT];

fn mutate(rng: &mut XorShift, input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(6) {
            0 if len > 0 => {
                let at = rng.below(len);
                input[at] = rng.next_u64() as u8;
            }
            1 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below(len - at).min(8) + 1;
                input.drain(at..(at + n).min(len));
            }
            2 => {
                let at = rng.below(len + 1);
                let token = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below(len - at) + 1;
                let copy = input[at..at + n].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, copy);
            }
            4 => {
                let at = rng.below(len + 1);
                input.insert(at, rng.next_u64() as u8);
            }
            _ => input.truncate(rng.below(len + 1)),
        }
    }
}

fn random_pieces<'a>(rng: &mut XorShift, input: &'a [u8]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = (0..rng.below(5))
        .map(|_| rng.below(input.len() + 1))
        .collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = 0;
    for p in points {
        pieces.push(&input[from..p]);
        from = p;
    }
    pieces.push(&input[from..]);
    pieces
}

fn check(rng: &mut XorShift, input: &[u8]) {
    let method = &METHODS[rng.below(METHODS.len())];
    let eof = rng.below(2) == 0;
    let limits = if rng.below(4) == 0 {
        HeadLimits {
            max_head_bytes: rng.below(128),
            max_headers: rng.below(4),
        }
    } else {
        HeadLimits::default()
    };
    let whole = run(method, &[input], eof, limits);
    let pieces = random_pieces(rng, input);
    let split = run(method, &pieces, eof, limits);
    assert_eq!(
        split,
        whole,
        "input {:?} pieces {:?}",
        String::from_utf8_lossy(input),
        pieces.len()
    );
    assert!(whole.consumed <= input.len());
}

#[test]
fn mutated_responses_never_panic_and_are_split_invariant() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for i in 0..10_000 {
        let mut input = SEEDS[i % SEEDS.len()].to_vec();
        mutate(&mut rng, &mut input);
        check(&mut rng, &input);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let mut parser = ResponseParser::default();
    for _ in 0..5000 {
        let len = rng.below(200);
        let mut input: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if rng.below(2) == 0 {
            input.splice(0..0, b"HTTP/1.1 200 OK\r\n".iter().copied());
        }
        // Head parser directly, with a reused parser.
        parser.reset();
        if let Ok(Some(head)) = parser.parse(&input, &Method::GET) {
            assert!(head.head_len <= input.len());
            assert!(parser.headers(&input).count() <= 100);
            let _ = parser.header_map(&input);
        }
        // Every decoder over the same bytes.
        for framing in [
            BodyFraming::Chunked,
            BodyFraming::Length(17),
            BodyFraming::CloseDelimited,
        ] {
            let mut dec = BodyDecoder::with_limits(
                framing,
                ChunkLimits {
                    max_extension_bytes: 16,
                    max_trailer_bytes: 64,
                },
            );
            let mut rest = &input[..];
            while let Ok(d) = dec.decode(rest) {
                assert!(d.consumed <= rest.len() && d.data.len() <= d.consumed);
                rest = &rest[d.consumed..];
                if d.done || d.consumed == 0 {
                    break;
                }
            }
            let _ = dec.handle_eof();
            let _ = dec.remaining();
        }
        check(&mut rng, &input);
    }
}

#[test]
fn chunked_bodies_from_random_chunks_never_panic() {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    for _ in 0..5000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(6) {
            let n = rng.below(40);
            input.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            input.extend((0..n).map(|_| rng.next_u64() as u8));
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"0\r\n\r\n");
        mutate(&mut rng, &mut input);
        let mut head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        head.extend_from_slice(&input);
        check(&mut rng, &head);
    }
}
