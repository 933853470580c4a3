//! A tiny hand-written command-line parser shared by the example tools.
//!
//! The tools need GNU-style options and nothing more, so this is a lexer in the manner
//! of `lexopt`, not a framework: [`Parser::next_arg`] hands out one [`Arg`] at a time and the
//! tool decides, in a plain `match`, whether that option takes a value
//! ([`Parser::value`]). What it understands:
//!
//! ```text
//!  -i -v  or  -iv          short flags, alone or bundled
//!  -X POST  or  -XPOST     a short option's value, separate or attached
//!  --method POST           a long option's value, separate ...
//!  --method=POST           ... or attached with '='
//!  --                      everything after it is positional
//!  -                       positional (conventionally stdin)
//! ```
//!
//! A value is taken verbatim, even if it starts with `-` (`-d -x` sends `-x`), as curl
//! does. An attached value given to an option that takes none (`--include=yes`) is an
//! error, not silently dropped. [`parse_secs`] and [`parse_number`] turn values into the
//! types the tools use, with messages that name the option.
//!
//! What it does not do: generate help text, know the option table, or look at the
//! environment beyond [`Parser::from_env`]. Every error is a [`UsageError`]; a tool
//! prints it with its usage and exits with status 2.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A command-line mistake: the message says what was wrong with which option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl UsageError {
    /// A usage error with `message`.
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError(message.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// One element of the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// `-x` (also each letter of a bundle such as `-iv`).
    Short(char),
    /// `--name` or `--name=value` (the name without dashes or value).
    Long(String),
    /// Anything else: an operand such as a URL.
    Positional(String),
}

impl Arg {
    /// The error for an argument the tool does not know.
    pub fn unexpected(&self) -> UsageError {
        match self {
            Arg::Positional(v) => UsageError(format!("unexpected argument '{v}'")),
            option => UsageError(format!("unknown option {option}")),
        }
    }
}

impl fmt::Display for Arg {
    /// As typed: `-x`, `--name`, or the operand itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Short(c) => write!(f, "-{c}"),
            Arg::Long(name) => write!(f, "--{name}"),
            Arg::Positional(v) => f.write_str(v),
        }
    }
}

/// Reads arguments one at a time; see the [module docs](self) for the syntax.
#[derive(Debug)]
pub struct Parser {
    /// Arguments not yet looked at, in order.
    rest: std::vec::IntoIter<String>,
    /// The letters of a short bundle not handed out yet (`-iv` after `-i`: `v`).
    bundle: Option<String>,
    /// The value attached to the last long option with `=`, not yet taken.
    attached: Option<String>,
    /// The last option returned, for error messages about its value.
    last: Option<Arg>,
    /// `--` was seen: everything left is positional.
    only_positional: bool,
}

impl Parser {
    /// A parser over `args` (without the program name).
    pub fn new<I, S>(args: I) -> Parser
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        Parser {
            rest: args.into_iter(),
            bundle: None,
            attached: None,
            last: None,
            only_positional: false,
        }
    }

    /// A parser over this process's arguments (skipping the program name). Arguments
    /// that are not valid UTF-8 are a usage error: every value the tools take is text.
    pub fn from_env() -> Result<Parser, UsageError> {
        let mut args = Vec::new();
        for arg in std::env::args_os().skip(1) {
            match arg.into_string() {
                Ok(s) => args.push(s),
                Err(raw) => {
                    return Err(UsageError(format!(
                        "argument {} is not valid UTF-8",
                        raw.to_string_lossy()
                    )))
                }
            }
        }
        Ok(Parser::new(args))
    }

    /// The next argument, or `None` at the end.
    pub fn next_arg(&mut self) -> Result<Option<Arg>, UsageError> {
        if let Some(value) = self.attached.take() {
            // The tool did not ask for the value: the option takes none.
            let option = self.last.take().map(|a| a.to_string()).unwrap_or_default();
            return Err(UsageError(format!(
                "option {option} takes no value (got '{value}')"
            )));
        }
        if let Some(bundle) = self.bundle.take() {
            let mut chars = bundle.chars();
            if let Some(c) = chars.next() {
                let left = chars.as_str();
                if !left.is_empty() {
                    self.bundle = Some(left.to_owned());
                }
                return Ok(Some(self.remember(Arg::Short(c))));
            }
        }
        let Some(arg) = self.rest.next() else {
            return Ok(None);
        };
        if self.only_positional || arg == "-" || !arg.starts_with('-') {
            return Ok(Some(Arg::Positional(arg)));
        }
        if arg == "--" {
            self.only_positional = true;
            return self.next_arg();
        }
        if let Some(long) = arg.strip_prefix("--") {
            let name = match long.split_once('=') {
                Some((name, value)) => {
                    self.attached = Some(value.to_owned());
                    name
                }
                None => long,
            };
            return Ok(Some(self.remember(Arg::Long(name.to_owned()))));
        }
        // A short option, possibly bundled with more letters or its value.
        self.bundle = Some(arg[1..].to_owned());
        self.next_arg()
    }

    /// The value of the option just returned by [`next_arg`](Parser::next_arg): the attached
    /// part (`--name=value`, `-Xvalue`) or else the next argument, taken verbatim.
    pub fn value(&mut self) -> Result<String, UsageError> {
        if let Some(value) = self.attached.take() {
            return Ok(value);
        }
        if let Some(rest) = self.bundle.take() {
            return Ok(rest);
        }
        match self.rest.next() {
            Some(value) => Ok(value),
            None => {
                let option = self
                    .last
                    .as_ref()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                Err(UsageError(format!("option {option} needs a value")))
            }
        }
    }

    fn remember(&mut self, arg: Arg) -> Arg {
        self.last = Some(arg.clone());
        arg
    }
}

