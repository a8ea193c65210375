//! Validation against queueing theory, where theory applies.

use fleetsim::scenario::{Scenario, Traffic};
use std::path::Path;

use crate::util::{assert_conserved, root, run_json};

fn md1_scenario(seed: u64, rate_per_s: f64, requests: u64) -> String {
    format!(
        r#"{{"seed": {seed}, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"synthetic": {{"requests": {requests},
                "arrivals": {{"kind": "poisson", "rate_per_s": {rate_per_s}}},
                "input_tokens": {{"kind": "fixed", "value": 256}},
                "output_tokens": {{"kind": "fixed", "value": 4}}}}}},
            "replica": {{"max_num_seqs": 1}}}}"#
    )
}

/// Service time of one request alone: with max_num_seqs 1 every request is served the same way.
fn service_time_s() -> f64 {
    let r = run_json(&md1_scenario(1, 0.001, 1));
    r.summary.latency.e2e_s.mean
}

fn check_md1(rho: f64, requests: u64, seed: u64) -> (f64, f64) {
    let s = service_time_s();
    let r = run_json(&md1_scenario(seed, rho / s, requests));
    assert_conserved(&r.summary);
    assert_eq!(r.summary.requests.completed, requests);
    // Deterministic service: every request must take exactly S once started.
    let e2e_minus_queue = r.summary.latency.e2e_s.mean - r.summary.latency.queue_s.mean;
    assert!(
        (e2e_minus_queue - s).abs() < 1e-6,
        "service {e2e_minus_queue} vs {s}"
    );
    let theory = rho * s / (2.0 * (1.0 - rho));
    (r.summary.latency.queue_s.mean, theory)
}

/// M/D/1: with max_num_seqs 1, fixed lengths and Poisson arrivals the replica is a single
/// deterministic server, and the mean wait is rho*S / (2(1-rho)) (Pollaczek-Khinchine with zero
/// service variance). Tolerance 5%. Waits at rho=0.9 are strongly correlated, so the request
/// counts are large: with these counts seeds 1-8 all landed within 1.8% of theory (at 200k
/// requests, rho=0.9 strayed up to 8%). Four output tokens keep each request to four steps.
#[test]
fn md1_mean_queueing_delay_matches_theory() {
    for (rho, n) in [(0.5, 300_000u64), (0.9, 1_600_000)] {
        let (sim, theory) = check_md1(rho, n, 11);
        let err = (sim - theory).abs() / theory;
        assert!(
            err < 0.05,
            "rho {rho}: simulated mean wait {sim:.5} s vs M/D/1 {theory:.5} s ({:.1}% off)",
            100.0 * err
        );
    }
}

/// Little's law: time-average requests in system = throughput x mean time in system, on a loaded
/// run of the Azure conv trace with continuous batching.
#[test]
fn littles_law_holds_on_a_loaded_run() {
    let r = run_json(
        r#"{"seed": 3, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"trace": {"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
                                   "format": "azure", "rate_scale": 4.0, "limit": 6000}},
            "replica": {"max_num_seqs": 256, "max_num_batched_tokens": 8192}}"#,
    );
    let s = &r.summary;
    assert_conserved(s);
    assert_eq!(s.requests.rejected + s.requests.unfinished, 0);
    let l = s.sim.mean_requests_in_system;
    let lambda = s.requests.completed as f64 / s.sim.simulated_s;
    let w = s.latency.e2e_s.mean;
    assert!(l > 5.0, "the run should be loaded, L = {l}");
    assert!(
        (l - lambda * w).abs() / l < 0.01,
        "L {l} vs lambda W {}",
        lambda * w
    );
}

/// A lone Llama-3.1-8B request on one H100 decodes at close to weights / bandwidth: 16.06 GB at
/// 3.35 TB/s is 4.79 ms. The model adds the fitted memory efficiency (Hopper: 0.73), KV reads
/// and the fitted fixed per-step overhead (1.5 ms), so the step must be 1.0x to 2.0x that floor:
/// above it because no kernel reaches peak bandwidth, and not far above because decode of one
/// sequence is weight streaming (vLLM serves a lone 8B request on an H100 at about 1.4x).
#[test]
fn lone_decode_step_is_near_weights_over_bandwidth() {
    let r = run_json(
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 1, "arrivals": {"kind": "constant", "rate_per_s": 1},
                "input_tokens": {"kind": "fixed", "value": 128}, "output_tokens": {"kind": "fixed", "value": 101}}}}"#,
    );
    let floor_s = 8.03e9 * 2.0 / 3.35e12;
    let tpot = r.summary.latency.tpot_s.mean;
    let ratio = tpot / floor_s;
    assert!(
        (1.0..2.0).contains(&ratio),
        "TPOT {tpot} s is {ratio:.2}x the weight-read floor"
    );
}

