//! Service-level objectives: latency targets that a given share of requests must meet.

use serde::{Deserialize, Serialize};

use super::recorder::{RequestRecord, Status};
use crate::cost::LatencyTargets;
use crate::error::{Error, Result};
use crate::workload::Request;

fn p99() -> f64 {
    99.0
}

/// The scenario's `slo`: per-request latency targets (seconds) and the percentage of requests
/// that must meet all of them. `{"percentile": 99, "ttft_s": 2}` reads "p99 TTFT at most 2 s".
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Share of requests, in percent, that must meet every target.
    #[serde(default = "p99")]
    pub percentile: f64,
    /// Time to first token target, seconds.
    #[serde(default)]
    pub ttft_s: Option<f64>,
    /// Time per output token target, seconds.
    #[serde(default)]
    pub tpot_s: Option<f64>,
    /// End-to-end latency target, seconds.
    #[serde(default)]
    pub e2e_s: Option<f64>,
}

impl SloSpec {
    /// Checks the targets.
    pub fn check(&self) -> Result<()> {
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err(Error::config(
                "slo.percentile",
                format!("must be in (0, 100], got {}", self.percentile),
            ));
        }
        for (name, v) in [
            ("ttft_s", self.ttft_s),
            ("tpot_s", self.tpot_s),
            ("e2e_s", self.e2e_s),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(Error::config(
                        format!("slo.{name}"),
                        format!("must be a positive number of seconds, got {v}"),
                    ));
                }
            }
        }
        if self.ttft_s.is_none() && self.tpot_s.is_none() && self.e2e_s.is_none() {
            return Err(Error::config(
                "slo",
                "give at least one of ttft_s, tpot_s, e2e_s",
            ));
        }
        Ok(())
    }

    /// The latency targets APIs are compared with.
    pub fn latency_targets(&self) -> LatencyTargets {
        LatencyTargets {
            ttft_s: self.ttft_s,
            tpot_s: self.tpot_s,
        }
    }

    /// Whether a completed request meets every target.
    fn meets(&self, req: &Request, rec: &RequestRecord) -> bool {
        let (Some(first), Some(fin)) = (rec.first_token, rec.finish) else {
            return false;
        };
        let ttft = first.saturating_sub(rec.arrival).as_secs_f64();
        let e2e = fin.saturating_sub(rec.arrival).as_secs_f64();
        let tpot = if req.output_tokens > 1 {
            (e2e - ttft) / (req.output_tokens - 1) as f64
        } else {
            0.0
        };
        self.ttft_s.is_none_or(|t| ttft <= t)
            && self.tpot_s.is_none_or(|t| tpot <= t)
            && self.e2e_s.is_none_or(|t| e2e <= t)
    }

    /// Scores a run: every arrived request counts; rejected and unfinished ones miss.
    pub fn report(
        &self,
        requests: &[Request],
        records: &[RequestRecord],
        span_s: f64,
    ) -> SloReport {
        let mut fold = SloFold::default();
        for (req, rec) in requests.iter().zip(records) {
            fold.add(self, req, rec);
        }
        self.report_fold(fold, span_s)
    }

    /// The report from requests folded one at a time ([`SloFold::add`]).
    pub fn report_fold(&self, fold: SloFold, span_s: f64) -> SloReport {
        let SloFold { arrived, good } = fold;
        let attainment = if arrived > 0 {
            good as f64 / arrived as f64
        } else {
            1.0
        };
        SloReport {
            percentile: self.percentile,
            ttft_s: self.ttft_s,
            tpot_s: self.tpot_s,
            e2e_s: self.e2e_s,
            attainment,
            met: attainment * 100.0 >= self.percentile - 1e-9,
            requests_meeting: good,
            goodput_per_s: if span_s > 0.0 {
                good as f64 / span_s
            } else {
                0.0
            },
        }
    }
}

/// The `slo` section of a summary.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SloReport {
    /// Share of requests that must meet every target, percent.
    pub percentile: f64,
    /// TTFT target, seconds.
    pub ttft_s: Option<f64>,
    /// TPOT target, seconds.
    pub tpot_s: Option<f64>,
    /// E2E target, seconds.
    pub e2e_s: Option<f64>,
    /// Fraction of arrived requests meeting every target (rejected and unfinished miss).
    pub attainment: f64,
    /// attainment >= percentile / 100.
    pub met: bool,
    /// Requests meeting every target.
    pub requests_meeting: u64,
    /// Requests meeting every target per second of simulated span.
    pub goodput_per_s: f64,
}

/// Requests scored against an SLO so far, one at a time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SloFold {
    arrived: u64,
    good: u64,
}

impl SloFold {
    /// Scores request `req` with record `rec` against `slo`.
    pub fn add(&mut self, slo: &SloSpec, req: &Request, rec: &RequestRecord) {
        match rec.status {
            Status::Pending => {}
            // A spilled request whose API publishes no latency cannot be scored.
            Status::Spilled if rec.first_token.is_none() => {}
            Status::Completed | Status::Spilled => {
                self.arrived += 1;
                self.good += slo.meets(req, rec) as u64;
            }
            _ => self.arrived += 1,
        }
    }
}
