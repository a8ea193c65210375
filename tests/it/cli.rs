//! The `fleetsim` binary as a user runs it: the README's commands, outputs and bad input.

use std::path::Path;

use fleetsim::scenario::Scenario;

use crate::util::{fleetsim, stderr, write};

#[test]
fn run_writes_summary_and_requests_and_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for out in [&a, &b] {
        let o = fleetsim(&[
            "run",
            "examples/azure-conv-h100.json",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            stdout.contains("ttft_s") && stdout.contains("throughput"),
            "{stdout}"
        );
    }
    let sa = std::fs::read(a.join("summary.json")).unwrap();
    assert_eq!(sa, std::fs::read(b.join("summary.json")).unwrap());
    assert_eq!(
        std::fs::read(a.join("requests.csv")).unwrap(),
        std::fs::read(b.join("requests.csv")).unwrap()
    );
    let v: serde_json::Value = serde_json::from_slice(&sa).unwrap();
    for key in ["arrived", "completed", "rejected", "unfinished"] {
        assert!(v["requests"][key].is_u64(), "requests.{key}");
    }
    for m in ["ttft_s", "tpot_s", "itl_s", "e2e_s", "queue_s"] {
        for p in ["mean", "p50", "p90", "p95", "p99", "max"] {
            assert!(v["latency"][m][p].is_f64(), "latency.{m}.{p}");
        }
    }
    for k in [
        "requests_per_s",
        "input_tokens_per_s",
        "output_tokens_per_s",
    ] {
        assert!(v["throughput"][k].is_f64(), "throughput.{k}");
    }
    assert!(v["gpu"]["count"].is_u64() && v["gpu"]["busy_fraction"].is_f64());
    assert!(v["kv"]["capacity_blocks"].is_u64() && v["kv"]["peak_used_fraction"].is_f64());
    assert!(v["preemptions"].is_u64());
    assert!(v["sim"]["events"].is_u64() && v["sim"]["simulated_s"].is_f64());
    assert_eq!(v["requests"]["arrived"], 5000);
    let csv = std::fs::read_to_string(a.join("requests.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5001);
}

#[test]
fn trace_stats_table_and_json() {
    let o = fleetsim(&[
        "trace",
        "stats",
        "traces/azure-llm-2023/AzureLLMInferenceTrace_code.csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("rows 8819") && t.contains("inter-arrival CV 13.15"),
        "{t}"
    );
    let o = fleetsim(&[
        "trace",
        "stats",
        "traces/mooncake/synthetic_trace.jsonl",
        "--format",
        "mooncake",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"], 3993);
    assert!(v["input_tokens"]["p99"].as_f64().unwrap() > 60_000.0);
}

#[test]
fn trace_stats_reports_the_unbounded_prefix_bound() {
    let o = fleetsim(&["trace", "stats", "traces/mooncake/synthetic_trace.jsonl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("unbounded prefix cache: 64.0% of blocks (43924 unique of 121877 512-token blocks), 65.0% of prompt tokens"),
        "{t}"
    );
    let o = fleetsim(&[
        "trace",
        "stats",
        "traces/mooncake/synthetic_trace.jsonl",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let b = &v["prefix_bound"];
    assert_eq!(b["unique_blocks"], 43924);
    assert_eq!(b["total_blocks"], 121877);
    assert!((b["token_hit_rate"].as_f64().unwrap() - 0.6504).abs() < 0.0001);
    // Traces without prefix ids report no bound.
    let o = fleetsim(&[
        "trace",
        "stats",
        "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["prefix_bound"].is_null());
}

#[test]
fn catalog_lists_gpus_and_models() {
    let o = fleetsim(&["catalog"]);
    assert!(o.status.success());
    let t = String::from_utf8_lossy(&o.stdout);
    for id in ["h100-sxm", "mi300x", "l4", "llama-3.1-405b", "mixtral-8x7b"] {
        assert!(t.contains(id), "{id} missing from:\n{t}");
    }
    let o = fleetsim(&["catalog", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["source"].as_str().is_some_and(|s| !s.is_empty())));
}

#[test]
fn bad_input_gets_clear_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = d.join("out");
    let out = out.to_str().unwrap();
    let trace = write(d, "t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,12,3\n2023-11-16 18:17:04.03,12,x\n2023-11-16 18:17:02.00,5,3\n");
    let odd = write(d, "odd.jsonl", "{\"arrival_s\": 0, \"input_tokens\": 40, \"output_tokens\": 3}\n{\"arrival_s\": 1, \"input_tokens\": 40, \"output_tokens\": 3, \"prefix_ids\": [1], \"prefix_block_tokens\": 24}\n");
    let short = write(
        d,
        "short.jsonl",
        "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 3, \"hash_ids\": [5]}\n",
    );
    let scen = |body: &str| body.to_string();
    let cases: Vec<(String, &str)> = vec![
        (
            scen(r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {}, "colour": 1}"#),
            "colour",
        ),
        (
            scen(
                r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {"synthetic": {"requests": 5, "arrivals": {"kind": "poisson", "rate_per_s": 1}, "input_tokens": {"kind": "fixed", "value": 5}, "output_tokens": {"kind": "fixed", "value": 5}}}, "replica": {"max_seqs": 4}}"#,
            ),
            "replica.max_seqs",
        ),
        (
            scen(r#"{"model": "llama-9", "gpu": "h100-sxm", "workload": {}}"#),
            "llama-3.1-8b",
        ),
        (
            scen(r#"{"model": "llama-3.1-8b", "gpu": "tpu", "workload": {}}"#),
            "h100-sxm",
        ),
        (
            scen(
                r#"{"model": "llama-3.1-405b", "gpu": "h100-sxm", "workload": {"synthetic": {"requests": 5, "arrivals": {"kind": "poisson", "rate_per_s": 1}, "input_tokens": {"kind": "fixed", "value": 5}, "output_tokens": {"kind": "fixed", "value": 5}}}}"#,
            ),
            "GiB",
        ),
        (
            scen(
                r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {"synthetic": {"requests": 5, "arrivals": {"kind": "poisson", "rate_per_s": -1}, "input_tokens": {"kind": "fixed", "value": 5}, "output_tokens": {"kind": "fixed", "value": 5}}}}"#,
            ),
            "rate_per_s",
        ),
        (
            scen(&format!(
                r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {{"trace": {{"path": "{trace}", "format": "azure"}}}}}}"#
            )),
            ":3: field `GeneratedTokens`",
        ),
        (
            scen(
                r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {"trace": {"path": "nope.csv", "format": "azure"}}}"#,
            ),
            "nope.csv",
        ),
        (
            scen(
                r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {"trace": {"path": "x.csv", "format": "parquet"}}}"#,
            ),
            "parquet",
        ),
        (
            scen(
                r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {"synthetic": {"requests": 5, "arrivals": {"kind": "poisson", "rate_per_s": 1}, "input_tokens": {"kind": "fixed", "value": 5}, "output_tokens": {"kind": "fixed", "value": 5}}}, "replica": {"tp": 3}}"#,
            ),
            "replica.tp",
        ),
        (scen("{not json"), "s.json"),
        (
            scen(&format!(
                r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {{"trace": {{"path": "{odd}", "format": "jsonl"}}}}, "replica": {{"block_size": 16}}}}"#
            )),
            ":2: field `prefix_block_tokens`",
        ),
        (
            scen(&format!(
                r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {{"trace": {{"path": "{short}", "format": "mooncake"}}}}}}"#
            )),
            ":1: field `hash_ids`",
        ),
        (
            scen(
                r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {"synthetic": {"requests": 5, "arrivals": {"kind": "poisson", "rate_per_s": 1}, "input_tokens": {"kind": "fixed", "value": 5}, "output_tokens": {"kind": "fixed", "value": 5}, "prefix": {"kind": "sessions", "turns": {"kind": "fixed", "value": 3}, "think_time_s": -2}}}}"#,
            ),
            "workload.synthetic.prefix.think_time_s",
        ),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let path = write(d, "s.json", body);
        let o = fleetsim(&["run", &path, "--out", out]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "case {i}: {e}");
        assert!(e.contains(needle), "case {i}: expected `{needle}` in: {e}");
        assert!(!e.contains("panicked"), "case {i}: {e}");
    }
    // --skip-bad-lines counts the bad line, and the out-of-order row is sorted with a note.
    let good = write(
        d,
        "good.json",
        &format!(
            r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {{"trace": {{"path": "{trace}", "format": "azure"}}}}}}"#
        ),
    );
    let o = fleetsim(&["run", &good, "--out", out, "--skip-bad-lines"]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains("skipped 1 malformed") && e.contains("sorted by timestamp"),
        "{e}"
    );
    // Empty trace.
    let empty = write(d, "empty.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n");
    let o = fleetsim(&["trace", "stats", &empty]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no requests"), "{}", stderr(&o));
}

