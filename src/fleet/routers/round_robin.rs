//! Round-robin routing.

use crate::fleet::{FleetView, Router};
use crate::workload::Request;

/// Sends requests to replicas in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: usize,
}

impl Router for RoundRobin {
    fn route(&mut self, _req: &Request, replicas: &dyn FleetView) -> usize {
        let i = self.next % replicas.len();
        self.next = i + 1;
        i
    }
}
