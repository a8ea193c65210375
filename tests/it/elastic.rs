//! Elastic fleets: pools, autoscaling with cold starts, spot interruptions, overflow to an API,
//! and what they are billed.

use std::path::Path;

use fleetsim::metrics::Status;
use fleetsim::scenario::{RunConfig, Scenario};

use crate::util::{fleetsim, stderr, write};

/// A trace at `low` req/s until `step_s`, then `high` req/s until `end_s` (evenly spaced),
/// 200-token prompts and 100-token outputs, as JSONL in `dir`.
fn step_trace(dir: &Path, low: f64, high: f64, step_s: f64, end_s: f64) -> String {
    let mut t = 0.0;
    let mut s = String::new();
    while t < end_s {
        s.push_str(&format!(
            "{{\"arrival_s\": {t:.6}, \"input_tokens\": 200, \"output_tokens\": 100}}\n"
        ));
        t += if t < step_s { 1.0 / low } else { 1.0 / high };
    }
    write(dir, "step.jsonl", &s)
}

fn config(dir: &Path, trace: &str, fleet: &str, extra: &str) -> RunConfig {
    let json = format!(
        r#"{{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"trace": {{"path": "{trace}", "format": "jsonl"}}}},
            "replica": {{"max_num_seqs": 4}},
            "fleet": {fleet},
            "cost": {{"gpu_usd_per_hour": {{"h100-sxm": 2.0}}, "apis": ["fireworks-llama-3.1-8b"]}}{extra}}}"#
    );
    Scenario::from_json(&json, Path::new("elastic.json"))
        .unwrap()
        .resolve(dir)
        .unwrap()
}

/// TTFTs of requests arriving in `[from, to)`, seconds.
fn ttfts(run: &RunConfig, out: &fleetsim::fleet::SimOutput, from: f64, to: f64) -> Vec<f64> {
    run.requests()
        .iter()
        .zip(&out.recorder.records)
        .filter(|(q, _)| (from..to).contains(&q.arrival.as_secs_f64()))
        .filter_map(|(_, r)| Some((r.first_token? - r.arrival).as_secs_f64()))
        .collect()
}

#[test]
fn every_request_is_accounted_for_with_autoscaling_spot_and_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = step_trace(tmp.path(), 2.0, 12.0, 120.0, 480.0);
    let run = config(
        tmp.path(),
        &trace,
        r#"{"pools": [
            {"name": "base", "replicas": 1},
            {"name": "spot", "replicas": 2, "pricing": "spot", "interruptions_per_hour": 40, "notice_s": 0},
            {"name": "burst", "autoscale": {"min": 0, "max": 6, "metric": "in-flight-per-replica", "target": 4, "interval_s": 5, "scale_down_delay_s": 30, "cold_start_s": 20}}],
            "overflow": {"api": "fireworks-llama-3.1-8b", "in_flight_per_replica": 12}}"#,
        "",
    );
    let r = run.run_full(false, None);
    let s = &r.summary;
    let n = run.requests().len() as u64;
    let q = &s.requests;
    assert_eq!(q.arrived, n);
    assert_eq!(
        q.completed + q.rejected + q.unfinished + q.spilled,
        n,
        "{q:?}"
    );
    assert_eq!(q.unfinished, 0);
    assert!(r
        .output
        .recorder
        .records
        .iter()
        .all(|x| x.status != Status::Pending));
    let spot = s.pools.iter().find(|p| p.name == "spot").unwrap();
    assert!(spot.interruptions > 0, "{spot:?}");
    let burst = s.pools.iter().find(|p| p.name == "burst").unwrap();
    assert!(burst.cold_starts > 0, "{burst:?}");
    assert!(q.spilled > 0 && q.spilled < n / 2, "{q:?}");
    // Interrupted requests were sent again (a preemption each) and finished.
    assert!(s.preemptions > 0);
    let o = s.overflow.as_ref().unwrap();
    assert_eq!(o.spilled_requests, q.spilled);
}

