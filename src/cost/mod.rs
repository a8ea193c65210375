//! Cost: what the simulated fleet costs (GPU-hours provisioned, busy and idle, plus operations
//! and safety overheads) and what the same requests would cost on per-token APIs (with each
//! API's prompt-caching rule applied to the workload's prefix structure).
//!
//! Every price is data with a source (`src/catalog/prices.json`, `src/catalog/apis.json`), and
//! the scenario's `cost` overrides any of them.
//!
//! Two spans matter. The fleet is paid for over the *simulated span* (time 0 to the last
//! completion, or the horizon): `gpu_usd` and the other `*_usd` totals. Monthly figures are rates
//! extrapolated to [`MONTH_HOURS`]: a fleet provisioned around the clock costs its hourly rate x
//! 730; an API costs what the workload's traffic rate (requests over the *traffic span*, the
//! arrival window) would cost over 730 hours.

pub mod api;
pub mod prices;
pub mod report;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::{Error, Result};

pub use api::{api_spend, different_model, model_kind, slo_verdict, ApiSpend, LatencyTargets};
pub use prices::GpuPriceChoice;
pub use report::{
    cheapest_of, cheapest_options, monthly_usd, ApiCost, ApiOption, CostReport, FleetUse,
};

/// Hours in the month used for monthly figures (365 x 24 / 12).
pub const MONTH_HOURS: f64 = 730.0;

fn on_demand() -> String {
    "on-demand".into()
}

/// Engineering and fixed operating costs.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OpsSpec {
    /// Engineering hours per month spent running the fleet.
    pub engineer_hours_per_month: f64,
    /// Cost of an engineering hour, USD.
    pub engineer_usd_per_hour: f64,
    /// Other fixed monthly costs (monitoring, storage, networking), USD.
    pub fixed_usd_per_month: f64,
}

/// Safety and evaluation overhead.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SafetySpec {
    /// A fixed monthly amount (red-teaming, evaluation services), USD.
    pub usd_per_month: f64,
    /// Share of GPU time held back for evaluation runs (0 to 0.9): the fleet must be that much
    /// bigger, costing gpu x share / (1 - share) more.
    pub gpu_share: f64,
}

/// Price overrides for one API (or a new API, when all three are given and the id is unknown).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiPriceOverride {
    /// USD per million input tokens.
    #[serde(default)]
    pub input: Option<f64>,
    /// USD per million cached input tokens.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// USD per million output tokens.
    #[serde(default)]
    pub output: Option<f64>,
    /// For a new API: the catalog model whose architecture it serves (it is then compared as
    /// an endpoint of the same model).
    #[serde(default)]
    pub serves: Option<String>,
}

/// The scenario's `cost`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    /// GPU provider (`lambda`, `runpod`, `aws`, `gcp`, `azure`, `coreweave`); by default the
    /// cheapest listed price for the plan.
    #[serde(default)]
    pub provider: Option<String>,
    /// Pricing (the price list's plan): `on-demand`, `reserved-1y`, `reserved-3y` (`reserved` is
    /// `reserved-1y`),
    /// `spot`, `capacity-block`.
    #[serde(default = "on_demand")]
    #[serde(alias = "plan")]
    pub pricing: String,
    /// USD per GPU-hour by GPU id, overriding the price list.
    #[serde(default)]
    pub gpu_usd_per_hour: BTreeMap<String, f64>,
    /// Operating costs.
    #[serde(default)]
    pub ops: OpsSpec,
    /// Safety and evaluation overhead.
    #[serde(default)]
    pub safety: SafetySpec,
    /// APIs to compare (default: the catalog's default list).
    #[serde(default)]
    pub apis: Option<Vec<String>>,
    /// API price overrides by id.
    #[serde(default)]
    pub api_prices: BTreeMap<String, ApiPriceOverride>,
}

impl Default for CostSpec {
    fn default() -> Self {
        CostSpec {
            provider: None,
            pricing: on_demand(),
            gpu_usd_per_hour: BTreeMap::new(),
            ops: OpsSpec::default(),
            safety: SafetySpec::default(),
            apis: None,
            api_prices: BTreeMap::new(),
        }
    }
}

fn non_negative(field: &str, v: f64) -> Result<()> {
    if (0.0..1e12).contains(&v) {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!("must be a non-negative amount, got {v}"),
        ))
    }
}

impl CostSpec {
    /// Checks amounts and names.
    pub fn check(&self) -> Result<()> {
        let c = Catalog::builtin();
        for (gpu, &p) in &self.gpu_usd_per_hour {
            c.gpu(gpu)?;
            non_negative(&format!("cost.gpu_usd_per_hour.{gpu}"), p)?;
        }
        non_negative(
            "cost.ops.engineer_hours_per_month",
            self.ops.engineer_hours_per_month,
        )?;
        non_negative(
            "cost.ops.engineer_usd_per_hour",
            self.ops.engineer_usd_per_hour,
        )?;
        non_negative("cost.ops.fixed_usd_per_month", self.ops.fixed_usd_per_month)?;
        non_negative("cost.safety.usd_per_month", self.safety.usd_per_month)?;
        if !(0.0..=0.9).contains(&self.safety.gpu_share) {
            return Err(Error::config(
                "cost.safety.gpu_share",
                format!("must be 0 to 0.9, got {}", self.safety.gpu_share),
            ));
        }
        let plans: Vec<&str> = {
            let mut v: Vec<&str> = c.gpu_prices.iter().map(|p| p.plan.as_str()).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        if !plans.contains(&self.pricing()) {
            return Err(Error::Unknown {
                kind: "price plan",
                name: self.pricing.clone(),
                known: plans.join(", "),
            });
        }
        if let Some(p) = &self.provider {
            if !c.gpu_prices.iter().any(|x| &x.provider == p) {
                let mut known: Vec<&str> =
                    c.gpu_prices.iter().map(|x| x.provider.as_str()).collect();
                known.sort_unstable();
                known.dedup();
                return Err(Error::Unknown {
                    kind: "GPU provider",
                    name: p.clone(),
                    known: known.join(", "),
                });
            }
        }
        for (id, o) in &self.api_prices {
            for (k, v) in [
                ("input", o.input),
                ("cached_input", o.cached_input),
                ("output", o.output),
            ] {
                if let Some(v) = v {
                    non_negative(&format!("cost.api_prices.{id}.{k}"), v)?;
                }
            }
        }
        for (id, o) in &self.api_prices {
            if let Some(m) = &o.serves {
                c.model(m).map_err(|e| {
                    Error::config(format!("cost.api_prices.{id}.serves"), e.to_string())
                })?;
            }
        }
        self.apis("")?;
        Ok(())
    }
}
