//! Fidelity: how far fleetsim's predictions can be trusted, and how to make them closer.
//!
//! - [`validate`]: published measurements of 2024-2026 engines re-created and compared
//!   (`fleetsim validate`, docs/VALIDATION.md).
//! - [`published`]: each published measurement of the 2024 engines as a simulation (engine
//!   settings, workload); [`current`]: those of the 2025-2026 engines, and the held-out test set.
//! - [`defaults`]: the per-family step-time defaults refitted to those measurements, and
//!   cross-validated on held-out workloads.
//! - [`steps`]: a profile fitted to a user's measured step times (`fleetsim calibrate steps.csv`).
//! - [`calibrate`]: a profile fitted to a user's serving benchmark runs (`fleetsim calibrate
//!   run.json ...`), each replayed through the simulator.
//! - [`optimize`]: the line search, coordinate descent and Nelder-Mead the fits share.

pub mod calibrate;
pub mod current;
pub mod defaults;
pub mod optimize;
pub mod published;
pub mod steps;
pub mod validate;
