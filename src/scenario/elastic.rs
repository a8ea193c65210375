//! Running an elastic fleet and reporting it: each pool's replicas built from its settings, the
//! simulation with autoscalers, spot interruptions and overflow, and then per pool what was
//! provisioned, served and billed, the overflow API's spend, and the cost report.
//!
//! Billing: a reserved pool is paid for its count over the whole span (and 730 hours a month)
//! whatever the load; on-demand and spot replicas from the decision that provisioned them to
//! their release (cold start included), each rounded up to its provider's billing increment
//! and minimum. Monthly figures of on-demand and spot pools come from whole days of simulated
//! traffic when at least one day was simulated (the first `floor(span / 24 h)` days, so a
//! day-shaped workload is not extrapolated from a partial day), else from the whole span.

use std::sync::Arc;

use super::pools::{PoolConfig, PoolSize};
use super::{ReplicaCapacity, RunConfig};
use crate::cost::{api_spend, monthly_usd, CostReport, MONTH_HOURS};
use crate::fleet::sim::{OverflowRun, PoolRun, ReplicaLife, SpotRun};
use crate::fleet::{SimOutput, Simulation};
use crate::metrics::{OverflowReport, PoolReport, PoolTimeline, Status, Summary};
use crate::perf::Roofline;
use crate::serving::Replica;
use crate::time::SimTime;

const DAY_S: f64 = 86_400.0;

fn roofline(run: &RunConfig, p: &PoolConfig) -> Roofline {
    super::run::replica_roofline(&run.model, &p.gpu, &p.replica, p.params)
}

/// Billed seconds of one replica provisioned for `dur_s`: rounded up to the increment, at
/// least the minimum.
fn billed_s(dur_s: f64, (increment, minimum): (f64, f64)) -> f64 {
    if dur_s <= 0.0 {
        return 0.0;
    }
    ((dur_s / increment).ceil() * increment).max(minimum)
}

