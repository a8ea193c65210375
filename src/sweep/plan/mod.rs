//! The self-host-or-API plan: for a range of traffic volumes (the workload's rate scaled), the
//! smallest fleet of each GPU type that meets the SLO, what it costs per month, what each API
//! would cost, and the volumes at which self-hosting breaks even.
//!
//! The smallest fleet is found by doubling the replica count until the SLO is met, then
//! bisecting, so the answer `n` is always simulated next to `n - 1` (which misses).

use rayon::prelude::*;

mod breakeven;
pub mod mix;
mod search;

pub use self::breakeven::breakevens;
use self::breakeven::recommend;
use self::search::{search, Evals};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fleet::MAX_REPLICAS;
pub use crate::scenario::axes::PlanSpec;
use crate::scenario::{AdviceKind, Scenario};
use crate::sweep::{FloatAxis, IntAxis, Point, ReplicaAxes, Sweep, SweepAxes, SweepConfig};

/// Parses a volume list: `a..b` doubles from a up to b; otherwise comma-separated numbers.
pub fn parse_volumes(text: &str) -> Result<Vec<f64>> {
    let t = text.trim();
    let bad = |m: String| Error::config("plan.rate_scales", m);
    let num = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| bad(format!("`{}` is not a number (in `{t}`)", s.trim())))
    };
    let v: Vec<f64> = if let Some((a, b)) = t.split_once("..") {
        let (a, b) = (num(a)?, num(b.trim_start_matches('='))?);
        if !(a > 0.0 && b >= a && b.is_finite()) {
            return Err(bad(format!(
                "`{t}` must run from a positive number up to a larger one"
            )));
        }
        let mut v = vec![];
        let mut x = a;
        while x <= b * (1.0 + 1e-9) {
            v.push(x);
            x *= 2.0;
        }
        v
    } else {
        t.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(num)
            .collect::<Result<_>>()?
    };
    if v.is_empty() || v.iter().any(|x| !(x.is_finite() && *x > 0.0 && *x <= 1e6)) {
        return Err(bad(format!("`{t}` must give positive volumes")));
    }
    Ok(v)
}

/// One API's monthly spend at a volume.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ApiAt {
    /// API id.
    pub name: String,
    /// What it serves: an open-weight model id, `closed` or `unknown`.
    pub serves: String,
    /// Whether it serves the planned model.
    pub same_model: bool,
    /// Its published latency against the SLO (see `cost.api[].slo_verdict`).
    pub slo_verdict: String,
    /// USD per month.
    pub per_month_usd: f64,
}

