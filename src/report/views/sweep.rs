//! The tables, answer line and chart inputs of `fleetsim sweep`.

use super::{different_model, f, fleet_shape, money, tokens_words};
use crate::metrics::{SloSpec, Summary};
use crate::report::charts::cost::{CostBar, CostChart};
use crate::report::charts::latency::{LatencyGroup, LatencyPoint};
use crate::report::table::Table;
use crate::sweep::{PointResult, SmallestFleet};

/// The tables printed after `fleetsim sweep`. Axis columns other than the GPU appear only when
/// they vary; failed points' reasons go under the table.
pub fn sweep_tables(
    results: &[PointResult],
    smallest: &[SmallestFleet],
    slo: Option<&SloSpec>,
) -> Vec<Table> {
    let varies =
        |g: &dyn Fn(&PointResult) -> String| results.iter().any(|x| g(x) != g(&results[0]));
    let show_router = varies(&|x| x.axes.router.name().to_string());
    let show_scale = varies(&|x| format!("{}", x.axes.rate_scale));
    let show_mns = varies(&|x| x.axes.replica.label());
    let mut header: Vec<&str> = vec!["replicas", "GPUs", "gpu"];
    if show_router {
        header.push("router");
    }
    if show_mns {
        header.push("replica settings");
    }
    if show_scale {
        header.push("scale");
    }
    header.extend([
        "p99 ttft s",
        "p99 tpot s",
        "util %",
        "active %",
        "slo %",
        "$/month",
        "unused $/month",
        "$/M tokens",
        "same-model API $/month",
        "cheapest",
    ]);
    let mut t = Table::new("Sweep", &header);
    let mut failed = Vec::new();
    let mut overloaded = 0;
    for r in results {
        let a = &r.axes;
        let tp = r.summary.as_ref().map(|s| s.setup.tp).unwrap_or(1);
        let mut row = vec![
            a.replicas.to_string(),
            (a.replicas as u64 * tp as u64).to_string(),
            a.gpu.clone(),
        ];
        if show_router {
            row.push(a.router.name().into());
        }
        if show_mns {
            row.push(if a.replica.label().is_empty() {
                "default".into()
            } else {
                a.replica.label()
            });
        }
        if show_scale {
            row.push(format!("{}", a.rate_scale));
        }
        match &r.summary {
            None => {
                row.push("failed (below)".into());
                failed.push(format!(
                    "point {} ({} x {}) failed: {}",
                    r.point,
                    a.replicas,
                    a.gpu,
                    r.error.as_deref().unwrap_or("")
                ));
            }
            Some(s) => {
                let over = s.stability.overloaded;
                overloaded += over as usize;
                let p99 = |d: &crate::metrics::Dist, digits: usize| {
                    if d.samples == 0 {
                        "-".to_string()
                    } else {
                        f(d.p99, digits)
                    }
                };
                row.push(p99(&s.latency.ttft_s, 3));
                row.push(p99(&s.latency.tpot_s, 4));
                row.push(
                    s.capacity
                        .as_ref()
                        .map(|c| {
                            if c.utilization.is_finite() {
                                format!(
                                    "{:.1}{}",
                                    100.0 * c.utilization,
                                    if over { "!" } else { "" }
                                )
                            } else {
                                "inf!".into()
                            }
                        })
                        .unwrap_or_else(|| "-".into()),
                );
                row.push(f(100.0 * s.gpu.busy_fraction, 1));
                row.push(
                    s.slo
                        .as_ref()
                        .map(|x| {
                            format!(
                                "{:.2}{}",
                                100.0 * x.attainment,
                                if x.met { "" } else { "!" }
                            )
                        })
                        .unwrap_or_else(|| "-".into()),
                );
                match &s.cost {
                    Some(c) => {
                        row.push(f(c.per_month_usd, 0));
                        row.push(f(c.unused_capacity_usd_per_month, 0));
                        row.push(f(c.per_million_tokens_usd, 3));
                        row.push(
                            c.cheapest_same_model_api
                                .as_ref()
                                .and_then(|n| c.api.iter().find(|a| &a.name == n))
                                .map(|a| format!("{:.0} {}", a.per_month_usd, a.name))
                                .unwrap_or_else(|| "none listed".into()),
                        );
                        row.push(c.cheapest.clone());
                    }
                    None => row.extend(std::iter::repeat_n("-".to_string(), 5)),
                }
            }
        }
        t.row(row);
    }
    t.notes.push(
        "util %: offered load as a share of the fleet's capacity for this traffic (within the SLO if set); active %: time with a step in flight; unused $/month: GPU cost x (1 - util)".into(),
    );
    if let Some(n) = super::capacity_spread_note(
        results
            .iter()
            .filter_map(|r| r.summary.as_ref()?.capacity.as_ref())
            .filter(|c| c.draws > 1)
            .map(super::util_capacity),
    ) {
        t.notes.push(n);
    }
    if overloaded > 0 {
        t.notes.push(format!(
            "OVERLOADED ('!' in util %): {overloaded} point(s) do not keep up with their arrivals; they never meet the SLO and are never the cheapest option"
        ));
    }
    for single in [false, true] {
        let n = results
            .iter()
            .filter_map(|r| r.summary.as_ref())
            .filter(|s| {
                super::pooled_beyond_capacity(s) && super::capacity_measured_on_fleet(s) == single
            })
            .count();
        if n > 0 {
            t.notes.push(format!(
                "util % {} at {n} point(s)",
                super::beyond_capacity_note(single)
            ));
        }
    }
    t.notes.extend(failed);
    if let Some(slo) = slo {
        let mut targets = Vec::new();
        if let Some(x) = slo.ttft_s {
            targets.push(format!("TTFT <= {x} s"));
        }
        if let Some(x) = slo.tpot_s {
            targets.push(format!("TPOT <= {x} s"));
        }
        if let Some(x) = slo.e2e_s {
            targets.push(format!("E2E <= {x} s"));
        }
        t.notes.push(format!(
            "SLO: {}% of requests with {} ('!' marks a miss)",
            slo.percentile,
            targets.join(" and ")
        ));
        for b in smallest {
            let head = format!(
                "{} / {} / scale {}{}",
                b.gpu,
                b.router.name(),
                b.rate_scale,
                if b.replica.label().is_empty() {
                    String::new()
                } else {
                    format!(" / {}", b.replica.label())
                }
            );
            t.notes.push(match b.replicas {
                Some(n) => format!(
                    "smallest fleet meeting the SLO for {head}: {}, {}/month{}{}",
                    fleet_shape(n, &b.gpu, b.tp),
                    money(b.per_month_usd.unwrap_or(0.0)),
                    match (b.next_smaller_replicas, b.next_smaller_attainment) {
                        (Some(m), Some(a)) => format!(" ({m} would reach {:.2}%)", 100.0 * a),
                        _ => String::new(),
                    },
                    match &b.replicas_within_error {
                        Some(e) => format!(
                            "; {} within the model's error (step times x{:.2}-{:.2})",
                            e.phrase(),
                            e.step_time_factors[0],
                            e.step_time_factors[1]
                        ),
                        None => String::new(),
                    }
                ),
                None => format!("no fleet in the sweep meets the SLO for {head}"),
            });
        }
    }
    vec![t]
}

