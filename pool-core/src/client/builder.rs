//! [`RequestBuilder`]: the `client.get(url)…send()` way to make and send a request, as
//! ureq and reqwest users write it.
//!
//! # What this module owns
//!
//! Building a request step by step — headers, query parameters, a timeout, a body of
//! any kind ([`Body`] from bytes, text, a file or a reader; JSON with the `json`
//! feature), credentials, a [`CancelToken`] — and sending it through the client's
//! layers. A mistake made while building (a header name that is not a token, a URL
//! that does not parse) is kept and returned by [`send`](RequestBuilder::send) as
//! [`ErrorKind::InvalidRequest`], so calls chain without a `?` each.
//!
//! # What it deliberately does not do
//!
//! No sending logic: [`send`](RequestBuilder::send) is [`Client::send_with`](crate::Client::send_with)
//! on the request built.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{HeaderMap, Method, Request, Uri};

use super::cancel::CancelToken;
use super::response::Response;
use super::stack::Stack;
use crate::body::Body;
use crate::error::{Error, ErrorKind};
use crate::request::RequestOptions;

/// A request being built; [`send`](Self::send) sends it. Made by
/// [`Client::get`](crate::Client::get), [`post`](crate::Client::post) and the others,
/// or [`Client::request`](crate::Client::request).
///
/// ```no_run
/// use std::time::Duration;
/// use wirepool::Client;
///
/// let client = Client::new()?;
/// let mut resp = client
///     .post("http://127.0.0.1:8080/items")
///     .query(&[("dry_run", "true")])
///     .header("x-token", "s3cr3t")
///     .timeout(Duration::from_secs(5))
///     .body(r#"{"name":"widget"}"#)
///     .send()?;
/// println!("{} {}", resp.status(), resp.text()?);
/// # Ok::<(), wirepool::Error>(())
/// ```
#[must_use = "a RequestBuilder does nothing until .send()"]
pub struct RequestBuilder {
    stack: Arc<Stack>,
    request: Result<Request<Body>, Error>,
    opts: RequestOptions,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RequestBuilder");
        match &self.request {
            Ok(r) => d.field("method", r.method()).field("url", r.uri()),
            Err(e) => d.field("error", e),
        };
        d.field("opts", &self.opts).finish()
    }
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::with_source(ErrorKind::InvalidRequest, e)
}

impl RequestBuilder {
    pub(super) fn new<U>(stack: Arc<Stack>, method: Method, url: U) -> RequestBuilder
    where
        U: TryInto<Uri>,
        U::Error: Into<http::Error>,
    {
        let request = url.try_into().map_err(|e| invalid(e.into())).map(|uri| {
            let mut r = Request::new(Body::empty());
            *r.method_mut() = method;
            *r.uri_mut() = uri;
            r
        });
        RequestBuilder {
            stack,
            request,
            opts: RequestOptions::default(),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Request<Body>) -> Result<(), Error>) -> Self {
        if let Ok(r) = &mut self.request {
            if let Err(e) = f(r) {
                self.request = Err(e);
            }
        }
        self
    }

