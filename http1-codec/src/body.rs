//! Response body decoders: no body, `Content-Length`, chunked (with trailers) and
//! close-delimited.
//!
//! Owns [`BodyDecoder`] (one per response, built from the [`BodyFraming`] the head
//! parser decided), its [`ChunkLimits`], and what a call returns ([`Decoded`],
//! [`Remaining`]). It never copies body bytes: data comes back as a sub-slice of the
//! input. It does not decide framing (that is [`crate::framing`]), does not buffer
//! (the caller keeps unconsumed bytes and passes them again with more appended) and does
//! not decode content codings such as gzip.
//!
//! # Contract
//! Call [`BodyDecoder::decode`] with the bytes after the head. Each call returns how many
//! input bytes it used, at most one contiguous slice of body data, and whether the body
//! is complete. Loop while `consumed > 0 && !done`, dropping the consumed bytes each
//! time; when a call consumes nothing and is not done, read more. At end of stream call
//! [`BodyDecoder::handle_eof`]. After an error the decoder stays failed and repeats it.
//!
//! # Chunked strictness
//! RFC 9112 §7.1: `chunk-size` is hex (overflow is an error, not a wrap), whitespace may
//! follow it, chunk extensions are skipped (length-limited, no control bytes), every line
//! ends in CRLF — a bare LF anywhere in chunk framing is an error. The trailer section
//! is only accepted whole: the decoder waits (consuming nothing) until the blank line
//! that ends it is in the input, up to [`ChunkLimits::max_trailer_bytes`], then parses it
//! into a [`HeaderMap`] (an allocation only when trailers are present).

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{Error, ErrorKind};
use crate::framing::BodyFraming;

/// Default limit on the chunk extensions (and padding whitespace) of one chunk-size line:
/// 4 KiB. Extensions carry nothing wirepool uses; a server that sends more is hostile.
pub const DEFAULT_MAX_EXTENSION_BYTES: usize = 4 * 1024;

/// Default limit on the whole trailer section: 16 KiB. Trailers are buffered by the
/// caller until complete, so this bounds that buffering.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Trailer fields per section, at most. Parsed into a fixed array on the stack.
pub const MAX_TRAILER_FIELDS: usize = 64;

/// Limits applied by the chunked decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Bytes allowed after the hex size on one chunk-size line (whitespace and
    /// extensions), or [`ErrorKind::ChunkExtensionTooLong`].
    pub max_extension_bytes: usize,
    /// Bytes allowed for the whole trailer section, final blank line included, or
    /// [`ErrorKind::TrailersTooLarge`].
    pub max_trailer_bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_extension_bytes: DEFAULT_MAX_EXTENSION_BYTES,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
        }
    }
}

/// What one [`BodyDecoder::decode`] call found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'b> {
    /// Input bytes used (framing and data); drop them before the next call.
    pub consumed: usize,
    /// Body data found, a sub-slice of the input (possibly empty).
    pub data: &'b [u8],
    /// The body is complete; bytes after `consumed` belong to the next response.
    pub done: bool,
}

/// How many body (payload) bytes are still to come, framing overhead not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Remaining {
    /// Exactly this many (a length body; `Exact(0)` once any body is done).
    Exact(u64),
    /// At least this many (the rest of the current chunk).
    AtLeast(u64),
    /// Not known (between chunks, or a close-delimited body).
    Unknown,
}

/// Decodes one response body. Build it with [`BodyDecoder::new`] from the head's
/// [`BodyFraming`].
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    limits: ChunkLimits,
    trailers: Option<HeaderMap>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `Content-Length` body with this many bytes left (never 0: that is `Done`).
    Length { left: u64 },
    /// Chunked body, in this sub-state.
    Chunked(Chunk),
    /// Body ends at end of stream.
    CloseDelimited,
    /// Body complete.
    Done,
    /// An error was reported; it is reported again.
    Failed(ErrorKind),
}

