//! What names a pool: the [`Scheme`], the [`PoolKey`] (scheme + lower-cased host + port),
//! the [`HostId`] a key is interned as, and the hash that finds a host's id from a
//! request's own bytes.
//!
//! # What this module owns
//!
//! * The identity of a pool: two connections are interchangeable exactly when their keys
//!   are equal, and host names compare ASCII case-insensitively, as DNS names do.
//! * [`FxHasher`], a small non-cryptographic hasher, and [`host_hash`], which hashes
//!   scheme, host and port without building a `String`, so finding a known host on the hot
//!   path does not allocate.
//!
//! # What it deliberately does not do
//!
//! It keeps no table: mapping a hash to a [`HostId`] (and walking collision chains) is
//! [`Pools::host_id`](super::Pools::host_id)'s job, because the table lives with the host
//! pools it indexes. It does not parse URIs or fill in ports either: the caller hands over
//! an explicit port ([`Scheme::default_port`] when the URI names none), so a key is always
//! complete and two spellings of one origin cannot make two pools.

use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use crate::route::Route;

/// Index of a host pool inside [`Pools`](super::Pools): the interned form of a
/// [`PoolKey`]. Never reused while the `Pools` lives, so an id may be kept in a connection
/// or a request for as long as the Engine runs.
pub(crate) type HostId = usize;

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

/// The port of an `http` URI that names none (RFC 9110 §4.2.1).
const HTTP_DEFAULT_PORT: u16 = 80;

/// The port of an `https` URI that names none (RFC 9110 §4.2.2).
const HTTPS_DEFAULT_PORT: u16 = 443;

/// The URI scheme of a pooled connection: it decides whether the connection runs TLS, so two
/// connections to the same host and port but different schemes never share a pool.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Scheme {
    /// Plain-text HTTP/1.1 over TCP.
    Http,
    /// HTTP/1.1 over TLS.
    Https,
}

impl Scheme {
    /// The scheme as written in a URI: `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when a URI names none: 80 for `http`, 443 for `https`.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => HTTP_DEFAULT_PORT,
            Scheme::Https => HTTPS_DEFAULT_PORT,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What makes two connections interchangeable: scheme, lower-cased host and port of the
/// origin, and the [`Route`] to it.
///
/// A request may reuse any idle connection with an equal key. The route is part of it: a
/// connection through a proxy (or a Unix socket) is not a connection to the origin, and
/// connections to one origin through different proxies never mix. Host names compare
/// ASCII case-insensitively, as DNS names do; the stored host is lower-cased once at
/// construction so `Eq` and `Hash` can stay derived.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "KeyParts", try_from = "KeyParts")
)]
pub struct PoolKey {
    /// Plain or TLS: connections of different schemes are never interchangeable.
    scheme: Scheme,
    /// Lower-cased host name or IP literal, exactly as it will be resolved and used for SNI.
    host: Box<str>,
    /// TCP port; always explicit (the scheme's default filled in by the caller).
    port: u16,
    /// Direct, through a proxy, or over a Unix socket. The engine picks it once per
    /// origin from fixed rules, so scheme + host + port find the key.
    route: Route,
}

impl PoolKey {
    /// Builds a key for a direct connection, lower-casing ASCII letters of `host`.
    pub fn new(scheme: Scheme, host: &str, port: u16) -> Self {
        PoolKey::with_route(scheme, host, port, Route::Direct)
    }

    /// Builds a key for connections to `scheme://host:port` over `route`.
    pub fn with_route(scheme: Scheme, host: &str, port: u16, route: Route) -> Self {
        PoolKey {
            scheme,
            host: host.to_ascii_lowercase().into_boxed_str(),
            port,
            route,
        }
    }

    /// How connections of this pool reach the origin.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The lower-cased host (an IPv6 literal keeps the form it was given in, bracketed or not).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True if this key names `scheme://host:port`, comparing `host` ASCII case-insensitively.
    pub(super) fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        self.scheme == scheme && self.port == port && self.host.eq_ignore_ascii_case(host)
    }
}

