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
    let mut sink = RowSink::new(path, opts);
    table.for_each(path, |line, rec| {
        let row = (|| {
            let ts = field(path, line, rec, c_ts, "TIMESTAMP")?;
            let t_ns = parse_datetime_ns(ts).map_err(|why| {
                parse_err(
                    path,
                    line,
                    "TIMESTAMP",
                    format!(
                        "expected a date-time `YYYY-MM-DD HH:MM:SS[.fraction]`, got `{ts}`: {why}"
                    ),
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

/// Years a timestamp may carry: nanoseconds since 1970 in an `i64` end in 2262.
pub const YEARS: std::ops::RangeInclusive<i64> = 1900..=2200;

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f...]` (or with a `T` separator) as nanoseconds since the Unix
/// epoch, treating it as UTC. Fractions longer than nanoseconds are truncated. An impossible
/// date or time (`2023-02-31`, hour 24, a negative field, a year outside [`YEARS`]) is an error
/// that says what is wrong.
pub fn parse_datetime_ns(s: &str) -> std::result::Result<i64, String> {
    let s = s.trim();
    let shape = || "not a date and time".to_string();
    let (date, time) = s.split_once([' ', 'T']).ok_or_else(shape)?;
    let num = |x: Option<&str>, what: &str| -> std::result::Result<i64, String> {
        let x = x.ok_or_else(shape)?;
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("the {what} `{x}` is not a whole number"));
        }
        x.parse::<i64>()
            .map_err(|_| format!("the {what} `{x}` is out of range"))
    };
    let mut d = date.split('-');
    let year = num(d.next(), "year")?;
    let month = num(d.next(), "month")?;
    let day = num(d.next(), "day")?;
    if d.next().is_some() {
        return Err(shape());
    }
    if !YEARS.contains(&year) {
        return Err(format!(
            "year {year} is outside {}..={}",
            YEARS.start(),
            YEARS.end()
        ));
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} is not 1..=12"));
    }
    let dim = days_in_month(year, month);
    if !(1..=dim).contains(&day) {
        return Err(format!("{year}-{month:02} has {dim} days, not {day}"));
    }
    let time = time.trim_end_matches('Z');
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let h = num(t.next(), "hour")?;
    let m = num(t.next(), "minute")?;
    let sec = num(t.next(), "second")?;
    if t.next().is_some() {
        return Err(shape());
    }
    if h > 23 || m > 59 || sec > 60 {
        return Err(format!("{h:02}:{m:02}:{sec:02} is not a time of day"));
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("the fraction `{frac}` is not digits"));
    }
    let mut ns: i64 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        ns += (c as i64 - '0' as i64) * 10i64.pow(8 - i as u32);
    }
    let days = days_from_civil(year, month, day);
    Ok(((days * 86_400 + h * 3600 + m * 60 + sec) * 1_000_000_000) + ns)
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
        // The latest accepted year stays far from the end of i64 nanoseconds.
        assert!(parse_datetime_ns("2200-12-31 23:59:60.999999999").unwrap() > a);
        let b = parse_datetime_ns("2023-11-16 18:17:04.0319600").unwrap();
        assert_eq!(b - a, 52_000_000);
        assert_eq!(parse_datetime_ns("1970-01-01 00:00:01"), Ok(1_000_000_000));
        assert_eq!(
            parse_datetime_ns("2024-03-01 00:00:00").unwrap() / 1_000_000_000,
            1709251200
        );
        assert!(parse_datetime_ns("2023-13-01 00:00:00").is_err());
        assert!(parse_datetime_ns("yesterday").is_err());
        for (bad, why) in [
            ("2023-02-31 00:00:00", "2023-02 has 28 days"),
            ("2023-02-29 00:00:00", "has 28 days"),
            ("2300-01-01 00:00:00", "year 2300 is outside"),
            ("2023-11-16 -1:00:00", "hour `-1`"),
            ("2023-11-16 24:00:00", "not a time of day"),
            ("2023-04-31 00:00:00", "has 30 days"),
        ] {
            let e = parse_datetime_ns(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(parse_datetime_ns("2024-02-29 00:00:00").is_ok());
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
