//! `fleetsim validate`: the published measurements re-created, and optionally the step-time
//! defaults refitted and cross-validated.

use std::path::PathBuf;

use super::{cap_threads, ensure_dir};

#[derive(clap::Args, Debug)]
pub(crate) struct ValidateArgs {
    /// Output folder (created if missing).
    #[arg(long, default_value = "fleetsim-out")]
    out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Also refit the step-time efficiencies and overhead per GPU family and precision to the
    /// counted figures and report them (DIR/fit.json, and DIR/engines.json: src/catalog/engines.json
    /// with the fitted profiles' parameters; copying it there adopts the fit).
    #[arg(long)]
    fit: bool,
    /// Also cross-validate the fit: fit on one half of the workloads, predict the other
    /// (DIR/cross_validation.json).
    #[arg(long)]
    cross_validate: bool,
    /// With --fit or --cross-validate: only these engine profiles, comma separated (the others
    /// keep their parameters in DIR/engines.json).
    #[arg(long, value_delimiter = ',')]
    engines: Option<Vec<String>>,
}

pub(crate) fn validate(a: ValidateArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    if a.threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let base = if std::path::Path::new("traces").exists() {
        PathBuf::from(".")
    } else {
        root
    };
    let threads = cap_threads(a.threads, 256, "validation runs");
    for e in a.engines.iter().flatten() {
        fleetsim::catalog::Catalog::builtin()
            .engine(e)
            .map_err(|err| anyhow::anyhow!("--engines: {err}"))?;
    }
    let v = fleetsim::fidelity::validate::run(&base, threads)?;
    ensure_dir(&a.out)?;
    let md = fleetsim::report::validation::markdown(&v);
    std::fs::write(a.out.join("validation.md"), &md).context("writing validation.md")?;
    let mut json = serde_json::to_string_pretty(&v)?;
    json.push('\n');
    std::fs::write(a.out.join("validation.json"), json).context("writing validation.json")?;
    print!("{md}");
    let cv = if a.cross_validate {
        let cv = fleetsim::fidelity::defaults::cross_validate(
            &base,
            a.threads.unwrap_or(0),
            a.engines.as_deref(),
        )?;
        print!(
            "{}",
            fleetsim::report::validation::cross_validation_table(&cv.folds).markdown()
        );
        print!(
            "{}",
            fleetsim::report::validation::band_table(&cv.bands).markdown()
        );
        let mut json = serde_json::to_string_pretty(&cv)?;
        json.push('\n');
        std::fs::write(a.out.join("cross_validation.json"), json)
            .context("writing cross_validation.json")?;
        Some(cv)
    } else {
        None
    };
    if a.fit {
        let fits =
            fleetsim::fidelity::defaults::fit_defaults(&base, threads, a.engines.as_deref())?;
        let t = fleetsim::report::validation::fit_table(&fits);
        print!("{}", t.markdown());
        let mut json = serde_json::to_string_pretty(&fits)?;
        json.push('\n');
        std::fs::write(a.out.join("fit.json"), json).context("writing fit.json")?;
        let bands = cv.map(|c| c.bands).unwrap_or_default();
        let text = fleetsim::report::validation::engines_json(&fits, &bands)?;
        std::fs::write(a.out.join("engines.json"), text).context("writing engines.json")?;
    }
    Ok(())
}
