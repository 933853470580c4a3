//! `loadgen` end to end: the real binary against a `testkit` keep-alive server.
//!
//! The point of these tests is that loadgen's numbers can be trusted: its `--json` line
//! parses as JSON, its request count equals the server's own count, and its dials equal
//! the connections the server accepted, in both modes. Speed is not checked here (that
//! is `benches/`), only that `-d` stops on time within a generous bound.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use testkit::TestServer;

const BODY: &[u8] = b"hello, world!"; // 13 bytes, like the benchmark server's

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("run loadgen")
}

/// Runs loadgen with `--json`, checks it succeeded, and parses its one line.
fn loadgen_json(args: &[&str]) -> BTreeMap<String, Json> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = loadgen(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {}\n{stderr}", out.status);
    assert!(
        !stderr.contains('\r'),
        "progress bar drawn on a pipe: {stderr:?}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "want exactly one line of JSON, got {stdout:?}"
    );
    match parse_json(lines[0]) {
        Ok(Json::Object(members)) => members.into_iter().collect(),
        other => panic!("not a JSON object: {other:?} from {stdout:?}"),
    }
}

fn num(o: &BTreeMap<String, Json>, key: &str) -> f64 {
    match o.get(key) {
        Some(Json::Number(n)) => *n,
        other => panic!("{key}: want a number, got {other:?} in {o:?}"),
    }
}

fn string<'a>(o: &'a BTreeMap<String, Json>, key: &str) -> &'a str {
    match o.get(key) {
        Some(Json::String(s)) => s,
        other => panic!("{key}: want a string, got {other:?}"),
    }
}

/// The checks every successful run must pass against a healthy keep-alive server.
fn check_agrees_with_server(o: &BTreeMap<String, Json>, server: &TestServer, c: usize, n: u64) {
    for key in [
        "c",
        "n",
        "secs",
        "rps",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
        "cpu_user_s",
        "cpu_sys_s",
        "cpu_us_per_req",
        "dials",
        "reuses",
        "errors",
    ] {
        assert!(o.contains_key(key), "missing {key:?} in {o:?}");
    }
    assert_eq!(num(o, "c"), c as f64);
    assert_eq!(num(o, "n"), n as f64, "{o:?}");
    assert_eq!(num(o, "errors"), 0.0, "{o:?}");
    assert_eq!(
        server.requests() as f64,
        num(o, "n"),
        "loadgen's count differs from the server's"
    );
    assert_eq!(
        server.connections() as f64,
        num(o, "dials"),
        "loadgen's dials differ from the connections the server accepted"
    );
    assert_eq!(num(o, "dials") + num(o, "reuses"), n as f64, "{o:?}");
    assert_eq!(num(o, "body_bytes"), (n as usize * BODY.len()) as f64);
    assert!(num(o, "secs") > 0.0 && num(o, "rps") > 0.0, "{o:?}");
    let p: Vec<f64> = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"]
        .iter()
        .map(|k| num(o, k))
        .collect();
    assert!(p[0] > 0.0, "{o:?}");
    assert!(
        p.windows(2).all(|w| w[0] <= w[1]),
        "percentiles out of order: {p:?}"
    );
    // CPU figures: present (this is Linux), non-negative, and consistent.
    let (user, sys) = (num(o, "cpu_user_s"), num(o, "cpu_sys_s"));
    assert!(user >= 0.0 && sys >= 0.0, "{o:?}");
    assert!(num(o, "cpu_us_per_req") > 0.0, "{o:?}");
}

#[test]
fn engine_mode_counts_agree_with_the_server() {
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    let o = loadgen_json(&["--url", &url, "-c", "4", "-n", "300"]);
    assert_eq!(string(&o, "client"), "wirepool-engine");
    check_agrees_with_server(&o, &server, 4, 300);
    // The engine keeps exactly C requests in flight from the start: C dials.
    assert_eq!(num(&o, "dials"), 4.0, "{o:?}");
}

#[test]
fn client_mode_counts_agree_with_the_server() {
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    let o = loadgen_json(&["--url", &url, "-c", "4", "-n", "300", "--mode", "client"]);
    assert_eq!(string(&o, "client"), "wirepool-client");
    check_agrees_with_server(&o, &server, 4, 300);
    // At most one connection per thread; fewer if a thread started after another's
    // connection was already back in the pool.
    let dials = num(&o, "dials");
    assert!((1.0..=4.0).contains(&dials), "{o:?}");
}

#[test]
fn a_single_connection_is_dialled_once() {
    for mode in ["engine", "client"] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/path?q=1");
        let o = loadgen_json(&["--url", &url, "-c", "1", "-n", "50", "--mode", mode]);
        check_agrees_with_server(&o, &server, 1, 50);
        assert_eq!(num(&o, "dials"), 1.0, "{mode}: {o:?}");
        assert!(server.recorded().iter().all(|r| r.target == "/path?q=1"));
    }
}

#[test]
fn duration_mode_stops_in_about_the_given_time() {
    for mode in ["engine", "client"] {
        let server = TestServer::keep_alive(BODY);
        let url = server.url("/");
        let started = Instant::now();
        let o = loadgen_json(&["--url", &url, "-c", "2", "-d", "1", "--mode", mode]);
        let wall = started.elapsed();
        assert!(
            wall >= Duration::from_millis(950) && wall < Duration::from_secs(5),
            "{mode}: -d 1 took {wall:?}"
        );
        let secs = num(&o, "secs");
        assert!((0.95..3.0).contains(&secs), "{mode}: secs {secs}");
        let n = num(&o, "n");
        assert!(n >= 1.0, "{mode}: {o:?}");
        assert_eq!(server.requests() as f64, n, "{mode}: {o:?}");
        assert_eq!(num(&o, "errors"), 0.0, "{mode}: {o:?}");
    }
}

