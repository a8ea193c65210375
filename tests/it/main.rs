//! The integration test binary: CLI behaviour, determinism, agreement with queueing theory, and
//! the trace readers on the shipped files.

mod capacity;
mod cli;
mod elastic;
mod engines;
mod fleet;
mod fleet_index;
mod fuzz;
mod hardening;
mod prefix;
mod properties;
mod readers;
mod report;
mod run_ahead;
mod stream;
mod theory;
mod util;
