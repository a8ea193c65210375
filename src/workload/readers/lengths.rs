//! Length-only traces: CSV with `num_prefill_tokens,num_decode_tokens` (other columns ignored),
//! such as the ShareGPT length statistics. Rows have no times; the trace's arrival process
//! supplies them.

use std::path::Path;

use super::{field, parse_tokens, CsvTable, RawRow, RawTrace, ReadOptions, RowSink};
use crate::error::Result;

/// Reads a length-only CSV.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<RawTrace> {
    let mut table = CsvTable::open(path)?;
    let c_in = table.column(path, "num_prefill_tokens")?;
    let c_out = table.column(path, "num_decode_tokens")?;
    let mut sink = RowSink::new(path, opts);
    table.for_each(path, |line, rec| {
        let row = (|| {
            let input = parse_tokens(
                path,
                line,
                "num_prefill_tokens",
                field(path, line, rec, c_in, "num_prefill_tokens")?,
                1,
            )?;
            let output = parse_tokens(
                path,
                line,
                "num_decode_tokens",
                field(path, line, rec, c_out, "num_decode_tokens")?,
                1,
            )?;
            Ok(Some(RawRow {
                t_ns: 0,
                input_tokens: input,
                output_tokens: output,
                prefix: None,
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
    fn reads_lengths_and_rejects_zero() {
        let f = temp_file(
            ".csv",
            "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n74,918,992,0.08\n290,905,1195,0.32\n",
        );
        let t = read(f.path(), &ReadOptions::default()).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            (t.rows[1].input_tokens, t.rows[1].output_tokens),
            (290, 905)
        );
        let bad = temp_file(".csv", "num_prefill_tokens,num_decode_tokens\n74,0\n");
        let e = read(bad.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("num_decode_tokens"), "{e}");
    }
}