    /// Adds a header (after any of the same name). A name that is not a token or a
    /// value with CR, LF or NUL makes [`send`](Self::send) fail with
    /// [`ErrorKind::InvalidRequest`].
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        self.edit(|r| {
            let name = name.try_into().map_err(|e| invalid(e.into()))?;
            let value = value.try_into().map_err(|e| invalid(e.into()))?;
            r.headers_mut().append(name, value);
            Ok(())
        })
    }

    /// Adds every header of `headers`.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.edit(|r| {
            for (name, value) in &headers {
                r.headers_mut().append(name.clone(), value.clone());
            }
            Ok(())
        })
    }

    /// Appends query parameters to the URL, each name and value percent-encoded
    /// (everything but `A-Z a-z 0-9 - . _ ~`).
    ///
    /// ```no_run
    /// # let client = wirepool::Client::new()?;
    /// let req = client.get("http://h.test/search?page=2").query(&[("q", "a b&c")]).build()?;
    /// assert_eq!(req.uri(), "http://h.test/search?page=2&q=a%20b%26c");
    /// # Ok::<(), wirepool::Error>(())
    /// ```
    pub fn query<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        self.edit(|r| {
            if pairs.is_empty() {
                return Ok(());
            }
            let uri = r.uri();
            let mut pq = uri.path().to_owned();
            let mut sep = '?';
            if let Some(q) = uri.query() {
                pq.push('?');
                pq.push_str(q);
                sep = '&';
            }
            for (k, v) in pairs {
                pq.push(sep);
                sep = '&';
                encode_component(k.as_ref(), &mut pq);
                pq.push('=');
                encode_component(v.as_ref(), &mut pq);
            }
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(pq.parse().map_err(invalid)?);
            *r.uri_mut() = Uri::from_parts(parts).map_err(invalid)?;
            Ok(())
        })
    }

    /// The total timeout of this request (instead of the client's `timeout`): waiting
    /// for a connection, sending, the head and the whole body, across redirects.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = Some(timeout);
        self
    }

    /// An absolute deadline for this request (the earlier of it and the timeout
    /// applies).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.opts.deadline = Some(deadline);
        self
    }

    /// The body: anything [`Body`] is made from — `Vec<u8>`, `String`, `&'static str`,
    /// `&'static [u8]`, [`Bytes`](crate::Bytes), a `File`, or a [`Body`] made from a
    /// reader ([`Body::from_reader`], [`Body::sized_reader`], [`Body::from_path`], ...).
    pub fn body(self, body: impl Into<Body>) -> Self {
        self.edit(|r| {
            *r.body_mut() = body.into();
            Ok(())
        })
    }

    /// A JSON body (the `json` feature): `value` serialized, with
    /// `Content-Type: application/json` unless one is set.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        self.edit(|r| {
            let bytes = serde_json::to_vec(value).map_err(invalid)?;
            r.headers_mut()
                .entry(http::header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static("application/json"));
            *r.body_mut() = Body::from(bytes);
            Ok(())
        })
    }

    /// `Authorization: Basic …` for `user` and `password` (replacing any set before).
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        self.edit(|r| {
            r.headers_mut()
                .insert(AUTHORIZATION, crate::auth::basic_auth(user, password));
            Ok(())
        })
    }

    /// `Authorization: Bearer <token>` (replacing any set before).
    pub fn bearer_auth(self, token: &str) -> Self {
        self.edit(|r| {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(invalid)?;
            value.set_sensitive(true);
            r.headers_mut().insert(AUTHORIZATION, value);
            Ok(())
        })
    }

    /// Lets `token` cancel this request from another thread, in whatever state it is
    /// (see [`CancelToken`]).
    pub fn cancel_token(self, token: &CancelToken) -> Self {
        self.edit(|r| {
            r.extensions_mut().insert(token.clone());
            Ok(())
        })
    }

    /// The request as built, without sending it; the mistake made while building, if
    /// any.
    pub fn build(self) -> Result<Request<Body>, Error> {
        self.request
    }

    /// Sends the request and waits for the response head (following redirects as the
    /// client's policy says). A body from a reader is streamed from this thread while
    /// it waits.
    pub fn send(self) -> Result<Response, Error> {
        self.stack.send(self.request?, self.opts)
    }
}

/// Percent-encodes a query name or value: everything but the unreserved characters of
/// RFC 3986 §2.3 (so `&`, `=`, `+`, spaces and non-ASCII are always escaped).
fn encode_component(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_encoded_strictly() {
        let mut out = String::new();
        encode_component("a b&c=d+é~-._", &mut out);
        assert_eq!(out, "a%20b%26c%3Dd%2B%C3%A9~-._");
    }
}