/// The plan for one GPU type at one volume.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlanRow {
    /// Traffic volume as a multiple of the workload's rate.
    pub rate_scale: f64,
    /// Requests per second at that volume.
    pub requests_per_s: f64,
    /// Tokens (input + output) per month at that volume.
    pub monthly_tokens: f64,
    /// The configuration sized: the GPU id, then the replica settings the plan varies.
    pub config: String,
    /// GPU id.
    pub gpu: String,
    /// Tensor-parallel GPUs per replica.
    pub tp: u32,
    /// Replica settings the plan sets (null: the scenario's own).
    pub replica: ReplicaAxes,
    /// Smallest fleet meeting the SLO (null: none up to max_replicas, or the model does not fit).
    pub replicas: Option<u32>,
    /// Its GPUs: replicas x tp.
    pub gpus: Option<u64>,
    /// Why there is none.
    pub error: Option<String>,
    /// Its monthly cost, USD.
    pub per_month_usd: Option<f64>,
    /// Share of the monthly bill that pays for GPU capacity the traffic leaves unused
    /// (`cost.unused_capacity_usd_per_month` / `cost.per_month_usd`).
    pub unused_share: Option<f64>,
    /// The traffic's share of that fleet's capacity.
    pub utilization: Option<f64>,
    /// Its GPUs per month, USD.
    pub gpu_usd_per_month: Option<f64>,
    /// The part of that paying for capacity the traffic leaves unused, USD per month.
    pub unused_capacity_usd_per_month: Option<f64>,
    /// One replica's capacity for this traffic within the SLO, requests per second.
    pub replica_requests_per_s: Option<f64>,
    /// The lowest and highest of the draws that capacity is the median of, requests per second.
    pub replica_requests_per_s_range: Option<[f64; 2]>,
    /// The chosen fleet's capacity for this traffic within the SLO, requests per second: measured
    /// on the whole fleet where pooling or an affinity router can make it differ from replicas x
    /// one replica's (`fleet_requests_per_s_range` then set), else that product.
    pub fleet_requests_per_s: Option<f64>,
    /// The lowest and highest of the whole-fleet draws it is the median of, where measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_requests_per_s_range: Option<[f64; 2]>,
    /// Where the fleet was measured on fewer of its replicas and scaled to its size (a lower
    /// bound: pooling grows with the fleet), how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_measured_on_replicas: Option<u32>,
    /// Its SLO attainment.
    pub attainment: Option<f64>,
    /// Its p99 TTFT, seconds.
    pub ttft_p99_s: Option<f64>,
    /// Its p99 TPOT, seconds.
    pub tpot_p99_s: Option<f64>,
    /// SLO attainment of one replica fewer (which misses).
    pub one_fewer_attainment: Option<f64>,
    /// Each API at this volume.
    pub apis: Vec<ApiAt>,
    /// The cheapest option: `self-hosted` or an API id (APIs whose published median latency
    /// misses the SLO are left out).
    pub cheapest: String,
    /// The cheapest endpoint of the same model (null: none compared).
    pub cheapest_same_model_api: Option<String>,
    /// The smallest fleet again with step times at the ends of the engine profile's error
    /// band (null: no band, as when the scenario's `perf` sets the step times).
    pub replicas_within_error: Option<crate::sweep::ReplicasBand>,
    /// The configuration's step times go beyond the figures they were fitted to (see the
    /// plan's `notes` and [`crate::scenario::RunConfig::extrapolation`]); absent when not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub step_times_extrapolated: bool,
}

impl PlanRow {
    /// The row marked as resting on extrapolated step times, where `yes`.
    fn with_extrapolated(mut self, yes: bool) -> PlanRow {
        self.step_times_extrapolated = yes;
        self
    }

    fn with_band(mut self, band: Option<(f64, f64, Option<u32>, Option<u32>)>) -> PlanRow {
        self.replicas_within_error = band.map(|(fl, fh, lo, hi)| crate::sweep::ReplicasBand {
            step_time_factors: [fl, fh],
            low: lo,
            high: hi,
        });
        self
    }

    /// "3-4" style range of the fleet within the model's error, when there is a band.
    pub fn replicas_range(&self) -> Option<String> {
        self.replicas_within_error.as_ref().map(|b| b.range())
    }
}

/// Where self-hosting on one configuration breaks even with one API.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Breakeven {
    /// The configuration (see [`PlanRow::config`]).
    pub config: String,
    /// GPU id.
    pub gpu: String,
    /// API id.
    pub api: String,
    /// Tokens per month above which self-hosting is cheaper at every planned volume
    /// (null: not within the planned volumes).
    pub monthly_tokens: Option<f64>,
    /// The monthly cost there, USD (the fleet's, equal to the API's at that volume).
    pub per_month_usd: Option<f64>,
    /// The smallest planned volume (rate scale) from which self-hosting stays cheaper.
    pub from_rate_scale: Option<f64>,
}

/// A finished plan.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Plan {
    /// One row per volume and GPU type, volumes ascending.
    pub rows: Vec<PlanRow>,
    /// Break-even volumes per GPU type and API.
    pub breakeven: Vec<Breakeven>,
    /// The plain-language recommendation at the base volume.
    pub recommendation: String,
    /// What the plan says about its configurations: pairings `"tp": "auto"` left out because
    /// the model does not fit, configurations whose KV cache gets little memory beside the
    /// weights (a larger tensor-parallel size may serve more per GPU), those whose full
    /// prefill chunk takes many times the TPOT target, and those whose step times are
    /// extrapolated beyond the figures they were fitted to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Runs the plan for `scenario` (which must set an SLO) over `volumes` and `gpus`, crossed with
