//! `fleetsim plan`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use fleetsim::report::charts::{self, breakeven::BreakevenChart};
use fleetsim::report::html::Section;
use fleetsim::report::Table;
use fleetsim::scenario::Scenario;
use fleetsim::sweep::plan::{self, parse_volumes};
use fleetsim::sweep::FloatAxis;

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// Scenario JSON file (must set `slo`).
    scenario: PathBuf,
    /// Output folder (created if missing).
    #[arg(long, default_value = "fleetsim-out")]
    out: PathBuf,
    /// Traffic volumes as multiples of the workload's rate: `0.25..16` (doubling) or `0.5,1,2`
    /// (overrides plan.rate_scales; default 0.25..16).
    #[arg(long)]
    volumes: Option<String>,
    /// GPU ids to size, comma separated (overrides plan.gpus; default the scenario's GPU).
    #[arg(long)]
    gpus: Option<String>,
    /// Engine profiles to size, comma separated, e.g. `vllm,sglang,trtllm` (overrides
    /// plan.engines; default the scenario's).
    #[arg(long)]
    engines: Option<String>,
    /// Tensor-parallel sizes to size, crossed with the GPUs: `1,2` or `auto` (1, 2, 4 and 8,
    /// leaving out the pairings the model does not fit; overrides plan.tp; default the
    /// scenario's).
    #[arg(long)]
    tp: Option<String>,
    /// Largest fleet tried (overrides plan.max_replicas).
    #[arg(long)]
    max_replicas: Option<u32>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Table format on stdout.
    #[arg(long, value_enum, default_value_t)]
    format: super::Format,
    /// Print only the recommendation.
    #[arg(long, short)]
    quiet: bool,
    /// Search mixes instead: for each reserved count up to the fixed fleet that meets the SLO
    /// alone, an autoscaled on-demand pool or overflow to the cheapest same-model API, on the
    /// scenario's GPU at its own traffic; writes DIR/mix.json.
    #[arg(long)]
    mix: bool,
}

