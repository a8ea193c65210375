//! Closed sets of names (trace formats, routers): one table of (value, name) per set, looked up
//! both ways here.

use crate::error::{Error, Result};

/// The name of `v` in `table` (`?` if the table lacks it).
pub(crate) fn name_of<T: Copy + PartialEq>(table: &[(T, &'static str)], v: T) -> &'static str {
    table
        .iter()
        .find(|(k, _)| *k == v)
        .map(|(_, n)| *n)
        .unwrap_or("?")
}

/// The value named `s` (case-insensitive, trimmed, `_` read as `-`: names are kebab-case and
/// the snake_case spelling is accepted); the error lists the names of `kind`.
pub(crate) fn parse<T: Copy>(
    table: &[(T, &'static str)],
    s: &str,
    kind: &'static str,
) -> Result<T> {
    table
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(&s.trim().replace('_', "-")))
        .map(|(k, _)| *k)
        .ok_or_else(|| Error::Unknown {
            kind,
            name: s.to_string(),
            known: table.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", "),
        })
}
