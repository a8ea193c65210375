//! The cost report: what the fleet costs over the simulated span and per month (used and unused
//! capacity, operations, safety), what each API would charge for the same requests, and the
//! cheapest option.

use serde::{Deserialize, Serialize};

use super::api::{slo_verdict, LatencyTargets};
use super::{ApiSpend, CostSpec, GpuPriceChoice, MONTH_HOURS};
use crate::catalog::Api;

/// One API's spend on the workload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ApiCost {
    /// API id.
    pub name: String,
    /// What it serves: an open-weight model id, `closed` or `unknown`.
    pub serves: String,
    /// Whether it serves the simulated model (same architecture and size).
    pub same_model: bool,
    /// Its published median TTFT, seconds (null: none published).
    pub median_ttft_s: Option<f64>,
    /// Its published median output tokens per second (null: none published).
    pub median_output_tokens_per_s: Option<f64>,
    /// Its published latency against the SLO: `no slo`, `unknown` (nothing published for a
    /// target), `misses` (a published median already misses a target), `median within` (the
    /// medians meet the targets; the tail the SLO percentile needs is not published).
    pub slo_verdict: String,
    /// Confidence in its price: `high`, `medium`, `low`, or `scenario`.
    pub price_confidence: String,
    /// It bills hidden reasoning tokens as output; `usd` counts only the trace's output tokens.
    pub reasoning_tokens_billed_as_output: bool,
    /// The same traffic through the provider's batch API (results within a day, so only for
    /// work that can wait), per month, USD (null: no batch price known).
    pub batch_per_month_usd: Option<f64>,
    /// Spend on the workload's requests, USD.
    pub usd: f64,
    /// The workload's traffic rate for 730 hours, USD.
    pub per_month_usd: f64,
    /// USD per million tokens (input + output).
    pub per_million_tokens_usd: f64,
    /// Input tokens billed at the cached rate.
    pub cached_input_tokens: u64,
    /// Input tokens billed at the cache-write rate.
    pub cache_write_tokens: u64,
}

/// The `cost` section of a summary.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CostReport {
    /// GPU price used, USD per GPU-hour.
    pub gpu_usd_per_hour: f64,
    /// Its provider and plan.
    pub gpu_price_provider: String,
    /// Its plan.
    pub gpu_price_plan: String,
    /// When the price was read.
    pub gpu_price_date: String,
    /// `high`, `medium`, `low` or `scenario`.
    pub gpu_price_confidence: String,
    /// Warnings about the price (low confidence; a reserved or spot price above on-demand).
    pub gpu_price_warnings: Vec<String>,
    /// Simulated span, hours.
    pub span_hours: f64,
    /// GPU-hours provisioned over the span.
    pub gpu_hours: f64,
    /// GPU-hours with a step in flight.
    pub busy_gpu_hours: f64,
    /// GPU-hours provisioned but idle.
    pub idle_gpu_hours: f64,
    /// GPUs over the span, USD.
    pub gpu_usd: f64,
    /// Busy share of `gpu_usd`.
    pub busy_gpu_usd: f64,
    /// Idle share of `gpu_usd`.
    pub idle_gpu_usd: f64,
    /// What decides the used and unused capacity split: `capacity` (the traffic's share of the
    /// fleet's capacity for this workload, `capacity.utilization`) or `active time` (no capacity
    /// was computed: the share of time a step is in flight, which overstates use).
    pub utilization_basis: String,
    /// The share of GPU cost that pays for capacity the traffic uses (0 to 1).
    pub used_fraction: f64,
    /// GPU cost x `used_fraction` over the span, USD.
    pub used_capacity_usd: f64,
    /// GPU cost x (1 - `used_fraction`) over the span, USD: the idle GPU bill.
    pub unused_capacity_usd: f64,
    /// Operations over the span, USD.
    pub ops_usd: f64,
    /// Safety and evaluation overhead over the span, USD.
    pub safety_usd: f64,
    /// All of the above, USD.
    pub total_usd: f64,
    /// `total_usd` per million tokens (input + output) of completed requests.
    pub per_million_tokens_usd: f64,
    /// The span's spending rate over 730 hours, USD.
    pub per_month_usd: f64,
    /// The span both the fleet's and the APIs' monthly figures are extrapolated from, hours:
    /// the arrival window (last arrival plus one mean gap, or the horizon). Monthly figures are
    /// for 730 hours of traffic arriving at the offered rate; for the fleet that holds only
    /// when it keeps up (see `stability`).
    pub comparison_span_hours: f64,
    /// GPU capacity the traffic uses, per month, USD.
    pub used_capacity_usd_per_month: f64,
    /// GPU capacity the traffic leaves unused, per month, USD.
    pub unused_capacity_usd_per_month: f64,
    /// Busy GPUs per month, USD.
    pub busy_gpu_usd_per_month: f64,
    /// Idle GPUs per month, USD.
    pub idle_gpu_usd_per_month: f64,
    /// Operations per month, USD.
    pub ops_usd_per_month: f64,
    /// Safety overhead per month, USD.
    pub safety_usd_per_month: f64,
    /// The same requests on each API.
    pub api: Vec<ApiCost>,
    /// The cheapest option per month: `self-hosted` or an API id. When the fleet is overloaded
    /// or misses the scenario's SLO, self-hosting is not an option; nor is an API whose
    /// published median latency misses it.
    pub cheapest: String,
    /// The cheapest endpoint of the same model (null: none compared).
    pub cheapest_same_model_api: Option<String>,
}

