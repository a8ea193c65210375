//! API spend on a workload, with prompt caching.
//!
//! Each API keeps its own simulated prompt cache: prefixes the workload's requests share
//! (their prefix ids) are cached when a request sends them and stay for the API's time to live
//! after their last use. A request then pays the cached rate for the longest cached prefix of its
//! prompt (if at least the API's minimum, rounded down to its increments), the cache-write rate
//! for the rest of its shareable prefix (what a client would mark for caching; APIs without a
//! write premium bill it as plain input), and the input rate for the rest. Requests without
//! prefix ids are billed as plain input. Timing uses arrival times.

use std::collections::HashMap;

use serde::Serialize;

use crate::catalog::Api;
use crate::time::SimTime;
use crate::workload::block_hash::chain;
use crate::workload::Request;

/// The per-request latency targets of an SLO that an API's published latency is compared with
/// (what the cost report needs of an SLO; `metrics::SloSpec::latency_targets` makes one).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencyTargets {
    /// Time-to-first-token target, seconds.
    pub ttft_s: Option<f64>,
    /// Time-per-output-token target, seconds.
    pub tpot_s: Option<f64>,
}

/// How an API relates to the simulated model, for labels: `same model`, `closed model` or
/// `other model`.
pub fn model_kind(same_model: bool, serves: &str) -> &'static str {
    if same_model {
        "same model"
    } else if serves == "closed" {
        "closed model"
    } else {
        "other model"
    }
}

/// How an API's model differs from the simulated one, in words.
pub fn different_model(same_model: bool, serves: &str) -> String {
    match model_kind(same_model, serves) {
        "same model" => "same model".into(),
        "closed model" => "a different, closed model".into(),
        _ => format!("a different model: {serves}"),
    }
}

/// An API's published latency against the SLO (see [`super::ApiCost::slo_verdict`]).
pub fn slo_verdict(api: &Api, slo: Option<LatencyTargets>) -> &'static str {
    let Some(slo) = slo else {
        return "no slo";
    };
    let l = api.latency.as_ref();
    let ttft = l.and_then(|l| l.median_ttft_s);
    let tps = l.and_then(|l| l.median_output_tokens_per_s);
    let mut compared = false;
    if let (Some(target), Some(t)) = (slo.ttft_s, ttft) {
        compared = true;
        if t > target {
            return "misses";
        }
    }
    if let (Some(target), Some(r)) = (slo.tpot_s, tps) {
        compared = true;
        if r > 0.0 && 1.0 / r > target {
            return "misses";
        }
    }
    if compared {
        "median within"
    } else {
        "unknown"
    }
}

/// What one API charges for a list of requests.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct ApiSpend {
    /// USD.
    pub usd: f64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Prompt tokens billed at the cached rate.
    pub cached_input_tokens: u64,
    /// Prompt tokens billed at the cache-write rate.
    pub cache_write_tokens: u64,
}

/// The spend of `api` on `requests` (in arrival order), counting those arriving by `until`.
pub fn api_spend(api: &Api, requests: &[Request], until: Option<SimTime>) -> ApiSpend {
    let mut fold = ApiSpendFold::new(until);
    for r in requests {
        fold.add(api, r);
    }
    fold.finish(api)
}

/// [`api_spend`], one request at a time (in arrival order). Its memory is the prompt cache's:
/// one entry per distinct prefix block used within the cache's time to live (expired entries
/// are dropped once every time to live), none for requests without prefix ids.
#[derive(Clone, Debug)]
pub struct ApiSpendFold {
    s: ApiSpend,
    until: Option<SimTime>,
    /// Chain key of a prefix block -> last time it was used, seconds.
    cache: HashMap<u64, f64>,
    /// When expired entries were last dropped, seconds.
    purged_s: f64,
    read_usd: f64,
    write_usd: f64,
    plain_usd: f64,
}

impl ApiSpendFold {
    /// Nothing spent yet; requests arriving after `until` are not counted.
    pub fn new(until: Option<SimTime>) -> ApiSpendFold {
        ApiSpendFold {
            s: ApiSpend::default(),
            until,
            cache: HashMap::new(),
            purged_s: 0.0,
            read_usd: 0.0,
            write_usd: 0.0,
            plain_usd: 0.0,
        }
    }

