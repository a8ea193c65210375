//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use fleetsim::metrics::Summary;
use fleetsim::scenario::{RunResult, Scenario};

/// The repository root (tests run with the package root as current directory).
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses and resolves a scenario given as JSON text, relative paths against the repository root.
pub(crate) fn run_json(json: &str) -> RunResult {
    let s = Scenario::from_json(json, Path::new("<test>")).expect("scenario parses");
    s.resolve(&root()).expect("scenario resolves").run()
}

/// Conservation: every arrived request is completed, rejected, unfinished or spilled to the
/// overflow API.
pub(crate) fn assert_conserved(s: &Summary) {
    let r = &s.requests;
    assert_eq!(
        r.completed + r.rejected + r.unfinished + r.spilled,
        r.arrived,
        "requests not conserved: {r:?}"
    );
}

/// JSON that fails to parse when any object repeats a key (serde_json keeps the last silently).
pub(crate) struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NoDuplicateKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a.next_element::<NoDuplicateKeys>()?.is_some() {}
                Ok(NoDuplicateKeys)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(k) = m.next_key::<String>()? {
                    if !seen.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
                    }
                    m.next_value::<NoDuplicateKeys>()?;
                }
                Ok(NoDuplicateKeys)
            }
        }
        d.deserialize_any(V)
    }
}

/// Asserts that the JSON file at `path` repeats no key in any object.
pub(crate) fn assert_no_duplicate_keys(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    if let Err(e) = serde_json::from_str::<NoDuplicateKeys>(&text) {
        panic!("{}: {e}", path.display());
    }
}

/// Runs the fleetsim binary from the repository root.
pub(crate) fn fleetsim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("runs the binary")
}

/// `fleetsim run SCEN --out OUT --no-charts --no-requests`, which must succeed: its stdout and
/// summary.json.
pub(crate) fn run_without_files(scen: &Path, out: &Path) -> (String, serde_json::Value) {
    let o = fleetsim(&[
        "run",
        scen.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-charts",
        "--no-requests",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = std::fs::read(out.join("summary.json")).unwrap();
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        serde_json::from_slice(&summary).unwrap(),
    )
}

/// A command's stderr as text.
pub(crate) fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub(crate) fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().to_string()
}
