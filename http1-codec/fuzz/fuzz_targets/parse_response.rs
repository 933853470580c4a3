//! Fuzz the response-head parser: no panic on any input, sane consumed counts, and the
//! same result whether the head arrives in one read or two (split point from the input).
#![no_main]

use http::Method;
use http1_codec::{HeadLimits, ResponseParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let method = match control & 3 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::CONNECT,
        _ => Method::POST,
    };
    let limits = if control & 4 == 0 {
        HeadLimits::default()
    } else {
        HeadLimits {
            max_head_bytes: 256,
            max_headers: 4,
        }
    };

    let mut parser = ResponseParser::new(limits);
    let whole = parser.parse(bytes, &method);
    if let Ok(Some(head)) = &whole {
        assert!(head.head_len <= bytes.len());
        assert!(parser.headers(bytes).count() <= limits.max_headers);
        let _ = head.reason(bytes);
        let _ = parser.header_map(bytes);
    }

    // The same bytes in two reads.
    let split = usize::from(control >> 3) * bytes.len() / 31;
    let mut parser = ResponseParser::new(limits);
    let again = match parser.parse(&bytes[..split.min(bytes.len())], &method) {
        Ok(None) => parser.parse(bytes, &method),
        // Complete or refused on the prefix: the whole must say the same.
        other => other,
    };
    assert_eq!(again, whole);
});
