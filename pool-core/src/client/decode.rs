//! Transparent decompression of response bodies (the `compression` feature): `gzip`
//! (`x-gzip`) and `deflate`, through `flate2` on its pure-Rust backend.
//!
//! # What this module owns
//!
//! * **When.** [`ask`] says whether a request gets `Accept-Encoding: gzip, deflate`:
//!   when it set no `Accept-Encoding` (and no `Range`: a range of compressed bytes is
//!   not a range of the file, the trap Go avoids the same way). The engine's encoder
//!   writes the field (asked through `RequestOptions`), so no header map grows for it;
//!   [`coding_of`] says whether the response to such a request is one to decode. A caller that sets its own
//!   `Accept-Encoding` gets the bytes as sent, as with Go's `Transport`.
//! * **How.** [`Decoder`] wraps the raw body: `gzip` with every member of a
//!   multi-member stream; `deflate` as the zlib stream RFC 9110 names, or raw deflate
//!   when the first two bytes are not a zlib header (servers send both; curl accepts
//!   both the same way).
//! * **Bounds.** The decoded size is limited (`max_decoded_body_bytes`): a small body
//!   that inflates past it fails with [`ErrorKind::BodyTooLarge`], a corrupt one with
//!   [`ErrorKind::Decode`]. At the end of the compressed stream the raw body is read to
//!   its own end, so the exchange finishes and its connection goes back to the pool;
//!   a decoded body dropped early drops the raw one, which the engine drains or closes
//!   by the usual rules.
//!
//! # What it deliberately does not do
//!
//! No `br` or `zstd`: a Brotli decoder in pure Rust is several times the code of all of
//! `flate2`, and zstd means a C library or another large crate; servers fall back to
//! gzip when a client does not offer them. No decoding of stacked codings
//! (`gzip, deflate`): those bodies are left as sent.

use std::io::{self, Read};

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, RANGE};
use http::{HeaderMap, Method, StatusCode};

use super::response::RawBody;
use crate::error::{Error, ErrorKind};

/// The most bytes left after the end of a compressed stream that are read (and
/// dropped) to finish the exchange; more, and the rest is left to the engine's drain.
const MAX_TRAILING_BYTES: usize = 64 * 1024;

/// A content coding the Client decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coding {
    Gzip,
    Deflate,
}

/// Whether to ask for compression: the request has no `Accept-Encoding` and no
/// `Range`. If so, the engine's encoder writes `Accept-Encoding: gzip, deflate` (asked
/// through `RequestOptions`, so the request's header map is not touched: no allocation)
/// and only then is the response decoded.
pub(super) fn ask(headers: &HeaderMap) -> bool {
    !headers.contains_key(ACCEPT_ENCODING) && !headers.contains_key(RANGE)
}

/// The coding to undo for a response with `headers` and `status` to `method`, if it
/// has a body in one coding the Client decodes.
pub(super) fn coding_of(
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<Coding> {
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return None;
    }
    let mut values = headers.get_all(CONTENT_ENCODING).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None; // stacked codings: left as sent
    }
    let value = value.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
        Some(Coding::Gzip)
    } else if value.eq_ignore_ascii_case("deflate") {
        Some(Coding::Deflate)
    } else {
        None
    }
}

/// The raw body with the bytes peeked at first put back in front.
pub(super) struct Peeked {
    prefix: Vec<u8>,
    pos: usize,
    raw: RawBody,
}

impl Read for Peeked {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = out.len().min(self.prefix.len() - self.pos);
            out[..n].copy_from_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.raw.read(out)
    }
}

enum Stage {
    /// Not started: `deflate` needs a look at its first bytes.
    Start(Option<RawBody>),
    Gzip(MultiGzDecoder<Peeked>),
    Zlib(ZlibDecoder<Peeked>),
    RawDeflate(DeflateDecoder<Peeked>),
    /// Never left in place (kept so `raw` has an answer for every stage).
    #[allow(dead_code)]
    Moving,
}

/// A decoding reader over a raw body.
pub(super) struct Decoder {
    stage: Stage,
    coding: Coding,
    decoded: u64,
    limit: Option<u64>,
    finished: bool,
}

impl Decoder {
    pub(super) fn new(raw: RawBody, coding: Coding, limit: Option<u64>) -> Decoder {
        Decoder {
            stage: Stage::Start(Some(raw)),
            coding,
            decoded: 0,
            limit,
            finished: false,
        }
    }

    /// The raw body underneath.
    pub(super) fn raw(&self) -> Option<&RawBody> {
        match &self.stage {
            Stage::Start(raw) => raw.as_ref(),
            Stage::Gzip(d) => Some(&d.get_ref().raw),
            Stage::Zlib(d) => Some(&d.get_ref().raw),
            Stage::RawDeflate(d) => Some(&d.get_ref().raw),
            Stage::Moving => None,
        }
    }

    fn raw_mut(&mut self) -> Option<&mut RawBody> {
        match &mut self.stage {
            Stage::Start(raw) => raw.as_mut(),
            Stage::Gzip(d) => Some(&mut d.get_mut().raw),
            Stage::Zlib(d) => Some(&mut d.get_mut().raw),
            Stage::RawDeflate(d) => Some(&mut d.get_mut().raw),
            Stage::Moving => None,
        }
    }