#[test]
fn a_step_in_load_waits_about_one_cold_start_for_new_replicas() {
    let tmp = tempfile::tempdir().unwrap();
    // 1 req/s, then 10 req/s from t = 300 s: one replica of max_num_seqs 4 cannot keep up.
    let trace = step_trace(tmp.path(), 1.0, 10.0, 300.0, 600.0);
    let fleet = |cold: f64| {
        format!(
            r#"{{"pools": [{{"name": "app", "autoscale": {{"min": 1, "max": 12, "metric": "in-flight-per-replica", "target": 3, "interval_s": 1, "scale_down_delay_s": 600, "cold_start_s": {cold}}}}}]}}"#
        )
    };
    let worst_after_step = |cold: f64| {
        let run = config(tmp.path(), &trace, &fleet(cold), "");
        let out = run.run_full(false, None).output;
        // The first replica added after the step serves one cold start after its decision.
        let lives = &out.elastic.as_ref().unwrap().lives;
        let first_new = lives
            .iter()
            .filter(|l| l.cold_start && l.provisioned_at.as_secs_f64() >= 300.0)
            .map(|l| {
                let p = l.provisioned_at.as_secs_f64();
                let a = l.active_at.unwrap().as_secs_f64();
                assert!(
                    (a - p - cold).abs() < 1e-6,
                    "active {a} s, provisioned {p} s"
                );
                p
            })
            .fold(f64::INFINITY, f64::min);
        assert!(
            (300.0..302.0).contains(&first_new),
            "first scale-up at {first_new} s"
        );
        // The last request after the step whose first token took over 2 s, seconds after it.
        let slow = ttfts(&run, &out, 300.0, 600.0);
        let times: Vec<f64> = run
            .requests()
            .iter()
            .filter(|q| q.arrival.as_secs_f64() >= 300.0)
            .map(|q| q.arrival.as_secs_f64())
            .collect();
        assert_eq!(slow.len(), times.len());
        times
            .iter()
            .zip(&slow)
            .filter(|(_, &t)| t > 2.0)
            .map(|(&a, _)| a - 300.0)
            .fold(0.0, f64::max)
    };
    // Without a cold start the new replicas serve at once: no first token takes 2 s.
    assert_eq!(worst_after_step(0.0), 0.0);
    // With a 60 s cold start, requests wait until the new replicas are active: slow first
    // tokens last about the cold start after the step (plus the decision interval and the
    // time to drain what queued meanwhile).
    let elevated = worst_after_step(60.0);
    assert!(
        (0.8 * 60.0..=1.3 * 60.0).contains(&elevated),
        "slow first tokens for {elevated} s after the step"
    );
}

#[test]
fn a_fast_autoscaler_comes_near_the_perfect_one() {
    let tmp = tempfile::tempdir().unwrap();
    // 2 req/s for 10 minutes, 12 req/s for 10 minutes, 2 req/s for 10 minutes.
    let mut s = String::new();
    let mut t: f64 = 0.0;
    while t < 1800.0 {
        s.push_str(&format!(
            "{{\"arrival_s\": {t:.6}, \"input_tokens\": 200, \"output_tokens\": 100}}\n"
        ));
        t += if (600.0..1200.0).contains(&t) {
            1.0 / 12.0
        } else {
            0.5
        };
    }
    let trace = write(tmp.path(), "wave.jsonl", &s);
    let run = config(
        tmp.path(),
        &trace,
        r#"{"pools": [{"name": "app", "autoscale": {"min": 1, "max": 20, "metric": "in-flight-per-replica", "target": 4, "interval_s": 1, "scale_down_delay_s": 0, "cold_start_s": 0}}]}"#,
        "",
    );
    let cap = run.replica_capacity();
    let r = run.run_full(false, Some(&cap));
    let pool = &r.summary.pools[0];
    // The perfect autoscaler provisions, at each instant, the whole replicas the offered rate
    // needs at one replica's capacity: ceil(rate / capacity) for each 600 s phase. (The pool
    // keeps one replica: with none, a fast replica's idle gaps between the slow phase's
    // arrivals scale it to zero, below any whole-replica bound.)
    // An in-flight target autoscaler does not round up to whole replicas' capacity: it can run
    // the peak at fewer replicas, each nearer saturation. So it sits between the fluid need
    // (rate / capacity, at least the one kept replica) and the whole-replica bound.
    let need = |rate: f64| (rate / cap.saturation_requests_per_s).ceil();
    let fluid = |rate: f64| (rate / cap.saturation_requests_per_s).max(1.0);
    let bound_h = (need(2.0) + need(12.0) + need(2.0)) * 600.0 / 3600.0;
    let fluid_h = (fluid(2.0) + fluid(12.0) + fluid(2.0)) * 600.0 / 3600.0;
    let p = pool.provisioned_gpu_hours;
    eprintln!(
        "provisioned {p:.4} GPU-h, fluid need {fluid_h:.4}, whole-replica bound {bound_h:.4}"
    );
    assert!(
        p >= 0.95 * fluid_h && p <= 1.35 * bound_h,
        "provisioned {p:.3} GPU-h against a fluid need of {fluid_h:.3} and a whole-replica bound of {bound_h:.3}"
    );
    assert_eq!(r.summary.requests.completed, run.requests().len() as u64);
}

