//! Test harness shared by the integration tests: drives a response through the codec
//! the way the engine will (one growing buffer, consumed bytes dropped) and records
//! what came out, so that runs over different splits of the same bytes can be compared.
#![allow(dead_code)]

use http::Method;
use http1_codec::{
    BodyDecoder, BodyFraming, CloseReason, ErrorKind, HeadKind, HeadLimits, ResponseParser,
};

/// Everything observable about one response run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Interim (1xx other than 101) statuses, in order.
    pub interim: Vec<u16>,
    /// Final status (or 101), once its head was parsed.
    pub status: Option<u16>,
    /// Framing of the final head.
    pub framing: Option<BodyFraming>,
    /// Body bytes, concatenated.
    pub body: Vec<u8>,
    /// The response ended (body complete, or 101).
    pub done: bool,
    /// Bytes consumed in total (heads and body). 0 when `error` is set: how much framing
    /// was eaten before an error depends on the split and is not part of the contract.
    pub consumed: usize,
    /// Keep-alive verdict of the final head: `Some(None)` reusable, `Some(Some(r))` not.
    pub reuse: Option<Option<CloseReason>>,
    /// Number of trailer fields.
    pub trailers: usize,
    /// The error, if the response was refused.
    pub error: Option<ErrorKind>,
    /// The final head's `Keep-Alive` hint: (timeout seconds, requests left).
    pub hint: (Option<u64>, Option<u64>),
}

enum Stage {
    Head,
    Body(BodyDecoder),
    Finished,
}

/// Feeds `pieces` one after another, then (if `eof`) signals end of stream.
pub fn run(method: &Method, pieces: &[&[u8]], eof: bool, limits: HeadLimits) -> Outcome {
    let mut out = Outcome::default();
    let mut parser = ResponseParser::new(limits);
    let mut stage = Stage::Head;
    let mut buf: Vec<u8> = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        if let Err(kind) = step(method, &mut parser, &mut stage, &mut buf, &mut out) {
            return failed(out, kind);
        }
        if let Stage::Finished = stage {
            return out;
        }
    }
    if eof {
        match &mut stage {
            Stage::Head => return failed(out, ErrorKind::UnexpectedEof),
            Stage::Body(decoder) => {
                if let Err(e) = decoder.handle_eof() {
                    return failed(out, e.kind());
                }
                out.done = true;
            }
            Stage::Finished => {}
        }
    }
    out
}

fn failed(mut out: Outcome, kind: ErrorKind) -> Outcome {
    out.error = Some(kind);
    out.consumed = 0;
    out.done = false;
    out
}

fn step(
    method: &Method,
    parser: &mut ResponseParser,
    stage: &mut Stage,
    buf: &mut Vec<u8>,
    out: &mut Outcome,
) -> Result<(), ErrorKind> {
    loop {
        match stage {
            Stage::Finished => return Ok(()),
            Stage::Head => {
                let Some(head) = parser.parse(buf, method).map_err(|e| e.kind())? else {
                    return Ok(());
                };
                // Consumed counts are sane: within the buffer, at least a status line.
                assert!(head.head_len <= buf.len() && head.head_len >= 12);
                out.consumed += head.head_len;
                buf.drain(..head.head_len);
                parser.reset();
                match head.kind {
                    HeadKind::Continue | HeadKind::Informational => {
                        out.interim.push(head.status.as_u16());
                    }
                    HeadKind::SwitchingProtocols => {
                        out.status = Some(101);
                        out.reuse = Some(Some(CloseReason::Upgrade));
                        out.done = true;
                        *stage = Stage::Finished;
                    }
                    HeadKind::Final {
                        framing,
                        keep_alive,
                    } => {
                        out.status = Some(head.status.as_u16());
                        out.framing = Some(framing);
                        out.reuse = Some(keep_alive.reason());
                        let hint = head.keep_alive_hint;
                        out.hint = (hint.timeout_secs, hint.max_requests);
                        *stage = Stage::Body(BodyDecoder::new(framing));
                    }
                }
            }
            Stage::Body(decoder) => {
                let d = decoder.decode(buf).map_err(|e| e.kind())?;
                assert!(d.consumed <= buf.len());
                assert!(d.data.len() <= d.consumed);
                out.body.extend_from_slice(d.data);
                let (consumed, done) = (d.consumed, d.done);
                out.consumed += consumed;
                buf.drain(..consumed);
                if done {
                    out.done = true;
                    out.trailers = decoder.trailers().map_or(0, |t| t.len());
                    *stage = Stage::Finished;
                } else if consumed == 0 {
                    return Ok(());
                }
            }
        }
    }
}

/// Runs `input` whole, split at every byte position (or at a stride for big inputs), and
/// byte at a time; asserts every run gives the same outcome and returns it.
pub fn run_every_split(method: &Method, input: &[u8], eof: bool, limits: HeadLimits) -> Outcome {
    let whole = run(method, &[input], eof, limits);
    let stride = if input.len() > 4096 {
        input.len() / 97 + 1
    } else {
        1
    };
    for at in (0..=input.len()).step_by(stride) {
        let (a, b) = input.split_at(at);
        let split = run(method, &[a, b], eof, limits);
        assert_eq!(split, whole, "split at {at} differs");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run(method, &bytes, eof, limits),
        whole,
        "byte-at-a-time differs"
    );
    whole
}

/// A small deterministic xorshift64* generator (no rand crate).
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    /// Next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