/// Same scenario, same seed: byte-identical summary.json; another seed: different.
#[test]
fn runs_are_deterministic() {
    let json = r#"{"seed": 5, "model": "llama-3.1-8b", "gpu": "a100-80gb",
        "workload": {"synthetic": {"requests": 3000,
            "arrivals": {"kind": "gamma", "rate_per_s": 12, "cv": 2.5},
            "input_tokens": {"kind": "lognormal", "median": 900, "p99": 6000},
            "output_tokens": {"kind": "lognormal", "median": 150, "p99": 900}}}}"#;
    let a = serde_json::to_string(&run_json(json).summary).unwrap();
    let b = serde_json::to_string(&run_json(json).summary).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&run_json(&json.replace("\"seed\": 5", "\"seed\": 6")).summary)
        .unwrap();
    assert_ne!(a, c);
}

/// Every scenario shipped in examples/ parses, resolves, runs and conserves requests.
#[test]
fn shipped_examples_run_and_conserve_requests() {
    let dir = root().join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let s = Scenario::from_file(&path).unwrap();
            let mut spec = s.resolve(Path::new(&dir)).unwrap();
            // Keep the test quick: the first 3000 requests of each example (follow-up turns of
            // later conversations are dropped with their first turns).
            let mut w = spec.traffic.workload.clone();
            w.requests.truncate(3000);
            w.requests
                .retain(|r| r.follows.is_none_or(|f| f.prev < 3000));
            spec.traffic = std::sync::Arc::new(
                Traffic::new(w, &spec.cost, spec.horizon, &spec.model.id).unwrap(),
            );
            let r = spec.run();
            assert_conserved(&r.summary);
            n += 1;
        }
    }
    assert!(n >= 2);
}

/// `max_concurrency` holds requests back like a benchmark client: never more than N in flight,
/// each sent when a slot frees (its arrival becomes its send time), and nothing is lost.
#[test]
fn max_concurrency_bounds_requests_in_flight() {
    for n in [1u32, 4, 32] {
        let r = run_json(&format!(
            r#"{{"seed": 2, "model": "llama-3.1-8b", "gpu": "h100-sxm",
                "workload": {{"synthetic": {{"requests": 400, "max_concurrency": {n},
                    "arrivals": {{"kind": "poisson", "rate_per_s": 1000}},
                    "input_tokens": {{"kind": "uniform", "min": 100, "max": 900}},
                    "output_tokens": {{"kind": "uniform", "min": 10, "max": 200}}}}}}}}"#
        ));
        assert_conserved(&r.summary);
        assert_eq!(r.summary.requests.completed, 400);
        let mut ev: Vec<(u64, i32)> = Vec::new();
        for rec in &r.output.recorder.records {
            ev.push((rec.arrival.as_nanos(), 1));
            ev.push((rec.finish.unwrap().as_nanos(), -1));
        }
        // Finishes before sends at the same instant: a freed slot is reused at once.
        ev.sort_by_key(|e| (e.0, e.1));
        let (mut cur, mut peak) = (0i32, 0i32);
        for (_, d) in ev {
            cur += d;
            peak = peak.max(cur);
        }
        assert_eq!(peak, n as i32, "peak in flight with max_concurrency {n}");
        if n == 1 {
            // One request at a time: it waits at the client, never in the server's queue.
            assert_eq!(r.summary.latency.queue_s.max, 0.0);
            assert_eq!(r.summary.sim.mean_requests_in_system.round(), 1.0);
        }
    }
}

/// `fleetsim validate`, run as a user runs it, and its validation.json read back.
fn validation_json() -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(["validate", "--out"])
        .arg(dir.path())
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(dir.path().join("validation.json")).unwrap())
        .unwrap()
}

