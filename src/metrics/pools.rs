//! What an elastic fleet reports per pool and for its overflow API (summary.json `pools` and
//! `overflow`; absent for a fixed fleet).

use serde::{Deserialize, Serialize};

/// One pool of an elastic fleet over the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolReport {
    /// Its name.
    pub name: String,
    /// GPU id.
    pub gpu: String,
    /// Tensor-parallel GPUs per replica.
    pub tp: u32,
    /// `on-demand`, `reserved-1y`, `reserved-3y` or `spot`.
    pub pricing: String,
    /// How it is sized: `fixed N` or `autoscale MIN..MAX on METRIC TARGET`.
    pub sizing: String,
    /// USD per GPU-hour (null: no price known).
    pub usd_per_gpu_hour: Option<f64>,
    /// How the provider bills, as used: increment and minimum, seconds.
    pub billing_increment_s: f64,
    /// Shortest billed time of a replica, seconds.
    pub billing_minimum_s: f64,
    /// From a decision to a new replica serving, seconds.
    pub cold_start_s: f64,
    /// `given` or `derived from the model's size` (see README, "Cold starts").
    pub cold_start_basis: String,
    /// Most replicas provisioned at once (loading included).
    pub peak_replicas: u32,
    /// Replicas started by a scale-up or a spot replacement.
    pub cold_starts: u32,
    /// Spot replicas reclaimed.
    pub interruptions: u32,
    /// GPU-hours from each replica's provisioning decision to its release (what is paid for on
    /// demand and spot, before rounding to the billing increment).
    pub provisioned_gpu_hours: f64,
    /// GPU-hours with replicas serving (active or draining).
    pub active_gpu_hours: f64,
    /// GPU-hours with a step in flight.
    pub busy_gpu_hours: f64,
    /// GPU-hours billed: reserved pools their count for the whole span, others the
    /// provisioned time rounded up to the billing increment, replica by replica.
    pub billed_gpu_hours: f64,
    /// Share of its serving capacity the traffic it served used (null: no capacity known).
    pub utilization: Option<f64>,
    /// Its cost over the simulated span, USD.
    pub usd: f64,
    /// Its cost per month, USD (reserved: count x 730 h; others: see `cost.monthly_basis`).
    pub per_month_usd: f64,
    /// The part of `per_month_usd` paying for capacity the traffic did not use, USD.
    pub unused_capacity_usd_per_month: f64,
}

/// What went to the overflow API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OverflowReport {
    /// The API id.
    pub api: String,
    /// Requests sent to it.
    pub spilled_requests: u64,
    /// Their share of the requests that arrived.
    pub spilled_share: f64,
    /// Their spend with the API's pricing and caching rules, USD.
    pub usd: f64,
    /// That spend per month of this traffic, USD.
    pub per_month_usd: f64,
    /// The API's published median time to first token used as their latency, seconds (null:
    /// none published; their latency is then left out of the distributions).
    pub median_ttft_s: Option<f64>,
}

/// An elastic fleet over time, in bins: what was offered, and per pool what was provisioned and
/// serving; cold starts and spills (pools_timeline.csv, pools.png).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolTimeline {
    /// Bin width, seconds.
    pub bin_s: f64,
    /// Pool names.
    pub pools: Vec<String>,
    /// Requests arriving per second, per bin.
    pub offered_per_s: Vec<f64>,
    /// Requests spilled to the overflow API per second, per bin.
    pub spilled_per_s: Vec<f64>,
    /// Per pool, per bin: mean replicas provisioned (loading, serving or draining).
    pub provisioned: Vec<Vec<f64>>,
    /// Per pool, per bin: mean replicas serving (active or draining).
    pub active: Vec<Vec<f64>>,
    /// Per pool, per bin: replicas started by a scale-up or a spot replacement.
    pub cold_starts: Vec<Vec<u32>>,
}
