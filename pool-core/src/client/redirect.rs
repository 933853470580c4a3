//! Redirects: the Client's outermost layer, around the middleware chain (so middleware
//! sees every hop, as a Go `RoundTripper` does), never in the engine.
//!
//! # What this module owns
//!
//! * **The policy** ([`RedirectPolicy`]): none, at most N (default 10), or a function
//!   of each [`Attempt`] that follows, stops (returning the redirect response) or fails.
//! * **The rules**, applied whatever the policy:
//!   - `301`, `302`, `303` turn the request into a `GET` without a body (a `HEAD`
//!     stays a `HEAD`), dropping the headers that described the body;
//!   - `307`, `308` keep the method and the body, if the body can be sent again
//!     ([`Body::try_clone`]); if it cannot, the redirect response is returned as it is
//!     (Go does the same);
//!   - when the origin (scheme, host, port) changes, `Authorization`, `Cookie`,
//!     `Proxy-Authorization` and a caller-set `Host` are removed: credentials never
//!     cross to another origin (URL credentials become `Authorization` before the
//!     first hop, so they follow the same rule);
//!   - `https` → `http` is refused ([`ErrorKind::Redirect`]) unless the policy allows
//!     downgrades;
//!   - a hop to a URL already requested with the same method is a loop: refused;
//!   - a `Location` is resolved against the URL that sent it (RFC 3986 §5.2: absolute,
//!     scheme-relative, absolute-path, relative, query-only), its fragment dropped and
//!     bytes a URI may not hold (spaces, non-ASCII) percent-encoded. A `3xx` without a
//!     `Location` is returned as it is.
//! * **What the response says**: the final URL ([`Response::url`]) and the hops
//!   ([`Response::redirects`]). The body of each redirect response is not wanted: a
//!   small one (up to 2 KiB, as Go) is read and dropped before the next hop, so its
//!   connection is idle again and reused; a larger one is dropped and drained by the
//!   engine, or the connection closed, by the usual rules.
//!
//! The whole chain shares one deadline: the request's total timeout covers every hop,
//! as Go's `Client.Timeout` does.
//!
//! # What it deliberately does not do
//!
//! No cookie jar, no `Referer`. It sends nothing itself: each hop goes through the
//! `send` it is given (the middleware chain and the engine).

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION,
    PROXY_AUTHORIZATION, TRANSFER_ENCODING,
};
use http::{Method, Request, StatusCode, Uri};

use super::response::{RedirectHop, Response};
use crate::body::Body;
use crate::error::{Error, ErrorKind};
use crate::request::RequestOptions;

/// The redirects a policy follows by default.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// Which redirects the [`Client`](crate::Client) follows. Default:
/// [`limited(10)`](RedirectPolicy::limited), `https` → `http` refused.
///
/// Whatever the policy, the rules hold: `301`/`302`/`303` make the next request a `GET`
/// without a body (a `HEAD` stays a `HEAD`); `307`/`308` keep the method and the body
/// when the body can be sent again ([`Body::try_clone`]), and otherwise the redirect
/// response is returned as it is; `Authorization`, `Cookie`, `Proxy-Authorization` and a
/// caller-set `Host` are removed when the origin changes (URL credentials included);
/// `https` → `http` fails with [`ErrorKind::Redirect`] unless allowed; a URL requested
/// before with the same method is a loop and fails too. The final URL and the hops are
/// on the response ([`Response::url`], [`Response::redirects`]), and the whole chain
/// shares the request's total timeout.
///
/// ```
/// use wirepool::{Client, RedirectPolicy};
/// // Follow at most 3, and only within one host.
/// let policy = RedirectPolicy::custom(|attempt| {
///     if attempt.previous().len() >= 3 {
///         attempt.error("too many redirects")
///     } else if attempt.url().host() != attempt.previous()[0].url.host() {
///         attempt.stop()
///     } else {
///         attempt.follow()
///     }
/// });
/// let client = Client::builder().redirect(policy).build()?;
/// # Ok::<(), wirepool::Error>(())
/// ```
#[derive(Clone)]
pub struct RedirectPolicy {
    kind: Kind,
    allow_downgrade: bool,
}

