//! The discrete-event kernel, which knows nothing of LLMs: simulated time in integer
//! nanoseconds ([`time`]), an event queue ordered by (time, insertion sequence) ([`queue`]) and
//! seeded random streams ([`rng`]). It imports nothing else of the crate; the fleet simulation
//! loop that uses it lives in [`crate::fleet::sim`].

pub mod queue;
pub mod rng;
pub mod time;

pub use queue::EventQueue;
pub use time::SimTime;