/// the replica settings of the scenario's `plan` (tp, precision, max_num_batched_tokens).
pub fn run(
    scenario: &Scenario,
    base_dir: &std::path::Path,
    volumes: &[f64],
    gpus: &[String],
    max_replicas: u32,
    threads: usize,
) -> Result<Plan> {
    if scenario.slo.is_none() {
        return Err(Error::config(
            "slo",
            "a plan needs latency targets: set `slo`, e.g. {\"ttft_s\": 2, \"tpot_s\": 0.1}",
        ));
    }
    if !(1..=MAX_REPLICAS).contains(&max_replicas) {
        return Err(Error::config(
            "plan.max_replicas",
            format!("must be 1..={MAX_REPLICAS}, got {max_replicas}"),
        ));
    }
    let ps = scenario.plan.clone().unwrap_or_default();
    // `"tp": "auto"`: every tensor-parallel size a replica can have, the pairings the model
    // does not fit left out below.
    let auto_tp = matches!(&ps.tp, Some(IntAxis::Text(t)) if t.trim().eq_ignore_ascii_case("auto"));
    let axes = SweepAxes {
        gpus: Some(gpus.to_vec()),
        rate_scale: Some(FloatAxis::List(volumes.to_vec())),
        tp: if auto_tp {
            Some(IntAxis::List(AUTO_TP.to_vec()))
        } else {
            ps.tp.clone()
        },
        precision: ps.precision.clone(),
        max_num_batched_tokens: ps.max_num_batched_tokens.clone(),
        engines: ps.engines.clone(),
        ..Default::default()
    };
    let spec = SweepConfig::new(&axes, scenario).map_err(|e| match e {
        Error::Config { field, msg } if field.starts_with("sweep.") => {
            Error::config(format!("plan.{}", &field["sweep.".len()..]), msg)
        }
        e => e,
    })?;
    let router = spec.routers[0];
    let sweep = Sweep::new(scenario.clone(), spec.clone(), base_dir)?;
    // Configurations in order: GPU, then replica settings.
    let mut configs: Vec<(String, ReplicaAxes)> = spec
        .gpus
        .iter()
        .flat_map(|g| spec.replica.iter().map(move |r| (g.clone(), r.clone())))
        .collect();
    let (notes, extrapolated) = config_notes(
        &sweep,
        &mut configs,
        router,
        volumes[0],
        auto_tp,
        ps.tp.is_none(),
    );
    let label = super::group_label;
    let jobs: Vec<(f64, usize)> = volumes
        .iter()
        .flat_map(|&v| (0..configs.len()).map(move |c| (v, c)))
        .collect();
    let pool = crate::sweep::thread_pool(threads)?;
    let config_points: Vec<Point> = configs
        .iter()
        .map(|(g, r)| Point {
            index: 0,
            gpu: g.clone(),
            router,
            replica: r.clone(),
            rate_scale: volumes[0],
            replicas: 1,
        })
        .collect();
    let capacities = pool.install(|| sweep.capacities(&config_points));
    type Found = (
        (Option<u32>, Evals),
        Option<(f64, f64, Option<u32>, Option<u32>)>,
    );
    let found: Vec<Found> = pool.install(|| {
        jobs.par_iter()
            .map(|&(v, c)| {
                let (g, r) = &configs[c];
                let key = sweep.capacity_group(&config_points[c]);
                let cap = capacities.get(&key);
                let base = Point {
                    index: 0,
                    gpu: g.clone(),
                    router,
                    replica: r.clone(),
                    rate_scale: v,
                    replicas: 1,
                };
                let main = search(&sweep, &base, max_replicas, cap, 1.0);
                // The decisive point again at both ends of the engine profile's error band.
                let band = sweep
                    .point_spec(&config_points[c])
                    .ok()
                    .and_then(|s| s.band)
                    .map(|b| {
                        let (lo, hi) = rayon::join(
                            || search(&sweep, &base, max_replicas, cap, b.low).0,
                            || search(&sweep, &base, max_replicas, cap, b.high).0,
                        );
                        (b.low, b.high, lo, hi)
                    });
                (main, band)
            })
            .collect()
    });
    // Each chosen fleet's own capacity where pooling or an affinity router can make it differ
    // from replicas x one replica's: measured once per configuration and fleet size measured
    // (it does not depend on the volume; fleets past the size measured share it, scaled), then
    // the chosen point simulated again with it.
    let measured = |c: usize, n: u32| {
        sweep.fleet_measured_replicas(&Point {
            replicas: n,
            ..config_points[c].clone()
        })
    };
    let mut wanted: Vec<(usize, u32, u32)> = jobs
        .iter()
        .zip(&found)
        .filter_map(|(&(_, c), ((best, _), _))| {
            best.filter(|&n| n > 1).map(|n| (c, measured(c, n), n))
        })
        .collect();
    wanted.sort_unstable();
    // One per configuration and size measured (the smallest chosen size for it).
    wanted.dedup_by_key(|w| (w.0, w.1));
    let fleets: std::collections::BTreeMap<(usize, u32), crate::scenario::ReplicaCapacity> = pool
        .install(|| {
            wanted
                .par_iter()
                .filter_map(|&(c, m, n)| {
                    let p = Point {
                        replicas: m,
                        ..config_points[c].clone()
                    };
                    let spec = sweep.point_spec(&p).ok()?;
                    // One replica's, as the search found it for this size (its own behind an
                    // affinity router).
                    let chosen = jobs
                        .iter()
                        .zip(&found)
                        .filter(|(&(_, j), _)| j == c)
                        .find_map(|(_, ((_, evals), _))| {
                            evals.get(&n)?.as_ref().ok()?.capacity.clone()
                        })?;
                    let one = crate::scenario::ReplicaCapacity::from_summary(&chosen)?;
                    let with = spec.with_fleet_capacity(&one);
                    with.fleet.is_some().then_some(((c, m), with))
                })
                .collect()
        });
    let found: Vec<Found> = pool.install(|| {
        jobs.par_iter()
            .zip(found)
            .map(|(&(v, c), ((best, mut evals), band))| {
                let fleet = best.and_then(|n| Some((n, fleets.get(&(c, measured(c, n)))?)));
                if let Some((n, cap)) = fleet {
                    let mut cap = cap.clone();
                    cap.fleet = cap.fleet.map(|f| f.scaled_to(n));
                    let (g, r) = &configs[c];
                    let p = Point {
                        index: 0,
                        gpu: g.clone(),
                        router,
                        replica: r.clone(),
                        rate_scale: v,
                        replicas: n,
                    };
                    if let Ok(spec) = sweep.point_spec(&p) {
                        evals.insert(n, Ok(spec.run_full(false, Some(&cap)).summary));
                    }
                }
                ((best, evals), band)
            })
            .collect()
    });
    let rows: Vec<PlanRow> = jobs
        .iter()
        .zip(found)
        .map(|(&(v, c), ((best, evals), band))| {
            let (g, ra) = &configs[c];
            let capacity = capacities.get(&sweep.capacity_group(&config_points[c]));
            plan_row(
                scenario,
                &sweep,
                Config {
                    label: &label(g, ra),
                    gpu: g,
                    replica: ra,
                },
                v,
                (best, &evals),
                capacity,
                max_replicas,
            )
            .with_band(band)
            .with_extrapolated(extrapolated[c])
        })
        .collect();
    let labels: Vec<String> = configs.iter().map(|(g, r)| label(g, r)).collect();
    let breakeven = breakevens(&rows, &labels);
    let recommendation = recommend(&rows, &breakeven, volumes, &sweep.traffic(volumes[0]).model);
    Ok(Plan {
        rows,
        breakeven,
        recommendation,
        notes,
    })
}

