//! The discrete-event engine: an event queue ordered by (time, insertion sequence) and the loop
//! that feeds arrivals to replicas and completes their steps.

pub mod queue;
pub mod sim;

pub use queue::EventQueue;
pub use sim::{Event, SimOutput, Simulation};