#[test]
fn a_reserved_pool_is_billed_for_its_count_all_month() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = step_trace(tmp.path(), 0.2, 0.2, 0.0, 600.0);
    let run = config(
        tmp.path(),
        &trace,
        r#"{"pools": [{"name": "base", "replicas": 3, "pricing": "reserved-1y"}]}"#,
        "",
    );
    let r = run.run_full(false, None);
    let s = r.summary;
    let p = &s.pools[0];
    // The timeline shows the 3 replicas provisioned and serving in every bin.
    let tl = run.pool_timeline(&r.output, 97).unwrap();
    assert_eq!(tl.provisioned[0].len(), 97);
    for k in 0..97 {
        assert!((tl.provisioned[0][k] - 3.0).abs() < 1e-9, "bin {k}: {tl:?}");
        assert!((tl.active[0][k] - 3.0).abs() < 1e-9);
    }
    let offered: f64 = tl.offered_per_s.iter().map(|x| x * tl.bin_s).sum();
    assert!((offered - run.requests().len() as f64).abs() < 1e-6);
    // 3 GPUs at $2/h: every hour of the month, and every hour of the span, nearly idle or not.
    assert!((p.per_month_usd - 3.0 * 2.0 * 730.0).abs() < 1e-6, "{p:?}");
    let span_h = s.sim.simulated_s / 3600.0;
    assert!((p.usd - 3.0 * 2.0 * span_h).abs() < 1e-9, "{p:?}");
    assert!((s.cost.as_ref().unwrap().per_month_usd - 4380.0).abs() < 1e-6);
    assert!(p.utilization.is_none());
}

#[test]
fn a_fleet_of_no_replicas_with_overflow_costs_what_the_api_costs() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = step_trace(tmp.path(), 1.0, 1.0, 0.0, 300.0);
    let run = config(
        tmp.path(),
        &trace,
        r#"{"pools": [{"name": "none", "replicas": 0}],
            "overflow": {"api": "fireworks-llama-3.1-8b", "in_flight_per_replica": 0}}"#,
        "",
    );
    let s = run.run_full(false, None).summary;
    assert_eq!(s.requests.spilled, run.requests().len() as u64);
    let c = s.cost.as_ref().unwrap();
    let api = c
        .api
        .iter()
        .find(|a| a.name == "fireworks-llama-3.1-8b")
        .unwrap();
    assert_eq!(c.gpu_usd, 0.0);
    assert_eq!(c.per_month_usd, api.per_month_usd);
    assert_eq!(s.overflow.as_ref().unwrap().usd, api.usd);
}