    /// Adds request `r` sent to `api`.
    pub fn add(&mut self, api: &Api, r: &Request) {
        if self.until.is_some_and(|u| r.arrival > u) {
            return;
        }
        let s = &mut self.s;
        let t = r.arrival.as_secs_f64();
        let input = r.input_tokens as u64;
        s.input_tokens += input;
        s.output_tokens += r.output_tokens as u64;
        let (mut read, mut write) = (0u64, 0u64);
        if let (Some(rule), Some(p)) = (&api.caching, &r.prefix) {
            let g = p.block_tokens as u64;
            // Shareable prefix: complete blocks within the prompt.
            let complete = ((input / g) as usize).min(p.ids.len());
            let mut keys = Vec::with_capacity(complete);
            let mut parent = None;
            for &id in &p.ids[..complete] {
                let k = chain(parent, id);
                parent = Some(k);
                keys.push(k);
            }
            let cache = &mut self.cache;
            let hit_blocks = keys
                .iter()
                .take_while(|k| cache.get(k).is_some_and(|&last| t - last <= rule.ttl_s))
                .count() as u64;
            let matched = (hit_blocks * g).min(input.saturating_sub(1));
            read = billable(matched, rule.min_tokens as u64, rule.increment_tokens);
            let shareable = complete as u64 * g;
            let cacheable = billable(shareable, rule.min_tokens as u64, rule.increment_tokens);
            write = cacheable.saturating_sub(read);
            for k in keys {
                cache.insert(k, t);
            }
            // An entry unused for longer than the time to live is a miss whenever it is next
            // looked up: dropping it changes nothing but the memory (a million conversations
            // otherwise kept every block of every one, and lookups slowed as the map grew).
            if t - self.purged_s > rule.ttl_s {
                cache.retain(|_, last| t - *last <= rule.ttl_s);
                self.purged_s = t;
            }
            self.read_usd += read as f64 * api.cached_input;
            self.write_usd += write as f64 * api.input * rule.write_multiplier;
        }
        self.plain_usd += (input - read - write) as f64 * api.input;
        s.cached_input_tokens += read;
        s.cache_write_tokens += write;
    }

    /// What `api` would have charged for the requests added.
    pub fn finish(mut self, api: &Api) -> ApiSpend {
        self.s.usd = (self.read_usd
            + self.write_usd
            + self.plain_usd
            + self.s.output_tokens as f64 * api.output)
            / 1e6;
        self.s
    }
}

