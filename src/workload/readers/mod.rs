//! Trace readers, one file per format. Each turns a file into [`RawRow`]s (timestamps as read,
//! nanoseconds) and stops at the first malformed line with an error naming file, line and field,
//! unless asked to skip bad lines, in which case it counts them in the notes.

pub mod azure;
pub mod burstgpt;
pub mod jsonl;
pub mod lengths;
pub mod mooncake;

use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::PrefixIds;
use crate::error::{Error, Result};

/// Trace file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    /// Azure LLM inference trace: CSV `TIMESTAMP,ContextTokens,GeneratedTokens`.
    Azure,
    /// BurstGPT: CSV `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`.
    Burstgpt,
    /// Mooncake: JSON lines with `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
    Mooncake,
    /// Lengths only: CSV `num_prefill_tokens,num_decode_tokens`; arrivals are synthesized.
    Lengths,
    /// fleetsim's own JSON lines (traces/SCHEMA.md).
    Jsonl,
}

impl TraceFormat {
    /// All formats with their names.
    pub const ALL: [(TraceFormat, &'static str); 5] = [
        (TraceFormat::Azure, "azure"),
        (TraceFormat::Burstgpt, "burstgpt"),
        (TraceFormat::Mooncake, "mooncake"),
        (TraceFormat::Lengths, "lengths"),
        (TraceFormat::Jsonl, "jsonl"),
    ];

    /// The format's name as scenarios spell it.
    pub fn name(self) -> &'static str {
        crate::named::name_of(&TraceFormat::ALL, self)
    }

    /// Guesses the format from the first line of a file.
    pub fn detect(path: &Path) -> Result<TraceFormat> {
        use std::io::BufRead;
        let f = crate::input::open_lines(path)?;
        let mut first = String::new();
        std::io::BufReader::new(f)
            .read_line(&mut first)
            .map_err(|e| Error::io(path, e))?;
        let l = first.trim_start_matches('\u{feff}');
        let guess = if l.contains("TIMESTAMP") && l.contains("ContextTokens") {
            Some(TraceFormat::Azure)
        } else if l.contains("Request tokens") {
            Some(TraceFormat::Burstgpt)
        } else if l.contains("num_prefill_tokens") {
            Some(TraceFormat::Lengths)
        } else if l.contains("\"input_length\"") {
            Some(TraceFormat::Mooncake)
        } else if l.contains("\"input_tokens\"") {
            Some(TraceFormat::Jsonl)
        } else {
            None
        };
        guess.ok_or_else(|| Error::Input {
            path: path.to_path_buf(),
            msg: "cannot tell the trace format from the first line; pass --format (azure, burstgpt, mooncake, lengths, jsonl)".into(),
        })
    }
}

impl FromStr for TraceFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<TraceFormat> {
        crate::named::parse(&TraceFormat::ALL, s, "trace format")
    }
}

/// What to do with BurstGPT rows whose response has zero tokens (failed requests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailedPolicy {
    /// Leave them out (they produced no answer), and count them in the notes.
    #[default]
    Drop,
    /// Keep them as prompt-only requests that generate one token: the prompt still cost prefill.
    #[serde(alias = "prefill_only")]
    PrefillOnly,
}

/// Largest token count accepted in a trace; anything bigger is a corrupt value, not a prompt.
pub const MAX_TOKENS: u64 = 10_000_000;

/// One row as read, before windowing and rate scaling.
#[derive(Clone, Debug, PartialEq)]
pub struct RawRow {
    /// Timestamp in nanoseconds on the trace's own clock (0 for formats without one).
    pub t_ns: i64,
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Output tokens.
    pub output_tokens: u32,
    /// Prefix block ids.
    pub prefix: Option<PrefixIds>,
    /// Session id.
    pub session: Option<u64>,
}

/// A reader's output.
#[derive(Clone, Debug, Default)]
pub struct RawTrace {
    /// Rows in file order.
    pub rows: Vec<RawRow>,
    /// Notes for the user (skipped lines, filtered rows).
    pub notes: Vec<String>,
}

/// Options that change what a reader keeps.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Count malformed lines instead of failing.
    pub skip_bad_lines: bool,
    /// BurstGPT model filter.
    pub models: Option<Vec<String>>,
    /// BurstGPT log-type filter.
    pub log_types: Option<Vec<String>>,
    /// BurstGPT failed-request policy.
    pub failed: FailedPolicy,
    /// Streaming: rows go to this channel as they are read instead of into
    /// [`RawTrace::rows`] (a full channel makes the reader wait).
    pub rows: Option<std::sync::mpsc::SyncSender<RawRow>>,
}