    /// Picks the decoder (for `deflate`, after looking at the first two bytes).
    fn start(&mut self) -> Result<(), Error> {
        let Stage::Start(raw) = &mut self.stage else {
            return Ok(());
        };
        let Some(mut raw) = raw.take() else {
            return Err(Error::new(ErrorKind::Io));
        };
        let mut prefix = Vec::new();
        if self.coding == Coding::Deflate {
            let mut two = [0u8; 2];
            let mut got = 0;
            while got < 2 {
                match raw.read_into(&mut two[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) => {
                        self.stage = Stage::Start(Some(raw));
                        return Err(e);
                    }
                }
            }
            prefix.extend_from_slice(&two[..got]);
        }
        let peeked = Peeked {
            prefix,
            pos: 0,
            raw,
        };
        self.stage = match self.coding {
            Coding::Gzip => Stage::Gzip(MultiGzDecoder::new(peeked)),
            Coding::Deflate if is_zlib_header(&peeked.prefix) => {
                Stage::Zlib(ZlibDecoder::new(peeked))
            }
            Coding::Deflate => Stage::RawDeflate(DeflateDecoder::new(peeked)),
        };
        Ok(())
    }

    /// The compressed stream ended: read the raw body to its own end, so the engine
    /// finishes the exchange (and pools the connection) now.
    fn finish_raw(&mut self) -> Result<(), Error> {
        let Some(raw) = self.raw_mut() else {
            return Ok(());
        };
        let mut scratch = [0u8; 4096];
        let mut trailing = 0;
        while !raw.is_done() && trailing <= MAX_TRAILING_BYTES {
            match raw.read_into(&mut scratch)? {
                0 => break,
                n => trailing += n,
            }
        }
        Ok(())
    }

    /// Decodes into `out`; errors carry this crate's error (see [`Error::from_io`]).
    pub(super) fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.finished || out.is_empty() {
            return Ok(0);
        }
        self.start().map_err(Error::into_io)?;
        let result = match &mut self.stage {
            Stage::Gzip(d) => d.read(out),
            Stage::Zlib(d) => d.read(out),
            Stage::RawDeflate(d) => d.read(out),
            Stage::Start(_) | Stage::Moving => Ok(0),
        };
        let n = result.map_err(|e| {
            if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
                e // the raw body's own failure, kind and all
            } else {
                Error::with_source(ErrorKind::Decode, e).into_io()
            }
        })?;
        if n == 0 {
            self.finished = true;
            self.finish_raw().map_err(Error::into_io)?;
            return Ok(0);
        }
        self.decoded += n as u64;
        if let Some(limit) = self.limit {
            if self.decoded > limit {
                return Err(Error::msg(
                    ErrorKind::BodyTooLarge,
                    format!("the body decodes to more than max_decoded_body_bytes ({limit})"),
                )
                .into_io());
            }
        }
        Ok(n)
    }
}

/// A zlib header (RFC 1950): method 8 (deflate), window at most 32 KiB, and the check
/// bits making the first two bytes a multiple of 31.
fn is_zlib_header(b: &[u8]) -> bool {
    b.len() == 2
        && b[0] & 0x0f == 8
        && b[0] >> 4 <= 7
        && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn asks_only_when_the_caller_did_not() {
        assert!(ask(&HeaderMap::new()));
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        assert!(!ask(&h));
        let mut h = HeaderMap::new();
        h.insert(RANGE, HeaderValue::from_static("bytes=0-10"));
        assert!(!ask(&h));
    }

    #[test]
    fn which_responses_are_decoded() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.append(CONTENT_ENCODING, HeaderValue::from_static(v));
            h
        };
        let ok = StatusCode::OK;
        assert_eq!(
            coding_of(&Method::GET, ok, &with("gzip")),
            Some(Coding::Gzip)
        );
        assert_eq!(
            coding_of(&Method::GET, ok, &with(" X-GZIP ")),
            Some(Coding::Gzip)
        );
        assert_eq!(
            coding_of(&Method::GET, ok, &with("deflate")),
            Some(Coding::Deflate)
        );
        assert_eq!(coding_of(&Method::GET, ok, &with("br")), None);
        assert_eq!(coding_of(&Method::GET, ok, &with("gzip, deflate")), None);
        assert_eq!(coding_of(&Method::HEAD, ok, &with("gzip")), None);
        assert_eq!(
            coding_of(&Method::GET, StatusCode::NOT_MODIFIED, &with("gzip")),
            None
        );
        assert_eq!(coding_of(&Method::GET, ok, &HeaderMap::new()), None);
        let mut two = with("gzip");
        two.append(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(coding_of(&Method::GET, ok, &two), None);
    }

    #[test]
    fn zlib_headers_are_told_from_raw_deflate() {
        assert!(is_zlib_header(&[0x78, 0x9c])); // default compression
        assert!(is_zlib_header(&[0x78, 0x01]));
        assert!(is_zlib_header(&[0x78, 0xda]));
        assert!(!is_zlib_header(&[0xcb, 0x48])); // raw deflate of "hello"
        assert!(!is_zlib_header(&[0x78]));
    }
}
