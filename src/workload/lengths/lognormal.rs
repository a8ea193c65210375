//! Log-normal lengths given by median and 99th percentile, the two figures people know about
//! their prompts.

use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal};

use super::LengthDist;

/// The 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

/// Log-normal sigma such that the 99th percentile is `p99` when the median is `median`.
pub(crate) fn sigma(median: f64, p99: f64) -> f64 {
    (p99 / median).ln() / Z99
}

/// Log-normal lengths, rounded and clamped.
#[derive(Debug)]
pub struct LogNormalLengths {
    dist: LogNormal<f64>,
    min: u32,
    max: u32,
}

impl LogNormalLengths {
    /// Median and p99 in tokens, clamped to `min..=max`.
    pub fn new(median: f64, p99: f64, min: u32, max: u32) -> LogNormalLengths {
        LogNormalLengths {
            dist: LogNormal::new(median.ln(), sigma(median, p99)).expect("validated parameters"),
            min: min.max(1),
            max: max.max(min.max(1)),
        }
    }
}

impl LengthDist for LogNormalLengths {
    fn sample(&mut self, rng: &mut StdRng) -> u32 {
        let x = self.dist.sample(rng).round();
        (x.clamp(self.min as f64, self.max as f64)) as u32
    }
}
