//! Inputs that once hung, aborted or ate memory (../shared/reliability/crashers), and the other
//! hardening fixes: each must now end quickly with a clear answer or a clear error.

use std::process::Command;

use crate::util::{fleetsim, root, stderr, write};

const ONE_REQUEST: &str = r#""workload": {"synthetic": {"requests": 1, "arrivals": {"kind": "constant", "rate_per_s": 1},
    "input_tokens": {"kind": "fixed", "value": 1}, "output_tokens": {"kind": "fixed", "value": 1}}"#;

/// A horizon near the end of simulated time once looped forever; now it is refused with the
/// field and the largest accepted value.
#[test]
fn huge_horizon_is_refused_with_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "h.json",
        &format!(
            r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm", {ONE_REQUEST}, "horizon_s": 1e12}}}}"#
        ),
    );
    let o = fleetsim(&["run", &s, "--out", tmp.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("workload.horizon_s") && e.contains("1e9"), "{e}");
}

/// A trace slowed down past the longest simulated span is refused, naming rate_scale.
#[test]
fn trace_stretched_past_the_longest_span_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "two.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03,10,5\n2023-11-16 18:17:04,10,5\n",
    );
    let s = write(
        tmp.path(),
        "s.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"trace": {"path": "two.csv", "format": "azure", "rate_scale": 1e-11}}}"#,
    );
    let o = fleetsim(&["run", &s, "--out", tmp.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("workload.trace.rate_scale") && e.contains("1e9"),
        "{e}"
    );
}

/// Absurdly slow steps once grew the timeline by a bin per simulated second (1.4 GB, a 313 MB
/// SVG); now the timeline holds at most 2048 bins.
#[test]
fn slow_steps_keep_the_timeline_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "slow.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 1, "arrivals": {"kind": "constant", "rate_per_s": 1},
                "input_tokens": {"kind": "fixed", "value": 100}, "output_tokens": {"kind": "fixed", "value": 10}}},
            "perf": {"compute_efficiency": 1e-8, "memory_efficiency": 1e-8}}"#,
    );
    let out = tmp.path().join("o");
    let o = fleetsim(&["run", &s, "--out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert!(v["sim"]["simulated_s"].as_f64().unwrap() > 1e5);
    let rows = std::fs::read_to_string(out.join("timeline.csv"))
        .unwrap()
        .lines()
        .count();
    assert!(rows <= 2049, "{rows} timeline rows");
    assert!(std::fs::metadata(out.join("timeline.svg")).unwrap().len() < 2_000_000);
}

/// Prompts longer than the model accepts once had their prefix ids built in full (200 requests
/// on a 10M-token document: 1.0 GB); they are rejected with a reason, and latencies of a run
/// that completed nothing are null (shown as "-"), not zeros.
#[test]
fn rejected_long_documents_and_empty_latencies() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "docs.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 200, "arrivals": {"kind": "poisson", "rate_per_s": 20},
                "input_tokens": {"kind": "fixed", "value": 256}, "output_tokens": {"kind": "fixed", "value": 64},
                "prefix": {"kind": "document_qa", "documents": 1, "document_tokens": {"kind": "fixed", "value": 10000000}}}}}"#,
    );
    let out = tmp.path().join("o");
    let o = fleetsim(&["run", &s, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(v["requests"]["rejected"], 200);
    assert!(v["latency"]["ttft_s"].is_null() && v["latency"]["e2e_s"].is_null());
    assert_eq!(v["stability"]["overloaded"], false);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("ttft_s       -"), "{text}");
    assert!(!stderr(&o).contains("OVERLOADED"));
}