/// Reads `path` in `format`.
pub fn read(format: TraceFormat, path: &Path, opts: &ReadOptions) -> Result<RawTrace> {
    match format {
        TraceFormat::Azure => azure::read(path, opts),
        TraceFormat::Burstgpt => burstgpt::read(path, opts),
        TraceFormat::Mooncake => mooncake::read(path, opts),
        TraceFormat::Lengths => lengths::read(path, opts),
        TraceFormat::Jsonl => jsonl::read(path, opts),
    }
}

/// Collects rows, failing on the first bad line or counting bad lines.
pub(crate) struct RowSink<'a> {
    path: &'a Path,
    skip: bool,
    tx: Option<std::sync::mpsc::SyncSender<RawRow>>,
    skipped: u64,
    first_skipped: Option<String>,
    pub(crate) out: RawTrace,
}

impl<'a> RowSink<'a> {
    pub(crate) fn new(path: &'a Path, opts: &ReadOptions) -> RowSink<'a> {
        RowSink {
            path,
            skip: opts.skip_bad_lines,
            tx: opts.rows.clone(),
            skipped: 0,
            first_skipped: None,
            out: RawTrace::default(),
        }
    }

    /// Takes one line's outcome: a row, a deliberate omission (`Ok(None)`), or an error.
    pub(crate) fn take(&mut self, r: Result<Option<RawRow>>) -> Result<()> {
        match r {
            Ok(Some(row)) => match &self.tx {
                Some(tx) => {
                    if tx.send(row).is_err() {
                        // The reader of the stream has what it wanted: stop reading.
                        return Err(Error::config("workload.trace", "stream closed"));
                    }
                }
                None => self.out.rows.push(row),
            },
            Ok(None) => {}
            Err(e @ Error::Parse { .. }) if self.skip => {
                self.skipped += 1;
                if self.first_skipped.is_none() {
                    self.first_skipped = Some(e.to_string());
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> RawTrace {
        if self.skipped > 0 {
            self.out.notes.push(format!(
                "{}: skipped {} malformed line(s); first: {}",
                self.path.display(),
                self.skipped,
                self.first_skipped.unwrap_or_default()
            ));
        }
        self.out
    }
}

pub(crate) fn parse_err(path: &Path, line: u64, field: &str, msg: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        msg: msg.into(),
    }
}

/// Parses a token count: a non-negative integer up to [`MAX_TOKENS`] (a float with no fraction,
/// such as `12.0`, is accepted), at least `min`.
pub(crate) fn parse_tokens(path: &Path, line: u64, field: &str, s: &str, min: u64) -> Result<u32> {
    let s = s.trim();
    let v: u64 = match s.parse::<u64>() {
        Ok(v) => v,
        Err(_) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 => f as u64,
            Ok(f) if f < 0.0 => {
                return Err(parse_err(
                    path,
                    line,
                    field,
                    format!("negative token count {s}"),
                ))
            }
            _ => {
                return Err(parse_err(
                    path,
                    line,
                    field,
                    format!("expected a whole number of tokens, got `{s}`"),
                ))
            }
        },
    };
    check_tokens(path, line, field, v, min)
}

pub(crate) fn check_tokens(path: &Path, line: u64, field: &str, v: u64, min: u64) -> Result<u32> {
    if v < min {
        return Err(parse_err(
            path,
            line,
            field,
            format!("must be at least {min} token(s), got {v}"),
        ));
    }
    if v > MAX_TOKENS {
        return Err(parse_err(
            path,
            line,
            field,
            format!("{v} tokens is beyond any model's context (limit {MAX_TOKENS})"),
        ));
    }
    Ok(v as u32)
}

/// Seconds as f64 to nanoseconds, rejecting negative, non-finite and absurd values.
pub(crate) fn secs_to_ns(path: &Path, line: u64, field: &str, s: f64) -> Result<i64> {
    // About 292 years of nanoseconds fit in i64; a trace timestamp beyond 100 years is corrupt.
    if !s.is_finite() || !(0.0..=3.2e9).contains(&s) {
        return Err(parse_err(
            path,
            line,
            field,
            format!("timestamp {s} s is negative, not finite or beyond 100 years"),
        ));
    }
    Ok((s * 1e9).round() as i64)
}

/// A CSV reader over `path` with column lookup by header name.
pub(crate) struct CsvTable {
    pub(crate) reader: csv::Reader<crate::input::LineCapped<std::fs::File>>,
    pub(crate) header: csv::StringRecord,
}

impl CsvTable {
    pub(crate) fn open(path: &Path) -> Result<CsvTable> {
        let file = crate::input::open_lines(path)?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(file);
        let header = reader.headers().map_err(|e| Error::Input {
            path: path.to_path_buf(),
            msg: format!("cannot read the header: {e}"),
        })?;
        let mut header = header.clone();
        // Strip a UTF-8 byte-order mark from the first column name.
        if let Some(first) = header.get(0) {
            if let Some(stripped) = first.strip_prefix('\u{feff}') {
                let mut fields: Vec<String> = header.iter().map(str::to_string).collect();
                fields[0] = stripped.to_string();
                header = csv::StringRecord::from(fields);
            }
        }
        if header.is_empty() || header.iter().all(str::is_empty) {
            return Err(Error::Input {
                path: path.to_path_buf(),
                msg: "empty file: no header line".into(),
            });
        }
        Ok(CsvTable { reader, header })
    }

    /// Index of a required column.
    pub(crate) fn column(&self, path: &Path, name: &str) -> Result<usize> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::Input {
                path: path.to_path_buf(),
                msg: format!(
                    "missing column `{name}`; the header has: {}",
                    self.header.iter().collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// Iterates records as (1-based line, record or a parse error naming the line).
    pub(crate) fn for_each(
        &mut self,
        path: &Path,
        mut f: impl FnMut(u64, &csv::StringRecord) -> Result<()>,
    ) -> Result<()> {
        let mut rec = csv::StringRecord::new();
        loop {
            let line_hint = self.reader.position().line() + 1;
            match self.reader.read_record(&mut rec) {
                Ok(false) => return Ok(()),
                Ok(true) => {
                    let line = rec.position().map(|p| p.line()).unwrap_or(line_hint);
                    if rec.iter().all(str::is_empty) {
                        continue;
                    }
                    f(line, &rec)?;
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(line_hint);
                    return Err(parse_err(path, line, "(record)", e.to_string()));
                }
            }
        }
    }
}

/// The field at `idx`, or a parse error naming the missing column.
pub(crate) fn field<'r>(
    path: &Path,
    line: u64,
    rec: &'r csv::StringRecord,
    idx: usize,
    name: &str,
) -> Result<&'r str> {
    rec.get(idx)
        .ok_or_else(|| parse_err(path, line, name, "missing (the line has too few fields)"))
}

/// Reads a file's lines with 1-based numbers, for JSON-lines formats.
pub(crate) fn for_each_line(path: &Path, mut f: impl FnMut(u64, &str) -> Result<()>) -> Result<()> {
    use std::io::BufRead;
    let file = crate::input::open_lines(path)?;
    let reader = std::io::BufReader::new(file);
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.map_err(|e| {
            parse_err(
                path,
                line_no,
                "(line)",
                format!("cannot read the line: {e}"),
            )
        })?;
        let l = line.trim().trim_start_matches('\u{feff}');
        if l.is_empty() {
            continue;
        }
        f(line_no, l)?;
    }
    Ok(())
}

/// Parses one JSON line into an object.
pub(crate) fn json_object(
    path: &Path,
    line: u64,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(parse_err(path, line, "(line)", "expected a JSON object")),
        Err(e) => Err(parse_err(
            path,
            line,
            "(line)",
            format!("invalid JSON: {e}"),
        )),
    }
}

/// A required non-negative integer field of a JSON object.
pub(crate) fn json_u64(
    path: &Path,
    line: u64,
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<u64> {
    match obj.get(key) {
        None => Err(parse_err(path, line, key, "missing")),
        Some(v) => json_as_u64(path, line, key, v),
    }
}

pub(crate) fn json_as_u64(path: &Path, line: u64, key: &str, v: &serde_json::Value) -> Result<u64> {
    if let Some(u) = v.as_u64() {
        return Ok(u);
    }
    if let Some(f) = v.as_f64() {
        if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 {
            return Ok(f as u64);
        }
        if f < 0.0 {
            return Err(parse_err(path, line, key, format!("negative value {v}")));
        }
    }
    Err(parse_err(
        path,
        line,
        key,
        format!("expected a non-negative integer, got {v}"),
    ))
}

/// A required non-negative number field of a JSON object.
pub(crate) fn json_f64(
    path: &Path,
    line: u64,
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<f64> {
    match obj.get(key) {
        None => Err(parse_err(path, line, key, "missing")),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| parse_err(path, line, key, format!("expected a number, got {v}"))),
    }
}

/// A list of non-negative integer ids.
pub(crate) fn json_ids(
    path: &Path,
    line: u64,
    key: &str,
    v: &serde_json::Value,
) -> Result<Vec<u64>> {
    let arr = v.as_array().ok_or_else(|| {
        parse_err(
            path,
            line,
            key,
            format!("expected a list of integers, got {v}"),
        )
    })?;
    arr.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_u64().ok_or_else(|| {
                parse_err(
                    path,
                    line,
                    key,
                    format!("element {i} is not a non-negative integer: {x}"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::io::Write;

    /// Writes `content` to a fresh temporary file with the given suffix.
    pub(crate) fn temp_file(suffix: &str, content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f.flush().unwrap();
        f
    }
}