/// Tensor-parallel sizes `"tp": "auto"` sizes.
pub const AUTO_TP: [u32; 4] = [1, 2, 4, 8];

/// What the plan says about its configurations (see [`Plan::notes`]). With `auto_tp`, the
/// pairings of GPU and tensor-parallel size the model does not fit are dropped from `configs`
/// (all kept if none fits, so that the plan says why) and named. Then each configuration's
/// [`crate::scenario::RunConfig::advice`]: a full prefill chunk many times the TPOT target,
/// and, where the tensor-parallel size is the scenario's own (`default_tp`), a KV cache given
/// little memory beside the weights, with the way to size other TPs (gpt-oss-120b on one H100
/// has 7 GiB of KV beside 63 GiB of weights, and two H100s serve about three times what one
/// does); then where step times are extrapolated ([`crate::scenario::RunConfig::extrapolation`],
/// configurations sharing a sentence on one line). Also returns, per configuration kept, whether
/// its step times are extrapolated.
fn config_notes(
    sweep: &Sweep,
    configs: &mut Vec<(String, ReplicaAxes)>,
    router: crate::fleet::RouterKind,
    rate_scale: f64,
    auto_tp: bool,
    default_tp: bool,
) -> (Vec<String>, Vec<bool>) {
    let point = |g: &str, r: &ReplicaAxes| Point {
        index: 0,
        gpu: g.to_string(),
        router,
        replica: r.clone(),
        rate_scale,
        replicas: 1,
    };
    let mut notes = Vec::new();
    if auto_tp {
        let fits: Vec<bool> = configs
            .iter()
            .map(|(g, r)| !matches!(sweep.point_spec(&point(g, r)), Err(Error::DoesNotFit(_))))
            .collect();
        if fits.iter().any(|&f| f) && !fits.iter().all(|&f| f) {
            let mut dropped: Vec<(String, Vec<u32>)> = Vec::new();
            for ((g, r), _) in configs.iter().zip(&fits).filter(|(_, &f)| !f) {
                let tp = r.tp.unwrap_or(1);
                match dropped.iter_mut().find(|(d, _)| d == g) {
                    Some((_, tps)) if !tps.contains(&tp) => tps.push(tp),
                    Some(_) => {}
                    None => dropped.push((g.clone(), vec![tp])),
                }
            }
            let mut keep = fits.iter();
            configs.retain(|_| *keep.next().unwrap_or(&true));
            for (g, tps) in dropped {
                let tps: Vec<String> = tps.iter().map(|t| t.to_string()).collect();
                notes.push(format!(
                    "tp auto: the model does not fit {g} at TP {}, left out",
                    tps.join(", ")
                ));
            }
        }
    }
    let mut named: Vec<&str> = Vec::new();
    let mut extrapolated = Vec::new();
    let mut flags = Vec::with_capacity(configs.len());
    for (g, r) in configs.iter() {
        let Ok(spec) = sweep.point_spec(&point(g, r)) else {
            flags.push(false);
            continue;
        };
        for a in spec.advice() {
            let text = a.text;
            match a.kind {
                // Where the plan sizes the scenario's own TP, once per GPU with the way to
                // size the others.
                AdviceKind::KvStarved => {
                    if default_tp && !named.contains(&g.as_str()) {
                        named.push(g);
                        notes.push(format!(
                            "{g} {text}: `plan.tp: \"auto\"` (or `--tp auto`) sizes TP 1, 2, 4 and 8"
                        ));
                    }
                }
                AdviceKind::ChunkStall => {
                    notes.push(format!("{}: {text}", super::group_label(g, r)))
                }
            }
        }
        let x = spec.extrapolation();
        flags.push(x.is_some());
        if let Some(x) = x {
            extrapolated.push((super::group_label(g, r), x));
        }
    }
    notes.extend(crate::text::labelled_once(extrapolated));
    (notes, flags)
}