/// Sub-states of a chunked body, one per position in RFC 9112 §7.1's grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading hex digits of chunk-size; `digits` says whether any was seen.
    Size { size: u64, digits: bool },
    /// After the size: whitespace or extensions (`line_bytes` so far), until CR.
    Extension { size: u64, line_bytes: usize },
    /// After the CR that ends the size line; expecting LF.
    SizeLf { size: u64 },
    /// Chunk data, `left` bytes to go (never 0).
    Data { left: u64 },
    /// After chunk data; expecting CR.
    DataCr,
    /// After chunk data and CR; expecting LF.
    DataLf,
    /// After the last-chunk line; waiting for the whole trailer section.
    Trailers,
}

impl BodyDecoder {
    /// A decoder for `framing` with default [`ChunkLimits`].
    pub fn new(framing: BodyFraming) -> Self {
        BodyDecoder::with_limits(framing, ChunkLimits::default())
    }

    /// A decoder for `framing` with the given chunk limits.
    pub fn with_limits(framing: BodyFraming, limits: ChunkLimits) -> Self {
        let state = match framing {
            BodyFraming::None | BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(left) => State::Length { left },
            BodyFraming::Chunked => State::Chunked(Chunk::Size {
                size: 0,
                digits: false,
            }),
            BodyFraming::CloseDelimited => State::CloseDelimited,
        };
        BodyDecoder {
            state,
            limits,
            trailers: None,
        }
    }

