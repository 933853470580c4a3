//! Buffers shared or recycled between connections, so the steady state allocates nothing.
//!
//! - The read scratch: the one buffer every connection reads into, lent to it through
//!   `Ctx` while it reads (see `conn::ReadBuf`). A connection keeps only the bytes it
//!   could not use yet, so 10 000 connections busy at once do not each hold (and, once
//!   idle, leave with the allocator) a `read_buffer_size` buffer.
//! - Head parsers (with their header storage): a connection needs one only while it
//!   carries a request. It is equipped from here when it gets one and gives it back when
//!   it goes idle or closes, so an idle connection holds no parser and a parser never
//!   carries one connection's progress to another (it is reset on the way).
//! - Encoded request heads come back from finished requests and carry the next ones.
//!
//! Each list is capped: a burst of closes should not pin memory for good.

use http1_codec::{HeadLimits, ResponseParser};

use crate::conn::Conn;

/// Head parsers kept for the next busy connection (a few KiB each once used). A turn
/// can finish more exchanges than this and hand their connections new requests right
/// after: at 256 requests in flight a cap of 64 made most requests free one parser and
/// allocate another (callgrind: ≈ 770 instructions per request more than at 64). 256
/// covers such bursts and keeps at most about 1 MiB after one.
const MAX_SPARE_PARSERS: usize = 256;

/// Encoded-head buffers kept for reuse (each is a few hundred bytes).
const MAX_SPARE_HEADS: usize = 1024;

/// The engine's spare buffers.
#[derive(Default)]
pub(crate) struct Spares {
    /// What connections read into (grown to `read_buffer_size` on first use).
    read_scratch: Vec<u8>,
    parsers: Vec<ResponseParser>,
    heads: Vec<Vec<u8>>,
}

impl Spares {
    /// The read scratch, to lend to the connection being driven.
    pub(crate) fn read_scratch(&mut self) -> &mut Vec<u8> {
        &mut self.read_scratch
    }

    /// Readies `conn` to read a response: gives it a parser with `limits`, unless it
    /// has one (a connection that was not idle keeps its own).
    pub(crate) fn equip(&mut self, conn: &mut Conn, limits: HeadLimits) {
        if conn.rbuf.is_equipped() {
            return;
        }
        conn.rbuf.equip();
        conn.parser = match self.parsers.pop() {
            Some(mut parser) if parser.limits() == limits => {
                parser.reset();
                parser
            }
            _ => ResponseParser::new(limits),
        };
    }

    /// Takes back `conn`'s parser and frees its unused bytes (it is going idle or
    /// closing).
    pub(crate) fn strip(&mut self, conn: &mut Conn) {
        if !conn.rbuf.is_equipped() {
            return;
        }
        conn.rbuf.release();
        let parser = std::mem::take(&mut conn.parser);
        if self.parsers.len() < MAX_SPARE_PARSERS {
            self.parsers.push(parser);
        }
    }

    /// An emptied buffer to encode a request head into.
    pub(crate) fn head(&mut self) -> Vec<u8> {
        let mut head = self.heads.pop().unwrap_or_default();
        head.clear();
        head
    }

    /// A head buffer back from a finished (or refused) request.
    pub(crate) fn give_head(&mut self, head: Vec<u8>) {
        if self.heads.len() < MAX_SPARE_HEADS {
            self.heads.push(head);
        }
    }
}
