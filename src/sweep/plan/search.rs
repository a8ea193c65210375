//! The search for the smallest fleet meeting the SLO at one volume: doubling the replica count
//! until the SLO is met, then bisecting, so the answer `n` is simulated next to `n - 1`.

use std::collections::BTreeMap;

use crate::metrics::Summary;
use crate::sweep::{Point, ReplicaAxes, Sweep};

/// Evaluations of one (GPU, volume): replica count -> summary (or failure).
pub(super) type Evals = BTreeMap<u32, std::result::Result<Summary, String>>;

pub(super) fn met(e: &std::result::Result<Summary, String>) -> bool {
    e.as_ref()
        .ok()
        .and_then(|s| s.slo.as_ref())
        .is_some_and(|s| s.met)
}

/// Finds the smallest fleet meeting the SLO for one GPU and volume.
pub(super) fn search(
    sweep: &Sweep,
    gpu: &str,
    replica: &ReplicaAxes,
    scale: f64,
    router: crate::fleet::RouterKind,
    max: u32,
    capacity: Option<&crate::scenario::ReplicaCapacity>,
) -> (Option<u32>, Evals) {
    let mut evals: Evals = BTreeMap::new();
    let eval = |n: u32, evals: &mut Evals| -> bool {
        let r = evals.entry(n).or_insert_with(|| {
            let p = Point {
                index: 0,
                gpu: gpu.to_string(),
                router,
                replica: replica.clone(),
                rate_scale: scale,
                replicas: n,
            };
            sweep
                .point_spec(&p)
                .map(|s| s.run_full(false, capacity).summary)
                .map_err(|e| e.to_string())
        });
        met(r)
    };
    // Doubling, then bisection between the last miss and the first hit.
    let (mut lo, mut hi) = (0, 1); // lo: the largest count known to miss (0: none)
    loop {
        if eval(hi, &mut evals) {
            break;
        }
        if evals[&hi].is_err() || hi >= max {
            return (None, evals);
        }
        lo = hi;
        hi = (hi * 2).min(max);
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if eval(mid, &mut evals) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if hi > 1 {
        eval(hi - 1, &mut evals);
    }
    (Some(hi), evals)
}
