//! What a simulation measures: per-request timestamps and per-step samples are taken by the
//! [`Recorder`] as the simulation runs; [`Summary`] reduces them to the figures in summary.json.
//!
//! Definitions follow vLLM's benchmark: TTFT = first token - arrival (queueing included);
//! TPOT = (E2E - TTFT) / (output tokens - 1); ITL = gaps between consecutive tokens of a request;
//! E2E = last token - arrival; queue = first scheduled - arrival.

pub mod pools;
pub mod recorder;
pub mod slo;
pub mod summary;
pub mod timeline;
pub mod totals;

pub use pools::{OverflowReport, PoolReport, PoolTimeline};
pub use recorder::{Recorder, RejectReason, RequestRecord, Status};
pub use slo::{SloFold, SloReport, SloSpec};
pub use summary::{
    Band, BandPoint, Capacity, Dist, FleetCapacity, RequestFold, Samples, Setup, Stability, Summary,
};
pub use timeline::{Timeline, TimelineRecorder};
pub use totals::ReplicaTotals;