/// `fleetsim validate`'s JSON: it covers every
/// calibration entry it can simulate, computes each error as (predicted - measured) / measured,
/// and on the 2024 engines' figures meets issue 6's accuracy targets: median |error| at most 15%
/// on counted throughput figures and at most 20% on each latency kind (TTFT, TPOT), no counted
/// figure worse than 40%; vLLM 0.6.0's multi-step ITL within 25%. The current-engine figures are
/// checked by `current_vllm_profile_errors_are_what_validation_md_reports`.
#[test]
fn validate_meets_the_accuracy_targets_it_claims() {
    let v = validation_json();
    let rows = v["rows"].as_array().unwrap();
    let predicted: Vec<_> = rows.iter().filter(|r| r["predicted"].is_f64()).collect();
    assert!(
        predicted.len() >= 250,
        "{} figures predicted",
        predicted.len()
    );
    for r in &predicted {
        let (p, m) = (
            r["predicted"].as_f64().unwrap(),
            r["measured"].as_f64().unwrap(),
        );
        assert!((r["error"].as_f64().unwrap() - (p - m) / m).abs() < 1e-12);
    }
    // Every row left out of the targets says why.
    for r in rows.iter().filter(|r| r["counted"] == false) {
        let note = r["note"].as_str().unwrap();
        assert!(
            note.contains("not counted") || r["predicted"].is_null(),
            "{r}"
        );
    }
    const ENGINES_2024: [&str; 4] = ["trtllm-0.17", "sglang-0.3", "vllm-0.6", "vllm-0.5"];
    let counted: Vec<_> = rows
        .iter()
        .filter(|r| r["counted"] == true && ENGINES_2024.contains(&r["profile"].as_str().unwrap()))
        .collect();
    let kind_errors = |kind: &str| -> Vec<f64> {
        let mut e: Vec<f64> = counted
            .iter()
            .filter(|r| r["kind"] == kind)
            .map(|r| r["error"].as_f64().unwrap().abs())
            .collect();
        e.sort_by(f64::total_cmp);
        e
    };
    let median = |e: &[f64]| fleetsim::stats::percentile_sorted(e, 50.0);
    let throughput = kind_errors("throughput");
    let ttft = kind_errors("ttft");
    let tpot = kind_errors("tpot");
    assert!(throughput.len() >= 200 && ttft.len() >= 4 && tpot.len() >= 12);
    assert!(
        median(&throughput) <= 0.15,
        "throughput {}",
        median(&throughput)
    );
    assert!(median(&tpot) <= 0.20, "tpot {}", median(&tpot));
    assert!(median(&ttft) <= 0.20, "ttft {}", median(&ttft));
    for r in &counted {
        let e = r["error"].as_f64().unwrap().abs();
        assert!(
            e <= 0.40,
            "{} / {} / {}: {e}",
            r["setup"],
            r["workload"],
            r["metric"]
        );
    }
    // vLLM 0.6.0 ran with --num-scheduler-steps 10: its median ITL (129-275 ms, a run of ten
    // steps) is counted and predicted within 25% by the multi-step model (one step's ITL would
    // be some 90% low).
    let multi: Vec<_> = counted
        .iter()
        .filter(|r| {
            r["setup"].as_str().unwrap().starts_with("vLLM 0.6") && r["metric"] == "median ITL ms"
        })
        .collect();
    assert_eq!(multi.len(), 4);
    for r in multi {
        assert!(r["error"].as_f64().unwrap().abs() < 0.25, "{r}");
    }
    // No 2024 miss is reported (the current vLLM profile's are tested below), and the JSON's
    // statistics are the counted 2024 rows'.
    let misses = v["misses"].as_array().unwrap();
    assert!(
        misses
            .iter()
            .all(|m| m.as_str().unwrap().starts_with("vllm profile")),
        "{misses:?}"
    );
    let stats = v["stats"].as_array().unwrap();
    let tp = stats.iter().find(|k| k["kind"] == "throughput").unwrap();
    assert!((tp["median_abs_error"].as_f64().unwrap() - median(&throughput)).abs() < 1e-12);
    assert_eq!(tp["rows"].as_u64().unwrap() as usize, throughput.len());
}

/// The current-vLLM profile (the default) against the published 2025-2026 figures, fitted and
/// held out, as docs/VALIDATION.md reports them: the fitted figures within 10% at the median of
/// every kind and 10% at worst; the held-out Llama-3.1-8B-on-H100 figures (never fitted) with
/// a lone request's decode within 12% of vLLM 0.19.1's published ITL line from 1k to 100k
/// tokens of context (issue 15 asks 10%: three of six are 10.2-11.8% slow), ITL and throughput
/// under load within 17%, and TTFT under load 26-35% fast (the fit's figures do not pin the
/// prefill rate of 16-bit weights on an H100). A regression past these fails.
#[test]
fn current_vllm_profile_errors_are_what_validation_md_reports() {
    let v = validation_json();
    let rows: Vec<&serde_json::Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["profile"] == "vllm" && r["counted"] == true)
        .collect();
    let fitted: Vec<_> = rows.iter().filter(|r| r["held_out"] == false).collect();
    let held: Vec<_> = rows.iter().filter(|r| r["held_out"] == true).collect();
    assert!(
        fitted.len() >= 20 && held.len() == 12,
        "{} {}",
        fitted.len(),
        held.len()
    );
    let err = |r: &&&serde_json::Value| r["error"].as_f64().unwrap();
    for r in &fitted {
        assert!(err(r).abs() <= 0.10, "{r}");
    }
    for r in &held {
        let e = err(r);
        let lone = r["workload"]
            .as_str()
            .unwrap()
            .starts_with("one request at a time");
        let (lo, hi) = match (lone, r["kind"].as_str().unwrap()) {
            (true, _) => (0.0, 0.12),
            (false, "ttft") => (-0.36, -0.20),
            _ => (-0.17, 0.17),
        };
        assert!(e >= lo && e <= hi, "{e:+.3}: {r}");
    }
}
