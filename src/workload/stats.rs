//! Descriptive statistics of a workload, for `fleetsim trace stats`.

use serde::Serialize;

use super::Workload;
use crate::stats::{cv, mean, percentile_sorted};

/// Percentiles of a length distribution, tokens.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LengthStats {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl LengthStats {
    fn of(mut xs: Vec<f64>) -> LengthStats {
        xs.sort_by(f64::total_cmp);
        LengthStats {
            mean: mean(&xs),
            p50: percentile_sorted(&xs, 50.0),
            p90: percentile_sorted(&xs, 90.0),
            p99: percentile_sorted(&xs, 99.0),
            max: xs.last().copied().unwrap_or(0.0),
        }
    }
}

/// What `fleetsim trace stats` reports.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceStats {
    /// Requests.
    pub rows: u64,
    /// First to last arrival, seconds.
    pub span_s: f64,
    /// Requests per second over the span.
    pub mean_rate_per_s: f64,
    /// Coefficient of variation of inter-arrival gaps (1 for Poisson).
    pub interarrival_cv: f64,
    /// Most arrivals in any one-second window starting at a whole second.
    pub peak_rate_per_s: f64,
    /// Prompt lengths.
    pub input_tokens: LengthStats,
    /// Output lengths.
    pub output_tokens: LengthStats,
    /// Requests carrying prefix block ids.
    pub rows_with_prefix_ids: u64,
    /// Requests carrying a session id.
    pub rows_with_session: u64,
}

impl TraceStats {
    /// Statistics of `w`.
    pub fn of(w: &Workload) -> TraceStats {
        let r = &w.requests;
        let times: Vec<f64> = r.iter().map(|x| x.arrival.as_secs_f64()).collect();
        let gaps: Vec<f64> = times.windows(2).map(|p| p[1] - p[0]).collect();
        let span = times.last().copied().unwrap_or(0.0) - times.first().copied().unwrap_or(0.0);
        let mut peak = 0u64;
        let (mut lo, mut sec) = (0usize, u64::MAX);
        for (i, t) in times.iter().enumerate() {
            let s = t.floor() as u64;
            if s != sec {
                sec = s;
                lo = i;
            }
            peak = peak.max((i - lo + 1) as u64);
        }
        TraceStats {
            rows: r.len() as u64,
            span_s: span,
            mean_rate_per_s: if span > 0.0 {
                (r.len() as f64 - 1.0) / span
            } else {
                0.0
            },
            interarrival_cv: cv(&gaps),
            peak_rate_per_s: peak as f64,
            input_tokens: LengthStats::of(r.iter().map(|x| x.input_tokens as f64).collect()),
            output_tokens: LengthStats::of(r.iter().map(|x| x.output_tokens as f64).collect()),
            rows_with_prefix_ids: r.iter().filter(|x| x.prefix.is_some()).count() as u64,
            rows_with_session: r.iter().filter(|x| x.session.is_some()).count() as u64,
        }
    }

    /// Human-readable table.
    pub fn table(&self) -> String {
        let mut t = format!(
            "rows {}\nspan {:.1} s ({:.1} min)\nmean rate {:.3} req/s, peak {} req in one second\ninter-arrival CV {:.2}\n",
            self.rows,
            self.span_s,
            self.span_s / 60.0,
            self.mean_rate_per_s,
            self.peak_rate_per_s,
            self.interarrival_cv
        );
        t += &format!(
            "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "tokens", "mean", "p50", "p90", "p99", "max"
        );
        for (name, l) in [
            ("input", &self.input_tokens),
            ("output", &self.output_tokens),
        ] {
            t += &format!(
                "{:<14} {:>9.1} {:>9.0} {:>9.0} {:>9.0} {:>9.0}\n",
                name, l.mean, l.p50, l.p90, l.p99, l.max
            );
        }
        if self.rows_with_prefix_ids > 0 {
            t += &format!("rows with prefix ids {}\n", self.rows_with_prefix_ids);
        }
        if self.rows_with_session > 0 {
            t += &format!("rows with a session id {}\n", self.rows_with_session);
        }
        t
    }
}
