//! The journal of a sweep (`points.jsonl`): every finished point, appended and flushed as it
//! finishes, so a long sweep loses nothing when stopped and `--resume` skips what it holds.

use super::{axes_of, Point, PointResult};
use crate::error::{Error, Result};

/// The journal of a sweep: `points.jsonl` in the output folder, one finished point per line
/// (its [`PointResult`] as compact JSON, in the order points finish), appended and flushed as
/// each point finishes. It is the source of truth: sweep.json, sweep.csv and
/// smallest_fleets.json are rebuilt from it, and `--resume` skips the points it holds.
#[derive(Debug)]
pub struct PointLog {
    path: std::path::PathBuf,
    file: std::fs::File,
}

/// The file name of the journal.
pub const POINT_LOG: &str = "points.jsonl";

impl PointLog {
    /// Starts a new journal in `dir` (an old one is replaced).
    pub fn create(dir: &std::path::Path) -> Result<PointLog> {
        let path = dir.join(POINT_LOG);
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(PointLog { path, file })
    }

    /// Reopens the journal in `dir` for a sweep of `points`: returns the finished points it holds
    /// (each checked against the point of the same index: a journal of another sweep is an
    /// error) and appends from there. A last line cut short by a kill is dropped; a missing
    /// journal is an empty one.
    pub fn resume(dir: &std::path::Path, points: &[Point]) -> Result<(PointLog, Vec<PointResult>)> {
        use std::io::{BufRead, Seek};
        let path = dir.join(POINT_LOG);
        if !path.exists() {
            return Ok((PointLog::create(dir)?, Vec::new()));
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut done: Vec<PointResult> = Vec::new();
        let mut seen = vec![false; points.len()];
        let mut good_end = 0u64;
        {
            let mut reader = std::io::BufReader::new(crate::input::LineCapped::new(&mut file));
            let mut line = String::new();
            let mut line_no = 0u64;
            let mut offset = 0u64;
            loop {
                line.clear();
                let n = reader
                    .read_line(&mut line)
                    .map_err(|e| Error::io(&path, e))?;
                if n == 0 {
                    break;
                }
                line_no += 1;
                offset += n as u64;
                let complete = line.ends_with('\n');
                let text = line.trim();
                if text.is_empty() {
                    good_end = offset;
                    continue;
                }
                let r: PointResult = match serde_json::from_str(text) {
                    Ok(r) => r,
                    // A kill mid-write leaves a partial last line: drop it.
                    Err(_) if !complete => break,
                    Err(e) => {
                        return Err(Error::Parse {
                            path: path.clone(),
                            line: line_no,
                            field: "(point)".into(),
                            msg: format!("not a finished sweep point: {e}"),
                        })
                    }
                };
                let want = points.get(r.point).map(axes_of);
                if want.as_ref() != Some(&r.axes) {
                    return Err(Error::Parse {
                        path: path.clone(),
                        line: line_no,
                        field: "axes".into(),
                        msg: format!(
                            "point {} of the journal does not match point {} of this sweep: the journal is from another sweep; remove it or write to another --out",
                            r.point, r.point
                        ),
                    });
                }
                if !seen[r.point] {
                    seen[r.point] = true;
                    done.push(r);
                }
                good_end = offset;
            }
        }
        file.set_len(good_end).map_err(|e| Error::io(&path, e))?;
        file.seek(std::io::SeekFrom::End(0))
            .map_err(|e| Error::io(&path, e))?;
        Ok((PointLog { path, file }, done))
    }

    /// Appends a finished point and flushes it to the file.
    pub fn append(&mut self, r: &PointResult) -> Result<()> {
        use std::io::Write;
        let mut line = serde_json::to_string(r)
            .map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}
