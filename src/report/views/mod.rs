//! What each command shows: the tables and chart inputs built from results, shared by the
//! terminal, Markdown and report.html.

mod run;
mod sweep;

pub use self::run::{band_sentence, run_tables};
pub use self::sweep::{cost_charts, latency_groups, sweep_answer, sweep_tables};
pub use crate::cost::different_model;
use crate::metrics::Summary;
use crate::scenario::capacity::{
    FLEET_SHARED_PER_REPLICA, FLEET_SHARED_SAMPLE_REQUESTS, SAMPLE_REQUESTS,
};
pub use crate::text::{fleet_shape, money, tokens_words};

fn f(x: f64, digits: usize) -> String {
    format!("{x:.digits$}")
}

/// The sentence a planner looks for first: what one replica serves of this traffic and how much
/// of the fleet the traffic uses.
pub fn capacity_sentence(s: &Summary) -> Option<String> {
    let c = s.capacity.as_ref()?;
    if c.replica_saturation_requests_per_s <= 0.0 {
        return Some(
            "one replica completes none of this traffic: every request it was given was rejected (see requests.rejected_by_reason)".into(),
        );
    }
    let within = match c.basis.as_str() {
        "slo" => "within the SLO",
        "saturation" => "at saturation (no SLO set)",
        _ => "at saturation: no steady rate meets the SLO on one replica (not even 1/256 of its saturation rate), so the SLO is out of reach for this replica",
    };
    let pooled = if pooled_beyond_capacity(s) {
        format!(" ({})", beyond_capacity_note(capacity_measured_on_fleet(s)))
    } else {
        String::new()
    };
    let measured = c.fleet_measured.as_ref().map_or(String::new(), |f| {
        let [lo, hi] = f.requests_per_s_range;
        let alone = c.replica_requests_per_s * f.replicas as f64;
        let on = match f.measured_on_replicas {
            Some(m) => format!(
                "measured on {m} of its replicas behind its router and scaled to its {} (a lower bound: pooling grows with the fleet; ",
                f.replicas
            ),
            None => "measured on the whole fleet behind its router (".to_string(),
        };
        let mut draws = if hi > lo {
            format!("median of {} draws: {lo:.2}-{hi:.2}", f.draws)
        } else {
            format!("{} draws alike", f.draws)
        };
        let per = f.sample_requests / f.measured_on_replicas.unwrap_or(f.replicas).max(1) as u64;
        if per < FLEET_SHARED_PER_REPLICA as u64 {
            draws.push_str(&format!(
                "; only {per} requests a replica (a draw simulates at most {FLEET_SHARED_SAMPLE_REQUESTS}): windows this short moved a fleet's capacity 11-18% in the checks the README cites, so trust it less"
            ));
        }
        format!(
            ", {on}{draws}; {:.2} times its {} replicas' {alone:.2} req/s alone{})",
            if alone > 0.0 { f.requests_per_s / alone } else { 0.0 },
            f.replicas,
            if s.setup.router.contains("affinity") {
                ", each holding its share of the prefixes or sessions"
            } else {
                ": pooled replicas carry more within a tail-latency SLO"
            }
        )
    });
    let [low, high] = c.replica_requests_per_s_range;
    let spread = if c.draws > 1 && high > low {
        format!(" (median of {} draws: {low:.2}-{high:.2})", c.draws)
    } else {
        String::new()
    };
    // Without an SLO a lower-bound saturation is the capacity, and utilization an upper bound.
    let (at_least, bound) = if c.saturation_lower_bound && c.basis != "slo" {
        (
            "at least ",
            format!(
                " (at most: the {} sampled requests, even repeated to {SAMPLE_REQUESTS}, fit on one replica at once, so they cannot keep it full)",
                c.sample_requests
            ),
        )
    } else {
        ("", String::new())
    };
    Some(format!(
        "one replica serves {at_least}{:.2} req/s{spread} ({:.0} output tok/s) of this traffic {within}; this traffic ({:.2} req/s) uses {:.1}%{bound} of the fleet's {:.2} req/s{measured}{pooled}",
        c.replica_requests_per_s,
        c.replica_output_tokens_per_s,
        c.offered_requests_per_s,
        100.0 * c.utilization,
        c.fleet_requests_per_s
    ))
}

