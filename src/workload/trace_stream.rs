//! Traces read as streams (`fleetsim run --stream`): a reader thread parses the file into a
//! bounded channel, and the rows go through the same filters, scales, sorting (within a window),
//! time window, limit and rate scale as [`TraceSpec::load`]'s, one at a time.

use std::path::{Path, PathBuf};

use super::readers::{self, RawRow, ReadOptions};
use super::trace::TraceSpec;
use super::Request;
use crate::error::{Error, Result};
use crate::rng::{stream_rng, Stream};
use crate::time::SimTime;

impl TraceSpec {
    /// The requests [`TraceSpec::load`] gives, one at a time, for a streamed run: a thread
    /// parses the file into a bounded channel, and rows out of time order are put back in
    /// order within a window of [`REORDER_ROWS`] rows (a row further out of order is an error
    /// that says how to sort the file). Memory does not grow with the trace.
    pub fn stream(&self, path: &Path, seed: u64) -> Result<TraceStream> {
        self.check("workload.trace")?;
        let (tx, rx) = std::sync::mpsc::sync_channel(4096);
        let opts = ReadOptions {
            skip_bad_lines: self.skip_bad_lines,
            models: self.models.clone(),
            log_types: self.log_types.clone(),
            failed: self.failed,
            rows: Some(tx),
        };
        let (format, file) = (self.format, path.to_path_buf());
        let reader =
            std::thread::spawn(move || readers::read(format, &file, &opts).map(|t| t.notes));
        Ok(TraceStream {
            spec: self.clone(),
            path: path.to_path_buf(),
            rx: Some(rx),
            reader: Some(reader),
            heap: std::collections::BinaryHeap::new(),
            seq: 0,
            last_emitted: None,
            t0: None,
            arrivals: self
                .arrivals
                .as_ref()
                .map(|a| (a.build(), stream_rng(seed, Stream::Arrivals), 0.0)),
            kept_rows: 0,
            read_rows: 0,
            prev_t: None,
            out_of_order: 0,
            notes: Vec::new(),
            next_id: 0,
            failed: false,
        })
    }
}

/// Rows a streamed trace may be out of time order by and still be put in order.
pub const REORDER_ROWS: usize = 1 << 16;

/// A row waiting in the reorder window: earliest time first, then file order.
struct Pending(i64, u64, RawRow);

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.0, o.1).cmp(&(self.0, self.1))
    }
}

/// A trace's requests, one at a time (see [`TraceSpec::stream`]).
pub struct TraceStream {
    spec: TraceSpec,
    path: PathBuf,
    rx: Option<std::sync::mpsc::Receiver<RawRow>>,
    reader: Option<std::thread::JoinHandle<Result<Vec<String>>>>,
    heap: std::collections::BinaryHeap<Pending>,
    seq: u64,
    last_emitted: Option<i64>,
    t0: Option<i64>,
    /// `lengths` format: the arrival process giving rows their times, its stream and time.
    arrivals: Option<(
        Box<dyn super::arrivals::ArrivalProcess>,
        rand::rngs::StdRng,
        f64,
    )>,
    /// Rows kept by the length filters so far.
    kept_rows: u64,
    next_id: u64,
    failed: bool,
    /// Rows from the reader, before the length filters.
    read_rows: u64,
    /// The previous kept row's timestamp in file order, and how many rows came earlier than it.
    prev_t: Option<i64>,
    out_of_order: u64,
    /// What the in-memory path would note (skipped lines, dropped rows, rows re-sorted), once
    /// the file is read.
    notes: Vec<String>,
}

