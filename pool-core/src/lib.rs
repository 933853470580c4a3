//! HTTP/1.1 client connection-pool engine (under construction).
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

#[allow(dead_code)] // the Engine that calls these is being written alongside
mod dns;
#[allow(dead_code)] // the Engine that calls these is being written alongside
mod pool;
