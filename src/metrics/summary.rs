//! The summary of a run: one `Serialize` type whose JSON is summary.json. It holds no wall-clock
//! figure, so two runs of the same scenario compare byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::recorder::{RequestRecord, Status};
use super::slo::SloReport;
use super::{Recorder, ReplicaTotals};
use crate::cost::CostReport;
use crate::stats::{percentile_sorted, LogHistogram};
use crate::time::SimTime;
use crate::workload::Request;

/// Distribution summary of a latency, seconds. With no samples (nothing completed) it is
/// written as null, not as zeros that would read as an ideal fleet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dist {
    /// Samples summarized (0: the statistics below are meaningless and serialize as null).
    pub samples: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Dist {
    /// From unsorted samples (sorted in place).
    pub fn from_samples(xs: &mut [f64]) -> Dist {
        if xs.is_empty() {
            return Dist::default();
        }
        // Values equal under total_cmp are the same bits, so an unstable sort gives the same
        // slice as a stable one, faster.
        xs.sort_unstable_by(f64::total_cmp);
        Dist {
            samples: xs.len() as u64,
            mean: xs.iter().sum::<f64>() / xs.len() as f64,
            p50: percentile_sorted(xs, 50.0),
            p90: percentile_sorted(xs, 90.0),
            p95: percentile_sorted(xs, 95.0),
            p99: percentile_sorted(xs, 99.0),
            max: xs[xs.len() - 1],
        }
    }

    /// From a histogram of nanosecond values, in seconds.
    pub fn from_histogram(h: &LogHistogram) -> Dist {
        if h.count() == 0 {
            return Dist::default();
        }
        Dist {
            samples: h.count(),
            mean: h.mean_ns() / 1e9,
            p50: h.percentile_ns(50.0) / 1e9,
            p90: h.percentile_ns(90.0) / 1e9,
            p95: h.percentile_ns(95.0) / 1e9,
            p99: h.percentile_ns(99.0) / 1e9,
            max: h.max_ns() as f64 / 1e9,
        }
    }
}

impl Serialize for Dist {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        if self.samples == 0 {
            return ser.serialize_none();
        }
        let mut st = ser.serialize_struct("Dist", 7)?;
        st.serialize_field("samples", &self.samples)?;
        st.serialize_field("mean", &self.mean)?;
        st.serialize_field("p50", &self.p50)?;
        st.serialize_field("p90", &self.p90)?;
        st.serialize_field("p95", &self.p95)?;
        st.serialize_field("p99", &self.p99)?;
        st.serialize_field("max", &self.max)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dist, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            samples: u64,
            mean: f64,
            p50: f64,
            p90: f64,
            p95: f64,
            p99: f64,
            max: f64,
        }
        Ok(match Option::<Fields>::deserialize(d)? {
            None => Dist::default(),
            Some(f) => Dist {
                samples: f.samples,
                mean: f.mean,
                p50: f.p50,
                p90: f.p90,
                p95: f.p95,
                p99: f.p99,
                max: f.max,
            },
        })
    }
}

/// A float that JSON writes as null when it is not finite (an infinite utilization) reads back
/// as infinity.
fn nullable_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// Request accounting: arrived = completed + rejected + unfinished (+ spilled to an API).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    /// Requests that arrived within the simulated span.
    pub arrived: u64,
    /// Requests that produced all their output tokens.
    pub completed: u64,
    /// Requests refused at arrival because they could never be served.
    pub rejected: u64,
    /// Requests still waiting or running when the simulation stopped (at its horizon).
    pub unfinished: u64,
    /// Rejections by reason.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Requests sent to the overflow API (counted in `arrived`; their latency is the API's
    /// published typical latency).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spilled: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Latency distributions over completed requests, seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Time to first token.
    pub ttft_s: Dist,
    /// Time per output token after the first (requests with more than one output token).
    pub tpot_s: Dist,
    /// Inter-token latency over all token gaps.
    pub itl_s: Dist,
    /// End-to-end latency.
    pub e2e_s: Dist,
    /// Time from arrival until first scheduled.
    pub queue_s: Dist,
}

