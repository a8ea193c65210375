//! Fuzzing on stable Rust: every reader, the scenario parser (and resolver) and the calibration
//! readers get arbitrary bytes and mutations of real inputs; each must answer with a value or an
//! error, never a panic. The test suite runs a short pass (64 cases per target); a long pass is
//!
//! ```sh
//! FLEETSIM_FUZZ_CASES=200000 cargo test --release --test it fuzz -- --nocapture
//! ```
//!
//! (docs/RELIABILITY.md has what it ran and found). Seeds come from the shipped traces and
//! examples; mutations flip, insert, delete and duplicate bytes and lines, truncate, and splice
//! in tokens that break parsers (huge, negative, non-finite and empty numbers, quotes, BOMs).

use std::path::Path;

use fleetsim::fidelity::{calibrate::read_bench_json, steps::read_steps_csv};
use fleetsim::scenario::Scenario;
use fleetsim::workload::readers::{read, ReadOptions};
use fleetsim::workload::TraceFormat;
use proptest::prelude::*;

use crate::util::root;

fn cases() -> u32 {
    std::env::var("FLEETSIM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn first_lines(path: &str, n: usize) -> String {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    text.lines().take(n).collect::<Vec<_>>().join("\n") + "\n"
}

const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "NaN",
    "inf",
    "1e-320",
    "18446744073709551616",
    "9999999999",
    "",
    "\"",
    ",",
    "\n",
    "\r\n",
    "\u{feff}",
    "{",
    "}",
    "[",
    "]",
    "null",
    "true",
    "2300-01-01",
    "2023-02-31",
    " 24:00:00",
    ".",
    "e",
    "::",
    "\0",
    "é",
];

#[derive(Clone, Debug)]
enum Mutation {
    Flip(u32, u8),
    Insert(u32, Vec<u8>),
    Delete(u32, u16),
    Token(u32, usize),
    DupLine(u32),
    Truncate(u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<u32>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<u32>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<u32>(), 1u16..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<u32>(), 0..TOKENS.len()).prop_map(|(p, t)| Mutation::Token(p, t)),
        any::<u32>().prop_map(Mutation::DupLine),
        any::<u32>().prop_map(Mutation::Truncate),
    ]
}

fn apply(seed: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in ms {
        let at = |p: u32, len: usize| if len == 0 { 0 } else { p as usize % (len + 1) };
        match m {
            Mutation::Flip(p, x) if !b.is_empty() => {
                let i = *p as usize % b.len();
                b[i] ^= x | 1;
            }
            Mutation::Insert(p, x) => {
                let i = at(*p, b.len());
                b.splice(i..i, x.iter().copied());
            }
            Mutation::Delete(p, n) => {
                let i = at(*p, b.len());
                let j = (i + *n as usize).min(b.len());
                b.drain(i..j);
            }
            Mutation::Token(p, t) => {
                let i = at(*p, b.len());
                b.splice(i..i, TOKENS[*t].bytes());
            }
            Mutation::DupLine(p) => {
                let lines: Vec<&[u8]> = b.split(|c| *c == b'\n').collect();
                let k = *p as usize % lines.len();
                let dup = lines[k].to_vec();
                let i = at(*p, b.len());
                b.splice(i..i, dup.into_iter().chain([b'\n']));
            }
            Mutation::Truncate(p) => {
                let i = at(*p, b.len());
                b.truncate(i);
            }
            _ => {}
        }
    }
    b
}

fn input() -> impl Strategy<Value = (bool, Vec<Mutation>, Vec<u8>)> {
    // One input in five is arbitrary bytes; the rest are real inputs with a few mutations, so
    // that many get past the first line into the parsers' deeper checks.
    (
        prop::bool::weighted(0.2),
        prop::collection::vec(mutation(), 0..5),
        prop::collection::vec(any::<u8>(), 0..256),
    )
}

/// The bytes to feed: arbitrary ones, or a mutation of one of `seeds`.
fn bytes(
    seeds: &[Vec<u8>],
    pick: usize,
    (raw, ms, arb): &(bool, Vec<Mutation>, Vec<u8>),
) -> Vec<u8> {
    if *raw {
        arb.clone()
    } else {
        apply(&seeds[pick % seeds.len()], ms)
    }
}

fn trace_seeds() -> Vec<(TraceFormat, Vec<u8>)> {
    vec![
        (
            TraceFormat::Azure,
            first_lines("traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv", 30).into_bytes(),
        ),
        (
            TraceFormat::Mooncake,
            first_lines("traces/mooncake/synthetic_trace.jsonl", 8).into_bytes(),
        ),
        (
            TraceFormat::Lengths,
            first_lines(
                "traces/sharegpt-lengths/sharegpt_8k_filtered_stats_llama2_tokenizer.csv",
                30,
            )
            .into_bytes(),
        ),
        (
            TraceFormat::Burstgpt,
            b"Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n45,GPT-4,1087,0,1087,API log\n118,ChatGPT,417,276,693,Conversation log\n".to_vec(),
        ),
        (
            TraceFormat::Jsonl,
            b"{\"arrival_s\": 0.0, \"input_tokens\": 812, \"output_tokens\": 64, \"session_id\": 7, \"prefix_ids\": [11, 12], \"prefix_block_tokens\": 16}\n{\"arrival_s\": 0.5, \"input_tokens\": 100, \"output_tokens\": 5}\n".to_vec(),
        ),
    ]
}

