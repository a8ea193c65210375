//! Poisson arrivals.

use rand::rngs::StdRng;
use rand_distr::{Distribution, Exp};

use super::ArrivalProcess;

/// Poisson arrivals: independent exponential gaps.
#[derive(Debug)]
pub struct Poisson {
    exp: Exp<f64>,
}

impl Poisson {
    /// At `rate_per_s` requests per second (positive).
    pub fn new(rate_per_s: f64) -> Poisson {
        Poisson {
            exp: Exp::new(rate_per_s).expect("validated positive rate"),
        }
    }
}

impl ArrivalProcess for Poisson {
    fn next_gap_s(&mut self, _now_s: f64, rng: &mut StdRng) -> f64 {
        self.exp.sample(rng)
    }
}
