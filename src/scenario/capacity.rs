//! A replica's capacity for a workload, found by simulation.
//!
//! Capacity is the highest steady rate of the workload's own request mix that one replica serves
//! while meeting the SLO; without an SLO it is the replica's saturation throughput (the most it
//! completes per second when it is never starved). It depends on the request mix, the replica
//! settings, the step-time model and the SLO, not on the fleet size or the traffic's own timing,
//! so a sweep computes it once per group and reuses it.
//!
//! How it is found:
//! 1. A sample of the workload's requests (all of them up to [`SAMPLE_REQUESTS`]; beyond that an
//!    evenly spaced sample, or the first requests in arrival order when requests share prefixes
//!    or follow one another, so that sharing is kept).
//! 2. Saturation: every sampled request arrives at time 0 on one replica; the throughput is the
//!    completions between the 10th and the 90th percentile completion time over that interval,
//!    which leaves out the ramp-up and the drain.
//! 3. With an SLO: the same requests arrive as a steady Poisson stream (one seeded draw of
//!    exponential gaps, rescaled for each rate: common random numbers), and the rate is bisected
//!    [`BISECTION_STEPS`] times between 0 and the saturation throughput; a rate passes when the
//!    SLO is met and the replica keeps up (served fraction at least [`KEEPS_UP`]). The draw's
//!    answer is the highest passing rate, so its precision is saturation / 2^steps.
//!    Where the fleet's router splits shared prefixes or sessions among its replicas
//!    (prefix- or session-affinity, more than one replica; [`locality_replicas`]), one replica
//!    of that fleet serves only its share of them, and its KV cache holds only theirs: a lone
//!    replica given them all thrashes where each replica of the fleet hits. Each sample is then
//!    `replicas` x [`SAMPLE_REQUESTS`] consecutive requests, at most
//!    [`FLEET_SHARED_SAMPLE_REQUESTS`] ([`sample_positions`]), served by the whole fleet at
//!    their own arrival times, and one replica's capacity is measured on the requests the
//!    router sent to the replica with the median count ([`RunConfig::routed_share`]): capacity
//!    then depends on the fleet size and the router too.
//! 4. Steps 1-3 are repeated for [`CAPACITY_DRAWS`] independent draws: each its own Poisson
//!    gaps and, where the workload has more requests than a sample and they are independent, its
//!    own evenly spaced sample (offset by a fraction of the spacing). A tail-latency SLO on a few
//!    thousand requests is decided by a few dozen of them, so one draw's answer moves by several
//!    percent with the draw; the capacity is the median draw's, and the lowest and highest
//!    draws' are reported beside it (`requests_per_s_range`), so that a figure derived from it
//!    (utilization, unused capacity) says how far sampling alone moves it.
//! 5. The whole fleet's capacity ([`RunConfig::fleet_capacity`]): replicas behind a
//!    load-balancing router carry more within a tail-latency SLO than each alone (pooled
//!    servers), and behind an affinity router what they share decides it; so with an SLO, where
//!    one replica's capacity is below [`POOLING_MEASURED`] of its saturation or the router is an
//!    affinity one with prefixes or sessions to split, a search like step 3's is run on the
//!    whole fleet behind its router ([`Bounds::search`], [`fleet_samples`]: shared requests
//!    made up to [`FLEET_SHARED_PER_REPLICA`] a replica from [`fresh_copies`]; a
//!    load-balanced fleet of more than [`FLEET_MEASURED_REPLICAS`] on that many, scaled), and
//!    utilization rests on it.

use std::sync::Arc;

use rand_distr::{Distribution, Exp1};
use serde::Serialize;

use super::{RunConfig, Traffic};
use crate::metrics::{FleetCapacity, RequestRecord, Status};
use crate::rng::{stream_rng_at, Stream};
use crate::time::SimTime;
use crate::workload::{Request, Workload};

/// The basis of a capacity met within the SLO.
const SLO: &str = "slo";
/// The basis of a capacity without an SLO: saturation throughput.
const SATURATION: &str = "saturation";
/// The basis of a capacity whose SLO no rate meets: saturation throughput.
const SLO_UNREACHABLE: &str = "saturation (slo unreachable)";

/// Most requests simulated per capacity run.
pub const SAMPLE_REQUESTS: usize = 4000;
/// Bisection steps for the SLO-bound rate (precision 1/256 of the saturation rate).
pub const BISECTION_STEPS: u32 = 8;
/// A fleet keeps up when it serves at least this share of the offered rate.
pub const KEEPS_UP: f64 = 0.9;
/// Saturation's middle completions come faster than this many times the completions over the
/// whole run only when the sample finishes in one wave (see [`RunConfig::replica_capacity`]'s
/// saturation): sustained, the middle 80% come at most a few tens of percent faster (ramp-up
/// and drain left out).
const ONE_WAVE: f64 = 2.0;
/// Independent draws (sample and arrival gaps) a capacity is the median of.
pub const CAPACITY_DRAWS: usize = 5;
/// Behind a router that splits no prefixes or sessions, a fleet of more replicas is measured on
/// this many of them and its capacity scaled to its size ([`RunConfig::fleet_capacity`]):
/// pooling grows with the fleet, so that is a lower bound. Each replica keeps
/// [`SAMPLE_REQUESTS`] requests a draw, so the arrival window is as long as one replica's
/// (a larger fleet given the same requests would see a window shorter than its latencies,
/// where neither keeping up nor a tail percentile can be judged).
pub const FLEET_MEASURED_REPLICAS: u32 = 8;
/// Most requests a draw of a whole fleet's capacity simulates behind a router that splits no
/// prefixes or sessions ([`FLEET_MEASURED_REPLICAS`] replicas' worth).
pub const FLEET_SAMPLE_REQUESTS: usize = FLEET_MEASURED_REPLICAS as usize * SAMPLE_REQUESTS;
/// Fewest requests a replica a draw of a whole fleet's capacity simulates where the requests
/// share prefixes or sessions, so that the arrival window stays many times a request's latency:
/// a sample with fewer is its requests repeated, each copy with prefixes and sessions of its
/// own ([`fresh_copies`]). Measured on `examples/prefix-heavy.json`'s trace (3,993 requests)
/// behind prefix-affinity, the trace alone against eight fresh copies of it: fleet capacities
/// 3% apart at 499 requests a replica (8 replicas), 4% at 250, 11% at 125 and 16% at 62
/// (the draws spread 2-4%).
pub const FLEET_SHARED_PER_REPLICA: usize = 500;
/// Most requests a capacity draw simulates where the requests share prefixes or sessions
/// ([`FLEET_SHARED_PER_REPLICA`] for 128 replicas), whether a block of the workload behind an
/// affinity router ([`sample_positions`]: 16 replicas' [`SAMPLE_REQUESTS`]) or one made up from
/// fresh copies: an affinity fleet of more than 128 replicas is measured on fewer than
/// [`FLEET_SHARED_PER_REPLICA`] a replica, and says so. It bounds the memory and time a
/// capacity takes whatever the fleet size.
pub const FLEET_SHARED_SAMPLE_REQUESTS: usize = 128 * FLEET_SHARED_PER_REPLICA;
/// Behind a router that splits no prefixes or sessions, a fleet's capacity is measured only
/// where one replica's SLO-bound capacity is below this share of its saturation throughput
/// (above it, pooling can add at most 1 / this - 1, about 2%).
pub const POOLING_MEASURED: f64 = 0.98;
/// A whole fleet's capacity is bisected until the step is at most this fraction of the lowest
/// rate that failed (or for [`BISECTION_STEPS`]): the draws spread several times more.
pub const FLEET_PRECISION: f64 = 0.02;
/// Doublings of the range a fleet's capacity is searched in behind an affinity router, whose
/// replicas may together serve more than replicas x one replica's share-measured saturation.
const EXPANSIONS: u32 = 3;
/// The step, as a fraction of the rate, from a search's guess to the next rate tried (see
/// [`Bounds`]): twice [`FLEET_PRECISION`], so that a capacity within it of the guess takes three
/// simulations.
const GALLOP: f64 = 2.0 * FLEET_PRECISION;

