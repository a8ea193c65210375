//! fleetsim: a discrete-event simulator for sizing LLM serving fleets.
//!
//! It replays request traces (or synthesizes traffic) against modelled model-server replicas
//! with vLLM V1 scheduling semantics (continuous batching, chunked prefill, a paged KV cache
//! with prefix caching and preemption by recompute, step times from a roofline model of the
//! GPU), behind a router, and prices the fleet against APIs serving the same requests.
//!
//! # The pipeline, in import order
//! Each module imports only those above it (docs/ARCHITECTURE.md, "Layering"):
//! - [`engine`]: the event kernel (time, queue, seeded random streams); it knows no LLM.
//! - [`catalog`]: GPUs, models, prices and APIs as data, each figure with its source.
//! - [`workload`]: requests from trace readers and seeded synthesizers.
//! - [`perf`]: step time from a batch shape.
//! - [`cost`]: which GPU price applies, API spend with caching rules, the cost report.
//! - [`metrics`]: the recorder a simulation writes, per-replica totals, SLOs, the
//!   [`metrics::Summary`].
//! - [`serving`]: one replica: scheduler, KV blocks, prefix cache.
//! - [`fleet`]: clients, routers (reading replicas through [`fleet::ReplicaView`]) and the
//!   simulation loop ([`fleet::Simulation`]).
//! - [`scenario`]: the JSON a user writes and the one way it becomes a run
//!   ([`scenario::Scenario::prepare`], [`scenario::Prepared::run_spec`]); capacity by simulation.
//! - [`sweep`]: many runs of one workload in parallel, smallest fleets, plans and break-even.
//! - [`fidelity`]: validation against published measurements, calibration, fits.
//! - [`report`]: files and pictures (JSON, CSV, tables, charts, HTML).
//!
//! Same scenario and seed give byte-identical outputs, whatever the thread count.
//!
//! # Example
//! A scenario from JSON, simulated, and a latency figure read off its summary:
//! ```
//! use std::path::Path;
//! use fleetsim::scenario::Scenario;
//!
//! let json = r#"{
//!     "model": "llama-3.1-8b", "gpu": "h100-sxm",
//!     "workload": {"synthetic": {"requests": 200,
//!         "arrivals": {"kind": "poisson", "rate_per_s": 4},
//!         "input_tokens": {"kind": "fixed", "value": 512},
//!         "output_tokens": {"kind": "fixed", "value": 128}}}
//! }"#;
//! let scenario = Scenario::from_json(json, Path::new("example.json"))?;
//! let run = scenario.resolve(Path::new("."))?;
//! let summary = run.run().summary;
//! assert_eq!(summary.requests.completed, 200);
//! // One H100 at 4 requests/s of 512 + 128 tokens is lightly loaded: a fast first token.
//! let p99_ttft_s = summary.latency.ttft_s.p99;
//! assert!(p99_ttft_s > 0.0 && p99_ttft_s < 0.5, "p99 TTFT {p99_ttft_s} s");
//! # Ok::<(), fleetsim::Error>(())
//! ```
//!
//! Where to read next: `scenario/resolve.rs`, `scenario/run.rs`, `fleet/sim.rs`,
//! `serving/replica/step.rs`.

pub mod catalog;
pub mod cost;
pub mod engine;
pub mod error;
pub mod fidelity;
pub mod fleet;
mod input;
pub mod metrics;
mod named;
pub mod perf;
pub mod report;
pub mod scenario;
pub mod serving;
pub mod stats;
pub mod sweep;
mod text;
pub mod workload;

pub use engine::{rng, time};
pub use error::{Error, Result};
pub use time::SimTime;
