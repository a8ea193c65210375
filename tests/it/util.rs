//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use fleetsim::metrics::Summary;
use fleetsim::scenario::{RunResult, Scenario};

/// The repository root (tests run with the package root as current directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses and resolves a scenario given as JSON text, relative paths against the repository root.
pub fn run_json(json: &str) -> RunResult {
    let s = Scenario::from_json(json, Path::new("<test>")).expect("scenario parses");
    s.resolve(&root()).expect("scenario resolves").run()
}

/// Conservation: every arrived request is completed, rejected or unfinished.
pub fn assert_conserved(s: &Summary) {
    let r = &s.requests;
    assert_eq!(
        r.completed + r.rejected + r.unfinished,
        r.arrived,
        "requests not conserved: {r:?}"
    );
}