/// The one line that answers a sweep across all its groups: the cheapest stable fleet meeting
/// the SLO (or, without an SLO, the cheapest stable fleet), the same-model API, the cheapest
/// API, and where the fleet breaks even with them.
pub fn sweep_answer(results: &[PointResult], smallest: &[crate::sweep::SmallestFleet]) -> String {
    let ok: Vec<(&PointResult, &Summary)> = results
        .iter()
        .filter_map(|r| r.summary.as_ref().map(|s| (r, s)))
        .collect();
    let eligible = |s: &Summary| !s.stability.overloaded && s.slo.as_ref().is_none_or(|x| x.met);
    let best = ok
        .iter()
        .filter(|(_, s)| eligible(s) && s.cost.is_some())
        .min_by(|a, b| {
            let c = |s: &Summary| s.cost.as_ref().map(|c| c.per_month_usd).unwrap_or(f64::MAX);
            c(a.1).total_cmp(&c(b.1))
        });
    let has_slo = ok.iter().any(|(_, s)| s.slo.is_some());
    let Some((r, s)) = best else {
        let over = ok.iter().filter(|(_, s)| s.stability.overloaded).count();
        return format!(
            "Answer: no fleet in this sweep {} ({} of {} points overloaded); try more replicas or another GPU.",
            if has_slo { "keeps up and meets the SLO" } else { "keeps up with the traffic and has a price" },
            over,
            results.len()
        );
    };
    let c = s.cost.as_ref().expect("filtered on cost");
    // The answer's range within the model's error, when its group has one.
    let group = smallest.iter().find(|b| {
        b.gpu == r.axes.gpu
            && b.router == r.axes.router
            && b.replica == r.axes.replica
            && b.rate_scale == r.axes.rate_scale
            && b.replicas == Some(r.axes.replicas)
    });
    let extrapolated = group.is_some_and(|b| b.step_times_extrapolated);
    let range = match group.and_then(|b| b.replicas_within_error.as_ref()) {
        Some(e) if extrapolated => format!(
            "; {} within the model's error, whose step times are extrapolated beyond the published figures they were fitted to: see the notes",
            e.phrase()
        ),
        Some(e) => format!("; {} within the model's error", e.phrase()),
        None if extrapolated => "; step times extrapolated beyond the published figures they were fitted to: see the notes".into(),
        None => String::new(),
    };
    let mut out = format!(
        "Answer: the cheapest fleet that keeps up{} is {} ({}{}{range}) at {}/month, {:.0}% of its GPU cost paying for unused capacity",
        if has_slo { " and meets the SLO" } else { "" },
        fleet_shape(s.setup.replicas, &s.setup.gpu, s.setup.tp),
        s.setup.router,
        {
            let mut extra = String::new();
            if !r.axes.replica.label().is_empty() {
                extra += &format!(", {}", r.axes.replica.label());
            }
            if r.axes.rate_scale != 1.0 {
                extra += &format!(", traffic x{}", r.axes.rate_scale);
            }
            extra
        },
        money(c.per_month_usd),
        100.0 * (1.0 - c.used_fraction)
    );
    let tokens_month = |a: &crate::cost::ApiCost| {
        if a.per_million_tokens_usd > 0.0 {
            a.per_month_usd / a.per_million_tokens_usd * 1e6
        } else {
            0.0
        }
    };
    let breakeven = |a: &crate::cost::ApiCost| -> String {
        if a.per_month_usd <= 0.0 {
            return String::new();
        }
        let ratio = c.per_month_usd / a.per_month_usd;
        if ratio <= 1.0 {
            format!(
                "; the fleet is cheaper down to {:.2}x this traffic ({} tokens/month), the API below",
                ratio,
                tokens_words(ratio * tokens_month(a))
            )
        } else {
            format!(
                "; the fleet would break even at {:.2}x this traffic ({} tokens/month) if it still sufficed there",
                ratio,
                tokens_words(ratio * tokens_month(a))
            )
        }
    };
    let same = c
        .cheapest_same_model_api
        .as_ref()
        .and_then(|n| c.api.iter().find(|a| &a.name == n));
    match same {
        Some(a) => {
            out += &format!(
                ". Same model ({}) as an API: {} at {}/month{}",
                s.setup.model,
                a.name,
                money(a.per_month_usd),
                breakeven(a)
            )
        }
        None => out += &format!(". No API in the list serves {}", s.setup.model),
    }
    if let Some(a) = c
        .api
        .iter()
        .filter(|a| a.slo_verdict != "misses")
        .min_by(|a, b| a.per_month_usd.total_cmp(&b.per_month_usd))
        .filter(|a| Some(&a.name) != same.map(|x| &x.name))
    {
        out += &format!(
            ". Cheapest API: {} ({}) at {}/month{}",
            a.name,
            different_model(a.same_model, &a.serves),
            money(a.per_month_usd),
            breakeven(a)
        );
    }
    out.push('.');
    out
}

