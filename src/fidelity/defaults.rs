//! Refitting the engine profiles' step-time parameters (`src/catalog/engines.json`) to the counted
//! published figures of `fleetsim validate`, per GPU family and precision, and checking that fit
//! on held-out workloads (cross-validation).

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::optimize::{descend, golden};
use super::published::calibration_jobs;
use super::validate::TARGET_WORST;
use crate::error::Result;
use crate::perf::RooflineParams;
use crate::scenario::Scenario;

/// Fitted step-time parameters for one GPU and precision.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupFit {
    /// Engine profiles the fit is for.
    pub engines: Vec<String>,
    /// GPU family.
    pub family: String,
    /// Weight precision.
    pub precision: String,
    /// Counted figures fitted.
    pub figures: usize,
    /// Whether mixture-of-experts figures were among them (else the fit's time per MoE layer
    /// is not pinned and a replica borrows it, see
    /// [`crate::catalog::EngineProfile::moe_layer_overhead_for`]).
    pub moe_fitted: bool,
    /// The fit of the same profile whose per-step overhead this one holds rather than fits
    /// (`"{family} {precision}"`, see [`overhead_source`]); `None`: fitted here.
    pub step_overhead_from: Option<String>,
    /// The fitted parameters.
    pub params: crate::perf::RooflineParams,
    /// The GPUs, models and tensor-parallel sizes of the figures fitted.
    pub fitted_on: crate::catalog::FitCoverage,
    /// Median |error| with the defaults in use when the fit ran (`src/catalog/engines.json`).
    pub median_abs_error_current: f64,
    /// Median |error| with the fitted ones.
    pub median_abs_error_fitted: f64,
    /// Worst |error| with the fitted ones.
    pub worst_abs_error_fitted: f64,
    /// Held-out test figures predicted with the fit (never fitted).
    pub test_figures: usize,
    /// Their median |error|.
    pub median_abs_error_test: Option<f64>,
    /// Their worst |error|.
    pub worst_abs_error_test: Option<f64>,
}

/// Bounds of the fit: compute efficiency, memory efficiency, step overhead (ms). They keep the
/// model physical: kernels reach 30-90% of peak tensor FLOP/s and 50-95% of peak bandwidth, and
/// a step costs at most a few milliseconds besides its kernels.
pub const FIT_BOUNDS: [(f64, f64); 3] = [(0.3, 0.9), (0.5, 0.95), (0.0, 2.0)];

/// Bounds of the fitted link efficiency (fraction of NVLink or PCIe bandwidth all-reduce reaches).
pub const FIT_LINK_BOUNDS: (f64, f64) = (0.2, 0.9);

/// Bounds of the fitted all-reduce latency, microseconds (NCCL's small-message all-reduce on
/// 2-8 GPUs takes some 10-50 us end to end).
pub const FIT_ALLREDUCE_US_BOUNDS: (f64, f64) = (5.0, 60.0);

/// Bounds of the fitted time per mixture-of-experts layer per step, microseconds (a router,
/// a top-k, two permutations and a grouped GEMM launch some 5-10 kernels; at small batches
/// their floor and the expert kernels' inefficiency cost tens of microseconds).
pub const FIT_MOE_LAYER_US_BOUNDS: (f64, f64) = (0.0, 100.0);

/// Bounds of the fitted per-sequence overhead, microseconds per sequence per step.
pub const FIT_SEQ_BOUNDS: (f64, f64) = (0.0, 10.0);

/// The 2024 engine profiles, fitted jointly to the 2024 figures (too few per engine apart).
pub const ENGINES_2024: [&str; 4] = ["trtllm-0.17", "sglang-0.3", "vllm-0.6", "vllm-0.5"];

type Read = fn(&crate::metrics::Summary) -> f64;

/// A fit group: (profiles, GPU family, precision). The 2024 engines are fitted jointly per
/// family and precision. A current engine is fitted per precision across GPU families (`*`,
/// which every family without a fit of its own uses), and per family where that family has
/// figures enough of its own ([`family_qualifies`]): TensorRT-LLM's 4-bit figures on Hopper
/// (MXFP4 experts, 16-bit math) and on Blackwell (FP4 tensor cores) pull one shared set to
/// opposite bounds.
type Group = (String, String, String);

/// Least figures and setups (model, GPU, tensor parallelism) for a current engine's GPU family
/// to get a fit of its own rather than only the profile's `*` fit.
pub const FAMILY_FIT_MIN: (usize, usize) = (10, 2);

/// The profile key of the 2024 engines' joint groups.
const JOINT_2024: &str = "2024";

/// One simulation of the fit: its group (for a current engine the `*` group; it also belongs to
/// its family's, see [`member`]), cross-validation fold, whether it is a held-out test figure,
/// resolved run and counted figures as (measured, measured kind, how to read the prediction).
struct FitRun {
    group: Group,
    fold: u8,
    test: bool,
    spec: crate::scenario::RunConfig,
    figures: Vec<(f64, super::published::Kind, Read)>,
}