/// What the fleet did, as the cost model needs it.
#[derive(Clone, Copy, Debug)]
pub struct FleetUse {
    /// GPUs provisioned.
    pub gpus: u64,
    /// Simulated span, seconds.
    pub span_s: f64,
    /// GPU-seconds with a step in flight.
    pub busy_gpu_s: f64,
    /// Input + output tokens of completed requests.
    pub completed_tokens: u64,
    /// Whether the fleet may be chosen (keeps up, and meets the SLO or there is none).
    pub eligible: bool,
    /// The traffic's share of the fleet's capacity (`capacity.utilization`), when computed.
    pub utilization: Option<f64>,
}

/// An API as the choice of the cheapest option sees it.
#[derive(Clone, Copy, Debug)]
pub struct ApiOption<'a> {
    /// API id.
    pub name: &'a str,
    /// Its monthly spend, USD.
    pub per_month_usd: f64,
    /// Whether it serves the simulated model.
    pub same_model: bool,
    /// Its published latency against the SLO ([`slo_verdict`]).
    pub slo_verdict: &'a str,
}

/// The cheapest option per month, `self-hosted` (when `fleet_per_month_usd` is given: the fleet
/// keeps up and meets the SLO) or an API whose published median latency does not miss the SLO
/// (the first listed wins a tie; empty when there is none), and the cheapest endpoint of the
/// same model.
pub fn cheapest_options(
    fleet_per_month_usd: Option<f64>,
    apis: &[ApiOption],
) -> (String, Option<String>) {
    let mut cheapest: Option<(f64, &str)> = fleet_per_month_usd.map(|m| (m, "self-hosted"));
    for a in apis.iter().filter(|a| a.slo_verdict != "misses") {
        if cheapest.is_none_or(|(c, _)| a.per_month_usd < c) {
            cheapest = Some((a.per_month_usd, a.name));
        }
    }
    let same_model = apis
        .iter()
        .filter(|a| a.same_model)
        .min_by(|a, b| a.per_month_usd.total_cmp(&b.per_month_usd))
        .map(|a| a.name.to_string());
    (
        cheapest.map(|c| c.1.to_string()).unwrap_or_default(),
        same_model,
    )
}

/// The cheapest option among a fleet costing `fleet_per_month_usd` (none: not an option) and
/// the priced APIs, and the cheapest same-model API ([`cheapest_options`]).
pub fn cheapest_of(fleet_per_month_usd: Option<f64>, api: &[ApiCost]) -> (String, Option<String>) {
    let options: Vec<ApiOption> = api
        .iter()
        .map(|a| ApiOption {
            name: &a.name,
            per_month_usd: a.per_month_usd,
            same_model: a.same_model,
            slo_verdict: &a.slo_verdict,
        })
        .collect();
    cheapest_options(fleet_per_month_usd, &options)
}

