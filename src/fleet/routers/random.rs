//! Random routing.

use rand::rngs::StdRng;
use rand::Rng;

use crate::fleet::{FleetView, Router};
use crate::rng::{stream_rng, Stream};
use crate::workload::Request;

/// Sends each request to a replica chosen uniformly at random (the router's own seeded stream).
#[derive(Debug)]
pub struct RandomRouter {
    rng: StdRng,
}

impl RandomRouter {
    /// Seeded from the scenario's master seed.
    pub fn new(seed: u64) -> RandomRouter {
        RandomRouter {
            rng: stream_rng(seed, Stream::Router),
        }
    }
}

impl Router for RandomRouter {
    fn route(&mut self, _req: &Request, replicas: &dyn FleetView) -> usize {
        self.rng.gen_range(0..replicas.len())
    }
}
