//! How the tools report: error chains on one line, and the pool's stats as JSON.
//!
//! Both are meant for a terminal and for scripts at once, so each fits on one line and
//! has a fixed shape:
//!
//! - [`error_chain`]: `connect failed: Connection refused (os error 111)` — the error's
//!   own short text, then each `source()` in turn, joined by `": "`.
//! - [`stats_json`]: one JSON object, written by hand (a dozen integers and a few
//!   strings do not need serde), with every string escaped per RFC 8259.
//!
//! Nothing here prints; callers decide where the text goes.

use std::error::Error;
use std::fmt::Write as _;

use pool_core::{CloseCause, CloseCounts, HostStats, Stats};

/// `err` and its chain of sources on one line, joined by `": "`. A source whose text
/// repeats the previous one (an `io::Error` wrapping our error shows the same text) is
/// skipped, and line breaks inside a message become spaces, so the result is one line.
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string().replace(['\r', '\n'], " ");
        if parts.last() != Some(&text) && !text.is_empty() {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The pool's totals as one line of JSON:
///
/// ```text
/// {"requests":2,"dials":1,"reused":1,"retries":0,"idle":1,"active":0,"connecting":0,
///  "waiting":0,"closes":{"idle_timeout":0,...},"hosts":[{"host":"127.0.0.1",
///  "port":8080,"scheme":"http","requests":2,...}]}
/// ```
///
/// (shown wrapped; the real output has no line breaks). `reused` is the number of
/// requests served on a connection from the idle pool; `closes` counts closed
/// connections by cause, with the cause names of [`CloseCause::as_str`] in snake case.
/// `hosts` has the same counters per pool key.
pub fn stats_json(stats: &Stats) -> String {
    let mut out = String::with_capacity(512);
    out.push('{');
    host_fields(&mut out, &stats.total);
    out.push_str(",\"hosts\":[");
    for (i, (key, host)) in stats.hosts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"host\":");
        json_string(&mut out, key.host());
        let _ = write!(out, ",\"port\":{},\"scheme\":", key.port());
        json_string(&mut out, key.scheme().as_str());
        out.push(',');
        host_fields(&mut out, host);
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// The counters of one host (or the totals), without the surrounding braces.
fn host_fields(out: &mut String, s: &HostStats) {
    let _ = write!(
        out,
        "\"requests\":{},\"dials\":{},\"reused\":{},\"retries\":{},\"idle\":{},\
         \"active\":{},\"connecting\":{},\"waiting\":{},\"tls_full_handshakes\":{},\
         \"tls_resumed_handshakes\":{},\"closes\":",
        s.requests,
        s.dials,
        s.reuses,
        s.retries,
        s.idle,
        s.active,
        s.connecting,
        s.waiting,
        s.tls_full_handshakes,
        s.tls_resumed_handshakes
    );
    closes_object(out, &s.closes);
}

/// `{"idle_timeout":0,"lifetime":0,...}`: every cause, in [`CloseCause::ALL`] order.
fn closes_object(out: &mut String, closes: &CloseCounts) {
    out.push('{');
    for (i, cause) in CloseCause::ALL.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, &cause.as_str().replace(' ', "_"));
        let _ = write!(out, ":{}", closes.get(cause));
    }
    out.push('}');
}

/// Appends `s` as a JSON string literal: quotes, backslashes and control characters
/// escaped (RFC 8259 §7); everything else, non-ASCII included, as is.
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;
    use std::io;

    #[test]
    fn json_strings_are_escaped() {
        let cases = [
            ("plain", r#""plain""#),
            ("a\"b", r#""a\"b""#),
            ("back\\slash", r#""back\\slash""#),
            ("line\nbreak\r\t", r#""line\nbreak\r\t""#),
            ("\u{1}\u{1f}", r#""\u0001\u001f""#),
            ("ünï", "\"ünï\""),
        ];
        for (input, expected) in cases {
            let mut out = String::new();
            json_string(&mut out, input);
            assert_eq!(out, expected, "{input:?}");
        }
    }

    #[test]
    fn empty_stats_have_every_field() {
        let json = stats_json(&Stats::default());
        assert!(json.starts_with(r#"{"requests":0,"dials":0,"reused":0,"retries":0,"idle":0,"#));
        assert!(json.contains(r#""closes":{"idle_timeout":0,"lifetime":0,"server_close":0,"#));
        assert!(json.contains(r#""canceled":0}"#));
        assert!(json.ends_with(r#","hosts":[]}"#));
        assert!(!json.contains('\n'));
    }

    #[derive(Debug)]
    struct Outer(io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connect failed")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chains_join_sources() {
        let err = Outer(io::Error::other("refused\nreally"));
        assert_eq!(error_chain(&err), "connect failed: refused really");
        // An io::Error wrapping ours shows the same text as ours: said once.
        let wrapped = io::Error::other(Outer(io::Error::other("boom")));
        assert_eq!(error_chain(&wrapped), "connect failed: boom");
    }
}
