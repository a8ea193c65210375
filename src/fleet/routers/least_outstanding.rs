//! Least-outstanding-requests routing.

use super::least_loaded;
use crate::fleet::{FleetView, Router};
use crate::workload::Request;

/// Sends each request to the replica with the fewest requests waiting or running.
#[derive(Debug)]
pub struct LeastOutstanding;

impl Router for LeastOutstanding {
    fn reads_loads(&self) -> bool {
        true
    }

    fn route(&mut self, _req: &Request, replicas: &dyn FleetView) -> usize {
        least_loaded(replicas)
    }
}
