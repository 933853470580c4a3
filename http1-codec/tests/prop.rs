//! Property: feeding the same response bytes split at arbitrary points gives the same
//! head, the same body bytes and the same end as feeding them in one piece — and that
//! outcome is the response that was generated.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use http::Method;
use http1_codec::{BodyFraming, HeadLimits};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use support::run;

const NAMES: &[&str] = &[
    "Server",
    "Date",
    "X-A",
    "Cache-Control",
    "ETag",
    "Vary",
    "Set-Cookie",
    "x-lower",
];

#[derive(Debug, Clone)]
enum Framing {
    Length,
    Chunked {
        sizes: Vec<usize>,
        extensions: bool,
        trailers: bool,
    },
    Close,
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::Length),
        (
            prop::collection::vec(1usize..80, 1..12),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(sizes, extensions, trailers)| Framing::Chunked {
                sizes,
                extensions,
                trailers
            }),
        Just(Framing::Close),
    ]
}

/// Builds the response bytes; returns them with the framing the parser should decide.
fn build(
    http10: bool,
    status: u16,
    headers: &[(usize, Vec<u8>)],
    body: &[u8],
    framing: &Framing,
) -> (Vec<u8>, BodyFraming) {
    let mut out = Vec::new();
    out.extend_from_slice(if http10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(format!("{status} Some Reason\r\n").as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(NAMES[*name].as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    let expected = match framing {
        Framing::Length => {
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
            if body.is_empty() {
                BodyFraming::None
            } else {
                BodyFraming::Length(body.len() as u64)
            }
        }
        Framing::Chunked {
            sizes,
            extensions,
            trailers,
        } => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = body;
            let mut i = 0;
            while !rest.is_empty() {
                let n = sizes[i % sizes.len()].min(rest.len());
                out.extend_from_slice(format!("{n:x}").as_bytes());
                if *extensions {
                    out.extend_from_slice(b";ext=\"v\"");
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&rest[..n]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[n..];
                i += 1;
            }
            out.extend_from_slice(b"0\r\n");
            if *trailers {
                out.extend_from_slice(b"X-Checksum: 42\r\n");
            }
            out.extend_from_slice(b"\r\n");
            BodyFraming::Chunked
        }
        Framing::Close => {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
            BodyFraming::CloseDelimited
        }
    };
    (out, expected)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_split_gives_the_same_response(
        http10 in any::<bool>(),
        status in select(vec![200u16, 201, 202, 206, 301, 404, 500, 503]),
        headers in prop::collection::vec((0..NAMES.len(), prop::collection::vec(0x21u8..0x7f, 0..24)), 0..10),
        body in prop::collection::vec(any::<u8>(), 0..600),
        framing in framing(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        // HTTP/1.0 with Transfer-Encoding reads until close by design; keep chunked 1.1.
        let http10 = http10 && !matches!(framing, Framing::Chunked { .. });
        let (bytes, expected_framing) = build(http10, status, &headers, &body, &framing);
        let eof = matches!(framing, Framing::Close);

        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        points.dedup();
        let mut pieces = Vec::new();
        let mut from = 0;
        for p in points {
            pieces.push(&bytes[from..p]);
            from = p;
        }
        pieces.push(&bytes[from..]);

        let whole = run(&Method::GET, &[&bytes], eof, HeadLimits::default());
        let split = run(&Method::GET, &pieces, eof, HeadLimits::default());
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(whole.error, None);
        prop_assert_eq!(whole.status, Some(status));
        prop_assert_eq!(whole.framing, Some(expected_framing));
        prop_assert_eq!(&whole.body, &body);
        prop_assert!(whole.done);
        prop_assert_eq!(whole.consumed, bytes.len());
    }
}