pub(crate) fn plan(a: PlanArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut scenario = Scenario::from_file(&a.scenario)?;
    let base_dir = a.scenario.parent().map(PathBuf::from).unwrap_or_default();
    if let Some(e) = &a.engines {
        scenario.plan.get_or_insert_with(Default::default).engines = Some(super::list(e));
    }
    if let Some(t) = &a.tp {
        scenario.plan.get_or_insert_with(Default::default).tp =
            Some(fleetsim::sweep::IntAxis::Text(t.clone()));
    }
    let spec = scenario.plan.clone().unwrap_or_default();
    let volumes = match (&a.volumes, &spec.rate_scales) {
        (Some(v), _) => parse_volumes(v)?,
        (None, Some(FloatAxis::Text(t))) => parse_volumes(t)?,
        (None, Some(FloatAxis::List(v))) => v.clone(),
        (None, None) => parse_volumes("0.25..16")?,
    };
    let gpus: Vec<String> = match (&a.gpus, &spec.gpus) {
        (Some(g), _) => super::list(g),
        (None, Some(g)) => g.clone(),
        (None, None) => vec![scenario.gpu.clone()],
    };
    if a.threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let max = a.max_replicas.unwrap_or(spec.max_replicas);
    if a.mix {
        // A mix search sizes one engine: --engines may name it.
        if let Some(e) = spec.engines.as_deref() {
            match e {
                [one] => scenario.replica.engine = Some(one.clone()),
                _ => anyhow::bail!(
                    "{}: --mix sizes one engine profile; name one (or set replica.engine)",
                    if a.engines.is_some() {
                        "option --engines"
                    } else {
                        "plan.engines"
                    }
                ),
            }
        }
        return mix(&a, &scenario, &base_dir, max);
    }
    super::warn_prices(scenario.cost.as_ref(), &gpus, &scenario.model.id());
    let p = plan::run(
        &scenario,
        &base_dir,
        &volumes,
        &gpus,
        max,
        super::cap_threads(
            a.threads,
            volumes.len() * gpus.len() * 8,
            "searches (volumes x configurations, 8 each)",
        ),
    )
    .map_err(|e| match e {
        // Values given on the command line are named as the option the user typed.
        fleetsim::Error::Config { field, msg } if field == "plan.gpus" && a.gpus.is_some() => {
            anyhow::anyhow!("option --gpus: {msg}")
        }
        fleetsim::Error::Config { field, msg }
            if field == "plan.rate_scales" && a.volumes.is_some() =>
        {
            anyhow::anyhow!("option --volumes: {msg}")
        }
        fleetsim::Error::Config { field, msg }
            if field == "plan.engines" && a.engines.is_some() =>
        {
            anyhow::anyhow!("option --engines: {msg}")
        }
        fleetsim::Error::Config { field, msg } if field == "plan.tp" && a.tp.is_some() => {
            anyhow::anyhow!("option --tp: {msg}")
        }
        e => e.into(),
    })
    .with_context(|| format!("plan of {}", a.scenario.display()))?;
    super::ensure_dir(&a.out)?;
    let json_path = a.out.join("plan.json");
    let mut text = serde_json::to_string_pretty(&p)?;
    text.push('\n');
    std::fs::write(&json_path, text).with_context(|| format!("writing {}", json_path.display()))?;
    let table = plan_table(&p);
    std::fs::write(a.out.join("plan.csv"), plan_csv(&p)).context("writing plan.csv")?;
    let chart = charts::breakeven::chart(&breakeven_chart(&p))?;
    charts::write(&a.out, &chart)?;
    let be_table = breakeven_table(&p);
    let sections = vec![
        Section::Text(p.recommendation.clone()),
        Section::Chart(chart),
        Section::Table(table.clone()),
        Section::Table(be_table.clone()),
        Section::Pre(
            "Scenario".into(),
            fleetsim::report::json_without_nulls(&scenario),
        ),
    ];
    fleetsim::report::html::write(
        &a.out,
        &format!("fleetsim plan: {}", a.scenario.display()),
        &sections,
    )?;
    if !a.quiet {
        super::print_tables(&[table, be_table], a.format);
        println!(
            "wrote {}, plan.csv, breakeven.png/svg and report.html",
            json_path.display()
        );
    }
    println!("{}", p.recommendation);
    eprintln!("wall time: {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn opt(x: Option<f64>, d: usize) -> String {
    x.map(|v| format!("{v:.d$}")).unwrap_or_else(|| "-".into())
}

fn plan_table(p: &plan::Plan) -> Table {
    let apis: Vec<String> = p
        .rows
        .first()
        .map(|r| r.apis.iter().map(|a| a.name.clone()).collect())
        .unwrap_or_default();
    let mut header: Vec<String> = [
        "scale",
        "req/s",
        "M tokens/month",
        "configuration",
        "replicas",
        "within error",
        "GPUs",
        "$/month",
        "util %",
        "unused %",
        "slo %",
        "one fewer slo %",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(apis.iter().map(|a| format!("{a} $/month")));
    header.push("cheapest".into());
    let same: Vec<String> = p
        .rows
        .first()
        .map(|r| {
            r.apis
                .iter()
                .filter(|a| a.same_model)
                .map(|a| a.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut notes = vec![
        "within error: the smallest fleet again with every step time at the ends of the engine profile's cross-validated error band (README, \"How much to trust an answer\")".to_string(),
        "util %: the traffic's share of the fleet's capacity within the SLO; unused %: share of the monthly bill paying for GPU capacity the traffic leaves unused".to_string(),
    ];
    notes.extend(fleetsim::report::views::capacity_spread_note(
        p.rows
            .iter()
            .filter(|r| r.replicas.is_some())
            .filter_map(
                |r| match (r.fleet_requests_per_s, r.fleet_requests_per_s_range) {
                    (Some(f), Some(range)) => Some((f, range)),
                    _ => Some((r.replica_requests_per_s?, r.replica_requests_per_s_range?)),
                },
            ),
    ));
    notes.push(if same.is_empty() {
        "no API in the list serves the same model: every API column is a different model".into()
    } else {
        format!(
            "same model as the plan: {}; the other APIs serve different models",
            same.join(", ")
        )
    });
    for single in [false, true] {
        let n = p
            .rows
            .iter()
            .filter(|r| {
                r.replicas
                    .is_some_and(|n| (n <= 1 || r.fleet_requests_per_s_range.is_some()) == single)
                    && r.utilization.is_some_and(|u| u > 1.0)
            })
            .count();
        if n > 0 {
            notes.push(format!(
                "util % {} ({n} row(s))",
                fleetsim::report::views::beyond_capacity_note(single)
            ));
        }
    }
    notes.extend(p.notes.iter().cloned());
    let mut t = Table {
        title: "Plan: smallest fleet meeting the SLO at each volume".into(),
        header,
        rows: vec![],
        notes,
    };
    for r in &p.rows {
        let mut row = vec![
            format!("{}", r.rate_scale),
            format!("{:.2}", r.requests_per_s),
            format!("{:.0}", r.monthly_tokens / 1e6),
            r.config.clone(),
            r.replicas
                .map(|n| n.to_string())
                .unwrap_or_else(|| "none (below)".into()),
            r.replicas_range().unwrap_or_else(|| "-".into()),
            r.gpus.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            opt(r.per_month_usd, 0),
            opt(r.utilization.map(|x| 100.0 * x), 1),
            opt(r.unused_share.map(|x| 100.0 * x), 1),
            opt(r.attainment.map(|x| 100.0 * x), 2),
            opt(r.one_fewer_attainment.map(|x| 100.0 * x), 2),
        ];
        row.extend(r.apis.iter().map(|a| format!("{:.0}", a.per_month_usd)));
        row.push(r.cheapest.clone());
        t.rows.push(row);
        if let Some(e) = &r.error {
            t.notes
                .push(format!("x{} on {}: {e}", r.rate_scale, r.config));
        }
    }
    t
}

fn breakeven_table(p: &plan::Plan) -> Table {
    let mut t = Table::new(
        "Break-even: self-hosting is cheaper above",
        &[
            "configuration",
            "api",
            "M tokens/month",
            "$/month there",
            "from scale",
        ],
    );
    for b in &p.breakeven {
        t.row(vec![
            b.config.clone(),
            b.api.clone(),
            b.monthly_tokens
                .map(|x| format!("{:.0}", x / 1e6))
                .unwrap_or_else(|| "not within the plan".into()),
            opt(b.per_month_usd, 0),
            opt(b.from_rate_scale, 2),
        ]);
    }
    t
}

fn plan_csv(p: &plan::Plan) -> String {
    let t = plan_table(p);
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(
        t.header
            .iter()
            .map(|h| fleetsim::report::spreadsheet_safe(h)),
    );
    for r in &p.rows {
        let mut row = vec![
            r.rate_scale.to_string(),
            r.requests_per_s.to_string(),
            (r.monthly_tokens / 1e6).to_string(),
            fleetsim::report::spreadsheet_safe(&r.config),
            r.replicas.map(|n| n.to_string()).unwrap_or_default(),
            r.replicas_range().unwrap_or_default(),
            r.gpus.map(|n| n.to_string()).unwrap_or_default(),
            r.per_month_usd.map(|x| x.to_string()).unwrap_or_default(),
            r.utilization
                .map(|x| (100.0 * x).to_string())
                .unwrap_or_default(),
            r.unused_share
                .map(|x| (100.0 * x).to_string())
                .unwrap_or_default(),
            r.attainment
                .map(|x| (100.0 * x).to_string())
                .unwrap_or_default(),
            r.one_fewer_attainment
                .map(|x| (100.0 * x).to_string())
                .unwrap_or_default(),
        ];
        row.extend(r.apis.iter().map(|a| a.per_month_usd.to_string()));
        row.push(fleetsim::report::spreadsheet_safe(&r.cheapest));
        let _ = w.write_record(&row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn breakeven_chart(p: &plan::Plan) -> BreakevenChart {
    let mut gpus: Vec<String> = Vec::new();
    for r in &p.rows {
        if !gpus.contains(&r.config) {
            gpus.push(r.config.clone());
        }
    }
    let fleets = gpus
        .iter()
        .map(|g| {
            let pts = p
                .rows
                .iter()
                .filter(|r| &r.config == g)
                .filter_map(|r| r.per_month_usd.map(|m| (r.monthly_tokens, m)))
                .collect();
            (g.clone(), pts)
        })
        .collect();
    let first = gpus.first().cloned().unwrap_or_default();
    let api_names: Vec<String> = p
        .rows
        .first()
        .map(|r| r.apis.iter().map(|a| a.name.clone()).collect())
        .unwrap_or_default();
    let apis = api_names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let pts = p
                .rows
                .iter()
                .filter(|r| r.config == first)
                .map(|r| (r.monthly_tokens, r.apis[k].per_month_usd))
                .collect();
            let tag = match p.rows.first().and_then(|r| r.apis.get(k)) {
                Some(a) => fleetsim::cost::model_kind(a.same_model, &a.serves),
                None => "other model",
            };
            (format!("{name} ({tag})"), pts)
        })
        .collect();
    // Rings for the GPU type that is cheapest at the most volumes, to keep the chart readable.
    let best = gpus
        .iter()
        .max_by_key(|g| {
            p.rows
                .iter()
                .filter(|r| &r.config == *g && r.per_month_usd.is_some())
                .filter(|r| {
                    p.rows
                        .iter()
                        .filter(|o| o.rate_scale == r.rate_scale)
                        .all(|o| {
                            o.per_month_usd
                                .is_none_or(|m| r.per_month_usd.unwrap_or(f64::MAX) <= m)
                        })
                })
                .count()
        })
        .cloned()
        .unwrap_or(first);
    let marks = api_names
        .iter()
        .map(|a| {
            p.breakeven
                .iter()
                .find(|b| b.config == best && &b.api == a)
                .and_then(|b| Some((b.monthly_tokens?, b.per_month_usd?)))
        })
        .collect();
    BreakevenChart {
        fleets,
        apis,
        marks,
        marks_for: best,
        own_volume: p.rows.first().map(|r| r.monthly_tokens / r.rate_scale),
    }
}

/// `fleetsim plan --mix`: the mix search, its table, answer and mix.json.
fn mix(
    a: &PlanArgs,
    scenario: &Scenario,
    base_dir: &std::path::Path,
    max: u32,
) -> anyhow::Result<()> {
    let threads = super::cap_threads(a.threads, 2 * max as usize + 2, "mixes");
    let m = plan::mix::search(scenario, base_dir, max, threads)
        .with_context(|| format!("mix search of {}", a.scenario.display()))?;
    super::ensure_dir(&a.out)?;
    let mut json = serde_json::to_string_pretty(&m)?;
    json.push('\n');
    let path = a.out.join("mix.json");
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    let chart = charts::mix::chart(&m)?;
    charts::write(&a.out, &chart)?;
    if !a.quiet {
        let mut t = Table::new(
            format!(
                "Mixes on {}: reserved count x complement (autoscaled on demand or spot on in-flight requests, target {:.0} per replica, or overflow when a request has waited 1 s); $/month",
                m.gpu, m.autoscale_target
            ),
            &[
                "reserved",
                "complement",
                "burst max",
                "burst peak",
                "spilled",
                "SLO attainment",
                "meets SLO",
                "reserved $",
                "autoscaled $",
                "API $",
                "total $/month",
            ],
        );
        for (i, x) in m.mixes.iter().enumerate() {
            t.row(vec![
                x.reserved.to_string(),
                x.complement.clone(),
                x.burst_max.to_string(),
                x.burst_peak.to_string(),
                format!("{:.1}%", 100.0 * x.spilled_share),
                format!("{:.2}%", 100.0 * x.attainment),
                match (x.meets_slo, m.best == Some(i)) {
                    (true, true) => "yes (best)".into(),
                    (true, false) => "yes".into(),
                    _ => "no".into(),
                },
                format!("{:.0}", x.reserved_usd_per_month),
                format!("{:.0}", x.burst_usd_per_month),
                format!("{:.0}", x.api_usd_per_month),
                if x.per_month_usd.is_finite() {
                    format!("{:.0}", x.per_month_usd)
                } else {
                    x.error.clone().unwrap_or_else(|| "-".into())
                },
            ]);
        }
        super::print_tables(&[t], a.format);
    }
    println!("{}", m.answer);
    Ok(())
}