/// Throughput over the simulated span.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Completed requests per second.
    pub requests_per_s: f64,
    /// Prompt tokens of completed requests per second.
    pub input_tokens_per_s: f64,
    /// Output tokens of completed requests per second.
    pub output_tokens_per_s: f64,
    /// Prompt tokens of completed requests.
    pub completed_input_tokens: u64,
    /// Output tokens of completed requests.
    pub completed_output_tokens: u64,
}

/// The fleet's capacity for this workload and how much of it the traffic uses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// `slo`: the highest steady rate meeting the SLO; `saturation`: no SLO, the most a replica
    /// completes per second when never starved; `saturation (slo unreachable)`: no rate down to
    /// 1/256 of saturation meets the SLO, so capacity is the saturation throughput.
    pub basis: String,
    /// Requests per second of this workload's mix one replica serves (within the SLO, if any).
    pub replica_requests_per_s: f64,
    /// The same in output tokens per second.
    pub replica_output_tokens_per_s: f64,
    /// One replica's saturation throughput, requests per second, whatever the latency.
    pub replica_saturation_requests_per_s: f64,
    /// The fleet's capacity, requests per second: measured on the whole fleet where that can
    /// differ from replicas x `replica_requests_per_s` (`fleet_measured`), else that product.
    pub fleet_requests_per_s: f64,
    /// How the whole fleet's capacity was measured (absent: replicas x one replica's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_measured: Option<FleetCapacity>,
    /// Arrived requests over the arrival window, per second (rejected ones, which no replica
    /// accepts, left out).
    pub offered_requests_per_s: f64,
    /// Offered load as a share of the fleet's capacity (time-averaged; above 1: more than it
    /// serves within the SLO; null: load with no capacity at all).
    #[serde(deserialize_with = "nullable_f64")]
    pub utilization: f64,
    /// Requests simulated to find the capacity.
    pub sample_requests: u64,
    /// Precision of `replica_requests_per_s` as a fraction of it (bisection step).
    pub relative_precision: f64,
    /// The lowest and highest one replica's capacity came to over `draws` independent samples
    /// and arrival draws, requests per second (`replica_requests_per_s` is the median draw's):
    /// how far sampling alone moves the capacity, and so the utilization.
    #[serde(default)]
    pub replica_requests_per_s_range: [f64; 2],
    /// Independent draws the capacity is the median of.
    #[serde(default)]
    pub draws: u32,
    /// The saturation (and, without an SLO, the capacity) is only a lower bound: one replica
    /// runs the sample in one wave even repeated to 4,000 requests, so nothing keeps it full.
    /// Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub saturation_lower_bound: bool,
}

/// A fleet's capacity for a workload, measured on the whole fleet behind its router: the highest
/// steady Poisson rate of the workload's mix at which the fleet meets the SLO and keeps up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetCapacity {
    /// The fleet size it was measured for.
    pub replicas: u32,
    /// Requests per second (the median draw's).
    pub requests_per_s: f64,
    /// The lowest and highest of the draws', requests per second.
    pub requests_per_s_range: [f64; 2],
    /// The bisection's step in the median draw as a fraction of `requests_per_s`.
    pub relative_precision: f64,
    /// Requests each draw simulates.
    pub sample_requests: u64,
    /// Independent draws (sample and arrival gaps).
    pub draws: u32,
    /// Present when the fleet was measured on this many of its replicas (behind the same
    /// router) and `requests_per_s` and its range scaled to `replicas`: pooling grows with the
    /// fleet, so the capacity is a lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_on_replicas: Option<u32>,
}

impl FleetCapacity {
    /// This capacity, measured on `self.replicas` replicas (scaled or not), for a fleet of
    /// `replicas` behind the same router: scaled by `replicas / measured on`, and marked
    /// measured on fewer when that is fewer.
    pub fn scaled_to(&self, replicas: u32) -> FleetCapacity {
        let measured = self.measured_on_replicas.unwrap_or(self.replicas);
        if replicas == self.replicas {
            return self.clone();
        }
        let k = replicas as f64 / self.replicas as f64;
        FleetCapacity {
            replicas,
            requests_per_s: self.requests_per_s * k,
            requests_per_s_range: self.requests_per_s_range.map(|x| x * k),
            measured_on_replicas: (measured != replicas).then_some(measured),
            ..self.clone()
        }
    }
}