/// Conversations whose system prompt is past the context limit: a prompt of 4,294,967,295 tokens
/// once had its prefix ids built (2 GB a turn) until allocation failed (fuzzer seed 17, abort);
/// now it is refused, naming the field. Under the limit but past the model's context, the turns
/// (which every replica rejects) get no ids: 9 million tokens took 4.5 MB a turn before.
#[test]
fn a_system_prompt_past_the_context_limit_is_refused_or_costs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = |system: u64, context: u64| {
        format!(
            r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"synthetic": {{"requests": 20, "arrivals": {{"kind": "poisson", "rate_per_s": 1.5}},
                "input_tokens": {{"kind": "fixed", "value": 250}}, "output_tokens": {{"kind": "fixed", "value": 200}},
                "prefix": {{"kind": "sessions", "turns": {{"kind": "uniform", "min": 2, "max": 10}},
                    "think_time_s": 20, "system_prompt_tokens": {system}, "max_context_tokens": {context}}}}}}},
            "fleet": {{"replicas": 2, "router": "session-affinity"}}}}"#
        )
    };
    let s = write(tmp.path(), "huge.json", &scenario(4_294_967_295, 16_384));
    let o = fleetsim(&["run", &s, "--out", tmp.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("huge.json") && e.contains("workload.synthetic.prefix.system_prompt_tokens"),
        "{e}"
    );
    let s = write(tmp.path(), "ctx.json", &scenario(16_384, 4_294_967_295));
    let o = fleetsim(&["run", &s, "--out", tmp.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("prefix.max_context_tokens"),
        "{}",
        stderr(&o)
    );
    let spec = fleetsim::scenario::Scenario::from_json(
        &scenario(9_000_000, 10_000_000),
        std::path::Path::new("<test>"),
    )
    .unwrap()
    .resolve(&root())
    .unwrap();
    assert_eq!(spec.requests().len(), 20);
    assert!(spec.requests().iter().all(|r| r.prefix.is_none()));
    let s = spec.run().summary;
    assert_eq!(s.requests.rejected, 20);
}

/// A file with no line breaks (`/dev/zero`) once was read until allocation failed (abort, status
/// 134); now the line cap stops it with the file and line named, for traces and scenarios.
#[test]
fn endless_lines_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for format in ["azure", "jsonl", "mooncake", "burstgpt"] {
        let s = write(
            tmp.path(),
            "z.json",
            &format!(
                r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm",
                    "workload": {{"trace": {{"path": "/dev/zero", "format": "{format}"}}}}}}"#
            ),
        );
        let o = fleetsim(&["run", &s, "--out", tmp.path().join("o").to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{format}");
        let e = stderr(&o);
        assert!(
            e.contains("/dev/zero") && e.contains("line 1 is longer than 8 MiB"),
            "{format}: {e}"
        );
    }
    let o = fleetsim(&[
        "run",
        "/dev/zero",
        "--out",
        tmp.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("larger than 64 MiB"), "{}", stderr(&o));
}

/// A timestamp past 2262 once overflowed and rows disappeared under a wrong "sorted" note;
/// impossible dates were accepted. Now each is refused with file, line and field.
#[test]
fn impossible_azure_dates_name_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    for (bad, why) in [
        ("2300-01-01 00:00:00", "year 2300 is outside 1900..=2200"),
        ("2023-02-31 00:00:00", "2023-02 has 28 days, not 31"),
        ("2023-11-16 -3:00:00", "hour `-3` is not a whole number"),
    ] {
        let csv = write(
            tmp.path(),
            "t.csv",
            &format!(
                "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03,100,10\n{bad},100,10\n"
            ),
        );
        let o = fleetsim(&["trace", "stats", &csv, "--format", "azure"]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let e = stderr(&o);
        assert!(
            e.contains("t.csv:3") && e.contains("TIMESTAMP") && e.contains(why),
            "{bad}: {e}"
        );
    }
}

/// `fleetsim catalog | head -1` once panicked on the broken pipe (exit 101); a closed stdout now
/// ends the program quietly (by SIGPIPE, as Unix tools do).
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .arg("catalog")
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!e.contains("panicked"), "{e}");
    assert_ne!(o.status.code(), Some(101));
}

