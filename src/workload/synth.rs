//! Synthetic workloads: an arrival process times independent input and output length draws,
//! each from its own seeded stream.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::arrivals::{ArrivalProcess, ArrivalSpec};
use super::lengths::{LengthColumn, LengthDist, LengthSpec};
use super::prefixes::sessions::SessionGen;
use super::prefixes::shared::SharedPrefixes;
use super::prefixes::PrefixSpec;
use super::{Request, Workload};
use crate::error::{Error, Result};
use crate::rng::{stream_rng, Stream};
use crate::time::SimTime;
use rand::rngs::StdRng;

/// Largest synthetic workload, requests (guards against a typo generating gigabytes).
pub const MAX_SYNTHETIC_REQUESTS: u64 = 50_000_000;

/// The most requests a streamed run (`fleetsim run --stream`) generates: its memory does not
/// grow with them, and request ids are 32-bit.
pub const MAX_STREAMED_REQUESTS: u64 = 4_000_000_000;

/// Tokens each prefix id of a synthetic workload covers: vLLM's default KV block size. Replica
/// blocks are powers of two, so a block either lies inside an id or spans several
/// ([`crate::workload::block_hash::block_content`]); the workload does not depend on the
/// replica's block size.
pub const PREFIX_BLOCK_TOKENS: u32 = 16;

/// A synthetic workload (the scenario's `workload.synthetic`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    /// Number of requests to generate.
    #[serde(default)]
    pub requests: Option<u64>,
    /// Generate arrivals up to this time, seconds (with `requests`, whichever comes first).
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Arrival process.
    pub arrivals: ArrivalSpec,
    /// Prompt lengths.
    pub input_tokens: LengthSpec,
    /// Output lengths.
    pub output_tokens: LengthSpec,
    /// Prefix structure: shared system prompts, document QA or multi-turn sessions.
    #[serde(default)]
    pub prefix: Option<PrefixSpec>,
    /// Closed-loop clients: at most this many requests in flight (as `vllm bench serve
    /// --max-concurrency`); arrival times become the earliest send times.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
}

impl SyntheticSpec {
    /// Checks the spec; `field` is its dotted path.
    pub fn check(&self, field: &str) -> Result<()> {
        self.check_max(field, MAX_SYNTHETIC_REQUESTS)
    }

