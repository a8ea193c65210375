//! Streamed runs (`fleetsim run --stream`): the same simulation as in memory, with requests kept
//! only while in flight.

use std::path::Path;

use serde_json::Value;

use crate::util::{fleetsim, root, stderr, write};

/// Runs `scenario` both ways into `dir` and returns (in memory, streamed) summaries; asserts
/// requests.csv is byte-identical.
fn both(dir: &Path, scenario: &str) -> (Value, Value) {
    let mut out = Vec::new();
    for (name, extra) in [("mem", None), ("stream", Some("--stream"))] {
        let o = dir.join(name);
        let mut args = vec![
            "run",
            scenario,
            "--out",
            o.to_str().unwrap(),
            "-q",
            "--no-charts",
        ];
        args.extend(extra);
        let r = fleetsim(&args);
        assert!(r.status.success(), "{name}: {}", stderr(&r));
        out.push(serde_json::from_slice(&std::fs::read(o.join("summary.json")).unwrap()).unwrap());
    }
    assert_eq!(
        std::fs::read(dir.join("mem/requests.csv")).unwrap(),
        std::fs::read(dir.join("stream/requests.csv")).unwrap(),
        "requests.csv differs"
    );
    let stream = out.pop().unwrap();
    (out.pop().unwrap(), stream)
}

/// Counts, throughput, simulation totals, capacity, cost and SLO verdicts are the same; latency
/// percentiles within 0.1% (histogram buckets), means within 1e-12 relative.
fn assert_agree(a: &Value, b: &Value) {
    for k in [
        "requests",
        "throughput",
        "sim",
        "gpu",
        "kv",
        "preemptions",
        "prefix_cache",
        "capacity",
        "stability",
        "setup",
    ] {
        assert_eq!(a[k], b[k], "{k}");
    }
    assert_eq!(a["slo"]["met"], b["slo"]["met"]);
    assert_eq!(a["slo"]["requests_meeting"], b["slo"]["requests_meeting"]);
    assert_eq!(a["latency"]["itl_s"], b["latency"]["itl_s"]);
    for m in ["ttft_s", "tpot_s", "e2e_s", "queue_s"] {
        let (x, y) = (&a["latency"][m], &b["latency"][m]);
        assert_eq!(x["samples"], y["samples"], "{m}");
        assert_eq!(x["max"], y["max"], "{m}.max");
        let mean = (x["mean"].as_f64().unwrap(), y["mean"].as_f64().unwrap());
        assert!(
            (mean.0 - mean.1).abs() <= 1e-12 * mean.0.abs(),
            "{m}.mean {mean:?}"
        );
        for p in ["p50", "p90", "p95", "p99"] {
            let (u, v) = (x[p].as_f64().unwrap(), y[p].as_f64().unwrap());
            assert!(
                (u - v).abs() <= 1e-3 * u.abs() + 1e-9,
                "{m}.{p}: {u} vs {v}"
            );
        }
    }
}

#[test]
fn a_streamed_run_simulates_exactly_what_an_in_memory_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A trace with an SLO and a price, a synthetic workload with shared prefixes (prefix
    // caching and capacity sampling of the first requests), a router on 3 replicas.
    let trace = write(
        d,
        "trace.json",
        &format!(
            r#"{{"seed": 3, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"trace": {{"path": "{}/traces/azure-llm-2023/AzureLLMInferenceTrace_code.csv",
                                    "format": "azure", "rate_scale": 2.0, "limit": 6000}}}},
            "fleet": {{"replicas": 2, "router": "least-outstanding"}},
            "slo": {{"percentile": 90, "ttft_s": 1.0, "tpot_s": 0.05}},
            "cost": {{"pricing": "on-demand"}}}}"#,
            root().display()
        ),
    );
    let synth = write(
        d,
        "synth.json",
        r#"{"seed": 5, "model": "llama-3.1-8b", "gpu": "a100-80gb",
        "workload": {"synthetic": {"requests": 7000,
            "arrivals": {"kind": "poisson", "rate_per_s": 40},
            "input_tokens": {"kind": "uniform", "min": 100, "max": 3000},
            "output_tokens": {"kind": "uniform", "min": 1, "max": 400},
            "prefix": {"kind": "system_prompts", "count": 20,
                       "tokens": {"kind": "fixed", "value": 1024}, "zipf_s": 1.1}}},
        "fleet": {"replicas": 3, "router": "prefix-affinity"},
        "slo": {"percentile": 99, "ttft_s": 2.0}}"#,
    );
    for (name, s) in [("trace", &trace), ("synth", &synth)] {
        let dir = d.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = both(&dir, s.as_str());
        assert!(
            a["requests"]["completed"].as_u64().unwrap() > 1000,
            "{name}"
        );
        assert_agree(&a, &b);
        assert!(
            b["band"].is_object(),
            "{name}: the band is made streamed too"
        );
    }
}

