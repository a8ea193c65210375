//! Azure LLM inference traces (2023 and 2024): CSV `TIMESTAMP,ContextTokens,GeneratedTokens`,
//! where TIMESTAMP is a naive date-time such as `2023-11-16 18:17:03.9799600`.

use std::path::Path;

use super::{field, parse_err, parse_tokens, CsvTable, RawRow, RawTrace, ReadOptions, RowSink};
use crate::error::Result;

/// Reads an Azure trace.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<RawTrace> {
    let mut table = CsvTable::open(path)?;
    let c_ts = table.column(path, "TIMESTAMP")?;
    let c_in = table.column(path, "ContextTokens")?;
    let c_out = table.column(path, "GeneratedTokens")?;
    let mut sink = RowSink::new(path, opts.skip_bad_lines);
    table.for_each(path, |line, rec| {
        let row = (|| {
            let ts = field(path, line, rec, c_ts, "TIMESTAMP")?;
            let t_ns = parse_datetime_ns(ts).ok_or_else(|| {
                parse_err(
                    path,
                    line,
                    "TIMESTAMP",
                    format!("expected `YYYY-MM-DD HH:MM:SS[.fraction]`, got `{ts}`"),
                )
            })?;
            let input = parse_tokens(
                path,
                line,
                "ContextTokens",
                field(path, line, rec, c_in, "ContextTokens")?,
                1,
            )?;
            let output = parse_tokens(
                path,
                line,
                "GeneratedTokens",
                field(path, line, rec, c_out, "GeneratedTokens")?,
                1,
            )?;
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
    Ok(sink.finish())
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f...]` (or with a `T` separator) as nanoseconds since the Unix
/// epoch, treating it as UTC. Fractions longer than nanoseconds are truncated.
pub fn parse_datetime_ns(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let time = time.trim_end_matches('Z');
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let m: i64 = t.next()?.parse().ok()?;
    let sec: i64 = t.next()?.parse().ok()?;
    if t.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut ns: i64 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        ns += (c as i64 - '0' as i64) * 10i64.pow(8 - i as u32);
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + h * 3600 + m * 60 + sec) * 1_000_000_000) + ns)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::super::test_util::temp_file;
    use super::*;

    #[test]
    fn datetime_parses_with_100ns_digits() {
        let a = parse_datetime_ns("2023-11-16 18:17:03.9799600").unwrap();
        let b = parse_datetime_ns("2023-11-16 18:17:04.0319600").unwrap();
        assert_eq!(b - a, 52_000_000);
        assert_eq!(
            parse_datetime_ns("1970-01-01 00:00:01"),
            Some(1_000_000_000)
        );
        assert_eq!(
            parse_datetime_ns("2024-03-01 00:00:00").unwrap() / 1_000_000_000,
            1709251200
        );
        assert!(parse_datetime_ns("2023-13-01 00:00:00").is_none());
        assert!(parse_datetime_ns("yesterday").is_none());
    }

    #[test]
    fn reads_rows_and_names_bad_fields() {
        let f = temp_file(
            ".csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n",
        );
        let t = read(f.path(), &ReadOptions::default()).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].input_tokens, 4808);
        assert_eq!(t.rows[1].output_tokens, 8);

        let bad = temp_file(
            ".csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,12,3\n2023-11-16 18:17:04.03,abc,8\n",
        );
        let e = read(bad.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3:") && e.contains("ContextTokens") && e.contains("abc"),
            "{e}"
        );
        let skipped = read(
            bad.path(),
            &ReadOptions {
                skip_bad_lines: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(skipped.rows.len(), 1);
        assert!(
            skipped.notes[0].contains("skipped 1"),
            "{:?}",
            skipped.notes
        );

        let neg = temp_file(
            ".csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03,-5,3\n",
        );
        let e = read(neg.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("negative"), "{e}");
        let missing = temp_file(".csv", "TIMESTAMP,Context\n2023-11-16 18:17:03,5\n");
        let e = read(missing.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing column `ContextTokens`"), "{e}");
        let empty = temp_file(".csv", "");
        let e = read(empty.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
    }
}