/// The capacity a utilization rests on and its draws' range, requests per second: the whole
/// fleet's where it was measured (`fleet_measured`), else one replica's.
pub fn util_capacity(c: &crate::metrics::Capacity) -> (f64, [f64; 2]) {
    match &c.fleet_measured {
        Some(f) => (f.requests_per_s, f.requests_per_s_range),
        None => (c.replica_requests_per_s, c.replica_requests_per_s_range),
    }
}

/// The note under a table of utilizations: how far the draws that each capacity is the
/// median of spread below and above it, at most, over `capacities` (median, [lowest,
/// highest], from [`util_capacity`]); `None` without a spread.
pub fn capacity_spread_note(capacities: impl Iterator<Item = (f64, [f64; 2])>) -> Option<String> {
    let (mut below, mut above) = (0.0f64, 0.0f64);
    for (median, [low, high]) in capacities {
        if median > 0.0 && low.is_finite() && high.is_finite() {
            below = below.min(low / median - 1.0);
            above = above.max(high / median - 1.0);
        }
    }
    (below < 0.0 || above > 0.0).then(|| {
        format!(
            "util % rests on a capacity (one replica's, or the whole fleet's where it is measured: capacity.fleet_measured), the median of {} draws of sampled requests and Poisson arrivals; the draws spread {:.0}% to +{:.0}% around it, which moves util % and the unused cost by as much",
            crate::scenario::capacity::CAPACITY_DRAWS,
            100.0 * below,
            100.0 * above
        )
    })
}

/// What a utilization above 100% means when a fleet of several replicas, its capacity taken as
/// replicas x one replica's, still meets the SLO.
pub const POOLED_BEYOND_CAPACITY: &str = "above 100% yet within the SLO: the fleet's capacity is taken as replicas x one replica's, since one replica meets the SLO to within 2% of its saturation (pooled replicas behind a load-balancing router can then carry at most that much more), and one replica's capacity is the median of several draws of sampled requests and Poisson arrivals, which move it by several percent (`replica_requests_per_s_range`); such a fleet has no measured headroom and its unused-capacity cost is 0";

/// What a utilization above 100% means when a capacity measured on the fleet itself (one
/// replica, or the whole fleet) is exceeded within the SLO.
pub const SAMPLED_BEYOND_CAPACITY: &str = "above 100% yet within the SLO: the capacity, measured on the fleet itself (one replica, or the whole fleet behind its router: capacity.fleet_measured), is the median of several draws of sampled requests and Poisson arrivals, which move it by several percent (their range is printed), and this traffic met the SLO past that median; such a fleet has no measured headroom and its unused-capacity cost is 0";

/// The note for a fleet meeting the SLO above 100% of its capacity: `measured` when that
/// capacity was measured on the fleet itself (one replica, or the whole fleet).
pub fn beyond_capacity_note(measured: bool) -> &'static str {
    if measured {
        SAMPLED_BEYOND_CAPACITY
    } else {
        POOLED_BEYOND_CAPACITY
    }
}

/// Whether `s`'s capacity was measured on the fleet itself: it has one replica, or the whole
/// fleet's was measured.
pub fn capacity_measured_on_fleet(s: &Summary) -> bool {
    s.setup.replicas <= 1
        || s.capacity
            .as_ref()
            .is_some_and(|c| c.fleet_measured.is_some())
}

/// Whether `s`'s fleet meets the SLO at a utilization above 100% of its replicas' capacity
/// measured one at a time (and keeps up).
pub fn pooled_beyond_capacity(s: &Summary) -> bool {
    let met = s.slo.as_ref().is_some_and(|x| x.met);
    let over = s
        .capacity
        .as_ref()
        .is_some_and(|c| c.basis == "slo" && c.utilization.is_finite() && c.utilization > 1.0);
    met && over && !s.stability.overloaded
}