/// One replica's capacity for a workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaCapacity {
    /// `slo` (the highest rate meeting the SLO), `saturation` (no SLO: the most it completes),
    /// or `saturation (slo unreachable)` (no rate down to 1/256 of saturation meets the SLO).
    pub basis: &'static str,
    /// Requests per second of the workload's mix one replica serves (within the SLO, if any).
    pub requests_per_s: f64,
    /// The same in output tokens per second.
    pub output_tokens_per_s: f64,
    /// Saturation throughput, requests per second, whatever the latency.
    pub saturation_requests_per_s: f64,
    /// Requests in the sample simulated.
    pub sample_requests: u64,
    /// Precision of `requests_per_s`, as a fraction of it (0 for saturation, which is measured):
    /// the bisection's step in the median draw.
    pub relative_precision: f64,
    /// The lowest and highest of the draws' capacities, requests per second (both
    /// `requests_per_s` where every draw simulates the same requests without an SLO).
    pub requests_per_s_range: [f64; 2],
    /// Independent draws simulated (sample and arrival gaps).
    pub draws: u32,
    /// The saturation is a lower bound: one replica runs the sample in one wave even repeated
    /// to [`SAMPLE_REQUESTS`], so nothing keeps it full (see [`RunConfig::replica_capacity`]'s
    /// saturation).
    pub saturation_lower_bound: bool,
    /// The whole fleet's capacity, measured ([`RunConfig::with_fleet_capacity`]) for a fleet of
    /// `fleet.replicas`; `None`: replicas x `requests_per_s`.
    pub fleet: Option<FleetCapacity>,
}

/// Where [`RunConfig::bisect_rate`] looks: between 0 and `hi` (with `expand`, 2^[`EXPANSIONS`]
/// x `hi`), never trying its top. With a `guess` (within them) the rate is first tried there,
/// then [`GALLOP`] above it if it passes, below if not; with `expand`, rates keep being tried
/// up, each step twice the last, while they pass (the top is far). Then the range left is
/// bisected in at most `steps` steps, stopping once the step is at most `precision` times the
/// lowest rate that failed.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    hi: f64,
    guess: Option<f64>,
    expand: bool,
    steps: u32,
    precision: f64,
}

