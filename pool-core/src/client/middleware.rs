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
//! every `send` reaches last. `Core::send` hands the request to its engine thread (a
//! `Command::Send` carrying the request's route) and parks on the request's mailbox until
//! the head or an error arrives — feeding a streamed body from the caller's reader
//! meanwhile (`upload`). It registers the request with its `CancelToken`, and with the
//! `compression` feature adds `Accept-Encoding` and wraps a body to decode (`decode`):
//! below the middleware, as Go's `Transport` does, so middleware sees decoded responses.
//!
//! # What it deliberately does not do
//!
//! Nothing here retries, redirects or times out on its own: redirects are the layer
//! around the chain (`redirect`), retries with backoff are layers a user adds
//! (ready-made ones in [`layers`](crate::layers)), and the engine keeps its own small
//! stale-connection retry below the chain. And nothing
//! here needs the [`Client`](crate::Client) type: the chain sees only `Core`, which is
//! what keeps `client/mod.rs` above this module and not beside it in a cycle.

use std::fmt;
use std::sync::Arc;

use http::Request;

use super::cancel::CancelToken;
use super::channel::{Command, Mailbox, Msg, Route};
use super::engines::Engines;
use super::response::Response;
use super::upload;
use crate::body::Body;
use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::request::RequestOptions;

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

/// What sending needs: the engines and the settings. Middleware reaches the pool
/// through it.
pub(crate) struct Core {
    pub(super) engines: Engines,
    pub(super) config: Config,
}

impl Core {
    /// Sends `request` to its engine and waits for the head: the end of the chain. A
    /// body read from a blocking reader is fed to the engine from this thread while it
    /// waits (see `upload`); a [`CancelToken`] in the request's extensions covers it.
    /// With several engines, the request's origin or the calling thread picks one
    /// (`engines`); the response keeps that one running until its body ends.
    pub(crate) fn send(
        &self,
        request: Request<Body>,
        opts: RequestOptions,
    ) -> Result<Response, Error> {
        let rx = Mailbox::new(self.config.body_buffer_limit);
        #[cfg(feature = "compression")]
        let asked = self.config.decompress && super::decode::ask(request.headers());
        #[cfg(feature = "compression")]
        let opts = RequestOptions {
            ask_compressed: asked,
            ..opts
        };
        #[cfg(feature = "compression")]
        let method = request.method().clone();
        // A body from a blocking reader is fed from this thread; others go as they are
        // (the request is taken apart only for a reader: moving it costs).
        let (request, feeder) = if request.body().is_reader() {
            let (parts, body) = request.into_parts();
            match body.into_reader() {
                Ok(reader) => {
                    let (source, feeder) = upload::pipe(&rx, reader);
                    (
                        Request::from_parts(parts, Body::from_source(source)),
                        Some(feeder),
                    )
                }
                Err(body) => (Request::from_parts(parts, body), None),
            }
        } else {
            (request, None)
        };
        let engine = self.engines.pick(request.uri());
        if let Some(token) = request.extensions().get::<CancelToken>() {
            token.register(&rx, &engine.handle)?;
        }
        let url = request.uri().clone();
        engine.handle.send(Command::Send {
            request: Box::new(request),
            opts,
            reply: Route::new(Arc::clone(&rx)),
        })?;
        let first = match feeder {
            Some(feeder) => feeder.run(&rx, &engine.handle),
            None => rx.recv(),
        };
        match first {
            Some(Msg::Head(id, head, info)) => {
                #[cfg(feature = "compression")]
                let coding = asked
                    .then(|| super::decode::coding_of(&method, head.status(), head.headers()))
                    .flatten();
                #[allow(unused_mut)]
                let mut response = Response::new(id, head, info, url, rx, Arc::clone(engine));
                #[cfg(feature = "compression")]
                if let Some(coding) = coding {
                    response.decode(coding, self.config.max_decoded_body_bytes);
                }
                Ok(response)
            }
            Some(Msg::Failed(e)) => Err(e),
            Some(_) => Err(Error::msg(
                ErrorKind::Io,
                "engine sent body data before the head",
            )),
            // Closed without a word: the engine stopped before it got to this request.
            None => Err(engine.handle.status.error()),
        }
    }
}
