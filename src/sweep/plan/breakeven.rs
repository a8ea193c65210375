//! Break-even volumes between each fleet and each API, and the recommendation sentence.

use super::{Breakeven, PlanRow};

/// For each GPU and API: the smallest planned volume from which self-hosting is cheaper at every
/// larger planned volume, and the crossing within the step below it: the volume at which the API
/// would cost what that fleet costs (the fleet cannot shrink below the size needed there).
pub fn breakevens(rows: &[PlanRow], configs: &[String]) -> Vec<Breakeven> {
    let mut out = Vec::new();
    let api_names: Vec<String> = rows
        .first()
        .map(|r| r.apis.iter().map(|a| a.name.clone()).collect())
        .unwrap_or_default();
    for g in configs {
        let mine: Vec<&PlanRow> = rows.iter().filter(|r| &r.config == g).collect();
        for (k, api) in api_names.iter().enumerate() {
            let cheaper = |r: &PlanRow| {
                r.per_month_usd
                    .is_some_and(|m| m <= r.apis[k].per_month_usd)
            };
            // First index from which every row is cheaper self-hosted.
            let mut from = None;
            for i in (0..mine.len()).rev() {
                if cheaper(mine[i]) {
                    from = Some(i);
                } else {
                    break;
                }
            }
            let (tokens, usd, scale) = match from {
                Some(i) => {
                    let r = mine[i];
                    let usd_per_token = r.apis[k].per_month_usd / r.monthly_tokens;
                    let fleet = r.per_month_usd.unwrap_or(0.0);
                    (Some(fleet / usd_per_token), Some(fleet), Some(r.rate_scale))
                }
                None => (None, None, None),
            };
            out.push(Breakeven {
                config: g.clone(),
                gpu: mine.first().map(|r| r.gpu.clone()).unwrap_or_default(),
                api: api.clone(),
                monthly_tokens: tokens,
                per_month_usd: usd,
                from_rate_scale: scale,
            });
        }
    }
    out
}

fn money(x: f64) -> String {
    crate::text::money(x)
}

fn tokens_m(x: f64) -> String {
    crate::text::tokens_words(x)
}

/// The sentence for the volume closest to the workload's own rate: the cheapest configuration
/// meeting the SLO with its GPUs, then endpoints of the same model, then the cheapest API.
pub(super) fn recommend(
    rows: &[PlanRow],
    be: &[Breakeven],
    volumes: &[f64],
    model: &str,
) -> String {
    let base = volumes
        .iter()
        .copied()
        .min_by(|a, b| (a.ln().abs()).total_cmp(&b.ln().abs()))
        .unwrap_or(1.0);
    let here: Vec<&PlanRow> = rows.iter().filter(|r| r.rate_scale == base).collect();
    let Some(first) = here.first() else {
        return String::new();
    };
    let mut s = format!(
        "At this volume ({:.2} requests/s, {} tokens/month; rate x{base}), ",
        first.requests_per_s,
        tokens_m(first.monthly_tokens)
    );
    let best = here
        .iter()
        .filter(|r| r.per_month_usd.is_some())
        .min_by(|a, b| {
            a.per_month_usd
                .unwrap_or(f64::MAX)
                .total_cmp(&b.per_month_usd.unwrap_or(f64::MAX))
        });
    match best {
        Some(r) => {
            let gpu_month = r.gpu_usd_per_month.unwrap_or(0.0);
            let unused = r.unused_capacity_usd_per_month.unwrap_or(0.0);
            s += &format!(
                "{}{}{} meets the SLO for {}/month: GPUs {}, of which {} ({:.0}%) pays for capacity this traffic leaves unused",
                crate::text::fleet_shape(r.replicas.unwrap_or(0), &r.gpu, r.tp),
                if r.config != r.gpu { format!(" ({})", r.config) } else { String::new() },
                match (&r.replicas_within_error, r.step_times_extrapolated) {
                    (Some(b), false) => format!(" ({} within the model's error)", b.phrase()),
                    (Some(b), true) => format!(
                        " ({} within the model's error, whose step times are extrapolated beyond the published figures they were fitted to: see the notes)",
                        b.phrase()
                    ),
                    (None, true) => " (step times extrapolated beyond the published figures they were fitted to: see the notes)".into(),
                    (None, false) => String::new(),
                },
                money(r.per_month_usd.unwrap_or(0.0)),
                money(gpu_month),
                money(unused),
                if gpu_month > 0.0 { 100.0 * unused / gpu_month } else { 0.0 }
            )
        }
        None => s += "no fleet in the plan meets the SLO",
    }
    let config = best.map(|r| r.config.clone()).unwrap_or_default();
    let verdict = |v: &str| match v {
        "misses" => " (its published median latency misses the SLO)",
        "median within" => " (published medians within the SLO; its tail is not published)",
        "unknown" => " (no published latency: whether it meets the SLO is unknown)",
        _ => "",
    };
    let breaks = |name: &str| -> String {
        match be
            .iter()
            .find(|b| b.api == name && b.config == config)
            .and_then(|b| b.monthly_tokens)
        {
            Some(t) if best.is_some() => format!(
                "; self-hosting on {config} breaks even with it above {} tokens/month",
                tokens_m(t)
            ),
            Some(_) | None if best.is_some() => {
                "; self-hosting does not break even with it within the planned volumes".into()
            }
            _ => String::new(),
        }
    };
    let same = first
        .apis
        .iter()
        .filter(|a| a.same_model)
        .min_by(|a, b| a.per_month_usd.total_cmp(&b.per_month_usd));
    match same {
        Some(a) => {
            s += &format!(
                ". The same model ({model}) on {} would cost {}/month{}{}",
                a.name,
                money(a.per_month_usd),
                verdict(&a.slo_verdict),
                breaks(&a.name)
            );
        }
        None => s += &format!(". No endpoint of the same model ({model}) is in the list"),
    }
    let cheapest_api = first
        .apis
        .iter()
        .filter(|a| a.slo_verdict != "misses")
        .min_by(|a, b| a.per_month_usd.total_cmp(&b.per_month_usd));
    if let Some(a) = cheapest_api.filter(|a| Some(a.name.as_str()) != same.map(|x| x.name.as_str()))
    {
        let what = crate::cost::different_model(a.same_model, &a.serves);
        s += &format!(
            ". The cheapest API, {} ({what}), would cost {}/month{}{}",
            a.name,
            money(a.per_month_usd),
            verdict(&a.slo_verdict),
            breaks(&a.name)
        );
    }
    s.push('.');
    s
}