type Decide = dyn Fn(Attempt<'_>) -> Action + Send + Sync;

#[derive(Clone)]
enum Kind {
    None,
    Limited(usize),
    Custom(Arc<Decide>),
}

impl RedirectPolicy {
    /// Follows no redirect: a `3xx` response is returned as it is.
    pub fn none() -> RedirectPolicy {
        RedirectPolicy {
            kind: Kind::None,
            allow_downgrade: false,
        }
    }

    /// Follows up to `max` redirects; one more fails with [`ErrorKind::Redirect`].
    pub fn limited(max: usize) -> RedirectPolicy {
        RedirectPolicy {
            kind: Kind::Limited(max),
            allow_downgrade: false,
        }
    }

    /// Asks `decide` about each redirect that passed the rules (see
    /// [`RedirectPolicy`]): follow it, stop (return the redirect response), or fail.
    pub fn custom(
        decide: impl Fn(Attempt<'_>) -> Action + Send + Sync + 'static,
    ) -> RedirectPolicy {
        RedirectPolicy {
            kind: Kind::Custom(Arc::new(decide)),
            allow_downgrade: false,
        }
    }

    /// Whether an `https` URL may redirect to an `http` one (default: refused, with
    /// [`ErrorKind::Redirect`]). Credentials are stripped on the way regardless, since
    /// the origin changes.
    pub fn allow_https_downgrade(mut self, allow: bool) -> RedirectPolicy {
        self.allow_downgrade = allow;
        self
    }

    pub(super) fn follows_any(&self) -> bool {
        !matches!(self.kind, Kind::None)
    }
}

impl Default for RedirectPolicy {
    fn default() -> RedirectPolicy {
        RedirectPolicy::limited(DEFAULT_MAX_REDIRECTS)
    }
}

impl fmt::Debug for RedirectPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::None => "none".to_owned(),
            Kind::Limited(n) => format!("limited({n})"),
            Kind::Custom(_) => "custom".to_owned(),
        };
        f.debug_struct("RedirectPolicy")
            .field("kind", &kind)
            .field("allow_https_downgrade", &self.allow_downgrade)
            .finish()
    }
}

/// A redirect about to be followed, for a [`RedirectPolicy::custom`] function.
#[derive(Debug)]
pub struct Attempt<'a> {
    status: StatusCode,
    next: &'a Uri,
    previous: &'a [RedirectHop],
}

impl<'a> Attempt<'a> {
    /// The redirect's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Where it leads (resolved against the URL that sent it).
    pub fn url(&self) -> &Uri {
        self.next
    }

    /// The hops so far, this one last (its `url` sent the redirect): never empty.
    pub fn previous(&self) -> &[RedirectHop] {
        self.previous
    }

    /// Follow it.
    pub fn follow(self) -> Action {
        Action(ActionKind::Follow)
    }

    /// Do not follow it: the redirect response is returned.
    pub fn stop(self) -> Action {
        Action(ActionKind::Stop)
    }

    /// Fail the request with [`ErrorKind::Redirect`] and this message.
    pub fn error(self, message: impl Into<String>) -> Action {
        Action(ActionKind::Error(message.into()))
    }
}

/// What a custom policy decided (made by [`Attempt::follow`], [`Attempt::stop`] or
/// [`Attempt::error`]).
#[derive(Debug)]
pub struct Action(ActionKind);

#[derive(Debug)]
enum ActionKind {
    Follow,
    Stop,
    Error(String),
}

fn refuse(text: impl Into<String>) -> Error {
    Error::msg(ErrorKind::Redirect, text)
}