/// The warning for an overloaded fleet, if it is.
pub fn overload_warning(s: &Summary) -> Option<String> {
    let st = &s.stability;
    st.overloaded.then(|| {
        format!(
            "OVERLOADED: the fleet does not keep up with its arrivals ({}); latencies grow with the length of the trace, the SLO counts as missed and its cost is not a valid option",
            st.reason.as_deref().unwrap_or("")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Capacity, SloReport};

    /// A fleet within the SLO above 100% of its capacity: one replica, or a whole fleet whose
    /// capacity was measured, is explained by the capacity's sampling; several replicas whose
    /// capacity was taken as replicas x one replica's (pooling can add at most 2% there) by
    /// both; the draws' range is printed.
    #[test]
    fn beyond_capacity_is_sampling_or_the_replicas_product() {
        let mut s = Summary {
            slo: Some(SloReport {
                met: true,
                ..Default::default()
            }),
            capacity: Some(Capacity {
                basis: "slo".into(),
                replica_requests_per_s: 10.0,
                replica_saturation_requests_per_s: 20.0,
                offered_requests_per_s: 10.5,
                utilization: 1.05,
                replica_requests_per_s_range: [9.5, 11.0],
                draws: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        s.setup.replicas = 1;
        let one = capacity_sentence(&s).unwrap();
        assert!(one.contains("(median of 5 draws: 9.50-11.00)"), "{one}");
        assert!(one.contains(SAMPLED_BEYOND_CAPACITY), "{one}");
        s.setup.replicas = 3;
        let three = capacity_sentence(&s).unwrap();
        assert!(three.contains(POOLED_BEYOND_CAPACITY), "{three}");
        let c = s.capacity.as_mut().unwrap();
        c.fleet_measured = Some(crate::metrics::FleetCapacity {
            replicas: 3,
            requests_per_s: 10.0,
            requests_per_s_range: [9.8, 10.4],
            draws: 5,
            sample_requests: 12_000,
            ..Default::default()
        });
        c.replica_requests_per_s = 3.0;
        let measured = capacity_sentence(&s).unwrap();
        assert!(measured.contains(SAMPLED_BEYOND_CAPACITY), "{measured}");
        assert!(
            measured.contains("measured on the whole fleet behind its router (median of 5 draws: 9.80-10.40; 1.11 times its 3 replicas' 9.00 req/s alone"),
            "{measured}"
        );
        // A large fleet measured on fewer replicas says so.
        let c = s.capacity.as_mut().unwrap();
        let f = c.fleet_measured.as_ref().unwrap().scaled_to(12);
        assert_eq!(f.measured_on_replicas, Some(3));
        assert!((f.requests_per_s - 40.0).abs() < 1e-9 && f.requests_per_s_range[1] > 41.5);
        c.fleet_measured = Some(f);
        let scaled = capacity_sentence(&s).unwrap();
        assert!(
            scaled.contains("measured on 3 of its replicas behind its router and scaled to its 12 (a lower bound: pooling grows with the fleet; median of 5 draws: 39.20-41.60; 1.11 times its 12 replicas' 36.00 req/s alone"),
            "{scaled}"
        );
        let c = s.capacity.as_mut().unwrap();
        let f = c.fleet_measured.as_mut().unwrap();
        f.requests_per_s_range = [f.requests_per_s; 2];
        let alike = capacity_sentence(&s).unwrap();
        assert!(
            alike.contains("fleet; 5 draws alike; 1.11 times"),
            "{alike}"
        );
        // A fleet measured on fewer than FLEET_SHARED_PER_REPLICA requests a replica says so.
        let c = s.capacity.as_mut().unwrap();
        c.fleet_measured.as_mut().unwrap().sample_requests = 1499;
        let short = capacity_sentence(&s).unwrap();
        assert!(
            short.contains(
                "5 draws alike; only 499 requests a replica (a draw simulates at most 64000)"
            ),
            "{short}"
        );
        assert!(!alike.contains("requests a replica"), "{alike}");
        let c = s.capacity.as_mut().unwrap();
        c.fleet_measured = None;
        c.replica_requests_per_s = 10.0;
        // Within capacity: neither note.
        s.capacity.as_mut().unwrap().utilization = 0.9;
        let within = capacity_sentence(&s).unwrap();
        assert!(!within.contains("above 100%"), "{within}");
        assert!(!within.contains("at least"), "{within}");
        // A lower-bound saturation is said to be one, without an SLO.
        let c = s.capacity.as_mut().unwrap();
        c.saturation_lower_bound = true;
        c.sample_requests = 155;
        let slo = capacity_sentence(&s).unwrap();
        assert!(!slo.contains("at least"), "{slo}");
        s.capacity.as_mut().unwrap().basis = "saturation".into();
        let bound = capacity_sentence(&s).unwrap();
        assert!(
            bound.starts_with("one replica serves at least 10.00 req/s")
                && bound.contains(
                    "90.0% (at most: the 155 sampled requests, even repeated to 4000, fit on one"
                ),
            "{bound}"
        );
    }
}
