//! Exporters: summary.json, requests.csv, sweep files, text and Markdown tables, charts
//! ([`charts`]) and the self-contained report.html ([`html`]). One writer per format; column
//! order is fixed.

pub mod charts;
pub mod html;
pub mod table;
pub mod validation;
pub mod views;

pub use table::Table;
pub use views::{run_tables, sweep_tables};

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::metrics::{RequestRecord, Status, Summary};
use crate::workload::Request;

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// Writes summary.json (pretty-printed, trailing newline).
pub fn write_summary_json(path: &Path, summary: &Summary) -> Result<()> {
    let mut text = serde_json::to_string_pretty(summary)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    text.push('\n');
    std::fs::write(path, text).map_err(io(path))
}

/// Columns of requests.csv.
pub const REQUESTS_CSV_HEADER: &str = "id,arrival_s,scheduled_s,first_token_s,finish_s,input_tokens,output_tokens,cached_tokens,generated_tokens,preemptions,replica,status";

/// Writes `t` in seconds with nine decimals (its nanoseconds exactly), or nothing.
fn write_s(w: &mut impl Write, t: Option<crate::time::SimTime>) -> std::io::Result<()> {
    match t {
        // The same text as `{:.9}` of the seconds as f64 for any time below 2^52 ns (52
        // days), where that f64 is within half a nanosecond; exact beyond.
        Some(t) => {
            let ns = t.as_nanos();
            write!(w, "{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
        }
        None => Ok(()),
    }
}

/// requests.csv, written a row at a time (a streamed run writes each request as it finishes).
#[derive(Debug)]
pub struct RequestsCsv {
    path: std::path::PathBuf,
    w: std::io::BufWriter<std::fs::File>,
}

impl RequestsCsv {
    /// Creates the file and writes its header.
    pub fn create(path: &Path) -> Result<RequestsCsv> {
        let f = std::fs::File::create(path).map_err(io(path))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
        writeln!(w, "{REQUESTS_CSV_HEADER}").map_err(io(path))?;
        Ok(RequestsCsv {
            path: path.to_path_buf(),
            w,
        })
    }

    /// One request's row (none for a request that never arrived).
    pub fn row(&mut self, req: &Request, r: &RequestRecord) -> Result<()> {
        let status = match r.status {
            Status::Pending => return Ok(()),
            Status::InFlight => "unfinished",
            Status::Completed => "completed",
            Status::Rejected(why) => why.as_str(),
            Status::Spilled => "spilled",
        };
        let w = &mut self.w;
        (|| -> std::io::Result<()> {
            write!(w, "{},", req.id)?;
            write_s(w, Some(r.arrival))?;
            w.write_all(b",")?;
            write_s(w, r.scheduled)?;
            w.write_all(b",")?;
            write_s(w, r.first_token)?;
            w.write_all(b",")?;
            write_s(w, r.finish)?;
            write!(
                w,
                ",{},{},{},{},{},",
                req.input_tokens, req.output_tokens, r.cached_tokens, r.generated, r.preemptions
            )?;
            if r.replica != u32::MAX {
                // Empty for a request no replica served (spilled to an API, or still waiting
                // for a replica at the horizon).
                write!(w, "{}", r.replica)?;
            }
            writeln!(w, ",{status}")
        })()
        .map_err(io(&self.path))
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<()> {
        self.w.flush().map_err(io(&self.path))
    }
}

/// Writes requests.csv: one row per request that arrived.
pub fn write_requests_csv(
    path: &Path,
    requests: &[Request],
    records: &[RequestRecord],
) -> Result<()> {
    let mut csv = RequestsCsv::create(path)?;
    for (req, r) in requests.iter().zip(records) {
        csv.row(req, r)?;
    }
    csv.finish()
}

/// Where a sweep writes its results.
#[derive(Debug)]
pub struct SweepFiles {
    /// sweep.json: one object per point.
    pub json: std::path::PathBuf,
    /// sweep.csv: the same, flattened.
    pub csv: std::path::PathBuf,
    /// smallest_fleets.json: the smallest SLO-meeting fleet per group.
    pub smallest: std::path::PathBuf,
}

impl SweepFiles {
    /// The files in `dir`.
    pub fn new(dir: &Path) -> SweepFiles {
        SweepFiles {
            json: dir.join("sweep.json"),
            csv: dir.join("sweep.csv"),
            smallest: dir.join("smallest_fleets.json"),
        }
    }
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader (or a crash)
/// never sees half a file.
fn write_atomic(path: &Path, text: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn to_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<String> {
    let mut s =
        serde_json::to_string_pretty(v).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    s.push('\n');
    Ok(s)
}

/// A text cell as a spreadsheet will not evaluate it: text starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return (a formula to Excel, LibreOffice and Sheets) gets a leading `'`.
/// For cells that come from user strings (names, ids), never for numbers.
pub fn spreadsheet_safe(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

/// Flattens a JSON value into dotted columns; lists of objects with a `name` are keyed by it.
pub fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&key(k), x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let name = x
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string());
                flatten(&key(&name), x, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(s) => out.push((prefix.to_string(), spreadsheet_safe(s))),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Writes sweep.json, sweep.csv and smallest_fleets.json for the points finished so far (in
/// input order). Columns of sweep.csv are every key of every point, in order of first
/// appearance, so the column order depends only on the results.
pub fn write_sweep_files(
    files: &SweepFiles,
    points: &[&crate::sweep::PointResult],
    smallest: &[crate::sweep::SmallestFleet],
) -> Result<()> {
    write_atomic(&files.json, to_json(&files.json, &points)?.as_bytes())?;
    write_atomic(
        &files.smallest,
        to_json(&files.smallest, &smallest)?.as_bytes(),
    )?;
    let rows: Vec<Vec<(String, String)>> = points
        .iter()
        .map(|p| {
            let v = serde_json::to_value(p).unwrap_or(serde_json::Value::Null);
            let mut row = Vec::new();
            flatten("", &v, &mut row);
            row
        })
        .collect();
    let mut columns: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        for (k, _) in row {
            if seen.insert(k.clone()) {
                columns.push(k.clone());
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| Error::io(&files.csv, std::io::Error::other(e));
    w.write_record(columns.iter().map(|c| spreadsheet_safe(c)))
        .map_err(csv_err)?;
    for row in &rows {
        let map: std::collections::HashMap<&str, &str> =
            row.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        w.write_record(
            columns
                .iter()
                .map(|c| map.get(c.as_str()).copied().unwrap_or("")),
        )
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::io(&files.csv, std::io::Error::other(e.to_string())))?;
    write_atomic(&files.csv, &bytes)
}

/// Writes the timeline as CSV: one row per bin. `replicas` divides the running sequences;
/// `fleet_capacity_per_s` (the fleet's capacity for this workload, requests per second) gives
/// each bin's utilization, arrivals over capacity (empty when unknown).
pub fn write_timeline_csv(
    path: &Path,
    t: &crate::metrics::Timeline,
    replicas: u32,
    fleet_capacity_per_s: Option<f64>,
) -> Result<()> {
    let mut out = String::from(
        "start_s,arrivals_per_s,busy_replicas,queued,kv_used_pct,running_seqs_per_replica,utilization\n",
    );
    for i in 0..t.arrivals_per_s.len() {
        let util = match fleet_capacity_per_s {
            Some(c) if c > 0.0 => format!("{:.4}", t.arrivals_per_s[i] / c),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:.3},{:.4},{:.4},{:.4},{:.3},{:.3},{util}\n",
            i as f64 * t.bin_s,
            t.arrivals_per_s[i],
            t.busy_replicas[i],
            t.queued[i],
            t.kv_used_pct[i],
            t.running_seqs[i] / replicas.max(1) as f64,
        ));
    }
    std::fs::write(path, out).map_err(io(path))
}

/// Pretty JSON of `v` without null fields (unset options), as shown in report.html.
pub fn json_without_nulls<T: serde::Serialize>(v: &T) -> String {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    strip(&mut v);
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Writes pools_timeline.csv: per bin, offered and spilled requests per second, and per pool
/// the mean replicas provisioned and serving and the cold starts begun.
pub fn write_pool_timeline_csv(path: &Path, t: &crate::metrics::PoolTimeline) -> Result<()> {
    let mut out = String::from("start_s,offered_per_s,spilled_per_s");
    for p in &t.pools {
        let p = spreadsheet_safe(p);
        out.push_str(&format!(",{p}_provisioned,{p}_serving,{p}_cold_starts"));
    }
    out.push('\n');
    for k in 0..t.offered_per_s.len() {
        out.push_str(&format!(
            "{:.3},{:.4},{:.4}",
            k as f64 * t.bin_s,
            t.offered_per_s[k],
            t.spilled_per_s[k]
        ));
        for p in 0..t.pools.len() {
            out.push_str(&format!(
                ",{:.3},{:.3},{}",
                t.provisioned[p][k], t.active[p][k], t.cold_starts[p][k]
            ));
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(io(path))
}