    /// Decodes from `input`. See the module docs for the calling contract.
    pub fn decode<'b>(&mut self, input: &'b [u8]) -> Result<Decoded<'b>, Error> {
        match self.state {
            State::Done => Ok(Decoded {
                consumed: 0,
                data: &[],
                done: true,
            }),
            State::Failed(kind) => Err(kind.into()),
            State::CloseDelimited => Ok(Decoded {
                consumed: input.len(),
                data: input,
                done: false,
            }),
            State::Length { left } => {
                let n = usize::try_from(left).map_or(input.len(), |l| l.min(input.len()));
                let left = left - n as u64;
                let done = left == 0;
                self.state = if done {
                    State::Done
                } else {
                    State::Length { left }
                };
                Ok(Decoded {
                    consumed: n,
                    data: &input[..n],
                    done,
                })
            }
            State::Chunked(chunk) => match self.decode_chunked(chunk, input) {
                Ok(decoded) => Ok(decoded),
                Err(kind) => {
                    self.state = State::Failed(kind);
                    Err(kind.into())
                }
            },
        }
    }

    /// Steps through chunk framing until data, the end of input, or the end of body.
    fn decode_chunked<'b>(
        &mut self,
        mut chunk: Chunk,
        input: &'b [u8],
    ) -> Result<Decoded<'b>, ErrorKind> {
        let mut pos = 0;
        loop {
            match chunk {
                Chunk::Data { left } => {
                    let avail = input.len() - pos;
                    let n = usize::try_from(left).map_or(avail, |l| l.min(avail));
                    let left = left - n as u64;
                    self.state = State::Chunked(if left == 0 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data { left }
                    });
                    return Ok(Decoded {
                        consumed: pos + n,
                        data: &input[pos..pos + n],
                        done: false,
                    });
                }
                Chunk::Trailers => {
                    let rest = &input[pos..];
                    return match self.take_trailer_section(rest)? {
                        Some(used) => {
                            self.state = State::Done;
                            Ok(Decoded {
                                consumed: pos + used,
                                data: &[],
                                done: true,
                            })
                        }
                        None => {
                            self.state = State::Chunked(Chunk::Trailers);
                            Ok(Decoded {
                                consumed: pos,
                                data: &[],
                                done: false,
                            })
                        }
                    };
                }
                _ => {}
            }
            let Some(&byte) = input.get(pos) else {
                self.state = State::Chunked(chunk);
                return Ok(Decoded {
                    consumed: pos,
                    data: &[],
                    done: false,
                });
            };
            pos += 1;
            chunk = self.step(chunk, byte)?;
        }
    }

    /// One byte of chunk framing (everything but data and trailers).
    fn step(&self, chunk: Chunk, byte: u8) -> Result<Chunk, ErrorKind> {
        Ok(match chunk {
            Chunk::Size { size, digits } => match byte {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let digit = u64::from(hex_value(byte));
                    let size = size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(digit))
                        .ok_or(ErrorKind::ChunkSizeOverflow)?;
                    Chunk::Size { size, digits: true }
                }
                b' ' | b'\t' | b';' if digits => Chunk::Extension {
                    size,
                    line_bytes: 1,
                }
                .check(self.limits)?,
                b'\r' if digits => Chunk::SizeLf { size },
                _ => return Err(ErrorKind::InvalidChunkSize),
            },
            Chunk::Extension { size, line_bytes } => match byte {
                b'\r' => Chunk::SizeLf { size },
                // Bare LF and other control bytes: refuse (HTAB is fine).
                0..=8 | 10..=31 | 127 => return Err(ErrorKind::InvalidChunkSize),
                _ => Chunk::Extension {
                    size,
                    line_bytes: line_bytes + 1,
                }
                .check(self.limits)?,
            },
            Chunk::SizeLf { size } => match byte {
                b'\n' if size == 0 => Chunk::Trailers,
                b'\n' => Chunk::Data { left: size },
                _ => return Err(ErrorKind::InvalidChunkSize),
            },
            Chunk::DataCr => match byte {
                b'\r' => Chunk::DataLf,
                _ => return Err(ErrorKind::InvalidChunkTerminator),
            },
            Chunk::DataLf => match byte {
                b'\n' => Chunk::Size {
                    size: 0,
                    digits: false,
                },
                _ => return Err(ErrorKind::InvalidChunkTerminator),
            },
            Chunk::Data { .. } | Chunk::Trailers => chunk,
        })
    }

    /// Looks for a complete trailer section at the start of `rest`. `Ok(Some(n))`: it is
    /// `n` bytes long and has been parsed; `Ok(None)`: not complete yet.
    fn take_trailer_section(&mut self, rest: &[u8]) -> Result<Option<usize>, ErrorKind> {
        let window = &rest[..rest.len().min(self.limits.max_trailer_bytes)];
        let mut end = None;
        for (i, &b) in window.iter().enumerate() {
            if b != b'\n' {
                continue;
            }
            // Strict CRLF: every LF must follow a CR.
            if i == 0 || window[i - 1] != b'\r' {
                return Err(ErrorKind::InvalidTrailer);
            }
            // A line that is just CRLF ends the section.
            if i == 1 || (i >= 3 && window[i - 2] == b'\n') {
                end = Some(i + 1);
                break;
            }
        }
        let Some(end) = end else {
            if rest.len() >= self.limits.max_trailer_bytes {
                return Err(ErrorKind::TrailersTooLarge);
            }
            return Ok(None);
        };
        if end > 2 {
            self.trailers = Some(parse_trailers(&rest[..end])?);
        }
        Ok(Some(end))
    }

    /// The connection reached end of stream. `Ok` when that ends the body (a
    /// close-delimited body, or one already done); [`ErrorKind::UnexpectedEof`] when a
    /// length or chunked body is unfinished.
    pub fn handle_eof(&mut self) -> Result<(), Error> {
        match self.state {
            State::Done => Ok(()),
            State::CloseDelimited => {
                self.state = State::Done;
                Ok(())
            }
            State::Failed(kind) => Err(kind.into()),
            State::Length { .. } | State::Chunked(_) => {
                self.state = State::Failed(ErrorKind::UnexpectedEof);
                Err(ErrorKind::UnexpectedEof.into())
            }
        }
    }

    /// `true` once the body is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// `true` when the body ends only at end of stream.
    pub fn is_close_delimited(&self) -> bool {
        self.state == State::CloseDelimited
    }

    /// How many body bytes are still expected: the engine uses it to choose between
    /// draining the rest (and reusing the connection) and closing.
    pub fn remaining(&self) -> Remaining {
        match self.state {
            State::Done => Remaining::Exact(0),
            State::Length { left } => Remaining::Exact(left),
            State::Chunked(Chunk::Data { left }) => Remaining::AtLeast(left),
            State::Chunked(_) | State::CloseDelimited | State::Failed(_) => Remaining::Unknown,
        }
    }

    /// Trailer fields of a chunked body, once it is done and if it had any.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// Takes the trailer fields out of the decoder.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }
}