fn fit_runs(root: &Path) -> Result<Vec<FitRun>> {
    let mut runs = Vec::new();
    let mut jobs = calibration_jobs(root)?;
    jobs.extend(super::current::current_jobs()?);
    for j in jobs {
        let Some(text) = &j.scenario else { continue };
        let figures: Vec<(f64, super::published::Kind, Read)> = j
            .figures
            .iter()
            .filter(|f| !j.unmodelled.iter().any(|(m, _)| *m == "*" || *m == f.0))
            .map(|f| (f.2, f.1, f.3))
            .collect();
        if figures.is_empty() {
            continue;
        }
        let spec =
            Scenario::from_json(text, Path::new("validate")).and_then(|s| s.resolve(root))?;
        let precision = spec.replica.precision.as_str().to_string();
        let group = if ENGINES_2024.contains(&j.profile.as_str()) {
            (JOINT_2024.to_string(), spec.gpu.family.clone(), precision)
        } else {
            (j.profile.clone(), "*".to_string(), precision)
        };
        runs.push(FitRun {
            group,
            fold: j.fold,
            test: j.test,
            spec,
            figures,
        });
    }
    Ok(runs)
}

/// Whether `r` is fitted in group `g`: its own group, or for a current engine also its GPU
/// family's group at its precision.
fn member(r: &FitRun, g: &Group) -> bool {
    if r.group.0 == JOINT_2024 || g.1 == "*" {
        return r.group == *g;
    }
    r.group.0 == g.0 && r.group.2 == g.2 && r.spec.gpu.family == g.1
}

/// Whether a current engine's run has a family group of its own among `groups` (then its
/// predictions, and its share of the error band, come from that fit, not the `*` one).
fn has_family_fit(r: &FitRun, groups: &[Group]) -> bool {
    r.group.0 != JOINT_2024
        && groups
            .iter()
            .any(|g| g.1 != "*" && g.1 == r.spec.gpu.family && member(r, g))
}

/// Log errors ln(predicted / measured) of every figure of `runs` under `p`.
fn log_errors(pool: &rayon::ThreadPool, runs: &[&FitRun], p: RooflineParams) -> Vec<f64> {
    pool.install(|| {
        runs.par_iter()
            .map(|r| {
                let mut s = r.spec.clone();
                s.params = p;
                let summary = s.run().summary;
                r.figures
                    .iter()
                    .map(|(m, _, read)| (read(&summary) / m).ln())
                    .collect::<Vec<f64>>()
            })
            .collect::<Vec<Vec<f64>>>()
            .concat()
    })
}

/// (median |error|, worst |error|, figures) of log errors.
fn abs_stats(log_errs: &[f64]) -> (f64, f64, usize) {
    let mut e: Vec<f64> = log_errs.iter().map(|x| (x.exp() - 1.0).abs()).collect();
    e.sort_by(f64::total_cmp);
    (
        crate::stats::percentile_sorted(&e, 50.0),
        e.last().copied().unwrap_or(0.0),
        e.len(),
    )
}

/// Where the fit's worst-case penalty starts: |error| beyond this costs extra (5 points inside
/// the 40% target, so that the fitted defaults meet it with room).
pub const FIT_PENALTY_FROM: f64 = TARGET_WORST - 0.05;

/// Weight of the worst-case penalty against the mean squared log error.
pub const FIT_PENALTY_WEIGHT: f64 = 10.0;

/// The fit's objective over log errors ln(predicted / measured): the mean squared log error plus
/// `penalty_weight` times the summed squares of how far each |relative error| exceeds
/// [`FIT_PENALTY_FROM`]. Least squares alone trades a few figures far off for a better median;
/// the penalty ([`FIT_PENALTY_WEIGHT`]) keeps the worst-case target inside the fit.
pub fn fit_objective(log_errs: &[f64], penalty_weight: f64) -> f64 {
    let mse = log_errs.iter().map(|x| x * x).sum::<f64>() / log_errs.len().max(1) as f64;
    let excess: f64 = log_errs
        .iter()
        .map(|x| ((x.exp() - 1.0).abs() - FIT_PENALTY_FROM).max(0.0).powi(2))
        .sum();
    mse + penalty_weight * excess
}