/// One trace case; true when the reader accepted the input.
fn trace_case(pick: usize, fmt: usize, skip: bool, inp: &(bool, Vec<Mutation>, Vec<u8>)) -> bool {
    let seeds = trace_seeds();
    let all: Vec<Vec<u8>> = seeds.iter().map(|s| s.1.clone()).collect();
    let data = bytes(&all, pick, inp);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    std::fs::write(&path, &data).unwrap();
    let format = seeds[fmt % seeds.len()].0;
    let opts = ReadOptions {
        skip_bad_lines: skip,
        ..Default::default()
    };
    let _ = TraceFormat::detect(&path);
    read(format, &path, &opts).is_ok()
}

/// One scenario case; true when it parsed and (if small) resolved.
fn scenario_case(pick: usize, inp: &(bool, Vec<Mutation>, Vec<u8>)) -> bool {
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let data = bytes(&seeds, pick, inp);
    let text = String::from_utf8_lossy(&data);
    match Scenario::from_json(&text, Path::new("fuzz.json")) {
        Ok(s) => {
            let small = s
                .workload
                .synthetic
                .as_ref()
                .is_none_or(|w| w.requests.is_some_and(|n| n <= 2000));
            small && s.resolve(&root()).is_ok()
        }
        Err(_) => false,
    }
}

/// One calibration-reader case; true when the file was accepted.
fn calibration_case(pick: usize, json: bool, inp: &(bool, Vec<Mutation>, Vec<u8>)) -> bool {
    let steps = b"prefill_tokens,decode_seqs,context_tokens,step_ms\n0,1,500,7.5\n256,8,4000,12.1\n4096,0,0,140\n".to_vec();
    let bench = br#"{"request_rate": 4.0, "burstiness": 1.0, "max_concurrency": 16, "input_lens": [100, 200, 300], "output_lens": [10, 20, 30], "mean_ttft_ms": 50.0, "mean_tpot_ms": 8.0, "output_throughput": 900.0}"#.to_vec();
    let seeds = if json { vec![bench] } else { vec![steps] };
    let data = bytes(&seeds, pick, inp);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(if json { "b.json" } else { "s.csv" });
    std::fs::write(&path, &data).unwrap();
    if json {
        read_bench_json(&path).is_ok()
    } else {
        read_steps_csv(&path).is_ok()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Every trace reader, strict and skipping bad lines, in every format.
    #[test]
    fn fuzz_trace_readers(pick in 0usize..1000, fmt in 0usize..5, skip in any::<bool>(), inp in input()) {
        trace_case(pick, fmt, skip, &inp);
    }

    /// The scenario parser, and the resolver where the scenario is small enough to build.
    #[test]
    fn fuzz_scenarios(pick in 0usize..1000, inp in input()) {
        scenario_case(pick, &inp);
    }

    /// The calibration readers: step CSVs and `vllm bench serve` JSON.
    #[test]
    fn fuzz_calibration_readers(pick in 0usize..1000, json in any::<bool>(), inp in input()) {
        calibration_case(pick, json, &inp);
    }
}

/// The long run: every target in turn for `FLEETSIM_FUZZ_SECONDS` seconds in all (default
/// 60), printing cases run, inputs accepted and rejected, and any panic with its input.
/// `FLEETSIM_FUZZ_SECONDS=1800 cargo test --release --test it fuzz_long -- --ignored --nocapture`
#[test]
#[ignore]
fn fuzz_long() {
    use proptest::test_runner::{Config, TestRunner};
    use std::sync::atomic::{AtomicU64, Ordering};
    let seconds: u64 = std::env::var("FLEETSIM_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let start = std::time::Instant::now();
    let names = ["trace readers", "scenarios", "calibration readers"];
    let counts: Vec<[AtomicU64; 2]> = (0..3)
        .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
        .collect();
    let mut panics = 0u64;
    let mut round = 0u64;
    while start.elapsed().as_secs() < seconds {
        round += 1;
        let target = (round % 3) as usize;
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 500,
                failure_persistence: None,
                ..Config::default()
            },
            proptest::test_runner::TestRng::from_seed(
                proptest::test_runner::RngAlgorithm::ChaCha,
                &[round as u8; 32].map(|b| b ^ (round >> 8) as u8),
            ),
        );
        let c = &counts[target];
        let count = |ok: bool| {
            c[if ok { 0 } else { 1 }].fetch_add(1, Ordering::Relaxed);
        };
        let result = match target {
            0 => runner
                .run(
                    &(0usize..1000, 0usize..5, any::<bool>(), input()),
                    |(p, f, s, i)| {
                        count(trace_case(p, f, s, &i));
                        Ok(())
                    },
                )
                .map_err(|e| e.to_string()),
            1 => runner
                .run(&(0usize..1000, input()), |(p, i)| {
                    count(scenario_case(p, &i));
                    Ok(())
                })
                .map_err(|e| e.to_string()),
            _ => runner
                .run(&(0usize..1000, any::<bool>(), input()), |(p, j, i)| {
                    count(calibration_case(p, j, &i));
                    Ok(())
                })
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = result {
            panics += 1;
            println!("PANIC in {}: {e}", names[target]);
        }
    }
    for (n, c) in names.iter().zip(&counts) {
        let (ok, err) = (c[0].load(Ordering::Relaxed), c[1].load(Ordering::Relaxed));
        println!(
            "{n}: {} cases, {ok} accepted, {err} refused with an error",
            ok + err
        );
    }
    println!(
        "{} s, {round} rounds, {panics} panics",
        start.elapsed().as_secs()
    );
    assert_eq!(panics, 0);
}