/// A group label for a point: its axes other than replicas, where they vary.
fn group_label(r: &PointResult, results: &[PointResult]) -> String {
    let a = &r.axes;
    let mut parts = vec![a.gpu.clone()];
    let varies = |g: &dyn Fn(&PointResult) -> String| results.iter().any(|x| g(x) != g(r));
    if varies(&|x| x.axes.router.name().to_string()) || results.len() == 1 {
        parts.push(a.router.name().into());
    }
    if varies(&|x| x.axes.replica.label()) {
        parts.push(if a.replica.label().is_empty() {
            "default settings".into()
        } else {
            a.replica.label()
        });
    }
    if varies(&|x| format!("{}", x.axes.rate_scale)) {
        parts.push(format!("x{}", a.rate_scale));
    }
    parts.join(" / ")
}

/// Groups ok points by everything but replicas, in input order.
fn groups(results: &[PointResult]) -> Vec<(String, Vec<&PointResult>)> {
    let mut out: Vec<(String, Vec<&PointResult>)> = Vec::new();
    for r in results.iter().filter(|r| r.summary.is_some()) {
        let label = group_label(r, results);
        match out.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.1.push(r),
            None => out.push((label, vec![r])),
        }
    }
    for g in out.iter_mut() {
        g.1.sort_by_key(|r| r.axes.replicas);
    }
    out
}

