//! Running the built `fetch` binary in tests: output, exit status, a deadline.
// Each test binary uses the part of this it needs.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A run of `fetch` that takes longer than this is killed and fails the test.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// What one run of `fetch` produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The error messages: `fetch: (CODE) URL: ...`, as curl's `curl: (CODE) ...`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("fetch: ("))
            .collect()
    }

    pub fn trace_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("url="))
            .collect()
    }

    /// The `--stats` line (the only stderr line that starts with `{`).
    pub fn stats_line(&self) -> &str {
        let stats: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with('{')).collect();
        assert_eq!(stats.len(), 1, "one stats line expected: {}", self.stderr);
        stats[0]
    }

    /// The first `"key":N` of the stats line: the totals come before the hosts.
    pub fn stat(&self, key: &str) -> u64 {
        let line = self.stats_line();
        let pattern = format!("\"{key}\":");
        let start = line
            .find(&pattern)
            .unwrap_or_else(|| panic!("no {key} in {line}"))
            + pattern.len();
        let digits: String = line[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number in {line}"))
    }
}

/// Runs `fetch` with `args`, killing it after [`RUN_LIMIT`]. The proxy variables of the
/// test's environment are not passed on (a developer's `http_proxy` would send the
/// requests for 127.0.0.1 to their proxy, as curl would).
pub fn fetch<S: AsRef<str>>(args: &[S]) -> Run {
    fetch_in(args, None)
}

/// Runs `fetch` with `args` in directory `dir` (for `-O`).
pub fn fetch_in<S: AsRef<str>>(args: &[S], dir: Option<&std::path::Path>) -> Run {
    fetch_with(args, dir, &[], None)
}

/// Runs `fetch` with `args`, `input` on its standard input (for `-T -`, `-d @-`).
pub fn fetch_with_stdin<S: AsRef<str>>(args: &[S], input: Vec<u8>) -> Run {
    fetch_with(args, None, &[], Some(input))
}

/// Runs `fetch` with `args` and these environment variables (and no other proxy
/// variable): each run is its own process, so tests that set them need no lock.
pub fn fetch_env<S: AsRef<str>>(args: &[S], env: &[(&str, &str)]) -> Run {
    fetch_with(args, None, env, None)
}

fn fetch_with<S: AsRef<str>>(
    args: &[S],
    dir: Option<&std::path::Path>,
    env: &[(&str, &str)],
    input: Option<Vec<u8>>,
) -> Run {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fetch"));
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    for name in examples::fetch::route::ENV_VARS {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let mut child = command
        .args(args.iter().map(AsRef::as_ref))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fetch starts");
    let writer = input.map(|bytes| {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        thread::spawn(move || {
            use std::io::Write;
            // A write error means fetch stopped reading: what it did is in its output.
            let _ = stdin.write_all(&bytes);
        })
    });
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).map(|_| buf)
    });
    let err_reader = thread::spawn(move || {
        let mut buf = String::new();
        err.read_to_string(&mut buf).map(|_| buf)
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for fetch") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "fetch {:?} ran for more than {RUN_LIMIT:?}",
                args_text(args)
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Run {
        code: status
            .code()
            .expect("fetch exited (not killed by a signal)"),
        stdout: out_reader
            .join()
            .expect("stdout reader")
            .expect("reading stdout"),
        stderr: err_reader
            .join()
            .expect("stderr reader")
            .expect("stderr is UTF-8"),
        elapsed,
    }
}

pub fn args_text<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    args.iter().map(|a| a.as_ref().to_owned()).collect()
}
