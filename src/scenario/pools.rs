//! Elastic fleets resolved: each pool of `fleet.pools` (or the one-pool shorthand when only
//! `fleet.overflow` is given) with its GPU, replica settings, step-time parameters, memory
//! layout, price, billing increment, size or autoscaler and cold start; and the overflow API.

use crate::catalog::{Api, Catalog, Gpu, Model};
use crate::cost::{CostSpec, GpuPriceChoice};
use crate::error::{Error, Result};
use crate::fleet::{AutoscaleSpec, FleetSpec, OverflowSpec, PoolSpec};
use crate::perf::RooflineParams;
use crate::serving::{MemoryLayout, ReplicaConfig, ReplicaSpec};

use super::Scenario;

/// Seconds to provision a GPU machine for a new replica when nothing else is known: a cloud VM
/// from an on-demand pool, image cached. Low confidence: a pre-provisioned node starts a
/// container in 5-15 s (io.net, "how do I reduce GPU cold start times"), a new Kubernetes
/// node takes 2-7 minutes.
pub const PROVISION_S: f64 = 60.0;

/// Bytes per second one GPU loads weights at from local storage (safetensors): a 7B model
/// (about 15 GB) loads in 15-30 s unoptimized and 3-8 s optimized (io.net, same page), so
/// 1 GB/s. Low confidence.
pub const WEIGHT_LOAD_BYTES_PER_S: f64 = 1e9;

/// Seconds for the engine to start once weights are loaded (CUDA initialization 3-5 s, warmup
/// and CUDA-graph capture 5-10 s unoptimized; io.net, same page; torch.compile can add more,
/// Tensorfuse "Reducing GPU cold start time when using vLLM", 2025-09-01). Low confidence.
pub const ENGINE_START_S: f64 = 15.0;

/// The default cold start of a replica whose GPUs each hold `weights_gib_per_gpu` of weights:
/// provisioning + weight load + engine start.
pub fn default_cold_start_s(weights_gib_per_gpu: f64) -> f64 {
    PROVISION_S + weights_gib_per_gpu * 1024f64.powi(3) / WEIGHT_LOAD_BYTES_PER_S + ENGINE_START_S
}

/// How a pool is sized.
#[derive(Clone, Debug, PartialEq)]
pub enum PoolSize {
    /// A fixed number of replicas.
    Fixed(u32),
    /// An autoscaler.
    Autoscale(AutoscaleSpec),
}

/// A pool resolved.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Its name.
    pub name: String,
    /// Its GPU.
    pub gpu: Gpu,
    /// Replica settings.
    pub replica: ReplicaConfig,
    /// Step-time parameters.
    pub params: RooflineParams,
    /// Memory layout.
    pub memory: MemoryLayout,
    /// `on-demand`, `reserved-1y`, `reserved-3y` or `spot`.
    pub pricing: String,
    /// The GPU price (none: no price known and the scenario sets no cost).
    pub price: Option<GpuPriceChoice>,
    /// Billing increment and minimum of the price's provider, seconds.
    pub billing: (f64, f64),
    /// Its size.
    pub size: PoolSize,
    /// From a decision to a new replica serving, seconds.
    pub cold_start_s: f64,
    /// Whether the cold start was given (false: derived from the model's size).
    pub cold_start_given: bool,
    /// Spot interruptions per replica-hour and notice seconds.
    pub spot: Option<(f64, f64)>,
}

/// The overflow API resolved.
#[derive(Clone, Debug)]
pub struct OverflowConfig {
    /// The rule as written.
    pub spec: OverflowSpec,
    /// The API (with the scenario's price overrides).
    pub api: Api,
}

/// Billing increment and minimum, seconds, from a price list's `billing_increment` text
/// (unpublished: per minute, the commonest in the list, said in the pool report).
pub fn billing_of(increment: Option<&str>) -> (f64, f64) {
    match increment {
        Some(t) if t.starts_with("per-second") => {
            let min = if t.contains("60 s minimum") || t.contains("1-minute minimum") {
                60.0
            } else {
                1.0
            };
            (1.0, min)
        }
        Some(t) if t.starts_with("per-hour") => (3600.0, 3600.0),
        _ => (60.0, 60.0),
    }
}

