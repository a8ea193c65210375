//! Arrival processes, one per file, chosen by the `kind` of an [`ArrivalSpec`]. Each produces
//! inter-arrival gaps in seconds from its own seeded RNG stream.

mod constant;
mod diurnal;
mod gamma;
mod on_off;
mod poisson;

use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use constant::Constant;
pub use diurnal::Diurnal;
pub use gamma::GammaRenewal;
pub use on_off::OnOff;
pub use poisson::Poisson;

/// Produces arrival times.
pub trait ArrivalProcess: Send {
    /// Gap in seconds from the arrival at `now_s` to the next one.
    fn next_gap_s(&mut self, now_s: f64, rng: &mut StdRng) -> f64;
}

fn default_period_s() -> f64 {
    86_400.0
}
fn default_peak_to_mean() -> f64 {
    2.0
}
fn default_peak_hour() -> f64 {
    14.0
}

/// An arrival process as a scenario writes it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ArrivalSpec {
    /// Evenly spaced arrivals.
    Constant {
        /// Requests per second.
        rate_per_s: f64,
    },
    /// Poisson arrivals (exponential gaps, CV 1).
    Poisson {
        /// Requests per second.
        rate_per_s: f64,
    },
    /// Gamma-distributed gaps: CV below 1 is smoother than Poisson, above 1 burstier.
    Gamma {
        /// Requests per second.
        rate_per_s: f64,
        /// Coefficient of variation of the gaps.
        cv: f64,
    },
    /// Two-state Markov-modulated Poisson process: bursts at `on_rate_per_s` lasting
    /// exponentially distributed times of mean `mean_on_s`, lulls at `off_rate_per_s`.
    #[serde(alias = "on_off")]
    OnOff {
        /// Rate in the burst state, requests per second.
        on_rate_per_s: f64,
        /// Rate in the quiet state, requests per second (may be 0).
        off_rate_per_s: f64,
        /// Mean burst duration, seconds.
        mean_on_s: f64,
        /// Mean quiet duration, seconds.
        mean_off_s: f64,
    },
    /// Poisson arrivals whose rate follows a daily curve: a cosine peaking at `peak_hour` with the
    /// given peak-to-mean ratio, or 24 hourly weights.
    Diurnal {
        /// Mean rate over the period, requests per second (or give `requests_per_day`).
        #[serde(default)]
        mean_rate_per_s: Option<f64>,
        /// Mean rate as requests per day (the figure a team without a trace knows).
        #[serde(default)]
        requests_per_day: Option<f64>,
        /// Peak rate over mean rate (1 to 2 for the cosine curve).
        #[serde(default = "default_peak_to_mean")]
        peak_to_mean: f64,
        /// Hour of the peak (0-24) for the cosine curve.
        #[serde(default = "default_peak_hour")]
        peak_hour: f64,
        /// Length of the cycle, seconds (a day by default).
        #[serde(default = "default_period_s")]
        period_s: f64,
        /// 24 relative weights, one per hour of the period, linearly interpolated; overrides
        /// `peak_to_mean` and `peak_hour`.
        #[serde(default)]
        hourly_weights: Option<Vec<f64>>,
    },
}

fn positive(field: &str, name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(())
    } else {
        Err(Error::config(
            format!("{field}.{name}"),
            format!(
                "must be a positive number below 1e9, got {}",
                crate::error::fmt_value(v)
            ),
        ))
    }
}

