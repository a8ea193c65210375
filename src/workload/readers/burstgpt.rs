//! BurstGPT traces: CSV `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`,
//! Timestamp in seconds from the start of the trace. A row with zero response tokens is a failed
//! request (the service returned no answer); [`FailedPolicy`] says whether to drop it or keep its
//! prompt as prefill-only work.

use std::path::Path;

use super::FailedPolicy;
use super::{
    field, parse_err, parse_tokens, secs_to_ns, CsvTable, RawRow, RawTrace, ReadOptions, RowSink,
};
use crate::error::Result;

/// Reads a BurstGPT trace.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<RawTrace> {
    let mut table = CsvTable::open(path)?;
    let c_ts = table.column(path, "Timestamp")?;
    let c_model = table.column(path, "Model")?;
    let c_in = table.column(path, "Request tokens")?;
    let c_out = table.column(path, "Response tokens")?;
    let c_log = table.column(path, "Log Type")?;
    let mut sink = RowSink::new(path, opts);
    let (mut filtered, mut failed_dropped, mut failed_kept) = (0u64, 0u64, 0u64);
    table.for_each(path, |line, rec| {
        let row = (|| {
            let model = field(path, line, rec, c_model, "Model")?;
            let log = field(path, line, rec, c_log, "Log Type")?;
            let keep_model = opts
                .models
                .as_ref()
                .is_none_or(|ms| ms.iter().any(|m| m == model));
            let keep_log = opts
                .log_types
                .as_ref()
                .is_none_or(|ls| ls.iter().any(|l| l == log));
            if !(keep_model && keep_log) {
                filtered += 1;
                return Ok(None);
            }
            let ts_text = field(path, line, rec, c_ts, "Timestamp")?;
            let ts: f64 = ts_text.parse().map_err(|_| {
                parse_err(
                    path,
                    line,
                    "Timestamp",
                    format!("expected seconds, got `{ts_text}`"),
                )
            })?;
            let t_ns = secs_to_ns(path, line, "Timestamp", ts)?;
            let input = parse_tokens(
                path,
                line,
                "Request tokens",
                field(path, line, rec, c_in, "Request tokens")?,
                0,
            )?;
            let output = parse_tokens(
                path,
                line,
                "Response tokens",
                field(path, line, rec, c_out, "Response tokens")?,
                0,
            )?;
            if input == 0 {
                return Err(parse_err(
                    path,
                    line,
                    "Request tokens",
                    "a request needs at least 1 prompt token",
                ));
            }
            let output = if output == 0 {
                match opts.failed {
                    FailedPolicy::Drop => {
                        failed_dropped += 1;
                        return Ok(None);
                    }
                    FailedPolicy::PrefillOnly => {
                        failed_kept += 1;
                        1
                    }
                }
            } else {
                output
            };
            Ok(Some(RawRow {
                t_ns,
                input_tokens: input,
                output_tokens: output,
                prefix: None,
                session: None,
            }))
        })();
        sink.take(row)
    })?;
    let mut out = sink.finish();
    if filtered > 0 {
        out.notes.push(format!(
            "{}: {filtered} rows left out by the model/log-type filter",
            path.display()
        ));
    }
    if failed_dropped > 0 {
        out.notes.push(format!(
            "{}: {failed_dropped} failed requests (0 response tokens) dropped",
            path.display()
        ));
    }
    if failed_kept > 0 {
        out.notes.push(format!(
            "{}: {failed_kept} failed requests (0 response tokens) kept as prefill-only (1 output token)",
            path.display()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::temp_file;
    use super::*;

    const SAMPLE: &str = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
5,ChatGPT,472,18,490,Conversation log\n\
45,ChatGPT,1087,0,1087,Conversation log\n\
118,GPT-4,417,276,693,API log\n\
130,ChatGPT,100,50,150,API log\n";

    #[test]
    fn filters_and_failed_policy() {
        let f = temp_file(".csv", SAMPLE);
        let all = read(f.path(), &ReadOptions::default()).unwrap();
        assert_eq!(all.rows.len(), 3, "failed row dropped by default");
        assert!(all.notes.iter().any(|n| n.contains("1 failed")));
        let kept = read(
            f.path(),
            &ReadOptions {
                failed: FailedPolicy::PrefillOnly,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(kept.rows.len(), 4);
        assert_eq!(kept.rows[1].output_tokens, 1);
        assert_eq!(kept.rows[1].input_tokens, 1087);
        let chat_conv = read(
            f.path(),
            &ReadOptions {
                models: Some(vec!["ChatGPT".into()]),
                log_types: Some(vec!["Conversation log".into()]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(chat_conv.rows.len(), 1);
        assert_eq!(chat_conv.rows[0].t_ns, 5_000_000_000);
    }

    #[test]
    fn bad_timestamp_names_line_and_field() {
        let f = temp_file(
            ".csv",
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,ChatGPT,3,4,7,API log\nx,ChatGPT,3,4,7,API log\n",
        );
        let e = read(f.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3:") && e.contains("Timestamp"), "{e}");
    }
}
