//! Trace options shared by every format, and the post-processing every reader's rows go through:
//! sort (and say so), window, limit, rate scale.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::arrivals::ArrivalSpec;
use super::readers::{self, RawRow, RawTrace, ReadOptions};
pub use super::readers::{FailedPolicy, TraceFormat};
use super::{Request, Workload};
use crate::error::{Error, Result};
use crate::rng::{stream_rng, Stream};
use crate::time::SimTime;

fn one() -> f64 {
    1.0
}

/// A trace-backed workload (the scenario's `workload.trace`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// Trace file; relative paths resolve against the current directory, then the scenario's folder.
    pub path: PathBuf,
    /// File format.
    pub format: TraceFormat,
    /// Speed-up of time: 2.0 replays the trace twice as fast (twice the request rate).
    #[serde(default = "one")]
    pub rate_scale: f64,
    /// Keep at most this many requests (after the window).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Window start, seconds after the trace's first request.
    #[serde(default)]
    pub start_s: Option<f64>,
    /// Window end (exclusive), seconds after the trace's first request.
    #[serde(default)]
    pub end_s: Option<f64>,
    /// Count and report malformed lines instead of stopping at the first.
    #[serde(default)]
    pub skip_bad_lines: bool,
    /// BurstGPT: keep only rows whose `Model` is one of these (e.g. `["ChatGPT"]`).
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// BurstGPT: keep only rows whose `Log Type` is one of these (e.g. `["Conversation log"]`).
    #[serde(default)]
    pub log_types: Option<Vec<String>>,
    /// BurstGPT: what to do with failed requests (zero response tokens).
    #[serde(default)]
    pub failed: FailedPolicy,
    /// `lengths` format: the arrival process that gives the rows their times.
    #[serde(default)]
    pub arrivals: Option<ArrivalSpec>,
    /// Closed-loop clients: at most this many requests in flight (as `vllm bench serve
    /// --max-concurrency`); arrival times become the earliest send times.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Drop rows whose prompt is longer than this many tokens (applied before `limit`), as
    /// serving benchmarks do: `vllm bench serve` and `sglang.bench_serving` drop ShareGPT
    /// prompts over 1024 tokens.
    #[serde(default)]
    pub max_input_tokens: Option<u32>,
    /// Drop rows whose prompt plus output is longer than this many tokens (before `limit`); the
    /// benchmarks' ShareGPT sampler drops pairs over 2048.
    #[serde(default)]
    pub max_total_tokens: Option<u32>,
    /// Multiply every prompt and output length by this factor (rounded, at least 1 token),
    /// after the length filters: to give a recorded length distribution another mean.
    #[serde(default = "one")]
    pub length_scale: f64,
    /// Multiply every prompt length by this factor as well (after `length_scale`): for a
    /// benchmark whose prompts and outputs have another ratio than the recorded ones.
    #[serde(default = "one")]
    pub input_length_scale: f64,
    /// Multiply every output length by this factor as well (after `length_scale`).
    #[serde(default = "one")]
    pub output_length_scale: f64,
}

impl TraceSpec {
    /// A spec with default options for `path` in `format`.
    pub fn new(path: impl Into<PathBuf>, format: TraceFormat) -> TraceSpec {
        TraceSpec {
            path: path.into(),
            format,
            rate_scale: 1.0,
            limit: None,
            start_s: None,
            end_s: None,
            skip_bad_lines: false,
            models: None,
            log_types: None,
            failed: FailedPolicy::Drop,
            arrivals: None,
            max_concurrency: None,
            max_input_tokens: None,
            max_total_tokens: None,
            length_scale: 1.0,
            input_length_scale: 1.0,
            output_length_scale: 1.0,
        }
    }

