//! Synthetic workloads: an arrival process times independent input and output length draws,
//! each from its own seeded stream.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::arrivals::ArrivalSpec;
use super::lengths::{LengthColumn, LengthSpec};
use super::{Request, Workload};
use crate::error::{Error, Result};
use crate::rng::{stream_rng, Stream};
use crate::time::SimTime;

/// Largest synthetic workload, requests (guards against a typo generating gigabytes).
pub const MAX_SYNTHETIC_REQUESTS: u64 = 50_000_000;

/// A synthetic workload (the scenario's `workload.synthetic`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    /// Number of requests to generate.
    #[serde(default)]
    pub requests: Option<u64>,
    /// Generate arrivals up to this time, seconds (with `requests`, whichever comes first).
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Arrival process.
    pub arrivals: ArrivalSpec,
    /// Prompt lengths.
    pub input_tokens: LengthSpec,
    /// Output lengths.
    pub output_tokens: LengthSpec,
}

impl SyntheticSpec {
    /// Checks the spec; `field` is its dotted path.
    pub fn validate(&self, field: &str) -> Result<()> {
        match (self.requests, self.duration_s) {
            (None, None) => {
                return Err(Error::config(
                    field,
                    "give `requests` (a count), `duration_s` (seconds of arrivals) or both",
                ))
            }
            (Some(n), _) if n == 0 || n > MAX_SYNTHETIC_REQUESTS => {
                return Err(Error::config(
                    format!("{field}.requests"),
                    format!("must be 1..={MAX_SYNTHETIC_REQUESTS}, got {n}"),
                ))
            }
            (_, Some(d)) if !(d.is_finite() && d > 0.0 && d <= 3.2e8) => {
                return Err(Error::config(
                    format!("{field}.duration_s"),
                    format!("must be a positive number of seconds, got {d}"),
                ))
            }
            _ => {}
        }
        if self.requests.is_none() {
            let expected = self.arrivals.mean_rate_per_s() * self.duration_s.unwrap_or(0.0);
            if expected > MAX_SYNTHETIC_REQUESTS as f64 {
                return Err(Error::config(
                    format!("{field}.duration_s"),
                    format!("would generate about {expected:.0} requests, more than {MAX_SYNTHETIC_REQUESTS}"),
                ));
            }
        }
        self.arrivals.validate(&format!("{field}.arrivals"))?;
        self.input_tokens
            .validate(&format!("{field}.input_tokens"))?;
        self.output_tokens
            .validate(&format!("{field}.output_tokens"))?;
        Ok(())
    }

    /// Generates the requests. `resolve` maps file paths in the spec (empirical lengths).
    pub fn generate(&self, seed: u64, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<Workload> {
        self.validate("workload.synthetic")?;
        let mut arrivals = self.arrivals.build();
        let mut inputs = self.input_tokens.build(LengthColumn::Input, resolve)?;
        let mut outputs = self.output_tokens.build(LengthColumn::Output, resolve)?;
        let mut rng_a = stream_rng(seed, Stream::Arrivals);
        let mut rng_i = stream_rng(seed, Stream::InputLengths);
        let mut rng_o = stream_rng(seed, Stream::OutputLengths);
        let max_n = self.requests.unwrap_or(MAX_SYNTHETIC_REQUESTS);
        let horizon = self.duration_s.unwrap_or(f64::INFINITY);
        let mut requests = Vec::with_capacity(max_n.min(10_000_000) as usize);
        let mut t_s = 0.0;
        while (requests.len() as u64) < max_n && t_s < horizon {
            requests.push(Request {
                id: requests.len() as u64,
                arrival: SimTime::from_secs_f64(t_s),
                input_tokens: inputs.sample(&mut rng_i),
                output_tokens: outputs.sample(&mut rng_o),
                prefix: None,
                session: None,
                follows: None,
            });
            t_s += arrivals.next_gap_s(t_s, &mut rng_a);
        }
        Ok(Workload::finish(requests, Vec::new()))
    }
}
