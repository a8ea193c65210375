//! The workload with what every fleet serving it shares: the APIs' spend on it and its traffic
//! span, computed once per workload (and rate scale) and shared by every run of it.

use crate::catalog::Api;
use crate::cost::{api_spend, ApiSpend, CostSpec};
use crate::error::Result;
use crate::time::SimTime;
use crate::workload::Workload;

use super::resolve::check_span;

/// A workload with what every fleet serving it shares: the APIs' spend on it and its traffic
/// span. Computed once and shared by every point of a sweep.
#[derive(Debug)]
pub struct Traffic {
    /// The requests.
    pub workload: Workload,
    /// The APIs compared (same-model endpoints first) and each one's spend on them.
    pub apis: Vec<(Api, ApiSpend)>,
    /// The model the APIs were chosen for.
    pub model: String,
    /// The arrival window, seconds: the last arrival plus one mean gap (N requests span N gaps).
    pub span_s: f64,
    /// The samples capacity draws simulate, when drawn ahead (a streamed workload, which is not
    /// held); empty: drawn from `workload` (see [`super::capacity`]).
    pub capacity_samples: Vec<Vec<crate::workload::Request>>,
}

impl Traffic {
    /// Prices the workload on the APIs of `cost` compared with a fleet of `model`.
    pub fn new(
        workload: Workload,
        cost: &CostSpec,
        horizon: Option<SimTime>,
        model: &str,
    ) -> Result<Traffic> {
        let apis = cost
            .apis(model)?
            .into_iter()
            .map(|a| {
                let spend = api_spend(&a, &workload.requests, horizon);
                (a, spend)
            })
            .collect();
        let n = workload.requests.len() as f64;
        let last = workload.span().as_secs_f64();
        let mut span_s = if n > 1.0 { last * n / (n - 1.0) } else { last };
        if let Some(h) = horizon {
            span_s = span_s.min(h.as_secs_f64());
        }
        if span_s <= 0.0 {
            span_s = 1.0;
        }
        Ok(Traffic {
            workload,
            apis,
            model: model.to_string(),
            span_s,
            capacity_samples: Vec::new(),
        })
    }

    /// The same requests with arrival and think times divided by `scale` (2 = twice the rate).
    pub fn scaled(&self, scale: f64, cost: &CostSpec, horizon: Option<SimTime>) -> Result<Traffic> {
        let mut w = self.workload.clone();
        for r in w.requests.iter_mut() {
            r.arrival = SimTime::from_secs_f64(r.arrival.as_secs_f64() / scale);
            if let Some(f) = r.follows.as_mut() {
                f.think = SimTime::from_secs_f64(f.think.as_secs_f64() / scale);
            }
        }
        check_span(&w, "sweep.rate_scale")?;
        Traffic::new(w, cost, horizon, &self.model)
    }
}
