//! A hand-written JSON object writer for the tools' one-line machine output.
//!
//! The tools print flat objects of numbers and strings (plus the odd nested object of
//! counters), always on one line, so a writer of a few dozen lines does the job and
//! keeps serde out of the workspace. It owns escaping (RFC 8259 §7: quotes, backslash,
//! control characters) and number formatting (finite floats only; NaN and infinities,
//! which JSON cannot express, become `null`). It does not parse.
//!
//! ```
//! use examples::json::JsonObject;
//! let mut o = JsonObject::new();
//! o.str("client", "wirepool-engine").u64("c", 64).f64("rps", 41_234.567, 1);
//! assert_eq!(o.finish(), r#"{"client":"wirepool-engine","c":64,"rps":41234.6}"#);
//! ```

use std::fmt::Write as _;

/// A JSON object being written, key by key, in the order given.
#[derive(Debug, Clone)]
pub struct JsonObject {
    buf: String,
    empty: bool,
}

impl Default for JsonObject {
    fn default() -> Self {
        JsonObject::new()
    }
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> JsonObject {
        JsonObject {
            buf: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        push_string(&mut self.buf, key);
        self.buf.push(':');
    }

    /// Adds a string member.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_string(&mut self.buf, value);
        self
    }

    /// Adds an integer member.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// Adds a number member with `decimals` digits after the point (`null` if not finite).
    pub fn f64(&mut self, key: &str, value: f64, decimals: usize) -> &mut Self {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.buf, "{value:.decimals$}");
        } else {
            self.buf.push_str("null");
        }
        self
    }

    /// Adds a boolean member.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds a nested object member.
    pub fn object(&mut self, key: &str, value: JsonObject) -> &mut Self {
        self.key(key);
        self.buf.push_str(&value.finish());
        self
    }

    /// The finished object text, on one line.
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// Appends `s` as a JSON string literal.
fn push_string(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", u32::from(c));
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_in_order_with_escapes_and_nesting() {
        let mut inner = JsonObject::new();
        inner.u64("connect failed", 3);
        let mut o = JsonObject::new();
        o.str("s", "a\"b\\c\nd\u{1}é")
            .u64("n", 7)
            .f64("x", 1.0 / 3.0, 3)
            .f64("nan", f64::NAN, 1)
            .bool("ok", true)
            .object("errors", inner)
            .object("none", JsonObject::new());
        assert_eq!(
            o.finish(),
            r#"{"s":"a\"b\\c\nd\u0001é","n":7,"x":0.333,"nan":null,"ok":true,"errors":{"connect failed":3},"none":{}}"#
        );
    }
}
