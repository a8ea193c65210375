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
    t
}
