//! Routing policies, one per file, chosen by name.

mod least_kv;
mod least_outstanding;
mod prefix_affinity;
mod random;
mod round_robin;
mod session_affinity;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{FleetSpec, Router};
use crate::error::{Error, Result};
use crate::fleet::FleetView;

pub use least_kv::LeastKv;
pub use least_outstanding::LeastOutstanding;
pub use prefix_affinity::PrefixAffinity;
pub use random::RandomRouter;
pub use round_robin::RoundRobin;
pub use session_affinity::SessionAffinity;

/// Router names.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum RouterKind {
    /// Replicas in turn.
    RoundRobin,
    /// Uniformly at random (seeded).
    Random,
    /// Fewest outstanding (waiting + running) requests.
    #[default]
    LeastOutstanding,
    /// Lowest fraction of KV blocks in use.
    LeastKv,
    /// Longest cached prefix, unless that replica is overloaded relative to the least loaded.
    PrefixAffinity,
    /// Consistent hashing of the session id.
    SessionAffinity,
}

impl RouterKind {
    /// All routers with their names.
    pub const ALL: [(RouterKind, &'static str); 6] = [
        (RouterKind::RoundRobin, "round-robin"),
        (RouterKind::Random, "random"),
        (RouterKind::LeastOutstanding, "least-outstanding"),
        (RouterKind::LeastKv, "least-kv"),
        (RouterKind::PrefixAffinity, "prefix-affinity"),
        (RouterKind::SessionAffinity, "session-affinity"),
    ];

    /// The name scenarios use.
    pub fn name(self) -> &'static str {
        crate::named::name_of(&RouterKind::ALL, self)
    }
}

impl fmt::Display for RouterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RouterKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<RouterKind> {
        crate::named::parse(&RouterKind::ALL, s, "router")
    }
}

/// Builds a router.
pub fn build(kind: RouterKind, spec: &FleetSpec, seed: u64) -> Box<dyn Router> {
    match kind {
        RouterKind::RoundRobin => Box::new(RoundRobin::default()),
        RouterKind::Random => Box::new(RandomRouter::new(seed)),
        RouterKind::LeastOutstanding => Box::new(LeastOutstanding),
        RouterKind::LeastKv => Box::new(LeastKv),
        RouterKind::PrefixAffinity => Box::new(PrefixAffinity::new(
            spec.affinity_margin_requests,
            spec.affinity_margin_ratio,
        )),
        RouterKind::SessionAffinity => Box::new(SessionAffinity::new(spec.replicas)),
    }
}

/// The replica with the fewest outstanding requests (lowest index on ties).
pub(crate) fn least_loaded(replicas: &dyn FleetView) -> usize {
    if let Some(i) = replicas.least_loaded() {
        return i;
    }
    let mut best = 0;
    let mut best_load = replicas.get(0).outstanding();
    for i in 1..replicas.len() {
        let load = replicas.get(i).outstanding();
        if load < best_load {
            best = i;
            best_load = load;
        }
    }
    best
}