/// A [`PoolKey`] as serde writes it: the route as it displays (`direct`, `via proxy
/// http://proxy:3128`, `via unix:/run/app.sock`), never with a proxy's credentials.
/// Reading one back goes through [`PoolKey::with_route`] (the host lower-cased as in
/// every other key); a proxy comes back without credentials.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct KeyParts {
    scheme: Scheme,
    host: String,
    port: u16,
    route: String,
}

#[cfg(feature = "serde")]
impl From<PoolKey> for KeyParts {
    fn from(k: PoolKey) -> KeyParts {
        let route = match &k.route {
            // The proxy's URL without `user:***@`.
            Route::Proxy(p) => format!("via proxy {}://{}", p.scheme(), {
                let shown = p.to_string();
                let rest = shown.split_once("://").map_or(shown.as_str(), |(_, r)| r);
                rest.rsplit_once('@').map_or(rest, |(_, hp)| hp).to_owned()
            }),
            other => other.to_string(),
        };
        KeyParts {
            scheme: k.scheme,
            host: k.host.into(),
            port: k.port,
            route,
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<KeyParts> for PoolKey {
    type Error = String;

    fn try_from(k: KeyParts) -> Result<PoolKey, String> {
        let route = if k.route == "direct" {
            Route::Direct
        } else if let Some(path) = k.route.strip_prefix("via unix:") {
            Route::Unix(path.into())
        } else if let Some(url) = k.route.strip_prefix("via proxy ") {
            Route::Proxy(crate::route::Proxy::parse(url).map_err(|e| e.to_string())?)
        } else {
            return Err(format!("unknown route {:?}", k.route));
        };
        Ok(PoolKey::with_route(k.scheme, &k.host, k.port, route))
    }
}

impl fmt::Display for PoolKey {
    /// `http://example.com:80`; an unbracketed IPv6 literal is bracketed: `http://[::1]:80`.
    /// Any other route than direct follows: `https://example.com:443 via proxy
    /// http://proxy:3128`, `http://localhost:80 via unix:/run/docker.sock`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') && !self.host.starts_with('[') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)?;
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)?;
        }
        match &self.route {
            Route::Direct => Ok(()),
            route => write!(f, " {route}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------

/// A small, fast, non-cryptographic hasher in the style of rustc's FxHash.
///
/// Used where keys are either trusted (engine-assigned request ids) or already reduced to a
/// `u64` by [`host_hash`]. Host names come from the caller's own requests, not from peers, so
/// hash-flooding resistance (what std's SipHash buys) is not needed on this path, and the
/// per-request lookup stays a few multiplications.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct FxHasher {
    /// Running state; every word is folded in with a rotate, xor and multiply.
    hash: u64,
}

/// Odd multiplier from rustc-hash: spreads each input word over the high bits.
const FX_SEED: u64 = 0xf135_7aea_2e62_a9c5;

/// Rotation applied to the state before each word is folded in (FxHash's), so that equal
/// words at different positions do not cancel out.
const FX_ROTATE: u32 = 5;

/// Rotation applied by `finish`: brings the best-mixed high bits down to where hash tables
/// take their index from (what rustc-hash 2 does).
const FX_FINISH_ROTATE: u32 = 26;

/// Bytes folded in per word: input is read in little-endian `u64`s.
const WORD_BYTES: usize = 8;

/// Where [`host_hash`] puts the host's length in its last word: the top byte, above any
/// byte of the (at most 7-byte) tail, so that "a" and "a\0" cannot collide by padding.
const LEN_SHIFT: u32 = 56;

impl FxHasher {
    /// Folds one 64-bit word into the state.
    #[inline]
    fn add_word(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(FX_ROTATE) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(WORD_BYTES);
        for chunk in &mut chunks {
            let mut word = [0u8; WORD_BYTES];
            word.copy_from_slice(chunk);
            self.add_word(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; WORD_BYTES];
            word[..rest.len()].copy_from_slice(rest);
            self.add_word(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add_word(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add_word(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the best-mixed bits at the top; hash tables index with the low
        // bits, so rotate the top down (what rustc-hash 2 does).
        self.hash.rotate_left(FX_FINISH_ROTATE)
    }
}

/// `BuildHasher` for [`FxHasher`], for `HashMap`s with trusted or pre-hashed keys.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// Hashes scheme, ASCII-lower-cased `host` and port without allocating, so that
/// [`Pools::host_id`](super::Pools::host_id) can find a known host from the request's own bytes,
/// and a client with several engines can pick the one that owns a host's pool.
pub(crate) fn host_hash(scheme: Scheme, host: &str, port: u16) -> u64 {
    let mut h = FxHasher::default();
    h.add_word(scheme as u64);
    h.add_word(u64::from(port));
    let bytes = host.as_bytes();
    let mut chunks = bytes.chunks_exact(WORD_BYTES);
    for chunk in &mut chunks {
        let mut word = [0u8; WORD_BYTES];
        for (dst, src) in word.iter_mut().zip(chunk) {
            *dst = src.to_ascii_lowercase();
        }
        h.add_word(u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    // The length goes into the last word so that "a" and "a\0" cannot collide by padding.
    let mut word = [0u8; WORD_BYTES];
    for (dst, src) in word.iter_mut().zip(rest) {
        *dst = src.to_ascii_lowercase();
    }
    h.add_word(u64::from_le_bytes(word) ^ ((bytes.len() as u64) << LEN_SHIFT));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_hash_ignores_case_only() {
        assert_eq!(
            host_hash(Scheme::Http, "WWW.Example.Com", 80),
            host_hash(Scheme::Http, "www.example.com", 80)
        );
        assert_ne!(
            host_hash(Scheme::Http, "a", 80),
            host_hash(Scheme::Http, "a\0", 80)
        );
        assert_ne!(
            host_hash(Scheme::Http, "a", 80),
            host_hash(Scheme::Https, "a", 80)
        );
        assert_ne!(
            host_hash(Scheme::Http, "a", 80),
            host_hash(Scheme::Http, "a", 81)
        );
    }

    #[test]
    fn pool_key_display() {
        assert_eq!(
            PoolKey::new(Scheme::Https, "Example.com", 443).to_string(),
            "https://example.com:443"
        );
        assert_eq!(
            PoolKey::new(Scheme::Http, "::1", 8080).to_string(),
            "http://[::1]:8080"
        );
        assert_eq!(
            PoolKey::new(Scheme::Http, "[::1]", 80).to_string(),
            "http://[::1]:80"
        );
    }

    #[test]
    fn the_route_is_part_of_the_key() {
        use crate::route::Proxy;
        let direct = PoolKey::new(Scheme::Https, "api.example", 443);
        let via_a = PoolKey::with_route(
            Scheme::Https,
            "api.example",
            443,
            Route::Proxy(Proxy::parse("http://a.proxy:3128").unwrap()),
        );
        let via_b = PoolKey::with_route(
            Scheme::Https,
            "api.example",
            443,
            Route::Proxy(Proxy::parse("http://b.proxy:3128").unwrap()),
        );
        let unix = PoolKey::with_route(
            Scheme::Https,
            "api.example",
            443,
            Route::Unix("/run/api.sock".into()),
        );
        let keys = [&direct, &via_a, &via_b, &unix];
        for (i, a) in keys.iter().enumerate() {
            for (j, b) in keys.iter().enumerate() {
                assert_eq!(a == b, i == j, "{a} vs {b}");
            }
        }
        assert_eq!(direct.to_string(), "https://api.example:443");
        assert_eq!(
            via_a.to_string(),
            "https://api.example:443 via proxy http://a.proxy:3128"
        );
        assert_eq!(
            unix.to_string(),
            "https://api.example:443 via unix:/run/api.sock"
        );
        // The same proxy with other credentials is another pool too.
        let alice = Route::Proxy(Proxy::parse("http://alice:x@a.proxy:3128").unwrap());
        let bob = Route::Proxy(Proxy::parse("http://bob:x@a.proxy:3128").unwrap());
        assert_ne!(
            PoolKey::with_route(Scheme::Http, "h", 80, alice),
            PoolKey::with_route(Scheme::Http, "h", 80, bob)
        );
    }
}
