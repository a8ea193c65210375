//! Exporters: summary.json, requests.csv and the text table printed after a run. One writer per
//! format; column order is fixed.

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

fn opt_s(t: Option<crate::time::SimTime>) -> String {
    t.map(|t| format!("{:.9}", t.as_secs_f64()))
        .unwrap_or_default()
}

/// Writes requests.csv: one row per request that arrived.
pub fn write_requests_csv(
    path: &Path,
    requests: &[Request],
    records: &[RequestRecord],
) -> Result<()> {
    let f = std::fs::File::create(path).map_err(io(path))?;
    let mut w = std::io::BufWriter::new(f);
    writeln!(w, "{REQUESTS_CSV_HEADER}").map_err(io(path))?;
    for (req, r) in requests.iter().zip(records) {
        let status = match r.status {
            Status::Pending => continue,
            Status::InFlight => "unfinished",
            Status::Completed => "completed",
            Status::Rejected(why) => why.as_str(),
        };
        writeln!(
            w,
            "{},{:.9},{},{},{},{},{},{},{},{},{},{}",
            req.id,
            r.arrival.as_secs_f64(),
            opt_s(r.scheduled),
            opt_s(r.first_token),
            opt_s(r.finish),
            req.input_tokens,
            req.output_tokens,
            r.cached_tokens,
            r.generated,
            r.preemptions,
            r.replica,
            status
        )
        .map_err(io(path))?;
    }
    w.flush().map_err(io(path))
}

/// The short table printed after `fleetsim run`.
pub fn summary_table(s: &Summary) -> String {
    let mut t = String::new();
    let st = &s.setup;
    t += &format!(
        "{} ({}) on {} x {} (tp {}), max_num_seqs {}, max_num_batched_tokens {}\n",
        st.model,
        st.precision,
        st.replicas,
        st.gpu,
        st.tp,
        st.max_num_seqs,
        st.max_num_batched_tokens
    );
    t += &format!(
        "requests: {} arrived, {} completed, {} rejected, {} unfinished; {} preemptions\n",
        s.requests.arrived,
        s.requests.completed,
        s.requests.rejected,
        s.requests.unfinished,
        s.preemptions
    );
    t += &format!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "latency", "mean", "p50", "p90", "p99", "max"
    );
    for (name, d) in [
        ("ttft_s", &s.latency.ttft_s),
        ("tpot_s", &s.latency.tpot_s),
        ("itl_s", &s.latency.itl_s),
        ("e2e_s", &s.latency.e2e_s),
        ("queue_s", &s.latency.queue_s),
    ] {
        t += &format!(
            "{:<10} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>10.4}\n",
            name, d.mean, d.p50, d.p90, d.p99, d.max
        );
    }
    t += &format!(
        "throughput: {:.2} req/s, {:.0} input tok/s, {:.0} output tok/s over {:.1} s simulated\n",
        s.throughput.requests_per_s,
        s.throughput.input_tokens_per_s,
        s.throughput.output_tokens_per_s,
        s.sim.simulated_s
    );
    if s.prefix_cache.enabled {
        t += &format!(
            "prefix cache: {:.1}% of prompt tokens hit ({} of {}), {} blocks evicted\n",
            100.0 * s.prefix_cache.hit_rate,
            s.prefix_cache.hit_tokens,
            s.prefix_cache.prompt_tokens,
            s.prefix_cache.evicted_blocks
        );
    }
    t += &format!(
        "gpus: {} busy {:.1}%; kv: {} blocks ({} tokens), peak {:.1}% used\n",
        s.gpu.count,
        100.0 * s.gpu.busy_fraction,
        s.kv.capacity_blocks,
        s.kv.capacity_tokens,
        100.0 * s.kv.peak_used_fraction
    );
    if let Some(slo) = &s.slo {
        t += &format!(
            "slo: {:.2}% of requests met every target (need {}%): {}; goodput {:.2} req/s\n",
            100.0 * slo.attainment,
            slo.percentile,
            if slo.met { "met" } else { "MISSED" },
            slo.goodput_per_s
        );
    }
    if let Some(c) = &s.cost {
        t += &format!(
            "cost: ${:.2} over {:.2} h simulated (GPUs ${:.2}, of which idle ${:.2}; ops ${:.2}; safety ${:.2}); ${:.3} per million tokens\n",
            c.total_usd, c.span_hours, c.gpu_usd, c.idle_gpu_usd, c.ops_usd, c.safety_usd, c.per_million_tokens_usd
        );
        t += &format!(
            "per month (730 h at this rate): self-hosted ${:.0} ({} GPUs at ${}/h, {} {})",
            c.per_month_usd,
            s.gpu.count,
            c.gpu_usd_per_hour,
            c.gpu_price_provider,
            c.gpu_price_plan
        );
        for a in &c.api {
            t += &format!("; {} ${:.0}", a.name, a.per_month_usd);
        }
        t += &format!("\ncheapest: {}\n", c.cheapest);
    }
    t
}