/// Whether `status` is a redirect this layer follows.
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Sends `request` through `send` (one hop each: the middleware chain and the engine),
/// following redirects as `policy` and the rules say. `timeout` is the client's total
/// timeout, which with the request's own makes one deadline for the chain.
pub(super) fn follow(
    policy: &RedirectPolicy,
    timeout: Option<std::time::Duration>,
    request: Request<Body>,
    mut opts: RequestOptions,
    send: &dyn Fn(Request<Body>, RequestOptions) -> Result<Response, Error>,
) -> Result<Response, Error> {
    if !policy.follows_any() {
        return send(request, opts);
    }
    let mut request = request;
    // URL credentials become a header now, so that they follow the origin rule below.
    if crate::auth::userinfo(request.uri()).is_some() {
        let mut head = Request::new(());
        *head.uri_mut() = request.uri().clone();
        *head.headers_mut() = std::mem::take(request.headers_mut());
        crate::auth::credentials_from_url(&mut head)?;
        *request.headers_mut() = std::mem::take(head.headers_mut());
    }
    let mut hops: Vec<RedirectHop> = Vec::new();
    let mut visited: Vec<(Method, Uri)> = Vec::new();
    // One deadline for the whole chain, fixed at the first redirect (a request that is
    // not redirected pays nothing for it): when the first request was submitted, plus
    // the total timeout.
    let mut chain_deadline_set = false;
    loop {
        // What the next hop needs of this request (the URL comes back on the response).
        let method = request.method().clone();
        let headers = request.headers().clone();
        let extensions = request.extensions().clone();
        let version = request.version();
        let replay = request.body().try_clone();
        let mut response = send(request, opts)?;
        let status = response.status();
        if !is_redirect(status) {
            if !hops.is_empty() {
                response.set_redirects(hops);
            }
            return Ok(response);
        }
        let Some(location) = response.headers().get(LOCATION) else {
            response.set_redirects(hops);
            return Ok(response);
        };
        if !chain_deadline_set {
            chain_deadline_set = true;
            if let Some(t) = opts.timeout.or(timeout) {
                let submitted = Instant::now()
                    .checked_sub(response.info().head)
                    .unwrap_or_else(Instant::now);
                if let Some(at) = submitted.checked_add(t) {
                    opts.deadline = Some(opts.deadline.map_or(at, |d| d.min(at)));
                }
            }
        }
        let url = response.url().clone();
        let next = resolve(&url, location.as_bytes())?;
        let keeps_body = matches!(status.as_u16(), 307 | 308);
        let (next_method, next_body) = if keeps_body {
            match replay {
                Some(b) => (method.clone(), b),
                // The body cannot be sent again: the redirect is the answer.
                None => {
                    response.set_redirects(hops);
                    return Ok(response);
                }
            }
        } else if method == Method::HEAD {
            (Method::HEAD, Body::empty())
        } else {
            (Method::GET, Body::empty())
        };
        if url.scheme_str() == Some("https")
            && next.scheme_str() == Some("http")
            && !policy.allow_downgrade
        {
            return Err(refuse(format!(
                "refused a redirect from https to http ({next}); allow it with \
                 RedirectPolicy::allow_https_downgrade"
            )));
        }
        visited.push((method.clone(), url.clone()));
        if visited
            .iter()
            .any(|(m, u)| *m == next_method && same_url(u, &next))
        {
            return Err(refuse(format!(
                "redirect loop: {next} was requested before"
            )));
        }
        hops.push(RedirectHop {
            url: url.clone(),
            status,
        });
        let decision = match &policy.kind {
            Kind::None => ActionKind::Stop,
            Kind::Limited(max) if hops.len() > *max => {
                return Err(refuse(format!("stopped after {max} redirects")));
            }
            Kind::Limited(_) => ActionKind::Follow,
            Kind::Custom(decide) => {
                decide(Attempt {
                    status,
                    next: &next,
                    previous: &hops,
                })
                .0
            }
        };
        match decision {
            ActionKind::Follow => {}
            ActionKind::Stop => {
                hops.pop();
                response.set_redirects(hops);
                return Ok(response);
            }
            ActionKind::Error(text) => return Err(refuse(text)),
        }
        // The redirect's own body is not wanted. A small one is read first (it may
        // still be on its way: a server that writes head and body apart), so that the
        // connection is idle again when the next hop looks for one; a large one is
        // dropped, and the engine drains it or closes the connection by the usual rules.
        slurp(response);
        let mut headers = headers;
        if !keeps_body {
            for name in [
                CONTENT_TYPE,
                CONTENT_LENGTH,
                CONTENT_ENCODING,
                TRANSFER_ENCODING,
            ] {
                headers.remove(name);
            }
        }
        if origin(&url) != origin(&next) {
            for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST] {
                headers.remove(name);
            }
        }
        request = Request::new(next_body);
        *request.method_mut() = next_method;
        *request.uri_mut() = next;
        *request.headers_mut() = headers;
        *request.extensions_mut() = extensions;
        *request.version_mut() = version;
    }
}

/// The most bytes of a redirect's body read before the next hop (Go's
/// `maxBodySlurpSize`): a redirect body is usually a line of text.
const MAX_SLURP_BYTES: u64 = 2 << 10;

/// Reads and drops a small redirect body (or up to [`MAX_SLURP_BYTES`] of one of unknown
/// length), then drops the response.
fn slurp(mut response: Response) {
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.map_or(true, |n| n <= MAX_SLURP_BYTES) {
        // Errors do not matter here: the connection is then not reused, that is all.
        let _ = std::io::copy(
            &mut std::io::Read::take(response.body_mut(), MAX_SLURP_BYTES + 1),
            &mut std::io::sink(),
        );
    }
}

/// Scheme, host (lower case) and port: what "the same origin" compares.
fn origin(uri: &Uri) -> (String, String, u16) {
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(match scheme.as_str() {
        "https" => 443,
        _ => 80,
    });
    let host = uri.host().unwrap_or_default().to_ascii_lowercase();
    (scheme, host, port)
}

/// The same URL, for loop detection: same origin, path and query.
fn same_url(a: &Uri, b: &Uri) -> bool {
    origin(a) == origin(b)
        && a.path_and_query().map(|p| p.as_str()) == b.path_and_query().map(|p| p.as_str())
}

