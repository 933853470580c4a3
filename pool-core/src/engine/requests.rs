//! The engine's table of submitted requests, by [`RequestId`].
//!
//! A request's id is its slot in a slab plus a generation: slots are reused, and the
//! generation makes a stale id (a request that finished, kept by a caller or a deadline
//! entry) find nothing instead of a newer request in the same slot. What the engine
//! knows about each request is [`Req`] (in `request.rs`, below the connection, which
//! reads and updates it during its exchange).

use crate::request::{Req, RequestId};
use crate::slab::Slab;

/// Requests by id; the id carries a generation so a stale id never finds a new request.
#[derive(Default)]
pub(crate) struct Requests {
    slab: Slab<(u32, Req)>,
    generation: u32,
}

impl Requests {
    pub(crate) fn insert(&mut self, req: Req) -> RequestId {
        self.generation = self.generation.wrapping_add(1);
        let g = self.generation;
        let idx = self.slab.insert((g, req));
        RequestId((u64::from(g) << 32) | idx as u64)
    }

    fn split(id: RequestId) -> (usize, u32) {
        ((id.0 & 0xffff_ffff) as usize, (id.0 >> 32) as u32)
    }

    pub(crate) fn get(&self, id: RequestId) -> Option<&Req> {
        let (idx, g) = Requests::split(id);
        self.slab
            .get(idx)
            .filter(|(gen, _)| *gen == g)
            .map(|(_, r)| r)
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> Option<&mut Req> {
        let (idx, g) = Requests::split(id);
        self.slab
            .get_mut(idx)
            .filter(|(gen, _)| *gen == g)
            .map(|(_, r)| r)
    }

    pub(crate) fn remove(&mut self, id: RequestId) -> Option<Req> {
        self.get(id)?;
        self.slab.remove(Requests::split(id).0).map(|(_, r)| r)
    }

    pub(crate) fn ids(&self) -> Vec<RequestId> {
        self.slab
            .ids()
            .filter_map(|i| {
                self.slab
                    .get(i)
                    .map(|(g, _)| RequestId((u64::from(*g) << 32) | i as u64))
            })
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }
}