impl ArrivalSpec {
    /// Checks parameter ranges; `field` is the dotted path used in errors.
    pub fn check(&self, field: &str) -> Result<()> {
        match self {
            ArrivalSpec::Constant { rate_per_s } | ArrivalSpec::Poisson { rate_per_s } => {
                positive(field, "rate_per_s", *rate_per_s)
            }
            ArrivalSpec::Gamma { rate_per_s, cv } => {
                positive(field, "rate_per_s", *rate_per_s)?;
                if !(cv.is_finite() && (1e-3..=100.0).contains(cv)) {
                    return Err(Error::config(
                        format!("{field}.cv"),
                        format!(
                            "must be 0.001 to 100 (use kind `constant` for evenly spaced arrivals), got {}",
                            crate::error::fmt_value(*cv)
                        ),
                    ));
                }
                // The derived Gamma parameters must be valid too (shape 1/cv^2, scale
                // cv^2/rate), not only the inputs.
                let shape = 1.0 / (cv * cv);
                let scale = 1.0 / (rate_per_s * shape);
                if rand_distr::Gamma::new(shape, scale).is_err() || !scale.is_normal() {
                    return Err(Error::config(
                        format!("{field}.cv"),
                        format!(
                            "with rate_per_s {} gives Gamma shape {} and scale {}, which cannot be sampled",
                            crate::error::fmt_value(*rate_per_s),
                            crate::error::fmt_value(shape),
                            crate::error::fmt_value(scale)
                        ),
                    ));
                }
                Ok(())
            }
            ArrivalSpec::OnOff {
                on_rate_per_s,
                off_rate_per_s,
                mean_on_s,
                mean_off_s,
            } => {
                positive(field, "on_rate_per_s", *on_rate_per_s)?;
                if !(off_rate_per_s.is_finite() && *off_rate_per_s >= 0.0) {
                    return Err(Error::config(
                        format!("{field}.off_rate_per_s"),
                        format!("must be zero or positive, got {off_rate_per_s}"),
                    ));
                }
                positive(field, "mean_on_s", *mean_on_s)?;
                positive(field, "mean_off_s", *mean_off_s)
            }
            ArrivalSpec::Diurnal {
                mean_rate_per_s,
                requests_per_day,
                peak_to_mean,
                peak_hour,
                period_s,
                hourly_weights,
            } => {
                match (mean_rate_per_s, requests_per_day) {
                    (Some(r), None) => positive(field, "mean_rate_per_s", *r)?,
                    (None, Some(d)) => positive(field, "requests_per_day", *d)?,
                    _ => {
                        return Err(Error::config(
                            field,
                            "a diurnal process needs exactly one of `mean_rate_per_s` and `requests_per_day`",
                        ))
                    }
                }
                positive(field, "period_s", *period_s)?;
                match hourly_weights {
                    Some(w) => {
                        if w.len() != 24
                            || w.iter().any(|x| !x.is_finite() || *x < 0.0)
                            || w.iter().sum::<f64>() <= 0.0
                        {
                            return Err(Error::config(
                                format!("{field}.hourly_weights"),
                                "must be 24 non-negative numbers, not all zero",
                            ));
                        }
                    }
                    None => {
                        if !(1.0..=2.0).contains(peak_to_mean) {
                            return Err(Error::config(
                                format!("{field}.peak_to_mean"),
                                format!("the cosine curve allows 1 to 2, got {peak_to_mean}; give `hourly_weights` for sharper peaks"),
                            ));
                        }
                        if !(0.0..=24.0).contains(peak_hour) {
                            return Err(Error::config(
                                format!("{field}.peak_hour"),
                                "must be in 0..=24",
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Mean rate of the process, requests per second.
    pub fn mean_rate_per_s(&self) -> f64 {
        match self {
            ArrivalSpec::Constant { rate_per_s }
            | ArrivalSpec::Poisson { rate_per_s }
            | ArrivalSpec::Gamma { rate_per_s, .. } => *rate_per_s,
            ArrivalSpec::OnOff {
                on_rate_per_s,
                off_rate_per_s,
                mean_on_s,
                mean_off_s,
            } => {
                (on_rate_per_s * mean_on_s + off_rate_per_s * mean_off_s) / (mean_on_s + mean_off_s)
            }
            ArrivalSpec::Diurnal {
                mean_rate_per_s,
                requests_per_day,
                ..
            } => mean_rate_per_s.unwrap_or(requests_per_day.unwrap_or(0.0) / 86_400.0),
        }
    }

    /// The process (the spec must have passed [`ArrivalSpec::check`]).
    pub fn build(&self) -> Box<dyn ArrivalProcess> {
        match self {
            ArrivalSpec::Constant { rate_per_s } => Box::new(Constant::new(*rate_per_s)),
            ArrivalSpec::Poisson { rate_per_s } => Box::new(Poisson::new(*rate_per_s)),
            ArrivalSpec::Gamma { rate_per_s, cv } => Box::new(GammaRenewal::new(*rate_per_s, *cv)),
            ArrivalSpec::OnOff {
                on_rate_per_s,
                off_rate_per_s,
                mean_on_s,
                mean_off_s,
            } => Box::new(OnOff::new(
                *on_rate_per_s,
                *off_rate_per_s,
                *mean_on_s,
                *mean_off_s,
            )),
            ArrivalSpec::Diurnal {
                peak_to_mean,
                peak_hour,
                period_s,
                hourly_weights,
                ..
            } => Box::new(Diurnal::new(
                self.mean_rate_per_s(),
                *peak_to_mean,
                *peak_hour,
                *period_s,
                hourly_weights.clone(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream_rng, Stream};

    fn gaps(spec: &ArrivalSpec, n: usize) -> Vec<f64> {
        spec.check("a").unwrap();
        let mut p = spec.build();
        let mut rng = stream_rng(7, Stream::Arrivals);
        let mut t = 0.0;
        (0..n)
            .map(|_| {
                let g = p.next_gap_s(t, &mut rng);
                t += g;
                g
            })
            .collect()
    }

    fn rate_and_cv(g: &[f64]) -> (f64, f64) {
        (1.0 / crate::stats::mean(g), crate::stats::cv(g))
    }

    #[test]
    fn processes_reach_their_rate_and_variability() {
        let n = 200_000;
        let (r, cv) = rate_and_cv(&gaps(&ArrivalSpec::Constant { rate_per_s: 4.0 }, 1000));
        assert!((r - 4.0).abs() < 1e-9 && cv < 1e-9);
        let (r, cv) = rate_and_cv(&gaps(&ArrivalSpec::Poisson { rate_per_s: 4.0 }, n));
        assert!(
            (r - 4.0).abs() / 4.0 < 0.01 && (cv - 1.0).abs() < 0.02,
            "{r} {cv}"
        );
        let (r, cv) = rate_and_cv(&gaps(
            &ArrivalSpec::Gamma {
                rate_per_s: 10.0,
                cv: 3.0,
            },
            n,
        ));
        assert!(
            (r - 10.0).abs() / 10.0 < 0.03 && (cv - 3.0).abs() < 0.1,
            "{r} {cv}"
        );
        let on_off = ArrivalSpec::OnOff {
            on_rate_per_s: 20.0,
            off_rate_per_s: 1.0,
            mean_on_s: 10.0,
            mean_off_s: 30.0,
        };
        let (r, cv) = rate_and_cv(&gaps(&on_off, n));
        let want = on_off.mean_rate_per_s();
        assert!(
            (r - want).abs() / want < 0.05 && cv > 1.5,
            "{r} vs {want}, cv {cv}"
        );
    }

    #[test]
    fn diurnal_peaks_at_its_hour() {
        let spec = ArrivalSpec::Diurnal {
            mean_rate_per_s: None,
            requests_per_day: Some(2.0 * 86_400.0),
            peak_to_mean: 2.0,
            peak_hour: 14.0,
            period_s: 86_400.0,
            hourly_weights: None,
        };
        let g = gaps(&spec, 2 * 172_800);
        let mut per_hour = [0u32; 24];
        let mut t = 0.0;
        for x in g {
            t += x;
            if t >= 86_400.0 {
                break;
            }
            per_hour[(t / 3600.0) as usize] += 1;
        }
        let busiest = (0..24).max_by_key(|&h| per_hour[h]).unwrap();
        assert!((13..=14).contains(&busiest), "{per_hour:?}");
        let total: u32 = per_hour.iter().sum();
        assert!((total as f64 / 86_400.0 - 2.0).abs() < 0.05, "{total}");
        // The quietest hour (around 02:00) runs near zero, the peak near twice the mean.
        assert!(per_hour[2] < per_hour[14] / 10, "{per_hour:?}");
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let e = ArrivalSpec::Poisson { rate_per_s: -1.0 }
            .check("workload.synthetic.arrivals")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("workload.synthetic.arrivals.rate_per_s"),
            "{e}"
        );
        let e: std::result::Result<ArrivalSpec, _> =
            serde_json::from_str(r#"{"kind": "poisson", "rate": 3}"#);
        assert!(e.unwrap_err().to_string().contains("rate"));
    }
}