/// Minimizes [`fit_objective`] over `runs` from the generic defaults by rounds of coordinate
/// descent: compute efficiency, memory efficiency and fixed overhead, then the per-sequence
/// overhead, then link efficiency and all-reduce latency (which only tensor-parallel runs see).
/// Two rounds of plain least squares, then one with the worst-case penalty from there (the
/// penalty from the start steers the descent into a poor corner: Hopper's median went to 18%);
/// the penalized fit is kept only if it brings every figure within [`TARGET_WORST`].
/// Starting from fixed values, not the defaults in use, makes the fit a function of the data.
///
/// A current engine's group (few figures, [`JOINT_2024`] excepted) gets four coordinate rounds
/// per pass instead of one, so that the descent follows the valley between memory efficiency
/// and per-step overhead to its floor, and a weak prior ([`FIT_PRIOR_WEIGHT`]) that keeps a
/// parameter its figures do not pin (compute efficiency, when every figure is a decode) at the
/// generic default instead of wherever the descent left it.
///
/// With `step_overhead_ms` given (a group of mixture-of-experts figures only, see
/// [`overhead_source`]) the per-step overhead is held there and the rest is fitted around it.
fn fit_group(
    pool: &rayon::ThreadPool,
    runs: &[&FitRun],
    step_overhead_ms: Option<f64>,
) -> RooflineParams {
    let current = runs.iter().all(|r| r.group.0 != JOINT_2024);
    let rounds = if current { 4 } else { 1 };
    let prior_weight = if current { FIT_PRIOR_WEIGHT } else { 0.0 };
    let mut p = RooflineParams::default();
    let mut bounds = FIT_BOUNDS;
    if let Some(x) = step_overhead_ms {
        p.step_overhead_ms = x;
        bounds[2] = (x, x);
    }
    let mut least_squares = p;
    for weight in [0.0, 0.0, FIT_PENALTY_WEIGHT] {
        if weight > 0.0 {
            least_squares = p;
        }
        let obj = |p: RooflineParams| {
            fit_objective(&log_errors(pool, runs, p), weight) + prior_weight * prior(p)
        };
        // Golden-section search of one parameter (set by `set`) within `bounds`, the others fixed.
        let search = |p: RooflineParams, bounds: (f64, f64), set: fn(&mut RooflineParams, f64)| {
            golden(bounds.0, bounds.1, 10, |x| {
                let mut q = p;
                set(&mut q, x);
                obj(q)
            })
        };
        p = descend(&obj, p, bounds, 10, rounds, false);
        p.seq_overhead_us = search(p, FIT_SEQ_BOUNDS, |q, x| q.seq_overhead_us = x);
        if fits_moe(runs) {
            p.moe_layer_overhead_us = search(p, FIT_MOE_LAYER_US_BOUNDS, |q, x| {
                q.moe_layer_overhead_us = x
            });
        }
        if runs.iter().any(|r| r.spec.replica.tp > 1) {
            p.link_efficiency = search(p, FIT_LINK_BOUNDS, |q, x| q.link_efficiency = x);
            p.allreduce_latency_us = Some(search(p, FIT_ALLREDUCE_US_BOUNDS, |q, x| {
                q.allreduce_latency_us = Some(x)
            }));
        }
    }
    // The penalty is there to keep every figure within the worst-case target; where no
    // parameters in bounds can, it only trades the median for a smaller miss and drives every
    // parameter to a bound (TensorRT-LLM's FP4 figures): keep the least-squares fit instead.
    let worst = |q: RooflineParams| abs_stats(&log_errors(pool, runs, q)).1;
    if worst(p) > TARGET_WORST {
        return least_squares;
    }
    p
}

/// Whether a fit of `runs` fits the time per mixture-of-experts layer: a current engine's
/// group with mixture-of-experts figures.
fn fits_moe(runs: &[&FitRun]) -> bool {
    runs.iter().all(|r| r.group.0 != JOINT_2024) && runs.iter().any(|r| r.spec.model.is_moe())
}

/// Where a group takes its per-step overhead from instead of fitting it: a current engine's
/// group whose figures are all of mixture-of-experts models takes it from the same engine's
/// fit of dense figures only (its own GPU family's, else the `*` one; of two, the one with
/// more figures). The per-step overhead is the engine's and host's work per step (scheduling,
/// sampling, launching the step), the same whatever the weights; figures of one
/// mixture-of-experts model cannot tell it from the time per MoE layer (a fixed number of
/// layers), and fitted freely the two traded until the overhead sat at its 2 ms bound
/// (vLLM's gpt-oss-20b fit, 2026-12-03). Returns the index of the source among `groups`.
fn overhead_source(g: &Group, runs: &[FitRun], groups: &[Group]) -> Option<usize> {
    let figures_of =
        |g: &Group| -> Vec<&FitRun> { runs.iter().filter(|r| member(r, g) && !r.test).collect() };
    let mine = figures_of(g);
    if g.0 == JOINT_2024 || mine.is_empty() || !mine.iter().all(|r| r.spec.model.is_moe()) {
        return None;
    }
    groups
        .iter()
        .enumerate()
        .filter(|(_, d)| d.0 == g.0 && (d.1 == g.1 || d.1 == "*"))
        .map(|(i, d)| (i, d, figures_of(d)))
        .filter(|(_, _, f)| !f.is_empty() && f.iter().all(|r| !r.spec.model.is_moe()))
        .max_by_key(|(_, d, f)| (d.1 == g.1, f.len(), std::cmp::Reverse(d.2.clone())))
        .map(|(i, _, _)| i)
}

