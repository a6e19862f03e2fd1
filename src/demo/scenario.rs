//! What the new version does in the demo.

use std::fmt;

use crate::engine::ReleaseResult;

use super::sample_service::Behaviour;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The new version behaves: it reaches 100 % everywhere.
    Good,
    /// The new version answers about 8 % of requests with 5xx.
    BadErrors,
    /// The new version's p95 latency is about 3× the stable one's.
    BadLatency,
    /// The new version throws an error kind the stable one never does, on about 2 % of requests.
    NewErrorKind,
    /// More than 10 % of the new version's instances fail their health checks.
    Unhealthy,
    /// The new version behaves, but its database backfill fails: the traffic
    /// goes back to the stable version, then `down` undoes the expand.
    BadMigration,
}

/// The error kind the `new-error-kind` scenario introduces.
pub const NEW_ERROR_KIND: &str = "NullPointerException";

impl Scenario {
    /// How instance `index` of the new version behaves.
    pub fn new_version_behaviour(self, version: &str, index: usize) -> Behaviour {
        let healthy = Behaviour::healthy(version);
        match self {
            Scenario::Good | Scenario::BadMigration => healthy,
            Scenario::BadErrors => Behaviour {
                error_pct: 8.0,
                ..healthy
            },
            Scenario::BadLatency => Behaviour {
                latency_factor: 3.0,
                ..healthy
            },
            Scenario::NewErrorKind => Behaviour {
                error_kind: Some((NEW_ERROR_KIND.to_string(), 2.0)),
                ..healthy
            },
            // One failing instance is more than 10 % of any pool of up to 9.
            Scenario::Unhealthy => Behaviour {
                healthy: index != 0,
                ..healthy
            },
        }
    }

    /// How the release is expected to end.
    pub fn expected(self) -> ReleaseResult {
        match self {
            Scenario::Good => ReleaseResult::Succeeded,
            _ => ReleaseResult::RolledBack,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Good => "good",
            Scenario::BadErrors => "bad-errors",
            Scenario::BadLatency => "bad-latency",
            Scenario::NewErrorKind => "new-error-kind",
            Scenario::Unhealthy => "unhealthy",
            Scenario::BadMigration => "bad-migration",
        })
    }
}
