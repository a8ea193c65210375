//! Engine profiles (`replica.engine`), the step-time scaling behind the error band, and the band
//! on `run` and `plan` answers.

use std::path::Path;

use fleetsim::catalog::Catalog;
use fleetsim::perf::{BatchShape, PrefillChunk, Roofline};
use fleetsim::scenario::{RunConfig, Scenario};

use crate::util::{fleetsim, run_without_files, stderr, write};

fn config(replica: &str, extra: &str) -> RunConfig {
    let json = format!(
        r#"{{"seed": 3, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"synthetic": {{"requests": 400, "arrivals": {{"kind": "poisson", "rate_per_s": 6}},
                "input_tokens": {{"kind": "fixed", "value": 800}}, "output_tokens": {{"kind": "fixed", "value": 200}}}}}},
            "replica": {{{replica}}},
            "slo": {{"ttft_s": 1.0, "tpot_s": 0.05}},
            "cost": {{"gpu_usd_per_hour": {{"h100-sxm": 2.0}}, "apis": []}}{extra}}}"#
    );
    Scenario::from_json(&json, Path::new("engines.json"))
        .unwrap()
        .resolve(Path::new("."))
        .unwrap()
}

#[test]
fn an_engine_profile_fills_the_keys_left_unset_and_brings_its_step_times() {
    let c = Catalog::builtin();
    // The default is the current vLLM, with vLLM's scheduler defaults.
    let v = config("", "");
    assert_eq!(v.replica.engine, c.default_engine);
    assert_eq!(v.replica.engine, "vllm");
    assert_eq!(
        (v.replica.max_num_seqs, v.replica.max_num_batched_tokens),
        (1024, 8192)
    );
    // TensorRT-LLM: no-evict admission, KV from free memory, its batch limits; a key the
    // scenario sets wins, and a memory rule the scenario gives replaces the engine's.
    let t = config(r#""engine": "trtllm""#, "");
    assert_eq!(t.replica.scheduler_policy.name(), "guaranteed-no-evict");
    assert_eq!(t.replica.kv_cache_free_memory_fraction, Some(0.9));
    assert_eq!(t.replica.max_num_seqs, 2048);
    let t2 = config(
        r#""engine": "trtllm", "max_num_seqs": 64, "gpu_memory_utilization": 0.8"#,
        "",
    );
    assert_eq!(t2.replica.max_num_seqs, 64);
    assert_eq!(t2.replica.kv_cache_free_memory_fraction, None);
    assert_eq!(t2.replica.gpu_memory_utilization, 0.8);
    // Step times differ by profile; SGLang, without figures of its own, takes vLLM's.
    assert_ne!(t.params, v.params);
    let s = config(r#""engine": "sglang""#, "");
    assert_eq!(s.params, v.params);
    assert_eq!(s.replica.max_num_batched_tokens, 8192);
    // The 2024 engines share one fit, which is not the current vLLM's.
    let old = config(r#""engine": "vllm-0.6""#, "");
    assert_ne!(old.params, v.params);
    assert_eq!(old.params, config(r#""engine": "trtllm-0.17""#, "").params);
}

/// A pool of an elastic fleet may run another engine than the scenario's replica.
#[test]
fn a_pool_takes_its_own_engine() {
    let r = config(
        "",
        r#", "fleet": {"pools": [{"name": "a", "replicas": 1}, {"name": "b", "replicas": 1, "replica": {"engine": "trtllm"}}]}"#,
    );
    assert_eq!(r.pools[0].replica.engine, "vllm");
    assert_eq!(r.pools[1].replica.engine, "trtllm");
    assert_eq!(r.pools[1].replica.max_num_seqs, 2048);
    assert_ne!(r.pools[0].params, r.pools[1].params);
}

#[test]
fn an_unknown_engine_is_an_error_naming_the_field_and_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = write(
        dir.path(),
        "s.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm", "replica": {"engine": "vllm-9"},
            "workload": {"synthetic": {"requests": 10, "arrivals": {"kind": "poisson", "rate_per_s": 1},
            "input_tokens": {"kind": "fixed", "value": 10}, "output_tokens": {"kind": "fixed", "value": 10}}}}"#,
    );
    let out = fleetsim(&["run", &s, "--out", dir.path().join("o").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("replica.engine") && e.contains("vllm-9"), "{e}");
    for known in ["vllm", "sglang", "trtllm", "trtllm-0.17", "vllm-0.5"] {
        assert!(e.contains(known), "{e}");
    }
}

/// The band scales every step: efficiencies divided, overheads and all-reduce latency
/// multiplied, so each step takes exactly `factor` times as long (dense and MoE, one GPU and
/// four).
#[test]
fn the_step_time_factor_scales_every_step_exactly() {
    let c = Catalog::builtin();
    for (model, tp) in [
        ("llama-3.1-70b", 4),
        ("qwen3-30b-a3b", 1),
        ("gpt-oss-20b", 1),
    ] {
        let base = config("", "");
        let mut r = base.clone();
        r.model = c.model(model).unwrap().clone();
        r.replica.tp = tp;
        r.params.moe_layer_overhead_us = 20.0;
        let shapes = [
            BatchShape {
                decode_seqs: 1,
                decode_context_tokens: 1000,
                prefills: vec![],
            },
            BatchShape {
                decode_seqs: 64,
                decode_context_tokens: 64 * 3000,
                prefills: vec![PrefillChunk {
                    context_tokens: 2000,
                    new_tokens: 4096,
                }],
            },
        ];
        for f in [0.8, 1.0, 1.37] {
            let s = r.with_step_time_factor(f);
            for b in &shapes {
                let t0 = Roofline::new(&r.model, &r.gpu, tp, r.replica.precision, r.params)
                    .step_time_s(b);
                let t1 = Roofline::new(&s.model, &s.gpu, tp, s.replica.precision, s.params)
                    .step_time_s(b);
                assert!((t1 / t0 - f).abs() < 1e-9, "{model} x{f}: {t0} -> {t1}");
            }
        }
    }
}

/// `run`'s band: the latency figures at the band's ends bracket the point estimate, and a wider
/// error gives a wider band.
#[test]
fn the_run_band_contains_the_estimate_and_widens_with_the_error() {
    let mut r = config("", "");
    let point = r.run().summary;
    let b = r.band.expect("the default engine has a band");
    assert!(b.low <= 1.0 && b.high >= 1.0 && b.figures > 0, "{b:?}");
    let band = r.band_summary().unwrap();
    for (lo, mid, hi) in [
        (
            band.low.ttft_p50_s,
            point.latency.ttft_s.p50,
            band.high.ttft_p50_s,
        ),
        (
            band.low.ttft_p99_s,
            point.latency.ttft_s.p99,
            band.high.ttft_p99_s,
        ),
        (
            band.low.tpot_p50_s,
            point.latency.tpot_s.p50,
            band.high.tpot_p50_s,
        ),
        (
            band.low.e2e_p99_s,
            point.latency.e2e_s.p99,
            band.high.e2e_p99_s,
        ),
    ] {
        assert!(lo <= mid && mid <= hi, "{lo} {mid} {hi}");
    }
    let width = |r: &RunConfig| {
        let b = r.band_summary().unwrap();
        b.high.tpot_p50_s - b.low.tpot_p50_s
    };
    let narrow = width(&r);
    if let Some(b) = r.band.as_mut() {
        b.low *= 0.8;
        b.high *= 1.25;
    }
    assert!(width(&r) > narrow * 1.5, "{} vs {narrow}", width(&r));
    // Step times set in the scenario have no band: fleetsim knows nothing of their error.
    let own = config("", r#", "perf": {"memory_efficiency": 0.7}"#);
    assert!(own.band.is_none() && own.band_summary().is_none());
}

/// `run` prints the band and writes it to summary.json; `plan` gives the fleet as a range that
/// contains its answer.
#[test]
fn run_and_plan_report_the_band() {
    let dir = tempfile::tempdir().unwrap();
    let s = write(
        dir.path(),
        "s.json",
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 3000, "arrivals": {"kind": "poisson", "rate_per_s": 72},
                "input_tokens": {"kind": "fixed", "value": 1500}, "output_tokens": {"kind": "fixed", "value": 300}}},
            "slo": {"ttft_s": 1.0, "tpot_s": 0.04},
            "cost": {"gpu_usd_per_hour": {"h100-sxm": 2.0}, "apis": []}}"#,
    );
    let (stdout, summary) = run_without_files(Path::new(&s), &dir.path().join("run"));
    assert!(
        stdout.contains("Within the `vllm` profile's error"),
        "{stdout}"
    );
    assert_eq!(summary["band"]["engine"], "vllm");
    let plan_dir = dir.path().join("plan");
    let out = fleetsim(&[
        "plan",
        &s,
        "--out",
        plan_dir.to_str().unwrap(),
        "--gpus",
        "h100-sxm",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(plan_dir.join("plan.json")).unwrap())
            .unwrap();
    let row = plan["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rate_scale"] == 1.0)
        .unwrap();
    let n = row["replicas"].as_u64().unwrap();
    let band = &row["replicas_within_error"];
    let (lo, hi) = (
        band["low"].as_u64().unwrap(),
        band["high"].as_u64().unwrap(),
    );
    assert!(lo <= n && n <= hi, "{lo} {n} {hi}");
    assert!(
        hi > lo,
        "72 req/s, near a whole number of replicas' capacity (4 H100s, 5 at the band's slow end), should not size to one count with this error: {band}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("within the model's error"));
}

/// Issue 15's headline: a lone Llama-3.1-8B request on an H100 (1k tokens of context) decoded in
/// 8.8 ms a token under the old defaults where vLLM 0.19.1 publishes 6.48 ms; the current vLLM
/// profile, the default, decodes it in 6.5-7.2 ms, and the 2024 profiles (the old fit, with the
/// input embedding no longer read every step) in 8.2-8.6 ms.
#[test]
fn a_lone_decode_on_an_h100_is_near_current_vllm() {
    let itl = |engine: &str| {
        let json = format!(
            r#"{{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
                "workload": {{"synthetic": {{"requests": 2, "arrivals": {{"kind": "constant", "rate_per_s": 1000}}, "max_concurrency": 1,
                    "input_tokens": {{"kind": "fixed", "value": 1000}}, "output_tokens": {{"kind": "fixed", "value": 128}}}}}},
                "replica": {{"engine": "{engine}", "prefix_caching": false}}}}"#
        );
        let r = Scenario::from_json(&json, Path::new("lone.json"))
            .unwrap()
            .resolve(Path::new("."))
            .unwrap()
            .run();
        r.summary.latency.itl_s.mean * 1e3
    };
    let now = itl("vllm");
    let old = itl("vllm-0.6");
    assert!((6.5..=7.2).contains(&now), "{now}");
    assert!((8.2..=8.6).contains(&old), "{old}");
}

/// Every profile's fit (`fleetsim validate --fit`) regenerates the parameters committed in
/// src/catalog/engines.json, to the digits the file keeps.
#[test]
fn each_profile_fit_regenerates_its_committed_parameters() {
    let fits = fleetsim::fidelity::defaults::fit_defaults(&crate::util::root(), 0, None).unwrap();
    let c = Catalog::builtin();
    let round = |x: f64, k: f64| (x * k).round() / k;
    let mut checked = 0;
    for g in &fits {
        for id in &g.engines {
            let e = c.engine(id).unwrap();
            let f = e
                .fits
                .iter()
                .find(|f| f.family == g.family && f.precision == g.precision)
                .unwrap_or_else(|| {
                    panic!("{id}: no committed fit for {} {}", g.family, g.precision)
                });
            let p = &g.params;
            assert_eq!(
                (
                    round(p.compute_efficiency, 1000.0),
                    round(p.memory_efficiency, 1000.0),
                    round(p.link_efficiency, 1000.0),
                    round(p.step_overhead_ms, 100.0),
                    round(p.seq_overhead_us, 100.0),
                    p.allreduce_latency_us.map(|x| round(x, 10.0)),
                    g.moe_fitted.then(|| round(p.moe_layer_overhead_us, 10.0)),
                ),
                (
                    f.compute_efficiency,
                    f.memory_efficiency,
                    f.link_efficiency,
                    f.step_overhead_ms,
                    f.seq_overhead_us,
                    f.allreduce_latency_us,
                    f.moe_layer_overhead_us,
                ),
                "{id} {} {}",
                g.family,
                g.precision
            );
            assert_eq!(
                f.fitted_on.as_ref(),
                Some(&g.fitted_on),
                "{id} {} {}: the figures' GPUs, models and TP",
                g.family,
                g.precision
            );
            checked += 1;
        }
    }
    // The 2024 joint fit (3 groups x 4 profiles), vllm's (2 groups) and trtllm's (FP8, FP4 across
    // families, and FP4 on Hopper and on Blackwell, which have figures enough of their own).
    assert_eq!(checked, 12 + 2 + 4);
    // Every committed fit was regenerated.
    let committed: usize = c.engines.iter().map(|e| e.fits.len()).sum();
    assert_eq!(committed, checked);
}

/// A sweep compares engines: each point runs its profile (setup.engine, step times), the
/// smallest fleet is found per engine, and an unknown one is refused naming the option.
#[test]
fn a_sweep_compares_engine_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = fleetsim(&[
        "sweep",
        "--engines",
        "vllm,vllm-0.6",
        "--replicas",
        "2..=4",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    let points = v.as_array().unwrap();
    assert_eq!(points.len(), 6);
    for p in points {
        assert_eq!(p["setup"]["engine"], p["axes"]["engine"], "{}", p["axes"]);
    }
    let step = |i: usize| points[i]["setup"]["step_time"]["memory_efficiency"].clone();
    assert_ne!(step(0), step(3));
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("smallest_fleets.json")).unwrap())
            .unwrap();
    let n = |i: usize| best[i]["replicas"].as_u64().unwrap();
    // The current vLLM decodes faster than the 2024 fit: it needs no more replicas.
    assert!(n(0) <= n(1), "{best}");
    let bad = fleetsim(&[
        "sweep",
        "--engines",
        "vllm,nope",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--engines") && stderr(&bad).contains("nope"));
}

/// A plan sizes each engine profile it is given (`--engines` or `plan.engines`) as a
/// configuration of its own, with that profile's step times and error band; `--mix` takes one
/// engine, and an unknown one is refused naming the option.
#[test]
fn a_plan_sizes_each_engine_profile() {
    let dir = tempfile::tempdir().unwrap();
    let s = write(
        dir.path(),
        "s.json",
        r#"{"seed": 3, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 2000, "arrivals": {"kind": "poisson", "rate_per_s": 40},
                "input_tokens": {"kind": "fixed", "value": 1500}, "output_tokens": {"kind": "fixed", "value": 300}}},
            "slo": {"ttft_s": 1.0, "tpot_s": 0.04},
            "cost": {"gpu_usd_per_hour": {"h100-sxm": 2.0}, "apis": []}}"#,
    );
    let out = dir.path().join("plan");
    let o = fleetsim(&[
        "plan",
        &s,
        "--out",
        out.to_str().unwrap(),
        "--volumes",
        "1",
        "--engines",
        "vllm,vllm-0.6",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let rows = plan["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{plan}");
    let replicas = |engine: &str| {
        let r = rows
            .iter()
            .find(|r| r["config"] == format!("h100-sxm / {engine}").as_str())
            .unwrap_or_else(|| panic!("no {engine} row: {plan}"));
        r["replicas"].as_u64().unwrap()
    };
    // The current vLLM decodes faster than the 2024 fit: it needs no more replicas.
    assert!(replicas("vllm") >= 1);
    assert!(replicas("vllm") <= replicas("vllm-0.6"), "{plan}");
    // --mix sizes one engine: two are refused, one is taken.
    let two = fleetsim(&[
        "plan",
        &s,
        "--mix",
        "--engines",
        "vllm,trtllm",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(two.status.code(), Some(2));
    assert!(
        stderr(&two).contains("option --engines"),
        "{}",
        stderr(&two)
    );
    let bad = fleetsim(&[
        "plan",
        &s,
        "--engines",
        "vllm,nope",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--engines") && stderr(&bad).contains("nope"),
        "{}",
        stderr(&bad)
    );
}

/// A family's own fit comes before the profile's fit across families (`*`), whatever their
/// order in the file; a family without one gets the `*` fit: TensorRT-LLM's FP4 step times on a
/// B200 are its Blackwell fit, on an MI355X its fit across families.
#[test]
fn a_family_fit_comes_before_the_fit_across_families() {
    use fleetsim::catalog::{EngineProfile, StepTimeFit};
    let fit = |family: &str, memory_efficiency: f64| StepTimeFit {
        family: family.into(),
        precision: "fp4".into(),
        compute_efficiency: 0.5,
        memory_efficiency,
        link_efficiency: 0.7,
        step_overhead_ms: 1.0,
        seq_overhead_us: 0.0,
        allreduce_latency_us: None,
        moe_layer_overhead_us: None,
        step_overhead_from: None,
        figures: 10,
        fitted_on: None,
    };
    let e = EngineProfile {
        id: "x".into(),
        name: "x".into(),
        generation: "current".into(),
        replica: Default::default(),
        replica_by_gpu_memory: vec![],
        steps_from: None,
        fits: vec![fit("*", 0.6), fit("blackwell", 0.7)],
        band: None,
        confidence: "low".into(),
        source: "test".into(),
    };
    let got = |family: &str| e.fit_for(&[], family, "fp4").fit.unwrap().memory_efficiency;
    assert_eq!(got("blackwell"), 0.7);
    assert_eq!(got("cdna4"), 0.6);
    // The committed profile: TensorRT-LLM on a B200 and on an MI355X at FP4.
    let c = Catalog::builtin();
    let t = c.engine("trtllm").unwrap();
    let family_of = |gpu: &str| {
        let g = c.gpu(gpu).unwrap();
        t.fit_for(&c.engines, &g.family, "fp4")
            .fit
            .unwrap()
            .family
            .clone()
    };
    assert_eq!(family_of("b200"), "blackwell");
    assert_eq!(family_of("h200"), "hopper");
    assert_eq!(family_of("mi355x"), "*");
}

/// The time per mixture-of-experts layer is fitted only where a profile has mixture-of-experts
/// figures (current vLLM: gpt-oss at FP4); a replica at another precision borrows it from the
/// nearest fit that has one instead of running MoE layers for free, and a profile without any
/// (the 2024 joint fit) keeps 0.
#[test]
fn moe_layer_time_is_borrowed_from_the_nearest_fit_that_has_one() {
    use fleetsim::perf::{step_time_defaults, Precision};
    let c = Catalog::builtin();
    let h100 = c.gpu("h100-sxm").unwrap();
    let vllm = c.engine("vllm").unwrap();
    let fp4 = step_time_defaults(c, vllm, h100, Precision::Fp4, true);
    let bf16 = step_time_defaults(c, vllm, h100, Precision::Bf16, true);
    // A dense model keeps the fit's own (none: 0), as it has no MoE layer to pay it on.
    let dense = step_time_defaults(c, vllm, h100, Precision::Bf16, false);
    assert_eq!(dense.moe_layer_overhead_us, 0.0);
    assert_eq!(dense.memory_efficiency, bf16.memory_efficiency);
    let bf16_fit = vllm.fit_for(&c.engines, "hopper", "bf16").fit.unwrap();
    assert_eq!(bf16_fit.moe_layer_overhead_us, None);
    assert!(fp4.moe_layer_overhead_us > 0.0);
    assert_eq!(bf16.moe_layer_overhead_us, fp4.moe_layer_overhead_us);
    assert_eq!(bf16.memory_efficiency, bf16_fit.memory_efficiency);
    // SGLang takes vLLM's step times, MoE layers included.
    let sglang = c.engine("sglang").unwrap();
    assert_eq!(
        step_time_defaults(c, sglang, h100, Precision::Fp8, true).moe_layer_overhead_us,
        fp4.moe_layer_overhead_us
    );
    let old = c.engine("vllm-0.6").unwrap();
    assert_eq!(
        step_time_defaults(c, old, h100, Precision::Fp8, true).moe_layer_overhead_us,
        0.0
    );
    // A dense model's step is unaffected: the time is per MoE layer.
    let run = |model: &str| {
        let json = format!(
            r#"{{"seed": 1, "model": "{model}", "gpu": "h100-sxm",
                "replica": {{"tp": 4, "precision": "fp8"}},
                "workload": {{"synthetic": {{"requests": 1, "arrivals": {{"kind": "constant", "rate_per_s": 1}},
                    "input_tokens": {{"kind": "fixed", "value": 1000}}, "output_tokens": {{"kind": "fixed", "value": 64}}}}}}}}"#
        );
        let spec = Scenario::from_json(&json, Path::new("t"))
            .unwrap()
            .resolve(&crate::util::root())
            .unwrap();
        spec.params.moe_layer_overhead_us
    };
    assert_eq!(run("qwen3-30b-a3b"), fp4.moe_layer_overhead_us);
}

/// A profile with no figures of its own (`sglang`) takes the band of the profile whose step
/// times it takes, and says so: the run's band names where it comes from, and the sentence
/// says the real error is at least that wide; the 2024 and current profiles keep their own.
#[test]
fn a_profile_without_figures_borrows_the_band_with_the_step_times() {
    let c = Catalog::builtin();
    let sglang = c.engine("sglang").unwrap();
    let vllm = c.engine("vllm").unwrap();
    assert!(sglang.band.is_none());
    let (from, b) = sglang.band_for(&c.engines).unwrap();
    assert_eq!((from, b), ("vllm", vllm.band.unwrap()));
    assert_eq!(vllm.band_for(&c.engines).unwrap().0, "vllm");
    let json = r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm", "replica": {"engine": "sglang"},
        "workload": {"synthetic": {"requests": 300, "arrivals": {"kind": "poisson", "rate_per_s": 10},
            "input_tokens": {"kind": "fixed", "value": 500}, "output_tokens": {"kind": "fixed", "value": 100}}}}"#;
    let spec = Scenario::from_json(json, Path::new("t"))
        .unwrap()
        .resolve(&crate::util::root())
        .unwrap();
    assert_eq!(spec.band_from.as_deref(), Some("vllm"));
    let band = spec.band_summary().unwrap();
    assert_eq!(band.engine, "sglang");
    assert_eq!(band.borrowed_from.as_deref(), Some("vllm"));
    assert!(band.low.tpot_p50_s < band.high.tpot_p50_s);
    let mut s = spec.run().summary;
    s.band = Some(band);
    let sentence = fleetsim::report::views::band_sentence(&s).unwrap();
    assert!(
        sentence.contains("`vllm` profile's error") && sentence.contains("at least this uncertain"),
        "{sentence}"
    );
    // A profile with its own band names no other.
    let own = Scenario::from_json(&json.replace("sglang", "trtllm"), Path::new("t"))
        .unwrap()
        .resolve(&crate::util::root())
        .unwrap();
    assert_eq!(own.band_from, None);
    assert_eq!(own.band, c.engine("trtllm").unwrap().band);
}

/// SGLang sizes its prefill chunk by the GPU's memory at start-up (`_handle_gpu_memory_settings`):
/// the `sglang` profile's chunk is 2048 tokens on an A10G, 4096 on an L40S, 8192 on an H100 or
/// H200 and 16384 on a B200 or MI300X; a scenario's own value wins, and vLLM's rule is untouched.
#[test]
fn sglang_sizes_its_prefill_chunk_by_gpu_memory() {
    let c = Catalog::builtin();
    let chunk = |engine: &str, gpu: &str, given: Option<u32>| {
        let spec = fleetsim::serving::ReplicaSpec {
            engine: Some(engine.into()),
            max_num_batched_tokens: given,
            ..Default::default()
        };
        spec.resolve(c.gpu(gpu).unwrap())
            .unwrap()
            .max_num_batched_tokens
    };
    let sg = |gpu: &str| chunk("sglang", gpu, None);
    assert_eq!(
        [
            sg("a10g"),
            sg("l40s"),
            sg("h100-sxm"),
            sg("h200"),
            sg("b200"),
            sg("mi300x")
        ],
        [2048, 4096, 8192, 8192, 16384, 16384]
    );
    assert_eq!(chunk("sglang", "b200", Some(4096)), 4096);
    assert_eq!(chunk("vllm", "b200", None), 8192);
    assert_eq!(chunk("vllm", "l40s", None), 2048);
}

/// FP8-KV attention: on FP8 tensor cores for TensorRT-LLM and the 2024 profiles, at the 16-bit
/// rate for `vllm` and `sglang` (their profiles set `fp8_attention: false`); a scenario's own
/// value wins, and a bad value is an error naming the field.
#[test]
fn fp8_attention_comes_from_the_engine_profile() {
    let c = Catalog::builtin();
    let h100 = c.gpu("h100-sxm").unwrap();
    let fp8 = |engine: &str, given: Option<bool>| {
        fleetsim::serving::ReplicaSpec {
            engine: Some(engine.into()),
            fp8_attention: given,
            ..Default::default()
        }
        .resolve(h100)
        .unwrap()
        .fp8_attention
    };
    assert_eq!(
        ["vllm", "sglang", "trtllm", "trtllm-0.17", "vllm-0.6"].map(|e| fp8(e, None)),
        [false, false, true, true, true]
    );
    assert!(fp8("vllm", Some(true)));
    assert!(!fp8("trtllm", Some(false)));
    let bad = serde_json::from_str::<fleetsim::serving::ReplicaSpec>(r#"{"fp8_attention": "yes"}"#)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("expected a boolean"), "{bad}");
}

/// MXFP4 experts' activations: MXFP8 for TensorRT-LLM (its gpt-oss support matrix on
/// Blackwell) and SGLang (its FlashInfer MXFP4 MoE kernel's default precision on Blackwell),
/// 16-bit for vLLM (its default MXFP4 MoE backends) and the 2024 profiles; a scenario's own
/// value wins, and an unknown one is an error naming the values. On a B200, gpt-oss-20b's checkpoint under `trtllm` prefills faster with MXFP8 activations than
/// with 16-bit ones (its experts at the FP8 rate), and Llama-3.1-8B (no MXFP4 experts) does not
/// change.
#[test]
fn mxfp4_activation_comes_from_the_engine_profile() {
    use fleetsim::perf::Mxfp4Activation as A;
    let c = Catalog::builtin();
    let b200 = c.gpu("b200").unwrap();
    let act = |engine: &str, given: Option<A>| {
        fleetsim::serving::ReplicaSpec {
            engine: Some(engine.into()),
            mxfp4_activation: given,
            ..Default::default()
        }
        .resolve(b200)
        .unwrap()
        .mxfp4_activation
    };
    assert_eq!(
        ["vllm", "sglang", "trtllm", "trtllm-0.17"].map(|e| act(e, None)),
        [A::Bf16, A::Fp8, A::Fp8, A::Bf16]
    );
    assert_eq!(act("vllm", Some(A::Fp8)), A::Fp8);
    assert_eq!(act("trtllm", Some(A::Bf16)), A::Bf16);
    let bad =
        serde_json::from_str::<fleetsim::serving::ReplicaSpec>(r#"{"mxfp4_activation": "fp4"}"#)
            .unwrap_err()
            .to_string();
    assert!(bad.contains("bf16") && bad.contains("fp8"), "{bad}");
    let prefill = |model: &str, given: &str| {
        let json = format!(
            r#"{{"model": "{model}", "gpu": "b200",
                "replica": {{"engine": "trtllm", "precision": "fp4"{given}}},
                "workload": {{"synthetic": {{"requests": 1, "arrivals": {{"kind": "poisson", "rate_per_s": 1}},
                    "input_tokens": {{"kind": "fixed", "value": 100}}, "output_tokens": {{"kind": "fixed", "value": 1}}}}}}}}"#
        );
        let run = Scenario::from_json(&json, Path::new("mx.json"))
            .unwrap()
            .resolve(Path::new("."))
            .unwrap();
        run.roofline().step_time_s(&BatchShape {
            decode_seqs: 0,
            decode_context_tokens: 0,
            prefills: vec![PrefillChunk {
                new_tokens: 8192,
                context_tokens: 0,
            }],
        })
    };
    let (fp8, bf16) = (
        prefill("gpt-oss-20b", ""),
        prefill("gpt-oss-20b", r#", "mxfp4_activation": "bf16""#),
    );
    assert!(fp8 < 0.8 * bf16, "{fp8} vs {bf16}");
    assert_eq!(
        prefill("llama-3.1-8b", ""),
        prefill("llama-3.1-8b", r#", "mxfp4_activation": "bf16""#)
    );
}

/// SGLang's memory rule, by hand (`mem_fraction_static`: (memory - reserved) / memory, reserved
/// = 512 MiB + 1.5 MiB x chunk + 2 MiB x the largest CUDA graph batch + 128 MiB x tp, at least
/// 10 GiB above 60 GiB): H100 (81,510 MiB) at TP 1, chunk 8192, graphs to 256: 13,440 MiB
/// reserved, 0.835; at TP 8 (graphs to 512): 14,848, 0.818; B200 (183,296 MiB, chunk 16,384):
/// 26,240, 0.857; L40S (45,568 MiB, chunk 4096, graphs to 32): 6,848, 0.850; A10G (22,528 MiB,
/// chunk 2048, graphs to 24): 3,760, 0.833; H200 (143,770 MiB): 0.907. The `sglang` profile's
/// KV cache is that fraction of memory less the weights; a scenario's own memory key wins,
/// two are refused, and bad values name the field.
#[test]
fn sglang_sizes_weights_and_kv_by_its_own_memory_rule() {
    use fleetsim::serving::{sglang_mem_fraction_static as mfs, MemFractionStatic, ReplicaSpec};
    assert_eq!(mfs(79.6, 8192, 1), 0.835);
    assert_eq!(mfs(79.6, 8192, 8), 0.818);
    assert_eq!(mfs(179.0, 16384, 1), 0.857);
    assert_eq!(mfs(44.5, 4096, 1), 0.85);
    assert_eq!(mfs(22.0, 2048, 1), 0.833);
    assert_eq!(mfs(140.4, 8192, 1), 0.907);
    let c = Catalog::builtin();
    let h100 = c.gpu("h100-sxm").unwrap();
    let resolve = |spec: ReplicaSpec| spec.resolve(h100);
    let sg = resolve(ReplicaSpec {
        engine: Some("sglang".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(sg.mem_fraction_static, Some(0.835));
    let mem =
        fleetsim::serving::MemoryLayout::new(c.model("llama-3.1-8b").unwrap(), h100, &sg).unwrap();
    assert!(
        (mem.kv_gib_per_gpu - (0.835 * 79.6 - mem.weights_gib_per_gpu)).abs() < 1e-9,
        "{mem:?}"
    );
    let own = resolve(ReplicaSpec {
        engine: Some("sglang".into()),
        gpu_memory_utilization: Some(0.9),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(own.mem_fraction_static, None);
    let two = resolve(ReplicaSpec {
        mem_fraction_static: Some(MemFractionStatic::Fraction(0.8)),
        gpu_memory_utilization: Some(0.9),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        two.contains("replica.mem_fraction_static") && two.contains("not two"),
        "{two}"
    );
    let big = resolve(ReplicaSpec {
        mem_fraction_static: Some(MemFractionStatic::Fraction(1.5)),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(big.contains("must be in (0, 1]"), "{big}");
    let bad = serde_json::from_str::<ReplicaSpec>(r#"{"mem_fraction_static": "most"}"#)
        .unwrap_err()
        .to_string();
    assert!(bad.contains(r#"a fraction in (0, 1] or "auto""#), "{bad}");
}

/// A replica beyond the figures its step times were fitted to says so: DeepSeek-V3 in FP8 on
/// eight MI325Xs goes beyond the `vllm` profile's figures in GPU family, precision, mixture of
/// experts, MLA and TP (each named), and summary.json and the band sentence carry it; Llama-3.1-8B in BF16 on an
/// H100 is within them, and step times the scenario sets itself (`perf`) have no band to
/// qualify.
#[test]
fn step_times_beyond_the_fitted_figures_are_called_extrapolated() {
    let spec = |model: &str, gpu: &str, replica: &str, extra: &str| {
        let json = format!(
            r#"{{"seed": 1, "model": "{model}", "gpu": "{gpu}",
                "workload": {{"synthetic": {{"requests": 20, "arrivals": {{"kind": "poisson", "rate_per_s": 1}},
                    "input_tokens": {{"kind": "fixed", "value": 500}}, "output_tokens": {{"kind": "fixed", "value": 50}}}}}},
                "replica": {{{replica}}},
                "cost": {{"gpu_usd_per_hour": {{"{gpu}": 2.0}}, "apis": []}}{extra}}}"#
        );
        Scenario::from_json(&json, Path::new("x.json"))
            .unwrap()
            .resolve(Path::new("."))
            .unwrap()
    };
    let ds = spec(
        "deepseek-v3",
        "mi325x",
        r#""precision": "fp8", "tp": 8"#,
        "",
    );
    let x = ds
        .extrapolation()
        .expect("deepseek-v3 on mi325x is extrapolated");
    for part in [
        "`vllm` profile's bf16 step times rest on no published figure in fp8, on a cdna3 GPU, of a mixture-of-experts model, of a model with MLA's compressed KV cache or above TP 4",
        "(they ran b200, h100-sxm;",
    ] {
        assert!(x.contains(part), "{x}");
    }
    let mut s = ds.run().summary;
    s.band = ds.band_summary();
    assert_eq!(
        s.band.as_ref().and_then(|b| b.extrapolated.as_deref()),
        Some(x.as_str())
    );
    let sentence = fleetsim::report::views::band_sentence(&s).unwrap();
    assert!(sentence.ends_with(&format!(" Note, {x}.")), "{sentence}");
    // Within the figures: nothing to say.
    assert_eq!(
        spec("llama-3.1-8b", "h100-sxm", "", "").extrapolation(),
        None
    );
    // A plan marks the configurations beyond the figures (an L40S: no current-engine figure
    // on an Ada GPU), in its notes, rows and recommendation, and not the H100.
    let tmp = tempfile::tempdir().unwrap();
    let scen = write(
        tmp.path(),
        "p.json",
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 60, "arrivals": {"kind": "poisson", "rate_per_s": 1},
                "input_tokens": {"kind": "fixed", "value": 500}, "output_tokens": {"kind": "fixed", "value": 50}}},
            "slo": {"ttft_s": 2, "tpot_s": 0.1},
            "plan": {"rate_scales": "1", "gpus": ["h100-sxm", "l40s"], "max_replicas": 4}}"#,
    );
    let out = tmp.path().join("o");
    let o = fleetsim(&["plan", &scen, "--out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    let rows = p["rows"].as_array().unwrap();
    let flag = |gpu: &str| {
        rows.iter()
            .find(|r| r["gpu"] == gpu)
            .map(|r| r["step_times_extrapolated"] == true)
            .unwrap()
    };
    assert!(flag("l40s") && !flag("h100-sxm"));
    let notes: Vec<&str> = p["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| n.contains("extrapolated"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("l40s: extrapolated: the `vllm` profile's bf16 step times rest on no published figure on an ada GPU"),
        "{}",
        notes[0]
    );
    // So does a sweep: its note, smallest_fleets.json and the answer line.
    let out = tmp.path().join("s");
    let o = fleetsim(&[
        "sweep",
        &scen,
        "--gpus",
        "l40s",
        "--replicas",
        "1,2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("\nl40s: extrapolated: the `vllm` profile's bf16 step times"),
        "{stdout}"
    );
    let answer = stdout.lines().find(|l| l.starts_with("Answer: ")).unwrap();
    assert!(
        answer.contains("whose step times are extrapolated beyond the published figures"),
        "{answer}"
    );
    let best: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("smallest_fleets.json")).unwrap()).unwrap();
    assert_eq!(best[0]["step_times_extrapolated"], true);
    // Its own step times: no band, nothing to qualify.
    let own = spec(
        "deepseek-v3",
        "mi325x",
        r#""precision": "fp8", "tp": 8"#,
        r#", "perf": {"compute_efficiency": 0.5}"#,
    );
    assert_eq!(own.extrapolation(), None);
}

/// summary.json's `setup` names every replica setting that changes step times or memory: the
/// KV cache's element type, FP8 attention, MXFP4 experts' activations and prefix caching, as
/// the engine profile resolved them or as the scenario set them; the run's table caption says
/// when the KV cache is FP8.
#[test]
fn the_summary_setup_names_the_kv_dtype_attention_and_expert_activations() {
    let dir = tempfile::tempdir().unwrap();
    let setup = |replica: &str| {
        let s = write(
            dir.path(),
            "s.json",
            &format!(
                r#"{{"seed": 1, "model": "gpt-oss-20b", "gpu": "b200", "replica": {{{replica}}},
                    "workload": {{"synthetic": {{"requests": 20, "arrivals": {{"kind": "poisson", "rate_per_s": 2}},
                        "input_tokens": {{"kind": "fixed", "value": 300}}, "output_tokens": {{"kind": "fixed", "value": 20}}}}}}}}"#
            ),
        );
        let (stdout, summary) = run_without_files(Path::new(&s), &dir.path().join("run"));
        let s = &summary["setup"];
        // The run's table caption names an FP8 KV cache beside the precision.
        assert_eq!(
            stdout.contains("gpt-oss-20b (fp4, FP8 KV cache) on"),
            s["kv_cache_dtype"] == "fp8",
            "{stdout}"
        );
        (
            s["kv_cache_dtype"].as_str().unwrap().to_string(),
            s["fp8_attention"].as_bool().unwrap(),
            s["mxfp4_activation"].as_str().unwrap().to_string(),
            s["prefix_caching"].as_bool().unwrap(),
            s.get("num_scheduler_steps").is_none(),
        )
    };
    assert_eq!(
        setup(r#""precision": "fp4""#),
        ("auto".into(), false, "bf16".into(), true, true)
    );
    assert_eq!(
        setup(r#""engine": "trtllm", "precision": "fp4", "kv_cache_dtype": "fp8""#),
        ("fp8".into(), true, "fp8".into(), true, true)
    );
    assert_eq!(
        setup(r#""precision": "fp4", "mxfp4_activation": "fp8", "prefix_caching": false"#),
        ("auto".into(), false, "fp8".into(), false, true)
    );
}
