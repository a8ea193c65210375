//! Small statistics helpers shared by metrics and trace statistics.

/// Percentile by linear interpolation between closest ranks (numpy's default, which vLLM's
/// benchmark uses). `sorted` must be ascending; `p` in 0..=100. Empty input gives 0.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Mean of a slice (0 for empty).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Coefficient of variation (population standard deviation over mean); 0 when undefined.
pub fn cv(xs: &[f64]) -> f64 {
    let m = mean(xs);
    if xs.len() < 2 || m == 0.0 {
        return 0.0;
    }
    let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
    var.sqrt() / m
}

/// Values below this many nanoseconds get one bucket each.
const EXACT_NS: u64 = 1024;
/// Sub-buckets per doubling above [`EXACT_NS`] (2^10: buckets at most 0.1% wide).
const SUB_BITS: u32 = 10;

/// A histogram of durations in nanoseconds with logarithmic buckets at most 0.1% wide (exact
/// below 1024 ns), indexed from the bits of the value's floating-point form as HDR histograms
/// do: memory bounded by the range of values, not their number, for samples that come by the
/// million (one per decode token). Percentiles are within 0.05% of the exact ones; mean, count
/// and max are exact.
#[derive(Clone, Debug, Default)]
pub struct LogHistogram {
    counts: Vec<u64>,
    total: u64,
    sum_ns: u128,
    max_ns: u64,
}

impl LogHistogram {
    /// An empty histogram.
    pub fn new() -> LogHistogram {
        LogHistogram::default()
    }

    fn index(ns: u64) -> usize {
        if ns < EXACT_NS {
            return ns as usize;
        }
        let bits = (ns as f64).to_bits();
        let exp = ((bits >> 52) & 0x7ff) as usize - 1023; // at least 10
        let mant = ((bits >> (52 - SUB_BITS)) & ((1 << SUB_BITS) - 1)) as usize;
        EXACT_NS as usize + ((exp - 10) << SUB_BITS) + mant
    }

    /// The value a bucket stands for: its middle.
    fn value(idx: usize) -> f64 {
        if idx < EXACT_NS as usize {
            return idx as f64;
        }
        let k = idx - EXACT_NS as usize;
        let exp = (k >> SUB_BITS) as i32 + 10;
        let mant = (k & ((1 << SUB_BITS) - 1)) as f64;
        2f64.powi(exp) * (1.0 + (mant + 0.5) / (1u64 << SUB_BITS) as f64)
    }

    /// Records `count` samples of `ns`.
    pub fn add(&mut self, ns: u64, count: u64) {
        if count == 0 {
            return;
        }
        let i = Self::index(ns);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += count;
        self.total += count;
        self.sum_ns += ns as u128 * count as u128;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Exact mean, ns (0 when empty).
    pub fn mean_ns(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.total as f64
        }
    }

    /// Exact maximum, ns.
    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// Percentile `p` (0-100), ns, interpolated between closest ranks as
    /// [`percentile_sorted`] does over the expanded samples.
    pub fn percentile_ns(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = (p / 100.0).clamp(0.0, 1.0) * (self.total - 1) as f64;
        let (lo, hi) = (rank.floor() as u64, rank.ceil() as u64);
        let (a, b) = (self.value_at(lo), self.value_at(hi));
        a + (b - a) * (rank - lo as f64)
    }

    fn value_at(&self, rank: u64) -> f64 {
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if rank < seen {
                // The top bucket holds the maximum; report it exactly.
                return Self::value(i).min(self.max_ns as f64);
            }
        }
        self.max_ns as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_histogram_percentiles_are_within_a_tenth_of_a_percent() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut h = LogHistogram::new();
        let mut xs = Vec::new();
        for _ in 0..50_000 {
            let v: u64 = (rng.gen::<f64>().powi(3) * 2e9) as u64 + 1;
            let c = rng.gen_range(1..4);
            h.add(v, c);
            xs.extend(std::iter::repeat_n(v as f64, c as usize));
        }
        xs.sort_by(f64::total_cmp);
        for p in [1.0, 50.0, 90.0, 99.0, 99.9] {
            let (a, b) = (h.percentile_ns(p), percentile_sorted(&xs, p));
            assert!((a - b).abs() / b < 1e-3, "p{p}: {a} vs {b}");
        }
        assert_eq!(h.max_ns() as f64, xs[xs.len() - 1]);
        assert!((h.mean_ns() - mean(&xs)).abs() / mean(&xs) < 1e-9);
        assert_eq!(h.count() as usize, xs.len());
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&xs, 50.0), 2.5);
        assert_eq!(percentile_sorted(&xs, 0.0), 1.0);
        assert_eq!(percentile_sorted(&xs, 100.0), 4.0);
        assert!((percentile_sorted(&xs, 90.0) - 3.7).abs() < 1e-12);
    }

    #[test]
    fn cv_of_exponential_like_data() {
        assert_eq!(cv(&[2.0, 2.0, 2.0]), 0.0);
        assert!((cv(&[1.0, 3.0]) - 0.5).abs() < 1e-12);
    }
}
