//! Middleware: code that runs around every [`Client::send`](crate::Client::send).
//!
//! This is the Rust shape of Go's `RoundTripper` decorator: each middleware gets the
//! request and a [`Next`] that sends it through the rest of the chain (and finally the
//! pool), and may look at or change the request, the response or the error, time the
//! call, add headers, or answer without sending at all. Middleware runs on the caller's
//! thread, outside the engine, so it can block or allocate freely without slowing other
//! requests.
//!
//! ```no_run
//! use std::time::Instant;
//! use wirepool::{Body, Client, Next, RequestOptions, Response, Error};
//! use wirepool::http::Request;
//!
//! let client = Client::builder()
//!     .middleware(|req: Request<Body>, opts: RequestOptions, next: Next<'_>| {
//!         let (method, uri, started) = (req.method().clone(), req.uri().clone(), Instant::now());
//!         let result = next.run(req, opts);
//!         let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
//!         eprintln!("{method} {uri} -> {status} in {:?}", started.elapsed());
//!         result
//!     })
//!     .build()?;
//! # Ok::<(), wirepool::Error>(())
//! ```
//!
//! Middleware sees the response when its head has arrived; the body is still streaming.
//! Retries of stale connections happen below the chain, inside the engine, so a
//! middleware sees one call per `send` — unless a layer before it sends again: [`Next`]
//! may be run any number of times. The library ships two layers in
//! [`layers`](crate::layers): [`LogLayer`](crate::layers::LogLayer) (one `log` line per
//! request) and [`RetryLayer`](crate::layers::RetryLayer) (backoff, a budget, idempotent
//! requests only, `Retry-After`).
//!
//! # What this module owns
//!
//! The chain: the [`Middleware`] trait, [`Next`], and `Core`, the end of the chain that
//! every `send` reaches last. `Core::send` hands the request to the engine thread (a
//! `Command::Send` carrying the request's route) and parks on the request's mailbox until
//! the head or an error arrives.
//!
//! # What it deliberately does not do
//!
//! Nothing here retries, redirects or times out on its own: those are layers a user adds
//! (ready-made ones in [`layers`](crate::layers)), or the engine's own small
//! stale-connection retry below the chain. And nothing
//! here needs the [`Client`](crate::Client) type: the chain sees only `Core`, which is
//! what keeps `client/mod.rs` above this module and not beside it in a cycle.

use std::fmt;
use std::sync::Arc;

use http::Request;

use super::channel::{Command, Mailbox, Msg, Route};
use super::engine_thread::EngineThread;
use super::response::Response;
use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::request::{Body, RequestOptions};

/// One step around [`Client::send`](crate::Client::send).
pub trait Middleware: Send + Sync + 'static {
    /// Handles `request`: call `next.run(request, opts)` to send it on.
    fn handle(
        &self,
        request: Request<Body>,
        opts: RequestOptions,
        next: Next<'_>,
    ) -> Result<Response, Error>;
}

impl<F> Middleware for F
where
    F: Fn(Request<Body>, RequestOptions, Next<'_>) -> Result<Response, Error>
        + Send
        + Sync
        + 'static,
{
    fn handle(
        &self,
        request: Request<Body>,
        opts: RequestOptions,
        next: Next<'_>,
    ) -> Result<Response, Error> {
        self(request, opts, next)
    }
}

/// The rest of the chain after the current middleware.
///
/// It may be run more than once: a layer that retries calls [`Next::run`] again with a
/// copy of the request (see [`RetryLayer`](crate::layers::RetryLayer)). It is `Copy`.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    pub(crate) chain: &'a [Arc<dyn Middleware>],
    pub(crate) core: &'a Core,
}

impl Next<'_> {
    /// Sends `request` through the remaining middleware and then the pool. Each call is
    /// one more send: the layers after this one see it afresh.
    pub fn run(&self, request: Request<Body>, opts: RequestOptions) -> Result<Response, Error> {
        match self.chain.split_first() {
            Some((first, rest)) => first.handle(
                request,
                opts,
                Next {
                    chain: rest,
                    core: self.core,
                },
            ),
            None => self.core.send(request, opts),
        }
    }
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("remaining", &self.chain.len())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// The end of the chain
// ---------------------------------------------------------------------------------------

/// What sending needs: the engine and the settings. Middleware reaches the pool
/// through it.
pub(crate) struct Core {
    pub(super) engine: Arc<EngineThread>,
    pub(super) config: Config,
}

impl Core {
    /// Sends `request` to the engine and waits for the head: the end of the chain.
    pub(crate) fn send(
        &self,
        request: Request<Body>,
        opts: RequestOptions,
    ) -> Result<Response, Error> {
        let rx = Mailbox::new(self.config.body_buffer_limit);
        self.engine.handle.send(Command::Send {
            request: Box::new(request),
            opts,
            reply: Route::new(Arc::clone(&rx)),
        })?;
        match rx.recv() {
            Some(Msg::Head(id, head, info)) => {
                Ok(Response::new(id, head, info, rx, Arc::clone(&self.engine)))
            }
            Some(Msg::Failed(e)) => Err(e),
            Some(_) => Err(Error::msg(
                ErrorKind::Io,
                "engine sent body data before the head",
            )),
            // Closed without a word: the engine stopped before it got to this request.
            None => Err(self.engine.handle.status.error()),
        }
    }
}