/// Whether the fleet keeps up with its arrivals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    /// The fleet does not keep up: `served_fraction` is under 0.9, or the offered rate exceeds
    /// the fleet's saturation throughput (replicas x one replica's) by more than 5%. An overloaded fleet never meets
    /// an SLO and is never the cheapest option.
    pub overloaded: bool,
    /// Served rate over offered rate: requests completed over the last three quarters of the
    /// arrival window shifted by the median latency of the first quarter's requests (warm-up),
    /// over requests that arrived in those three quarters.
    pub served_fraction: f64,
    /// Arrived requests over the arrival window, per second (rejected ones left out).
    pub offered_requests_per_s: f64,
    /// Completed requests over the simulated span, per second.
    pub served_requests_per_s: f64,
    /// Why it is overloaded (null when it is not).
    pub reason: Option<String>,
}

/// GPU use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    /// GPUs provisioned (replicas x tensor parallelism).
    pub count: u64,
    /// Fraction of provisioned GPU time with a step in flight ("active" time: a replica decoding
    /// one sequence counts as active; see `capacity.utilization` for how much of the GPUs'
    /// capacity the traffic uses).
    pub busy_fraction: f64,
    /// GPU-seconds with a step in flight.
    pub busy_gpu_s: f64,
    /// GPU-seconds provisioned.
    pub provisioned_gpu_s: f64,
}

/// KV cache use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Kv {
    /// KV blocks per replica.
    pub capacity_blocks: u64,
    /// Tokens per block.
    pub block_size: u32,
    /// KV capacity per replica, tokens.
    pub capacity_tokens: u64,
    /// Highest fraction of blocks in use on any replica.
    pub peak_used_fraction: f64,
    /// Most blocks one sequence holds for its sliding-window (or chunked) layers besides its
    /// own `capacity_tokens` share (absent without such layers).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub window_blocks_per_sequence: u64,
}

/// Prefix-cache effect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrefixCache {
    /// Whether prefix caching was on.
    pub enabled: bool,
    /// hit_tokens / prompt_tokens.
    pub hit_rate: f64,
    /// Prompt tokens found in the cache when requests were first scheduled.
    pub hit_tokens: u64,
    /// Prompt tokens of requests first scheduled.
    pub prompt_tokens: u64,
    /// Cached blocks evicted to make room for new ones.
    pub evicted_blocks: u64,
}

/// Simulation bookkeeping.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sim {
    /// Events processed.
    pub events: u64,
    /// Simulated span from time 0, seconds.
    pub simulated_s: f64,
    /// Forward steps executed over all replicas.
    pub steps: u64,
    /// Time-average number of requests in the system (Little's L).
    pub mean_requests_in_system: f64,
    /// Tokens computed in prefill chunks (prompt tokens not found in the cache, and tokens
    /// recomputed after preemptions).
    pub prefill_tokens_computed: u64,
    /// Tokens computed by decoding.
    pub decode_tokens_computed: u64,
}

fn one() -> u32 {
    1
}

/// One decode step per scheduler call (0 only in a default, never-resolved setup).
fn single_step(n: &u32) -> bool {
    *n <= 1
}

