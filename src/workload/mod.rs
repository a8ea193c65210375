//! Workloads: the requests a simulation serves.
//!
//! A workload comes either from a trace file (one reader per format in [`readers`]) or from a
//! seeded synthesizer ([`synth`]: an arrival process from [`arrivals`] times length
//! distributions from [`lengths`]). Either way the result is a [`Workload`]: requests sorted by
//! arrival, ids in arrival order, arrival times relative to the start of the simulation.

pub mod arrivals;
pub mod lengths;
pub mod readers;
pub mod stats;
pub mod synth;
pub mod trace;

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
    /// Sorts by arrival (stable) and renumbers ids in arrival order.
    pub fn finish(mut requests: Vec<Request>, notes: Vec<String>) -> Workload {
        requests.sort_by_key(|r| r.arrival);
        for (i, r) in requests.iter_mut().enumerate() {
            r.id = i as u64;
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