impl Bounds {
    /// The highest rate that `passes` (a test monotone in the rate: a rate passes if a higher
    /// one does) found within these bounds, and the search's last step as a fraction of it;
    /// (0, 0) when no rate tried passes.
    fn search(&self, mut passes: impl FnMut(f64) -> bool) -> (f64, f64) {
        let top = if self.expand {
            self.hi * f64::from(1u32 << EXPANSIONS)
        } else {
            self.hi
        };
        let (mut lo, mut hi) = (0.0, top);
        if let Some(g) = self.guess.filter(|&g| g > 0.0 && g < top) {
            let mut step = GALLOP;
            if passes(g) {
                lo = g;
                loop {
                    let up = lo * (1.0 + step);
                    if up >= top {
                        break;
                    }
                    if !passes(up) {
                        hi = up;
                        break;
                    }
                    lo = up;
                    if !self.expand {
                        break;
                    }
                    step *= 2.0;
                }
            } else {
                hi = g;
                let down = g / (1.0 + step);
                if passes(down) {
                    lo = down;
                } else {
                    hi = down;
                }
            }
        }
        for _ in 0..self.steps {
            if lo > 0.0 && hi - lo <= self.precision * hi {
                break;
            }
            let mid = 0.5 * (lo + hi);
            if passes(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        if lo == 0.0 {
            (0.0, 0.0)
        } else {
            (lo, (hi - lo) / lo)
        }
    }
}

impl ReplicaCapacity {
    /// One replica's capacity as a summary reports it (`None` for a basis fleetsim does not
    /// write), without the whole fleet's.
    pub fn from_summary(c: &crate::metrics::Capacity) -> Option<ReplicaCapacity> {
        let basis = [SLO, SATURATION, SLO_UNREACHABLE]
            .into_iter()
            .find(|b| *b == c.basis)?;
        Some(ReplicaCapacity {
            basis,
            requests_per_s: c.replica_requests_per_s,
            output_tokens_per_s: c.replica_output_tokens_per_s,
            saturation_requests_per_s: c.replica_saturation_requests_per_s,
            sample_requests: c.sample_requests,
            relative_precision: c.relative_precision,
            requests_per_s_range: c.replica_requests_per_s_range,
            draws: c.draws,
            saturation_lower_bound: c.saturation_lower_bound,
            fleet: None,
        })
    }
}

/// Which requests of a workload of `n` each draw's sample holds, by position in arrival order.
/// When requests are `shared` (follow-ups refer to earlier requests, prompts share prefixes), a
/// contiguous block of `replicas` x [`SAMPLE_REQUESTS`], at most
/// [`FLEET_SHARED_SAMPLE_REQUESTS`] (`replicas` is [`locality_replicas`], whose router gives
/// one replica a share of them): the first ones, one sample for every draw;
/// past twice that, [`CAPACITY_DRAWS`] blocks spread evenly over the workload, the first at its
/// start and the last at its end, so that the draws see how the mix changes along it. Else all
/// of them up to [`SAMPLE_REQUESTS`], and beyond that [`CAPACITY_DRAWS`] evenly spaced samples,
/// draw k offset by k / [`CAPACITY_DRAWS`] of the spacing (draw 0 starts at the first request).
pub(crate) fn sample_positions(n: usize, shared: bool, replicas: usize) -> Vec<Vec<usize>> {
    if shared {
        let take = (SAMPLE_REQUESTS * replicas.max(1)).min(FLEET_SHARED_SAMPLE_REQUESTS);
        if n < 2 * take {
            return vec![(0..n.min(take)).collect()];
        }
        let d = CAPACITY_DRAWS;
        return (0..d)
            .map(|k| {
                let o = k * (n - take) / (d - 1);
                (o..o + take).collect()
            })
            .collect();
    }
    if n <= SAMPLE_REQUESTS {
        return vec![(0..n).collect()];
    }
    let d = CAPACITY_DRAWS;
    (0..d)
        .map(|k| {
            (0..SAMPLE_REQUESTS)
                .map(|i| ((i * d + k) * n) / (SAMPLE_REQUESTS * d))
                .collect()
        })
        .collect()
}

/// Replicas among which a fleet's router splits the requests' shared prefixes or sessions: the
/// fleet's size for prefix- and session-affinity routing of more than one replica of a fixed
/// fleet (`elastic`: pools, whose capacity is found per pool), else 1.
pub(crate) fn locality_replicas(fleet: &crate::fleet::FleetSpec, elastic: bool) -> usize {
    if splits_locality(fleet.router) && !elastic && fleet.replicas > 1 {
        fleet.replicas as usize
    } else {
        1
    }
}

/// Whether `router` keeps shared prefixes or sessions on one replica (prefix- or
/// session-affinity), splitting them among the fleet.
pub(crate) fn splits_locality(router: crate::fleet::RouterKind) -> bool {
    use crate::fleet::RouterKind;
    matches!(
        router,
        RouterKind::PrefixAffinity | RouterKind::SessionAffinity
    )
}

/// The replicas a fleet of `replicas` behind `router` is measured on for its whole capacity:
/// all of them behind an affinity router when the workload's requests share prefixes or
/// sessions (`shared`: each replica's share of them depends on the fleet size), else at most
/// [`FLEET_MEASURED_REPLICAS`].
pub fn fleet_measured_replicas(
    router: crate::fleet::RouterKind,
    replicas: u32,
    shared: bool,
) -> u32 {
    if shared && splits_locality(router) {
        replicas
    } else {
        replicas.min(FLEET_MEASURED_REPLICAS)
    }
}

/// Whether a request refers to another (a follow-up) or shares a prefix with others.
pub(crate) fn is_shared(r: &Request) -> bool {
    r.follows.is_some() || r.prefix.is_some()
}

/// The sample at `positions` of a workload of `n` requests (`at(p)`: the request at position
/// `p`), renumbered from 0 when spaced out, that is past [`SAMPLE_REQUESTS`] independent
/// requests. A sample of `shared` requests is a contiguous block and keeps its ids, which
/// follow-ups refer to, when it starts at the first request; a later block is moved to start
/// at id 0 and time 0, and a follow-up whose predecessor is before it is kept as a request of
/// its own.
pub(crate) fn sample_at(
    n: usize,
    shared: bool,
    positions: &[usize],
    at: impl Fn(usize) -> Request,
) -> Vec<Request> {
    let spaced = n > SAMPLE_REQUESTS && !shared;
    let block = shared && positions.first().is_some_and(|&p| p > 0);
    let offset = positions.first().copied().unwrap_or(0) as u64;
    let mut start = None;
    positions
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let mut r = at(p);
            if spaced {
                r.id = i as u64;
            }
            if block {
                let t0 = *start.get_or_insert(r.arrival);
                r.id -= offset;
                r.arrival = SimTime::from_nanos(r.arrival.as_nanos().saturating_sub(t0.as_nanos()));
                r.follows = r.follows.and_then(|mut f| {
                    f.prev = f.prev.checked_sub(offset)?;
                    Some(f)
                });
            }
            r
        })
        .collect()
}

/// The samples capacity draws simulate from `requests` (see [`sample_positions`]).
fn samples(requests: &[Request], replicas: usize) -> Vec<Vec<Request>> {
    let n = requests.len();
    let shared = requests.iter().any(is_shared);
    sample_positions(n, shared, replicas)
        .iter()
        .map(|ps| sample_at(n, shared, ps, |p| requests[p].clone()))
        .collect()
}

/// The samples a whole fleet of `replicas` simulates, one per capacity draw, from the samples
/// `base`: independent requests are one replica's capacity samples joined in turn from the k-th
/// for draw k (renumbered), repeated when they hold fewer (the same mix), up to replicas x
/// [`SAMPLE_REQUESTS`], at most [`FLEET_SAMPLE_REQUESTS`]. Shared requests (prefixes,
/// sessions) cannot be joined or repeated as they are (copies would hit each other's prompts):
/// `base` is then already one block of consecutive requests per draw, of replicas x
/// [`SAMPLE_REQUESTS`] where the workload has them (with `--stream`, whose samples are taken
/// while reading the workload, one replica's blocks of [`SAMPLE_REQUESTS`] behind a router
/// that splits no prefixes or sessions), and a block of fewer than replicas x
/// [`FLEET_SHARED_PER_REPLICA`] (at most [`FLEET_SHARED_SAMPLE_REQUESTS`]) is made up to that
/// from fresh copies of itself ([`fresh_copies`]).
pub(crate) fn fleet_samples(base: &[Vec<Request>], replicas: usize) -> Vec<Vec<Request>> {
    let want = (SAMPLE_REQUESTS * replicas).min(FLEET_SAMPLE_REQUESTS);
    let total: usize = base.iter().map(Vec::len).sum();
    if total == 0 {
        return vec![Vec::new()];
    }
    if base.iter().flatten().any(is_shared) {
        let least = (FLEET_SHARED_PER_REPLICA * replicas).min(FLEET_SHARED_SAMPLE_REQUESTS);
        return base
            .iter()
            .map(|b| {
                if b.len() >= least || b.is_empty() {
                    b.clone()
                } else {
                    fresh_copies(b, least)
                }
            })
            .collect();
    }
    (0..CAPACITY_DRAWS.min(base.len()))
        .map(|k| {
            let mut out: Vec<Request> = Vec::with_capacity(want);
            let mut b = k;
            while out.len() < want {
                for r in &base[b] {
                    if out.len() == want {
                        break;
                    }
                    let mut q = r.clone();
                    q.id = out.len() as u64;
                    out.push(q);
                }
                b = (b + 1) % base.len();
            }
            out
        })
        .collect()
}

