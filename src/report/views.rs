//! What each command shows: the tables and chart inputs built from results, shared by the
//! terminal, Markdown and report.html.

use super::charts::cost::{CostBar, CostChart};
use super::charts::latency::{LatencyGroup, LatencyPoint};
use super::table::Table;
pub use crate::cost::different_model;
use crate::metrics::{SloSpec, Summary};
use crate::sweep::{PointResult, SmallestFleet};
pub use crate::text::{fleet_shape, money, tokens_words};

fn f(x: f64, digits: usize) -> String {
    format!("{x:.digits$}")
}

/// The sentence a planner looks for first: what one replica serves of this traffic and how much
/// of the fleet the traffic uses.
pub fn capacity_sentence(s: &Summary) -> Option<String> {
    let c = s.capacity.as_ref()?;
    if c.replica_saturation_requests_per_s <= 0.0 {
        return Some(
            "one replica completes none of this traffic: every request it was given was rejected (see requests.rejected_by_reason)".into(),
        );
    }
    let within = match c.basis.as_str() {
        "slo" => "within the SLO",
        "saturation" => "at saturation (no SLO set)",
        _ => "at saturation: no steady rate meets the SLO on one replica (not even 1/256 of its saturation rate), so the SLO is out of reach for this replica",
    };
    Some(format!(
        "one replica serves {:.2} req/s ({:.0} output tok/s) of this traffic {within}; this traffic ({:.2} req/s) uses {:.1}% of the fleet's {:.2} req/s",
        c.replica_requests_per_s,
        c.replica_output_tokens_per_s,
        c.offered_requests_per_s,
        100.0 * c.utilization,
        c.fleet_requests_per_s
    ))
}

/// The warning for an overloaded fleet, if it is.
pub fn overload_warning(s: &Summary) -> Option<String> {
    let st = &s.stability;
    st.overloaded.then(|| {
        format!(
            "OVERLOADED: the fleet does not keep up with its arrivals ({}); latencies grow with the length of the trace, the SLO counts as missed and its cost is not a valid option",
            st.reason.as_deref().unwrap_or("")
        )
    })
}