/// Gamma arrivals with a CV of 1e-160 once panicked inside the Gamma sampler (exit 101); the
/// derived parameters are now checked. A missing trace says where it was looked for.
#[test]
fn derived_parameters_and_missing_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "g.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 5, "arrivals": {"kind": "gamma", "rate_per_s": 1, "cv": 1e-160},
                "input_tokens": {"kind": "fixed", "value": 5}, "output_tokens": {"kind": "fixed", "value": 5}}}}"#,
    );
    let o = fleetsim(&["run", &s, "--out", tmp.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("workload.synthetic.arrivals.cv") && e.contains("1e-160"),
        "{e}"
    );
    let s = write(
        tmp.path(),
        "m.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"trace": {"path": "no-such-trace.csv", "format": "azure"}}}"#,
    );
    let o = fleetsim(&["run", &s, "--out", tmp.path().join("o").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("workload.trace.path")
            && e.contains("current directory")
            && e.contains("scenario's folder"),
        "{e}"
    );
}

/// User strings that a spreadsheet would evaluate (`=`, `+`, `-`, `@`) are written quoted in
/// sweep.csv and plan.csv; numbers, negative ones included, are left as numbers.
#[test]
fn csv_cells_from_user_strings_are_not_formulas() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "f.json",
        r#"{"model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 20, "arrivals": {"kind": "poisson", "rate_per_s": 1},
                "input_tokens": {"kind": "fixed", "value": 50}, "output_tokens": {"kind": "fixed", "value": 5}}},
            "slo": {"ttft_s": 5},
            "cost": {"apis": ["=HYPERLINK(\"x\")"], "api_prices": {"=HYPERLINK(\"x\")": {"input": 0.001, "output": 0.001}}}}"#,
    );
    let out = tmp.path().join("s");
    let o = fleetsim(&["sweep", &s, "--out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    for rec in csv::Reader::from_reader(csv.as_bytes()).records() {
        for cell in rec.unwrap().iter() {
            assert!(!cell.starts_with('='), "{cell}");
        }
    }
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    let out = tmp.path().join("p");
    let o = fleetsim(&[
        "plan",
        &s,
        "--out",
        out.to_str().unwrap(),
        "--volumes",
        "1",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("plan.csv")).unwrap();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    assert!(r.headers().unwrap().iter().all(|h| !h.starts_with('=')));
    for rec in r.records() {
        for cell in rec.unwrap().iter() {
            assert!(!cell.starts_with('='), "{cell}");
        }
    }
}

/// `--no-requests` and `--no-charts` leave out requests.csv and the timeline pictures (for
/// million-request runs), and nothing else.
#[test]
fn run_can_leave_out_requests_and_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = fleetsim(&[
        "run",
        "examples/md1-poisson.json",
        "--out",
        out.to_str().unwrap(),
        "--no-requests",
        "--no-charts",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (f, there) in [
        ("summary.json", true),
        ("timeline.csv", true),
        ("report.html", true),
        ("requests.csv", false),
        ("timeline.png", false),
        ("timeline.svg", false),
    ] {
        assert_eq!(out.join(f).exists(), there, "{f}");
    }
}

/// The sweep journal: a sweep killed after some points (its journal cut mid-line) and resumed
/// with `--resume` runs only the missing points and gives byte-identical summaries; a journal
/// from another sweep is refused.
#[test]
fn resumed_sweep_matches_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "s.json",
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"trace": {"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
                                   "format": "azure", "rate_scale": 8.0, "limit": 1500}},
            "slo": {"ttft_s": 2, "tpot_s": 0.1},
            "sweep": {"replicas": "1..=5"}}"#,
    );
    let full = tmp.path().join("full");
    let o = fleetsim(&["sweep", &s, "--out", full.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let journal = std::fs::read_to_string(full.join("points.jsonl")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    assert_eq!(lines.len(), 5);
    // Interrupted: two points done, a third cut short.
    let part = tmp.path().join("part");
    std::fs::create_dir(&part).unwrap();
    let cut = format!(
        "{}\n{}\n{}",
        lines[0],
        lines[1],
        &lines[2][..lines[2].len() / 2]
    );
    std::fs::write(part.join("points.jsonl"), cut).unwrap();
    let o = fleetsim(&[
        "sweep",
        &s,
        "--out",
        part.to_str().unwrap(),
        "-q",
        "--resume",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("resuming: 2 of 5 points"),
        "{}",
        stderr(&o)
    );
    for f in ["sweep.json", "sweep.csv", "smallest_fleets.json"] {
        assert_eq!(
            std::fs::read(part.join(f)).unwrap(),
            std::fs::read(full.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(part.join("points.jsonl"))
            .unwrap()
            .lines()
            .count(),
        5
    );
    // Another sweep's journal (other replica counts) is refused, naming the file and line.
    let o = fleetsim(&[
        "sweep",
        &s,
        "--out",
        full.to_str().unwrap(),
        "-q",
        "--resume",
        "--replicas",
        "2,4",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("points.jsonl:1") && e.contains("another sweep"),
        "{e}"
    );
}

/// A long run reports progress on stderr (thresholds lowered here so a short run shows it), and
/// `--quiet` silences it.
#[test]
fn long_runs_report_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let run = |quiet: bool| {
        let mut args = vec![
            "run",
            "examples/md1-poisson.json",
            "--out",
            out.to_str().unwrap(),
        ];
        if quiet {
            args.push("-q");
        }
        Command::new(env!("CARGO_BIN_EXE_fleetsim"))
            .args(&args)
            .current_dir(root())
            .env("FLEETSIM_PROGRESS_AFTER_S", "0")
            .env("FLEETSIM_PROGRESS_EVERY_S", "0")
            .output()
            .unwrap()
    };
    let e = stderr(&run(false));
    assert!(
        e.contains("progress: ") && e.contains("requests finished"),
        "{e}"
    );
    assert!(!stderr(&run(true)).contains("progress: "));
}

/// Values chosen from a list are kebab-case; the snake_case spellings scenarios used before
/// (and the old `cost.plan` key) still read the same.
#[test]
fn kebab_case_values_and_their_old_snake_case_spellings_read_the_same() {
    use fleetsim::scenario::Scenario;
    let scenario = |policy: &str, kind: &str, arrivals: &str, pricing_key: &str| {
        let json = format!(
            r#"{{"model": "llama-3.1-8b", "gpu": "h100-sxm",
                "workload": {{"synthetic": {{"requests": 3,
                    "arrivals": {{"kind": "{arrivals}", "on_rate_per_s": 4, "off_rate_per_s": 1, "mean_on_s": 1, "mean_off_s": 1}},
                    "input_tokens": {{"kind": "fixed", "value": 64}}, "output_tokens": {{"kind": "fixed", "value": 4}},
                    "prefix": {{"kind": "{kind}", "count": 2, "tokens": {{"kind": "fixed", "value": 32}}}}}}}},
                "replica": {{"scheduler_policy": "{policy}"}},
                "cost": {{"{pricing_key}": "spot"}}}}"#
        );
        Scenario::from_json(&json, std::path::Path::new("s.json")).unwrap()
    };
    let new = scenario("guaranteed-no-evict", "system-prompts", "on-off", "pricing");
    let old = scenario("guaranteed_no_evict", "system_prompts", "on_off", "plan");
    let as_json = |s: &Scenario| serde_json::to_string(s).unwrap();
    assert_eq!(as_json(&new), as_json(&old));
    assert!(as_json(&new).contains(r#""scheduler_policy":"guaranteed-no-evict""#));
    assert!(as_json(&new).contains(r#""pricing":"spot""#));
    // Names looked up in tables (routers, on the command line too) take either spelling.
    let r: fleetsim::fleet::RouterKind = "least_outstanding".parse().unwrap();
    assert_eq!(r.name(), "least-outstanding");
}