impl Chunk {
    fn check(self, limits: ChunkLimits) -> Result<Chunk, ErrorKind> {
        match self {
            Chunk::Extension { line_bytes, .. } if line_bytes > limits.max_extension_bytes => {
                Err(ErrorKind::ChunkExtensionTooLong)
            }
            _ => Ok(self),
        }
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Parses a complete trailer section (fields, then the blank line).
fn parse_trailers(section: &[u8]) -> Result<HeaderMap, ErrorKind> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
    match httparse::parse_headers(section, &mut fields) {
        Ok(httparse::Status::Complete((n, parsed))) if n == section.len() => {
            let mut map = HeaderMap::with_capacity(parsed.len());
            for field in parsed {
                let name = HeaderName::from_bytes(field.name.as_bytes())
                    .map_err(|_| ErrorKind::InvalidTrailer)?;
                let value =
                    HeaderValue::from_bytes(field.value).map_err(|_| ErrorKind::InvalidTrailer)?;
                map.append(name, value);
            }
            Ok(map)
        }
        Err(httparse::Error::TooManyHeaders) => Err(ErrorKind::TrailersTooLarge),
        _ => Err(ErrorKind::InvalidTrailer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` like a connection would (appending to a buffer, dropping what was
    /// consumed) and returns (body, done, error, bytes consumed in total).
    fn feed(
        framing: BodyFraming,
        pieces: &[&[u8]],
        eof: bool,
    ) -> (Vec<u8>, bool, Option<ErrorKind>, usize) {
        let mut dec = BodyDecoder::new(framing);
        let mut buf = Vec::new();
        let mut body = Vec::new();
        let mut total = 0;
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&buf) {
                    Ok(d) => {
                        body.extend_from_slice(d.data);
                        let (consumed, done) = (d.consumed, d.done);
                        total += consumed;
                        buf.drain(..consumed);
                        if done {
                            return (body, true, None, total);
                        }
                        if consumed == 0 {
                            break;
                        }
                    }
                    // Framing bytes consumed before an error depend on the split; the
                    // count is meaningless then, so it is reported as 0.
                    Err(e) => return (body, false, Some(e.kind()), 0),
                }
            }
        }
        if eof {
            if let Err(e) = dec.handle_eof() {
                return (body, false, Some(e.kind()), 0);
            }
        }
        (body, dec.is_done(), None, total)
    }

    fn every_split(
        framing: BodyFraming,
        input: &[u8],
        eof: bool,
    ) -> (Vec<u8>, bool, Option<ErrorKind>, usize) {
        let whole = feed(framing, &[input], eof);
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(feed(framing, &[a, b], eof), whole, "split at {at}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(feed(framing, &bytes, eof), whole, "byte at a time");
        whole
    }

    #[test]
    fn chunked_table() {
        use ErrorKind::*;
        type Want = (&'static [u8], bool, Option<ErrorKind>, usize);
        let cases: &[(&[u8], bool, Want)] = &[
            (b"0\r\n\r\n", false, (b"", true, None, 5)),
            (
                b"5\r\nhello\r\n0\r\n\r\n",
                false,
                (b"hello", true, None, 15),
            ),
            (
                b"5\r\nhello\r\n0\r\n\r\nNEXT",
                false,
                (b"hello", true, None, 15),
            ),
            (
                b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                false,
                (b"abcde", true, None, 20),
            ),
            (
                b"A\r\n0123456789\r\n0\r\n\r\n",
                false,
                (b"0123456789", true, None, 20),
            ),
            (
                b"a\r\n0123456789\r\n0\r\n\r\n",
                false,
                (b"0123456789", true, None, 20),
            ),
            (b"003\r\nabc\r\n0\r\n\r\n", false, (b"abc", true, None, 15)),
            (
                b"3;ext=1\r\nabc\r\n0;last\r\n\r\n",
                false,
                (b"abc", true, None, 24),
            ),
            (b"3 \r\nabc\r\n0\r\n\r\n", false, (b"abc", true, None, 14)),
            (b"3 ;x\r\nabc\r\n0\r\n\r\n", false, (b"abc", true, None, 16)),
            (
                b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
                false,
                (b"abc", true, None, 21),
            ),
            (
                b"3\r\nabc\r\n",
                true,
                (b"abc", false, Some(UnexpectedEof), 0),
            ),
            (b"3\r\nab", true, (b"ab", false, Some(UnexpectedEof), 0)),
            (
                b"3\r\nabc\r\n0\r\n",
                true,
                (b"abc", false, Some(UnexpectedEof), 0),
            ),
            (b"\r\n", false, (b"", false, Some(InvalidChunkSize), 0)),
            (b";x\r\n", false, (b"", false, Some(InvalidChunkSize), 0)),
            (b"g\r\n", false, (b"", false, Some(InvalidChunkSize), 0)),
            (b"-1\r\n", false, (b"", false, Some(InvalidChunkSize), 0)),
            (b"+1\r\n", false, (b"", false, Some(InvalidChunkSize), 0)),
            (b"0x1\r\n", false, (b"", false, Some(InvalidChunkSize), 0)),
            (
                b"3\nabc\r\n0\r\n\r\n",
                false,
                (b"", false, Some(InvalidChunkSize), 0),
            ),
            (
                b"3;a\nabc\r\n",
                false,
                (b"", false, Some(InvalidChunkSize), 0),
            ),
            (
                b"3\r\nabc\n0\r\n\r\n",
                false,
                (b"abc", false, Some(InvalidChunkTerminator), 0),
            ),
            (
                b"3\r\nabcd\r\n",
                false,
                (b"abc", false, Some(InvalidChunkTerminator), 0),
            ),
            (
                b"3\r\nabc\r0\r\n",
                false,
                (b"abc", false, Some(InvalidChunkTerminator), 0),
            ),
            (
                b"10000000000000000\r\n",
                false,
                (b"", false, Some(ChunkSizeOverflow), 0),
            ),
            (
                b"ffffffffffffffff\r\n",
                true,
                (b"", false, Some(UnexpectedEof), 0),
            ),
            (
                b"0\r\nX-T: 1\n\r\n",
                false,
                (b"", false, Some(InvalidTrailer), 0),
            ),
            (b"0\r\n\n", false, (b"", false, Some(InvalidTrailer), 0)),
            (
                b"0\r\nX-T 1\r\n\r\n",
                false,
                (b"", false, Some(InvalidTrailer), 0),
            ),
            (
                b"0\r\nX-T: 1\r\n folded\r\n\r\n",
                false,
                (b"", false, Some(InvalidTrailer), 0),
            ),
        ];
        for (input, eof, want) in cases {
            let got = every_split(BodyFraming::Chunked, input, *eof);
            let want = (want.0.to_vec(), want.1, want.2, want.3);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn length_and_close_table() {
        type Row = (BodyFraming, &'static [u8], bool, Want);
        type Want = (&'static [u8], bool, Option<ErrorKind>, usize);
        let cases: &[Row] = &[
            (BodyFraming::None, b"", false, (b"", true, None, 0)),
            (BodyFraming::None, b"extra", false, (b"", true, None, 0)),
            (BodyFraming::Length(0), b"x", false, (b"", true, None, 0)),
            (
                BodyFraming::Length(3),
                b"abc",
                false,
                (b"abc", true, None, 3),
            ),
            (
                BodyFraming::Length(3),
                b"abcdef",
                false,
                (b"abc", true, None, 3),
            ),
            (
                BodyFraming::Length(3),
                b"ab",
                false,
                (b"ab", false, None, 2),
            ),
            (
                BodyFraming::Length(3),
                b"ab",
                true,
                (b"ab", false, Some(ErrorKind::UnexpectedEof), 0),
            ),
            (
                BodyFraming::CloseDelimited,
                b"abc",
                false,
                (b"abc", false, None, 3),
            ),
            (
                BodyFraming::CloseDelimited,
                b"abc",
                true,
                (b"abc", true, None, 3),
            ),
            (BodyFraming::CloseDelimited, b"", true, (b"", true, None, 0)),
        ];
        for (framing, input, eof, want) in cases {
            let got = every_split(*framing, input, *eof);
            let want = (want.0.to_vec(), want.1, want.2, want.3);
            assert_eq!(
                got,
                want,
                "{framing:?} {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn limits_and_trailers() {
        let limits = ChunkLimits {
            max_extension_bytes: 4,
            max_trailer_bytes: 12,
        };
        let mut dec = BodyDecoder::with_limits(BodyFraming::Chunked, limits);
        assert!(dec.decode(b"1;abc\r\n").is_ok());
        let mut dec = BodyDecoder::with_limits(BodyFraming::Chunked, limits);
        assert_eq!(
            dec.decode(b"1;abcd\r\n").map_err(|e| e.kind()),
            Err(ErrorKind::ChunkExtensionTooLong)
        );
        // Failed decoders repeat their error.
        assert_eq!(
            dec.decode(b"").map_err(|e| e.kind()),
            Err(ErrorKind::ChunkExtensionTooLong)
        );
        let mut dec = BodyDecoder::with_limits(BodyFraming::Chunked, limits);
        assert_eq!(
            dec.decode(b"0\r\nA: 1\r\nB: 2\r\n\r\n")
                .map_err(|e| e.kind()),
            Err(ErrorKind::TrailersTooLarge)
        );
        let mut dec = BodyDecoder::new(BodyFraming::Chunked);
        let d = dec.decode(b"0\r\nA: 1\r\nB: 2\r\nA: 3\r\n\r\n").unwrap();
        assert!(d.done);
        let t = dec.take_trailers().unwrap();
        assert_eq!(t.get_all("a").iter().count(), 2);
        assert_eq!(t["b"], "2");
    }

    #[test]
    fn remaining_tracks_progress() {
        let mut dec = BodyDecoder::new(BodyFraming::Length(10));
        assert_eq!(dec.remaining(), Remaining::Exact(10));
        dec.decode(b"abcd").unwrap();
        assert_eq!(dec.remaining(), Remaining::Exact(6));
        let mut dec = BodyDecoder::new(BodyFraming::Chunked);
        assert_eq!(dec.remaining(), Remaining::Unknown);
        dec.decode(b"a\r\nabc").unwrap();
        assert_eq!(dec.remaining(), Remaining::AtLeast(7));
        dec.decode(b"defghij\r\n0\r\n\r\n").unwrap();
        assert_eq!(dec.remaining(), Remaining::Unknown);
        let d = dec.decode(b"\r\n0\r\n\r\n").unwrap();
        assert!(d.done);
        assert_eq!(dec.remaining(), Remaining::Exact(0));
        assert_eq!(
            BodyDecoder::new(BodyFraming::CloseDelimited).remaining(),
            Remaining::Unknown
        );
    }
}