/// `want` requests from copies of `block` (consecutive requests, at least one) laid end to end,
/// the last cut short: copy `c` is `block` moved `c` times its arrival span later, renumbered
/// after the copies before it, with prefix ids and sessions of its own (each id XORed with a
/// salt of the copy; copy 0 is `block` as it is), so that no copy hits another's cached
/// prompts or continues another's conversations: each copy warms its own cache from cold, as
/// the block does, and serves the block's hit rate. A follow-up refers to its predecessor in
/// the same copy; one whose predecessor is not in `block` is a request of its own.
pub(crate) fn fresh_copies(block: &[Request], want: usize) -> Vec<Request> {
    use crate::engine::rng::mix64;
    let n = block.len();
    if n == 0 {
        return Vec::new();
    }
    let at: std::collections::HashMap<u64, usize> =
        block.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    // N requests span N gaps; a block arriving at one instant is spaced by a second.
    let first = block[0].arrival.as_nanos();
    let last = block[n - 1].arrival.as_nanos().saturating_sub(first);
    let span_ns = if n > 1 && last > 0 {
        (last as f64 * n as f64 / (n - 1) as f64).round() as u64
    } else {
        1_000_000_000
    };
    (0..want)
        .map(|j| {
            let (c, i) = (j / n, j % n);
            let r = &block[i];
            let mut q = r.clone();
            q.id = j as u64;
            q.arrival = SimTime::from_nanos(
                r.arrival
                    .as_nanos()
                    .saturating_add(span_ns.saturating_mul(c as u64)),
            );
            if c > 0 {
                let salt = mix64(0xC0B1_E5ED ^ c as u64);
                if let Some(p) = &mut q.prefix {
                    for id in &mut p.ids {
                        *id ^= salt;
                    }
                }
                q.session = q.session.map(|s| s ^ salt);
            }
            q.follows = r.follows.and_then(|mut f| {
                f.prev = (c * n + *at.get(&f.prev)?) as u64;
                Some(f)
            });
            q
        })
        .collect()
}

/// The mean output length of `requests`, tokens.
fn mean_output_tokens(requests: &[Request]) -> f64 {
    if requests.is_empty() {
        0.0
    } else {
        requests.iter().map(|r| r.output_tokens as f64).sum::<f64>() / requests.len() as f64
    }
}

/// The index of the median of `xs` (the lower middle of an even count; ties in draw order).
fn median_index(xs: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]).then(a.cmp(&b)));
    order[(xs.len() - 1) / 2]
}

/// The lowest and highest of `xs`.
fn range(xs: &[f64]) -> [f64; 2] {
    [
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    ]
}

/// The served share of the offered rate: requests completed over the last three quarters of
/// the arrival window, shifted by the typical latency, over requests that arrived in it
/// (rejected requests, which no fleet of this replica can serve, are left out of both). A fleet
/// that keeps up completes requests as fast as they arrive, a typical latency later (the shift
/// is the median time from arrival to finish of the requests that arrived in the first
/// quarter, left out as warm-up): without it, a short trace of long requests (30 s answers in a
/// 60 s window) finished too few of them inside the window and was called overloaded. One that
/// does not keep up completes them at its own, lower rate while the backlog grows, shift or not.
pub fn served_fraction(records: &[RequestRecord], window_s: f64) -> f64 {
    let mut fold = ServedFold::new(window_s);
    for r in records {
        fold.add(r);
    }
    fold.fraction()
}

/// Bins of [`ServedFold`]'s finish-time histogram per arrival window.
const FINISH_BINS_PER_WINDOW: usize = 1024;
/// Arrival windows the finish-time histogram spans (later finishes share its last bin).
const FINISH_WINDOWS: usize = 16;
/// Latency histogram bins per factor of 2 (about 1.1% wide).
const LATENCY_BINS_PER_OCTAVE: f64 = 64.0;
/// Octaves of the latency histogram above its first bin, 1 us (1 us to about 8.8 years).
const LATENCY_OCTAVES: usize = 48;

/// [`served_fraction`], one request at a time, in memory bounded whatever the request count: a
/// histogram of finish times (1/1024 of the window wide) and one of the warm-up requests'
/// latencies.
#[derive(Clone, Debug)]
pub struct ServedFold {
    window_s: f64,
    start: SimTime,
    end: SimTime,
    arrived: u64,
    /// Finishes by time, [`FINISH_BINS_PER_WINDOW`] bins per window.
    finishes: Vec<u32>,
    /// Latencies (arrival to finish) of requests that arrived before `start`, log-binned.
    warmup: Vec<u32>,
}

impl ServedFold {
    /// Over an arrival window of `window_s` seconds.
    pub fn new(window_s: f64) -> ServedFold {
        ServedFold {
            window_s,
            start: SimTime::from_secs_f64(window_s / 4.0),
            end: SimTime::from_secs_f64(window_s),
            arrived: 0,
            finishes: vec![0; FINISH_BINS_PER_WINDOW * FINISH_WINDOWS],
            warmup: vec![0; LATENCY_BINS_PER_OCTAVE as usize * LATENCY_OCTAVES],
        }
    }

    /// The finish-time bin of `t` seconds (the last bin holds every later finish).
    fn finish_bin(&self, t: f64) -> usize {
        let x = t / self.window_s * FINISH_BINS_PER_WINDOW as f64;
        (x.max(0.0) as usize).min(self.finishes.len() - 1)
    }

    /// Adds one request's record.
    pub fn add(&mut self, r: &RequestRecord) {
        // Rejected requests no fleet can serve, and spilled ones with no API latency to time
        // them, are left out.
        if matches!(r.status, Status::Pending | Status::Rejected(_))
            || (r.status == Status::Spilled && r.finish.is_none())
        {
            return;
        }
        if r.arrival >= self.start && r.arrival <= self.end {
            self.arrived += 1;
        }
        if let Some(f) = r.finish {
            let b = self.finish_bin(f.as_secs_f64());
            self.finishes[b] += 1;
            if r.arrival < self.start {
                let e2e_us = (f.as_secs_f64() - r.arrival.as_secs_f64()) * 1e6;
                let b = (e2e_us.max(1.0).log2() * LATENCY_BINS_PER_OCTAVE) as usize;
                let last = self.warmup.len() - 1;
                self.warmup[b.min(last)] += 1;
            }
        }
    }

    /// The median latency of the warm-up requests, seconds (0 when none finished): the upper
    /// edge of the bin holding it.
    fn warmup_latency_s(&self) -> f64 {
        let n: u64 = self.warmup.iter().map(|&c| c as u64).sum();
        if n == 0 {
            return 0.0;
        }
        let mut seen = 0;
        for (b, &c) in self.warmup.iter().enumerate() {
            seen += c as u64;
            if 2 * seen >= n {
                return ((b + 1) as f64 / LATENCY_BINS_PER_OCTAVE).exp2() * 1e-6;
            }
        }
        0.0
    }

