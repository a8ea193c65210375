//! Each reader on a shipped (real) file.

use fleetsim::workload::stats::TraceStats;
use fleetsim::workload::{TraceFormat, TraceSpec};

use crate::util::root;

fn load(rel: &str, format: TraceFormat) -> TraceStats {
    let path = root().join(rel);
    let mut spec = TraceSpec::new(&path, format);
    if format == TraceFormat::Lengths {
        spec.arrivals =
            Some(fleetsim::workload::arrivals::ArrivalSpec::Poisson { rate_per_s: 5.0 });
    }
    let w = spec.load(&path, 1).unwrap();
    TraceStats::of(&w)
}

/// Figures from traces/SOURCES.md.
#[test]
fn azure_traces_match_their_published_statistics() {
    let conv = load(
        "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
        TraceFormat::Azure,
    );
    assert_eq!(conv.rows, 19_366);
    assert!((conv.span_s / 60.0 - 58.4).abs() < 0.1, "{}", conv.span_s);
    assert!((conv.mean_rate_per_s - 5.53).abs() < 0.01);
    assert!((conv.interarrival_cv - 1.09).abs() < 0.01);
    assert!((conv.input_tokens.mean - 1155.0).abs() < 1.0);
    assert_eq!(conv.input_tokens.p50, 1020.0);
    assert!((conv.output_tokens.mean - 211.0).abs() < 1.0);
    let code = load(
        "traces/azure-llm-2023/AzureLLMInferenceTrace_code.csv",
        TraceFormat::Azure,
    );
    assert_eq!(code.rows, 8_819);
    assert!(
        (code.interarrival_cv - 13.15).abs() < 0.01,
        "{}",
        code.interarrival_cv
    );
    assert!((code.input_tokens.mean - 2048.0).abs() < 1.0);
}

#[test]
fn mooncake_and_sharegpt_files_read() {
    let m = load(
        "traces/mooncake/synthetic_trace.jsonl",
        TraceFormat::Mooncake,
    );
    assert_eq!(m.rows, 3_993);
    assert_eq!(m.rows_with_prefix_ids, 3_993);
    assert!((m.span_s / 60.0 - 17.0).abs() < 0.1);
    assert!((m.input_tokens.mean - 15326.0).abs() < 1.0);
    let s = load(
        "traces/sharegpt-lengths/sharegpt_8k_filtered_stats_llama2_tokenizer.csv",
        TraceFormat::Lengths,
    );
    assert_eq!(s.rows, 30_731);
    assert!((s.input_tokens.mean - 2340.0).abs() < 1.0);
    assert!((s.output_tokens.mean - 439.0).abs() < 1.0);
}

#[test]
fn window_limit_and_rate_scale_apply_in_that_order() {
    let path = root().join("traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv");
    let mut spec = TraceSpec::new(&path, TraceFormat::Azure);
    spec.start_s = Some(600.0);
    spec.end_s = Some(1200.0);
    let window = spec.load(&path, 0).unwrap();
    assert!(window.requests.last().unwrap().arrival.as_secs_f64() < 600.0);
    spec.rate_scale = 2.0;
    spec.limit = Some(100);
    let fast = spec.load(&path, 0).unwrap();
    assert_eq!(fast.requests.len(), 100);
    let a = window.requests[99].arrival.as_secs_f64();
    let b = fast.requests[99].arrival.as_secs_f64();
    assert!((a / 2.0 - b).abs() < 1e-6, "{a} {b}");
}

/// Converting the Mooncake trace to fleetsim JSONL and reading it back gives the same requests:
/// the JSONL reader on a real file, and the writer as its inverse.
#[test]
fn mooncake_round_trips_through_fleetsim_jsonl() {
    let src = root().join("traces/mooncake/synthetic_trace.jsonl");
    let a = TraceSpec::new(&src, TraceFormat::Mooncake)
        .load(&src, 0)
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.jsonl");
    fleetsim::workload::readers::jsonl::write(&out, &a.requests).unwrap();
    let b = TraceSpec::new(&out, TraceFormat::Jsonl)
        .load(&out, 0)
        .unwrap();
    assert_eq!(a.requests, b.requests);
    assert_eq!(TraceFormat::detect(&out).unwrap(), TraceFormat::Jsonl);
}
