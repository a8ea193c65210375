//! Fleets, routers and sweeps.

use std::path::Path;

use fleetsim::fleet::RouterKind;
use fleetsim::scenario::Scenario;
use fleetsim::sweep::{smallest_fleets, IntAxis, PointResult, Sweep, SweepAxes, SweepConfig};

use crate::util::{assert_conserved, fleetsim, root, run_json};

fn sweep(json: &str, axes: SweepAxes) -> Vec<PointResult> {
    let s = Scenario::from_json(json, Path::new("<test>")).unwrap();
    let spec = SweepConfig::new(&axes, &s).unwrap();
    let sw = Sweep::new(s, spec, &root()).unwrap();
    let pts = sw.points();
    let caps = sw.capacities(&pts);
    pts.iter()
        .map(|p| sw.run_point(p, caps.get(&Sweep::capacity_key(p))))
        .collect()
}

const CONV_X8: &str = r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
    "workload": {"trace": {"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
                           "format": "azure", "rate_scale": 8.0, "limit": 8000}},
    "slo": {"percentile": 99, "ttft_s": 2.0, "tpot_s": 0.1}}"#;

/// Adding replicas never makes p99 TTFT worse nor the idle share smaller. Noise allowance:
/// p99 TTFT may rise by at most 5% + 5 ms between neighbours (routing is greedy, so one more
/// replica can land a burst less evenly), the idle fraction may fall by at most 0.2 points.
#[test]
fn more_replicas_lower_ttft_and_raise_idle_share() {
    let res = sweep(
        CONV_X8,
        SweepAxes {
            replicas: Some(IntAxis::Text("1..=8".into())),
            ..Default::default()
        },
    );
    let pts: Vec<(f64, f64)> = res
        .iter()
        .map(|r| {
            let s = r.summary.as_ref().unwrap();
            assert_conserved(s);
            (s.latency.ttft_s.p99, 1.0 - s.gpu.busy_fraction)
        })
        .collect();
    for w in pts.windows(2) {
        let ((t0, i0), (t1, i1)) = (w[0], w[1]);
        assert!(
            t1 <= t0 * 1.05 + 0.005,
            "p99 TTFT rose from {t0} to {t1}: {pts:?}"
        );
        assert!(
            i1 >= i0 - 0.002,
            "idle fraction fell from {i0} to {i1}: {pts:?}"
        );
    }
    assert!(
        pts[0].0 > 10.0 * pts[7].0,
        "one replica should be overloaded: {pts:?}"
    );

    // The smallest fleet meeting the SLO meets it, and the next smaller one does not.
    let best = smallest_fleets(&res);
    assert_eq!(best.len(), 1);
    let n = best[0].replicas.expect("some fleet in 1..=8 meets the SLO");
    let at = |k: u32| {
        res.iter()
            .find(|r| r.axes.replicas == k)
            .and_then(|r| r.summary.as_ref())
            .and_then(|s| s.slo.clone())
            .unwrap()
    };
    assert!(at(n).met && at(n).attainment >= 0.99);
    assert!(n > 1, "with one replica the trace x8 is overloaded");
    assert!(!at(n - 1).met && at(n - 1).attainment < 0.99);
    assert_eq!(best[0].next_smaller_replicas, Some(n - 1));
}

#[test]
fn prefix_affinity_beats_round_robin_on_mooncake() {
    let run = |router: &str| {
        run_json(&format!(
            r#"{{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
                "workload": {{"trace": {{"path": "traces/mooncake/synthetic_trace.jsonl", "format": "mooncake"}}}},
                "fleet": {{"replicas": 4, "router": "{router}"}}}}"#
        ))
        .summary
    };
    let rr = run("round-robin");
    let pa = run("prefix-affinity");
    assert_conserved(&rr);
    assert_conserved(&pa);
    let (a, b) = (pa.prefix_cache.hit_rate, rr.prefix_cache.hit_rate);
    assert!(
        a > b + 0.05,
        "prefix-affinity hit rate {a:.3} vs round-robin {b:.3}"
    );
    eprintln!(
        "mooncake, 4 x h100: prefix-affinity {:.1}% hit rate, round-robin {:.1}%",
        100.0 * a,
        100.0 * b
    );
}

#[test]
fn session_affinity_keeps_conversations_on_one_replica() {
    let s = Scenario::from_json(
        r#"{"seed": 3, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 600,
                "arrivals": {"kind": "poisson", "rate_per_s": 3},
                "input_tokens": {"kind": "fixed", "value": 200},
                "output_tokens": {"kind": "fixed", "value": 40},
                "prefix": {"kind": "sessions", "turns": {"kind": "uniform", "min": 2, "max": 6}, "think_time_s": 2}}},
            "fleet": {"replicas": 5, "router": "session-affinity"}}"#,
        Path::new("<test>"),
    )
    .unwrap()
    .resolve(&root())
    .unwrap();
    let r = s.run();
    let reqs = s.requests();
    let mut used = std::collections::BTreeSet::new();
    for (q, rec) in reqs.iter().zip(&r.output.recorder.records) {
        used.insert(rec.replica);
        if let Some(f) = q.follows {
            assert_eq!(
                rec.replica,
                r.output.recorder.records[f.prev as usize].replica
            );
        }
    }
    assert!(
        used.len() >= 4,
        "sessions should spread over the replicas: {used:?}"
    );
}

