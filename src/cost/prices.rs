//! Which GPU price applies (the scenario's override, a provider's offer, or the cheapest trusted
//! offer for the plan, with warnings) and which APIs a fleet is compared with.

use serde::Serialize;

use super::{ApiPriceOverride, CostSpec};
use crate::catalog::{Api, Catalog};
use crate::error::{Error, Result};

/// The GPU price a cost report uses.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GpuPriceChoice {
    /// USD per GPU-hour.
    pub usd_per_gpu_hour: f64,
    /// Provider (`scenario` for an override).
    pub provider: String,
    /// Plan.
    pub plan: String,
    /// Where the price comes from.
    pub source: String,
    /// When it was read.
    pub date: String,
    /// `high`, `medium`, `low`, or `scenario`.
    pub confidence: String,
    /// What a planner should know about it: a low-confidence figure, a reserved or spot price
    /// above the cheapest on-demand one.
    pub warnings: Vec<String>,
    /// How the provider bills (`per-second`, `per-minute`, ...; none: not published).
    #[serde(skip)]
    pub billing_increment: Option<String>,
}

impl CostSpec {
    /// The same costs at another pricing (`on-demand`, `reserved-1y`, `spot`, ...).
    pub fn pricing_for(mut self, pricing: &str) -> CostSpec {
        self.pricing = pricing.to_string();
        self
    }

    /// The pricing as the price list spells its plans (`reserved` is `reserved-1y`).
    pub fn pricing(&self) -> &str {
        match self.pricing.as_str() {
            "reserved" => "reserved-1y",
            p => p,
        }
    }

    /// The price of one GPU-hour of `gpu`: the scenario's override, else the provider's price
    /// for the plan, else the cheapest listed non-community price of medium or high confidence
    /// for the plan (a low-confidence one only when nothing else is listed). An error names what
    /// is missing; warnings name a low-confidence figure and a reserved or spot price above the
    /// cheapest on-demand one.
    pub fn gpu_price(&self, gpu: &str) -> Result<GpuPriceChoice> {
        if let Some(&p) = self.gpu_usd_per_hour.get(gpu) {
            return Ok(GpuPriceChoice {
                usd_per_gpu_hour: p,
                provider: "scenario".into(),
                plan: self.pricing().to_string(),
                source: "cost.gpu_usd_per_hour in the scenario".into(),
                date: "scenario".into(),
                confidence: "scenario".into(),
                warnings: Vec::new(),
                billing_increment: None,
            });
        }
        let c = Catalog::builtin();
        let plan = self.pricing();
        match cheapest_offer(gpu, plan, self.provider.as_deref()) {
            Some(p) => {
                let mut warnings = Vec::new();
                if p.confidence == "low" {
                    warnings.push(format!(
                        "the {gpu} {} price ${}/GPU-hour ({}, {}) is of low confidence: {}",
                        p.plan, p.usd_per_gpu_hour, p.provider, p.date, p.source
                    ));
                }
                if plan != "on-demand" {
                    if let Some(o) = cheapest_offer(gpu, "on-demand", None) {
                        if o.usd_per_gpu_hour < p.usd_per_gpu_hour {
                            warnings.push(format!(
                                "the {gpu} {} price ${}/GPU-hour ({}) is above the cheapest on-demand price ${}/GPU-hour ({}): {} costs more here",
                                p.plan, p.usd_per_gpu_hour, p.provider, o.usd_per_gpu_hour, o.provider, p.plan
                            ));
                        }
                    }
                }
                Ok(GpuPriceChoice {
                    usd_per_gpu_hour: p.usd_per_gpu_hour,
                    provider: p.provider.clone(),
                    plan: p.plan.clone(),
                    source: p.source.clone(),
                    date: p.date.clone(),
                    confidence: p.confidence.clone(),
                    warnings,
                    billing_increment: p.billing_increment.clone(),
                })
            }
            None => {
                let listed: Vec<String> = c
                    .gpu_prices
                    .iter()
                    .filter(|p| p.gpu == gpu)
                    .map(|p| format!("{} {} ${}", p.provider, p.plan, p.usd_per_gpu_hour))
                    .collect();
                Err(Error::config(
                    format!("cost.gpu_usd_per_hour.{gpu}"),
                    format!(
                        "no {plan} price for {gpu}{} in the price list ({}); give one in the scenario, e.g. \"cost\": {{\"gpu_usd_per_hour\": {{\"{gpu}\": 3.5}}}}",
                        self.provider.as_ref().map(|p| format!(" from {p}")).unwrap_or_default(),
                        if listed.is_empty() { "it lists none".to_string() } else { format!("listed: {}", listed.join("; ")) }
                    ),
                ))
            }
        }
    }