/// One configuration of a plan: its label, GPU and replica settings.
struct Config<'a> {
    label: &'a str,
    gpu: &'a str,
    replica: &'a ReplicaAxes,
}

/// The plan's row for one volume (`v`, a rate scale) and configuration, from the search's
/// result: the smallest fleet meeting the SLO (`best`) and every fleet simulated (`evals`).
fn plan_row(
    scenario: &Scenario,
    sweep: &Sweep,
    config: Config,
    v: f64,
    (best, evals): (Option<u32>, &Evals),
    capacity: Option<&crate::scenario::ReplicaCapacity>,
    max_replicas: u32,
) -> PlanRow {
    let Config {
        label,
        gpu: g,
        replica: ra,
    } = config;
    let traffic = sweep.traffic(v);
    let tokens: u64 = traffic
        .workload
        .requests
        .iter()
        .map(|r| r.input_tokens as u64 + r.output_tokens as u64)
        .sum();
    let span_h = traffic.span_s / 3600.0;
    let monthly_tokens = tokens as f64 * crate::cost::MONTH_HOURS / span_h;
    let apis: Vec<ApiAt> = traffic
        .apis
        .iter()
        .map(|(a, s)| ApiAt {
            name: a.id.clone(),
            serves: a.serves.clone(),
            same_model: a.serves_model(&traffic.model),
            slo_verdict: crate::cost::slo_verdict(
                a,
                scenario.slo.as_ref().map(|s| s.latency_targets()),
            )
            .to_string(),
            per_month_usd: crate::cost::monthly_usd(s.usd, span_h),
        })
        .collect();
    let chosen = best.and_then(|n| evals[&n].as_ref().ok());
    let cost = chosen.and_then(|s| s.cost.as_ref());
    let error = match best {
        Some(_) => None,
        None => Some(match evals.values().find_map(|e| e.as_ref().err()) {
            Some(e) => e.clone(),
            None => format!("no fleet of up to {max_replicas} replicas meets the SLO"),
        }),
    };
    let tp = evals
        .values()
        .find_map(|e| e.as_ref().ok().map(|s| s.setup.tp))
        .or(ra.tp)
        .or(scenario.replica.tp)
        .unwrap_or(1);
    let per_month = cost.map(|c| c.per_month_usd);
    let options: Vec<crate::cost::ApiOption> = apis
        .iter()
        .map(|a| crate::cost::ApiOption {
            name: &a.name,
            per_month_usd: a.per_month_usd,
            same_model: a.same_model,
            slo_verdict: &a.slo_verdict,
        })
        .collect();
    let (cheapest, cheapest_same_model_api) = crate::cost::cheapest_options(per_month, &options);
    PlanRow {
        rate_scale: v,
        requests_per_s: traffic.workload.requests.len() as f64 / traffic.span_s,
        monthly_tokens,
        config: label.to_string(),
        gpu: g.to_string(),
        tp,
        replica: ra.clone(),
        replicas: best,
        gpus: best.map(|n| n as u64 * tp as u64),
        error,
        per_month_usd: per_month,
        unused_share: cost.map(|c| {
            if c.per_month_usd > 0.0 {
                c.unused_capacity_usd_per_month / c.per_month_usd
            } else {
                0.0
            }
        }),
        utilization: chosen
            .and_then(|s| s.capacity.as_ref())
            .map(|c| c.utilization),
        gpu_usd_per_month: cost
            .map(|c| c.used_capacity_usd_per_month + c.unused_capacity_usd_per_month),
        unused_capacity_usd_per_month: cost.map(|c| c.unused_capacity_usd_per_month),
        // The chosen fleet's (behind an affinity router, its size's own), else the group's.
        replica_requests_per_s: chosen
            .and_then(|s| s.capacity.as_ref())
            .map(|c| c.replica_requests_per_s)
            .or(capacity.map(|c| c.requests_per_s)),
        replica_requests_per_s_range: chosen
            .and_then(|s| s.capacity.as_ref())
            .map(|c| c.replica_requests_per_s_range)
            .or(capacity.map(|c| c.requests_per_s_range)),
        fleet_requests_per_s: chosen
            .and_then(|s| s.capacity.as_ref())
            .map(|c| c.fleet_requests_per_s),
        fleet_requests_per_s_range: chosen
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.fleet_measured.as_ref())
            .map(|f| f.requests_per_s_range),
        fleet_measured_on_replicas: chosen
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.fleet_measured.as_ref())
            .and_then(|f| f.measured_on_replicas),
        attainment: chosen.and_then(|s| s.slo.as_ref()).map(|s| s.attainment),
        ttft_p99_s: chosen
            .filter(|s| s.latency.ttft_s.samples > 0)
            .map(|s| s.latency.ttft_s.p99),
        tpot_p99_s: chosen
            .filter(|s| s.latency.tpot_s.samples > 0)
            .map(|s| s.latency.tpot_s.p99),
        one_fewer_attainment: best
            .filter(|&n| n > 1)
            .and_then(|n| evals.get(&(n - 1)))
            .and_then(|e| e.as_ref().ok())
            .and_then(|s| s.slo.as_ref())
            .map(|s| s.attainment),
        apis,
        cheapest,
        cheapest_same_model_api,
        replicas_within_error: None,
        step_times_extrapolated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse() {
        assert_eq!(
            parse_volumes("0.25..16").unwrap(),
            vec![0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
        );
        assert_eq!(parse_volumes("1,3").unwrap(), vec![1.0, 3.0]);
        for bad in ["4..1", "0..2", "x", "", "1,-2"] {
            assert!(parse_volumes(bad).is_err(), "{bad}");
        }
    }
}
