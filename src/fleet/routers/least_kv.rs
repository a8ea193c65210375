//! Least-KV-usage routing.

use crate::fleet::{FleetView, Router};
use crate::workload::Request;

/// Sends each request to the replica with the lowest fraction of KV blocks held by running
/// requests (then fewest outstanding requests, then lowest index).
#[derive(Debug)]
pub struct LeastKv;

impl Router for LeastKv {
    fn route(&mut self, _req: &Request, replicas: &dyn FleetView) -> usize {
        let key = |i: usize| {
            let r = replicas.get(i);
            let used =
                r.kv_used_blocks() as u128 * 1_000_000 / r.kv_capacity_blocks().max(1) as u128;
            (used, r.outstanding())
        };
        let mut best = 0;
        let mut best_key = key(0);
        for i in 1..replicas.len() {
            let k = key(i);
            if k < best_key {
                best = i;
                best_key = k;
            }
        }
        best
    }
}
