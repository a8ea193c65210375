//! Uniform lengths.

use rand::rngs::StdRng;
use rand::Rng;

use super::LengthDist;

/// Uniform over `min..=max` tokens.
#[derive(Debug)]
pub struct Uniform {
    min: u32,
    max: u32,
}

impl Uniform {
    /// Over `min..=max` (min at least 1).
    pub fn new(min: u32, max: u32) -> Uniform {
        Uniform {
            min: min.max(1),
            max: max.max(min.max(1)),
        }
    }
}

impl LengthDist for Uniform {
    fn sample(&mut self, rng: &mut StdRng) -> u32 {
        rng.gen_range(self.min..=self.max)
    }
}