/// What was simulated: the resolved configuration, so a summary explains itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// Model id.
    pub model: String,
    /// GPU id.
    pub gpu: String,
    /// Weight precision.
    pub precision: String,
    /// Replicas.
    pub replicas: u32,
    /// Router.
    pub router: String,
    /// Tensor-parallel GPUs per replica.
    pub tp: u32,
    /// Most sequences per batch.
    pub max_num_seqs: u32,
    /// Token budget per step.
    pub max_num_batched_tokens: u32,
    /// Fraction of GPU memory used.
    pub gpu_memory_utilization: f64,
    /// KV cache as a fraction of the memory weights and activations leave free, when the KV
    /// cache was sized by TensorRT-LLM's rule (`replica.kv_cache_free_memory_fraction`; then
    /// `gpu_memory_utilization` is unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_free_memory_fraction: Option<f64>,
    /// Weights and KV cache as a fraction of GPU memory, when the KV cache was sized by
    /// SGLang's rule (`replica.mem_fraction_static`; then `gpu_memory_utilization` is unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_fraction_static: Option<f64>,
    /// KV cache element type (`auto`: the model's 16-bit type; `fp8`).
    #[serde(default)]
    pub kv_cache_dtype: crate::serving::KvCacheDtype,
    /// With an FP8 KV cache, whether attention ran on FP8 tensor cores (else at the 16-bit
    /// rate; the engine profile's default unless `replica.fp8_attention` is set).
    #[serde(default)]
    pub fp8_attention: bool,
    /// Activations of MXFP4 expert matrix multiplies (`bf16` or `fp8`; only models whose
    /// checkpoint has MXFP4 experts, such as gpt-oss at `fp4`, use it).
    #[serde(default)]
    pub mxfp4_activation: crate::perf::Mxfp4Activation,
    /// Automatic prefix caching.
    #[serde(default)]
    pub prefix_caching: bool,
    /// Decode steps per scheduler call (vLLM 0.6's `--num-scheduler-steps`; shown when above 1).
    #[serde(default = "one", skip_serializing_if = "single_step")]
    pub num_scheduler_steps: u32,
    /// Weights per GPU, GiB.
    pub weights_gib_per_gpu: f64,
    /// KV cache per GPU, GiB.
    pub kv_gib_per_gpu: f64,
    /// Longest prompt + output accepted, tokens.
    pub max_model_len: u32,
    /// What limits max_model_len.
    pub max_model_len_limited_by: String,
    /// Admission policy (`vllm` or `guaranteed-no-evict`).
    pub scheduler_policy: String,
    /// Engine profile (`replica.engine`).
    #[serde(default)]
    pub engine: String,
    /// The step-time parameters used (the engine profile's fit unless overridden).
    pub step_time: crate::perf::RooflineParams,
    /// Master seed.
    pub seed: u64,
}

/// Everything summary.json reports about a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The configuration simulated.
    pub setup: Setup,
    /// Request accounting.
    pub requests: Requests,
    /// Latency distributions.
    pub latency: Latency,
    /// Throughput.
    pub throughput: Throughput,
    /// Capacity for this workload and utilization (null when not computed: `validate` and
    /// `calibrate` runs).
    pub capacity: Option<Capacity>,
    /// Whether the fleet keeps up with its arrivals.
    pub stability: Stability,
    /// GPU use.
    pub gpu: Gpu,
    /// KV cache use.
    pub kv: Kv,
    /// Preemptions (requests whose KV was dropped and recomputed).
    pub preemptions: u64,
    /// Prefix caching.
    pub prefix_cache: PrefixCache,
    /// SLO attainment (null when the scenario sets no SLO).
    pub slo: Option<SloReport>,
    /// Cost (null when no GPU price is known and the scenario sets no cost).
    pub cost: Option<CostReport>,
    /// Simulation bookkeeping.
    pub sim: Sim,
    /// Each pool of an elastic fleet (absent for a fixed fleet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<super::PoolReport>,
    /// What went to the overflow API (absent without `fleet.overflow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<super::OverflowReport>,
    /// The answer again with step times at the ends of the engine profile's error band (absent
    /// when the scenario's `perf` sets the step times, or the run was not asked for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
}

/// The run's figures with every step time scaled to the ends of the engine profile's
/// cross-validated error band (README, "How much to trust an answer").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Engine profile whose error it is.
    pub engine: String,
    /// The profile whose step times and band `engine` borrows, having no figures of its own
    /// (its real error is at least this wide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrowed_from: Option<String>,
    /// Held-out figures behind the band.
    pub figures: u32,
    /// The step-time factors (10th and 90th percentile of held-out figures).
    pub step_time_factors: [f64; 2],
    /// At the low factor (an engine faster than predicted).
    pub low: BandPoint,
    /// At the high factor.
    pub high: BandPoint,
    /// Where the replica goes beyond the figures the step times were fitted to (a GPU family,
    /// precision, kind of model or TP none of them ran), so the band may understate the error
    /// (absent: within them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extrapolated: Option<String>,
}

/// The figures a band reports at one step-time factor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BandPoint {
    /// Median time to first token, seconds.
    pub ttft_p50_s: f64,
    /// 99th percentile time to first token, seconds.
    pub ttft_p99_s: f64,
    /// Median time per output token, seconds.
    pub tpot_p50_s: f64,
    /// 99th percentile time per output token, seconds.
    pub tpot_p99_s: f64,
    /// 99th percentile end-to-end latency, seconds.
    pub e2e_p99_s: f64,
    /// Output tokens per second.
    pub output_tokens_per_s: f64,
    /// SLO attainment (absent without an SLO).
    pub slo_attainment: Option<f64>,
}

