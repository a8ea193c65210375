//! Evenly spaced arrivals.

use rand::rngs::StdRng;

use super::ArrivalProcess;

/// Evenly spaced arrivals at a fixed rate.
#[derive(Debug)]
pub struct Constant {
    gap_s: f64,
}

impl Constant {
    /// At `rate_per_s` requests per second.
    pub fn new(rate_per_s: f64) -> Constant {
        Constant {
            gap_s: 1.0 / rate_per_s,
        }
    }
}

impl ArrivalProcess for Constant {
    fn next_gap_s(&mut self, _now_s: f64, _rng: &mut StdRng) -> f64 {
        self.gap_s
    }
}