impl std::fmt::Debug for TraceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceStream")
            .field("path", &self.path)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl TraceStream {
    /// What reading the file noted (as the in-memory path notes it): complete once the stream
    /// has ended; a stream stopped early (a `limit` or `end_s`) notes only what it read.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The next row from the reader after the length filters and scales, in file order; at
    /// the end, the reader's error if it failed.
    fn next_row(&mut self) -> Result<Option<RawRow>> {
        loop {
            let Some(rx) = &self.rx else { return Ok(None) };
            match rx.recv() {
                Ok(mut r) => {
                    self.read_rows += 1;
                    if !self.spec.within_lengths(&r) {
                        continue;
                    }
                    if self.spec.scales_lengths() {
                        if r.prefix.is_some() {
                            return Err(self.spec.prefix_scale_error(&self.path));
                        }
                        self.spec.scale_row(&mut r);
                    }
                    self.kept_rows += 1;
                    if self.prev_t.is_some_and(|p| r.t_ns < p) {
                        self.out_of_order += 1;
                    }
                    self.prev_t = Some(r.t_ns);
                    return Ok(Some(r));
                }
                Err(_) => {
                    self.rx = None;
                    if let Some(h) = self.reader.take() {
                        match h.join() {
                            Ok(r) => self.notes = r?,
                            Err(_) => {
                                return Err(Error::Input {
                                    path: self.path.clone(),
                                    msg: "the trace reader stopped unexpectedly".into(),
                                })
                            }
                        }
                    }
                    let s = &self.spec;
                    if s.max_input_tokens.is_some() || s.max_total_tokens.is_some() {
                        let dropped = self.read_rows - self.kept_rows;
                        self.notes
                            .push(s.dropped_note(&self.path, dropped, self.read_rows));
                    }
                    if self.out_of_order > 0 && self.arrivals.is_none() {
                        self.notes
                            .push(super::trace::sorted_note(&self.path, self.out_of_order));
                    }
                    if self.kept_rows == 0 {
                        return Err(Error::Input {
                            path: self.path.clone(),
                            msg: if self.spec.max_input_tokens.is_some()
                                || self.spec.max_total_tokens.is_some()
                            {
                                "no requests left after max_input_tokens / max_total_tokens".into()
                            } else {
                                "the trace has no requests".into()
                            },
                        });
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// The next row in time order (file order for timeless rows given an arrival process).
    fn next_sorted(&mut self) -> Result<Option<RawRow>> {
        if self.arrivals.is_some() {
            // As in memory: `limit` applies before the arrival process gives the rows times.
            if self.spec.limit.is_some_and(|l| self.kept_rows >= l) {
                return Ok(None);
            }
            let Some(mut r) = self.next_row()? else {
                return Ok(None);
            };
            let (process, rng, t_s) = self.arrivals.as_mut().expect("checked");
            r.t_ns = (*t_s * 1e9).round() as i64;
            *t_s += process.next_gap_s(*t_s, rng);
            return Ok(Some(r));
        }
        while self.heap.len() < REORDER_ROWS {
            let Some(r) = self.next_row()? else { break };
            if let Some(last) = self.last_emitted {
                if r.t_ns < last {
                    return Err(Error::Input {
                        path: self.path.clone(),
                        msg: format!(
                            "row {} has a timestamp earlier than rows {} or more rows before it: a streamed trace must be in time order up to {} rows; sort the file by time first (e.g. `sort -t, -k1,1` after its header for CSV) or run without --stream",
                            self.seq + 1,
                            REORDER_ROWS,
                            REORDER_ROWS
                        ),
                    });
                }
            }
            self.heap.push(Pending(r.t_ns, self.seq, r));
            self.seq += 1;
        }
        Ok(self.heap.pop().map(|Pending(t, _, r)| {
            self.last_emitted = Some(t);
            r
        }))
    }

    fn next_request(&mut self) -> Result<Option<Request>> {
        loop {
            if self.spec.limit.is_some_and(|l| self.next_id >= l) {
                return Ok(None);
            }
            let Some(r) = self.next_sorted()? else {
                return Ok(None);
            };
            let t0 = *self.t0.get_or_insert(r.t_ns);
            let start_ns = self
                .spec
                .start_s
                .map(|s| (s * 1e9).round() as i64)
                .unwrap_or(0);
            let end_ns = self
                .spec
                .end_s
                .map(|s| (s * 1e9).round() as i64)
                .unwrap_or(i64::MAX);
            let rel = r.t_ns - t0;
            if rel < start_ns {
                continue;
            }
            if rel >= end_ns {
                // In time order, nothing later is inside the window.
                return Ok(None);
            }
            let id = self.next_id;
            self.next_id += 1;
            return Ok(Some(Request {
                id,
                arrival: SimTime::from_secs_f64(
                    (r.t_ns - t0 - start_ns) as f64 / 1e9 / self.spec.rate_scale,
                ),
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                prefix: r.prefix,
                session: r.session,
                follows: None,
            }));
        }
    }
}

impl Iterator for TraceStream {
    type Item = Result<Request>;

    fn next(&mut self) -> Option<Result<Request>> {
        if self.failed {
            return None;
        }
        match self.next_request() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
