//! The process's exit codes: the interface contract scripts and CI rely on.
//! Every command ends in one of these, and only `main` turns it into the
//! number the operating system sees, so a new outcome is added here and
//! nowhere else.

use std::fmt;

use serde::Serialize;

use crate::engine::ReleaseResult;
use crate::pipeline::PipelineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done: the release succeeded, the checks passed, the plan printed.
    Ok = 0,
    /// Something went wrong at run time (a backend, the history, a terminal).
    Runtime = 1,
    /// What the user must fix: the command line or the configuration.
    Usage = 2,
    /// The release was rolled back.
    RolledBack = 3,
    /// A preflight check or a quality gate failed: nothing was started.
    ChecksFailed = 4,
}

impl ExitCode {
    /// The number the process exits with.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

/// How a finished release ends the process.
impl From<ReleaseResult> for ExitCode {
    fn from(result: ReleaseResult) -> Self {
        match result {
            ReleaseResult::Succeeded => ExitCode::Ok,
            ReleaseResult::RolledBack => ExitCode::RolledBack,
            ReleaseResult::Aborted => ExitCode::Runtime,
        }
    }
}

/// A release that did not run: the user's to fix, refused by a check, or
/// a failure at run time.
impl From<&PipelineError> for ExitCode {
    fn from(error: &PipelineError) -> Self {
        match error {
            e if e.is_usage() => ExitCode::Usage,
            PipelineError::Blocked { .. } => ExitCode::ChecksFailed,
            _ => ExitCode::Runtime,
        }
    }
}

/// As the number, in text ("exit 3") and in JSON (`"exit_code": 3`).
impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

impl Serialize for ExitCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

/// As a release host sends it to the client that exits with it.
impl<'de> serde::Deserialize<'de> for ExitCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ExitCode, D::Error> {
        let code = u8::deserialize(deserializer)?;
        [
            ExitCode::Ok,
            ExitCode::Runtime,
            ExitCode::Usage,
            ExitCode::RolledBack,
            ExitCode::ChecksFailed,
        ]
        .into_iter()
        .find(|c| c.code() == code)
        .ok_or_else(|| serde::de::Error::custom(format!("no exit code {code}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are the documented contract: they never move.
    #[test]
    fn the_numbers_are_the_contract() {
        let codes = [
            (ExitCode::Ok, 0),
            (ExitCode::Runtime, 1),
            (ExitCode::Usage, 2),
            (ExitCode::RolledBack, 3),
            (ExitCode::ChecksFailed, 4),
        ];
        for (code, number) in codes {
            assert_eq!(code.code(), number);
            assert_eq!(code.to_string(), number.to_string());
            assert_eq!(serde_json::to_value(code).unwrap(), number);
        }
    }
}