fn in_pool(i: usize, e: Error) -> Error {
    match e {
        Error::Config { field, msg } if field.starts_with("replica.") => Error::Config {
            field: format!("fleet.pools[{i}].{field}"),
            msg,
        },
        e => e,
    }
}

impl Scenario {
    /// The pools of an elastic fleet and its overflow API, for the given GPU and replica
    /// settings of the one-pool shorthand (`fleet.pools` absent); empty and none for a fixed
    /// fleet without overflow.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn resolve_pools(
        &self,
        base_dir: &std::path::Path,
        model: &Model,
        fleet: &FleetSpec,
        cost: &CostSpec,
        shorthand: (&Gpu, &ReplicaSpec),
    ) -> Result<(Vec<PoolConfig>, Option<OverflowConfig>)> {
        let overflow = match &fleet.overflow {
            None => None,
            Some(o) => {
                let api = cost
                    .apis(&model.id)?
                    .into_iter()
                    .find(|a| a.id == o.api)
                    .or_else(|| Catalog::builtin().api(&o.api).ok().cloned())
                    .ok_or_else(|| {
                        Error::Unknown {
                            kind: "API",
                            name: o.api.clone(),
                            known: Catalog::builtin()
                                .apis
                                .iter()
                                .map(|a| a.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        }
                        .in_field("fleet.overflow.api")
                    })?;
                Some(OverflowConfig {
                    spec: o.clone(),
                    api,
                })
            }
        };
        let specs: Vec<PoolSpec> = match &fleet.pools {
            Some(p) => p.clone(),
            None if overflow.is_some() => vec![PoolSpec {
                name: "fleet".into(),
                gpu: Some(shorthand.0.id.clone()),
                tp: None,
                replica: None,
                replicas: Some(fleet.replicas),
                autoscale: None,
                pricing: Some(cost.pricing().to_string()),
                provider: None,
                interruptions_per_hour: None,
                notice_s: None,
            }],
            None => return Ok((Vec::new(), None)),
        };
        let catalog = Catalog::builtin();
        let mut pools = Vec::new();
        for (i, p) in specs.iter().enumerate() {
            let field = format!("fleet.pools[{i}]");
            let gpu = match &p.gpu {
                Some(g) => catalog
                    .gpu(g)
                    .map_err(|e| e.in_field(&format!("{field}.gpu")))?,
                None => shorthand.0,
            }
            .clone();
            let replica = p
                .replica_spec(shorthand.1)
                .resolve(&gpu)
                .map_err(|e| in_pool(i, e))?;
            let params = self.perf_params(base_dir, model, &gpu, &replica)?;
            let memory = MemoryLayout::new(model, &gpu, &replica)?;
            let pricing = match p.pricing.as_deref() {
                Some("reserved") => "reserved-1y",
                Some(x) => x,
                None => "on-demand",
            }
            .to_string();
            let mut c = cost.clone();
            c.pricing = pricing.clone();
            if p.provider.is_some() {
                c.provider = p.provider.clone();
            }
            let price = match (&self.cost, c.gpu_price(&gpu.id)) {
                (_, Ok(x)) => Some(x),
                (Some(_), Err(e)) => return Err(e.in_field(&format!("{field}.pricing"))),
                (None, Err(_)) => None,
            };
            let billing = billing_of(price.as_ref().and_then(|x| x.billing_increment.as_deref()));
            let given = p.autoscale.as_ref().and_then(|a| a.cold_start_s);
            let cold_start_s =
                given.unwrap_or_else(|| default_cold_start_s(memory.weights_gib_per_gpu));
            let size = match (&p.replicas, &p.autoscale) {
                (Some(n), _) => PoolSize::Fixed(*n),
                (None, Some(a)) => PoolSize::Autoscale(a.clone()),
                (None, None) => PoolSize::Fixed(0),
            };
            let spot = (pricing == "spot").then(|| {
                (
                    p.interruptions_per_hour.unwrap_or(0.0),
                    p.notice_s.unwrap_or(120.0),
                )
            });
            pools.push(PoolConfig {
                name: p.name.clone(),
                gpu,
                replica,
                params,
                memory,
                pricing,
                price,
                billing,
                size,
                cold_start_s,
                cold_start_given: given.is_some(),
                spot,
            });
        }
        Ok((pools, overflow))
    }
}
