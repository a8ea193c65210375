//! Empirical lengths: sampled with replacement from a trace's lengths.

use std::path::Path;

use rand::rngs::StdRng;
use rand::Rng;

use super::{LengthColumn, LengthDist};
use crate::error::{Error, Result};
use crate::workload::readers::{self, ReadOptions};
use crate::workload::trace::TraceFormat;

/// Draws lengths from a list observed in a trace.
#[derive(Debug)]
pub struct Empirical {
    values: Vec<u32>,
}

impl Empirical {
    /// From the `column` lengths of the trace at `path`.
    pub fn from_trace(path: &Path, format: TraceFormat, column: LengthColumn) -> Result<Empirical> {
        let raw = readers::read(format, path, &ReadOptions::default())?;
        let values: Vec<u32> = raw
            .rows
            .iter()
            .map(|r| match column {
                LengthColumn::Input => r.input_tokens,
                LengthColumn::Output => r.output_tokens,
            })
            .collect();
        if values.is_empty() {
            return Err(Error::Input {
                path: path.to_path_buf(),
                msg: "no lengths to sample from".into(),
            });
        }
        Ok(Empirical { values })
    }
}

impl LengthDist for Empirical {
    fn sample(&mut self, rng: &mut StdRng) -> u32 {
        self.values[rng.gen_range(0..self.values.len())]
    }
}
