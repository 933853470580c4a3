//! `-w`/`--write-out`: curl's format after each transfer.
//!
//! The format is text with `%{variable}` replaced, `%header{name}` replaced by a
//! response header, `%%` a percent sign, and `\n`, `\r`, `\t`, `\\` escapes; nothing is
//! added, so `-w '%{http_code}'` prints no newline. `@FILE` reads the format from a file
//! (`@-`: stdin). `%{stdout}` and `%{stderr}` switch where the rest goes (stdout by
//! default). An unknown variable prints a warning on stderr and nothing in its place,
//! as curl does.
//!
//! | variable | value |
//! |---|---|
//! | `http_code`, `response_code` | status code, `000` without a response |
//! | `http_version` | `1.1` |
//! | `method` | the request method |
//! | `url` | the URL as given (with `-T FILE` and a URL ending in `/`, the file name added) |
//! | `url_effective` | the URL of the last response: after `-L`, where the redirects led |
//! | `scheme` | `http` or `https` |
//! | `content_type` | the response's `Content-Type` |
//! | `time_namelookup` | seconds from the start until the name was resolved (queue wait included) |
//! | `time_connect` | … until the TCP connection was made |
//! | `time_appconnect` | … until TLS was ready: `https` only, else 0 |
//! | `time_pretransfer` | … until the request could go out (a connection was ready) |
//! | `time_starttransfer` | … until the first response byte |
//! | `time_total` | … until the body ended (or the failure) |
//! | `num_connects` | new connections made for this transfer: 1, or 0 on a reused one |
//! | `num_redirects` | redirects followed (`-L`) |
//! | `size_download` | body bytes received |
//! | `size_upload` | request body bytes (for `-T`, what was read of the file or stdin) |
//! | `speed_download` | body bytes per second |
//! | `exitcode` | the exit code of this transfer |
//! | `errormsg` | the error message, empty on success |
//! | `json` | every variable above as one JSON object |
//!
//! Times are seconds with six decimals, from the client's [`RequestInfo`]: on a reused
//! connection the DNS, connect and TLS times are zero, so `time_namelookup`,
//! `time_connect` and `time_appconnect` (for `https`) equal the queue wait.

use std::io::{self, Read, Write};
use std::time::Duration;

use serde_json::{json, Value};
use wirepool::http::{HeaderMap, Method, StatusCode, Uri};
use wirepool::RequestInfo;

/// What one transfer did, for `-w`.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The URL.
    pub url: Uri,
    /// The method.
    pub method: Method,
    /// The status, if a head arrived.
    pub status: Option<StatusCode>,
    /// The response headers, if a head arrived.
    pub headers: HeaderMap,
    /// Reuse facts and timings, if a head arrived.
    pub info: Option<RequestInfo>,
    /// Start to end of body (or to the failure).
    pub total: Duration,
    /// Body bytes received.
    pub downloaded: u64,
    /// Request body bytes.
    pub uploaded: u64,
    /// The URL of the last response (after redirects), if a head arrived.
    pub effective_url: Option<Uri>,
    /// Redirects followed.
    pub redirects: usize,
    /// This transfer's exit code.
    pub exit_code: u8,
    /// The error message, if it failed.
    pub error: Option<String>,
}

/// Reads a `-w` argument: the format itself, or `@FILE` / `@-`.
pub fn read_format(arg: &str) -> Result<String, String> {
    let Some(path) = arg.strip_prefix('@') else {
        return Ok(arg.to_owned());
    };
    let mut text = String::new();
    let read = if path == "-" {
        io::stdin().lock().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| format!("-w @{path}: {e}"))?;
    Ok(text)
}

/// Where the expanded text goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (the default).
    Stdout,
    /// Standard error (after `%{stderr}`).
    Stderr,
}

/// The expansion of `format` for `t`: pieces of text, each for a stream, and the names
/// of unknown variables met on the way.
pub fn expand(format: &str, t: &Transfer) -> (Vec<(Stream, String)>, Vec<String>) {
    let mut out: Vec<(Stream, String)> = Vec::new();
    let mut unknown = Vec::new();
    let mut stream = Stream::Stdout;
    let mut text = String::new();
    let mut chars = format.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.peek().map(|&(_, n)| n) {
                Some('n') => push_escape(&mut text, &mut chars, '\n'),
                Some('r') => push_escape(&mut text, &mut chars, '\r'),
                Some('t') => push_escape(&mut text, &mut chars, '\t'),
                Some('\\') => push_escape(&mut text, &mut chars, '\\'),
                _ => text.push('\\'),
            },
            '%' => {
                let rest = &format[i + 1..];
                if rest.starts_with('%') {
                    chars.next();
                    text.push('%');
                } else if let Some(name) = braced(rest, "{") {
                    skip(&mut chars, name.len() + 2);
                    match name {
                        "stdout" | "stderr" => {
                            out.push((stream, std::mem::take(&mut text)));
                            stream = if name == "stdout" {
                                Stream::Stdout
                            } else {
                                Stream::Stderr
                            };
                        }
                        _ => match variable(name, t) {
                            Some(v) => text.push_str(&v),
                            None => unknown.push(name.to_owned()),
                        },
                    }
                } else if let Some(name) = braced(rest, "header{") {
                    skip(&mut chars, name.len() + "header{}".len());
                    let values: Vec<&str> = t
                        .headers
                        .get_all(name)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .collect();
                    text.push_str(&values.join(", "));
                } else {
                    text.push('%');
                }
            }
            c => text.push(c),
        }
    }
    out.push((stream, text));
    out.retain(|(_, s)| !s.is_empty());
    (out, unknown)
}

