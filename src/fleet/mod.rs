//! Fleets: N identical replicas behind a router (docs/ARCHITECTURE.md, "The pipeline"). The router sees the
//! replicas' state (outstanding requests, KV use, cached prefixes) at the moment a request
//! arrives and picks one; the replica then queues and serves it.

pub mod autoscaler;
mod clients;
pub mod index;
pub mod pool;
pub mod routers;
pub mod sim;
pub mod stream;
pub mod view;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::workload::Request;

pub use pool::{AutoscaleSpec, OverflowSpec, PoolSpec, ScaleMetric};
pub use routers::RouterKind;
pub use sim::{Event, SimOutput, Simulation};
pub use view::{FleetView, ReplicaView};

/// Picks the replica for each arriving request.
pub trait Router: Send {
    /// Index into `replicas` of the replica that serves `req`; routers read replicas only
    /// through the view.
    fn route(&mut self, req: &Request, replicas: &dyn FleetView) -> usize;
    /// Whether it asks replicas for cached prefixes ([`FleetView::holders`] then saves asking
    /// every replica), so a fixed fleet keeps an [`index::FleetIndex`] of them for it.
    fn reads_prefix_caches(&self) -> bool {
        false
    }
    /// Whether it looks for the least-loaded replica ([`FleetView::least_loaded`] then saves
    /// a scan), so a fixed fleet keeps an [`index::FleetIndex`] of loads for it.
    fn reads_loads(&self) -> bool {
        false
    }
}

fn one() -> u32 {
    1
}
fn default_margin() -> u32 {
    64
}
fn default_ratio() -> f64 {
    1.5
}

/// The scenario's `fleet`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// Number of replicas (each `replica.tp` GPUs).
    #[serde(default = "one")]
    pub replicas: u32,
    /// Routing policy.
    #[serde(default)]
    pub router: RouterKind,
    /// prefix-affinity: the replica with the longest cached prefix is passed over when it has
    /// more than this many outstanding requests beyond the least-loaded replica...
    #[serde(default = "default_margin")]
    pub affinity_margin_requests: u32,
    /// ...and more than this many times the least-loaded replica's outstanding requests.
    #[serde(default = "default_ratio")]
    pub affinity_margin_ratio: f64,
    /// Pools of replicas, each with its GPU, settings, size or autoscaler, and pricing (none:
    /// `replicas` of the scenario's GPU and replica settings, at `cost.pricing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pools: Option<Vec<PoolSpec>>,
    /// The API new requests spill to when the fleet is too busy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<OverflowSpec>,
}

impl Default for FleetSpec {
    fn default() -> Self {
        FleetSpec {
            replicas: 1,
            router: RouterKind::default(),
            affinity_margin_requests: default_margin(),
            affinity_margin_ratio: default_ratio(),
            pools: None,
            overflow: None,
        }
    }
}

/// Largest fleet simulated.
pub const MAX_REPLICAS: u32 = 4096;

impl FleetSpec {
    /// Checks ranges.
    pub fn check(&self) -> Result<()> {
        if !(1..=MAX_REPLICAS).contains(&self.replicas) {
            return Err(Error::config(
                "fleet.replicas",
                format!("must be 1..={MAX_REPLICAS}, got {}", self.replicas),
            ));
        }
        if !(self.affinity_margin_ratio.is_finite() && self.affinity_margin_ratio >= 1.0) {
            return Err(Error::config(
                "fleet.affinity_margin_ratio",
                format!("must be at least 1, got {}", self.affinity_margin_ratio),
            ));
        }
        if let Some(pools) = &self.pools {
            if pools.is_empty() || pools.len() > pool::MAX_POOLS {
                return Err(Error::config(
                    "fleet.pools",
                    format!("give 1 to {} pools, got {}", pool::MAX_POOLS, pools.len()),
                ));
            }
            if self.replicas != 1 {
                return Err(Error::config(
                    "fleet.replicas",
                    "pools give their own sizes: leave `replicas` out when `pools` is given",
                ));
            }
            for (i, p) in pools.iter().enumerate() {
                p.check(&format!("fleet.pools[{i}]"), MAX_REPLICAS)?;
                if pools[..i].iter().any(|q| q.name == p.name) {
                    return Err(Error::config(
                        format!("fleet.pools[{i}].name"),
                        format!("`{}` names two pools", p.name),
                    ));
                }
            }
            let most: u64 = pools
                .iter()
                .map(|p| {
                    p.replicas
                        .or(p.autoscale.as_ref().map(|a| a.max))
                        .unwrap_or(0) as u64
                })
                .sum();
            if most == 0 && self.overflow.is_none() {
                return Err(Error::config(
                    "fleet.pools",
                    "no pool can ever serve (every one is fixed at 0 replicas) and there is no overflow API",
                ));
            }
            if most > MAX_REPLICAS as u64 {
                return Err(Error::config(
                    "fleet.pools",
                    format!(
                        "at most {MAX_REPLICAS} replicas in all pools together, got up to {most}"
                    ),
                ));
            }
        }
        if let Some(o) = &self.overflow {
            o.check()?;
        }
        Ok(())
    }

    /// The router for `replicas` replicas; `seed` drives the random router.
    pub fn build_router(&self, kind: RouterKind, seed: u64) -> Box<dyn Router> {
        routers::build(kind, self, seed)
    }
}
