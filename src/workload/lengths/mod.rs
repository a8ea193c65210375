//! Length distributions for synthetic workloads, one per file, chosen by the `kind` of a
//! [`LengthSpec`]. Samples are whole tokens, at least 1.

mod empirical;
mod fixed;
mod lognormal;
mod uniform;

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::readers::MAX_TOKENS;
use super::trace::TraceFormat;
use crate::error::{Error, Result};

pub use empirical::Empirical;
pub use fixed::Fixed;
pub use lognormal::LogNormalLengths;
pub use uniform::Uniform;

/// Draws token counts.
pub trait LengthDist: Send {
    /// One length, tokens (at least 1).
    fn sample(&mut self, rng: &mut StdRng) -> u32;
}

/// Which side of a request an empirical distribution takes its lengths from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LengthColumn {
    /// Prompt lengths.
    Input,
    /// Output lengths.
    Output,
}

/// A length distribution as a scenario writes it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LengthSpec {
    /// Always the same length.
    Fixed {
        /// Tokens.
        value: u32,
    },
    /// Uniform over `min..=max`.
    Uniform {
        /// Smallest length, tokens.
        min: u32,
        /// Largest length, tokens.
        max: u32,
    },
    /// Log-normal with the given median and 99th percentile, clamped to `min..=max`.
    Lognormal {
        /// Median, tokens.
        median: f64,
        /// 99th percentile, tokens.
        p99: f64,
        /// Lower clamp, tokens.
        #[serde(default)]
        min: Option<u32>,
        /// Upper clamp, tokens.
        #[serde(default)]
        max: Option<u32>,
    },
    /// Sampled (with replacement) from the lengths in a trace file.
    Empirical {
        /// Trace file (any format fleetsim reads).
        path: PathBuf,
        /// Its format; guessed from the first line when left out.
        #[serde(default)]
        format: Option<TraceFormat>,
        /// Which lengths to take; by default the side this distribution is for.
        #[serde(default)]
        column: Option<LengthColumn>,
    },
}

impl LengthSpec {
    /// Checks parameter ranges; `field` is the dotted path used in errors.
    pub fn check(&self, field: &str) -> Result<()> {
        let bad = |name: &str, msg: String| Err(Error::config(format!("{field}.{name}"), msg));
        match self {
            LengthSpec::Fixed { value } => {
                if *value == 0 || *value as u64 > MAX_TOKENS {
                    return bad(
                        "value",
                        format!("must be 1..={MAX_TOKENS} tokens, got {value}"),
                    );
                }
            }
            LengthSpec::Uniform { min, max } => {
                if *min == 0 || *max as u64 > MAX_TOKENS {
                    return bad("min", format!("lengths must be 1..={MAX_TOKENS} tokens"));
                }
                if max < min {
                    return bad("max", format!("must be at least min ({min}), got {max}"));
                }
            }
            LengthSpec::Lognormal {
                median,
                p99,
                min,
                max,
            } => {
                if !(median.is_finite() && *median >= 1.0 && *median <= MAX_TOKENS as f64) {
                    return bad(
                        "median",
                        format!("must be 1..={MAX_TOKENS} tokens, got {median}"),
                    );
                }
                if !(p99.is_finite() && *p99 >= *median && *p99 <= MAX_TOKENS as f64) {
                    return bad("p99", format!("must be at least the median ({median}) and at most {MAX_TOKENS}, got {p99}"));
                }
                if let (Some(a), Some(b)) = (min, max) {
                    if b < a {
                        return bad("max", format!("must be at least min ({a})"));
                    }
                }
                if *min == Some(0) {
                    return bad("min", "must be at least 1".into());
                }
            }
            LengthSpec::Empirical { .. } => {}
        }
        Ok(())
    }