/// Every group's [`overhead_source`].
fn overhead_sources(runs: &[FitRun], groups: &[Group]) -> Vec<Option<usize>> {
    groups
        .iter()
        .map(|g| overhead_source(g, runs, groups))
        .collect()
}

/// Weight of [`prior`] in a current engine's fit: small enough that any parameter the figures
/// pin moves freely (a 1% error costs 1e-4, the prior at a bound about 2e-3), large enough to
/// hold the ones they leave free.
pub const FIT_PRIOR_WEIGHT: f64 = 0.01;

/// Squared distance of `p` from the generic defaults, each parameter scaled by its fit range.
pub fn prior(p: RooflineParams) -> f64 {
    let d = RooflineParams::default();
    let sq = |x: f64, x0: f64, (lo, hi): (f64, f64)| ((x - x0) / (hi - lo)).powi(2);
    sq(p.compute_efficiency, d.compute_efficiency, FIT_BOUNDS[0])
        + sq(p.memory_efficiency, d.memory_efficiency, FIT_BOUNDS[1])
        + sq(p.step_overhead_ms, d.step_overhead_ms, FIT_BOUNDS[2])
        + sq(p.seq_overhead_us, d.seq_overhead_us, FIT_SEQ_BOUNDS)
        + sq(p.link_efficiency, d.link_efficiency, FIT_LINK_BOUNDS)
        + sq(
            p.moe_layer_overhead_us,
            d.moe_layer_overhead_us,
            FIT_MOE_LAYER_US_BOUNDS,
        )
}

/// The (family, precision) groups with enough variety to fit: for the 2024 engines, figures
/// from at least two models and two tensor-parallel sizes, so that per-GPU efficiencies are
/// told apart from what one model or one parallel layout costs; for a current engine, at least
/// two setups at a precision (the `*` group), and a family group where [`family_qualifies`].
/// Others keep the fallback defaults.
fn groups(runs: &[FitRun]) -> Vec<Group> {
    let mut g: Vec<Group> = runs
        .iter()
        .filter(|r| !r.test)
        .map(|r| r.group.clone())
        .collect();
    // Candidate family groups of the current engines.
    g.extend(
        runs.iter()
            .filter(|r| !r.test && r.group.0 != JOINT_2024)
            .map(|r| {
                (
                    r.group.0.clone(),
                    r.spec.gpu.family.clone(),
                    r.group.2.clone(),
                )
            }),
    );
    g.sort();
    g.dedup();
    g.retain(|g| {
        let mine: Vec<&FitRun> = runs.iter().filter(|r| member(r, g) && !r.test).collect();
        if g.0 != JOINT_2024 {
            let figures: usize = mine.iter().map(|r| r.figures.len()).sum();
            let setups = setups(&mine);
            if g.1 == "*" {
                return setups >= 2;
            }
            // A family fit only where the `*` fit also covers other families (else the two
            // would be the same fit).
            let pooled = runs
                .iter()
                .filter(|r| !r.test && r.group.0 == g.0 && r.group.2 == g.2)
                .count();
            return family_qualifies(figures, setups) && mine.len() < pooled;
        }
        let mut models: Vec<&str> = mine.iter().map(|r| r.spec.model.id.as_str()).collect();
        let mut tps: Vec<u32> = mine.iter().map(|r| r.spec.replica.tp).collect();
        models.sort();
        models.dedup();
        tps.sort();
        tps.dedup();
        models.len() >= 2 && tps.len() >= 2
    });
    g
}

/// The GPUs, models and tensor-parallel sizes `runs` simulate.
fn coverage(runs: &[&FitRun]) -> crate::catalog::FitCoverage {
    let mut c = crate::catalog::FitCoverage::default();
    for r in runs {
        c.gpus.push(r.spec.gpu.id.clone());
        c.models.push(r.spec.model.id.clone());
        c.tp.push(r.spec.replica.tp);
    }
    c.gpus.sort();
    c.gpus.dedup();
    c.models.sort();
    c.models.dedup();
    c.tp.sort_unstable();
    c.tp.dedup();
    c
}

/// Distinct (model, GPU, tensor parallelism) setups among `runs`.
fn setups(runs: &[&FitRun]) -> usize {
    let mut s: Vec<(&str, &str, u32)> = runs
        .iter()
        .map(|r| {
            (
                r.spec.model.id.as_str(),
                r.spec.gpu.id.as_str(),
                r.spec.replica.tp,
            )
        })
        .collect();
    s.sort();
    s.dedup();
    s.len()
}

/// Whether a current engine's GPU family with `figures` counted figures from `setups` setups at
/// one precision gets a fit of its own ([`FAMILY_FIT_MIN`]).
pub fn family_qualifies(figures: usize, setups: usize) -> bool {
    figures >= FAMILY_FIT_MIN.0 && setups >= FAMILY_FIT_MIN.1
}

