//! fleetsim: a discrete-event simulator for sizing LLM serving fleets.
//!
//! It replays request traces (or synthesizes traffic) against a modelled model-server replica
//! with vLLM V1 scheduling semantics: continuous batching, chunked prefill, a paged KV cache with
//! preemption by recompute, and step times from a roofline model of the GPU.
//!
//! The pipeline, one module each:
//! - [`workload`]: requests from trace readers and seeded synthesizers;
//! - [`catalog`]: GPUs and models as data, each figure with its source;
//! - [`perf`]: step time from the batch shape;
//! - [`serving`]: one replica: scheduler and KV block manager with prefix cache;
//! - [`fleet`]: replicas behind a router, and the simulation loop ([`fleet::Simulation`]);
//! - [`engine`]: the event kernel (time, queue, random streams), which knows no LLM;
//! - [`metrics`]: per-request records, SLOs and the [`metrics::Summary`] (with capacity,
//!   utilization and stability);
//! - [`cost`]: GPU, operations and API spend; the idle bill is GPU cost x (1 - utilization);
//! - [`scenario`]: the JSON scenario, validated into a runnable [`scenario::RunSpec`];
//!   [`scenario::capacity`] finds one replica's capacity for a workload by simulation;
//! - [`report`]: exporters (JSON, CSV, text tables).
//!
//! Same scenario and seed give byte-identical outputs.
#![warn(missing_docs)]

pub mod catalog;
pub mod cost;
pub mod engine;
pub mod error;
pub mod fidelity;
pub mod fleet;
pub mod input;
pub mod metrics;
pub mod named;
pub mod perf;
pub mod report;
pub mod scenario;
pub mod serving;
pub mod stats;
pub mod sweep;
pub mod text;
pub mod workload;

pub use engine::{rng, time};
pub use error::{Error, Result};
pub use time::SimTime;
