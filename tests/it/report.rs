//! Charts, report.html, Markdown tables, the plan, and the shipped examples as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::root;

fn fleetsim(args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("runs");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn check_chart(dir: &Path, name: &str, texts: &[&str]) {
    let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{name}.png is not a real image"
    );
    let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
    for t in texts {
        assert!(svg.contains(t), "{name}.svg lacks `{t}`");
    }
}

fn check_report(dir: &Path, must: &[&str]) {
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "report.html refers to a URL"
    );
    assert!(
        !html.contains("<script") && !html.contains("<link") && !html.contains("src="),
        "report.html loads something"
    );
    for m in must {
        assert!(html.contains(m), "report.html lacks `{m}`");
    }
}

fn scenario(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("s.json");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn sweep_writes_latency_and_cost_charts_and_a_self_contained_report() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario(
        tmp.path(),
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"trace": {"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv", "format": "azure", "rate_scale": 8, "limit": 4000}},
            "slo": {"ttft_s": 2, "tpot_s": 0.1},
            "sweep": {"replicas": "1..=4"}}"#,
    );
    let out = tmp.path().join("o");
    let o = fleetsim(&[
        "sweep",
        s.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "md",
    ]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.contains("### Sweep") && md.contains("| replicas | GPUs | gpu |"),
        "{md}"
    );
    check_chart(
        &out,
        "latency",
        &[
            "Latency against fleet size",
            "replicas in the fleet",
            "TTFT",
            "TPOT",
            "SLO target",
        ],
    );
    check_chart(
        &out,
        "cost",
        &[
            "Monthly cost against fleet size",
            "replicas in the fleet",
            "USD per month",
            "GPU capacity left unused (idle)",
            "GPU capacity this traffic uses",
            "gpt-4o-mini (closed model)",
        ],
    );
    check_report(
        &out,
        &[
            "Latency against fleet size",
            "Monthly cost against fleet size",
            "<svg",
            "<table>",
            "smallest fleet meeting the SLO",
            "\"sweep\"",
        ],
    );
    // The report opens with the answer, and shows the scenario without unset (null) fields.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let answer = html.find("Answer: the cheapest fleet that keeps up and meets the SLO is");
    assert!(
        answer.is_some_and(|a| a < html.find("<svg").unwrap()),
        "{html}"
    );
    assert!(!html.contains(": null"));
    assert!(md.contains("Answer: ") && md.contains("GPUs"), "{md}");
}

#[test]
fn run_writes_a_timeline_and_report_and_prints_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = fleetsim(&[
        "run",
        "examples/bursty-code.json",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "md",
    ]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.contains("| latency (s) | mean |") && md.contains("| self-hosted |"),
        "{md}"
    );
    check_chart(
        &out,
        "timeline",
        &[
            "Timeline",
            "arrivals per second",
            "utilization: arrivals as % of the fleet",
            "running sequences per replica",
            "queued requests",
            "KV cache in use",
            "simulated time (min)",
        ],
    );
    check_report(
        &out,
        &[
            "Timeline",
            "<table>",
            "ttft_s",
            "AzureLLMInferenceTrace_code.csv",
        ],
    );
    let csv = std::fs::read_to_string(out.join("timeline.csv")).unwrap();
    assert!(
        csv.starts_with("start_s,arrivals_per_s,busy_replicas,queued,kv_used_pct,running_seqs_per_replica,utilization")
            && csv.lines().count() > 100
    );
    // Utilization per bin is arrivals over the fleet's capacity, which summary.json reports.
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let cap = s["capacity"]["fleet_requests_per_s"].as_f64().unwrap();
    let row: Vec<f64> = csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    assert!((row[6] - row[1] / cap).abs() < 1e-3, "{row:?} vs {cap}");
}

#[test]
fn trace_plot_draws_arrivals_and_length_histograms() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    fleetsim(&[
        "trace",
        "plot",
        "traces/mooncake/synthetic_trace.jsonl",
        "--out",
        out.to_str().unwrap(),
    ]);
    check_chart(
        &out,
        "trace",
        &[
            "synthetic_trace.jsonl",
            "requests per second",
            "input lengths",
            "output lengths",
            "prompt tokens",
        ],
    );
}