/// Fits each of `groups` that `engines` asks for, or whose per-step overhead one of those takes
/// (`sources`, each group's [`overhead_source`]), on its runs that `train` keeps: the sources
/// first, then the groups that hold their overhead. `None` where not fitted.
fn fit_groups(
    pool: &rayon::ThreadPool,
    runs: &[FitRun],
    groups: &[Group],
    sources: &[Option<usize>],
    train: impl Fn(&FitRun) -> bool,
    engines: Option<&[String]>,
) -> Vec<Option<RooflineParams>> {
    let needed = |i: usize| {
        wanted(&groups[i], engines)
            || (0..groups.len()).any(|j| sources[j] == Some(i) && wanted(&groups[j], engines))
    };
    let order = (0..groups.len())
        .filter(|&i| sources[i].is_none())
        .chain((0..groups.len()).filter(|&i| sources[i].is_some()));
    let mut fitted: Vec<Option<RooflineParams>> = vec![None; groups.len()];
    for i in order.filter(|&i| needed(i)) {
        let mine: Vec<&FitRun> = runs
            .iter()
            .filter(|r| member(r, &groups[i]) && train(r))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let overhead = sources[i]
            .and_then(|s| fitted[s])
            .map(|q| q.step_overhead_ms);
        fitted[i] = Some(fit_group(pool, &mine, overhead));
    }
    fitted
}

/// Fits compute efficiency, memory efficiency, link efficiency and per-step overhead per GPU
/// family and precision to the counted figures of `fleetsim validate` (every model and engine
/// of that family at that precision shares one set), minimizing [`fit_objective`] by
/// coordinate descent with golden-section searches within [`FIT_BOUNDS`] and
/// [`FIT_LINK_BOUNDS`] (`fit_group`), starting from the generic defaults. A current engine's
/// group of mixture-of-experts figures only holds the per-step overhead of its engine's dense
/// fit ([`overhead_source`]).
pub fn fit_defaults(
    root: &Path,
    threads: usize,
    engines: Option<&[String]>,
) -> Result<Vec<GroupFit>> {
    let pool = crate::sweep::thread_pool(threads)?;
    let runs = fit_runs(root)?;
    let all = groups(&runs);
    let sources = overhead_sources(&runs, &all);
    let fitted = fit_groups(&pool, &runs, &all, &sources, |r| !r.test, engines);
    let mut out = Vec::new();
    for ((g, p), source) in all.iter().zip(fitted).zip(&sources) {
        let Some(p) = p.filter(|_| wanted(g, engines)) else {
            continue;
        };
        let mine: Vec<&FitRun> = runs.iter().filter(|r| member(r, g) && !r.test).collect();
        let tests: Vec<&FitRun> = runs.iter().filter(|r| member(r, g) && r.test).collect();
        let current = abs_stats(&log_errors(&pool, &mine, mine[0].spec.params)).0;
        let (after, worst, n) = abs_stats(&log_errors(&pool, &mine, p));
        let test = (!tests.is_empty()).then(|| abs_stats(&log_errors(&pool, &tests, p)));
        out.push(GroupFit {
            engines: group_engines(g),
            family: g.1.clone(),
            precision: g.2.clone(),
            figures: n,
            moe_fitted: fits_moe(&mine),
            step_overhead_from: source.map(|s| format!("{} {}", all[s].1, all[s].2)),
            params: p,
            fitted_on: coverage(&mine),
            median_abs_error_current: current,
            median_abs_error_fitted: after,
            worst_abs_error_fitted: worst,
            test_figures: test.map_or(0, |t| t.2),
            median_abs_error_test: test.map(|t| t.0),
            worst_abs_error_test: test.map(|t| t.1),
        });
    }
    Ok(out)
}

/// Whether group `g` is among the profiles asked for (all when `engines` is `None`).
fn wanted(g: &Group, engines: Option<&[String]>) -> bool {
    engines.is_none_or(|e| group_engines(g).iter().any(|x| e.contains(x)))
}

/// The engine profiles a group's fit is for.
fn group_engines(g: &Group) -> Vec<String> {
    if g.0 == JOINT_2024 {
        ENGINES_2024.iter().map(|e| e.to_string()).collect()
    } else {
        vec![g.0.clone()]
    }
}

/// Step-time factors the figures of `runs` imply under `p`: how much every step would have to
/// be scaled for the prediction to equal the measurement (measured / predicted for latencies,
/// predicted / measured for throughputs; below 1: the engine is faster than predicted).
fn step_factors(pool: &rayon::ThreadPool, runs: &[&FitRun], p: RooflineParams) -> Vec<f64> {
    let kinds: Vec<super::published::Kind> = runs
        .iter()
        .flat_map(|r| r.figures.iter().map(|f| f.1))
        .collect();
    log_errors(pool, runs, p)
        .into_iter()
        .zip(kinds)
        .map(|(e, k)| match k {
            super::published::Kind::Throughput => e.exp(),
            _ => (-e).exp(),
        })
        .collect()
}