    /// Finishes within [a, b) seconds, a bin partly inside counted in proportion.
    fn finished_between(&self, a: f64, b: f64) -> f64 {
        let w = self.window_s / FINISH_BINS_PER_WINDOW as f64;
        let last = self.finishes.len() - 1;
        let mut n = 0.0;
        for (i, &c) in self.finishes.iter().enumerate() {
            let (lo, hi) = (i as f64 * w, (i + 1) as f64 * w);
            if i == last || hi <= a || lo >= b || c == 0 {
                continue;
            }
            n += c as f64 * ((hi.min(b) - lo.max(a)) / w);
        }
        n
    }

    /// The served share.
    pub fn fraction(&self) -> f64 {
        if self.arrived == 0 {
            return 1.0;
        }
        // The shift keeps the window within the histogram's span.
        let span = self.window_s * (FINISH_WINDOWS - 1) as f64;
        let shift = self.warmup_latency_s().min(span - self.window_s);
        let done = self.finished_between(self.window_s / 4.0 + shift, self.window_s + shift);
        done / self.arrived as f64
    }
}

impl RunConfig {
    /// One replica of this spec serving `requests` (no API pricing, no client limit).
    fn one_replica(&self, requests: Vec<Request>, window_s: f64) -> RunConfig {
        let mut s = self.clone();
        s.fleet.replicas = 1;
        s.price = None;
        s.horizon = None;
        s.max_concurrency = None;
        s.traffic = Arc::new(Traffic {
            workload: Workload {
                requests,
                notes: Vec::new(),
            },
            apis: Vec::new(),
            model: self.model.id.clone(),
            span_s: window_s.max(1e-9),
            capacity_samples: Vec::new(),
        });
        s
    }

    /// [`locality_replicas`] of this spec's fleet.
    pub fn locality_replicas(&self) -> usize {
        locality_replicas(&self.fleet, !self.pools.is_empty())
    }

    /// The requests of `sample` (the first ones of a workload whose requests share prefixes or
    /// sessions) that this fleet's router sends to one replica when the whole fleet serves them
    /// at their own arrival times (no overflow): the share of the prefixes and sessions that
    /// replica holds. The replica is the one with the median count (ties: the lower index).
    /// Renumbered from 0; a follow-up whose predecessor went to another replica is kept, as a
    /// request of its own.
    pub fn routed_share(&self, sample: &[Request]) -> Vec<Request> {
        let n = sample.len();
        if n == 0 {
            return Vec::new();
        }
        let mut s = self.clone();
        s.price = None;
        s.horizon = None;
        s.overflow = None;
        s.slo = None;
        let last = sample[n - 1].arrival.as_secs_f64();
        let span = if n > 1 {
            last * n as f64 / (n as f64 - 1.0)
        } else {
            last
        };
        s.traffic = Arc::new(Traffic {
            workload: Workload {
                requests: sample.to_vec(),
                notes: Vec::new(),
            },
            apis: Vec::new(),
            model: self.model.id.clone(),
            span_s: if span > 0.0 { span } else { 1.0 },
            capacity_samples: Vec::new(),
        });
        let records = s.run().output.recorder.records;
        let mut counts = vec![0usize; self.fleet.replicas.max(1) as usize];
        for r in &records {
            if let Some(c) = counts.get_mut(r.replica as usize) {
                *c += 1;
            }
        }
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by_key(|&i| (counts[i], i));
        let k = order[(order.len() - 1) / 2] as u32;
        let mut renumbered = std::collections::HashMap::new();
        let mut share = Vec::with_capacity(counts[k as usize]);
        for (r, rec) in sample.iter().zip(&records) {
            if rec.replica != k {
                continue;
            }
            let mut q = r.clone();
            renumbered.insert(q.id, share.len() as u64);
            q.id = share.len() as u64;
            q.follows = q.follows.and_then(|mut f| {
                f.prev = *renumbered.get(&f.prev)?;
                Some(f)
            });
            share.push(q);
        }
        if share.is_empty() {
            sample.to_vec()
        } else {
            share
        }
    }

    /// Finds one replica's capacity for this spec's workload (see the module doc).
    pub fn replica_capacity(&self) -> ReplicaCapacity {
        use rayon::prelude::*;
        let replicas = self.locality_replicas();
        let mut samples: Vec<Vec<Request>> = if self.traffic.capacity_samples.is_empty() {
            samples(self.requests(), replicas)
        } else {
            self.traffic.capacity_samples.clone()
        };
        if replicas > 1 && samples.iter().any(|s| s.iter().any(is_shared)) {
            samples = samples.par_iter().map(|s| self.routed_share(s)).collect();
        }
        let found: Vec<(f64, bool)> = samples.par_iter().map(|s| self.saturation(s)).collect();
        let saturations: Vec<f64> = found.iter().map(|x| x.0).collect();
        let n = samples[0].len();
        let k = median_index(&saturations);
        let mut cap = ReplicaCapacity {
            basis: SATURATION,
            requests_per_s: saturations[k],
            output_tokens_per_s: saturations[k] * mean_output_tokens(&samples[k]),
            saturation_requests_per_s: saturations[k],
            sample_requests: n as u64,
            relative_precision: 0.0,
            requests_per_s_range: range(&saturations),
            draws: samples.len() as u32,
            saturation_lower_bound: found[k].1,
            fleet: None,
        };
        if self.slo.is_none() {
            return cap;
        }
        if n == 0 || saturations.iter().all(|&x| x <= 0.0) {
            cap.basis = SLO_UNREACHABLE;
            return cap;
        }
        // Each draw's SLO-bound rate (0: none meets the SLO) and bisection precision.
        let at = |d: usize| d % samples.len();
        let rates: Vec<(f64, f64)> = (0..CAPACITY_DRAWS)
            .into_par_iter()
            .map(|d| self.slo_bound_rate(&samples[at(d)], saturations[at(d)], d as u64))
            .collect();
        let only: Vec<f64> = rates.iter().map(|r| r.0).collect();
        let d = median_index(&only);
        cap.draws = CAPACITY_DRAWS as u32;
        if only[d] <= 0.0 {
            // Not even 1/256 of the saturation rate meets the SLO in the median draw: the SLO
            // is out of reach for this replica, and capacity falls back to saturation so
            // utilization stays defined.
            cap.basis = SLO_UNREACHABLE;
            return cap;
        }
        cap.basis = SLO;
        cap.requests_per_s = only[d];
        cap.output_tokens_per_s = only[d] * mean_output_tokens(&samples[at(d)]);
        cap.saturation_requests_per_s = saturations[at(d)];
        cap.saturation_lower_bound = found[at(d)].1;
        cap.relative_precision = rates[d].1;
        cap.requests_per_s_range = range(&only);
        cap
    }

