//! Transparent decompression (feature `compression`): `Accept-Encoding` only when the
//! caller set none (and sent no `Range`), gzip (multi-member too), zlib and raw deflate
//! bodies decoded with `Content-Encoding` and `Content-Length` removed, a caller's own
//! `Accept-Encoding` left alone, corrupt data and decompression bombs failing with their
//! own kinds, and the raw connection drained and pooled whether the decoded body is
//! read to the end or dropped.
#![cfg(feature = "compression")]
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::{Read, Write};

use common::WAIT;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
use testkit::{pattern, RecordedRequest, TestServer};
use wirepool::{Client, ErrorKind};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Bytes that do not compress (xorshift), so a compressed body can be made larger than
/// the drain limit.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A keep-alive server answering every request with `body` encoded as `coding`.
fn encoded_server(coding: &'static str, body: Vec<u8>) -> TestServer {
    TestServer::start(move |conn| {
        while conn.read_request().is_some() {
            conn.respond(200, &[("Content-Encoding", coding)], &body);
        }
    })
}

fn accept_encoding(req: &RecordedRequest) -> Option<&str> {
    req.header("accept-encoding")
}

#[test]
fn a_gzip_body_is_decoded_and_its_headers_removed() {
    let plain = pattern(0, 300_000);
    let server = encoded_server("gzip", gzip(&plain));
    let client = Client::new().unwrap();
    let mut resp = client.get(server.url("/")).send().unwrap();
    assert!(resp.body_mut().is_decoded());
    assert_eq!(resp.headers().get("content-encoding"), None);
    assert_eq!(resp.headers().get("content-length"), None);
    let mut body = Vec::new();
    resp.read_to_end(&mut body).unwrap();
    assert!(body == plain, "decoded body differs");
    // The raw body was read to its end with the decoded one: the exchange is finished
    // and the connection pooled.
    assert!(resp.body_mut().final_info().is_some());
    assert_eq!(
        accept_encoding(&server.recorded()[0]),
        Some("gzip, deflate")
    );
    let again = client.get(server.url("/")).send().unwrap();
    assert!(again.info().reused);
    assert_eq!(again.bytes().unwrap(), plain);
    assert_eq!(server.connections(), 1);
}

#[test]
fn deflate_is_decoded_as_zlib_or_raw() {
    let plain = pattern(7, 100_000);
    for (name, encoded) in [("zlib", zlib(&plain)), ("raw", raw_deflate(&plain))] {
        let server = encoded_server("deflate", encoded);
        let client = Client::new().unwrap();
        let mut resp = client.get(server.url("/")).send().unwrap();
        assert_eq!(resp.body_mut().read_all().unwrap(), plain, "{name}");
        // The end of the compressed stream is not the end of the raw body as the engine
        // sees it: the raw body is read on to its end, so the exchange finishes.
        assert!(resp.body_mut().final_info().is_some(), "{name}");
    }
}

/// The compressed stream ends before the raw body does (a few stray bytes follow it,
/// and the last chunk of the chunked response comes later): reading the decoded body to
/// its end reads the raw one to its end, so the exchange is finished and the connection
/// pooled, not left for a drain.
#[test]
fn the_raw_body_is_read_to_its_end_after_the_compressed_stream() {
    let mut encoded = zlib(&pattern(0, 50_000));
    encoded.extend_from_slice(b"stray bytes after the stream");
    let server = TestServer::start(move |conn| {
        while conn.read_request().is_some() {
            let mut head = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            head.extend(format!("{:x}\r\n", encoded.len()).as_bytes());
            head.extend(&encoded);
            head.extend(b"\r\n");
            conn.write(&head);
            conn.stall(std::time::Duration::from_millis(300));
            conn.write(b"0\r\n\r\n");
        }
    });
    let client = Client::new().unwrap();
    let mut resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.body_mut().read_all().unwrap(), pattern(0, 50_000));
    assert!(
        resp.body_mut().final_info().is_some(),
        "the raw body was not finished"
    );
    drop(resp);
    assert!(client.get(server.url("/")).send().unwrap().info().reused);
}

#[test]
fn every_member_of_a_multi_member_gzip_is_decoded() {
    let mut two = gzip(b"first member, ");
    two.extend(gzip(b"second member"));
    let server = encoded_server("x-gzip", two);
    let client = Client::new().unwrap();
    let resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.text().unwrap(), "first member, second member");
}