/// The error band of step-time factors: their 10th and 90th percentiles, widened to contain 1
/// (the point estimate).
pub fn band_of(factors: &[f64]) -> Option<crate::catalog::ErrorBand> {
    if factors.is_empty() {
        return None;
    }
    let mut f = factors.to_vec();
    f.sort_by(f64::total_cmp);
    Some(crate::catalog::ErrorBand {
        low: crate::stats::percentile_sorted(&f, 10.0).min(1.0),
        high: crate::stats::percentile_sorted(&f, 90.0).max(1.0),
        figures: f.len() as u32,
    })
}

/// One fold of the two-fold cross-validation of the fit.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FoldCheck {
    /// Engine profiles of the group.
    pub engines: Vec<String>,
    /// GPU family.
    pub family: String,
    /// Weight precision.
    pub precision: String,
    /// The fold held out (0 or 1; see docs/VALIDATION.md for which workloads are in each).
    pub held_out_fold: u8,
    /// Figures fitted.
    pub fitted_figures: usize,
    /// Figures held out.
    pub held_out_figures: usize,
    /// The parameters fitted without the held-out fold.
    pub params: RooflineParams,
    /// Median |error| on the figures fitted.
    pub median_abs_error_fitted: f64,
    /// Median |error| on the held-out figures.
    pub median_abs_error_held_out: f64,
    /// Worst |error| on the held-out figures.
    pub worst_abs_error_held_out: f64,
}

/// Two-fold cross-validation of [`fit_defaults`]: for each family and precision, fits on one
/// fold of workloads and predicts the other, so the errors on held-out figures show how the
/// fitted defaults do on workloads they were not fitted to. Folds: offline ISL/OSL 128/2048,
/// 500/2000, 2048/128, 5000/500 and 1000/2000 and the 8 req/s serving runs are fold 1; the rest
/// fold 0.
pub fn cross_validate(
    root: &Path,
    threads: usize,
    engines: Option<&[String]>,
) -> Result<CrossValidation> {
    let pool = crate::sweep::thread_pool(threads)?;
    let runs = fit_runs(root)?;
    let mut out = Vec::new();
    let mut factors: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let all = groups(&runs);
    let sources = overhead_sources(&runs, &all);
    let folds: Vec<Vec<Option<RooflineParams>>> = [0u8, 1]
        .iter()
        .map(|&held| {
            let train = |r: &FitRun| r.fold != held && !r.test;
            fit_groups(&pool, &runs, &all, &sources, train, engines)
        })
        .collect();
    for (i, g) in all.iter().enumerate().filter(|(_, g)| wanted(g, engines)) {
        // The runs whose predictions this group's fit makes (a `*` fit not those of families
        // with a fit of their own): their held-out factors make the band.
        let predicts = |r: &FitRun| member(r, g) && (g.1 != "*" || !has_family_fit(r, &all));
        for held in [0u8, 1] {
            let train: Vec<&FitRun> = runs
                .iter()
                .filter(|r| member(r, g) && r.fold != held && !r.test)
                .collect();
            let test: Vec<&FitRun> = runs
                .iter()
                .filter(|r| member(r, g) && r.fold == held && !r.test)
                .collect();
            let Some(p) = folds[held as usize][i].filter(|_| !test.is_empty()) else {
                continue;
            };
            let fitted = abs_stats(&log_errors(&pool, &train, p));
            let held_out = abs_stats(&log_errors(&pool, &test, p));
            let banded: Vec<&FitRun> = test.iter().copied().filter(|r| predicts(r)).collect();
            let mut f = step_factors(&pool, &banded, p);
            // The held-out test set (never fitted) counts with each fold's fit.
            let tests: Vec<&FitRun> = runs.iter().filter(|r| predicts(r) && r.test).collect();
            f.extend(step_factors(&pool, &tests, p));
            for e in group_engines(g) {
                factors.entry(e).or_default().extend(&f);
            }
            out.push(FoldCheck {
                engines: group_engines(g),
                family: g.1.clone(),
                precision: g.2.clone(),
                held_out_fold: held,
                fitted_figures: fitted.2,
                held_out_figures: held_out.2,
                params: p,
                median_abs_error_fitted: fitted.0,
                median_abs_error_held_out: held_out.0,
                worst_abs_error_held_out: held_out.1,
            });
        }
    }
    let bands = factors
        .iter()
        .filter_map(|(e, f)| band_of(f).map(|b| (e.clone(), b)))
        .collect();
    Ok(CrossValidation { folds: out, bands })
}