#[test]
fn refused_connections_are_counted_by_kind() {
    let addr = testkit::free_port_refused();
    let url = format!("http://{addr}/");
    for mode in ["engine", "client"] {
        let o = loadgen_json(&["--url", &url, "-c", "2", "-n", "6", "--mode", mode]);
        assert_eq!(num(&o, "n"), 6.0, "{mode}: {o:?}");
        assert_eq!(num(&o, "errors"), 6.0, "{mode}: {o:?}");
        match o.get("errors_by_kind") {
            Some(Json::Object(kinds)) => {
                assert_eq!(kinds.len(), 1, "{kinds:?}");
                assert_eq!(kinds[0].1, Json::Number(6.0), "{kinds:?}");
                assert!(kinds[0].0.contains("connect"), "{kinds:?}");
            }
            other => panic!("errors_by_kind: {other:?}"),
        }
    }
}

#[test]
fn human_table_lists_the_numbers() {
    let server = TestServer::keep_alive(BODY);
    let url = server.url("/");
    let out = loadgen(&["--url", &url, "-c", "2", "-n", "20"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "wirepool-engine",
        "requests/s",
        "p50",
        "p99.9",
        "max",
        "errors       0",
        "2 dials, 18 reuses",
        "per request",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    for (args, needle) in [
        (&[][..], "--url is required"),
        (
            &["--url", "http://127.0.0.1:1/", "-n", "1"][..],
            "-c is required",
        ),
        (
            &["--url", "http://127.0.0.1:1/", "-c", "1"][..],
            "-n REQUESTS or -d",
        ),
        (
            &["--url", "ftp://127.0.0.1:1/", "-c", "1", "-n", "1"][..],
            "unsupported scheme",
        ),
        (
            &["--url", "http://127.0.0.1:1/", "-c", "lots", "-n", "1"][..],
            "-c",
        ),
        (
            &[
                "--url",
                "http://127.0.0.1:1/",
                "-c",
                "1",
                "-n",
                "1",
                "--mode",
                "x",
            ][..],
            "--mode",
        ),
    ] {
        let out = loadgen(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {stderr:?} lacks {needle:?}"
        );
        assert!(stderr.contains("usage: loadgen"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let help = loadgen(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: loadgen"));
}

// ---- a tiny JSON parser, enough to prove the output is JSON ------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Parses one JSON value (RFC 8259) that must fill `text` but for whitespace.
fn parse_json(text: &str) -> Result<Json, String> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.pos != p.bytes.len() {
        return Err(format!("trailing bytes at {}", p.pos));
    }
    Ok(v)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("want {:?} at {}", b as char, self.pos))
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.pos))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.peek().ok_or("unexpected end")? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Json::String),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            b => Err(format!("unexpected {:?} at {}", b as char, self.pos)),
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.eat(b'{')?;
        let mut members = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            members.push((key, self.value()?));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(format!("want , or }} at {}", self.pos)),
            }
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(format!("want , or ] at {}", self.pos)),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = self.peek().ok_or("unterminated string")?;
            self.pos += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = self
                                .bytes
                                .get(self.pos..self.pos + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or("bad \\u escape")?;
                            self.pos += 4;
                            let c = char::from_u32(hex).ok_or("surrogate \\u escape")?;
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        _ => return Err(format!("bad escape at {}", self.pos)),
                    }
                }
                0..=0x1f => return Err("control character in string".into()),
                _ => out.push(b),
            }
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).map_err(|e| e.to_string())?;
        // JSON forbids what Rust's parser accepts beyond it: leading '+', "01", ".5", "5.".
        let digits = text.strip_prefix('-').unwrap_or(text);
        let int_part = digits.split(['.', 'e', 'E']).next().unwrap_or("");
        let bad_int = int_part.is_empty() || (int_part.len() > 1 && int_part.starts_with('0'));
        if bad_int || text.contains(".e") || text.ends_with('.') || digits.starts_with('+') {
            return Err(format!("bad number {text:?}"));
        }
        text.parse()
            .map(Json::Number)
            .map_err(|_| format!("bad number {text:?}"))
    }
}

#[test]
fn the_test_parser_is_strict_enough() {
    assert_eq!(
        parse_json(r#" {"a": [1, -2.5e3, true, null], "b": "x\"\u00e9"} "#),
        Ok(Json::Object(vec![
            (
                "a".into(),
                Json::Array(vec![
                    Json::Number(1.0),
                    Json::Number(-2500.0),
                    Json::Bool(true),
                    Json::Null
                ])
            ),
            ("b".into(), Json::String("x\"é".into())),
        ]))
    );
    for bad in [
        "{",
        "{\"a\":1,}",
        "{a:1}",
        "[1 2]",
        "01",
        "1.",
        ".5",
        "NaN",
        "{\"a\":1} x",
        "\"\n\"",
    ] {
        assert!(parse_json(bad).is_err(), "accepted {bad:?}");
    }
}