impl RunConfig {
    /// The simulation of this elastic fleet.
    pub(super) fn elastic_simulation(&self) -> Simulation<'_> {
        let pools: Vec<PoolRun> = self
            .pools
            .iter()
            .map(|p| {
                let perf = Arc::new(roofline(self, p));
                let (replica, memory) = (p.replica.clone(), p.memory.clone());
                let (initial, autoscale) = match &p.size {
                    PoolSize::Fixed(n) => (*n, None),
                    PoolSize::Autoscale(a) => (a.min, Some(a.clone())),
                };
                PoolRun {
                    name: p.name.clone(),
                    make: Box::new(move |id| Replica::new(id, &replica, &memory, perf.clone())),
                    initial,
                    autoscale,
                    cold_start: SimTime::from_secs_f64(p.cold_start_s),
                    spot: p.spot.map(|(rate, notice)| SpotRun {
                        interruptions_per_hour: rate,
                        notice: SimTime::from_secs_f64(notice),
                    }),
                }
            })
            .collect();
        let overflow = self.overflow.as_ref().map(|o| {
            let l = o.api.latency.as_ref();
            let latency = match (
                l.and_then(|l| l.median_ttft_s),
                l.and_then(|l| l.median_output_tokens_per_s),
            ) {
                (Some(t), Some(r)) if r > 0.0 => Some((SimTime::from_secs_f64(t), 1.0 / r)),
                _ => None,
            };
            OverflowRun {
                queue_wait: o.spec.queue_wait_s.map(SimTime::from_secs_f64),
                in_flight_per_replica: o.spec.in_flight_per_replica,
                latency,
            }
        });
        Simulation::elastic(self.requests(), pools, overflow, self.horizon, self.seed)
    }

    /// Pool reports, the overflow report and the cost of an elastic run, into `summary`
    /// (computed as for a fixed fleet before). `capacity` is one replica's capacity with the
    /// run's main settings (pool 0's); pools with other settings have theirs found here.
    pub(super) fn report_elastic(
        &self,
        out: &SimOutput,
        summary: &mut Summary,
        capacity: Option<&ReplicaCapacity>,
    ) {
        let Some(el) = &out.elastic else { return };
        let span_s = summary.sim.simulated_s;
        let records = &out.recorder.records;
        let days = (span_s / DAY_S).floor();
        let window_s = if days >= 1.0 { days * DAY_S } else { span_s };
        let mut reports = Vec::new();
        let (mut provisioned_gpu_s, mut busy_gpu_s, mut capacity_req, mut peak_gpus) =
            (0.0, 0.0, 0.0, 0u64);
        for (i, p) in self.pools.iter().enumerate() {
            let tp = p.replica.tp as f64;
            let lives: Vec<&ReplicaLife> = el.lives.iter().filter(|l| l.pool == i as u32).collect();
            let secs = |t: SimTime| t.as_secs_f64();
            let prov_s: f64 = 0.0
                + lives
                    .iter()
                    .map(|l| secs(l.released_at) - secs(l.provisioned_at))
                    .sum::<f64>();
            let active_s: f64 = 0.0
                + lives
                    .iter()
                    .filter_map(|l| l.active_at.map(|a| secs(l.released_at) - secs(a)))
                    .sum::<f64>();
            let busy_s: f64 = 0.0
                + out
                    .replicas
                    .iter()
                    .filter(|t| t.pool == i as u32)
                    .map(|t| t.busy_ns as f64 / 1e9)
                    .sum::<f64>();
            let peak = peak_of(&lives);
            let reserved = p.pricing.starts_with("reserved");
            let count = match p.size {
                PoolSize::Fixed(n) => n,
                PoolSize::Autoscale(_) => 0,
            };
            let billed_in = |end_s: f64| -> f64 {
                if reserved {
                    return count as f64 * end_s;
                }
                0.0 + lives
                    .iter()
                    .map(|l| {
                        let a = secs(l.provisioned_at).min(end_s);
                        let b = secs(l.released_at).min(end_s);
                        billed_s(b - a, p.billing)
                    })
                    .sum::<f64>()
            };
            let billed = billed_in(span_s);
            let price = p.price.as_ref().map(|x| x.usd_per_gpu_hour);
            let usd = price.unwrap_or(0.0) * tp * billed / 3600.0;
            let per_month = if reserved {
                price.unwrap_or(0.0) * tp * count as f64 * MONTH_HOURS
            } else {
                price.unwrap_or(0.0) * tp * monthly_usd(billed_in(window_s), window_s / 3600.0)
                    / 3600.0
            };
            // Capacity: the given one for the main settings, else found for this pool.
            let cap = match capacity {
                Some(c) if p.gpu.id == self.gpu.id && p.replica == self.replica => {
                    Some(c.requests_per_s)
                }
                Some(_) => {
                    let mut one = self.clone();
                    one.gpu = p.gpu.clone();
                    one.replica = p.replica.clone();
                    one.params = p.params;
                    one.memory = p.memory.clone();
                    one.pools = Vec::new();
                    one.overflow = None;
                    Some(one.replica_capacity().requests_per_s)
                }
                None => None,
            };
            let served = records
                .iter()
                .filter(|r| r.status == Status::Completed && r.pool == i as u32)
                .count() as f64;
            let utilization = cap.map(|c| {
                if active_s * c > 0.0 {
                    (served / (active_s * c)).min(1.0)
                } else {
                    0.0
                }
            });
            capacity_req += cap.unwrap_or(0.0) * active_s;
            provisioned_gpu_s += prov_s * tp;
            busy_gpu_s += busy_s * tp;
            peak_gpus += peak as u64 * p.replica.tp as u64;
            reports.push(PoolReport {
                name: p.name.clone(),
                gpu: p.gpu.id.clone(),
                tp: p.replica.tp,
                pricing: p.pricing.clone(),
                sizing: match &p.size {
                    PoolSize::Fixed(n) => format!("fixed {n}"),
                    PoolSize::Autoscale(a) => format!(
                        "autoscale {}..{} on {} {}",
                        a.min,
                        a.max,
                        a.metric.name(),
                        a.target
                    ),
                },
                usd_per_gpu_hour: price,
                billing_increment_s: p.billing.0,
                billing_minimum_s: p.billing.1,
                cold_start_s: p.cold_start_s,
                cold_start_basis: if p.cold_start_given {
                    "given".into()
                } else {
                    "derived from the model's size".into()
                },
                peak_replicas: peak,
                cold_starts: lives.iter().filter(|l| l.cold_start).count() as u32,
                interruptions: lives.iter().filter(|l| l.interrupted).count() as u32,
                provisioned_gpu_hours: if reserved {
                    count as f64 * span_s
                } else {
                    prov_s
                } * tp
                    / 3600.0,
                active_gpu_hours: active_s * tp / 3600.0,
                busy_gpu_hours: busy_s * tp / 3600.0,
                billed_gpu_hours: billed * tp / 3600.0,
                utilization,
                usd,
                per_month_usd: per_month,
                unused_capacity_usd_per_month: per_month * (1.0 - utilization.unwrap_or(0.0)),
            });
        }
        // The fleet's GPUs: provisioned time, not a fixed count over the span.
        summary.gpu.count = peak_gpus;
        summary.gpu.provisioned_gpu_s = provisioned_gpu_s;
        summary.gpu.busy_gpu_s = busy_gpu_s;
        summary.gpu.busy_fraction = if provisioned_gpu_s > 0.0 {
            busy_gpu_s / provisioned_gpu_s
        } else {
            0.0
        };
        let spilled_reqs: Vec<crate::workload::Request> = self
            .requests()
            .iter()
            .zip(records)
            .filter(|(_, r)| r.status == Status::Spilled)
            .map(|(q, _)| q.clone())
            .collect();
        summary.overflow = self.overflow.as_ref().map(|o| {
            let spend = api_spend(&o.api, &spilled_reqs, self.horizon);
            OverflowReport {
                api: o.api.id.clone(),
                spilled_requests: el.spilled,
                spilled_share: el.spilled as f64 / summary.requests.arrived.max(1) as f64,
                usd: spend.usd,
                per_month_usd: monthly_usd(spend.usd, self.traffic.span_s / 3600.0),
                median_ttft_s: o.api.latency.as_ref().and_then(|l| l.median_ttft_s),
            }
        });
        // Utilization of an elastic fleet: requests it served over what its serving replicas
        // could have served.
        let served_fleet = records
            .iter()
            .filter(|r| r.status == Status::Completed)
            .count() as f64;
        let utilization = (capacity_req > 0.0).then(|| (served_fleet / capacity_req).min(1.0));
        if let Some(c) = summary.capacity.as_mut() {
            c.utilization = utilization.unwrap_or(c.utilization);
            c.fleet_requests_per_s = if span_s > 0.0 {
                capacity_req / span_s
            } else {
                0.0
            };
        }
        summary.cost = self.cost_elastic(summary, &reports, utilization);
        summary.pools = reports;
    }

    /// The cost report of an elastic fleet: the pools' bills (and the overflow API's) in place
    /// of a fixed fleet's.
    fn cost_elastic(
        &self,
        summary: &Summary,
        pools: &[PoolReport],
        utilization: Option<f64>,
    ) -> Option<CostReport> {
        let price = self.pools.iter().find_map(|p| p.price.as_ref())?;
        let span_s = summary.sim.simulated_s;
        let completed_tokens =
            summary.throughput.completed_input_tokens + summary.throughput.completed_output_tokens;
        let eligible = super::run::may_be_chosen(summary);
        // The API comparison and overheads as for any fleet; the GPU figures come from the pools.
        let mut c = self.cost_report(summary, price, 0, 0.0, utilization);
        let gpu_usd: f64 = 0.0 + pools.iter().map(|p| p.usd).sum::<f64>();
        let gpu_month: f64 = 0.0 + pools.iter().map(|p| p.per_month_usd).sum::<f64>();
        let unused_month: f64 = 0.0
            + pools
                .iter()
                .map(|p| p.unused_capacity_usd_per_month)
                .sum::<f64>();
        let (api_usd, api_month) = summary
            .overflow
            .as_ref()
            .map(|o| (o.usd, o.per_month_usd))
            .unwrap_or((0.0, 0.0));
        let hours = span_s / 3600.0;
        c.gpu_hours = summary.gpu.provisioned_gpu_s / 3600.0;
        c.busy_gpu_hours = summary.gpu.busy_gpu_s / 3600.0;
        c.idle_gpu_hours = c.gpu_hours - c.busy_gpu_hours;
        c.gpu_usd = gpu_usd;
        let busy = summary.gpu.busy_fraction;
        c.busy_gpu_usd = gpu_usd * busy;
        c.idle_gpu_usd = gpu_usd * (1.0 - busy);
        let used = if gpu_month > 0.0 {
            1.0 - unused_month / gpu_month
        } else {
            0.0
        };
        c.used_fraction = used;
        c.used_capacity_usd = gpu_usd * used;
        c.unused_capacity_usd = gpu_usd * (1.0 - used);
        let share = self.cost.safety.gpu_share;
        c.safety_usd_per_month = self.cost.safety.usd_per_month + gpu_month * share / (1.0 - share);
        c.safety_usd = c.safety_usd_per_month * hours / MONTH_HOURS;
        c.total_usd = gpu_usd + api_usd + c.ops_usd + c.safety_usd;
        c.per_million_tokens_usd = if completed_tokens > 0 {
            c.total_usd / (completed_tokens as f64 / 1e6)
        } else {
            0.0
        };
        c.per_month_usd = gpu_month + api_month + c.ops_usd_per_month + c.safety_usd_per_month;
        c.used_capacity_usd_per_month = gpu_month - unused_month;
        c.unused_capacity_usd_per_month = unused_month;
        c.busy_gpu_usd_per_month = gpu_month * busy;
        c.idle_gpu_usd_per_month = gpu_month * (1.0 - busy);
        let (cheapest, same) =
            crate::cost::cheapest_of(eligible.then_some(c.per_month_usd), &c.api);
        c.cheapest = cheapest;
        c.cheapest_same_model_api = same;
        Some(c)
    }
}