    /// Checks option values (not the file).
    pub fn check(&self, field: &str) -> Result<()> {
        if !(self.rate_scale.is_finite() && self.rate_scale > 0.0 && self.rate_scale <= 1e6) {
            return Err(Error::config(
                format!("{field}.rate_scale"),
                format!(
                    "must be a positive number up to 1e6, got {}",
                    self.rate_scale
                ),
            ));
        }
        for (name, v) in [("start_s", self.start_s), ("end_s", self.end_s)] {
            if let Some(v) = v {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(Error::config(
                        format!("{field}.{name}"),
                        format!("must be a non-negative number of seconds, got {v}"),
                    ));
                }
            }
        }
        if let (Some(a), Some(b)) = (self.start_s, self.end_s) {
            if b <= a {
                return Err(Error::config(
                    format!("{field}.end_s"),
                    format!("must be after start_s ({a}), got {b}"),
                ));
            }
        }
        for (name, v) in [
            ("length_scale", self.length_scale),
            ("input_length_scale", self.input_length_scale),
            ("output_length_scale", self.output_length_scale),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 1e3) {
                return Err(Error::config(
                    format!("{field}.{name}"),
                    format!("must be a positive number up to 1000, got {v}"),
                ));
            }
        }
        for (name, v) in [
            ("max_input_tokens", self.max_input_tokens),
            ("max_total_tokens", self.max_total_tokens),
        ] {
            if v == Some(0) {
                return Err(Error::config(
                    format!("{field}.{name}"),
                    "must be at least 1 token",
                ));
            }
        }
        if self.max_concurrency == Some(0) {
            return Err(Error::config(
                format!("{field}.max_concurrency"),
                "must be at least 1",
            ));
        }
        if self.limit == Some(0) {
            return Err(Error::config(
                format!("{field}.limit"),
                "must be at least 1",
            ));
        }
        match (self.format, &self.arrivals) {
            (TraceFormat::Lengths, None) => {
                return Err(Error::config(
                    format!("{field}.arrivals"),
                    "the `lengths` format has no timestamps: give an arrival process, e.g. {\"kind\": \"poisson\", \"rate_per_s\": 5}",
                ))
            }
            (TraceFormat::Lengths, Some(a)) => a.check(&format!("{field}.arrivals"))?,
            (_, Some(_)) => {
                return Err(Error::config(
                    format!("{field}.arrivals"),
                    "only the `lengths` format takes an arrival process (the others have timestamps)",
                ))
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads the trace at `path` (already resolved) and applies the options. `seed` drives the
    /// synthetic arrivals of the `lengths` format.
    pub fn load(&self, path: &Path, seed: u64) -> Result<Workload> {
        self.check("workload.trace")?;
        let opts = ReadOptions {
            skip_bad_lines: self.skip_bad_lines,
            models: self.models.clone(),
            log_types: self.log_types.clone(),
            failed: self.failed,
            rows: None,
        };
        let raw = readers::read(self.format, path, &opts)?;
        self.apply(path, raw, seed)
    }

    /// Whether a row passes `max_input_tokens` and `max_total_tokens`.
    pub(crate) fn within_lengths(&self, r: &RawRow) -> bool {
        let max_in = self.max_input_tokens.unwrap_or(u32::MAX) as u64;
        let max_total = self.max_total_tokens.unwrap_or(u32::MAX) as u64;
        r.input_tokens as u64 <= max_in
            && r.input_tokens as u64 + r.output_tokens as u64 <= max_total
    }

    /// The note on the rows the length filters dropped.
    pub(crate) fn dropped_note(&self, path: &Path, dropped: u64, before: u64) -> String {
        let limits: Vec<String> = [
            ("max_input_tokens", self.max_input_tokens),
            ("max_total_tokens", self.max_total_tokens),
        ]
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
        .collect();
        format!(
            "{}: dropped {dropped} of {before} rows over {}",
            path.display(),
            limits.join(", ")
        )
    }

    /// Whether the length scales change any length.
    pub(crate) fn scales_lengths(&self) -> bool {
        self.length_scale * self.input_length_scale != 1.0
            || self.length_scale * self.output_length_scale != 1.0
    }

    /// Scales a row's prompt and output lengths (rounded, at least 1 token).
    pub(crate) fn scale_row(&self, r: &mut RawRow) {
        let scale = |t: u32, by: f64| ((t as f64 * by).round() as u32).max(1);
        r.input_tokens = scale(r.input_tokens, self.length_scale * self.input_length_scale);
        r.output_tokens = scale(
            r.output_tokens,
            self.length_scale * self.output_length_scale,
        );
    }

    /// The error for scaling the lengths of a trace whose rows have prefix ids.
    pub(crate) fn prefix_scale_error(&self, path: &Path) -> Error {
        let key = if self.length_scale != 1.0 {
            "length_scale"
        } else if self.input_length_scale != 1.0 {
            "input_length_scale"
        } else {
            "output_length_scale"
        };
        Error::config(
            format!("workload.trace.{key}"),
            format!(
                "{} has prefix ids, which describe the prompts as recorded; scaling the lengths would break them",
                path.display()
            ),
        )
    }

    fn apply(&self, path: &Path, raw: RawTrace, seed: u64) -> Result<Workload> {
        let RawTrace {
            mut rows,
            mut notes,
        } = raw;
        if rows.is_empty() {
            return Err(Error::Input {
                path: path.to_path_buf(),
                msg: "the trace has no requests".into(),
            });
        }
        if self.max_input_tokens.is_some() || self.max_total_tokens.is_some() {
            let before = rows.len();
            rows.retain(|r| self.within_lengths(r));
            notes.push(self.dropped_note(path, (before - rows.len()) as u64, before as u64));
            if rows.is_empty() {
                return Err(Error::Input {
                    path: path.to_path_buf(),
                    msg: "no requests left after max_input_tokens / max_total_tokens".into(),
                });
            }
        }
        if self.scales_lengths() {
            if rows.iter().any(|r| r.prefix.is_some()) {
                return Err(self.prefix_scale_error(path));
            }
            for r in rows.iter_mut() {
                self.scale_row(r);
            }
        }
        if let Some(arr) = &self.arrivals {
            // Length-only rows keep file order; the arrival process gives them times.
            let mut process = arr.build();
            let mut rng = stream_rng(seed, Stream::Arrivals);
            let mut t_s: f64 = 0.0;
            let keep = self.limit.map(|l| l as usize).unwrap_or(rows.len());
            rows.truncate(keep);
            for r in rows.iter_mut() {
                r.t_ns = (t_s * 1e9).round() as i64;
                t_s += process.next_gap_s(t_s, &mut rng);
            }
        } else {
            let out_of_order = rows.windows(2).filter(|w| w[1].t_ns < w[0].t_ns).count();
            if out_of_order > 0 {
                rows.sort_by_key(|r| r.t_ns);
                notes.push(sorted_note(path, out_of_order as u64));
            }
        }
        let t0 = rows[0].t_ns;
        let start_ns = self.start_s.map(|s| (s * 1e9).round() as i64).unwrap_or(0);
        let end_ns = self
            .end_s
            .map(|s| (s * 1e9).round() as i64)
            .unwrap_or(i64::MAX);
        let limit = self.limit.unwrap_or(u64::MAX) as usize;
        let requests: Vec<Request> = rows
            .into_iter()
            .filter(|r| {
                let rel = r.t_ns - t0;
                rel >= start_ns && rel < end_ns
            })
            .take(limit)
            .enumerate()
            .map(|(i, r)| Request {
                id: i as u64,
                arrival: SimTime::from_secs_f64(
                    (r.t_ns - t0 - start_ns) as f64 / 1e9 / self.rate_scale,
                ),
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                prefix: r.prefix,
                session: r.session,
                follows: None,
            })
            .collect();
        if requests.is_empty() {
            return Err(Error::Input {
                path: path.to_path_buf(),
                msg: format!(
                    "no requests left after the time window (start_s {:?}, end_s {:?})",
                    self.start_s, self.end_s
                ),
            });
        }
        Ok(Workload::finish(requests, notes))
    }
}

/// The note on rows put back in time order.
pub(crate) fn sorted_note(path: &Path, out_of_order: u64) -> String {
    format!(
        "{}: {out_of_order} rows had a timestamp earlier than the row before; sorted by timestamp",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::super::readers::test_util::temp_file;
    use super::*;

    fn lengths_spec(path: &Path) -> TraceSpec {
        let mut spec = TraceSpec::new(path, TraceFormat::Lengths);
        spec.arrivals = Some(ArrivalSpec::Constant { rate_per_s: 10.0 });
        spec
    }

    fn lens(w: &Workload) -> Vec<(u32, u32)> {
        w.requests
            .iter()
            .map(|r| (r.input_tokens, r.output_tokens))
            .collect()
    }

    #[test]
    fn length_filters_apply_before_limit_and_scale_after() {
        let f = temp_file(
            ".csv",
            "num_prefill_tokens,num_decode_tokens\n100,100\n2000,10\n1000,1100\n300,50\n10,3\n",
        );
        let mut spec = lengths_spec(f.path());
        spec.max_input_tokens = Some(1024);
        spec.max_total_tokens = Some(2048);
        spec.limit = Some(2);
        spec.length_scale = 0.5;
        let w = spec.load(f.path(), 1).unwrap();
        // Rows 2 (prompt over 1024) and 3 (total over 2048) are dropped, then two kept and halved.
        assert_eq!(lens(&w), vec![(50, 50), (150, 25)]);
        assert!(
            w.notes.iter().any(|n| n.contains("dropped 2 of 5")),
            "{:?}",
            w.notes
        );
        // A scaled length never reaches zero.
        spec.limit = None;
        spec.length_scale = 0.1;
        let w = spec.load(f.path(), 1).unwrap();
        assert_eq!(w.requests[2].output_tokens, 1);
        // Prompts and outputs scaled apart, each on top of length_scale.
        spec.length_scale = 0.5;
        spec.input_length_scale = 3.0;
        spec.output_length_scale = 0.2;
        let w = spec.load(f.path(), 1).unwrap();
        assert_eq!(lens(&w), vec![(150, 10), (450, 5), (15, 1)]);
    }

    #[test]
    fn bad_length_options_are_refused() {
        let f = temp_file(".csv", "num_prefill_tokens,num_decode_tokens\n100,100\n");
        let mut spec = lengths_spec(f.path());
        spec.length_scale = 0.0;
        let e = spec.load(f.path(), 1).unwrap_err().to_string();
        assert!(e.contains("length_scale"), "{e}");
        spec.length_scale = 1.0;
        spec.output_length_scale = f64::NAN;
        let e = spec.load(f.path(), 1).unwrap_err().to_string();
        assert!(e.contains("output_length_scale"), "{e}");
        spec.output_length_scale = 1.0;
        // Traces with prefix ids refuse every length scale, naming the key that was set.
        let m = temp_file(
            ".jsonl",
            "{\"timestamp\": 0, \"input_length\": 1024, \"output_length\": 10, \"hash_ids\": [1, 2]}\n",
        );
        let mut ms = TraceSpec::new(m.path(), TraceFormat::Mooncake);
        ms.input_length_scale = 2.0;
        let e = ms.load(m.path(), 1).unwrap_err().to_string();
        assert!(
            e.contains("input_length_scale") && e.contains("prefix ids"),
            "{e}"
        );
        spec.max_input_tokens = Some(50);
        let e = spec.load(f.path(), 1).unwrap_err().to_string();
        assert!(e.contains("no requests left"), "{e}");
        spec.max_input_tokens = Some(0);
        let e = spec.load(f.path(), 1).unwrap_err().to_string();
        assert!(e.contains("max_input_tokens"), "{e}");
    }
}