    fn check_max(&self, field: &str, max: u64) -> Result<()> {
        match (self.requests, self.duration_s) {
            (None, None) => {
                return Err(Error::config(
                    field,
                    "give `requests` (a count), `duration_s` (seconds of arrivals) or both",
                ))
            }
            (Some(n), _) if n == 0 || n > max => {
                return Err(Error::config(
                    format!("{field}.requests"),
                    if n > max && max == MAX_SYNTHETIC_REQUESTS {
                        format!("must be 1..={max}, got {n} (`fleetsim run --stream` takes up to {MAX_STREAMED_REQUESTS})")
                    } else {
                        format!("must be 1..={max}, got {n}")
                    },
                ))
            }
            (_, Some(d)) if !(d.is_finite() && d > 0.0 && d <= 3.2e8) => {
                return Err(Error::config(
                    format!("{field}.duration_s"),
                    format!("must be a positive number of seconds, got {d}"),
                ))
            }
            _ => {}
        }
        if self.requests.is_none() {
            let expected = self.arrivals.mean_rate_per_s() * self.duration_s.unwrap_or(0.0);
            if expected > max as f64 {
                return Err(Error::config(
                    format!("{field}.duration_s"),
                    format!("would generate about {expected:.0} requests, more than {max}"),
                ));
            }
        }
        self.arrivals.check(&format!("{field}.arrivals"))?;
        self.input_tokens.check(&format!("{field}.input_tokens"))?;
        self.output_tokens
            .check(&format!("{field}.output_tokens"))?;
        if let Some(p) = &self.prefix {
            p.check(&format!("{field}.prefix"))?;
        }
        if self.max_concurrency == Some(0) {
            return Err(Error::config(
                format!("{field}.max_concurrency"),
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// Generates the requests. `resolve` maps file paths in the spec (empirical lengths);
    /// prefix ids cover [`PREFIX_BLOCK_TOKENS`] tokens each; shared prefixes longer than
    /// `max_prompt_tokens` (which every replica rejects) get no ids.
    pub fn generate(
        &self,
        seed: u64,
        resolve: &dyn Fn(&Path) -> PathBuf,
        max_prompt_tokens: u32,
    ) -> Result<Workload> {
        match self.generate_or_stream(seed, resolve, max_prompt_tokens, false)? {
            Generated::Whole(w) => Ok(w),
            Generated::Stream(_) => unreachable!("asked for the whole workload"),
        }
    }

    /// The same requests as [`SyntheticSpec::generate`], one at a time, for a streamed run:
    /// memory does not grow with their number. Conversations (`prefix.sessions`), whose turns
    /// are closed-loop, cannot be streamed.
    pub fn stream(
        &self,
        seed: u64,
        resolve: &dyn Fn(&Path) -> PathBuf,
        max_prompt_tokens: u32,
    ) -> Result<SynthStream> {
        if matches!(self.prefix, Some(PrefixSpec::Sessions { .. })) {
            return Err(Error::config(
                "workload.synthetic.prefix",
                "conversations (sessions) are closed-loop and cannot be streamed: run without --stream",
            ));
        }
        match self.generate_or_stream(seed, resolve, max_prompt_tokens, true)? {
            Generated::Stream(s) => Ok(*s),
            Generated::Whole(_) => unreachable!("asked for a stream"),
        }
    }

    fn generate_or_stream(
        &self,
        seed: u64,
        resolve: &dyn Fn(&Path) -> PathBuf,
        max_prompt_tokens: u32,
        streamed: bool,
    ) -> Result<Generated> {
        let block_tokens = PREFIX_BLOCK_TOKENS;
        let max = if streamed {
            MAX_STREAMED_REQUESTS
        } else {
            MAX_SYNTHETIC_REQUESTS
        };
        self.check_max("workload.synthetic", max)?;
        let mut arrivals = self.arrivals.build();
        let mut inputs = self.input_tokens.build(LengthColumn::Input, resolve)?;
        let mut outputs = self.output_tokens.build(LengthColumn::Output, resolve)?;
        let mut rng_a = stream_rng(seed, Stream::Arrivals);
        let mut rng_i = stream_rng(seed, Stream::InputLengths);
        let rng_o = stream_rng(seed, Stream::OutputLengths);
        let mut rng_p = stream_rng(seed, Stream::Prefixes);
        let max_n = self.requests.unwrap_or(max);
        let horizon = self.duration_s.unwrap_or(f64::INFINITY);
        let mut requests: Vec<Request> = if streamed {
            Vec::new()
        } else {
            Vec::with_capacity(max_n.min(10_000_000) as usize)
        };
        let shared = match &self.prefix {
            Some(PrefixSpec::SystemPrompts {
                count,
                tokens,
                zipf_s,
            }) => {
                let mut d = tokens.build(LengthColumn::Input, resolve)?;
                Some(SharedPrefixes::new(
                    0x5157,
                    *count,
                    d.as_mut(),
                    *zipf_s,
                    block_tokens,
                    max_prompt_tokens,
                    &mut rng_p,
                ))
            }
            Some(PrefixSpec::DocumentQa {
                documents,
                document_tokens,
                zipf_s,
            }) => {
                let mut d = document_tokens.build(LengthColumn::Input, resolve)?;
                Some(SharedPrefixes::new(
                    0xD0C5,
                    *documents,
                    d.as_mut(),
                    *zipf_s,
                    block_tokens,
                    max_prompt_tokens,
                    &mut rng_p,
                ))
            }
            _ => None,
        };
        let mut t_s = 0.0;
        if let Some(PrefixSpec::Sessions {
            turns,
            think_time_s,
            system_prompt_tokens,
            max_context_tokens,
        }) = &self.prefix
        {
            let mut turns = turns.build(LengthColumn::Input, resolve)?;
            let mut gen = SessionGen {
                turns: turns.as_mut(),
                message: inputs.as_mut(),
                answer: outputs.as_mut(),
                think_time_s: *think_time_s,
                system_prompt_tokens: system_prompt_tokens.unwrap_or(0),
                max_context_tokens: *max_context_tokens,
                block_tokens,
                max_tokens: max_prompt_tokens,
            };
            let mut session = 0u64;
            while (requests.len() as u64) < max_n && t_s < horizon {
                let room = max_n - requests.len() as u64;
                let start = SimTime::from_secs_f64(t_s);
                gen.generate(session, start, room, &mut rng_i, &mut rng_p, &mut requests);
                session += 1;
                t_s += arrivals.next_gap_s(t_s, &mut rng_a);
            }
            return Ok(Generated::Whole(Workload::finish(requests, Vec::new())));
        }
        let stream = SynthStream {
            inputs,
            outputs,
            arrivals,
            rng_a,
            rng_i,
            rng_o,
            rng_p,
            shared,
            n: 0,
            max_n,
            horizon,
            t_s,
        };
        if streamed {
            return Ok(Generated::Stream(Box::new(stream)));
        }
        requests.extend(stream);
        Ok(Generated::Whole(Workload::finish(requests, Vec::new())))
    }
}

enum Generated {
    Whole(Workload),
    Stream(Box<SynthStream>),
}

/// Synthetic requests (without conversations), generated one at a time in arrival order.
pub struct SynthStream {
    inputs: Box<dyn LengthDist>,
    outputs: Box<dyn LengthDist>,
    arrivals: Box<dyn ArrivalProcess>,
    rng_a: StdRng,
    rng_i: StdRng,
    rng_o: StdRng,
    rng_p: StdRng,
    shared: Option<SharedPrefixes>,
    n: u64,
    max_n: u64,
    horizon: f64,
    t_s: f64,
}

impl std::fmt::Debug for SynthStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SynthStream")
            .field("n", &self.n)
            .field("max_n", &self.max_n)
            .finish_non_exhaustive()
    }
}

impl Iterator for SynthStream {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        if self.n >= self.max_n || self.t_s >= self.horizon {
            return None;
        }
        let own = self.inputs.sample(&mut self.rng_i);
        let (input, prefix) = match &self.shared {
            Some(pool) => {
                let (len, ids) = pool.pick(&mut self.rng_p);
                (len.saturating_add(own), Some(ids))
            }
            None => (own, None),
        };
        let r = Request {
            id: self.n,
            arrival: SimTime::from_secs_f64(self.t_s),
            input_tokens: input,
            output_tokens: self.outputs.sample(&mut self.rng_o),
            prefix,
            session: None,
            follows: None,
        };
        self.n += 1;
        self.t_s += self.arrivals.next_gap_s(self.t_s, &mut self.rng_a);
        Some(r)
    }
}