/// Parses a number of seconds, fractions allowed (`"0.5"`, `"2"`, `"1e-3"`), for
/// `option`. Negative, infinite and NaN values are errors, and so is a value too
/// large for a [`Duration`].
pub fn parse_secs(option: &str, value: &str) -> Result<Duration, UsageError> {
    let bad = || UsageError(format!("{option}: '{value}' is not a number of seconds"));
    let secs: f64 = value.trim().parse().map_err(|_| bad())?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// Like [`parse_secs`] but zero is an error too: for timeouts, where zero would fail
/// every request at once.
pub fn parse_positive_secs(option: &str, value: &str) -> Result<Duration, UsageError> {
    let d = parse_secs(option, value)?;
    if d.is_zero() {
        return Err(UsageError(format!("{option}: must be more than 0 seconds")));
    }
    Ok(d)
}

/// Parses a number (count, size, ...) for `option`.
pub fn parse_number<T: FromStr>(option: &str, value: &str) -> Result<T, UsageError> {
    value
        .trim()
        .parse()
        .map_err(|_| UsageError(format!("{option}: '{value}' is not a valid number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lexes `args`, taking a value after every option named in `with_value`; returns
    /// the args as text (`-X=POST` for an option with its value) or the first error.
    fn lex(args: &[&str], with_value: &[&str]) -> Result<Vec<String>, UsageError> {
        let mut p = Parser::new(args.iter().copied());
        let mut out = Vec::new();
        while let Some(arg) = p.next_arg()? {
            let shown = arg.to_string();
            if with_value.contains(&shown.as_str()) {
                out.push(format!("{shown}={}", p.value()?));
            } else {
                out.push(shown);
            }
        }
        Ok(out)
    }

    #[test]
    fn table_of_command_lines() {
        let with_value = ["-X", "--method", "-d", "--data"];
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &[]),
            (&["http://a/"], &["http://a/"]),
            (&["-i", "u"], &["-i", "u"]),
            (&["-iv", "u"], &["-i", "-v", "u"]),
            (&["-X", "POST", "u"], &["-X=POST", "u"]),
            (&["-XPOST", "u"], &["-X=POST", "u"]),
            (&["-iXPUT"], &["-i", "-X=PUT"]),
            (&["--method", "PUT"], &["--method=PUT"]),
            (&["--method=PUT"], &["--method=PUT"]),
            (&["--method="], &["--method="]),
            (&["--data", "a=b=c"], &["--data=a=b=c"]),
            (&["--data=a=b"], &["--data=a=b"]),
            (&["-d", "-x"], &["-d=-x"]),
            (&["-d", ""], &["-d="]),
            (&["--", "-i", "--x"], &["-i", "--x"]),
            (&["-"], &["-"]),
            (&["--trace", "--stats"], &["--trace", "--stats"]),
        ];
        for (args, expected) in cases {
            let got = lex(args, &with_value).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(got, *expected, "{args:?}");
        }
    }

    #[test]
    fn errors_name_the_option() {
        let with_value = ["-X", "--method"];
        let cases: &[(&[&str], &str)] = &[
            (&["-X"], "option -X needs a value"),
            (&["--method"], "option --method needs a value"),
            (
                &["--include=yes"],
                "option --include takes no value (got 'yes')",
            ),
        ];
        for (args, message) in cases {
            let err = lex(args, &with_value).expect_err("should fail");
            assert_eq!(err.0, *message, "{args:?}");
        }
    }

    #[test]
    fn positional_does_not_swallow_option_state() {
        // A flag after an option whose attached value was taken stays a flag.
        let got = lex(&["--method=GET", "-i"], &["--method"]).unwrap();
        assert_eq!(got, ["--method=GET", "-i"]);
    }

    #[test]
    fn unexpected_messages() {
        assert_eq!(
            Arg::Long("nope".into()).unexpected().0,
            "unknown option --nope"
        );
        assert_eq!(Arg::Short('z').unexpected().0, "unknown option -z");
        assert_eq!(
            Arg::Positional("x".into()).unexpected().0,
            "unexpected argument 'x'"
        );
    }

    #[test]
    fn seconds() {
        let ok = [
            ("0.5", Duration::from_millis(500)),
            ("2", Duration::from_secs(2)),
            (" 1.25 ", Duration::from_millis(1250)),
            ("0", Duration::ZERO),
            ("1e-3", Duration::from_millis(1)),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_secs("--t", text), Ok(expected), "{text}");
        }
        for bad in ["", "-1", "abc", "inf", "NaN", "1e300", "0.5s"] {
            let err = parse_secs("--t", bad).expect_err(bad);
            assert!(err.0.starts_with("--t: "), "{err}");
        }
        assert!(parse_positive_secs("--t", "0").is_err());
        assert!(parse_positive_secs("--t", "0.001").is_ok());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number::<usize>("--n", "8"), Ok(8));
        assert!(parse_number::<usize>("--n", "-1").is_err());
        assert!(parse_number::<usize>("--n", "x").is_err());
    }
}