#[test]
fn a_streamed_run_holds_only_what_is_in_flight() {
    use fleetsim::fleet::stream::StreamSimulation;
    use fleetsim::scenario::Scenario;
    // 300,000 requests at about 80% of one H100's capacity: the window stays far below them.
    let s = Scenario::from_json(
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
        "workload": {"synthetic": {"requests": 300000,
            "arrivals": {"kind": "poisson", "rate_per_s": 57.69},
            "input_tokens": {"kind": "fixed", "value": 512},
            "output_tokens": {"kind": "fixed", "value": 128}}}}"#,
        Path::new("<test>"),
    )
    .unwrap();
    let streamed = s.stream(&root()).unwrap();
    assert_eq!(streamed.requests, 300_000);
    let mut seen = 0u64;
    let run = streamed
        .run(&streamed.spec, None, &mut |req, _| {
            assert_eq!(req.id, seen, "handed out in id order");
            seen += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, 300_000);
    assert_eq!(run.summary.requests.completed, 300_000);
    assert!(
        run.peak_window < 20_000,
        "held {} requests at once",
        run.peak_window
    );
    let _ = StreamSimulation::new; // the public entry point the scenario uses
}

#[test]
fn a_trace_out_of_order_within_the_window_streams_as_sorted_and_beyond_it_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // 3,000 rows a second apart, every tenth pair swapped: the in-memory path sorts them.
    let mut rows = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    let ts = |i: u64| {
        format!(
            "2023-11-16 {:02}:{:02}:{:02}.5",
            i / 3600,
            i / 60 % 60,
            i % 60
        )
    };
    for i in 0..3000u64 {
        let j = if i % 10 == 1 {
            i - 1
        } else if i % 10 == 0 {
            i + 1
        } else {
            i
        };
        rows.push_str(&format!("{},{},{}\n", ts(j), 100 + i % 700, 1 + i % 90));
    }
    write(d, "swapped.csv", &rows);
    let scen = write(
        d,
        "s.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm",
        "workload": {"trace": {"path": "swapped.csv", "format": "azure", "rate_scale": 5}}}"#,
    );
    let (a, b) = both(d, &scen);
    assert_eq!(a["requests"]["arrived"], 3000);
    assert_agree(&a, &b);
    // Both say what they did to the file, in the same words.
    let notes = |extra: Option<&str>| {
        let out = d.join("notes-out");
        let mut args = vec![
            "run",
            scen.as_str(),
            "--out",
            out.to_str().unwrap(),
            "-q",
            "--no-charts",
        ];
        args.extend(extra);
        let o = fleetsim(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let (mem, streamed) = (notes(None), notes(Some("--stream")));
    assert!(
        mem.contains("300 rows had a timestamp earlier than the row before; sorted by timestamp"),
        "{mem}"
    );
    assert_eq!(mem, streamed);

    // A row 70,000 rows too late cannot be put back in order by a bounded window.
    let mut rows = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    for i in 1..=70_000u64 {
        rows.push_str(&format!("{},100,10\n", ts(i)));
    }
    rows.push_str(&format!("{},100,10\n", ts(0)));
    write(d, "late.csv", &rows);
    let late = write(
        d,
        "late.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm",
        "workload": {"trace": {"path": "late.csv", "format": "azure"}}}"#,
    );
    let out = d.join("late-out");
    let o = fleetsim(&[
        "run",
        &late,
        "--out",
        out.to_str().unwrap(),
        "--stream",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("late.csv") && e.contains("sort"), "{e}");
    // In memory, the same file is sorted (and says so).
    let o = fleetsim(&[
        "run",
        &late,
        "--out",
        out.to_str().unwrap(),
        "-q",
        "--no-requests",
        "--no-charts",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn what_cannot_be_streamed_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let base = r#""model": "llama-3.1-8b", "gpu": "h100-sxm""#;
    let synth = |extra: &str| {
        format!(
            r#"{{"synthetic": {{"requests": 50, "arrivals": {{"kind": "poisson", "rate_per_s": 5}},
            "input_tokens": {{"kind": "fixed", "value": 100}},
            "output_tokens": {{"kind": "fixed", "value": 10}}{extra}}}}}"#
        )
    };
    let cases = [
        (
            format!(
                r#"{{{base}, "workload": {}}}"#,
                synth(
                    r#", "prefix": {"kind": "sessions", "turns": {"kind": "fixed", "value": 3}, "think_time_s": 5}"#
                )
            ),
            "workload.synthetic.prefix",
        ),
        (
            format!(
                r#"{{{base}, "workload": {}}}"#,
                synth(r#", "max_concurrency": 4"#)
            ),
            "max_concurrency",
        ),
        (
            format!(
                r#"{{{base}, "workload": {}, "fleet": {{"pools": [{{"name": "a", "replicas": 1}}]}}}}"#,
                synth("")
            ),
            "fleet.pools",
        ),
    ];
    for (i, (json, want)) in cases.iter().enumerate() {
        let s = write(d, &format!("s{i}.json"), json);
        let out = d.join(format!("o{i}"));
        let o = fleetsim(&["run", &s, "--out", out.to_str().unwrap(), "--stream", "-q"]);
        assert_eq!(o.status.code(), Some(2), "case {i}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "case {i}: {}", stderr(&o));
    }
}