#[test]
fn every_router_conserves_requests() {
    for (_, name) in RouterKind::ALL {
        let s = run_json(&format!(
            r#"{{"seed": 2, "model": "llama-3.1-8b", "gpu": "a100-80gb",
                "workload": {{"trace": {{"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_code.csv",
                                        "format": "azure", "limit": 2000, "rate_scale": 4}}}},
                "fleet": {{"replicas": 3, "router": "{name}"}}}}"#
        ))
        .summary;
        assert_conserved(&s);
        assert_eq!(s.setup.router, name);
        assert_eq!(s.gpu.count, 3);
    }
}

#[test]
fn sweep_output_is_identical_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let scen = tmp.path().join("s.json");
    std::fs::write(
        &scen,
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"trace": {"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
                                   "format": "azure", "rate_scale": 8.0, "limit": 3000}},
            "fleet": {"router": "random"},
            "slo": {"ttft_s": 1.0},
            "sweep": {"replicas": [1, 2, 3, 4], "routers": ["random", "least-kv", "round-robin"]}}"#,
    )
    .unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "4"] {
        let out = tmp.path().join(format!("t{threads}"));
        let o = fleetsim(&[
            "sweep",
            scen.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            threads,
            "-q",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        outs.push(out);
    }
    for f in ["sweep.json", "sweep.csv", "smallest_fleets.json"] {
        let a = std::fs::read(outs[0].join(f)).unwrap();
        let b = std::fs::read(outs[1].join(f)).unwrap();
        assert!(a == b, "{f} differs between 1 and 4 threads");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outs[0].join("sweep.json")).unwrap()).unwrap();
    let pts = v.as_array().unwrap();
    assert_eq!(pts.len(), 12);
    for (i, p) in pts.iter().enumerate() {
        assert_eq!(p["point"], i);
        assert!(p["latency"]["ttft_s"]["p99"].is_f64() && p["cost"]["per_month_usd"].is_f64());
        assert!(p["slo"]["attainment"].is_f64());
    }
    let csv = std::fs::read_to_string(outs[0].join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 13);
    assert!(csv.starts_with("point,axes.replicas,axes.gpu,axes.router"));
}

#[test]
fn sweep_bad_input_fails_before_simulating_and_failed_points_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let out = out.to_str().unwrap();
    for (args, needle) in [
        (vec!["--replicas", "5..=3"], "inverted"),
        (vec!["--replicas", "3..3"], "empty"),
        (vec!["--replicas", "0,1"], "1..=4096"),
        (
            vec!["--routers", "fastest"],
            "option --routers: unknown router",
        ),
        (
            vec!["--gpus", "tpu-v5"],
            "option --gpus: unknown GPU `tpu-v5`; known: h100-sxm",
        ),
        (
            vec!["--precision", "int3"],
            "option --precision: unknown precision `int3`",
        ),
        (vec!["--tp", "3"], "option --tp"),
        (
            vec!["--max-num-batched-tokens", "0"],
            "option --max-num-batched-tokens",
        ),
        (vec!["--threads", "0"], "threads"),
        (vec!["--rate-scale", "0"], "positive"),
        (
            vec!["--rate-scale", "2e6"],
            "option --rate-scale: rate scales must be positive and at most 1e6, got 2e6",
        ),
        (vec!["--max-num-seqs", "0"], "option --max-num-seqs"),
    ] {
        let mut a = vec!["sweep", "--out", out];
        a.extend(args.iter());
        let o = fleetsim(&a);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: expected `{needle}` in {e}");
        assert!(
            !Path::new(out).join("sweep.json").exists(),
            "{args:?} simulated before failing"
        );
    }
    // A model that does not fit one GPU of the sweep: that point fails with its reason, the rest run.
    let scen = tmp.path().join("big.json");
    std::fs::write(
        &scen,
        r#"{"model": "llama-3.1-70b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 50, "arrivals": {"kind": "poisson", "rate_per_s": 1},
                "input_tokens": {"kind": "fixed", "value": 100}, "output_tokens": {"kind": "fixed", "value": 10}}},
            "replica": {"tp": 2},
            "sweep": {"replicas": [1, 2], "gpus": ["l4", "h100-sxm"]}}"#,
    )
    .unwrap();
    let o = fleetsim(&["sweep", scen.to_str().unwrap(), "--out", out, "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(out).join("sweep.json")).unwrap()).unwrap();
    let pts = v.as_array().unwrap();
    assert_eq!(pts.len(), 4);
    assert_eq!(pts[0]["status"], "failed");
    assert!(
        pts[0]["error"].as_str().unwrap().contains("does not fit"),
        "{}",
        pts[0]["error"]
    );
    assert_eq!(pts[2]["status"], "ok");
    assert_eq!(pts[3]["requests"]["completed"], 50);
}
