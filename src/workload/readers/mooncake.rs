//! Mooncake traces (FAST'25): JSON lines `{"timestamp": ms, "input_length": n, "output_length": m,
//! "hash_ids": [...]}`, one hash id per 512-token block of the prompt, chained, so that equal ids
//! at the same position mean the same prefix.

use std::path::Path;

use super::{
    check_tokens, for_each_line, json_ids, json_object, json_u64, parse_err, RawRow, RawTrace,
    ReadOptions, RowSink,
};
use crate::error::Result;
use crate::workload::PrefixIds;

/// Tokens one Mooncake hash id covers.
pub const MOONCAKE_BLOCK_TOKENS: u32 = 512;

/// Reads a Mooncake trace.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<RawTrace> {
    let mut sink = RowSink::new(path, opts);
    for_each_line(path, |line, text| {
        let row = (|| {
            let obj = json_object(path, line, text)?;
            let ts_ms = json_u64(path, line, &obj, "timestamp")?;
            if ts_ms > 3_200_000_000_000 {
                return Err(parse_err(
                    path,
                    line,
                    "timestamp",
                    format!("{ts_ms} ms is beyond 100 years"),
                ));
            }
            let input = check_tokens(
                path,
                line,
                "input_length",
                json_u64(path, line, &obj, "input_length")?,
                1,
            )?;
            let output = check_tokens(
                path,
                line,
                "output_length",
                json_u64(path, line, &obj, "output_length")?,
                1,
            )?;
            let prefix = match obj.get("hash_ids") {
                None => None,
                Some(v) => {
                    let ids = json_ids(path, line, "hash_ids", v)?;
                    let expected = input.div_ceil(MOONCAKE_BLOCK_TOKENS) as usize;
                    if ids.len() != expected {
                        return Err(parse_err(
                            path,
                            line,
                            "hash_ids",
                            format!(
                                "{} ids for input_length {input}; expected ceil({input}/{MOONCAKE_BLOCK_TOKENS}) = {expected}",
                                ids.len()
                            ),
                        ));
                    }
                    Some(PrefixIds {
                        block_tokens: MOONCAKE_BLOCK_TOKENS,
                        ids,
                    })
                }
            };
            Ok(Some(RawRow {
                t_ns: ts_ms as i64 * 1_000_000,
                input_tokens: input,
                output_tokens: output,
                prefix,
                session: None,
            }))
        })();
        sink.take(row)
    })?;
    Ok(sink.finish())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::temp_file;
    use super::*;

    #[test]
    fn reads_hash_ids_and_checks_their_count() {
        let f = temp_file(
            ".jsonl",
            "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 6, \"hash_ids\": [0, 1]}\n\n{\"timestamp\": 27, \"input_length\": 512, \"output_length\": 4, \"hash_ids\": [0]}\n",
        );
        let t = read(f.path(), &ReadOptions::default()).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].t_ns, 27_000_000);
        assert_eq!(t.rows[0].prefix.as_ref().unwrap().ids, vec![0, 1]);

        for (text, field) in [
            ("{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 6, \"hash_ids\": [0]}", "hash_ids"),
            ("{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 6, \"hash_ids\": [\"a\"]}", "hash_ids"),
            ("{\"timestamp\": -4, \"input_length\": 10, \"output_length\": 6}", "timestamp"),
            ("{\"timestamp\": 1, \"output_length\": 6}", "input_length"),
            ("{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 6", "(line)"),
        ] {
            let f = temp_file(".jsonl", &format!("{{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1}}\n{text}\n"));
            let e = read(f.path(), &ReadOptions::default()).unwrap_err().to_string();
            assert!(e.contains(":2:") && e.contains(field), "{text}: {e}");
        }
    }
}
