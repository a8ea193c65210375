//! Pools: groups of identical replicas in one fleet, each with its own GPU, replica settings,
//! size (a fixed count or an autoscaler) and pricing; and the API a fleet spills overflow to.
//!
//! `fleet.pools` as a scenario writes it ([`PoolSpec`], [`AutoscaleSpec`], [`OverflowSpec`]).
//! Without `pools`, `fleet.replicas` with the top-level `gpu` and `replica` is a fleet of one
//! fixed pool, simulated exactly as before pools existed.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::serving::ReplicaSpec;

/// What an autoscaler reads to decide a pool's size, as KEDA, Knative, Ray Serve and llm-d's
/// variant autoscaler do (they scale on load, not on GPU utilization).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScaleMetric {
    /// Requests waiting or running per serving replica (Knative's concurrency, Ray Serve's
    /// `target_ongoing_requests`).
    #[serde(alias = "in_flight_per_replica")]
    InFlightPerReplica,
    /// Requests waiting to be scheduled per serving replica (KEDA on a queue-length metric such
    /// as vLLM's `num_requests_waiting`).
    #[serde(alias = "queue_length")]
    QueueLength,
    /// Fraction of KV blocks in use, averaged over serving replicas (0 to 1; llm-d's
    /// saturation-based scaling).
    #[serde(alias = "kv_usage")]
    KvUsage,
}

impl ScaleMetric {
    /// The name scenarios use.
    pub fn name(self) -> &'static str {
        match self {
            ScaleMetric::InFlightPerReplica => "in-flight-per-replica",
            ScaleMetric::QueueLength => "queue-length",
            ScaleMetric::KvUsage => "kv-usage",
        }
    }
}

fn default_interval() -> f64 {
    15.0
}
fn default_down_delay() -> f64 {
    300.0
}

/// A pool's autoscaler (`fleet.pools[].autoscale`). Every `interval_s` it reads `metric` over
/// the pool's serving replicas and asks for `ceil(replicas x metric / target)` replicas (the
/// Kubernetes HPA rule), clamped to `min..=max`; a rise takes the lowest request of the last
/// `scale_up_delay_s` and a fall the highest of the last `scale_down_delay_s` (HPA's
/// stabilization windows, 0 s and 300 s by default).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSpec {
    /// Fewest replicas (0 allows scale to zero: the first request then waits for a cold start).
    pub min: u32,
    /// Most replicas.
    pub max: u32,
    /// What it scales on.
    pub metric: ScaleMetric,
    /// The metric's target per replica (`kv-usage`: a fraction, 0 to 1).
    pub target: f64,
    /// Seconds between decisions (KEDA's polling interval is 30 s, Knative's tick 2 s).
    #[serde(default = "default_interval")]
    pub interval_s: f64,
    /// Stabilization window for scaling up, seconds.
    #[serde(default)]
    pub scale_up_delay_s: f64,
    /// Stabilization window for scaling down, seconds.
    #[serde(default = "default_down_delay")]
    pub scale_down_delay_s: f64,
    /// Seconds from a decision to a new replica serving (provisioning, weight load, engine
    /// start); by default derived from the model's size (README, "Cold starts").
    #[serde(default)]
    pub cold_start_s: Option<f64>,
}

/// One pool of a fleet (`fleet.pools[]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Its name in outputs.
    pub name: String,
    /// GPU id (default: the scenario's `gpu`).
    #[serde(default)]
    pub gpu: Option<String>,
    /// Tensor-parallel GPUs per replica (default: the replica settings').
    #[serde(default)]
    pub tp: Option<u32>,
    /// Replica settings over the scenario's `replica` (only the keys given change).
    #[serde(default)]
    pub replica: Option<ReplicaSpec>,
    /// A fixed number of replicas (give this or `autoscale`).
    #[serde(default)]
    pub replicas: Option<u32>,
    /// An autoscaler (give this or `replicas`).
    #[serde(default)]
    pub autoscale: Option<AutoscaleSpec>,
    /// `on-demand` (default), `reserved-1y`, `reserved-3y` or `spot`.
    #[serde(default)]
    pub pricing: Option<String>,
    /// GPU provider whose price applies (default: as `cost.provider`).
    #[serde(default)]
    pub provider: Option<String>,
    /// `spot` pools: interruptions per replica-hour (a Poisson process per replica).
    #[serde(default)]
    pub interruptions_per_hour: Option<f64>,
    /// `spot` pools: warning before an interruption, seconds (the replica stops taking
    /// requests then; AWS gives 120 s, GCP 30 s).
    #[serde(default)]
    pub notice_s: Option<f64>,
}