impl BandPoint {
    /// The band's figures of a summary.
    pub fn of(s: &Summary) -> BandPoint {
        BandPoint {
            ttft_p50_s: s.latency.ttft_s.p50,
            ttft_p99_s: s.latency.ttft_s.p99,
            tpot_p50_s: s.latency.tpot_s.p50,
            tpot_p99_s: s.latency.tpot_s.p99,
            e2e_p99_s: s.latency.e2e_s.p99,
            output_tokens_per_s: s.throughput.output_tokens_per_s,
            slo_attainment: s.slo.as_ref().map(|x| x.attainment),
        }
    }
}

/// Latency samples of a run: kept whole (exact percentiles), or, in a streamed run, in a
/// histogram of 0.1%-wide buckets (percentiles within 0.05%; count, mean and max exact up to
/// summation order).
#[derive(Clone, Debug)]
pub enum Samples {
    /// Every sample.
    Exact(Vec<f64>),
    /// A histogram of the samples in nanoseconds, their sum and maximum (seconds).
    Streamed(LogHistogram, f64, f64),
}

impl Samples {
    fn push(&mut self, x: f64) {
        match self {
            Samples::Exact(v) => v.push(x),
            Samples::Streamed(h, sum, max) => {
                h.add((x * 1e9).round().max(0.0) as u64, 1);
                *sum += x;
                *max = max.max(x);
            }
        }
    }

    fn dist(self) -> Dist {
        match self {
            Samples::Exact(mut v) => Dist::from_samples(&mut v),
            Samples::Streamed(h, sum, max) => {
                if h.count() == 0 {
                    return Dist::default();
                }
                Dist {
                    samples: h.count(),
                    mean: sum / h.count() as f64,
                    p50: h.percentile_ns(50.0) / 1e9,
                    p90: h.percentile_ns(90.0) / 1e9,
                    p95: h.percentile_ns(95.0) / 1e9,
                    p99: h.percentile_ns(99.0) / 1e9,
                    max,
                }
            }
        }
    }
}

/// The per-request part of a summary, folded one request at a time in id order.
#[derive(Clone, Debug)]
pub struct RequestFold {
    requests: Requests,
    ttft: Samples,
    tpot: Samples,
    e2e: Samples,
    queue: Samples,
    in_tok: u64,
    out_tok: u64,
}

impl RequestFold {
    fn with(samples: Samples) -> RequestFold {
        RequestFold {
            requests: Requests::default(),
            ttft: samples.clone(),
            tpot: samples.clone(),
            e2e: samples.clone(),
            queue: samples,
            in_tok: 0,
            out_tok: 0,
        }
    }

    /// Keeping every latency sample (exact percentiles).
    pub fn exact() -> RequestFold {
        RequestFold::with(Samples::Exact(Vec::new()))
    }

    /// Keeping latency samples in histograms: memory independent of the request count.
    pub fn streamed() -> RequestFold {
        RequestFold::with(Samples::Streamed(LogHistogram::new(), 0.0, 0.0))
    }

    /// Adds request `req` with its record `r`.
    pub fn add(&mut self, req: &Request, r: &RequestRecord) {
        let s = self;
        match r.status {
            Status::Pending => return,
            Status::InFlight => s.requests.unfinished += 1,
            Status::Rejected(why) => {
                s.requests.rejected += 1;
                *s.requests
                    .rejected_by_reason
                    .entry(why.as_str().to_string())
                    .or_default() += 1;
            }
            Status::Completed | Status::Spilled => {
                let spilled = r.status == Status::Spilled;
                if spilled {
                    s.requests.spilled += 1;
                } else {
                    s.requests.completed += 1;
                }
                let (Some(first), Some(fin)) = (r.first_token, r.finish) else {
                    s.requests.arrived += 1;
                    return;
                };
                let t = first.saturating_sub(r.arrival).as_secs_f64();
                let e = fin.saturating_sub(r.arrival).as_secs_f64();
                s.ttft.push(t);
                s.e2e.push(e);
                if req.output_tokens > 1 {
                    s.tpot.push((e - t) / (req.output_tokens - 1) as f64);
                }
                if spilled {
                    s.requests.arrived += 1;
                    return;
                }
                if let Some(sch) = r.scheduled {
                    s.queue.push(sch.saturating_sub(r.arrival).as_secs_f64());
                }
                s.in_tok += req.input_tokens as u64;
                s.out_tok += req.output_tokens as u64;
            }
        }
        s.requests.arrived += 1;
    }
}