    /// The highest steady Poisson rate of `base` at which one replica meets the SLO and keeps
    /// up, bisected between 0 and `saturation` with draw `draw`'s arrival gaps, and the
    /// bisection's precision as a fraction of it; (0, 0) when not even the lowest rate tried
    /// passes.
    fn slo_bound_rate(&self, base: &[Request], saturation: f64, draw: u64) -> (f64, f64) {
        let bounds = Bounds {
            hi: saturation,
            guess: None,
            expand: false,
            steps: BISECTION_STEPS,
            precision: 0.0,
        };
        self.bisect_rate(base, bounds, (Stream::Capacity, draw), |reqs, window| {
            self.one_replica(reqs, window)
        })
    }

    /// The highest steady Poisson rate of `base` at which the spec `make` builds (from the
    /// requests, re-timed, and their arrival window) meets the SLO and keeps up, bisected
    /// between 0 and `bounds.hi` (see [`Bounds`]) with the arrival gaps of `draw` (a stream and
    /// its index; common random numbers across rates), and the bisection's precision as a
    /// fraction of it; (0, 0) when not even the lowest rate tried passes.
    fn bisect_rate(
        &self,
        base: &[Request],
        bounds: Bounds,
        (stream, draw): (Stream, u64),
        make: impl Fn(Vec<Request>, f64) -> RunConfig,
    ) -> (f64, f64) {
        let n = base.len();
        if n == 0 || bounds.hi <= 0.0 {
            return (0.0, 0.0);
        }
        // Unit-rate Poisson arrival times, drawn once.
        let mut rng = stream_rng_at(self.seed, stream, draw);
        let mut t = 0.0;
        let unit: Vec<f64> = (0..n)
            .map(|_| {
                let x: f64 = Exp1.sample(&mut rng);
                t += x;
                t
            })
            .collect();
        let passes = |rate: f64| -> bool {
            let mut reqs = base.to_vec();
            for (r, &u) in reqs.iter_mut().zip(&unit) {
                r.arrival = SimTime::from_secs_f64(u / rate);
            }
            // The arrival window: N requests span N gaps.
            let window = unit[n - 1] / rate * n as f64 / (n as f64 - 1.0).max(1.0);
            // `make` keeps this spec's SLO.
            let r = make(reqs, window).run();
            let served = served_fraction(&r.output.recorder.records, window);
            served >= KEEPS_UP && r.summary.slo.as_ref().is_some_and(|x| x.met)
        };
        bounds.search(passes)
    }

    /// This spec's fleet (its replicas and router; no overflow, API pricing, client limit or
    /// horizon) serving `requests`.
    fn whole_fleet(&self, requests: Vec<Request>, window_s: f64) -> RunConfig {
        let mut s = self.one_replica(requests, window_s);
        s.fleet = self.fleet.clone();
        s.fleet.overflow = None;
        s.overflow = None;
        s
    }

    /// `capacity` (one replica's, from [`RunConfig::replica_capacity`]) with this spec's whole
    /// fleet's capacity measured where it may differ from replicas x one replica's
    /// ([`RunConfig::fleet_capacity`]).
    pub fn with_fleet_capacity(&self, capacity: &ReplicaCapacity) -> ReplicaCapacity {
        let mut c = capacity.clone();
        c.fleet = self.fleet_capacity(capacity);
        c
    }

    /// One replica's capacity and, where it differs from replicas x that, the whole fleet's.
    pub fn capacity(&self) -> ReplicaCapacity {
        self.with_fleet_capacity(&self.replica_capacity())
    }

    /// The whole fleet's capacity for this spec's workload, given one replica's (`replica`), or
    /// `None` where it is taken as replicas x one replica's: one replica, an elastic fleet, no
    /// SLO (capacity is then saturation throughput, which replicas add up), or an SLO one
    /// replica meets up to within [`POOLING_MEASURED`] of its saturation behind a router that
    /// splits no prefixes or sessions (pooling can then add little: the fleet cannot serve more
    /// than replicas x saturation, and it serves at least replicas x one replica's capacity,
    /// each replica seeing the same mix, no burstier than Poisson).
    ///
    /// Otherwise a fleet of replicas behind a load-balancing router carries more within a
    /// tail-latency SLO than each replica alone (a request that would wait behind a long
    /// prefill goes to another replica: pooled servers), and behind an affinity router what the
    /// replicas share decides it; so the whole fleet serves a steady Poisson stream of the mix,
    /// its rate first tried at replicas x one replica's capacity (in the first draw; in the
    /// others, at the first draw's capacity), then a step from there, then bisected to within
    /// [`FLEET_PRECISION`], below replicas x one replica's saturation (behind an affinity
    /// router, whose replicas' shares may together serve more, below 2^[`EXPANSIONS`] times
    /// that; see [`Bounds`]), for [`CAPACITY_DRAWS`] draws; the capacity is the median draw's.
    /// Each draw simulates replicas x [`SAMPLE_REQUESTS`] requests ([`fleet_samples`]). Behind
    /// a router that splits no prefixes or sessions a fleet of more than
    /// [`FLEET_MEASURED_REPLICAS`] is measured on that many and scaled to its size
    /// ([`FleetCapacity::measured_on_replicas`]: a lower bound).
    pub fn fleet_capacity(&self, replica: &ReplicaCapacity) -> Option<FleetCapacity> {
        use rayon::prelude::*;
        let n = self.fleet.replicas as usize;
        if n <= 1 || !self.pools.is_empty() || self.slo.is_none() || replica.basis != SLO {
            return None;
        }
        let shared = if self.traffic.capacity_samples.is_empty() {
            self.requests().iter().any(is_shared)
        } else {
            self.traffic
                .capacity_samples
                .iter()
                .flatten()
                .any(is_shared)
        };
        // Behind an affinity router that has shared prefixes or sessions to split.
        let local = shared && self.locality_replicas() > 1;
        if !local && replica.requests_per_s >= POOLING_MEASURED * replica.saturation_requests_per_s
        {
            return None;
        }
        let measured = fleet_measured_replicas(self.fleet.router, self.fleet.replicas, shared);
        if measured < self.fleet.replicas {
            let mut fewer = self.clone();
            fewer.fleet.replicas = measured;
            return fewer
                .fleet_capacity(replica)
                .map(|f| f.scaled_to(self.fleet.replicas));
        }
        let base: Vec<Vec<Request>> = if !self.traffic.capacity_samples.is_empty() {
            self.traffic.capacity_samples.clone()
        } else {
            let blocks = if shared {
                n.min(FLEET_SAMPLE_REQUESTS / SAMPLE_REQUESTS)
            } else {
                1
            };
            samples(self.requests(), if local { n } else { blocks })
        };
        let draws = fleet_samples(&base, n);
        let bounds = Bounds {
            hi: n as f64 * replica.saturation_requests_per_s,
            // Pooled, the fleet serves about replicas x one replica's capacity at least; behind
            // an affinity router that is one replica's on its share.
            guess: Some(n as f64 * replica.requests_per_s),
            expand: local,
            steps: BISECTION_STEPS,
            precision: FLEET_PRECISION,
        };
        let draw = |d: usize, bounds: Bounds| {
            self.bisect_rate(
                &draws[d % draws.len()],
                bounds,
                (Stream::FleetCapacity, d as u64),
                |reqs, window| self.whole_fleet(reqs, window),
            )
        };
        // The first draw's capacity is the others' guess: they spread a few percent around it,
        // where pooling or affinity can move it tens of percent from the first guess.
        let first = draw(0, bounds);
        let rest = Bounds {
            guess: (first.0 > 0.0).then_some(first.0).or(bounds.guess),
            ..bounds
        };
        let rates: Vec<(f64, f64)> = std::iter::once(first)
            .chain(
                (1..CAPACITY_DRAWS)
                    .into_par_iter()
                    .map(|d| draw(d, rest))
                    .collect::<Vec<_>>(),
            )
            .collect();
        let only: Vec<f64> = rates.iter().map(|r| r.0).collect();
        let d = median_index(&only);
        (only[d] > 0.0).then(|| FleetCapacity {
            replicas: n as u32,
            requests_per_s: only[d],
            requests_per_s_range: range(&only),
            relative_precision: rates[d].1,
            sample_requests: draws[d % draws.len()].len() as u64,
            draws: CAPACITY_DRAWS as u32,
            measured_on_replicas: None,
        })
    }