/// When a new request goes to an API instead of the fleet (`fleet.overflow`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OverflowSpec {
    /// The API id (see `fleetsim catalog`).
    pub api: String,
    /// Spill when the replica the router picks has a request that has waited longer than this
    /// to be scheduled, seconds (the head-of-line wait a gateway can see).
    #[serde(default)]
    pub queue_wait_s: Option<f64>,
    /// Spill when the fleet's serving replicas hold more than this many requests each on
    /// average (waiting or running); with no serving replica every request spills.
    #[serde(default)]
    pub in_flight_per_replica: Option<f64>,
}

/// Most pools in a fleet.
pub const MAX_POOLS: usize = 16;

/// Longest cold start or stabilization window accepted, seconds (a day).
pub const MAX_DELAY_S: f64 = 86_400.0;

fn seconds(field: &str, v: f64, min: f64) -> Result<()> {
    if v.is_finite() && v >= min && v <= MAX_DELAY_S {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!(
                "must be {min} to {MAX_DELAY_S} seconds, got {}",
                crate::error::fmt_value(v)
            ),
        ))
    }
}

impl AutoscaleSpec {
    /// Checks ranges; `field` is where it sits (`fleet.pools[0].autoscale`).
    pub fn check(&self, field: &str, max_replicas: u32) -> Result<()> {
        if self.max == 0 || self.max > max_replicas {
            return Err(Error::config(
                format!("{field}.max"),
                format!("must be 1..={max_replicas}, got {}", self.max),
            ));
        }
        if self.min > self.max {
            return Err(Error::config(
                format!("{field}.min"),
                format!("must be at most max ({}), got {}", self.max, self.min),
            ));
        }
        let target_ok = match self.metric {
            ScaleMetric::KvUsage => self.target > 0.0 && self.target <= 1.0,
            _ => self.target.is_finite() && self.target > 0.0 && self.target <= 1e6,
        };
        if !target_ok {
            return Err(Error::config(
                format!("{field}.target"),
                format!(
                    "must be above 0 and at most {} for {}, got {}",
                    if self.metric == ScaleMetric::KvUsage {
                        "1"
                    } else {
                        "1e6"
                    },
                    self.metric.name(),
                    crate::error::fmt_value(self.target)
                ),
            ));
        }
        seconds(&format!("{field}.interval_s"), self.interval_s, 0.1)?;
        seconds(
            &format!("{field}.scale_up_delay_s"),
            self.scale_up_delay_s,
            0.0,
        )?;
        seconds(
            &format!("{field}.scale_down_delay_s"),
            self.scale_down_delay_s,
            0.0,
        )?;
        if let Some(c) = self.cold_start_s {
            seconds(&format!("{field}.cold_start_s"), c, 0.0)?;
        }
        Ok(())
    }
}