impl CostSpec {
    /// The cost report for a fleet of `model` with `price`, given the APIs' spend on the
    /// workload (`traffic_span_s`: the arrival window the API spend covers).
    pub fn report(
        &self,
        price: &GpuPriceChoice,
        fleet: FleetUse,
        apis: &[(Api, ApiSpend)],
        traffic_span_s: f64,
        model: &str,
        slo: Option<LatencyTargets>,
    ) -> CostReport {
        let hours = fleet.span_s / 3600.0;
        let gpu_hours = fleet.gpus as f64 * hours;
        let busy_hours = (fleet.busy_gpu_s / 3600.0).min(gpu_hours);
        let p = price.usd_per_gpu_hour;
        let gpu_usd = gpu_hours * p;
        let busy_gpu_usd = busy_hours * p;
        let share = self.safety.gpu_share;
        let month_frac = hours / MONTH_HOURS;
        let ops_month = self.ops.engineer_hours_per_month * self.ops.engineer_usd_per_hour
            + self.ops.fixed_usd_per_month;
        let gpu_month = fleet.gpus as f64 * p * MONTH_HOURS;
        let safety_month = self.safety.usd_per_month + gpu_month * share / (1.0 - share);
        let ops_usd = ops_month * month_frac;
        let safety_usd = safety_month * month_frac;
        let total = gpu_usd + ops_usd + safety_usd;
        let busy_frac = if gpu_hours > 0.0 {
            busy_hours / gpu_hours
        } else {
            0.0
        };
        let traffic_hours = traffic_span_s / 3600.0;
        let (basis, used) = match fleet.utilization {
            Some(u) if u.is_finite() => ("capacity", u.clamp(0.0, 1.0)),
            Some(_) => ("capacity", 1.0),
            None => ("active time", busy_frac),
        };
        let api: Vec<ApiCost> = apis
            .iter()
            .map(|(a, s)| ApiCost {
                name: a.id.clone(),
                serves: a.serves.clone(),
                same_model: a.serves_model(model),
                median_ttft_s: a.latency.as_ref().and_then(|l| l.median_ttft_s),
                median_output_tokens_per_s: a
                    .latency
                    .as_ref()
                    .and_then(|l| l.median_output_tokens_per_s),
                slo_verdict: slo_verdict(a, slo).to_string(),
                price_confidence: a.confidence.clone(),
                reasoning_tokens_billed_as_output: a.reasoning_tokens_billed_as_output,
                usd: s.usd,
                per_month_usd: monthly_usd(s.usd, traffic_hours),
                per_million_tokens_usd: per_million(s.usd, s.input_tokens + s.output_tokens),
                cached_input_tokens: s.cached_input_tokens,
                cache_write_tokens: s.cache_write_tokens,
                batch_per_month_usd: a.batch_fraction_off.map(|f| {
                    // Where batch rates do not stack with caching, the batch discount applies
                    // to the uncached price of every token.
                    let basis = if a.batch_stacks_with_caching {
                        s.usd
                    } else {
                        (s.input_tokens as f64 * a.input + s.output_tokens as f64 * a.output) / 1e6
                    };
                    (1.0 - f) * monthly_usd(basis, traffic_hours)
                }),
            })
            .collect();
        let per_month = gpu_month + ops_month + safety_month;
        let (cheapest, cheapest_same_model_api) =
            cheapest_of(fleet.eligible.then_some(per_month), &api);
        CostReport {
            gpu_usd_per_hour: p,
            gpu_price_provider: price.provider.clone(),
            gpu_price_plan: price.plan.clone(),
            gpu_price_date: price.date.clone(),
            gpu_price_confidence: price.confidence.clone(),
            gpu_price_warnings: price.warnings.clone(),
            span_hours: hours,
            gpu_hours,
            busy_gpu_hours: busy_hours,
            idle_gpu_hours: gpu_hours - busy_hours,
            gpu_usd,
            busy_gpu_usd,
            idle_gpu_usd: gpu_usd - busy_gpu_usd,
            utilization_basis: basis.to_string(),
            used_fraction: used,
            used_capacity_usd: gpu_usd * used,
            unused_capacity_usd: gpu_usd * (1.0 - used),
            ops_usd,
            safety_usd,
            total_usd: total,
            per_million_tokens_usd: per_million(total, fleet.completed_tokens),
            per_month_usd: per_month,
            comparison_span_hours: traffic_hours,
            used_capacity_usd_per_month: gpu_month * used,
            unused_capacity_usd_per_month: gpu_month * (1.0 - used),
            busy_gpu_usd_per_month: gpu_month * busy_frac,
            idle_gpu_usd_per_month: gpu_month * (1.0 - busy_frac),
            ops_usd_per_month: ops_month,
            safety_usd_per_month: safety_month,
            api,
            cheapest,
            cheapest_same_model_api,
        }
    }
}

/// What spending `usd` over `span_hours` of traffic costs per month ([`MONTH_HOURS`]); 0 for an
/// empty span.
pub fn monthly_usd(usd: f64, span_hours: f64) -> f64 {
    if span_hours > 0.0 {
        usd * MONTH_HOURS / span_hours
    } else {
        0.0
    }
}

