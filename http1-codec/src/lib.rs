//! Sans-IO HTTP/1.1 client codec (under construction).
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
