//! What the engine tells its caller: [`Event`]s about requests, and the borrowed
//! response head ([`HeadView`]) inside the first of them.
//!
//! These types sit below both the engine and the connection state machine: a connection
//! reports heads and body bytes through a [`Sink`] the engine lends it, and the engine
//! reports finished and failed requests through the same sink. Nothing here does work.

use std::fmt;

use http::{HeaderMap, StatusCode, Version};

use crate::error::Error;
use crate::request::{Flow, RequestId, RequestInfo};

/// What the engine reports about a request. Borrowed data is valid during the callback.
#[derive(Debug)]
pub enum Event<'a> {
    /// The final response head arrived. `1xx` interim responses are not reported:
    /// `100 Continue` releases an `Expect: 100-continue` body, others are skipped.
    Head {
        /// The request.
        id: RequestId,
        /// Status, version and headers, borrowed from the connection's buffer.
        head: HeadView<'a>,
        /// Reuse facts and timings so far.
        info: &'a RequestInfo,
    },
    /// A piece of the response body, borrowed from the connection's buffer.
    Data {
        /// The request.
        id: RequestId,
        /// Body bytes (never empty).
        data: &'a [u8],
    },
    /// The body ended; the request is finished.
    Done {
        /// The request.
        id: RequestId,
        /// Reuse facts and timings.
        info: RequestInfo,
    },
    /// The request failed; no further event comes for it.
    Failed {
        /// The request.
        id: RequestId,
        /// What went wrong.
        error: Error,
    },
}

/// The callback a connection and the engine report through; its answer to `Data`
/// says whether to keep reading ([`Flow`]).
pub(crate) type Sink<'s> = &'s mut dyn FnMut(Event<'_>) -> Flow;

/// A response head as the engine delivers it: borrowed, nothing copied.
pub struct HeadView<'a> {
    pub(crate) head: &'a http1_codec::Head,
    pub(crate) parser: &'a http1_codec::ResponseParser,
    pub(crate) buf: &'a [u8],
}

impl<'a> HeadView<'a> {
    /// Status code.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// HTTP version of the response.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// Header fields in the order received (names as sent, values as raw bytes).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.parser.headers(self.buf)
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Copies the headers into an `http::HeaderMap` (allocates).
    pub fn header_map(&self) -> HeaderMap {
        self.parser.header_map(self.buf)
    }
}

impl fmt::Debug for HeadView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadView")
            .field("status", &self.status())
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}