/// Tokens a provider bills as cached for a matched prefix of `matched` tokens.
fn billable(matched: u64, min: u64, increment: Option<u32>) -> u64 {
    if matched < min || matched == 0 {
        return 0;
    }
    match increment {
        Some(inc) if inc > 0 => min + (matched - min) / inc as u64 * inc as u64,
        _ => matched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CachingRule, Catalog};
    use crate::workload::PrefixIds;

    fn req(id: u64, at_s: f64, input: u32, output: u32, ids: Vec<u64>) -> Request {
        Request {
            id,
            arrival: SimTime::from_secs_f64(at_s),
            input_tokens: input,
            output_tokens: output,
            prefix: Some(PrefixIds {
                block_tokens: 512,
                ids,
            }),
            session: None,
            follows: None,
        }
    }

    #[test]
    fn openai_rule_on_a_hand_made_workload() {
        let api = Catalog::builtin().api("gpt-4o-mini").unwrap().clone();
        // A 2048-token shared prefix (4 blocks of 512) plus 100 own tokens.
        let reqs = vec![
            req(0, 0.0, 2148, 10, vec![1, 2, 3, 4, 90]),
            // 60 s later: the whole 2048-token prefix is cached (1024 + 8 x 128).
            req(1, 60.0, 2148, 10, vec![1, 2, 3, 4, 91]),
            // Shares only 2 blocks = 1024 tokens: exactly the minimum.
            req(2, 61.0, 1100, 10, vec![1, 2, 92]),
            // 1000 s later the cache has expired (TTL 300 s).
            req(3, 1100.0, 2148, 10, vec![1, 2, 3, 4, 93]),
            // Only 512 tokens shared: below the 1024 minimum.
            req(4, 1101.0, 700, 10, vec![1, 94]),
        ];
        let s = api_spend(&api, &reqs, None);
        assert_eq!(s.cached_input_tokens, 2048 + 1024);
        // OpenAI has no write premium: writes are billed as input (multiplier 1).
        let input: u64 = 2148 * 3 + 1100 + 700;
        let usd = ((input - 3072) as f64 * 0.15 + 3072.0 * 0.075 + 50.0 * 0.6) / 1e6;
        assert!((s.usd - usd).abs() < 1e-12, "{} vs {usd}", s.usd);
    }

    #[test]
    fn anthropic_rule_charges_writes_and_has_no_increments() {
        let api = Api {
            id: "x".into(),
            provider: "anthropic".into(),
            serves: "closed".into(),
            serves_name: "x".into(),
            architecture: None,
            reasoning_tokens_billed_as_output: false,
            date: "test".into(),
            confidence: "high".into(),
            latency: None,
            batch_fraction_off: None,
            batch_note: String::new(),
            batch_stacks_with_caching: true,
            input: 1.0,
            cached_input: 0.1,
            output: 5.0,
            caching: Some(CachingRule {
                min_tokens: 1024,
                increment_tokens: None,
                ttl_s: 300.0,
                read_multiplier: 0.1,
                write_multiplier: 1.25,
            }),
            source: "test".into(),
        };
        let reqs = vec![
            req(0, 0.0, 1600, 1, vec![1, 2, 3, 4]), // writes 3 complete blocks = 1536
            req(1, 10.0, 1600, 1, vec![1, 2, 3, 5]), // reads 1536, writes nothing new
        ];
        let s = api_spend(&api, &reqs, None);
        assert_eq!(s.cache_write_tokens, 1536);
        assert_eq!(s.cached_input_tokens, 1536);
        let usd = (1536.0 * 1.25 + 64.0 + 1536.0 * 0.1 + 64.0 + 2.0 * 5.0) / 1e6;
        assert!((s.usd - usd).abs() < 1e-12, "{} vs {usd}", s.usd);
    }

    /// Entries unused past the time to live are dropped: a stream of distinct prompts keeps
    /// the cache at what one time to live holds, and a prompt seen again within it still hits.
    #[test]
    fn the_prompt_cache_keeps_only_what_its_time_to_live_holds() {
        let api = Catalog::builtin().api("gpt-4o-mini").unwrap().clone();
        let ttl = api.caching.as_ref().unwrap().ttl_s;
        let mut fold = ApiSpendFold::new(None);
        // One distinct 3-block prompt a second for 10 TTLs, each repeated a second later.
        let n = (10.0 * ttl) as u64;
        for i in 0..n {
            let t = i as f64;
            fold.add(
                &api,
                &req(2 * i, t, 1600, 1, vec![3 * i, 3 * i + 1, 3 * i + 2]),
            );
            fold.add(
                &api,
                &req(
                    2 * i + 1,
                    t + 0.5,
                    1600,
                    1,
                    vec![3 * i, 3 * i + 1, 3 * i + 2],
                ),
            );
            assert!(fold.cache.len() as f64 <= 3.0 * (2.0 * ttl + 2.0));
        }
        // Every repeat read its 1,536-token prefix (three blocks, above the 1,024 minimum).
        assert_eq!(fold.finish(&api).cached_input_tokens, n * 1536);
    }

    #[test]
    fn requests_without_prefix_ids_pay_plain_input() {
        let api = Catalog::builtin().api("gpt-5-mini").unwrap().clone();
        let mut r = req(0, 0.0, 5000, 100, vec![]);
        r.prefix = None;
        let s = api_spend(&api, &[r.clone(), r], None);
        assert_eq!(s.cached_input_tokens, 0);
        assert!((s.usd - (10_000.0 * 0.25 + 200.0 * 2.0) / 1e6).abs() < 1e-12);
    }
}