#[test]
fn plan_picks_the_smallest_fleet_and_break_even_agrees_with_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = fleetsim(&[
        "plan",
        "examples/default-sweep.json",
        "--out",
        out.to_str().unwrap(),
        "--volumes",
        "0.125..1",
        "--gpus",
        "h100-sxm,a100-80gb",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("At this volume")
            && text.contains(
                "3 x h100-sxm = 3 GPUs (2-3 replicas within the model's error) meets the SLO for $"
            )
            && text.contains("The same model (llama-3.1-8b) on ")
            && text.contains("break even"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    for r in rows {
        let n = r["replicas"].as_u64().expect("every volume has a fleet");
        assert!(r["attainment"].as_f64().unwrap() >= 0.99, "{r}");
        if n > 1 {
            assert!(
                r["one_fewer_attainment"].as_f64().unwrap() < 0.99,
                "one fewer replica must miss: {r}"
            );
        }
    }
    // Break-even: from its volume on, self-hosting is cheaper at every planned volume; at the
    // planned volume just below, the API is cheaper; the crossing lies at or below that volume.
    for b in v["breakeven"].as_array().unwrap() {
        let (config, api) = (b["config"].as_str().unwrap(), b["api"].as_str().unwrap());
        let mine: Vec<&serde_json::Value> = rows.iter().filter(|r| r["config"] == config).collect();
        let api_cost = |r: &serde_json::Value| {
            r["apis"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == api)
                .unwrap()["per_month_usd"]
                .as_f64()
                .unwrap()
        };
        let cheaper = |r: &serde_json::Value| r["per_month_usd"].as_f64().unwrap() <= api_cost(r);
        match b["from_rate_scale"].as_f64() {
            None => assert!(!cheaper(mine.last().unwrap()), "{b}"),
            Some(s) => {
                for r in &mine {
                    let scale = r["rate_scale"].as_f64().unwrap();
                    if scale >= s {
                        assert!(cheaper(r), "{b} vs {r}");
                    }
                }
                let below: Vec<_> = mine
                    .iter()
                    .filter(|r| r["rate_scale"].as_f64().unwrap() < s)
                    .collect();
                if let Some(last_below) = below.last() {
                    assert!(!cheaper(last_below), "{b} vs {last_below}");
                }
                let from = mine
                    .iter()
                    .find(|r| r["rate_scale"].as_f64().unwrap() == s)
                    .unwrap();
                let t = b["monthly_tokens"].as_f64().unwrap();
                assert!(
                    t <= from["monthly_tokens"].as_f64().unwrap() * (1.0 + 1e-9),
                    "{b}"
                );
                // At the break-even volume the API costs what the fleet costs.
                let per_token = api_cost(from) / from["monthly_tokens"].as_f64().unwrap();
                assert!(
                    (t * per_token - b["per_month_usd"].as_f64().unwrap()).abs()
                        < 1e-6 * t * per_token
                );
            }
        }
    }
    check_chart(
        &out,
        "breakeven",
        &[
            "Self-hosting against APIs",
            "tokens per month",
            "USD per month",
            "self-hosted h100-sxm",
            "break-even",
        ],
    );
    check_report(
        &out,
        &[
            "Self-hosting against APIs",
            "Plan: smallest fleet",
            "Break-even",
            "At this volume",
        ],
    );
    assert!(
        std::fs::read_to_string(out.join("plan.csv"))
            .unwrap()
            .lines()
            .count()
            == 9
    );
}

#[test]
fn plan_example_runs_as_shipped_at_two_volumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = fleetsim(&[
        "plan",
        "examples/size-before-buying.json",
        "--out",
        out.to_str().unwrap(),
        "--volumes",
        "1,4",
        "--gpus",
        "l40s",
        "-q",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("At this volume"));
}

#[test]
fn sweep_examples_run() {
    for ex in ["examples/prefix-heavy.json", "examples/steady-conv.json"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("o");
        fleetsim(&[
            "sweep",
            ex,
            "--out",
            out.to_str().unwrap(),
            "--replicas",
            "2,4",
            "-q",
        ]);
        assert!(out.join("cost.png").exists() && out.join("report.html").exists());
    }
}
