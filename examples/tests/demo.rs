//! `demo` end to end: the real binary, small numbers, its own embedded servers.
//!
//! What must hold on any machine: it exits 0, prints every phase, the Go-style pool
//! dials more than wirepool's defaults over plain HTTP and over HTTPS, and the HTTPS rows
//! count TLS handshakes (one per dial; none resumed when resumption is off). Speed is
//! not checked here (that is `benches/`).

use std::process::{Command, Output};

use testkit::TestServer;

const PLAIN_PHASES: [&str; 4] = ["(a)", "(b)", "(c)", "(d)"];
const TLS_PHASES: [&str; 3] = ["(e)", "(f)", "(g)"];

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(args)
        .output()
        .expect("run demo")
}

/// Runs demo, checks that it succeeded and drew no progress bar on a pipe, returns stdout.
fn demo_ok(args: &[&str]) -> String {
    let out = demo(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains('\r'), "progress bar on a pipe: {stderr:?}");
    stdout
}

/// The numbers of one table row, named by the header's columns.
#[derive(Debug)]
struct Row {
    dials: u64,
    reuses: u64,
    cpu_us: Option<f64>,
    /// `(full, resumed)`, or `None` where the row shows `-`.
    tls: Option<(u64, u64)>,
    errors: u64,
}

/// The row of phase `label` (e.g. `"(a)"`). Columns are read from the right, since the
/// phase name has spaces: `... dials reuses TIME_WAIT CPU/req TLS-full resumed errors`.
fn row(stdout: &str, label: &str) -> Row {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no row for phase {label} in:\n{stdout}"));
    let f: Vec<&str> = line.split_whitespace().rev().collect();
    let int = |s: &str| -> u64 {
        s.parse()
            .unwrap_or_else(|_| panic!("{s:?} is not a count in {line:?}"))
    };
    let tls = match (f[2], f[1]) {
        ("-", "-") => None,
        (full, resumed) => Some((int(full), int(resumed))),
    };
    Row {
        errors: int(f[0]),
        tls,
        cpu_us: f[3].strip_suffix("us").and_then(|us| us.parse().ok()),
        reuses: int(f[5]),
        dials: int(f[6]),
    }
}

#[test]
fn all_phases_go_style_dials_more_and_tls_handshakes_are_counted() {
    let out = demo_ok(&["--workers", "16", "--requests", "300"]);
    for label in PLAIN_PHASES.iter().chain(&TLS_PHASES) {
        let r = row(&out, label);
        assert_eq!(r.errors, 0, "{label}: {out}");
        // A request retried after a stale reused connection counts one more dial.
        assert!(
            r.dials + r.reuses >= 300,
            "{label}: every request dialled or reused\n{out}"
        );
        if std::path::Path::new("/proc/self/task").exists() {
            assert!(
                r.cpu_us.is_some_and(|us| us > 0.0),
                "{label}: CPU/req\n{out}"
            );
        }
    }
    for label in PLAIN_PHASES {
        assert_eq!(
            row(&out, label).tls,
            None,
            "{label}: plain rows have no handshakes"
        );
    }
    let (a, b) = (row(&out, "(a)"), row(&out, "(b)"));
    assert!(a.dials > b.dials, "plain: Go-style should dial more\n{out}");
    let (e, f, g) = (row(&out, "(e)"), row(&out, "(f)"), row(&out, "(g)"));
    assert!(e.dials > g.dials, "https: Go-style should dial more\n{out}");
    assert!(
        f.dials > g.dials,
        "https: 2 idle/host should dial more\n{out}"
    );
    // One handshake per dial; resumption off means every one is full.
    for (label, r) in [("(e)", &e), ("(f)", &f), ("(g)", &g)] {
        let (full, resumed) = r
            .tls
            .unwrap_or_else(|| panic!("{label}: no TLS counts\n{out}"));
        assert_eq!(full + resumed, r.dials, "{label}\n{out}");
    }
    assert_eq!(
        e.tls.map(|t| t.1),
        Some(0),
        "(e) runs without resumption\n{out}"
    );
    assert!(out.contains("HTTPS: Go's defaults dialled"), "{out}");
    assert!(out.contains("client CPU per request"), "{out}");
}

#[test]
fn no_tls_skips_the_https_phases() {
    let out = demo_ok(&["--workers", "4", "--requests", "40", "--no-tls"]);
    for label in PLAIN_PHASES {
        row(&out, label);
    }
    for label in TLS_PHASES {
        assert!(
            !out.lines().any(|l| l.starts_with(label)),
            "{label} ran\n{out}"
        );
    }
    assert!(out.contains("HTTPS phases skipped (--no-tls)"), "{out}");
}

#[test]
fn an_http_url_runs_the_plain_phases_against_it() {
    let server = TestServer::keep_alive(b"0123456789");
    let url = server.url("/x");
    let out = demo_ok(&["--workers", "4", "--requests", "40", "--url", &url]);
    for label in PLAIN_PHASES {
        assert_eq!(row(&out, label).errors, 0);
    }
    assert!(!out.lines().any(|l| l.starts_with("(e)")), "{out}");
    assert!(
        out.contains("HTTPS phases skipped: the URL is not https"),
        "{out}"
    );
    // Every request of the four phases reached this server (a retry would add one).
    assert!(server.requests() >= 160, "{}", server.requests());
}

#[test]
fn svg_draws_the_phases() {
    let path = std::env::temp_dir().join(format!("demo-test-{}.svg", std::process::id()));
    let out = demo_ok(&[
        "--workers",
        "4",
        "--requests",
        "40",
        "--no-tls",
        "--svg",
        path.to_str().expect("utf-8 path"),
    ]);
    assert!(out.contains("chart: "), "{out}");
    let svg = std::fs::read_to_string(&path).expect("the chart");
    let _ = std::fs::remove_file(&path);
    for text in [
        "<svg",
        "(a) Go defaults: 2 idle/host",
        "(d) dropped, no drain/read-ahead",
        "dials",
        "CPU per request",
        "p99 latency",
    ] {
        assert!(svg.contains(text), "{text} missing from the chart");
    }
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    for args in [
        &["--workers", "0"][..],
        &["--bogus"],
        &["--url", "ftp://x/"],
        &["--requests"],
    ] {
        let out = demo(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Usage: demo"),
            "{args:?}"
        );
    }
}
