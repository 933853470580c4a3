//! What one `send` runs through, outermost first: the redirect layer, the middleware
//! chain, and `Core` (the end of the chain, which hands the request to the engine).
//!
//! # What this module owns
//!
//! [`Stack`]: the layers a [`Client`](crate::Client) was built with, shared by every
//! handle of the client and by the [`RequestBuilder`](crate::RequestBuilder)s made from
//! it. Keeping it apart from `mod.rs` lets the builder send without knowing the
//! `Client` type (no module cycle).
//!
//! # What it deliberately does not do
//!
//! Nothing of its own: each layer is in the module named for it.

use std::sync::Arc;

use http::Request;

use super::middleware::{Core, Middleware, Next};
use super::redirect::{self, RedirectPolicy};
use super::response::Response;
use crate::body::Body;
use crate::error::Error;
use crate::request::RequestOptions;

/// The layers of a client.
pub(super) struct Stack {
    pub(super) core: Core,
    pub(super) middleware: Vec<Arc<dyn Middleware>>,
    pub(super) redirect: RedirectPolicy,
}

impl Stack {
    /// Sends `request`, following redirects, each hop through the middleware chain.
    pub(super) fn send(
        &self,
        request: Request<Body>,
        opts: RequestOptions,
    ) -> Result<Response, Error> {
        let hop = |request: Request<Body>, opts: RequestOptions| {
            Next {
                chain: &self.middleware,
                core: &self.core,
            }
            .run(request, opts)
        };
        redirect::follow(
            &self.redirect,
            self.core.config.timeout,
            request,
            opts,
            &hop,
        )
    }
}