impl RunConfig {
    /// The elastic run's timeline in `bins` bins over its simulated span (none for a fixed
    /// fleet).
    pub fn pool_timeline(&self, out: &SimOutput, bins: usize) -> Option<PoolTimeline> {
        let el = out.elastic.as_ref()?;
        let span = out.end.as_secs_f64().max(1e-9);
        let bins = bins.clamp(1, 2048);
        let bin_s = span / bins as f64;
        let at = |t: f64| ((t / bin_s) as usize).min(bins - 1);
        let mut tl = PoolTimeline {
            bin_s,
            pools: self.pools.iter().map(|p| p.name.clone()).collect(),
            offered_per_s: vec![0.0; bins],
            spilled_per_s: vec![0.0; bins],
            provisioned: vec![vec![0.0; bins]; self.pools.len()],
            active: vec![vec![0.0; bins]; self.pools.len()],
            cold_starts: vec![vec![0; bins]; self.pools.len()],
        };
        for r in &out.recorder.records {
            if r.status == Status::Pending {
                continue;
            }
            let b = at(r.arrival.as_secs_f64());
            tl.offered_per_s[b] += 1.0 / bin_s;
            if r.status == Status::Spilled {
                tl.spilled_per_s[b] += 1.0 / bin_s;
            }
        }
        // Each life adds the share of every bin it covers.
        let add = |series: &mut [f64], from: f64, to: f64| {
            if to <= from {
                return;
            }
            for (b, v) in series
                .iter_mut()
                .enumerate()
                .take(at(to) + 1)
                .skip(at(from))
            {
                let lo = from.max(b as f64 * bin_s);
                let hi = to.min((b + 1) as f64 * bin_s);
                if hi > lo {
                    *v += (hi - lo) / bin_s;
                }
            }
        };
        for l in &el.lives {
            let p = l.pool as usize;
            let (a, z) = (l.provisioned_at.as_secs_f64(), l.released_at.as_secs_f64());
            add(&mut tl.provisioned[p], a, z);
            if let Some(on) = l.active_at {
                add(&mut tl.active[p], on.as_secs_f64(), z);
            }
            if l.cold_start {
                tl.cold_starts[p][at(a)] += 1;
            }
        }
        Some(tl)
    }
}

/// Most replicas provisioned at once.
fn peak_of(lives: &[&ReplicaLife]) -> u32 {
    let mut ev: Vec<(SimTime, i32)> = Vec::with_capacity(lives.len() * 2);
    for l in lives {
        if l.released_at > l.provisioned_at {
            ev.push((l.provisioned_at, 1));
            ev.push((l.released_at, -1));
        }
    }
    // Releases before provisions at the same instant.
    ev.sort_by_key(|&(t, d)| (t, d));
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in ev {
        now += d;
        peak = peak.max(now);
    }
    peak.max(0) as u32
}