#[test]
fn a_callers_own_accept_encoding_gets_the_bytes_as_sent() {
    let encoded = gzip(b"left alone");
    let server = encoded_server("gzip", encoded.clone());
    let client = Client::new().unwrap();
    let mut resp = client
        .get(server.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert!(!resp.body_mut().is_decoded());
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert_eq!(resp.bytes().unwrap(), encoded);
}

#[test]
fn no_accept_encoding_with_a_range_or_when_turned_off() {
    let server = TestServer::keep_alive(b"x");
    let client = Client::new().unwrap();
    client
        .get(server.url("/"))
        .header("range", "bytes=0-0")
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let off = Client::builder().decompress(false).build().unwrap();
    off.get(server.url("/")).send().unwrap().bytes().unwrap();
    for req in server.recorded() {
        assert_eq!(accept_encoding(&req), None);
    }
}

#[test]
fn a_head_response_is_left_as_it_is() {
    let server = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.write(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1234\r\n\r\n",
            );
        }
    });
    let client = Client::new().unwrap();
    let mut resp = client.head(server.url("/")).send().unwrap();
    assert!(!resp.body_mut().is_decoded());
    assert_eq!(resp.headers()["content-length"], "1234");
    assert!(resp.bytes().unwrap().is_empty());
}

#[test]
fn corrupt_data_fails_with_decode() {
    let mut broken = gzip(&pattern(0, 10_000));
    let middle = broken.len() / 2;
    broken[middle] ^= 0xff;
    broken[middle + 1] ^= 0x55;
    let server = encoded_server("gzip", broken);
    let client = Client::new().unwrap();
    let err = client
        .get(server.url("/"))
        .send()
        .unwrap()
        .bytes()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err:?}");
}

/// 64 MiB of zeros in a few dozen KiB: past `max_decoded_body_bytes` the read fails with
/// `BodyTooLarge`, and the client goes on working.
#[test]
fn a_decompression_bomb_is_stopped_at_the_limit() {
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 100_000, "{} bytes", bomb.len());
    let server = encoded_server("gzip", bomb);
    let client = Client::builder()
        .max_decoded_body_bytes(Some(1 << 20))
        .build()
        .unwrap();
    let resp = client.get(server.url("/")).send().unwrap();
    let err = resp.bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge, "{err:?}");
    // Through `Read` too, the kind survives `Error::from_io`.
    let mut resp = client.get(server.url("/")).send().unwrap();
    let mut sink = Vec::new();
    let io_err = resp.read_to_end(&mut sink).unwrap_err();
    assert_eq!(
        wirepool::Error::from_io(io_err).kind(),
        ErrorKind::BodyTooLarge
    );
    assert!(sink.len() <= 1 << 20);
    drop(resp);
    let fine = TestServer::keep_alive(b"still fine");
    assert_eq!(
        client.get(fine.url("/")).send().unwrap().text().unwrap(),
        "still fine"
    );
}

/// A decoded body dropped after a few bytes: the rest of the (small) raw body is
/// drained and the connection reused; a raw body over the drain limit closes it.
#[test]
fn a_dropped_compressed_body_is_drained_or_closed_by_the_usual_rules() {
    let small = encoded_server("gzip", gzip(&pattern(0, 1 << 20)));
    let client = Client::new().unwrap();
    for _ in 0..3 {
        let mut resp = client.get(small.url("/")).send().unwrap();
        let mut first = [0u8; 1024];
        resp.read_exact(&mut first).unwrap();
        assert_eq!(first.to_vec(), pattern(0, 1024));
        drop(resp);
    }
    assert_eq!(small.connections(), 1, "drained and reused each time");

    let big = encoded_server("gzip", gzip(&noise(512 * 1024)));
    let mut resp = client.get(big.url("/")).send().unwrap();
    let mut first = [0u8; 1024];
    resp.read_exact(&mut first).unwrap();
    drop(resp);
    let next = client.get(big.url("/")).send().unwrap();
    assert!(
        !next.info().reused,
        "over the drain limit: closed, not reused"
    );
    assert_eq!(next.bytes().unwrap(), noise(512 * 1024));
    assert!(big.wait_for_open_connections(1, WAIT));
}