    /// Saturation throughput of one replica on `base`, requests per second, and whether it is
    /// only a lower bound. A sample the replica runs in one wave (it holds them all at once)
    /// cannot show a sustained rate: it is then repeated in whole copies to at least
    /// [`SAMPLE_REQUESTS`], a steady supply of the same mix, the copies of requests that share
    /// prefixes or sessions each with prefixes and sessions of their own ([`fresh_copies`]:
    /// copies of the same prompts would hit each other's cache). Where even those run in one
    /// wave, their overall rate, which the replica exceeds when kept full, is returned as a
    /// lower bound.
    fn saturation(&self, base: &[Request]) -> (f64, bool) {
        let (rate, one_wave) = self.saturation_once(base);
        if !one_wave || base.len() >= SAMPLE_REQUESTS {
            return (rate, false);
        }
        let n = base.len();
        self.saturation_once(&fresh_copies(base, SAMPLE_REQUESTS.div_ceil(n) * n))
    }

    /// One saturation run of `base` (every request at time 0): the completions between the 10th
    /// and 90th percentile completion time over that interval, or, when those come more than
    /// [`ONE_WAVE`] times faster than completions over the whole run (the sample finished in
    /// one wave), the whole run's rate; and whether it was one wave.
    fn saturation_once(&self, base: &[Request]) -> (f64, bool) {
        let n = base.len();
        if n == 0 {
            return (0.0, false);
        }
        let mut reqs = base.to_vec();
        for r in reqs.iter_mut() {
            r.arrival = SimTime::ZERO;
        }
        let mut spec = self.one_replica(reqs, 1.0);
        spec.slo = None;
        let out = spec.run().output;
        let mut done: Vec<u64> = out
            .recorder
            .records
            .iter()
            .filter_map(|r| r.finish)
            .map(|t| t.as_nanos())
            .collect();
        done.sort_unstable();
        let m = done.len();
        if m == 0 {
            return (0.0, false);
        }
        let end = done[m - 1] as f64 / 1e9;
        let overall = m as f64 / end.max(1e-9);
        if m < 10 {
            return (if end > 0.0 { overall } else { 0.0 }, false);
        }
        let (a, b) = (m / 10, m * 9 / 10);
        let dt = (done[b] - done[a]) as f64 / 1e9;
        // A sample the replica runs in one wave finishes together: the middle completions then
        // span next to no time and say nothing of a sustained rate.
        if dt > 0.0 && (b - a) as f64 / dt <= ONE_WAVE * overall {
            ((b - a) as f64 / dt, false)
        } else {
            (overall, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fleet search finds a threshold within its precision from below, in three tries
    /// when the threshold is within a gallop step of the guess and at most two more than a
    /// bisection elsewhere; behind an affinity router it gallops past `hi`, elsewhere never;
    /// and where nothing passes it says 0.
    #[test]
    fn the_fleet_search_gallops_from_its_guess_then_bisects() {
        let bounds = |hi: f64, guess: f64, expand: bool| Bounds {
            hi,
            guess: Some(guess),
            expand,
            steps: BISECTION_STEPS,
            precision: FLEET_PRECISION,
        };
        let find = |b: Bounds, threshold: f64| {
            let mut tries = Vec::new();
            let (rate, precision) = b.search(|r| {
                tries.push(r);
                r <= threshold
            });
            (rate, precision, tries)
        };
        for threshold in [3.0, 9.7, 10.0, 10.3, 10.39, 12.0, 17.0, 30.0, 49.0] {
            let (rate, precision, tries) = find(bounds(50.0, 10.0, false), threshold);
            assert!(rate <= threshold, "{threshold}: {rate} passes above it");
            assert!(
                threshold - rate <= FLEET_PRECISION * threshold * 1.0001,
                "{threshold}: {rate} is not within the precision"
            );
            assert!(precision <= FLEET_PRECISION / (1.0 - FLEET_PRECISION));
            assert!(
                tries.iter().all(|&r| r < 50.0),
                "{threshold}: tried {tries:?}"
            );
            if (threshold - 10.0).abs() < 10.0 * GALLOP * 0.9 {
                assert_eq!(tries.len(), 3, "{threshold}: tried {tries:?}");
            }
            assert!(
                tries.len() <= 2 + BISECTION_STEPS as usize,
                "{threshold}: tried {tries:?}"
            );
        }
        // Without expanding, a fleet is never said to serve more than `hi`; with it, up to
        // 2^EXPANSIONS x `hi`.
        let (rate, _, _) = find(bounds(20.0, 10.0, false), 100.0);
        assert!((20.0 * (1.0 - FLEET_PRECISION)..20.0).contains(&rate));
        let (rate, _, tries) = find(bounds(20.0, 10.0, true), 100.0);
        assert!((98.0..=100.0).contains(&rate), "{rate} from {tries:?}");
        let (rate, _, tries) = find(bounds(20.0, 10.0, true), 1e9);
        assert!((160.0 * (1.0 - FLEET_PRECISION)..160.0).contains(&rate));
        assert!(tries.iter().all(|&r| r < 160.0));
        // Nothing passes.
        let (rate, precision, tries) = find(bounds(20.0, 10.0, false), 0.0);
        assert_eq!((rate, precision), (0.0, 0.0));
        assert!(tries.len() <= 2 + BISECTION_STEPS as usize);
    }

    /// Past twice a block, a workload of shared requests is sampled in blocks spread from its
    /// start to its end; a later block starts at id 0 and time 0, keeps follow-ups within it and
    /// frees those whose predecessor came before it.
    #[test]
    fn shared_samples_are_blocks_spread_over_the_workload() {
        let n = 3 * SAMPLE_REQUESTS;
        let blocks = sample_positions(n, true, 1);
        assert_eq!(blocks.len(), CAPACITY_DRAWS);
        assert_eq!(blocks[0][0], 0);
        assert_eq!(*blocks[CAPACITY_DRAWS - 1].last().unwrap(), n - 1);
        assert!(blocks
            .iter()
            .all(|b| b.len() == SAMPLE_REQUESTS && b.windows(2).all(|w| w[1] == w[0] + 1)));
        // Below twice a block: the first requests, once.
        assert_eq!(sample_positions(2 * SAMPLE_REQUESTS - 1, true, 1).len(), 1);
        // Behind an affinity router, a block per replica, up to FLEET_SHARED_SAMPLE_REQUESTS.
        let wide = sample_positions(1_000_000, true, 8);
        assert!(wide.iter().all(|b| b.len() == 8 * SAMPLE_REQUESTS));
        let capped = sample_positions(1_000_000, true, 200);
        assert_eq!(capped.len(), CAPACITY_DRAWS);
        assert!(capped
            .iter()
            .all(|b| b.len() == FLEET_SHARED_SAMPLE_REQUESTS));
        // Request p arrives at p seconds and follows p - 2 (its session's previous turn).
        let at = |p: usize| Request {
            id: p as u64,
            arrival: SimTime::from_secs_f64(p as f64),
            input_tokens: 10,
            output_tokens: 10,
            prefix: None,
            session: Some(p as u64 % 2),
            follows: (p >= 2).then_some(crate::workload::FollowUp {
                prev: p as u64 - 2,
                think: SimTime::ZERO,
            }),
        };
        let b = &blocks[2];
        let s = sample_at(n, true, b, at);
        assert_eq!(s[0].id, 0);
        assert_eq!(s[0].arrival, SimTime::ZERO);
        assert_eq!(s[5].arrival, SimTime::from_secs_f64(5.0));
        assert!(s[0].follows.is_none() && s[1].follows.is_none());
        assert_eq!(s[2].follows.map(|f| f.prev), Some(0));
        assert!(s.iter().enumerate().all(|(i, r)| r.id == i as u64));
        // The first block keeps the requests as they are.
        let first = sample_at(n, true, &blocks[0], at);
        assert_eq!(first[2].follows.map(|f| f.prev), Some(0));
        assert_eq!(first[7].arrival, SimTime::from_secs_f64(7.0));
    }

    /// Fresh copies lay the block end to end, renumbered, each with prefix ids and sessions of
    /// its own (equal within a copy, disjoint across copies) and its follow-ups within it.
    #[test]
    fn fresh_copies_share_nothing_across_copies() {
        use crate::workload::{FollowUp, PrefixIds};
        // Request i arrives at i seconds with system prompt i % 2 and session i % 3; 3 and 4
        // follow 0 and 1; 2 follows a request before the block.
        let block: Vec<Request> = (0..5u64)
            .map(|i| Request {
                id: i,
                arrival: SimTime::from_secs_f64(i as f64),
                input_tokens: 600,
                output_tokens: 10,
                prefix: Some(PrefixIds {
                    block_tokens: 512,
                    ids: vec![i % 2, 100 + i],
                }),
                session: Some(i % 3),
                follows: match i {
                    2 => Some(FollowUp {
                        prev: 77,
                        think: SimTime::ZERO,
                    }),
                    3 | 4 => Some(FollowUp {
                        prev: i - 3,
                        think: SimTime::ZERO,
                    }),
                    _ => None,
                },
            })
            .collect();
        let out = fresh_copies(&block, 12);
        assert_eq!(out.len(), 12);
        assert_eq!(
            &out[..5],
            &{
                let mut b = block.clone();
                b[2].follows = None;
                b
            }[..]
        );
        assert!(out.iter().enumerate().all(|(i, r)| r.id == i as u64));
        // Five requests span 5 s: copy c arrives 5c s later.
        assert_eq!(out[7].arrival, SimTime::from_secs_f64(7.0));
        assert_eq!(out[11].arrival, SimTime::from_secs_f64(11.0));
        assert_eq!(out[8].follows.map(|f| f.prev), Some(5));
        assert_eq!(out[9].follows.map(|f| f.prev), Some(6));
        assert!(out[7].follows.is_none());
        let first = |r: &Request| r.prefix.as_ref().unwrap().ids[0];
        for c in 0..2 {
            // Within a copy, requests 0 and 2 share a prompt, and 0 and 3 a session.
            let k = 5 * c;
            assert_eq!(first(&out[k]), first(&out[k + 2]));
            assert_eq!(out[k].session, out[k + 3].session);
            assert_ne!(first(&out[k]), first(&out[k + 1]));
        }
        let ids: std::collections::HashSet<u64> = out
            .iter()
            .flat_map(|r| r.prefix.as_ref().unwrap().ids.clone())
            .collect();
        // 2 prompts + 5 own ids per full copy, 2 + 2 in the cut copy.
        assert_eq!(ids.len(), 7 + 7 + 4);
        let sessions: std::collections::HashSet<_> = out.iter().map(|r| r.session).collect();
        assert_eq!(sessions.len(), 3 + 3 + 2);
        // A block arriving at one instant is laid a second apart.
        let mut at_once = block.clone();
        at_once.iter_mut().for_each(|r| r.arrival = SimTime::ZERO);
        assert_eq!(
            fresh_copies(&at_once, 6)[5].arrival,
            SimTime::from_secs_f64(1.0)
        );
    }

    #[test]
    fn served_fraction_compares_departures_with_arrivals() {
        let rec = |a: f64, f: Option<f64>| RequestRecord {
            arrival: SimTime::from_secs_f64(a),
            finish: f.map(SimTime::from_secs_f64),
            status: if f.is_some() {
                Status::Completed
            } else {
                Status::InFlight
            },
            replica: 0,
            pool: 0,
            scheduled: None,
            first_token: None,
            last_token: None,
            generated: 0,
            preemptions: 0,
            cached_tokens: 0,
        };
        // Keeps up: every request done 1 s after it arrives.
        let ok: Vec<_> = (0..100)
            .map(|i| rec(i as f64, Some(i as f64 + 1.0)))
            .collect();
        let f = served_fraction(&ok, 100.0);
        assert!((f - 1.0).abs() < 0.02, "{f}");
        // Serves one every 2 s: half the offered rate.
        let slow: Vec<_> = (0..100)
            .map(|i| rec(i as f64, Some(2.0 * i as f64 + 1.0)))
            .collect();
        let f = served_fraction(&slow, 100.0);
        assert!((f - 0.5).abs() < 0.03, "{f}");
        assert_eq!(served_fraction(&[], 10.0), 1.0);
    }
}
