//! fleetsim's own JSON-lines trace format (documented in traces/SCHEMA.md):
//! `{"arrival_s": 0.25, "input_tokens": 812, "output_tokens": 64, "session_id": 7,
//!   "prefix_ids": [11, 12, 13], "prefix_block_tokens": 16}`; only the first three keys are required.

use std::path::Path;

use super::{
    check_tokens, for_each_line, json_as_u64, json_f64, json_ids, json_object, json_u64, parse_err,
    secs_to_ns, RawRow, RawTrace, ReadOptions, RowSink,
};
use crate::error::Result;
use crate::workload::PrefixIds;

const KEYS: [&str; 6] = [
    "arrival_s",
    "input_tokens",
    "output_tokens",
    "session_id",
    "prefix_ids",
    "prefix_block_tokens",
];

/// Reads a fleetsim JSONL trace.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<RawTrace> {
    let mut sink = RowSink::new(path, opts);
    for_each_line(path, |line, text| {
        let row = (|| {
            let obj = json_object(path, line, text)?;
            if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
                return Err(parse_err(
                    path,
                    line,
                    k,
                    format!("unknown key; allowed: {}", KEYS.join(", ")),
                ));
            }
            let t_ns = secs_to_ns(
                path,
                line,
                "arrival_s",
                json_f64(path, line, &obj, "arrival_s")?,
            )?;
            let input = check_tokens(
                path,
                line,
                "input_tokens",
                json_u64(path, line, &obj, "input_tokens")?,
                1,
            )?;
            let output = check_tokens(
                path,
                line,
                "output_tokens",
                json_u64(path, line, &obj, "output_tokens")?,
                1,
            )?;
            let session = match obj.get("session_id") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(json_as_u64(path, line, "session_id", v)?),
            };
            let prefix = match obj.get("prefix_ids") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => {
                    let ids = json_ids(path, line, "prefix_ids", v)?;
                    let block = json_u64(path, line, &obj, "prefix_block_tokens")?;
                    // A power of two, as KV block sizes are: one of the two then divides the
                    // other, whatever the replica's block size.
                    if !(block.is_power_of_two() && block <= 1 << 20) {
                        return Err(parse_err(
                            path,
                            line,
                            "prefix_block_tokens",
                            format!("must be a power of two from 1 to 1048576, got {block}"),
                        ));
                    }
                    let block = block as u32;
                    let expected = (input as u64 + output as u64).div_ceil(block as u64) as usize;
                    if ids.len() > expected {
                        return Err(parse_err(
                            path,
                            line,
                            "prefix_ids",
                            format!("{} ids cover more than input_tokens + output_tokens ({}) at {block} tokens each (at most {expected})", ids.len(), input as u64 + output as u64),
                        ));
                    }
                    Some(PrefixIds {
                        block_tokens: block,
                        ids,
                    })
                }
            };
            Ok(Some(RawRow {
                t_ns,
                input_tokens: input,
                output_tokens: output,
                prefix,
                session,
            }))
        })();
        sink.take(row)
    })?;
    Ok(sink.finish())
}

/// Writes `requests` as fleetsim JSONL (the inverse of [`read`]; arrival times to the nanosecond).
pub fn write(path: &Path, requests: &[crate::workload::Request]) -> Result<()> {
    use std::io::Write;
    let f = std::fs::File::create(path).map_err(|e| crate::error::Error::io(path, e))?;
    let mut w = std::io::BufWriter::new(f);
    let io = |e| crate::error::Error::io(path, e);
    for r in requests {
        let ns = r.arrival.as_nanos();
        write!(
            w,
            "{{\"arrival_s\": {}.{:09}, \"input_tokens\": {}, \"output_tokens\": {}",
            ns / 1_000_000_000,
            ns % 1_000_000_000,
            r.input_tokens,
            r.output_tokens
        )
        .map_err(io)?;
        if let Some(s) = r.session {
            write!(w, ", \"session_id\": {s}").map_err(io)?;
        }
        if let Some(p) = &r.prefix {
            let ids: Vec<String> = p.ids.iter().map(u64::to_string).collect();
            write!(
                w,
                ", \"prefix_ids\": [{}], \"prefix_block_tokens\": {}",
                ids.join(", "),
                p.block_tokens
            )
            .map_err(io)?;
        }
        writeln!(w, "}}").map_err(io)?;
    }
    w.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::temp_file;
    use super::*;

    #[test]
    fn reads_optional_fields_and_rejects_unknown_keys() {
        let f = temp_file(
            ".jsonl",
            "{\"arrival_s\": 0.5, \"input_tokens\": 40, \"output_tokens\": 3}\n{\"arrival_s\": 1.0, \"input_tokens\": 40, \"output_tokens\": 3, \"session_id\": 9, \"prefix_ids\": [1,2], \"prefix_block_tokens\": 16}\n",
        );
        let t = read(f.path(), &ReadOptions::default()).unwrap();
        assert_eq!(t.rows[0].t_ns, 500_000_000);
        assert_eq!(t.rows[1].session, Some(9));
        assert_eq!(t.rows[1].prefix.as_ref().unwrap().block_tokens, 16);
        let bad = temp_file(
            ".jsonl",
            "{\"arrival_s\": 0.5, \"input_tokens\": 40, \"output_tokens\": 3, \"colour\": 1}\n",
        );
        let e = read(bad.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1:") && e.contains("colour"), "{e}");
        let bad = temp_file(".jsonl", "{\"arrival_s\": 0.5, \"input_tokens\": 40, \"output_tokens\": 3, \"prefix_ids\": [1,2,3,4,5], \"prefix_block_tokens\": 16}\n");
        let e = read(bad.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("prefix_ids"), "{e}");
    }
}
