//! [`LogLayer`]: one log line per request, the logging `RoundTripper` of Go written once.

use std::fmt;
use std::time::Instant;

use http::Request;

use crate::body::Body;
use crate::client::{Middleware, Next, Response};
use crate::error::Error;
use crate::request::RequestOptions;

/// The `log` target of [`LogLayer`]'s lines.
const TARGET: &str = "wirepool::http";

/// Logs every request through the `log` crate (target `wirepool::http`): method, URL,
/// status, the time until the response head, whether the connection was reused and
/// which connection it was — at `info` level (`warn` for a failure):
///
/// ```text
/// GET http://127.0.0.1:8080/a 200 in 87.2µs conn#1 fresh
/// GET http://127.0.0.1:8080/b 200 in 41.9µs conn#1 reused (idle 52.1µs)
/// GET http://127.0.0.1:9/ failed after 180.4µs: connect failed: Connection refused (os error 111)
/// ```
///
/// The time is until the head arrived: the body is still streaming when the layer sees
/// the response. Nothing is formatted when the level is off; each line costs what the
/// `log` backend makes it cost.
#[derive(Clone, Copy, Debug)]
pub struct LogLayer {
    level: log::Level,
}

impl Default for LogLayer {
    fn default() -> Self {
        LogLayer::new()
    }
}

impl LogLayer {
    /// Logs successes at `info` and failures at `warn`.
    pub fn new() -> LogLayer {
        LogLayer {
            level: log::Level::Info,
        }
    }

    /// Logs successes at `level` instead (failures stay at `warn`, or `level` if that
    /// is more severe).
    pub fn level(mut self, level: log::Level) -> LogLayer {
        self.level = level;
        self
    }
}

/// `reused (idle …)` or `fresh`.
struct Reuse<'a>(&'a Response);

impl fmt::Display for Reuse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0.info();
        match (info.reused, info.idle_for) {
            (true, Some(idle)) => write!(f, "reused (idle {idle:?})"),
            (true, None) => f.write_str("reused"),
            (false, _) => f.write_str("fresh"),
        }?;
        if info.retries > 0 {
            write!(f, " retries={}", info.retries)?;
        }
        Ok(())
    }
}

impl Middleware for LogLayer {
    fn handle(
        &self,
        request: Request<Body>,
        opts: RequestOptions,
        next: Next<'_>,
    ) -> Result<Response, Error> {
        let fail_level = self.level.min(log::Level::Warn);
        if !log::log_enabled!(target: TARGET, self.level)
            && !log::log_enabled!(target: TARGET, fail_level)
        {
            return next.run(request, opts);
        }
        let method = request.method().clone();
        let uri = request.uri().clone();
        let started = Instant::now();
        let result = next.run(request, opts);
        let took = started.elapsed();
        match &result {
            Ok(resp) => log::log!(
                target: TARGET,
                self.level,
                "{method} {uri} {} in {took:?} conn#{} {}",
                resp.status().as_u16(),
                resp.info().conn_id,
                Reuse(resp)
            ),
            Err(e) => {
                let mut chain = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    chain.push_str(": ");
                    chain.push_str(&s.to_string());
                    source = s.source();
                }
                log::log!(
                    target: TARGET,
                    fail_level,
                    "{method} {uri} failed after {took:?}: {chain}"
                )
            }
        }
        result
    }
}
