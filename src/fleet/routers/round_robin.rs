//! Round-robin routing.

use crate::fleet::Router;
use crate::serving::Replica;
use crate::workload::Request;

/// Sends requests to replicas in turn.
#[derive(Default)]
pub struct RoundRobin {
    next: usize,
}

impl Router for RoundRobin {
    fn route(&mut self, _req: &Request, replicas: &[Replica]) -> usize {
        let i = self.next % replicas.len();
        self.next = i + 1;
        i
    }
}
