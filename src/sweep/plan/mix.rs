//! "How many to buy": the mix search. For the scenario's GPU and traffic, the smallest fixed
//! fleet that meets the SLO alone (fixed for the peak) bounds the reserved count; for each
//! reserved count from 0 to it, the complements are simulated (an on-demand pool autoscaled on
//! in-flight requests, or overflow to the cheapest same-model API), and the cheapest mix that
//! keeps up and meets the SLO is chosen against all-API, all-on-demand-autoscaled and
//! fixed-for-peak. Every candidate is a full simulation of the traffic.

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fleet::{AutoscaleSpec, OverflowSpec, PoolSpec, ScaleMetric};
use crate::metrics::Summary;
use crate::scenario::{Overrides, Prepared, Scenario};

/// One mix simulated.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Mix {
    /// Reserved replicas (fixed, paid all month).
    pub reserved: u32,
    /// The complement: `on-demand autoscaled`, `spot autoscaled` or `overflow to API`.
    pub complement: String,
    /// Most replicas the autoscaler may start (autoscaled complements).
    pub burst_max: u32,
    /// Most replicas of the autoscaled pool provisioned at once.
    pub burst_peak: u32,
    /// Share of requests spilled to the API.
    pub spilled_share: f64,
    /// Whether it keeps up and meets the SLO.
    pub meets_slo: bool,
    /// SLO attainment.
    pub attainment: f64,
    /// Per month: the reserved pool, USD.
    pub reserved_usd_per_month: f64,
    /// Per month: the autoscaled pool (on demand or spot), USD.
    pub burst_usd_per_month: f64,
    /// Per month: the overflow API, USD.
    pub api_usd_per_month: f64,
    /// Per month in all (operations included), USD.
    pub per_month_usd: f64,
    /// Why it could not run, if it could not.
    pub error: Option<String>,
}

/// The mix search's result.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MixPlan {
    /// GPU id.
    pub gpu: String,
    /// The fixed fleet that meets the SLO alone (fixed for the peak), replicas.
    pub fixed_for_peak: u32,
    /// Its monthly cost on demand, USD.
    pub fixed_for_peak_usd_per_month: f64,
    /// The cheapest same-model API and its monthly cost (null: none compared).
    pub all_api: Option<(String, f64)>,
    /// The in-flight target per replica the autoscaled complements use (Little's law at one
    /// replica's capacity: capacity x the fixed fleet's mean end-to-end latency).
    pub autoscale_target: f64,
    /// Every mix simulated.
    pub mixes: Vec<Mix>,
    /// The index in `mixes` of the cheapest that meets the SLO (null: none does).
    pub best: Option<usize>,
    /// The answer in one sentence.
    pub answer: String,
}

fn pool(name: &str, pricing: &str) -> PoolSpec {
    PoolSpec {
        name: name.into(),
        gpu: None,
        tp: None,
        replica: None,
        replicas: None,
        autoscale: None,
        pricing: Some(pricing.into()),
        provider: None,
        interruptions_per_hour: None,
        notice_s: None,
    }
}

/// Spot interruptions per replica-hour by GPU family: the AWS Spot Instance Advisor's monthly
/// interruption band (share of instances interrupted in a month) at its middle, over 730 hours:
/// H100 (p5) 10-20%, A100 (p4d) 5-10%, L4 and others under 5% (Thunder Compute, "GPU spot
/// instance interruption rates", data of 2025-05-01). Low confidence: bands vary by region
/// and zone.
pub fn spot_interruptions_per_hour(family: &str) -> f64 {
    let per_month = match family {
        "hopper" => 0.15,
        "ampere" => 0.075,
        _ => 0.05,
    };
    per_month / 730.0
}

fn meets(s: &Summary) -> bool {
    !s.stability.overloaded && s.slo.as_ref().is_some_and(|x| x.met)
}

