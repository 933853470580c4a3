//! Codec micro-benchmarks: parsing a typical response head and decoding a chunked body.
//! Results are recorded in `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::Method;
use http1_codec::{BodyDecoder, BodyFraming, ResponseParser};

/// A typical 200 response head with 10 header fields, as nginx or an API gateway sends.
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.24.0\r\n\
Date: Tue, 14 Apr 2026 10:00:00 GMT\r\n\
Content-Type: application/json; charset=utf-8\r\n\
Content-Length: 1234\r\n\
Connection: keep-alive\r\n\
Cache-Control: no-cache, no-store, must-revalidate\r\n\
ETag: \"5f3c-1a2b3c4d\"\r\n\
Vary: Accept-Encoding\r\n\
X-Request-Id: 7b1c2f9e-4d3a-4f6b-9a8e-2c1d0e9f8a7b\r\n\
Strict-Transport-Security: max-age=31536000\r\n\
\r\n";

fn chunked_body(total: usize, chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + total / chunk * 8 + 8);
    let data = vec![b'x'; chunk];
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk);
        http1_codec::encode_chunk(&data[..n], &mut out);
        left -= n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn parse_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(HEAD.len() as u64));
    let mut parser = ResponseParser::default();
    group.bench_function("parse_head_200_10_headers", |b| {
        b.iter(|| {
            parser.reset();
            let head = parser.parse(black_box(HEAD), &Method::GET);
            black_box(head.ok().flatten().map(|h| h.head_len))
        })
    });
    group.finish();
}

fn decode_chunked(c: &mut Criterion) {
    let body = chunked_body(64 * 1024, 4 * 1024);
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(64 * 1024));
    group.bench_function("decode_chunked_64k_4k_chunks", |b| {
        b.iter(|| {
            let mut decoder = BodyDecoder::new(BodyFraming::Chunked);
            let mut input = black_box(&body[..]);
            let mut total = 0usize;
            while let Ok(d) = decoder.decode(input) {
                total += d.data.len();
                input = &input[d.consumed..];
                if d.done || d.consumed == 0 {
                    break;
                }
            }
            black_box(total)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = parse_head, decode_chunked
}
criterion_main!(benches);