/// Writes the expansion of `format` for `t` to `stdout` (or stderr after `%{stderr}`);
/// warns about unknown variables on stderr unless `silent`.
pub fn write(format: &str, t: &Transfer, silent: bool, stdout: &mut dyn Write) -> io::Result<()> {
    let (pieces, unknown) = expand(format, t);
    if !silent {
        for name in unknown {
            eprintln!("fetch: unknown --write-out variable: '{name}'");
        }
    }
    for (stream, text) in pieces {
        match stream {
            Stream::Stdout => stdout.write_all(text.as_bytes())?,
            Stream::Stderr => eprint!("{text}"),
        }
    }
    Ok(())
}

fn push_escape(
    text: &mut String,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    c: char,
) {
    chars.next();
    text.push(c);
}

fn skip(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, n: usize) {
    for _ in 0..n {
        chars.next();
    }
}

/// `name` of `{name}` right after `%` (with `open` being `{` or `header{`).
fn braced<'a>(rest: &'a str, open: &str) -> Option<&'a str> {
    let inner = rest.strip_prefix(open)?;
    let end = inner.find('}')?;
    Some(&inner[..end])
}

fn secs(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

/// The cumulative times curl reports, from the start of the transfer.
struct Times {
    namelookup: Duration,
    connect: Duration,
    appconnect: Duration,
    pretransfer: Duration,
    starttransfer: Duration,
    total: Duration,
}

fn times(t: &Transfer) -> Times {
    let Some(info) = t.info else {
        return Times {
            namelookup: Duration::ZERO,
            connect: Duration::ZERO,
            appconnect: Duration::ZERO,
            pretransfer: Duration::ZERO,
            starttransfer: Duration::ZERO,
            total: t.total,
        };
    };
    let namelookup = info.queued + info.dns.unwrap_or_default();
    let connect = namelookup + info.connect.unwrap_or_default();
    let appconnect = if t.url.scheme_str() == Some("https") {
        connect + info.tls.unwrap_or_default()
    } else {
        Duration::ZERO
    };
    let pretransfer = info.wait.max(connect).max(appconnect);
    Times {
        namelookup,
        connect,
        appconnect,
        pretransfer,
        starttransfer: info.ttfb.max(pretransfer),
        total: t.total.max(info.head),
    }
}

/// The value of variable `name`, or `None` if there is no such variable.
pub fn variable(name: &str, t: &Transfer) -> Option<String> {
    let tm = times(t);
    let code = t
        .status
        .map_or("000".to_owned(), |s| s.as_u16().to_string());
    Some(match name {
        "http_code" | "response_code" => code,
        "http_version" => if t.status.is_some() { "1.1" } else { "0" }.to_owned(),
        "method" => t.method.to_string(),
        "url" => t.url.to_string(),
        "url_effective" => t.effective_url.as_ref().unwrap_or(&t.url).to_string(),
        "scheme" => t.url.scheme_str().unwrap_or("").to_owned(),
        "content_type" => t
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        "time_namelookup" => secs(tm.namelookup),
        "time_connect" => secs(tm.connect),
        "time_appconnect" => secs(tm.appconnect),
        "time_pretransfer" => secs(tm.pretransfer),
        "time_starttransfer" => secs(tm.starttransfer),
        "time_total" => secs(tm.total),
        "time_redirect" => secs(Duration::ZERO),
        "num_connects" => match t.info {
            Some(info) if !info.reused => "1",
            _ => "0",
        }
        .to_owned(),
        "num_redirects" => t.redirects.to_string(),
        "size_download" => t.downloaded.to_string(),
        "size_upload" => t.uploaded.to_string(),
        "speed_download" => {
            let s = tm.total.as_secs_f64();
            let speed = if s > 0.0 {
                t.downloaded as f64 / s
            } else {
                0.0
            };
            format!("{}", speed.round() as u64)
        }
        "exitcode" => t.exit_code.to_string(),
        "errormsg" => t.error.clone().unwrap_or_default(),
        "json" => json_object(t).to_string(),
        _ => return None,
    })
}

/// Every variable, as `%{json}` prints them (numbers as numbers).
fn json_object(t: &Transfer) -> Value {
    let num = |name: &str| -> Value {
        let Some(v) = variable(name, t) else {
            return Value::Null;
        };
        match (v.parse::<u64>(), v.parse::<f64>()) {
            (Ok(n), _) => json!(n),
            (_, Ok(x)) => json!(x),
            _ => Value::Null,
        }
    };
    let text = |name: &str| -> Value { variable(name, t).map_or(Value::Null, Value::String) };
    json!({
        "http_code": num("http_code"),
        "response_code": num("response_code"),
        "http_version": text("http_version"),
        "method": text("method"),
        "url": text("url"),
        "url_effective": text("url_effective"),
        "scheme": text("scheme"),
        "content_type": text("content_type"),
        "time_namelookup": num("time_namelookup"),
        "time_connect": num("time_connect"),
        "time_appconnect": num("time_appconnect"),
        "time_pretransfer": num("time_pretransfer"),
        "time_starttransfer": num("time_starttransfer"),
        "time_total": num("time_total"),
        "time_redirect": num("time_redirect"),
        "num_connects": num("num_connects"),
        "num_redirects": num("num_redirects"),
        "size_download": num("size_download"),
        "size_upload": num("size_upload"),
        "speed_download": num("speed_download"),
        "exitcode": num("exitcode"),
        "errormsg": text("errormsg"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer() -> Transfer {
        let mut info = RequestInfo::default();
        info.dns = Some(Duration::from_micros(1_000));
        info.connect = Some(Duration::from_micros(2_000));
        info.wait = Duration::from_micros(3_100);
        info.ttfb = Duration::from_micros(4_900);
        info.head = Duration::from_micros(5_000);
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        headers.append("x-multi", "a".parse().unwrap());
        headers.append("x-multi", "b".parse().unwrap());
        Transfer {
            url: Uri::from_static("http://h:1/p"),
            method: Method::GET,
            status: Some(StatusCode::NOT_FOUND),
            headers,
            info: Some(info),
            total: Duration::from_micros(8_000),
            downloaded: 800,
            uploaded: 0,
            effective_url: None,
            redirects: 0,
            exit_code: 0,
            error: None,
        }
    }

    fn text(format: &str, t: &Transfer) -> String {
        let (pieces, _) = expand(format, t);
        pieces.into_iter().map(|(_, s)| s).collect()
    }

    #[test]
    fn redirects_show_in_url_effective_and_num_redirects() {
        let mut t = transfer();
        t.effective_url = Some(Uri::from_static("http://h:2/final"));
        t.redirects = 2;
        assert_eq!(
            text("%{url} %{url_effective} %{num_redirects}", &t),
            "http://h:1/p http://h:2/final 2"
        );
    }

    #[test]
    fn variables_and_escapes() {
        let t = transfer();
        assert_eq!(text("%{http_code}", &t), "404");
        assert_eq!(text("%{http_code}\\n", &t), "404\n");
        assert_eq!(
            text("%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}", &t),
            "0.001000 0.003000 0.000000 0.004900 0.008000"
        );
        assert_eq!(text("%{num_connects} %{size_download}", &t), "1 800");
        assert_eq!(
            text("100%% %{content_type}\\t%header{X-Multi}", &t),
            "100% text/plain\ta, b"
        );
        assert_eq!(text("%{speed_download}", &t), "100000");
        assert_eq!(text("a\\qb %x", &t), "a\\qb %x");
        let (_, unknown) = expand("%{nope}%{http_code}", &t);
        assert_eq!(unknown, ["nope"]);
    }

    #[test]
    fn no_response_is_000_and_reuse_is_no_connect() {
        let mut t = transfer();
        t.status = None;
        t.info = None;
        t.exit_code = 7;
        t.error = Some("connect failed".into());
        assert_eq!(
            text("%{http_code} %{num_connects} %{exitcode} %{errormsg}", &t),
            "000 0 7 connect failed"
        );
        let mut t = transfer();
        if let Some(info) = &mut t.info {
            info.reused = true;
        }
        assert_eq!(text("%{num_connects}", &t), "0");
        t.url = Uri::from_static("https://h/");
        assert_eq!(text("%{time_appconnect}", &t), "0.003000");
        if let Some(info) = &mut t.info {
            info.tls = Some(Duration::from_micros(1_500));
        }
        assert_eq!(
            text("%{time_appconnect} %{time_pretransfer}", &t),
            "0.004500 0.004500"
        );
    }

    #[test]
    fn streams_and_json() {
        let t = transfer();
        let (pieces, _) = expand("a%{stderr}b%{stdout}c", &t);
        assert_eq!(
            pieces,
            [
                (Stream::Stdout, "a".to_owned()),
                (Stream::Stderr, "b".to_owned()),
                (Stream::Stdout, "c".to_owned())
            ]
        );
        let json: Value = serde_json::from_str(&text("%{json}", &t)).expect("JSON");
        assert_eq!(json["http_code"], 404);
        assert_eq!(json["time_total"], 0.008);
        assert_eq!(json["url"], "http://h:1/p");
    }
}
