//! Buffers recycled between connections, so the steady state allocates nothing.
//!
//! A connection needs a read buffer and a head parser (with its header storage) only
//! while it carries a request: it is equipped from here when it gets one and gives them
//! back when it goes idle or closes, so an idle connection holds no buffer memory and a
//! parser never carries one connection's progress to another (it is reset on the way).
//! Encoded request heads come back from finished requests and carry the next ones.
//! Each list is capped: a burst of closes should not pin memory for good.

use http1_codec::{HeadLimits, ResponseParser};

use crate::conn::Conn;

/// Read buffers and head parsers kept for the next busy connection.
const MAX_SPARE_BUFFERS: usize = 64;

/// Encoded-head buffers kept for reuse (each is a few hundred bytes).
const MAX_SPARE_HEADS: usize = 1024;

/// The engine's spare buffers.
#[derive(Default)]
pub(crate) struct Spares {
    read_bufs: Vec<Vec<u8>>,
    parsers: Vec<ResponseParser>,
    heads: Vec<Vec<u8>>,
}

impl Spares {
    /// Gives `conn` a read buffer of `size` bytes and a parser with `limits`, unless it
    /// has them (a connection that was not idle keeps its own).
    pub(crate) fn equip(&mut self, conn: &mut Conn, size: usize, limits: HeadLimits) {
        if conn.rbuf.has_buffer() {
            return;
        }
        conn.rbuf
            .attach(self.read_bufs.pop().unwrap_or_default(), size);
        conn.parser = match self.parsers.pop() {
            Some(mut parser) if parser.limits() == limits => {
                parser.reset();
                parser
            }
            _ => ResponseParser::new(limits),
        };
    }

    /// Takes back `conn`'s read buffer and parser (it is going idle or closing).
    pub(crate) fn strip(&mut self, conn: &mut Conn) {
        let buf = conn.rbuf.detach();
        if buf.is_empty() {
            return;
        }
        if self.read_bufs.len() < MAX_SPARE_BUFFERS {
            self.read_bufs.push(buf);
        }
        let parser = std::mem::take(&mut conn.parser);
        if self.parsers.len() < MAX_SPARE_BUFFERS {
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