/// Steps generated from known parameters, fitted by `fleetsim calibrate`, give a profile that a
/// scenario loads; the run then uses the fitted parameters, and a profile for another GPU is
/// refused. Bad measurement files name file and line.
#[test]
fn calibrate_profile_round_trips_through_a_scenario() {
    use fleetsim::catalog::Catalog;
    use fleetsim::perf::{BatchShape, Precision, Roofline, RooflineParams};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let c = Catalog::builtin();
    let truth = RooflineParams {
        compute_efficiency: 0.5,
        memory_efficiency: 0.7,
        step_overhead_ms: 3.0,
        ..Default::default()
    };
    let r = Roofline::new(
        c.model("llama-3.1-8b").unwrap(),
        c.gpu("a100-80gb").unwrap(),
        1,
        Precision::Bf16,
        truth,
    );
    let mut csv = String::from("prefill_tokens,decode_seqs,context_tokens,step_ms\n");
    for p in [0u32, 256, 1024, 4096] {
        for n in [0u32, 1, 8, 64] {
            if p + n == 0 {
                continue;
            }
            let shape = BatchShape::with_prefill(n, n as u64 * 500, p);
            csv.push_str(&format!(
                "{p},{n},{},{}\n",
                n * 500,
                r.step_time_s(&shape) * 1e3
            ));
        }
    }
    let steps = write(d, "steps.csv", &csv);
    let profile = d.join("profile.json");
    let o = fleetsim(&[
        "calibrate",
        &steps,
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "a100-80gb",
        "--out",
        profile.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("fit error on these measurements"));
    // And how the default engine profile predicts the same steps, as a scenario on an A100
    // would get it.
    assert!(
        out.contains("the `vllm` profile's step times for ampere bf16"),
        "{out}"
    );
    let prof = fleetsim::perf::Profile::load(&profile).unwrap();
    assert!(
        (prof.params.compute_efficiency - 0.5).abs() < 0.01
            && (prof.params.step_overhead_ms - 3.0).abs() < 0.06,
        "{prof:?}"
    );
    let scen = |gpu: &str| {
        format!(
            r#"{{"model": "llama-3.1-8b", "gpu": "{gpu}", "perf": {{"profile": "{}"}},
                "workload": {{"synthetic": {{"requests": 1, "arrivals": {{"kind": "constant", "rate_per_s": 1}},
                    "input_tokens": {{"kind": "fixed", "value": 64}}, "output_tokens": {{"kind": "fixed", "value": 50}}}}}}}}"#,
            profile.display()
        )
    };
    let s = fleetsim::scenario::Scenario::from_json(&scen("a100-80gb"), Path::new("x")).unwrap();
    let spec = s.resolve(d).unwrap();
    assert_eq!(spec.params, prof.params);
    let e = fleetsim::scenario::Scenario::from_json(&scen("h100-sxm"), Path::new("x"))
        .unwrap()
        .resolve(d)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("perf.profile") && e.contains("a100-80gb") && e.contains("h100-sxm"),
        "{e}"
    );
    // Bad files.
    for (text, needle) in [
        (
            "prefill_tokens,decode_seqs,step_ms\n1,2,3\n",
            "missing column `context_tokens`",
        ),
        (
            "prefill_tokens,decode_seqs,context_tokens,step_ms\n1,2,3,4\n5,x,3,4\n",
            ":3: field `decode_seqs`",
        ),
        (
            "prefill_tokens,decode_seqs,context_tokens,step_ms\n1,2,3,4\n5,6,7,8\n",
            "at least 4",
        ),
        (
            "prefill_tokens,decode_seqs,context_tokens,step_ms\n1,2,3,-4\n",
            ":2: field `step_ms`",
        ),
    ] {
        let f = write(d, "bad.csv", text);
        let o = fleetsim(&[
            "calibrate",
            &f,
            "--model",
            "llama-3.1-8b",
            "--gpu",
            "a100-80gb",
            "--out",
            profile.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert!(
            e.contains(needle) && e.contains("bad.csv"),
            "expected `{needle}`: {e}"
        );
    }
}

/// `fleetsim calibrate` reads steps as the engine ran them: gpt-oss-20b from its shipped
/// `config.json` at `fp4` (its MXFP4 checkpoint) with an FP8 KV cache on a B200 under
/// `trtllm` (MXFP8 expert activations, FP8 attention). Steps made by that roofline at known
/// parameters are fitted back within 2%; read as a 16-bit KV cache with 16-bit activations (the
/// `vllm` defaults, `--kv-cache-dtype auto`) the same steps fit worse and to other parameters.
/// The profile loads into a scenario of the same model, GPU and precision.
#[test]
fn calibrate_reads_steps_with_the_engines_kv_cache_and_expert_activations() {
    use fleetsim::catalog::Catalog;
    use fleetsim::perf::{BatchShape, Mxfp4Activation, Precision, RooflineParams, RooflineSetup};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let c = Catalog::builtin();
    let config = fleetsim::scenario::ModelSpec::Config(fleetsim::scenario::ModelConfigRef {
        config: crate::util::root().join("models/gpt-oss-20b/config.json"),
        id: None,
    });
    let model = config.resolve(Path::new(".")).unwrap();
    let truth = RooflineParams {
        compute_efficiency: 0.45,
        memory_efficiency: 0.75,
        step_overhead_ms: 2.0,
        ..Default::default()
    };
    let setup = RooflineSetup {
        kv_element_bytes: 1,
        fp8_attention: true,
        mxfp4_activation: Mxfp4Activation::Fp8,
        ..RooflineSetup::new(&model, c.gpu("b200").unwrap(), 1, Precision::Fp4)
    };
    let r = setup.roofline(truth);
    let mut csv = String::from("prefill_tokens,decode_seqs,context_tokens,step_ms\n");
    for p in [0u32, 512, 2048, 8192] {
        for n in [0u32, 1, 16, 128, 512] {
            if p + n == 0 {
                continue;
            }
            let ctx = n as u64 * 8000;
            let shape = BatchShape::with_prefill(n, ctx, p);
            csv.push_str(&format!("{p},{n},{ctx},{}\n", r.step_time_s(&shape) * 1e3));
        }
    }
    let steps = write(d, "steps.csv", &csv);
    let cfg = crate::util::root().join("models/gpt-oss-20b/config.json");
    let calibrate = |out: &str, extra: &[&str]| {
        let profile = d.join(out);
        let mut args = vec![
            "calibrate",
            &steps,
            "--model",
            cfg.to_str().unwrap(),
            "--gpu",
            "b200",
            "--precision",
            "fp4",
            "--out",
            profile.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = fleetsim(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (
            fleetsim::perf::Profile::load(&profile).unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (right, out) = calibrate(
        "right.json",
        &["--engine", "trtllm", "--kv-cache-dtype", "fp8"],
    );
    assert!(
        out.contains("the `trtllm` profile's step times for blackwell fp4"),
        "{out}"
    );
    assert_eq!(right.model, "gpt-oss-20b");
    for (name, got, want) in [
        ("compute", right.params.compute_efficiency, 0.45),
        ("memory", right.params.memory_efficiency, 0.75),
        ("overhead", right.params.step_overhead_ms, 2.0),
    ] {
        assert!((got - want).abs() / want < 0.02, "{name} {got} vs {want}");
    }
    assert!(right.max_abs_error < 0.01, "{right:?}");
    let (wrong, _) = calibrate("wrong.json", &[]);
    assert!(
        wrong.max_abs_error > 5.0 * right.max_abs_error.max(1e-3),
        "{wrong:?} vs {right:?}"
    );
    assert!(
        (wrong.params.memory_efficiency - 0.75).abs() > 0.02
            || (wrong.params.compute_efficiency - 0.45).abs() > 0.02,
        "{wrong:?}"
    );
    // The profile applies to a scenario of the same model (from the same config), GPU and
    // precision.
    let scen = format!(
        r#"{{"model": {{"config": "{}"}}, "gpu": "b200", "replica": {{"precision": "fp4"}},
            "perf": {{"profile": "{}"}},
            "workload": {{"synthetic": {{"requests": 1, "arrivals": {{"kind": "constant", "rate_per_s": 1}},
                "input_tokens": {{"kind": "fixed", "value": 64}}, "output_tokens": {{"kind": "fixed", "value": 8}}}}}}}}"#,
        cfg.display(),
        d.join("right.json").display()
    );
    let spec = Scenario::from_json(&scen, Path::new("x"))
        .unwrap()
        .resolve(d)
        .unwrap();
    assert_eq!(spec.params, right.params);
}

/// Benchmark results produced by simulating known parameters are fitted back by
/// `fleetsim calibrate` from `vllm bench serve`-style JSON: the fitted profile reproduces the
/// measured means within 3% and the true step times within 6% over decode and prefill shapes.
/// The parameters themselves are only loosely identified by aggregate figures (memory
/// efficiency and overhead trade off: one run gave 0.70 / 4.8 ms for a truth of 0.65 / 4.0 ms,
/// with the same step times within 6%), so the test compares step times, not parameters.
#[test]
fn calibrate_from_bench_json_recovers_the_model() {
    use fleetsim::fidelity::calibrate::bench_metric;
    use fleetsim::fidelity::calibrate::read_bench_json;
    use fleetsim::perf::RooflineParams;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let truth = RooflineParams {
        compute_efficiency: 0.45,
        memory_efficiency: 0.65,
        step_overhead_ms: 4.0,
        ..Default::default()
    };
    let base = fleetsim::scenario::Scenario::from_json(
        r#"{"model": "llama-3.1-8b", "gpu": "a100-80gb", "replica": {"prefix_caching": false},
            "cost": {"gpu_usd_per_hour": {"a100-80gb": 1.0}, "apis": []},
            "workload": {"synthetic": {"requests": 1, "arrivals": {"kind": "constant", "rate_per_s": 1},
                "input_tokens": {"kind": "fixed", "value": 1}, "output_tokens": {"kind": "fixed", "value": 1}}}}"#,
        Path::new("x"),
    )
    .unwrap()
    .prepare(d)
    .unwrap();
    let mut files = Vec::new();
    for (k, (rate, conc, lo, hi, olo, ohi)) in [
        ("5", "null", 100u32, 800u32, 50u32, 300u32),
        ("\"inf\"", "32", 100, 800, 50, 300),
        ("1.5", "null", 2000, 4000, 20, 100),
    ]
    .iter()
    .enumerate()
    {
        let ins: Vec<u32> = (0..200).map(|i| lo + (i * 37) % (hi - lo)).collect();
        let outs: Vec<u32> = (0..200).map(|i| olo + (i * 53) % (ohi - olo)).collect();
        let stub = format!(
            r#"{{"request_rate": {rate}, "burstiness": 1.0, "max_concurrency": {conc}, "input_lens": {ins:?}, "output_lens": {outs:?}, "output_throughput": 1.0}}"#
        );
        let path = d.join(format!("run{k}.json"));
        std::fs::write(&path, &stub).unwrap();
        let run = read_bench_json(&path).unwrap();
        let mut spec = fleetsim::fidelity::calibrate::replay(&base, &run).unwrap();
        spec.params = truth;
        let s = spec.run().summary;
        let full = stub.replace(
            "\"output_throughput\": 1.0",
            &format!(
                "\"output_throughput\": {}, \"mean_ttft_ms\": {}, \"mean_tpot_ms\": {}",
                bench_metric("output_throughput", &s),
                bench_metric("mean_ttft_ms", &s),
                bench_metric("mean_tpot_ms", &s)
            ),
        );
        std::fs::write(&path, full).unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    let profile = d.join("p.json");
    let mut args = vec!["calibrate"];
    args.extend(files.iter().map(String::as_str));
    args.extend([
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "a100-80gb",
        "--out",
        profile.to_str().unwrap(),
    ]);
    let o = fleetsim(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = fleetsim::perf::Profile::load(&profile).unwrap();
    assert_eq!(p.points, 9);
    assert!(p.max_abs_error < 0.03, "{p:?}");
    use fleetsim::catalog::Catalog;
    use fleetsim::perf::{BatchShape, Precision, Roofline};
    let c = Catalog::builtin();
    let (m, g) = (
        c.model("llama-3.1-8b").unwrap(),
        c.gpu("a100-80gb").unwrap(),
    );
    let (rt, rf) = (
        Roofline::new(m, g, 1, Precision::Bf16, truth),
        Roofline::new(m, g, 1, Precision::Bf16, p.params),
    );
    for (decode, prefill) in [(1u32, 0u32), (16, 0), (64, 0), (8, 512), (0, 2048)] {
        let shape = BatchShape::with_prefill(decode, decode as u64 * 600, prefill);
        let (a, b) = (rt.step_time_s(&shape), rf.step_time_s(&shape));
        assert!(
            (a - b).abs() / a < 0.06,
            "step ({decode}, {prefill}): {b} vs true {a}; {p:?}"
        );
    }
    // A result without per-request lengths is refused with the reason.
    let bare = write(d, "bare.json", r#"{"request_rate": 4, "mean_ttft_ms": 30}"#);
    let o = fleetsim(&[
        "calibrate",
        &bare,
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "a100-80gb",
        "--out",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("input_lens") && stderr(&o).contains("bare.json"),
        "{}",
        stderr(&o)
    );
}

/// A model sized from its Hugging Face config.json runs like a catalog model, and a config
/// missing a field it needs is refused naming the field.
#[test]
fn a_model_from_its_config_runs_and_a_bad_config_names_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Llama-3.1-8B's config.json, as in the catalog.
    let config = r#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "tie_word_embeddings": false, "vocab_size": 128256}"#;
    std::fs::create_dir_all(d.join("llama")).unwrap();
    std::fs::write(d.join("llama/config.json"), config).unwrap();
    let scenario = |model: &str| {
        format!(
            r#"{{"seed": 3, "model": {model}, "gpu": "h100-sxm",
                "workload": {{"synthetic": {{"requests": 200, "arrivals": {{"kind": "poisson", "rate_per_s": 4}},
                    "input_tokens": {{"kind": "fixed", "value": 300}}, "output_tokens": {{"kind": "fixed", "value": 50}}}}}}}}"#
        )
    };
    let by_config = Scenario::from_json(
        &scenario(r#"{"config": "llama/config.json"}"#),
        Path::new("s.json"),
    )
    .unwrap()
    .resolve(d)
    .unwrap();
    let by_id = Scenario::from_json(&scenario(r#""llama-3.1-8b""#), Path::new("s.json"))
        .unwrap()
        .resolve(d)
        .unwrap();
    assert_eq!(by_config.model.id, "llama");
    // Sized from the config: weights within 1% of the catalog's, the same KV per token.
    let (a, b) = (
        by_config.memory.weights_gib_per_gpu,
        by_id.memory.weights_gib_per_gpu,
    );
    assert!((a - b).abs() / b < 0.01, "{a} vs {b} GiB");
    assert_eq!(by_config.memory.kv_blocks, by_id.memory.kv_blocks);
    let (x, y) = (by_config.run().summary, by_id.run().summary);
    assert_eq!(x.requests.completed, 200);
    assert!((x.latency.tpot_s.mean - y.latency.tpot_s.mean).abs() / y.latency.tpot_s.mean < 0.01);
    std::fs::write(
        d.join("bad.json"),
        config.replace(r#""vocab_size": 128256"#, r#""vocab": 1"#),
    )
    .unwrap();
    let path = write(d, "s.json", &scenario(r#"{"config": "bad.json"}"#));
    let o = fleetsim(&["run", &path, "--out", d.join("o").to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.json: field `vocab_size`"),
        "{}",
        stderr(&o)
    );
}

/// `fleetsim catalog --config` shows what a config.json sizes to, and names a missing field.
#[test]
fn catalog_config_shows_a_model_sized_from_its_config() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write(
        tmp.path(),
        "config.json",
        r#"{"hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256}"#,
    );
    let o = fleetsim(&["catalog", "--config", &good]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("8.030 B") && out.contains("128.0 KiB per token"),
        "{out}"
    );
    assert!(!out.contains("MXFP4"), "{out}");
    // gpt-oss's config: its quantization_config leaves attention unquantized, so FP4 is its
    // own checkpoint of MXFP4 experts (12.8 GiB, not 12.5 at 4.5 bits a weight).
    let o = fleetsim(&["catalog", "--config", "models/gpt-oss-20b/config.json"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("12.8 at FP4") && out.contains("MXFP4 experts, every other weight 16-bit"),
        "{out}"
    );
    let bad = write(tmp.path(), "bad.json", r#"{"hidden_size": 4096}"#);
    let o = fleetsim(&["catalog", "--config", &bad]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("field `num_hidden_layers`"),
        "{}",
        stderr(&o)
    );
}