fn per_million(usd: f64, tokens: u64) -> f64 {
    if tokens == 0 {
        0.0
    } else {
        usd / (tokens as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::{OpsSpec, SafetySpec};

    #[test]
    fn cost_arithmetic_matches_hand_computation() {
        // 2 GPUs at $3/h for 1.5 h, busy 2 GPU-hours; 10 engineering hours at $150 plus $500 a
        // month; $730 a month of evaluations and 10% of GPU time held back.
        let spec = CostSpec {
            ops: OpsSpec {
                engineer_hours_per_month: 10.0,
                engineer_usd_per_hour: 150.0,
                fixed_usd_per_month: 500.0,
            },
            safety: SafetySpec {
                usd_per_month: 730.0,
                gpu_share: 0.1,
            },
            ..Default::default()
        };
        let price = GpuPriceChoice {
            usd_per_gpu_hour: 3.0,
            provider: "x".into(),
            plan: "on-demand".into(),
            source: "test".into(),
            date: "test".into(),
            confidence: "high".into(),
            warnings: vec![],
            billing_increment: None,
        };
        let fleet = FleetUse {
            gpus: 2,
            span_s: 5400.0,
            busy_gpu_s: 7200.0,
            completed_tokens: 3_000_000,
            eligible: true,
            utilization: Some(0.25),
        };
        let api = ApiSpend {
            usd: 4.0,
            input_tokens: 1_500_000,
            output_tokens: 500_000,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
        };
        let a = Api {
            id: "a".into(),
            provider: "x".into(),
            serves: "llama-3.1-8b".into(),
            serves_name: "x".into(),
            architecture: Some("llama-3.1-8b".into()),
            input: 1.0,
            cached_input: 1.0,
            output: 1.0,
            caching: None,
            reasoning_tokens_billed_as_output: false,
            date: "test".into(),
            confidence: "high".into(),
            source: "test".into(),
            latency: None,
            batch_fraction_off: Some(0.5),
            batch_note: "test".into(),
            batch_stacks_with_caching: true,
        };
        // The same traffic on an API whose batch rates do not stack with its caching discount
        // (Groq): input $2 and output $5 a million, $5.50 an hour uncached, $5 spent after cache
        // hits; its batch price is half the uncached $5.50 an hour, not half the $5.
        let b = Api {
            id: "b".into(),
            input: 2.0,
            output: 5.0,
            batch_stacks_with_caching: false,
            ..a.clone()
        };
        let b_spend = ApiSpend { usd: 5.0, ..api };
        let apis = [(a, api), (b, b_spend)];
        let r = spec.report(&price, fleet, &apis, 3600.0, "llama-3.1-8b", None);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        close(r.gpu_hours, 3.0);
        close(r.gpu_usd, 9.0);
        close(r.busy_gpu_usd, 6.0);
        close(r.idle_gpu_usd, 3.0);
        // ops: (10 x 150 + 500) / 730 h x 1.5 h
        close(r.ops_usd, 2000.0 * 1.5 / 730.0);
        // safety: (730 + 2 x 3 x 730 x 0.1 / 0.9) / 730 x 1.5
        close(r.safety_usd, (730.0 + 4380.0 / 9.0) * 1.5 / 730.0);
        close(r.total_usd, r.gpu_usd + r.ops_usd + r.safety_usd);
        close(r.per_million_tokens_usd, r.total_usd / 3.0);
        // Per month: 2 x 3 x 730 + 2000 + 730 + 4380 x 0.1 / 0.9
        close(r.per_month_usd, 4380.0 + 2000.0 + 730.0 + 4380.0 / 9.0);
        close(r.per_month_usd, r.total_usd * 730.0 / 1.5);
        close(r.busy_gpu_usd_per_month, 4380.0 * 2.0 / 3.0);
        // Capacity use: a quarter of the GPU bill buys capacity the traffic uses.
        close(r.unused_capacity_usd, 9.0 * 0.75);
        close(r.unused_capacity_usd_per_month, 4380.0 * 0.75);
        close(r.comparison_span_hours, 1.0);
        assert_eq!(r.utilization_basis, "capacity");
        // API: $4 per traffic hour -> $2920 a month, $2 per million tokens.
        close(r.api[0].per_month_usd, 2920.0);
        close(r.api[0].per_million_tokens_usd, 2.0);
        close(r.api[0].batch_per_month_usd.unwrap(), 1460.0);
        close(r.api[1].per_month_usd, 3650.0);
        close(r.api[1].batch_per_month_usd.unwrap(), 0.5 * 5.5 * 730.0);
        assert_eq!(r.cheapest, "a");
        assert!(r.api[0].same_model);
        assert_eq!(r.cheapest_same_model_api.as_deref(), Some("a"));
        assert_eq!(r.api[0].slo_verdict, "no slo");
    }
}
