//! Seeded random streams: one master seed, an independent stream per component, so adding draws
//! to one component (say, lengths) never shifts another's (arrivals).

use rand::rngs::StdRng;
use rand::SeedableRng;

/// The components that draw random numbers, each with its own stream.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// Inter-arrival times.
    Arrivals = 1,
    /// Input lengths.
    InputLengths = 2,
    /// Output lengths.
    OutputLengths = 3,
    /// Prefix structure of synthetic workloads.
    Prefixes = 4,
    /// Routing decisions.
    Router = 5,
    /// The steady Poisson stream a replica's capacity is measured with.
    Capacity = 6,
    /// Spot interruptions.
    Spot = 7,
    /// The steady Poisson stream a whole fleet's capacity is measured with.
    FleetCapacity = 8,
}

/// SplitMix64 finalizer: a cheap bijective mixer used to derive stream seeds.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The RNG for `stream` under master `seed`.
pub fn stream_rng(seed: u64, stream: Stream) -> StdRng {
    StdRng::seed_from_u64(mix64(seed ^ mix64(stream as u64)))
}

/// The `k`-th independent RNG for `stream` under master `seed`; `k` 0 is [`stream_rng`].
pub fn stream_rng_at(seed: u64, stream: Stream, k: u64) -> StdRng {
    if k == 0 {
        stream_rng(seed, stream)
    } else {
        stream_rng(mix64(seed ^ mix64(k.wrapping_add(0x5EED_0000))), stream)
    }
}