    /// The APIs to compare for `model`, with price overrides applied: `cost.apis`, or by
    /// default the catalog's default list plus every endpoint serving `model`'s architecture.
    /// Endpoints of the same model come first.
    pub fn apis(&self, model: &str) -> Result<Vec<Api>> {
        let c = Catalog::builtin();
        let ids: Vec<String> = match &self.apis {
            Some(v) => v.clone(),
            None => {
                let mut v: Vec<String> = c
                    .apis
                    .iter()
                    .filter(|a| a.serves_model(model))
                    .map(|a| a.id.clone())
                    .collect();
                v.extend(c.default_apis.iter().cloned());
                v
            }
        };
        let mut out = Vec::new();
        for id in &ids {
            let o = self.api_prices.get(id);
            let api = match (c.api(id), o) {
                (Ok(a), _) => {
                    let mut a = a.clone();
                    if let Some(o) = o {
                        if let Some(v) = o.input {
                            a.input = v;
                        }
                        if let Some(v) = o.cached_input {
                            a.cached_input = v;
                        }
                        if let Some(v) = o.output {
                            a.output = v;
                        }
                        a.source = format!("{} (prices overridden in the scenario)", a.source);
                    }
                    a
                }
                (
                    Err(_),
                    Some(ApiPriceOverride {
                        input: Some(i),
                        output: Some(out),
                        cached_input,
                        serves,
                    }),
                ) => Api {
                    id: id.clone(),
                    provider: "scenario".into(),
                    serves: serves.clone().unwrap_or_else(|| "unknown".into()),
                    serves_name: serves.clone().unwrap_or_else(|| "unknown".into()),
                    architecture: serves.clone(),
                    input: *i,
                    cached_input: cached_input.unwrap_or(*i),
                    output: *out,
                    caching: None,
                    reasoning_tokens_billed_as_output: false,
                    date: "scenario".into(),
                    confidence: "scenario".into(),
                    source: "cost.api_prices in the scenario".into(),
                    latency: None,
                    batch_fraction_off: None,
                    batch_note: "defined in the scenario".into(),
                    batch_stacks_with_caching: true,
                },
                (Err(e), _) => {
                    return Err(Error::config(
                        "cost.apis",
                        format!("{e}; or define it with cost.api_prices.{id}.input and .output"),
                    ))
                }
            };
            if !out.iter().any(|a: &Api| a.id == api.id) {
                out.push(api);
            }
        }
        // Same-model endpoints first, otherwise in the order given.
        out.sort_by_key(|a| !a.serves_model(model));
        Ok(out)
    }
}

/// The offer of `gpu` under `plan` chosen for `provider` (`None`: any non-community provider):
/// the cheapest of medium or high confidence, else the cheapest of any.
fn cheapest_offer(
    gpu: &str,
    plan: &str,
    provider: Option<&str>,
) -> Option<&'static crate::catalog::GpuPrice> {
    let offers = || {
        Catalog::builtin()
            .gpu_prices
            .iter()
            .filter(move |p| p.gpu == gpu && p.plan == plan)
            .filter(move |p| match provider {
                Some(want) => p.provider == want,
                None => !p.community,
            })
    };
    let by_price = |a: &&crate::catalog::GpuPrice, b: &&crate::catalog::GpuPrice| {
        a.usd_per_gpu_hour.total_cmp(&b.usd_per_gpu_hour)
    };
    offers()
        .filter(|p| p.confidence != "low")
        .min_by(by_price)
        .or_else(|| offers().min_by(by_price))
}

#[cfg(test)]
mod tests {
    use crate::cost::CostSpec;

    #[test]
    fn missing_gpu_price_names_the_gpu_and_the_fix() {
        let spot = |gpu: &str| {
            CostSpec {
                pricing: "spot".into(),
                ..Default::default()
            }
            .gpu_price(gpu)
        };
        let e = spot("l40s").unwrap_err().to_string();
        assert!(e.contains("l40s") && e.contains("gpu_usd_per_hour"), "{e}");
        // The cheapest trusted data-centre offer (RunPod Community Cloud's $2.69 is not chosen).
        let p = CostSpec::default().gpu_price("h100-sxm").unwrap();
        assert_eq!(
            (p.usd_per_gpu_hour, p.provider.as_str()),
            (3.2, "hyperstack")
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(spot("h100-sxm").unwrap().usd_per_gpu_hour, 2.4638);
        let aws = CostSpec {
            provider: Some("aws".into()),
            ..Default::default()
        };
        // After AWS's June 2025 cut (was $12.29).
        assert_eq!(aws.gpu_price("h100-sxm").unwrap().usd_per_gpu_hour, 6.88);
        let community = CostSpec {
            provider: Some("runpod-community".into()),
            ..Default::default()
        };
        assert_eq!(
            community.gpu_price("h100-sxm").unwrap().usd_per_gpu_hour,
            2.69
        );
    }

    #[test]
    fn low_confidence_and_inverted_reserved_prices_warn() {
        // MI300X spot: only a low-confidence article figure is listed.
        let p = CostSpec {
            pricing: "spot".into(),
            ..Default::default()
        }
        .gpu_price("mi300x")
        .unwrap();
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("low confidence") && w.contains("1.71")),
            "{:?}",
            p.warnings
        );
        // L40S reserved-1y ($1.17 at AWS) costs more than RunPod's on-demand $1.09.
        let r = CostSpec {
            pricing: "reserved".into(),
            ..Default::default()
        }
        .gpu_price("l40s")
        .unwrap();
        assert_eq!(r.plan, "reserved-1y");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("above the cheapest on-demand")),
            "{:?}",
            r.warnings
        );
        // H100 committed terms are listed only at GCP: 3-year ($4.86) is still above $3.20.
        let r3 = CostSpec {
            pricing: "reserved-3y".into(),
            ..Default::default()
        }
        .gpu_price("h100-sxm")
        .unwrap();
        assert!(
            r3.warnings.iter().any(|w| w.contains("above")),
            "{:?}",
            r3.warnings
        );
        let a100 = CostSpec {
            pricing: "reserved-1y".into(),
            ..Default::default()
        }
        .gpu_price("a100-80gb")
        .unwrap();
        assert_eq!(a100.usd_per_gpu_hour, 2.1752);
    }
}
