//! The tables of `fleetsim run`: latency, the key figures (requests, throughput, stability,
//! capacity, GPUs, prefix cache, SLO) and the cost comparison.

use super::{capacity_sentence, f, fleet_shape, overload_warning};
use crate::metrics::Summary;
use crate::report::table::Table;

/// The tables printed after `fleetsim run`.
pub fn run_tables(s: &Summary) -> Vec<Table> {
    let mut tables = vec![latency_table(s), figures_table(s)];
    tables.extend(pools_table(s));
    tables.extend(cost_table(s));
    tables
}

/// The setup in the title and the latency distributions.
fn latency_table(s: &Summary) -> Table {
    let st = &s.setup;
    let mut lat = Table::new(
        format!(
            "{} ({}{}) on {}, {} routing, {} engine profile, max_num_seqs {}, max_num_batched_tokens {}, {} scheduler; step time: compute {:.2}, memory {:.2}, overhead {:.2} ms + {:.1} us/seq",
            st.model,
            st.precision,
            match st.kv_cache_dtype {
                crate::serving::KvCacheDtype::Fp8 => ", FP8 KV cache",
                crate::serving::KvCacheDtype::Auto => "",
            },
            if s.pools.is_empty() {
                fleet_shape(st.replicas, &st.gpu, st.tp)
            } else {
                format!(
                    "an elastic fleet of {} pools (see Pools; settings below are the first pool's)",
                    s.pools.len()
                )
            },
            st.router,
            st.engine,
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
    lat
}

/// Requests, throughput, stability, capacity, GPUs, prefix cache and SLO, one row each.
fn figures_table(s: &Summary) -> Table {
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
            "{} GPU{}, a step in flight (active) {:.1}% of the time; KV {} blocks ({} tokens) per replica{}, peak {:.1}% used",
            s.gpu.count,
            if s.gpu.count == 1 { "" } else { "s" },
            100.0 * s.gpu.busy_fraction,
            s.kv.capacity_blocks,
            s.kv.capacity_tokens,
            match s.kv.window_blocks_per_sequence {
                0 => String::new(),
                w => format!(", each sequence also holding up to {w} for its sliding-window layers"),
            },
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
    k
}

/// The fleet's monthly cost beside each API's, with notes on what the figures leave out.
fn cost_table(s: &Summary) -> Option<Table> {
    let c = s.cost.as_ref()?;
    let title = if s.pools.is_empty() {
        format!(
            "Cost: {} GPU{} at ${}/GPU-hour ({} {}, {}, {} confidence); per month = 730 h of this traffic at its offered rate",
            s.gpu.count,
            if s.gpu.count == 1 { "" } else { "s" },
            c.gpu_usd_per_hour,
            c.gpu_price_provider,
            c.gpu_price_plan,
            c.gpu_price_date,
            c.gpu_price_confidence
        )
    } else {
        format!(
            "Cost: {} pools, up to {} GPUs at once, each billed as the pools table says{}; per month = 730 h of this traffic at its offered rate",
            s.pools.len(),
            s.gpu.count,
            if s.overflow.is_some() { ", plus the overflow API" } else { "" }
        )
    };
    let mut t = Table::new(
        title,
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
    Some(t)
}

/// The pools of an elastic fleet and its overflow API: what each provisioned, served and cost.
fn pools_table(s: &Summary) -> Option<Table> {
    if s.pools.is_empty() {
        return None;
    }
    let mut t = Table::new(
        "Pools: provisioned = from each decision to release (cold start included); billed = rounded to the provider's increment (reserved: the whole span)",
        &[
            "pool",
            "GPUs",
            "pricing",
            "sizing",
            "peak",
            "cold starts",
            "interruptions",
            "provisioned GPU-h",
            "busy GPU-h",
            "utilization",
            "$/month",
            "unused $/month",
        ],
    );
    for p in &s.pools {
        t.row(vec![
            p.name.clone(),
            format!("{} x {}", p.tp, p.gpu),
            p.pricing.clone(),
            p.sizing.clone(),
            p.peak_replicas.to_string(),
            p.cold_starts.to_string(),
            p.interruptions.to_string(),
            f(p.provisioned_gpu_hours, 3),
            f(p.busy_gpu_hours, 3),
            p.utilization
                .map(|u| format!("{:.1}%", 100.0 * u))
                .unwrap_or_else(|| "-".into()),
            f(p.per_month_usd, 0),
            f(p.unused_capacity_usd_per_month, 0),
        ]);
    }
    if let Some(o) = &s.overflow {
        t.row(vec![
            format!("overflow: {}", o.api),
            "".into(),
            "per token".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            format!(
                "{} spilled ({:.2}%)",
                o.spilled_requests,
                100.0 * o.spilled_share
            ),
            f(o.per_month_usd, 0),
            "".into(),
        ]);
    }
    let cold: Vec<String> = s
        .pools
        .iter()
        .map(|p| {
            format!(
                "{} {:.0} s ({})",
                p.name, p.cold_start_s, p.cold_start_basis
            )
        })
        .collect();
    t.notes.push(format!("cold starts: {}", cold.join("; ")));
    Some(t)
}

/// One sentence with the run's latency and throughput within the engine profile's error band
/// (`None` without a band).
pub fn band_sentence(s: &Summary) -> Option<String> {
    let b = s.band.as_ref()?;
    // Each figure as the range of its values at the band's two ends, smaller first: a figure
    // need not move with the step times (an autoscaled fleet that runs faster scales up less,
    // and its tail can be the worse one).
    let ms = |a: f64, b: f64| format!("{:.0}-{:.0}", a.min(b) * 1e3, a.max(b) * 1e3);
    let whose = match &b.borrowed_from {
        Some(from) => format!(
            "`{from}` profile's error, whose step times `{}` takes for want of figures of its own (so at least this uncertain; ",
            b.engine
        ),
        None => format!("`{}` profile's error (", b.engine),
    };
    let mut out = format!(
        "Within the {whose}step times x{:.2}-{:.2}, the 10th-90th percentile of {} held-out published figures): p50 TTFT {} ms, p99 TTFT {} ms, p50 TPOT {} ms, output {:.0}-{:.0} tok/s",
        b.step_time_factors[0],
        b.step_time_factors[1],
        b.figures,
        ms(b.low.ttft_p50_s, b.high.ttft_p50_s),
        ms(b.low.ttft_p99_s, b.high.ttft_p99_s),
        ms(b.low.tpot_p50_s, b.high.tpot_p50_s),
        b.high.output_tokens_per_s.min(b.low.output_tokens_per_s),
        b.high.output_tokens_per_s.max(b.low.output_tokens_per_s),
    );
    if let (Some(lo), Some(hi)) = (b.low.slo_attainment, b.high.slo_attainment) {
        out.push_str(&format!(
            ", SLO attainment {:.1}-{:.1}%",
            100.0 * hi.min(lo),
            100.0 * hi.max(lo)
        ));
    }
    out.push('.');
    if let Some(x) = &b.extrapolated {
        out.push_str(&format!(" Note, {x}."));
    }
    Some(out)
}
