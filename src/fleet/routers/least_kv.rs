//! Least-KV-usage routing.

use crate::fleet::Router;
use crate::serving::Replica;
use crate::workload::Request;

/// Sends each request to the replica with the lowest fraction of KV blocks held by running
/// requests (then fewest outstanding requests, then lowest index).
pub struct LeastKv;

impl Router for LeastKv {
    fn route(&mut self, _req: &Request, replicas: &[Replica]) -> usize {
        let key = |r: &Replica| {
            let used =
                r.kv_used_blocks() as u128 * 1_000_000 / r.kv_capacity_blocks().max(1) as u128;
            (used, r.outstanding())
        };
        let mut best = 0;
        for (i, r) in replicas.iter().enumerate().skip(1) {
            if key(r) < key(&replicas[best]) {
                best = i;
            }
        }
        best
    }
}