impl PoolSpec {
    /// Checks what does not need the catalog; `field` is where it sits (`fleet.pools[0]`).
    pub fn check(&self, field: &str, max_replicas: u32) -> Result<()> {
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return Err(Error::config(
                format!("{field}.name"),
                "give a name of 1 to 64 characters",
            ));
        }
        match (&self.replicas, &self.autoscale) {
            (Some(n), None) => {
                if *n > max_replicas {
                    return Err(Error::config(
                        format!("{field}.replicas"),
                        format!("must be 0..={max_replicas}, got {n}"),
                    ));
                }
            }
            (None, Some(a)) => a.check(&format!("{field}.autoscale"), max_replicas)?,
            _ => {
                return Err(Error::config(
                    field,
                    "give exactly one of `replicas` (a fixed count) and `autoscale`",
                ))
            }
        }
        let pricing = self.pricing.as_deref().unwrap_or("on-demand");
        if ![
            "on-demand",
            "reserved-1y",
            "reserved-3y",
            "reserved",
            "spot",
        ]
        .contains(&pricing)
        {
            return Err(Error::Unknown {
                kind: "pool pricing",
                name: pricing.to_string(),
                known: "on-demand, reserved-1y, reserved-3y, spot".into(),
            }
            .in_field(&format!("{field}.pricing")));
        }
        let reserved = pricing.starts_with("reserved");
        if reserved && self.autoscale.is_some() {
            return Err(Error::config(
                format!("{field}.autoscale"),
                "a reserved pool is paid for all month: give it a fixed `replicas` count",
            ));
        }
        let spot = pricing == "spot";
        match (spot, self.interruptions_per_hour, self.notice_s) {
            (true, Some(r), _) if !(r.is_finite() && (0.0..=60.0).contains(&r)) => {
                return Err(Error::config(
                    format!("{field}.interruptions_per_hour"),
                    format!("must be 0 to 60, got {}", crate::error::fmt_value(r)),
                ))
            }
            (false, Some(_), _) | (false, _, Some(_)) => {
                return Err(Error::config(
                    format!("{field}.interruptions_per_hour"),
                    "interruptions apply to `spot` pools only",
                ))
            }
            _ => {}
        }
        if let Some(n) = self.notice_s {
            seconds(&format!("{field}.notice_s"), n, 0.0)?;
        }
        if let Some(tp) = self.tp {
            if self
                .replica
                .as_ref()
                .and_then(|r| r.tp)
                .is_some_and(|t| t != tp)
            {
                return Err(Error::config(
                    format!("{field}.tp"),
                    "given twice (also as replica.tp) with different values",
                ));
            }
        }
        Ok(())
    }

    /// The pool's replica settings: the scenario's with this pool's keys over them.
    pub fn replica_spec(&self, scenario: &ReplicaSpec) -> ReplicaSpec {
        let mut r = scenario.clone();
        if let Some(p) = &self.replica {
            macro_rules! over {
                ($($f:ident),*) => { $( if p.$f.is_some() { r.$f = p.$f.clone(); } )* };
            }
            over!(
                engine,
                tp,
                max_num_seqs,
                max_num_batched_tokens,
                block_size,
                gpu_memory_utilization,
                precision,
                max_model_len,
                kv_cache_tokens,
                prefix_caching,
                kv_cache_dtype,
                scheduler_policy,
                kv_cache_free_memory_fraction,
                num_scheduler_steps
            );
        }
        if self.tp.is_some() {
            r.tp = self.tp;
        }
        r
    }
}

impl OverflowSpec {
    /// Checks the rule (the API is looked up when the scenario is resolved).
    pub fn check(&self) -> Result<()> {
        if self.queue_wait_s.is_none() && self.in_flight_per_replica.is_none() {
            return Err(Error::config(
                "fleet.overflow",
                "give a rule: `queue_wait_s` or `in_flight_per_replica` (the threshold above which a new request goes to the API)",
            ));
        }
        if let Some(w) = self.queue_wait_s {
            seconds("fleet.overflow.queue_wait_s", w, 0.0)?;
        }
        if let Some(n) = self.in_flight_per_replica {
            if !(n.is_finite() && (0.0..=1e6).contains(&n)) {
                return Err(Error::config(
                    "fleet.overflow.in_flight_per_replica",
                    format!("must be 0 to 1e6, got {}", crate::error::fmt_value(n)),
                ));
            }
        }
        Ok(())
    }
}
