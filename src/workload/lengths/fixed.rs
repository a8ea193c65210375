//! A fixed length.

use rand::rngs::StdRng;

use super::LengthDist;

/// Always `value` tokens.
#[derive(Debug)]
pub struct Fixed {
    value: u32,
}

impl Fixed {
    /// Always `value` (at least 1).
    pub fn new(value: u32) -> Fixed {
        Fixed {
            value: value.max(1),
        }
    }
}

impl LengthDist for Fixed {
    fn sample(&mut self, _rng: &mut StdRng) -> u32 {
        self.value
    }
}
