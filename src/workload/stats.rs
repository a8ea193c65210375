//! Descriptive statistics of a workload, for `fleetsim trace stats`.

use serde::Serialize;

use super::block_hash::chain;
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
    /// For traces with prefix ids: what an unbounded prefix cache would reach.
    pub prefix_bound: Option<PrefixBound>,
}

/// The hit rate of an unbounded prefix cache that sees requests one at a time in arrival order
/// (no eviction, no concurrency): the ceiling for any real cache on this trace.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PrefixBound {
    /// Tokens each prefix id covers.
    pub block_tokens: u32,
    /// Prefix ids over all requests.
    pub total_blocks: u64,
    /// Distinct prefix chains among them (a block's identity includes everything before it).
    pub unique_blocks: u64,
    /// 1 - unique / total: the share of blocks seen before.
    pub block_hit_rate: f64,
    /// Share of prompt tokens in the longest run of complete, previously seen blocks at the
    /// start of each prompt, with the last prompt token always computed.
    pub token_hit_rate: f64,
}

impl PrefixBound {
    /// The bound for `w`, or `None` if no request has prefix ids.
    pub fn of(w: &Workload) -> Option<PrefixBound> {
        use std::collections::HashSet;
        let first = w.requests.iter().find_map(|r| r.prefix.as_ref())?;
        let block_tokens = first.block_tokens;
        let mut seen: HashSet<u64> = HashSet::new();
        let (mut total, mut hit_tokens, mut prompt_tokens) = (0u64, 0u64, 0u64);
        for r in &w.requests {
            prompt_tokens += r.input_tokens as u64;
            let Some(p) = &r.prefix else { continue };
            let g = p.block_tokens as u64;
            let mut parent: Option<u64> = None;
            let mut run = 0u64;
            let mut in_run = true;
            for (i, &id) in p.ids.iter().enumerate() {
                let key = chain(parent, id);
                parent = Some(key);
                total += 1;
                let complete = (i as u64 + 1) * g <= r.input_tokens as u64;
                let was_seen = !seen.insert(key);
                if in_run && complete && was_seen {
                    run += 1;
                } else {
                    in_run = false;
                }
            }
            hit_tokens += (run * g).min(r.input_tokens as u64 - 1);
        }
        Some(PrefixBound {
            block_tokens,
            total_blocks: total,
            unique_blocks: seen.len() as u64,
            block_hit_rate: if total > 0 {
                1.0 - seen.len() as f64 / total as f64
            } else {
                0.0
            },
            token_hit_rate: if prompt_tokens > 0 {
                hit_tokens as f64 / prompt_tokens as f64
            } else {
                0.0
            },
        })
    }
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
            prefix_bound: PrefixBound::of(w),
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
        if let Some(b) = &self.prefix_bound {
            t += &format!(
                "unbounded prefix cache: {:.1}% of blocks ({} unique of {} {}-token blocks), {:.1}% of prompt tokens\n",
                100.0 * b.block_hit_rate,
                b.unique_blocks,
                b.total_blocks,
                b.block_tokens,
                100.0 * b.token_hit_rate
            );
        }
        if self.rows_with_session > 0 {
            t += &format!("rows with a session id {}\n", self.rows_with_session);
        }
        t
    }
}
