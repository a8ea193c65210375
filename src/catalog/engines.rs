//! Engine profiles (`engines.json`): what a replica's `engine` brings, namely the engine's
//! scheduler defaults (replica keys it fills when the scenario leaves them unset) and step-time
//! parameters per GPU family and weight precision fitted to that engine's published figures.
//!
//! A profile without a fit for a GPU family uses its own fit at the nearest precision, then the
//! profile it names in `steps_from`, then the generic defaults; [`EngineProfile::fit_for`]
//! says which one a replica got, so reports can say when a figure rests on another engine's or
//! another precision's fit.

use serde::{Deserialize, Serialize};

use super::StepTimeFit;

/// One serving engine's profile.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineProfile {
    /// Id used in scenarios (`replica.engine`), e.g. `vllm`.
    pub id: String,
    /// Engine and versions it stands for.
    pub name: String,
    /// `current` (2025-2026 engines) or `2024`.
    pub generation: String,
    /// Replica keys the engine sets by default (`max_num_seqs`, `scheduler_policy`, ...).
    #[serde(default)]
    pub replica: serde_json::Map<String, serde_json::Value>,
    /// Replica keys that depend on the GPU's memory, as the engine sizes them at start-up
    /// (SGLang's chunked prefill size): the first tier whose `below_gib` exceeds the GPU's
    /// memory (or that has none) applies on top of `replica`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replica_by_gpu_memory: Vec<MemoryTier>,
    /// Profile whose fits this one uses for GPU families it has none for.
    #[serde(default)]
    pub steps_from: Option<String>,
    /// Step-time parameters per GPU family and precision.
    #[serde(default)]
    pub fits: Vec<StepTimeFit>,
    /// Step-time error band from cross-validation: the 10th and 90th percentiles of the factor
    /// by which held-out figures say step times should be scaled (below 1: the engine is faster
    /// than predicted), and how many figures they rest on.
    #[serde(default)]
    pub band: Option<ErrorBand>,
    /// `high`, `medium` or `low`, and why.
    pub confidence: String,
    /// What the fits and defaults come from.
    pub source: String,
}

/// Replica defaults for GPUs below a memory size (see [`EngineProfile::replica_by_gpu_memory`]).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemoryTier {
    /// The tier holds for GPUs with less memory than this, GiB (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below_gib: Option<f64>,
    /// Replica keys it sets.
    pub replica: serde_json::Map<String, serde_json::Value>,
}

/// The step-time factors that bound a profile's error (see [`EngineProfile::band`]).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorBand {
    /// Step-time factor at the 10th percentile of held-out figures (at most 1).
    pub low: f64,
    /// Step-time factor at the 90th percentile (at least 1).
    pub high: f64,
    /// Held-out figures behind it.
    pub figures: u32,
}

/// Which fit a replica got, and from where.
#[derive(Clone, Debug, PartialEq)]
pub struct FitChoice<'a> {
    /// The fit, or `None` for the generic defaults.
    pub fit: Option<&'a StepTimeFit>,
    /// Profile the fit belongs to.
    pub profile: &'a str,
}

/// Precisions to try, nearest first, when a profile has no fit at `precision`.
fn precision_order(precision: &str) -> &'static [&'static str] {
    match precision {
        "bf16" => &["bf16", "fp8", "int4", "fp4"],
        "fp8" => &["fp8", "bf16", "fp4", "int4"],
        "int4" => &["int4", "fp4", "fp8", "bf16"],
        _ => &["fp4", "int4", "fp8", "bf16"],
    }
}

impl EngineProfile {
    /// The replica keys this profile sets on a GPU with `memory_gib` of memory: `replica`, with
    /// the first matching [`MemoryTier`]'s keys over it.
    pub fn replica_defaults(&self, memory_gib: f64) -> serde_json::Map<String, serde_json::Value> {
        let mut m = self.replica.clone();
        if let Some(t) = self
            .replica_by_gpu_memory
            .iter()
            .find(|t| t.below_gib.is_none_or(|b| memory_gib < b))
        {
            m.extend(t.replica.clone());
        }
        m
    }

    /// The fit for `family` at `precision`: this profile's at that precision or the nearest
    /// one (at each precision the family's own fit before the `*` one), else (through
    /// `profiles`) its `steps_from` profile's, else none.
    pub fn fit_for<'a>(
        &'a self,
        profiles: &'a [EngineProfile],
        family: &str,
        precision: &str,
    ) -> FitChoice<'a> {
        self.first_fit(profiles, family, precision, |_| true)
    }

    /// The error band of this profile's step times, and the profile it belongs to: its own, or
    /// (a profile without figures of its own) that of the profile it takes its step times from.
    pub fn band_for<'a>(&'a self, profiles: &'a [EngineProfile]) -> Option<(&'a str, ErrorBand)> {
        self.chain(profiles)
            .find_map(|p| p.band.map(|b| (p.id.as_str(), b)))
    }

    /// This profile, then the one it takes its step times from (`steps_from`), and so on
    /// (at most as many as there are profiles, so a cycle ends).
    fn chain<'a>(
        &'a self,
        profiles: &'a [EngineProfile],
    ) -> impl Iterator<Item = &'a EngineProfile> {
        std::iter::successors(Some(self), move |p| {
            p.steps_from
                .as_deref()
                .and_then(|id| profiles.iter().find(|q| q.id == id))
        })
        .take(profiles.len() + 1)
    }

    /// The time per mixture-of-experts layer a replica of `family` at `precision` gets: that of
    /// the first fit in [`EngineProfile::fit_for`]'s order that was fitted to mixture-of-experts
    /// figures (routing and permutation kernels cost about the same whatever the weights'
    /// precision), else `None` (no such figure: 0).
    pub fn moe_layer_overhead_for(
        &self,
        profiles: &[EngineProfile],
        family: &str,
        precision: &str,
    ) -> Option<f64> {
        self.first_fit(profiles, family, precision, |f| {
            f.moe_layer_overhead_us.is_some()
        })
        .fit
        .and_then(|f| f.moe_layer_overhead_us)
    }

    /// The first fit `wanted` accepts, in [`EngineProfile::fit_for`]'s order: along the
    /// `steps_from` chain, nearest precision first, the family's own fit before `*`.
    fn first_fit<'a>(
        &'a self,
        profiles: &'a [EngineProfile],
        family: &str,
        precision: &str,
        wanted: impl Fn(&StepTimeFit) -> bool,
    ) -> FitChoice<'a> {
        for p in self.chain(profiles) {
            for prec in precision_order(precision) {
                // The family's own fit first, then the profile's fit across families.
                let at = |fam: &str| {
                    p.fits
                        .iter()
                        .find(|f| f.family == fam && f.precision == *prec && wanted(f))
                };
                if let Some(f) = at(family).or_else(|| at("*")) {
                    return FitChoice {
                        fit: Some(f),
                        profile: &p.id,
                    };
                }
            }
        }
        FitChoice {
            fit: None,
            profile: &self.id,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct EngineFile {
    pub(super) notes: String,
    pub(super) default: String,
    pub(super) engines: Vec<EngineProfile>,
}