impl Summary {
    /// Reduces a finished simulation: its recorder, each replica's totals and the end of the
    /// simulated span. `gpus_per_replica` is the tensor-parallel degree.
    pub fn new(
        rec: &Recorder,
        replicas: &[ReplicaTotals],
        end: SimTime,
        requests: &[Request],
        gpus_per_replica: u32,
    ) -> Summary {
        let mut fold = RequestFold::exact();
        for (r, req) in rec.records.iter().zip(requests) {
            fold.add(req, r);
        }
        Summary::from_fold(fold, rec, replicas, end, gpus_per_replica)
    }

    /// As [`Summary::new`], from the requests already folded (a streamed run folds each as it
    /// finishes).
    pub fn from_fold(
        fold: RequestFold,
        rec: &Recorder,
        replicas: &[ReplicaTotals],
        end: SimTime,
        gpus_per_replica: u32,
    ) -> Summary {
        let mut s = Summary {
            requests: fold.requests,
            ..Summary::default()
        };
        let (in_tok, out_tok) = (fold.in_tok, fold.out_tok);
        s.latency = Latency {
            ttft_s: fold.ttft.dist(),
            tpot_s: fold.tpot.dist(),
            itl_s: Dist::from_histogram(&rec.itl),
            e2e_s: fold.e2e.dist(),
            queue_s: fold.queue.dist(),
        };
        let span = end.as_secs_f64();
        let per_s = |x: f64| if span > 0.0 { x / span } else { 0.0 };
        s.throughput = Throughput {
            requests_per_s: per_s(s.requests.completed as f64),
            input_tokens_per_s: per_s(in_tok as f64),
            output_tokens_per_s: per_s(out_tok as f64),
            completed_input_tokens: in_tok,
            completed_output_tokens: out_tok,
        };
        let busy_s: f64 = replicas.iter().map(|r| r.busy_ns as f64 / 1e9).sum();
        let count = replicas.len() as u64 * gpus_per_replica as u64;
        let provisioned = count as f64 * span;
        s.gpu = Gpu {
            count,
            busy_fraction: per_s(busy_s / replicas.len().max(1) as f64),
            busy_gpu_s: busy_s * gpus_per_replica as f64,
            provisioned_gpu_s: provisioned,
        };
        let cap = replicas
            .iter()
            .map(|r| r.kv_capacity_blocks)
            .max()
            .unwrap_or(0);
        s.kv = Kv {
            capacity_blocks: cap,
            block_size: replicas.first().map_or(0, |r| r.block_size),
            capacity_tokens: cap * replicas.first().map_or(0, |r| r.block_size as u64),
            peak_used_fraction: replicas
                .iter()
                .map(|r| r.kv_peak_used_blocks as f64 / r.kv_capacity_blocks.max(1) as f64)
                .fold(0.0, f64::max),
            window_blocks_per_sequence: replicas
                .iter()
                .map(|r| r.kv_window_blocks_per_seq)
                .max()
                .unwrap_or(0),
        };
        s.preemptions = replicas.iter().map(|r| r.preemptions).sum();
        let hit: u64 = replicas.iter().map(|r| r.prefix_hit_tokens).sum();
        let prompt: u64 = replicas.iter().map(|r| r.prompt_tokens).sum();
        s.prefix_cache = PrefixCache {
            enabled: replicas.first().is_some_and(|r| r.prefix_caching),
            hit_rate: if prompt > 0 {
                hit as f64 / prompt as f64
            } else {
                0.0
            },
            hit_tokens: hit,
            prompt_tokens: prompt,
            evicted_blocks: replicas.iter().map(|r| r.kv_evicted_blocks).sum(),
        };
        s.sim = Sim {
            events: rec.events,
            simulated_s: span,
            steps: replicas.iter().map(|r| r.steps).sum(),
            mean_requests_in_system: rec.mean_in_system(end),
            prefill_tokens_computed: replicas.iter().map(|r| r.prefill_tokens).sum(),
            decode_tokens_computed: replicas.iter().map(|r| r.decode_tokens).sum(),
        };
        s
    }
}
