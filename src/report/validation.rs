//! The validation report (`fleetsim validate`): measured against predicted, the fitted step-time
//! defaults and their cross-validation, as Markdown tables and the catalog's JSON format.

use super::Table;
use crate::error::{Error, Result};
use crate::fidelity::defaults::{FoldCheck, GroupFit};
use crate::fidelity::validate::{
    Validation, TARGET_MEDIAN_LATENCY, TARGET_MEDIAN_THROUGHPUT, TARGET_WORST,
};

/// The report as Markdown.
pub fn markdown(v: &Validation) -> String {
    let mut s = String::new();
    let mut t = Table::new(
        "Current engine profiles (2025-2026 figures; held out: predicted, never fitted)",
        &[
            "profile",
            "figures",
            "kind",
            "rows",
            "median |error|",
            "worst |error|",
        ],
    );
    for p in &v.by_profile {
        for k in &p.stats {
            t.row(vec![
                p.profile.clone(),
                if p.held_out { "held out" } else { "fitted" }.into(),
                format!("{:?}", k.kind).to_lowercase(),
                k.rows.to_string(),
                format!("{:.1}%", 100.0 * k.median_abs_error),
                format!("{:.1}%", 100.0 * k.worst_abs_error),
            ]);
        }
    }
    s.push_str(&t.markdown());
    for (title, stats) in [
        (
            "2024 engines: error by metric kind (counted entries: the accuracy targets)",
            &v.stats,
        ),
        (
            "2024 engines: error by metric kind (every simulated entry, unmodelled engine features included)",
            &v.stats_all,
        ),
    ] {
        let mut t = Table::new(title, &["kind", "rows", "median |error|", "worst |error|"]);
        for k in stats {
            t.row(vec![
                format!("{:?}", k.kind).to_lowercase(),
                k.rows.to_string(),
                format!("{:.1}%", 100.0 * k.median_abs_error),
                format!("{:.1}%", 100.0 * k.worst_abs_error),
            ]);
        }
        s.push_str(&t.markdown());
    }
    let misses = &v.misses;
    s.push_str(&format!(
        "\nTargets (2024 engines: median |error| <= {:.0}% throughput, <= {:.0}% per latency kind, no counted entry worse than {:.0}%; current vLLM profile: median <= {:.0}% per kind, none worse than {:.0}%, a lone 8B decode on an H100 within {:.0}%): {}\n",
        100.0 * TARGET_MEDIAN_THROUGHPUT,
        100.0 * TARGET_MEDIAN_LATENCY,
        100.0 * TARGET_WORST,
        100.0 * crate::fidelity::validate::TARGET_CURRENT_MEDIAN,
        100.0 * crate::fidelity::validate::TARGET_CURRENT_WORST,
        100.0 * crate::fidelity::validate::TARGET_LONE_DECODE,
        if misses.is_empty() {
            "met.".to_string()
        } else {
            format!("{} missed:\n\n- {}\n", misses.len(), misses.join("\n- "))
        }
    ));
    let mut t = Table::new(
        "Every entry",
        &[
            "setup",
            "workload",
            "metric",
            "measured",
            "predicted",
            "error",
            "counted",
            "note",
        ],
    );
    // Entries of the 2025-2026 set that could not be simulated: one line per reason.
    let mut skipped: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in v.rows.iter().filter(|r| r.predicted.is_none()) {
        if !crate::fidelity::defaults::ENGINES_2024.contains(&r.profile.as_str()) {
            *skipped.entry(r.note.as_str()).or_default() += 1;
        }
    }
    for r in v.rows.iter().filter(|r| {
        r.predicted.is_some()
            || crate::fidelity::defaults::ENGINES_2024.contains(&r.profile.as_str())
    }) {
        t.row(vec![
            r.setup.clone(),
            r.workload.clone(),
            r.metric.clone(),
            format!("{:.2}", r.measured),
            r.predicted
                .map(|p| format!("{p:.2}"))
                .unwrap_or_else(|| "-".into()),
            r.error
                .map(|e| format!("{:+.1}%", 100.0 * e))
                .unwrap_or_else(|| "-".into()),
            if r.counted { "yes" } else { "no" }.into(),
            r.note.clone(),
        ]);
    }
    s.push_str(&t.markdown());
    if !skipped.is_empty() {
        let mut t = Table::new("2025-2026 entries not simulated", &["entries", "why"]);
        for (why, n) in skipped {
            t.row(vec![n.to_string(), why.to_string()]);
        }
        s.push_str(&t.markdown());
    }
    s
}

