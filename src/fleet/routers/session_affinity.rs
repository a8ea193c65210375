//! Session-affinity routing by consistent hashing.

use super::least_loaded;
use crate::fleet::{FleetView, Router};
use crate::rng::mix64;
use crate::workload::Request;

/// Points per replica on the hash ring (as ketama-style consistent hashing uses, so sessions
/// spread evenly and adding a replica moves only about 1/N of them).
const VNODES: u64 = 160;

/// Sends all requests of a session to the replica owning the session id's point on a
/// consistent-hash ring; requests without a session go to the least-loaded replica.
#[derive(Debug)]
pub struct SessionAffinity {
    /// (ring position, replica), sorted.
    ring: Vec<(u64, usize)>,
}

impl SessionAffinity {
    /// A ring over `replicas` replicas.
    pub fn new(replicas: u32) -> SessionAffinity {
        let mut ring: Vec<(u64, usize)> = (0..replicas as u64)
            .flat_map(|r| (0..VNODES).map(move |v| (mix64(mix64(r ^ 0x5E55) ^ v), r as usize)))
            .collect();
        ring.sort_unstable();
        SessionAffinity { ring }
    }
}

impl Router for SessionAffinity {
    fn reads_loads(&self) -> bool {
        true
    }

    fn route(&mut self, req: &Request, replicas: &dyn FleetView) -> usize {
        let Some(session) = req.session else {
            return least_loaded(replicas);
        };
        let h = mix64(session ^ 0xA11_0C8);
        let i = self.ring.partition_point(|&(p, _)| p < h);
        let (_, r) = self.ring[i % self.ring.len()];
        r.min(replicas.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_replica_moves_few_sessions() {
        let (a, b) = (SessionAffinity::new(8), SessionAffinity::new(9));
        let pick = |ring: &SessionAffinity, s: u64| {
            let h = mix64(s ^ 0xA11_0C8);
            let i = ring.ring.partition_point(|&(p, _)| p < h);
            ring.ring[i % ring.ring.len()].1
        };
        let moved = (0..10_000).filter(|&s| pick(&a, s) != pick(&b, s)).count();
        // Ideal: 1/9 of sessions move to the new replica.
        assert!(moved < 1_700, "{moved} of 10000 sessions moved");
        let mut counts = [0; 8];
        for s in 0..10_000 {
            counts[pick(&a, s)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (900..1_600).contains(&c)),
            "{counts:?}"
        );
    }
}
