//! On-off bursty arrivals: a two-state Markov-modulated Poisson process.

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::{Distribution, Exp};

use super::ArrivalProcess;

/// Two-state MMPP. The state switches after exponentially distributed dwell times; within a state
/// arrivals are Poisson at that state's rate. Starts in the quiet state.
#[derive(Debug)]
pub struct OnOff {
    rates: [f64; 2],
    dwell: [Exp<f64>; 2],
    state: usize,
    /// Time the current state ends; NaN until first drawn.
    state_end_s: f64,
}

impl OnOff {
    /// Burst rate, quiet rate, mean burst and quiet durations.
    pub fn new(on_rate: f64, off_rate: f64, mean_on_s: f64, mean_off_s: f64) -> OnOff {
        OnOff {
            rates: [off_rate, on_rate],
            dwell: [
                Exp::new(1.0 / mean_off_s).expect("validated"),
                Exp::new(1.0 / mean_on_s).expect("validated"),
            ],
            state: 0,
            state_end_s: f64::NAN,
        }
    }
}

impl ArrivalProcess for OnOff {
    fn next_gap_s(&mut self, now_s: f64, rng: &mut StdRng) -> f64 {
        if self.state_end_s.is_nan() {
            self.state_end_s = now_s + self.dwell[self.state].sample(rng);
        }
        let mut t = now_s;
        // Memorylessness: a gap that runs past the state's end is redrawn from the state change.
        loop {
            let rate = self.rates[self.state];
            let candidate = if rate > 0.0 {
                t + -(1.0 - rng.gen::<f64>()).ln() / rate
            } else {
                f64::INFINITY
            };
            if candidate <= self.state_end_s {
                return candidate - now_s;
            }
            t = self.state_end_s;
            self.state ^= 1;
            self.state_end_s = t + self.dwell[self.state].sample(rng);
        }
    }
}