/// Runs the mix search for `scenario` (which must set an SLO) on its own GPU and replica
/// settings, up to `max_replicas` replicas, on `threads` threads.
pub fn search(
    scenario: &Scenario,
    base_dir: &std::path::Path,
    max_replicas: u32,
    threads: usize,
) -> Result<MixPlan> {
    if scenario.slo.is_none() {
        return Err(Error::config(
            "slo",
            "a mix search needs latency targets: set `slo`, e.g. {\"ttft_s\": 2, \"tpot_s\": 0.1}",
        ));
    }
    let mut fixed_scenario = scenario.clone();
    let mut fleet = scenario.fleet.clone().unwrap_or_default();
    fleet.pools = None;
    fleet.overflow = None;
    fixed_scenario.fleet = Some(fleet.clone());
    let prepared = fixed_scenario.prepare(base_dir)?;
    let pool_threads = crate::sweep::thread_pool(threads)?;
    let base = prepared.run_spec(&Overrides::default())?;
    let capacity = base.replica_capacity();
    let run_fixed = |n: u32| -> Result<Summary> {
        Ok(prepared
            .run_spec(&Overrides {
                replicas: Some(n),
                ..Overrides::default()
            })?
            .run_full(false, Some(&capacity))
            .summary)
    };
    // Fixed for the peak: doubling, then bisection.
    let (mut lo, mut hi) = (0u32, 1u32);
    let mut at_hi = run_fixed(hi)?;
    while !meets(&at_hi) {
        if hi >= max_replicas {
            return Err(Error::config(
                "plan.max_replicas",
                format!("no fixed fleet of up to {max_replicas} replicas meets the SLO"),
            ));
        }
        lo = hi;
        hi = (hi * 2).min(max_replicas);
        at_hi = run_fixed(hi)?;
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let s = run_fixed(mid)?;
        if meets(&s) {
            hi = mid;
            at_hi = s;
        } else {
            lo = mid;
        }
    }
    let fixed = hi;
    let fixed_cost = at_hi.cost.as_ref().map(|c| c.per_month_usd).unwrap_or(0.0);
    let all_api = at_hi.cost.as_ref().and_then(|c| {
        let name = c.cheapest_same_model_api.clone()?;
        let a = c.api.iter().find(|a| a.name == name)?;
        // No fleet to operate: the API's spend alone.
        Some((name, a.per_month_usd))
    });
    // In-flight per replica at capacity, by Little's law.
    let target = (capacity.requests_per_s * at_hi.latency.e2e_s.mean).max(1.0);
    // Spot is a complement where the price list has a spot price for the GPU.
    let spot = prepared
        .scenario()
        .cost
        .clone()
        .unwrap_or_default()
        .pricing_for("spot")
        .gpu_price(&base.gpu.id)
        .is_ok();
    let interruptions = spot_interruptions_per_hour(&base.gpu.family);
    let mut jobs: Vec<(u32, &'static str)> = Vec::new();
    for r in 0..=fixed {
        jobs.push((r, "on-demand autoscaled"));
        if spot {
            jobs.push((r, "spot autoscaled"));
        }
        if r > 0 && all_api.is_some() {
            jobs.push((r, "overflow to API"));
        }
    }
    let mixes: Vec<Mix> = pool_threads.install(|| {
        jobs.par_iter()
            .map(|&(r, complement)| {
                let mut s = scenario.clone();
                let mut f = fleet.clone();
                let mut pools = Vec::new();
                if r > 0 {
                    let mut p = pool("reserved", "reserved-1y");
                    p.replicas = Some(r);
                    pools.push(p);
                }
                let burst_max = fixed.saturating_sub(r).max(1) + 1;
                match complement {
                    "on-demand autoscaled" | "spot autoscaled" => {
                        let mut p = if complement == "spot autoscaled" {
                            let mut p = pool("spot", "spot");
                            p.interruptions_per_hour = Some(interruptions);
                            p.notice_s = Some(120.0);
                            p
                        } else {
                            pool("on-demand", "on-demand")
                        };
                        p.autoscale = Some(AutoscaleSpec {
                            min: 0,
                            max: burst_max,
                            metric: ScaleMetric::InFlightPerReplica,
                            target,
                            interval_s: 15.0,
                            scale_up_delay_s: 0.0,
                            scale_down_delay_s: 300.0,
                            cold_start_s: None,
                        });
                        pools.push(p);
                    }
                    _ => {
                        f.overflow = Some(OverflowSpec {
                            api: all_api.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
                            queue_wait_s: Some(1.0),
                            in_flight_per_replica: None,
                        });
                    }
                }
                f.pools = Some(pools);
                f.replicas = 1;
                s.fleet = Some(f);
                simulate(&s, base_dir, r, complement, burst_max, &capacity)
            })
            .collect()
    });
    let best = mixes
        .iter()
        .enumerate()
        .filter(|(_, m)| m.meets_slo && m.error.is_none())
        .min_by(|a, b| a.1.per_month_usd.total_cmp(&b.1.per_month_usd))
        .map(|(i, _)| i);
    let answer = answer(&prepared, fixed, fixed_cost, &all_api, &mixes, best);
    Ok(MixPlan {
        gpu: base.gpu.id.clone(),
        fixed_for_peak: fixed,
        fixed_for_peak_usd_per_month: fixed_cost,
        all_api,
        autoscale_target: target,
        mixes,
        best,
        answer,
    })
}

fn simulate(
    s: &Scenario,
    base_dir: &std::path::Path,
    reserved: u32,
    complement: &str,
    burst_max: u32,
    capacity: &crate::scenario::ReplicaCapacity,
) -> Mix {
    let mut m = Mix {
        reserved,
        complement: complement.into(),
        burst_max: if complement.ends_with("autoscaled") {
            burst_max
        } else {
            0
        },
        burst_peak: 0,
        spilled_share: 0.0,
        meets_slo: false,
        attainment: 0.0,
        reserved_usd_per_month: 0.0,
        burst_usd_per_month: 0.0,
        api_usd_per_month: 0.0,
        per_month_usd: f64::INFINITY,
        error: None,
    };
    let run = match s.resolve(base_dir) {
        Ok(r) => r,
        Err(e) => {
            m.error = Some(e.to_string());
            return m;
        }
    };
    let sum = run.run_full(false, Some(capacity)).summary;
    m.meets_slo = meets(&sum);
    m.attainment = sum.slo.as_ref().map(|x| x.attainment).unwrap_or(0.0);
    for p in &sum.pools {
        if p.name == "reserved" {
            m.reserved_usd_per_month = p.per_month_usd;
        } else {
            m.burst_usd_per_month = p.per_month_usd;
            m.burst_peak = p.peak_replicas;
        }
    }
    if let Some(o) = &sum.overflow {
        m.api_usd_per_month = o.per_month_usd;
        m.spilled_share = o.spilled_share;
    }
    m.per_month_usd = sum
        .cost
        .as_ref()
        .map(|c| c.per_month_usd)
        .unwrap_or(f64::INFINITY);
    m
}

fn answer(
    prepared: &Prepared,
    fixed: u32,
    fixed_cost: f64,
    all_api: &Option<(String, f64)>,
    mixes: &[Mix],
    best: Option<usize>,
) -> String {
    let gpu = &prepared.scenario().gpu;
    let money = crate::text::money;
    let api = all_api
        .as_ref()
        .map(|(n, c)| format!("all-API ({n}) {}", money(*c)))
        .unwrap_or_else(|| "no same-model API compared".into());
    let on_demand = mixes
        .iter()
        .find(|m| m.reserved == 0 && m.complement == "on-demand autoscaled" && m.meets_slo)
        .map(|m| format!("all on demand, autoscaled: {}", money(m.per_month_usd)))
        .unwrap_or_else(|| "all on demand, autoscaled: misses the SLO".into());
    let head = match best.map(|i| &mixes[i]) {
        None => "no mix simulated meets the SLO".to_string(),
        Some(m) => {
            let mut parts = vec![format!("buy {} reserved {gpu}", m.reserved)];
            if m.complement.ends_with("autoscaled") {
                let kind = if m.complement.starts_with("spot") {
                    "spot"
                } else {
                    "on demand"
                };
                parts.push(format!(
                    "autoscale 0 to {} {kind} (peak {} provisioned, draining ones included)",
                    m.burst_max, m.burst_peak
                ));
            } else {
                parts.push(format!("spill {:.1}% to the API", 100.0 * m.spilled_share));
            }
            format!("{}: {}/month", parts.join(", "), money(m.per_month_usd))
        }
    };
    let cheaper = match (all_api, best.map(|i| mixes[i].per_month_usd)) {
        (Some((n, c)), Some(b)) if *c < b => {
            format!(" The API is cheaper: {n} saves {} a month.", money(b - c))
        }
        _ => String::new(),
    };
    format!(
        "{head}; {api}; {on_demand}; fixed peak fleet ({fixed} on demand) {}.{cheaper}",
        money(fixed_cost)
    )
}