/// Where a sweep writes its results.
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
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
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
    w.write_record(&columns).map_err(csv_err)?;
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

/// The table printed after a sweep.
pub fn sweep_table(
    results: &[crate::sweep::PointResult],
    smallest: &[crate::sweep::SmallestFleet],
    slo: Option<&crate::metrics::SloSpec>,
) -> String {
    let mut t = format!(
        "{:>4} {:<10} {:<18} {:>8} {:>10} {:>10} {:>7} {:>9} {:>11} {:>11}  {}\n",
        "reps",
        "gpu",
        "router",
        "scale",
        "p99 ttft",
        "p99 tpot",
        "busy %",
        "slo %",
        "$/month",
        "$/Mtok",
        "cheapest"
    );
    for r in results {
        let a = &r.axes;
        match &r.summary {
            None => {
                t += &format!(
                    "{:>4} {:<10} {:<18} {:>8} failed: {}\n",
                    a.replicas,
                    a.gpu,
                    a.router.name(),
                    a.rate_scale,
                    r.error.as_deref().unwrap_or("")
                );
            }
            Some(s) => {
                let slo_pct = s.slo.as_ref().map(|x| {
                    format!(
                        "{:.2}{}",
                        100.0 * x.attainment,
                        if x.met { "" } else { "!" }
                    )
                });
                let (month, mtok, cheapest) = match &s.cost {
                    Some(c) => (
                        format!("{:.0}", c.per_month_usd),
                        format!("{:.3}", c.per_million_tokens_usd),
                        c.cheapest.clone(),
                    ),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                t += &format!(
                    "{:>4} {:<10} {:<18} {:>8} {:>10.3} {:>10.4} {:>7.1} {:>9} {:>11} {:>11}  {}\n",
                    a.replicas,
                    a.gpu,
                    a.router.name(),
                    a.rate_scale,
                    s.latency.ttft_s.p99,
                    s.latency.tpot_s.p99,
                    100.0 * s.gpu.busy_fraction,
                    slo_pct.unwrap_or_else(|| "-".into()),
                    month,
                    mtok,
                    cheapest
                );
            }
        }
    }
    if let Some(slo) = slo {
        let mut targets = Vec::new();
        if let Some(x) = slo.ttft_s {
            targets.push(format!("TTFT <= {x} s"));
        }
        if let Some(x) = slo.tpot_s {
            targets.push(format!("TPOT <= {x} s"));
        }
        if let Some(x) = slo.e2e_s {
            targets.push(format!("E2E <= {x} s"));
        }
        t += &format!(
            "SLO: {}% of requests with {} ('!' marks a miss)\n",
            slo.percentile,
            targets.join(" and ")
        );
        for b in smallest {
            let head = format!(
                "{} / {} / rate x{}{}",
                b.gpu,
                b.router.name(),
                b.rate_scale,
                b.max_num_seqs
                    .map(|m| format!(" / max_num_seqs {m}"))
                    .unwrap_or_default()
            );
            match b.replicas {
                Some(n) => {
                    t += &format!(
                    "smallest fleet meeting the SLO for {head}: {n} replica(s), ${:.0}/month{}\n",
                    b.per_month_usd.unwrap_or(0.0),
                    match (b.next_smaller_replicas, b.next_smaller_attainment) {
                        (Some(m), Some(a)) => format!(" ({m} would reach {:.2}%)", 100.0 * a),
                        _ => String::new(),
                    }
                )
                }
                None => t += &format!("no fleet in the sweep meets the SLO for {head}\n"),
            }
        }
    }
    t
}