/// Resolves a `Location` value against `base` (RFC 3986 §5.2), dropping its fragment and
/// percent-encoding what a URI may not hold. Only `http` and `https` targets are
/// accepted.
pub(super) fn resolve(base: &Uri, location: &[u8]) -> Result<Uri, Error> {
    let bad = |why: &str| {
        refuse(format!(
            "unusable Location {:?}: {why}",
            String::from_utf8_lossy(location)
        ))
    };
    let mut reference = encode_location(location);
    if let Some(hash) = reference.find('#') {
        reference.truncate(hash);
    }
    let base_scheme = base.scheme_str().ok_or_else(|| bad("no base URL"))?;
    let base_authority = base
        .authority()
        .map(|a| match a.as_str().rfind('@') {
            Some(at) => a.as_str()[at + 1..].to_owned(),
            None => a.as_str().to_owned(),
        })
        .ok_or_else(|| bad("no base URL"))?;
    let target = if has_scheme(&reference) {
        reference
    } else if let Some(rest) = reference.strip_prefix("//") {
        format!("{base_scheme}://{rest}")
    } else {
        let (ref_path, ref_query) = match reference.find('?') {
            Some(q) => (&reference[..q], Some(&reference[q..])),
            None => (reference.as_str(), None),
        };
        let base_path = base.path();
        let base_query = base.query().map(|q| format!("?{q}"));
        let (path, query) = if ref_path.is_empty() {
            (
                base_path.to_owned(),
                ref_query.map(str::to_owned).or(base_query),
            )
        } else if ref_path.starts_with('/') {
            (remove_dot_segments(ref_path), ref_query.map(str::to_owned))
        } else {
            // Merge: the base path up to its last '/', then the reference.
            let dir = match base_path.rfind('/') {
                Some(i) => &base_path[..=i],
                None => "/",
            };
            (
                remove_dot_segments(&format!("{dir}{ref_path}")),
                ref_query.map(str::to_owned),
            )
        };
        format!(
            "{base_scheme}://{base_authority}{path}{}",
            query.unwrap_or_default()
        )
    };
    let uri: Uri = target.parse().map_err(|_| bad("not a valid URL"))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        _ => return Err(bad("only http and https URLs are followed")),
    }
    if uri.host().map_or(true, str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(uri)
}

/// `scheme ":"` at the start (RFC 3986 §3.1).
fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) if i > 0 => {
            let scheme = &s[..i];
            scheme.as_bytes()[0].is_ascii_alphabetic()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        _ => false,
    }
}

/// Percent-encodes what may not appear in a URI (controls, space, non-ASCII and
/// `"<>\^`{|}`), keeping everything else, `%` included, as sent.
fn encode_location(raw: &[u8]) -> String {
    let trimmed = trim_ascii(raw);
    let mut out = String::with_capacity(trimmed.len());
    for &b in trimmed {
        let keep = b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// RFC 3986 §5.2.4, on a path that starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::with_capacity(path.len());
    for seg in &out {
        result.push('/');
        result.push_str(seg);
    }
    if trailing_slash || result.is_empty() {
        result.push('/');
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_as_rfc_3986_says() {
        // RFC 3986 §5.4.1 examples, on its base (made http), plus our own cases.
        let base: Uri = "http://a/b/c/d;p?q".parse().unwrap();
        let cases = [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("g/../h", "http://a/b/c/h"),
            ("https://other.test:8443/x?y", "https://other.test:8443/x?y"),
            ("  /spaced path/é ", "http://a/spaced%20path/%C3%A9"),
        ];
        for (location, want) in cases {
            let got = resolve(&base, location.as_bytes()).unwrap();
            assert_eq!(got.to_string(), want, "{location:?}");
        }
    }

    #[test]
    fn unusable_locations_are_refused() {
        let base: Uri = "https://a.test/x".parse().unwrap();
        for location in [
            "ftp://a.test/f",
            "mailto:x@y",
            "http://",
            "javascript:alert(1)",
        ] {
            let err = resolve(&base, location.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Redirect, "{location}");
        }
    }

    #[test]
    fn user_info_of_the_base_is_not_carried_into_relative_locations() {
        let base: Uri = "http://u:p@a.test/x".parse().unwrap();
        assert_eq!(
            resolve(&base, b"/y").unwrap().to_string(),
            "http://a.test/y"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let o = |s: &str| origin(&s.parse().unwrap());
        assert_eq!(o("http://A.test/x"), o("http://a.test:80/y"));
        assert_ne!(o("http://a.test/"), o("https://a.test/"));
        assert_ne!(o("http://a.test/"), o("http://a.test:8080/"));
        assert_ne!(o("http://a.test/"), o("http://b.test/"));
    }
}
