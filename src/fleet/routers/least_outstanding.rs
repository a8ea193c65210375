//! Least-outstanding-requests routing.

use super::least_loaded;
use crate::fleet::Router;
use crate::serving::Replica;
use crate::workload::Request;

/// Sends each request to the replica with the fewest requests waiting or running.
pub struct LeastOutstanding;

impl Router for LeastOutstanding {
    fn route(&mut self, _req: &Request, replicas: &[Replica]) -> usize {
        least_loaded(replicas)
    }
}