    /// Mean length in tokens where it is known without reading a file.
    pub fn mean_tokens(&self) -> Option<f64> {
        match self {
            LengthSpec::Fixed { value } => Some(*value as f64),
            LengthSpec::Uniform { min, max } => Some((*min as f64 + *max as f64) / 2.0),
            LengthSpec::Lognormal { median, p99, .. } => {
                let sigma = lognormal::sigma(*median, *p99);
                Some(median * (sigma * sigma / 2.0).exp())
            }
            LengthSpec::Empirical { .. } => None,
        }
    }

    /// The distribution. `side` is what it samples (the default column of an empirical one) and
    /// `resolve` turns a path in the scenario into a readable one.
    pub fn build(
        &self,
        side: LengthColumn,
        resolve: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<Box<dyn LengthDist>> {
        Ok(match self {
            LengthSpec::Fixed { value } => Box::new(Fixed::new(*value)),
            LengthSpec::Uniform { min, max } => Box::new(Uniform::new(*min, *max)),
            LengthSpec::Lognormal {
                median,
                p99,
                min,
                max,
            } => Box::new(LogNormalLengths::new(
                *median,
                *p99,
                min.unwrap_or(1),
                max.unwrap_or(MAX_TOKENS as u32),
            )),
            LengthSpec::Empirical {
                path,
                format,
                column,
            } => {
                let path = resolve(path);
                let format = match format {
                    Some(f) => *f,
                    None => TraceFormat::detect(&path)?,
                };
                Box::new(Empirical::from_trace(
                    &path,
                    format,
                    column.unwrap_or(side),
                )?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream_rng, Stream};

    fn draw(spec: &LengthSpec, n: usize) -> Vec<f64> {
        spec.check("x").unwrap();
        let mut d = spec
            .build(LengthColumn::Input, &|p| p.to_path_buf())
            .unwrap();
        let mut rng = stream_rng(3, Stream::InputLengths);
        let mut v: Vec<f64> = (0..n).map(|_| d.sample(&mut rng) as f64).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn distributions_hit_their_parameters() {
        assert!(draw(&LengthSpec::Fixed { value: 256 }, 10)
            .iter()
            .all(|&x| x == 256.0));
        let u = draw(&LengthSpec::Uniform { min: 10, max: 20 }, 20_000);
        assert_eq!((u[0], u[u.len() - 1]), (10.0, 20.0));
        let ln = LengthSpec::Lognormal {
            median: 1000.0,
            p99: 8000.0,
            min: None,
            max: None,
        };
        let v = draw(&ln, 100_000);
        let med = crate::stats::percentile_sorted(&v, 50.0);
        let p99 = crate::stats::percentile_sorted(&v, 99.0);
        assert!((med - 1000.0).abs() / 1000.0 < 0.03, "{med}");
        assert!((p99 - 8000.0).abs() / 8000.0 < 0.06, "{p99}");
        let mean = crate::stats::mean(&v);
        let want = ln.mean_tokens().unwrap();
        assert!((mean - want).abs() / want < 0.03, "{mean} {want}");
    }

    #[test]
    fn empirical_samples_the_shipped_sharegpt_lengths() {
        let spec = LengthSpec::Empirical {
            path: "traces/sharegpt-lengths/sharegpt_8k_filtered_stats_llama2_tokenizer.csv".into(),
            format: None,
            column: None,
        };
        let v = draw(&spec, 50_000);
        let mean = crate::stats::mean(&v);
        // traces/SOURCES.md: input mean 2340, median 1730.
        assert!((mean - 2340.0).abs() / 2340.0 < 0.03, "{mean}");
    }

    #[test]
    fn invalid_specs_name_their_field() {
        let e = LengthSpec::Uniform { min: 5, max: 2 }
            .check("w.input_tokens")
            .unwrap_err();
        assert!(e.to_string().contains("w.input_tokens.max"), "{e}");
        let e = LengthSpec::Fixed { value: 0 }
            .check("w.output_tokens")
            .unwrap_err();
        assert!(e.to_string().contains("w.output_tokens.value"), "{e}");
    }
}