/// The fitted parameters per GPU family and precision.
pub fn fit_table(fits: &[GroupFit]) -> Table {
    let mut t = Table::new(
        "Fitted per engine profile, GPU family and precision (`*`: every family)",
        &[
            "engines",
            "family",
            "precision",
            "figures",
            "compute eff",
            "memory eff",
            "link eff",
            "overhead ms",
            "per-seq us",
            "all-reduce us",
            "MoE layer us",
            "median |error| current",
            "median |error| fitted",
            "worst fitted",
            "held-out test figures",
            "median |error| test",
            "worst test",
        ],
    );
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.1}%", 100.0 * x));
    for f in fits {
        t.row(vec![
            f.engines.join(", "),
            f.family.clone(),
            f.precision.clone(),
            f.figures.to_string(),
            format!("{:.3}", f.params.compute_efficiency),
            format!("{:.3}", f.params.memory_efficiency),
            format!("{:.3}", f.params.link_efficiency),
            match &f.step_overhead_from {
                Some(from) => format!("{:.2} (held: {from})", f.params.step_overhead_ms),
                None => format!("{:.2}", f.params.step_overhead_ms),
            },
            format!("{:.2}", f.params.seq_overhead_us),
            f.params
                .allreduce_latency_us
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "-".into()),
            if f.moe_fitted {
                format!("{:.1}", f.params.moe_layer_overhead_us)
            } else {
                "-".into()
            },
            format!("{:.1}%", 100.0 * f.median_abs_error_current),
            format!("{:.1}%", 100.0 * f.median_abs_error_fitted),
            format!("{:.1}%", 100.0 * f.worst_abs_error_fitted),
            f.test_figures.to_string(),
            pct(f.median_abs_error_test),
            pct(f.worst_abs_error_test),
        ]);
    }
    t
}

/// Each engine profile's error band (step-time factors at the 10th and 90th percentiles of its
/// held-out figures).
pub fn band_table(bands: &[(String, crate::catalog::ErrorBand)]) -> Table {
    let mut t = Table::new(
        "Error band per engine profile (step-time factors of held-out figures, 10th-90th percentile)",
        &["engine", "held-out figures", "low", "high"],
    );
    for (e, b) in bands {
        t.row(vec![
            e.clone(),
            b.figures.to_string(),
            format!("{:.3}", b.low),
            format!("{:.3}", b.high),
        ]);
    }
    t
}

/// The cross-validation folds.
pub fn cross_validation_table(folds: &[FoldCheck]) -> Table {
    let mut t = Table::new(
        "Two-fold cross-validation of the fit (each fold's parameters fitted on the other fold)",
        &[
            "engines",
            "family",
            "precision",
            "held-out fold",
            "fitted figures",
            "held-out figures",
            "median |error| fitted",
            "median |error| held out",
            "worst held out",
        ],
    );
    for f in folds {
        t.row(vec![
            f.engines.join(", "),
            f.family.clone(),
            f.precision.clone(),
            f.held_out_fold.to_string(),
            f.fitted_figures.to_string(),
            f.held_out_figures.to_string(),
            format!("{:.1}%", 100.0 * f.median_abs_error_fitted),
            format!("{:.1}%", 100.0 * f.median_abs_error_held_out),
            format!("{:.1}%", 100.0 * f.worst_abs_error_held_out),
        ]);
    }
    t
}

/// `src/catalog/engines.json` with each fitted profile's fits replaced by `fits` (copying it
/// there adopts them), rounded as that file keeps them; profiles not fitted keep theirs.
pub fn engines_json(
    fits: &[GroupFit],
    bands: &[(String, crate::catalog::ErrorBand)],
) -> Result<String> {
    let catalog = crate::catalog::Catalog::builtin();
    let round = |x: f64, k: f64| (x * k).round() / k;
    let mut engines = catalog.engines.clone();
    for e in &mut engines {
        if let Some((_, b)) = bands.iter().find(|(id, _)| *id == e.id) {
            e.band = Some(crate::catalog::ErrorBand {
                low: round(b.low, 1000.0),
                high: round(b.high, 1000.0),
                figures: b.figures,
            });
        }
        let mine: Vec<&GroupFit> = fits.iter().filter(|f| f.engines.contains(&e.id)).collect();
        if mine.is_empty() {
            continue;
        }
        e.fits = mine
            .iter()
            .map(|f| crate::catalog::StepTimeFit {
                family: f.family.clone(),
                precision: f.precision.clone(),
                compute_efficiency: round(f.params.compute_efficiency, 1000.0),
                memory_efficiency: round(f.params.memory_efficiency, 1000.0),
                link_efficiency: round(f.params.link_efficiency, 1000.0),
                step_overhead_ms: round(f.params.step_overhead_ms, 100.0),
                seq_overhead_us: round(f.params.seq_overhead_us, 100.0),
                allreduce_latency_us: f.params.allreduce_latency_us.map(|x| round(x, 10.0)),
                moe_layer_overhead_us: f
                    .moe_fitted
                    .then(|| round(f.params.moe_layer_overhead_us, 10.0)),
                figures: f.figures as u32,
                step_overhead_from: f.step_overhead_from.clone(),
                fitted_on: Some(f.fitted_on.clone()),
            })
            .collect();
    }
    let file = serde_json::json!({
        "notes": catalog.engine_notes,
        "default": catalog.default_engine,
        "engines": engines,
    });
    let mut text = serde_json::to_string_pretty(&file)
        .map_err(|e| Error::config("engines.json", e.to_string()))?;
    text.push('\n');
    Ok(text)
}