/// The cross-validation: each fold's check, and each engine profile's error band from the
/// step-time factors of its held-out figures.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CrossValidation {
    /// Every fold of every group.
    pub folds: Vec<FoldCheck>,
    /// Per engine profile.
    pub bands: Vec<(String, crate::catalog::ErrorBand)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_objective_is_least_squares_until_an_error_passes_the_penalty_threshold() {
        let ln = |rel: f64| (1.0 + rel).ln();
        // Within 35%: the plain mean squared log error.
        let inside = [ln(0.1), ln(-0.2), ln(0.3)];
        let mse = inside.iter().map(|x| x * x).sum::<f64>() / 3.0;
        assert!((fit_objective(&inside, 10.0) - mse).abs() < 1e-15);
        // One figure at +45%: 10 x 0.1^2 on top.
        let outside = [ln(0.1), ln(-0.2), ln(0.45)];
        let mse = outside.iter().map(|x| x * x).sum::<f64>() / 3.0;
        assert!((fit_objective(&outside, 10.0) - mse - 10.0 * 0.1f64.powi(2)).abs() < 1e-12);
        // The penalty is on relative error both ways: -45% costs as much extra as +45%.
        let low = [ln(0.1), ln(-0.2), ln(-0.45)];
        let mse = low.iter().map(|x| x * x).sum::<f64>() / 3.0;
        assert!((fit_objective(&low, 10.0) - mse - 10.0 * 0.1f64.powi(2)).abs() < 1e-12);
        // Weight 0: plain least squares.
        assert!((fit_objective(&low, 0.0) - mse).abs() < 1e-15);
    }

    /// A run of `model` on `gpu` at `precision` in `engine`'s `*` group (no figures: only its
    /// setup matters to [`overhead_source`]).
    fn run_of(engine: &str, model: &str, gpu: &str, precision: &str) -> FitRun {
        let text = format!(
            r#"{{"seed": 1, "model": "{model}", "gpu": "{gpu}",
                "workload": {{"synthetic": {{"requests": 1, "arrivals": {{"kind": "constant", "rate_per_s": 1}},
                "input_tokens": {{"kind": "fixed", "value": 8}}, "output_tokens": {{"kind": "fixed", "value": 8}}}}}},
                "replica": {{"engine": "{engine}", "precision": "{precision}"}},
                "cost": {{"gpu_usd_per_hour": {{"{gpu}": 1.0}}, "apis": []}}}}"#
        );
        let spec = Scenario::from_json(&text, Path::new("test"))
            .and_then(|s| s.resolve(Path::new(".")))
            .unwrap();
        FitRun {
            group: (engine.into(), "*".into(), precision.into()),
            fold: 0,
            test: false,
            spec,
            figures: vec![],
        }
    }

    /// A group of mixture-of-experts figures only holds the per-step overhead of its engine's
    /// dense fit (its own family's before `*`); a group with a dense figure, another engine's
    /// dense fit and the 2024 joint groups do not count.
    #[test]
    fn only_mixture_of_experts_groups_take_the_overhead_of_the_engines_dense_fit() {
        let runs = vec![
            run_of("vllm", "llama-3.1-8b", "b200", "bf16"),
            run_of("vllm", "gpt-oss-20b", "h100-sxm", "fp4"),
            run_of("trtllm", "llama-3.3-70b", "h100-sxm", "fp8"),
            run_of("trtllm", "llama-3.3-70b", "b200", "fp4"),
            run_of("trtllm", "gpt-oss-20b", "b200", "fp4"),
            run_of("trtllm", "gpt-oss-20b", "h100-sxm", "fp4"),
            run_of("sglang", "gpt-oss-20b", "h100-sxm", "fp4"),
        ];
        let g = |e: &str, f: &str, p: &str| -> Group { (e.into(), f.into(), p.into()) };
        let groups = vec![
            g("vllm", "*", "bf16"),
            g("vllm", "*", "fp4"),
            g("trtllm", "*", "fp8"),
            g("trtllm", "*", "fp4"),
            g("trtllm", "blackwell", "fp4"),
            g("trtllm", "hopper", "fp4"),
            g("sglang", "*", "fp4"),
            (JOINT_2024.into(), "hopper".into(), "bf16".into()),
        ];
        let src = |i: usize| overhead_source(&groups[i], &runs, &groups);
        assert_eq!(src(0), None, "a dense group fits its own");
        assert_eq!(
            src(1),
            Some(0),
            "vllm's gpt-oss group takes vllm's dense overhead"
        );
        assert_eq!(src(2), None);
        assert_eq!(src(3), None, "NVFP4 Llama among its figures: fits its own");
        assert_eq!(src(4), None, "Blackwell FP4 has a dense figure");
        assert_eq!(
            src(5),
            Some(2),
            "Hopper FP4 (gpt-oss only) takes the FP8 dense fit's"
        );
        assert_eq!(src(6), None, "no dense fit of its own engine");
        assert_eq!(src(7), None, "the 2024 joint fits are left as they were");
        // A dense fit of the group's own family comes before the `*` one.
        let mut with_family = groups.clone();
        with_family.push(g("trtllm", "hopper", "fp8"));
        let mut runs = runs;
        runs.push(FitRun {
            group: g("trtllm", "*", "fp8"),
            ..run_of("trtllm", "llama-3.1-8b", "h200", "fp8")
        });
        assert_eq!(
            overhead_source(&with_family[5], &runs, &with_family),
            Some(8)
        );
    }

    /// In the committed fits, every current profile's fit of mixture-of-experts figures only
    /// holds the per-step overhead of that profile's dense fit, as [`overhead_source`] picks it.
    #[test]
    fn committed_mixture_of_experts_fits_hold_their_engines_dense_overhead() {
        use crate::catalog::{Catalog, StepTimeFit};
        let c = Catalog::builtin();
        let all_moe = |f: &StepTimeFit, moe: bool| {
            let models = &f.fitted_on.as_ref().expect("fitted_on").models;
            models
                .iter()
                .all(|m| c.model(m).expect("a catalog model").is_moe() == moe)
        };
        let mut checked = Vec::new();
        for e in c.engines.iter().filter(|e| e.generation == "current") {
            for f in e.fits.iter().filter(|f| all_moe(f, true)) {
                let dense = e
                    .fits
                    .iter()
                    .filter(|d| all_moe(d, false) && (d.family == f.family || d.family == "*"))
                    .max_by_key(|d| (d.family == f.family, d.figures))
                    .unwrap_or_else(|| panic!("{}: no dense fit for {f:?}", e.id));
                assert_eq!(
                    f.step_overhead_ms, dense.step_overhead_ms,
                    "{}: {f:?}",
                    e.id
                );
                assert!(f.moe_layer_overhead_us.is_some(), "{f:?}");
                let from = format!("{} {}", dense.family, dense.precision);
                assert_eq!(f.step_overhead_from.as_deref(), Some(from.as_str()));
                checked.push(format!("{} {} {}", e.id, f.family, f.precision));
            }
            // A fit with a dense figure fits its own.
            for f in e.fits.iter().filter(|f| !all_moe(f, true)) {
                assert_eq!(f.step_overhead_from, None, "{}: {f:?}", e.id);
            }
        }
        assert_eq!(checked, ["vllm * fp4", "trtllm hopper fp4"]);
    }

    #[test]
    fn fitted_step_time_defaults_are_physical_and_fall_back_by_family() {
        use crate::catalog::Catalog;
        use crate::perf::{step_time_defaults, Precision, RooflineParams};
        let c = Catalog::builtin();
        let within = |x: f64, (lo, hi): (f64, f64)| x >= lo && x <= hi;
        for f in c.engines.iter().flat_map(|e| &e.fits) {
            assert!(
                f.family == "*" || c.gpus.iter().any(|g| g.family == f.family),
                "{f:?}"
            );
            assert!(within(f.compute_efficiency, FIT_BOUNDS[0]), "{f:?}");
            assert!(within(f.memory_efficiency, FIT_BOUNDS[1]), "{f:?}");
            assert!(within(f.step_overhead_ms, FIT_BOUNDS[2]), "{f:?}");
            assert!(within(f.link_efficiency, FIT_LINK_BOUNDS), "{f:?}");
            assert!(within(f.seq_overhead_us, FIT_SEQ_BOUNDS), "{f:?}");
            if let Some(l) = f.allreduce_latency_us {
                assert!(within(l, FIT_ALLREDUCE_US_BOUNDS), "{f:?}");
            }
            assert!(f.figures >= if f.family == "*" { 5 } else { 10 }, "{f:?}");
            if let Some(m) = f.moe_layer_overhead_us {
                assert!(within(m, FIT_MOE_LAYER_US_BOUNDS), "{f:?}");
            }
        }
        let h100 = c.gpu("h100-sxm").unwrap();
        let h200 = c.gpu("h200").unwrap();
        // One set per family: H100 and H200 share it; BF16 falls back to the FP8 fit.
        let e = c.engine("vllm-0.6").unwrap();
        let fp8 = step_time_defaults(c, e, h100, Precision::Fp8, false);
        assert_eq!(fp8, step_time_defaults(c, e, h200, Precision::Fp8, false));
        assert_eq!(fp8, step_time_defaults(c, e, h100, Precision::Bf16, false));
        assert_ne!(fp8, RooflineParams::default());
        // A family without a fit keeps the generic defaults.
        let b200 = c.gpu("b200").unwrap();
        assert_eq!(
            step_time_defaults(c, e, b200, Precision::Bf16, false),
            RooflineParams::default()
        );
        // The 2024 profiles share one joint fit.
        for id in ENGINES_2024 {
            assert_eq!(c.engine(id).unwrap().fits, e.fits, "{id}");
        }
    }
}