/// The tables printed after `fleetsim run`.
pub fn run_tables(s: &Summary) -> Vec<Table> {
    let st = &s.setup;
    let mut lat = Table::new(
        format!(
            "{} ({}) on {}, {} routing, max_num_seqs {}, max_num_batched_tokens {}, {} scheduler; step time: compute {:.2}, memory {:.2}, overhead {:.2} ms + {:.1} us/seq",
            st.model,
            st.precision,
            fleet_shape(st.replicas, &st.gpu, st.tp),
            st.router,
            st.max_num_seqs,
            st.max_num_batched_tokens,
            st.scheduler_policy,
            st.step_time.compute_efficiency,
            st.step_time.memory_efficiency,
            st.step_time.step_overhead_ms,
            st.step_time.seq_overhead_us
        ),
        &["latency (s)", "mean", "p50", "p90", "p95", "p99", "max"],
    );
    for (name, d) in [
        ("ttft_s", &s.latency.ttft_s),
        ("tpot_s", &s.latency.tpot_s),
        ("itl_s", &s.latency.itl_s),
        ("e2e_s", &s.latency.e2e_s),
        ("queue_s", &s.latency.queue_s),
    ] {
        let g = |x: f64| {
            if d.samples == 0 {
                "-".to_string()
            } else {
                f(x, 4)
            }
        };
        lat.row(vec![
            name.into(),
            g(d.mean),
            g(d.p50),
            g(d.p90),
            g(d.p95),
            g(d.p99),
            g(d.max),
        ]);
    }
    let mut k = Table::new("", &["figure", "value"]);
    let r = &s.requests;
    k.row(vec![
        "requests".into(),
        format!(
            "{} arrived, {} completed, {} rejected, {} unfinished; {} preemptions",
            r.arrived, r.completed, r.rejected, r.unfinished, s.preemptions
        ),
    ]);
    k.row(vec![
        "throughput".into(),
        format!(
            "{:.2} req/s, {:.0} input tok/s, {:.0} output tok/s over {:.1} s simulated",
            s.throughput.requests_per_s,
            s.throughput.input_tokens_per_s,
            s.throughput.output_tokens_per_s,
            s.sim.simulated_s
        ),
    ]);
    if let Some(w) = overload_warning(s) {
        k.row(vec!["stability".into(), w]);
    } else {
        k.row(vec![
            "stability".into(),
            format!(
                "keeps up: served {:.1}% of the offered {:.2} req/s",
                100.0 * s.stability.served_fraction,
                s.stability.offered_requests_per_s
            ),
        ]);
    }
    if let Some(c) = capacity_sentence(s) {
        k.row(vec!["capacity".into(), c]);
    }
    k.row(vec![
        "gpus".into(),
        format!(
            "{} GPU{}, a step in flight (active) {:.1}% of the time; KV {} blocks ({} tokens) per replica, peak {:.1}% used",
            s.gpu.count,
            if s.gpu.count == 1 { "" } else { "s" },
            100.0 * s.gpu.busy_fraction,
            s.kv.capacity_blocks,
            s.kv.capacity_tokens,
            100.0 * s.kv.peak_used_fraction
        ),
    ]);
    if s.prefix_cache.enabled {
        k.row(vec![
            "prefix cache".into(),
            format!(
                "{:.1}% of prompt tokens hit ({} of {}), {} blocks evicted",
                100.0 * s.prefix_cache.hit_rate,
                s.prefix_cache.hit_tokens,
                s.prefix_cache.prompt_tokens,
                s.prefix_cache.evicted_blocks
            ),
        ]);
    }
    if let Some(slo) = &s.slo {
        k.row(vec![
            "slo".into(),
            format!(
                "{:.2}% of requests met every target (need {}%): {}; goodput {:.2} req/s",
                100.0 * slo.attainment,
                slo.percentile,
                if slo.met { "met" } else { "MISSED" },
                slo.goodput_per_s
            ),
        ]);
    }
    let mut tables = vec![lat, k];
    if let Some(c) = &s.cost {
        let mut t = Table::new(
            format!(
                "Cost: {} GPU{} at ${}/GPU-hour ({} {}, {}, {} confidence); per month = 730 h of this traffic at its offered rate",
                s.gpu.count,
                if s.gpu.count == 1 { "" } else { "s" },
                c.gpu_usd_per_hour,
                c.gpu_price_provider,
                c.gpu_price_plan,
                c.gpu_price_date,
                c.gpu_price_confidence
            ),
            &[
                "option",
                "$/month",
                "$/M tokens",
                "used GPU $/month",
                "unused GPU $/month",
                "ops+safety $/month",
                "batch API $/month",
            ],
        );
        t.row(vec![
            if s.stability.overloaded {
                "self-hosted (OVERLOADED)".into()
            } else {
                "self-hosted".into()
            },
            f(c.per_month_usd, 0),
            f(c.per_million_tokens_usd, 3),
            f(c.used_capacity_usd_per_month, 0),
            f(c.unused_capacity_usd_per_month, 0),
            f(c.ops_usd_per_month + c.safety_usd_per_month, 0),
            "".into(),
        ]);
        for a in &c.api {
            let tag = crate::cost::model_kind(a.same_model, &a.serves);
            t.row(vec![
                format!("{} ({tag})", a.name),
                f(a.per_month_usd, 0),
                f(a.per_million_tokens_usd, 3),
                "".into(),
                "".into(),
                "".into(),
                a.batch_per_month_usd
                    .map(|b| f(b, 0))
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        t.notes.push(format!(
            "unused GPU = GPU cost x (1 - utilization), utilization from {}; over the {:.2} h simulated: ${:.2} in all (GPUs ${:.2}, of which unused ${:.2}; ops ${:.2}; safety ${:.2}); cheapest: {}",
            c.utilization_basis,
            c.span_hours, c.total_usd, c.gpu_usd, c.unused_capacity_usd, c.ops_usd, c.safety_usd, c.cheapest
        ));
        if c.api.iter().any(|a| a.batch_per_month_usd.is_some()) {
            t.notes.push(
                "batch API: the provider's batch discount (results within a day): only for traffic that can wait, not for this SLO".into(),
            );
        }
        let reasoning: Vec<&str> = c
            .api
            .iter()
            .filter(|a| a.reasoning_tokens_billed_as_output)
            .map(|a| a.name.as_str())
            .collect();
        if !reasoning.is_empty() {
            t.notes.push(format!(
                "{} bill hidden reasoning tokens as output: their figures count only this traffic's output tokens, a lower bound",
                reasoning.join(", ")
            ));
        }
        let latency: Vec<String> = c
            .api
            .iter()
            .filter(|a| a.slo_verdict != "no slo")
            .map(|a| format!("{} {}", a.name, a.slo_verdict))
            .collect();
        if !latency.is_empty() {
            t.notes.push(format!(
                "published API latency against the SLO: {}",
                latency.join("; ")
            ));
        }
        tables.push(t);
    }
    tables
}

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
    if overloaded > 0 {
        t.notes.push(format!(
            "OVERLOADED ('!' in util %): {overloaded} point(s) do not keep up with their arrivals; they never meet the SLO and are never the cheapest option"
        ));
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
                    "smallest fleet meeting the SLO for {head}: {}, {}/month{}",
                    fleet_shape(n, &b.gpu, b.tp),
                    money(b.per_month_usd.unwrap_or(0.0)),
                    match (b.next_smaller_replicas, b.next_smaller_attainment) {
                        (Some(m), Some(a)) => format!(" ({m} would reach {:.2}%)", 100.0 * a),
                        _ => String::new(),
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
pub fn sweep_answer(results: &[PointResult]) -> String {
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
    let mut out = format!(
        "Answer: the cheapest fleet that keeps up{} is {} ({}{}) at {}/month, {:.0}% of its GPU cost paying for unused capacity",
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
