//! Fuzz the chunked body decoder: no panic on any input, consumed counts within the
//! input, and the same body, end and error whether the input arrives in one piece or
//! split at points taken from the input itself.
#![no_main]

use http1_codec::{BodyDecoder, BodyFraming, ChunkLimits, ErrorKind};
use libfuzzer_sys::fuzz_target;

fn decode(input: &[u8], cuts: &[usize]) -> (Vec<u8>, bool, Option<ErrorKind>) {
    let limits = ChunkLimits {
        max_extension_bytes: 64,
        max_trailer_bytes: 256,
    };
    let mut decoder = BodyDecoder::with_limits(BodyFraming::Chunked, limits);
    let mut buf = Vec::new();
    let mut body = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(from, input.len());
        buf.extend_from_slice(&input[from..cut]);
        from = cut;
        loop {
            match decoder.decode(&buf) {
                Ok(d) => {
                    assert!(d.consumed <= buf.len() && d.data.len() <= d.consumed);
                    body.extend_from_slice(d.data);
                    let (consumed, done) = (d.consumed, d.done);
                    buf.drain(..consumed);
                    if done {
                        return (body, true, None);
                    }
                    if consumed == 0 {
                        break;
                    }
                }
                Err(e) => return (body, false, Some(e.kind())),
            }
        }
    }
    let _ = decoder.remaining();
    (body, false, decoder.handle_eof().err().map(|e| e.kind()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let whole = decode(input, &[]);
    let mut cuts: Vec<usize> = input
        .iter()
        .take(usize::from(control % 8))
        .map(|&b| usize::from(b) * input.len() / 255)
        .collect();
    cuts.sort_unstable();
    assert_eq!(decode(input, &cuts), whole);
});
