//! The library's error type. Every error that comes from user input names where it came from:
//! the file and line for traces, the field for scenarios.

use std::path::PathBuf;

/// Errors from reading inputs, validating scenarios and building the simulated system.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in this error's message, so not chained as a source).
        err: std::io::Error,
    },
    /// A line of an input file is malformed.
    #[error("{path}:{line}: field `{field}`: {msg}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column or JSON key.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// A whole input file is unusable (empty, missing header, no rows left after filters).
    #[error("{path}: {msg}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A scenario field is invalid.
    #[error("scenario field `{field}`: {msg}")]
    Config {
        /// Dotted path of the field, e.g. `replica.max_num_seqs`.
        field: String,
        /// What is wrong and what is allowed.
        msg: String,
    },
    /// A name that is not in a catalog.
    #[error("unknown {kind} `{name}`; known: {known}")]
    Unknown {
        /// What kind of name (GPU, model, format).
        kind: &'static str,
        /// The name given.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
    /// The model does not fit the GPUs it is placed on.
    #[error("{0}")]
    DoesNotFit(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, err: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            err,
        }
    }

    /// A scenario field error.
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Config {
            field: field.into(),
            msg: msg.into(),
        }
    }

    /// Names the scenario field an unknown name came from; other errors are unchanged.
    pub fn in_field(self, field: &str) -> Error {
        match self {
            e @ Error::Unknown { .. } => Error::config(field, e.to_string()),
            e => e,
        }
    }
}

/// A number for an error message: plain when it reads well, in scientific notation when it is
/// very large or small (so 1e308 is not printed as 309 digits).
pub fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
