//! Synthetic workloads with prefix structure, for seeing what prefix caching is worth:
//! shared system prompts and document QA ([`shared`]: a pool of shared prefixes picked with Zipf
//! popularity, each request adding its own text), and multi-turn conversations ([`sessions`]:
//! each turn resends the whole history, and the next turn is sent only after the answer plus
//! think time).
//!
//! Content identity is given as prefix ids at the replica's block size (one id per block of the
//! request's token sequence), so the prefix cache sees exactly the sharing the workload has.

pub mod sessions;
pub mod shared;

use serde::{Deserialize, Serialize};

use super::lengths::LengthSpec;
use super::readers::MAX_TOKENS;
use crate::error::{Error, Result};
use crate::rng::mix64;

fn default_zipf() -> f64 {
    1.0
}
fn default_max_context() -> u32 {
    32_768
}

/// Prefix structure of a synthetic workload (`workload.synthetic.prefix`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PrefixSpec {
    /// Every request starts with one of `count` system prompts, chosen with Zipf popularity;
    /// `input_tokens` is then the length of the user text after it.
    #[serde(alias = "system_prompts")]
    SystemPrompts {
        /// Number of distinct system prompts.
        count: u32,
        /// Their lengths, tokens.
        tokens: LengthSpec,
        /// Zipf exponent of their popularity (0 = uniform).
        #[serde(default = "default_zipf")]
        zipf_s: f64,
    },
    /// Questions over a few long documents: every request is a document followed by a question
    /// of `input_tokens` tokens.
    #[serde(alias = "document_qa")]
    DocumentQa {
        /// Number of documents.
        documents: u32,
        /// Their lengths, tokens.
        document_tokens: LengthSpec,
        /// Zipf exponent of their popularity (0 = uniform).
        #[serde(default = "default_zipf")]
        zipf_s: f64,
    },
    /// Multi-turn conversations. `arrivals` gives conversation starts; each turn's prompt is the
    /// previous prompt + its answer + a new user message of `input_tokens`; the next turn is sent
    /// when the answer has finished plus an exponentially distributed think time.
    Sessions {
        /// Turns per conversation.
        turns: LengthSpec,
        /// Mean think time between an answer and the next turn, seconds.
        think_time_s: f64,
        /// Optional system prompt at the start of every conversation, tokens (one shared prompt).
        #[serde(default)]
        system_prompt_tokens: Option<u32>,
        /// A conversation ends early when its next prompt plus answer would pass this many tokens.
        #[serde(default = "default_max_context")]
        max_context_tokens: u32,
    },
}

impl PrefixSpec {
    /// Checks ranges; `field` is the dotted path used in errors.
    pub fn check(&self, field: &str) -> Result<()> {
        let zipf_ok = |s: f64| s.is_finite() && (0.0..=10.0).contains(&s);
        match self {
            PrefixSpec::SystemPrompts {
                count,
                tokens,
                zipf_s,
            } => {
                if !(1..=1_000_000).contains(count) {
                    return Err(Error::config(
                        format!("{field}.count"),
                        format!("must be 1..=1000000, got {count}"),
                    ));
                }
                if !zipf_ok(*zipf_s) {
                    return Err(Error::config(
                        format!("{field}.zipf_s"),
                        format!("must be 0..=10, got {zipf_s}"),
                    ));
                }
                tokens.check(&format!("{field}.tokens"))
            }
            PrefixSpec::DocumentQa {
                documents,
                document_tokens,
                zipf_s,
            } => {
                if !(1..=1_000_000).contains(documents) {
                    return Err(Error::config(
                        format!("{field}.documents"),
                        format!("must be 1..=1000000, got {documents}"),
                    ));
                }
                if !zipf_ok(*zipf_s) {
                    return Err(Error::config(
                        format!("{field}.zipf_s"),
                        format!("must be 0..=10, got {zipf_s}"),
                    ));
                }
                document_tokens.check(&format!("{field}.document_tokens"))
            }
            PrefixSpec::Sessions {
                turns,
                think_time_s,
                system_prompt_tokens,
                max_context_tokens,
            } => {
                if !(think_time_s.is_finite() && *think_time_s >= 0.0 && *think_time_s < 1e7) {
                    return Err(Error::config(
                        format!("{field}.think_time_s"),
                        format!("must be a non-negative number of seconds, got {think_time_s}"),
                    ));
                }
                if *max_context_tokens < 2 || *max_context_tokens as u64 > MAX_TOKENS {
                    return Err(Error::config(
                        format!("{field}.max_context_tokens"),
                        format!("must be 2..={MAX_TOKENS} tokens, got {max_context_tokens}"),
                    ));
                }
                if let Some(s) = system_prompt_tokens.filter(|s| s >= max_context_tokens) {
                    return Err(Error::config(
                        format!("{field}.system_prompt_tokens"),
                        format!(
                            "must be below max_context_tokens ({max_context_tokens}), got {s}: every conversation would pass its context limit before its first message"
                        ),
                    ));
                }
                turns.check(&format!("{field}.turns"))
            }
        }
    }
}

/// A content id from a namespace tag and two indices.
pub(crate) fn content_id(tag: u64, a: u64, b: u64) -> u64 {
    mix64(mix64(mix64(tag) ^ a).wrapping_add(b))
}

/// Zipf-distributed index in `0..n` with exponent `s` (uniform when `s` is 0).
#[derive(Debug)]
pub(crate) struct Popularity {
    cdf: Vec<f64>,
}

impl Popularity {
    pub(crate) fn new(n: u32, s: f64) -> Popularity {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut acc = 0.0;
        for k in 1..=n {
            acc += 1.0 / (k as f64).powf(s);
            cdf.push(acc);
        }
        for x in cdf.iter_mut() {
            *x /= acc;
        }
        Popularity { cdf }
    }

    pub(crate) fn sample(&self, rng: &mut rand::rngs::StdRng) -> usize {
        use rand::Rng;
        let u: f64 = rng.gen();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}
