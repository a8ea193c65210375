//! Gamma renewal arrivals: gaps drawn from a Gamma distribution with a given mean and CV.

use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma};

use super::ArrivalProcess;

/// Gamma renewal process: shape 1/cv^2 and scale cv^2/rate give mean gap 1/rate and the CV asked.
#[derive(Debug)]
pub struct GammaRenewal {
    gamma: Gamma<f64>,
}

impl GammaRenewal {
    /// At `rate_per_s` with gap coefficient of variation `cv` (both positive).
    pub fn new(rate_per_s: f64, cv: f64) -> GammaRenewal {
        let shape = 1.0 / (cv * cv);
        let scale = 1.0 / (rate_per_s * shape);
        GammaRenewal {
            gamma: Gamma::new(shape, scale).expect("validated gamma parameters"),
        }
    }
}

impl ArrivalProcess for GammaRenewal {
    fn next_gap_s(&mut self, _now_s: f64, rng: &mut StdRng) -> f64 {
        self.gamma.sample(rng)
    }
}
