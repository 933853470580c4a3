//! `fetch`'s curl options for sending: `-L`/`--max-redirs`, `--compressed`,
//! `-T`/`--upload-file` (a file, or `-` for stdin, streamed), `-u`, `-A`, `--json`. The
//! built executable against `testkit` servers on 127.0.0.1.

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::{fetch, fetch_with_stdin};
use flate2::write::GzEncoder;
use flate2::Compression;
use testkit::{RecordedRequest, ServerConn, TestServer};

/// A fresh empty directory under the system's temporary one.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fetch-send-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A server that answers by target with `routes(request)`: status, extra headers, body.
fn routed(
    routes: impl Fn(&RecordedRequest) -> (u16, Vec<(&'static str, String)>, Vec<u8>)
        + Send
        + Sync
        + 'static,
) -> TestServer {
    TestServer::start(move |conn: &mut ServerConn| {
        while let Some(req) = conn.read_request() {
            let (status, headers, body) = routes(&req);
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            conn.respond(status, &headers, &body);
        }
    })
}

fn redirecting(final_url: Option<String>) -> TestServer {
    routed(move |req| match req.target.as_str() {
        "/start" => (302, vec![("Location", "/middle".into())], b"moved".to_vec()),
        "/middle" => (
            301,
            vec![(
                "Location",
                final_url.clone().unwrap_or_else(|| "/end".into()),
            )],
            b"moved again".to_vec(),
        ),
        _ => (200, vec![], b"the end".to_vec()),
    })
}

#[test]
fn without_location_a_redirect_is_the_answer() {
    let server = redirecting(None);
    let run = fetch(&[
        "-w",
        " %{http_code} %{num_redirects}",
        &server.url("/start"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout_text(), "moved 302 0");
    assert_eq!(server.requests(), 1);
}

#[test]
fn location_follows_to_the_end() {
    let server = redirecting(None);
    let run = fetch(&[
        "-L",
        "-w",
        " %{http_code} %{num_redirects} %{url_effective}",
        &server.url("/start"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout_text(),
        format!("the end 200 2 {}", server.url("/end"))
    );
    // The redirect bodies were drained: one connection for the three requests.
    assert_eq!(server.connections(), 1);
}

#[test]
fn max_redirs_stops_with_47() {
    let server = redirecting(None);
    let run = fetch(&["-L", "--max-redirs", "1", &server.url("/start")]);
    assert_eq!(run.code, 47, "{run:?}");
    assert!(
        run.stderr.contains("stopped after 1 redirects"),
        "{}",
        run.stderr
    );
    let run = fetch(&["-L", "--max-redirs", "2", &server.url("/start")]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn verbose_location_shows_every_hop() {
    let server = redirecting(None);
    let run = fetch(&["-v", "-L", &server.url("/start")]);
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        "> GET /start HTTP/1.1",
        "< HTTP/1.1 302 Found",
        "> GET /middle HTTP/1.1",
        "< HTTP/1.1 301 Moved Permanently",
        "> GET /end HTTP/1.1",
        "< HTTP/1.1 200 OK",
    ] {
        assert!(
            run.stderr.lines().any(|l| l.trim_end() == expected),
            "{expected}: {}",
            run.stderr
        );
    }
}

/// `-u` goes to the URL's own host, and not to another one a redirect leads to.
#[test]
fn user_credentials_stay_with_the_first_host() {
    let other = TestServer::keep_alive(b"other host");
    let server = redirecting(Some(other.url("/landing")));
    let run = fetch(&["-L", "-u", "al:s3cret", &server.url("/start")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout_text(), "other host");
    let basic = "Basic YWw6czNjcmV0";
    let firsts: Vec<Option<String>> = server
        .recorded()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(firsts, [Some(basic.to_owned()), Some(basic.to_owned())]);
    assert_eq!(other.recorded()[0].header("authorization"), None);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

#[test]
fn compressed_asks_for_and_decodes_gzip() {
    let plain = testkit::pattern(0, 200_000);
    let encoded = gzip(&plain);
    let server = {
        let encoded = encoded.clone();
        routed(move |req| {
            if req.header("accept-encoding").is_some() {
                (
                    200,
                    vec![("Content-Encoding", "gzip".into())],
                    encoded.clone(),
                )
            } else {
                (200, vec![], b"identity".to_vec())
            }
        })
    };
    let run = fetch(&[
        "--compressed",
        "-w",
        "%{stderr}%{size_download}",
        &server.url("/"),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout == plain, "decoded body differs");
    assert_eq!(
        server.recorded()[0].header("accept-encoding"),
        Some("gzip, deflate")
    );
    // Without --compressed nothing is asked for, as curl.
    let run = fetch(&[&server.url("/")]);
    assert_eq!(run.stdout_text(), "identity");
    assert_eq!(server.recorded()[1].header("accept-encoding"), None);
}

/// Echoes each request as `METHOD TARGET framing LEN` with its body's checksum (the sum
/// of its bytes), so a large upload is checked without storing it twice.
fn upload_echo() -> TestServer {
    routed(|req| {
        let framing = match (
            req.header("content-length"),
            req.header("transfer-encoding"),
        ) {
            (Some(n), None) => format!("length {n}"),
            (None, Some(te)) => te.to_owned(),
            other => format!("{other:?}"),
        };
        let sum: u64 = req.body.iter().map(|&b| u64::from(b)).sum();
        let text = format!(
            "{} {} {framing} {} {sum}",
            req.method,
            req.target,
            req.body.len()
        );
        (200, vec![], text.into_bytes())
    })
}

#[test]
fn upload_file_puts_it_with_content_length() {
    let server = upload_echo();
    let dir = temp_dir("upload");
    let file = dir.join("data.bin");
    let contents = testkit::pattern(0, 3 << 20);
    std::fs::write(&file, &contents).expect("write the file");
    let sum: u64 = contents.iter().map(|&b| u64::from(b)).sum();
    let path = file.to_str().expect("utf-8 path");
    let run = fetch(&["-T", path, "-w", " %{size_upload}", &server.url("/files/")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout_text(),
        format!("PUT /files/data.bin length 3145728 3145728 {sum} 3145728")
    );
    // -X changes the method; a URL not ending in / is used as it is.
    let run = fetch(&["-T", path, "-X", "POST", &server.url("/exact")]);
    assert_eq!(
        run.stdout_text(),
        format!("POST /exact length 3145728 3145728 {sum}")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn upload_file_dash_streams_stdin_chunked() {
    let server = upload_echo();
    let input = testkit::pattern(5, 1_000_003);
    let sum: u64 = input.iter().map(|&b| u64::from(b)).sum();
    let run = fetch_with_stdin(
        &["-T", "-", "-w", " %{size_upload}", &server.url("/in")],
        input,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout_text(),
        format!("PUT /in chunked 1000003 {sum} 1000003")
    );
}

#[test]
fn user_agent_replaces_or_removes_ours() {
    let server = TestServer::keep_alive(b"");
    let url = server.url("/");
    assert_eq!(fetch(&[&url]).code, 0);
    assert_eq!(fetch(&["-A", "curl/8.5.0", &url]).code, 0);
    assert_eq!(fetch(&["-A", "", &url]).code, 0);
    let uas: Vec<Option<String>> = server
        .recorded()
        .iter()
        .map(|r| r.header("user-agent").map(str::to_owned))
        .collect();
    assert_eq!(
        uas,
        [
            Some(format!("wirepool/{}", env!("CARGO_PKG_VERSION"))),
            Some("curl/8.5.0".to_owned()),
            None
        ]
    );
}

#[test]
fn json_posts_with_json_headers() {
    let server = TestServer::keep_alive(b"{}");
    let dir = temp_dir("json");
    let file = dir.join("doc.json");
    std::fs::write(&file, "{\"from\":\"file\"}\n").expect("write");
    let at = format!("@{}", file.display());
    let run = fetch(&["--json", r#"{"a":1}"#, &server.url("/a")]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = fetch(&["--json", &at, &server.url("/b")]);
    assert_eq!(run.code, 0, "{run:?}");
    let recorded = server.recorded();
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].body, br#"{"a":1}"#);
    assert_eq!(recorded[0].header("content-type"), Some("application/json"));
    assert_eq!(recorded[0].header("accept"), Some("application/json"));
    assert_eq!(recorded[1].body, b"{\"from\":\"file\"}\n", "sent as is");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn upload_usage_errors() {
    let run = fetch(&["-T", "/nonexistent/file", "http://127.0.0.1:1/"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("/nonexistent/file"), "{}", run.stderr);
    let run = fetch(&["-T", "-", "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]);
    assert_eq!(run.code, 2, "{run:?}");
}