#[test]
fn bad_pools_and_overflow_are_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let trace = step_trace(d, 1.0, 1.0, 0.0, 10.0);
    let out = d.join("out");
    let out = out.to_str().unwrap();
    for (fleet, needle) in [
        (
            r#"{"pools": [{"name": "a", "gpu": "tpu-v9", "replicas": 1}]}"#,
            "fleet.pools[0].gpu",
        ),
        (
            r#"{"pools": [{"name": "a", "autoscale": {"min": 5, "max": 2, "metric": "queue-length", "target": 1}}]}"#,
            "fleet.pools[0].autoscale.min",
        ),
        (
            r#"{"pools": [{"name": "a", "autoscale": {"min": 0, "max": 2, "metric": "queue-length", "target": 1, "scale_down_delay_s": -5}}]}"#,
            "fleet.pools[0].autoscale.scale_down_delay_s",
        ),
        (
            r#"{"pools": [{"name": "a", "replicas": 1}], "overflow": {"api": "no-such-api", "queue_wait_s": 1}}"#,
            "fleet.overflow.api",
        ),
        (
            r#"{"overflow": {"api": "fireworks-llama-3.1-8b"}}"#,
            "fleet.overflow",
        ),
        (
            r#"{"pools": [{"name": "a", "replicas": 1, "autoscale": {"min": 0, "max": 2, "metric": "kv-usage", "target": 0.5}}]}"#,
            "fleet.pools[0]",
        ),
        (
            r#"{"pools": [{"name": "a", "autoscale": {"min": 0, "max": 2, "metric": "kv-usage", "target": 2}}]}"#,
            "fleet.pools[0].autoscale.target",
        ),
        (
            r#"{"pools": [{"name": "a", "replicas": 1}, {"name": "a", "replicas": 1}]}"#,
            "fleet.pools[1].name",
        ),
        (
            r#"{"pools": [{"name": "a", "replicas": 1, "interruptions_per_hour": 2}]}"#,
            "fleet.pools[0].interruptions_per_hour",
        ),
        (
            r#"{"pools": [{"name": "a", "replicas": 0}]}"#,
            "fleet.pools",
        ),
    ] {
        let body = format!(
            r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {{"trace": {{"path": "{trace}", "format": "jsonl"}}}}, "fleet": {fleet}}}"#
        );
        let path = write(d, "s.json", &body);
        let o = fleetsim(&["run", &path, "--out", out, "-q"]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{fleet}: {e}");
        assert!(e.contains(needle), "expected `{needle}` in: {e}");
    }
}

#[test]
fn the_mix_search_picks_the_cheapest_mix_it_simulated() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = step_trace(tmp.path(), 2.0, 14.0, 200.0, 400.0);
    let json = format!(
        r#"{{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"trace": {{"path": "{trace}", "format": "jsonl"}}}},
            "replica": {{"max_num_seqs": 4}},
            "slo": {{"ttft_s": 3, "tpot_s": 0.1}},
            "cost": {{"gpu_usd_per_hour": {{"h100-sxm": 2.0}}}}}}"#
    );
    let s = Scenario::from_json(&json, Path::new("mix.json")).unwrap();
    let m = fleetsim::sweep::plan::mix::search(&s, tmp.path(), 16, 2).unwrap();
    assert!(m.fixed_for_peak >= 2, "{m:?}");
    let best = m.best.expect("a mix meets the SLO");
    let cost = m.mixes[best].per_month_usd;
    for x in m.mixes.iter().filter(|x| x.meets_slo) {
        assert!(
            cost <= x.per_month_usd,
            "{:?} beats the choice {:?}",
            x,
            m.mixes[best]
        );
    }
    // Every reserved count from 0 to the fixed-for-peak fleet was tried with an autoscaled
    // complement, and from 1 with overflow.
    let autoscaled = m
        .mixes
        .iter()
        .filter(|x| x.complement == "on-demand autoscaled");
    assert_eq!(autoscaled.count() as u32, m.fixed_for_peak + 1);
    // A spot price is known (the scenario's price applies to every pricing): spot mixes too.
    let spot = m.mixes.iter().filter(|x| x.complement == "spot autoscaled");
    assert_eq!(spot.count() as u32, m.fixed_for_peak + 1);
    assert!(m.answer.contains("fixed peak fleet") && m.answer.contains("all on demand"));
}

/// Replicas running ahead of the queue change nothing (fleet/sim.rs, `step_on`): what of
/// `r` (a run of `run`) differs when every step end goes through the queue: the summary,
/// the records, the replica lives and spills, the totals, the end or the event count.
fn differs_without_run_ahead(
    run: &RunConfig,
    r: &fleetsim::scenario::RunResult,
) -> Option<&'static str> {
    let q = run.run_full_without_run_ahead(None);
    let (a, b) = (&r.output, &q.output);
    [
        ("steps run ahead when switched off", b.steps_run_ahead == 0),
        (
            "summaries",
            serde_json::to_string(&r.summary).unwrap()
                == serde_json::to_string(&q.summary).unwrap(),
        ),
        (
            "records",
            format!("{:?}", a.recorder.records) == format!("{:?}", b.recorder.records),
        ),
        (
            "replica lives and spills",
            format!("{:?}", a.elastic) == format!("{:?}", b.elastic),
        ),
        ("replica totals", a.replicas == b.replicas),
        (
            "ends and event counts",
            (a.end, a.recorder.events) == (b.end, b.recorder.events),
        ),
    ]
    .into_iter()
    .find(|c| !c.1)
    .map(|c| c.0)
}