/// Inputs of the latency chart.
pub fn latency_groups(results: &[PointResult], smallest: &[SmallestFleet]) -> Vec<LatencyGroup> {
    groups(results)
        .into_iter()
        .map(|(label, pts)| {
            let a = &pts[0].axes;
            let best = smallest
                .iter()
                .find(|b| {
                    b.gpu == a.gpu
                        && b.router == a.router
                        && b.replica == a.replica
                        && b.rate_scale == a.rate_scale
                })
                .and_then(|b| b.replicas);
            LatencyGroup {
                label,
                points: pts
                    .iter()
                    .map(|r| {
                        let sm = r.summary.as_ref().expect("ok points");
                        let l = &sm.latency;
                        LatencyPoint {
                            overloaded: sm.stability.overloaded,
                            replicas: r.axes.replicas,
                            ttft_p50: l.ttft_s.p50,
                            ttft_p99: l.ttft_s.p99,
                            tpot_p50: l.tpot_s.p50,
                            tpot_p99: l.tpot_s.p99,
                        }
                    })
                    .collect(),
                smallest: best,
            }
        })
        .collect()
}

/// Inputs of the cost chart for each group of points that has costs.
pub fn cost_charts(results: &[PointResult]) -> Vec<CostChart> {
    groups(results)
        .into_iter()
        .filter(|(_, pts)| {
            pts.iter()
                .all(|r| r.summary.as_ref().is_some_and(|s| s.cost.is_some()))
        })
        .map(|(label, pts)| {
            let bars = pts
                .iter()
                .map(|r| {
                    let s = r.summary.as_ref().expect("ok");
                    let c = s.cost.as_ref().expect("filtered");
                    CostBar {
                        replicas: r.axes.replicas,
                        busy_usd: c.used_capacity_usd_per_month,
                        idle_usd: c.unused_capacity_usd_per_month,
                        overhead_usd: c.ops_usd_per_month + c.safety_usd_per_month,
                        meets_slo: !s.stability.overloaded && s.slo.as_ref().is_none_or(|x| x.met),
                        overloaded: s.stability.overloaded,
                    }
                })
                .collect();
            let c0 = pts[0]
                .summary
                .as_ref()
                .and_then(|s| s.cost.as_ref())
                .expect("filtered");
            CostChart {
                label,
                bars,
                apis: c0
                    .api
                    .iter()
                    .map(|a| {
                        (
                            format!(
                                "{} ({})",
                                a.name,
                                crate::cost::model_kind(a.same_model, &a.serves)
                            ),
                            a.per_month_usd,
                            a.slo_verdict != "misses",
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}
