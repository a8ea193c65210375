//! Bounded reading of user files: no input can make fleetsim read without end. Line-oriented
//! files (CSV, JSON lines) are read through [`LineCapped`], which fails on a line longer than
//! [`MAX_LINE_BYTES`] (a file with no line breaks, such as `/dev/zero`); whole-file JSON
//! (scenarios, benchmark results, profiles) is read with [`read_text`], which fails past
//! [`MAX_JSON_BYTES`].

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Longest line accepted in a trace or measurement file, bytes (8 MiB: a Mooncake line with
/// tens of thousands of block ids is well under 1 MiB).
pub(crate) const MAX_LINE_BYTES: usize = 8 << 20;

/// Largest whole-file JSON accepted (scenario, benchmark result, profile), bytes.
pub(crate) const MAX_JSON_BYTES: u64 = 64 << 20;

/// A reader that fails with `InvalidData` once a line passes [`MAX_LINE_BYTES`], naming the
/// 1-based line.
#[derive(Debug)]
pub(crate) struct LineCapped<R> {
    inner: R,
    line: u64,
    run: usize,
    max: usize,
}

impl<R: Read> LineCapped<R> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: R) -> LineCapped<R> {
        LineCapped::with_limit(inner, MAX_LINE_BYTES)
    }

    /// Wraps `inner` with a line limit of `max` bytes.
    pub(crate) fn with_limit(inner: R, max: usize) -> LineCapped<R> {
        LineCapped {
            inner,
            line: 1,
            run: 0,
            max,
        }
    }
}

impl<R: Read> Read for LineCapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.line += 1;
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > self.max {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "line {} is longer than {} MiB: not a line-oriented file, or a line with no end",
                            self.line,
                            self.max >> 20
                        ),
                    ));
                }
            }
        }
        Ok(n)
    }
}

/// Opens `path` for line-oriented reading with the line cap.
pub(crate) fn open_lines(path: &Path) -> Result<LineCapped<std::fs::File>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(LineCapped::new(f))
}

/// Reads a whole text file of at most [`MAX_JSON_BYTES`].
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut text = String::new();
    f.take(MAX_JSON_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    if text.len() as u64 > MAX_JSON_BYTES {
        return Err(Error::Input {
            path: path.to_path_buf(),
            msg: format!(
                "larger than {} MiB: not a scenario, benchmark or profile file",
                MAX_JSON_BYTES >> 20
            ),
        });
    }
    Ok(text)
}

/// Resolves a path from a scenario: as given if it exists relative to the current directory
/// (or is absolute), else relative to `base_dir`; if neither exists, the path as given (so the
/// error names what the user wrote).
pub fn resolve_path(p: &Path, base_dir: &Path) -> PathBuf {
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    let alt = base_dir.join(p);
    if alt.exists() {
        alt
    } else {
        p.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_without_end_fails_naming_it() {
        let data = b"a,b\n1,2\n"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', 100));
        let bytes: Vec<u8> = data.collect();
        let mut r = LineCapped::with_limit(&bytes[..], 50);
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        let mut ok = LineCapped::with_limit(&b"abc\ndef\n"[..], 3);
        let mut out = String::new();
        ok.read_to_string(&mut out).unwrap();
        assert_eq!(out, "abc\ndef\n");
    }
}