mod random {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any mix of a fixed pool, an autoscaled pool (any metric, interval, windows, cold
        /// start), spot interruptions and overflow serves or spills every request, bills no
        /// negative time, and provisions at least what it served on.
        #[test]
        fn random_elastic_fleets_account_for_every_request(
            fixed in 0u32..3,
            max in 1u32..6,
            metric in 0usize..3,
            target in 1.0f64..20.0,
            interval in 0.5f64..30.0,
            up in 0.0f64..60.0,
            down in 0.0f64..400.0,
            cold in 0.0f64..120.0,
            spot_rate in prop::option::of(0.0f64..60.0),
            overflow in prop::option::of(0.0f64..10.0),
            high in 2.0f64..20.0,
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let trace = step_trace(tmp.path(), 1.0, high, 60.0, 180.0);
            let metric = ["in-flight-per-replica", "queue-length", "kv-usage"][metric];
            let target = if metric == "kv-usage" { (target / 20.0).min(1.0) } else { target };
            let pricing = match spot_rate {
                Some(r) => format!(r#""pricing": "spot", "interruptions_per_hour": {r}, "notice_s": 10"#),
                None => r#""pricing": "on-demand""#.to_string(),
            };
            let overflow = overflow
                .map(|n| format!(r#", "overflow": {{"api": "fireworks-llama-3.1-8b", "in_flight_per_replica": {n}}}"#))
                .unwrap_or_default();
            let fleet = format!(
                r#"{{"pools": [
                    {{"name": "fixed", "replicas": {fixed}}},
                    {{"name": "auto", {pricing}, "autoscale": {{"min": 0, "max": {max}, "metric": "{metric}", "target": {target}, "interval_s": {interval}, "scale_up_delay_s": {up}, "scale_down_delay_s": {down}, "cold_start_s": {cold}}}}}]{overflow}}}"#
            );
            let run = config(tmp.path(), &trace, &fleet, "");
            let r = run.run_full(false, None);
            let q = &r.summary.requests;
            let n = run.requests().len() as u64;
            prop_assert_eq!(q.arrived, n);
            prop_assert_eq!(q.completed + q.rejected + q.unfinished + q.spilled, n);
            prop_assert_eq!(q.unfinished, 0);
            for p in &r.summary.pools {
                prop_assert!(p.provisioned_gpu_hours >= 0.0 && p.billed_gpu_hours >= 0.0);
                prop_assert!(p.active_gpu_hours <= p.provisioned_gpu_hours + 1e-9);
                prop_assert!(p.busy_gpu_hours <= p.active_gpu_hours + 1e-6, "{:?}", p);
                prop_assert!(p.usd >= 0.0 && p.per_month_usd.is_finite());
            }
            if let Some(what) = differs_without_run_ahead(&run, &r) {
                prop_assert!(false, "{} differ when step ends are all queued", what);
            }
        }
    }

    /// Running ahead on a day-like elastic fleet: most step ends skip the queue, and the
    /// outputs are those of the queued run.
    #[test]
    fn running_ahead_in_an_elastic_fleet_changes_no_output() {
        let tmp = tempfile::tempdir().unwrap();
        let trace = step_trace(tmp.path(), 2.0, 12.0, 120.0, 600.0);
        let fleet = r#"{"pools": [
            {"name": "base", "replicas": 1},
            {"name": "burst", "pricing": "spot", "interruptions_per_hour": 20, "notice_s": 30,
             "autoscale": {"min": 0, "max": 4, "metric": "in-flight-per-replica", "target": 8,
                           "interval_s": 10, "cold_start_s": 30}}],
            "overflow": {"api": "fireworks-llama-3.1-8b", "queue_wait_s": 2}}"#;
        let run = config(tmp.path(), &trace, fleet, "");
        let r = run.run_full(false, None);
        if let Some(what) = differs_without_run_ahead(&run, &r) {
            panic!("{what} differ when step ends are all queued");
        }
        let steps: u64 = r.output.replicas.iter().map(|t| t.steps).sum();
        assert!(
            r.output.steps_run_ahead * 2 > steps,
            "only {} of {steps} step ends ran ahead",
            r.output.steps_run_ahead
        );
    }
}
