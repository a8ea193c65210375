//! Workloads: the requests a simulation serves.
//!
//! A workload comes either from a trace file (one reader per format in [`readers`]) or from a
//! seeded synthesizer ([`synth`]: an arrival process from [`arrivals`] times length
//! distributions from [`lengths`]). Either way the result is a [`Workload`]: requests sorted by
//! arrival, ids in arrival order, arrival times relative to the start of the simulation.

pub mod arrivals;
pub mod block_hash;
pub mod lengths;
pub mod prefixes;
pub mod readers;
pub mod stats;
pub mod synth;
pub mod trace;
pub mod trace_stream;

use serde::{Deserialize, Serialize};

use crate::time::SimTime;

pub use trace::{TraceFormat, TraceSpec};

/// Prefix identity of a prompt: one id per block of `block_tokens` prompt tokens, chained (equal
/// ids at the same position mean the same prefix up to that block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixIds {
    /// Tokens each id covers (512 for Mooncake traces).
    pub block_tokens: u32,
    /// One id per block, in prompt order; the last may cover a partial block.
    pub ids: Vec<u64>,
}

/// One inference request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Position in arrival order, from 0.
    pub id: u64,
    /// When it arrives.
    pub arrival: SimTime,
    /// Prompt length, tokens (at least 1).
    pub input_tokens: u32,
    /// Tokens to generate (at least 1).
    pub output_tokens: u32,
    /// Prefix block ids, where the source has them.
    pub prefix: Option<PrefixIds>,
    /// Conversation the request belongs to, where the source has one.
    pub session: Option<u64>,
    /// Closed loop: this request is sent only after an earlier one finishes, plus think time
    /// (the next turn of a conversation). Its `arrival` is then only a lower bound used for
    /// ordering; the simulation sets the real one.
    pub follows: Option<FollowUp>,
}

/// The request a closed-loop request waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowUp {
    /// Id of the request that must finish first.
    pub prev: u64,
    /// Time between that request's last token and this request's arrival.
    pub think: SimTime,
}

/// Requests by id, as a replica sees them: `slice[i]` is request `base + i` (`base` is 0 unless
/// a streamed run has retired finished requests).
#[derive(Clone, Copy, Debug)]
pub struct Reqs<'a> {
    /// Id of `slice[0]`.
    pub base: usize,
    /// The requests kept.
    pub slice: &'a [Request],
}

impl<'a> Reqs<'a> {
    /// Every request, ids from 0.
    pub fn all(slice: &'a [Request]) -> Reqs<'a> {
        Reqs { base: 0, slice }
    }
}

impl std::ops::Index<usize> for Reqs<'_> {
    type Output = Request;
    fn index(&self, id: usize) -> &Request {
        &self.slice[id - self.base]
    }
}

/// The requests of one simulation, with notes on how they were derived.
#[derive(Clone, Debug, Default)]
pub struct Workload {
    /// Requests sorted by arrival, `id` = index.
    pub requests: Vec<Request>,
    /// What the reader or synthesizer did that the user should know (sorted rows, skipped lines,
    /// dropped failures).
    pub notes: Vec<String>,
}

impl Workload {
    /// Sorts by arrival (stable) and renumbers ids in arrival order; `id` must be the index
    /// before the call, and `follows` references are renumbered with it.
    pub fn finish(mut requests: Vec<Request>, notes: Vec<String>) -> Workload {
        requests.sort_by_key(|r| r.arrival);
        let mut new_id = vec![0u64; requests.len()];
        for (i, r) in requests.iter().enumerate() {
            if let Some(slot) = new_id.get_mut(r.id as usize) {
                *slot = i as u64;
            }
        }
        for (i, r) in requests.iter_mut().enumerate() {
            r.id = i as u64;
            if let Some(f) = r.follows.as_mut() {
                f.prev = new_id[f.prev as usize];
            }
        }
        Workload { requests, notes }
    }

    /// Time of the last arrival.
    pub fn span(&self) -> SimTime {
        self.requests
            .last()
            .map(|r| r.arrival)
            .unwrap_or(SimTime::ZERO)
    }
}
