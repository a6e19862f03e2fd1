//! The release strategies, one file each: what a strategy's settings are,
//! the steps it plans, how it puts stable back, how it goes straight to
//! 100 %, and how its share of traffic is read back. The engine, the
//! pipeline and the CLI ask a strategy through [`Rollout`]; nothing else
//! looks inside one.
//!
//! Adding a strategy: a new file with its settings and its `Rollout`, a
//! variant in [`Strategy`] and in [`StrategyKind`] (with its name and what
//! it needs of a backend), a line in [`Strategy::rollout`] (and the
//! configuration loader's keys for its settings).

mod blue_green;
mod canary;
mod feature_flag;
mod rolling;

use serde::Serialize;

pub use blue_green::BlueGreen;
pub use canary::Canary;
pub use feature_flag::FeatureFlag;
#[cfg(test)]
pub(crate) use rolling::BATCHES_OF_FOUR_SURGE_ONE;
pub use rolling::{Rolling, rolling_batches};

use crate::engine::machine::TrafficWrite;
use crate::engine::plan::{Fleet, PlanStep};
use crate::observed::TrafficState;

/// A service's strategy, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Strategy {
    Canary(Canary),
    BlueGreen(BlueGreen),
    Rolling(Rolling),
    FeatureFlag(FeatureFlag),
}

/// A strategy's name on the command line (`--strategy`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    Canary,
    BlueGreen,
    Rolling,
    FeatureFlag,
}

impl StrategyKind {
    /// Its name in messages and the configuration ("blue-green"), as the
    /// command line spells it too.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Canary => "canary",
            StrategyKind::BlueGreen => "blue-green",
            StrategyKind::Rolling => "rolling",
            StrategyKind::FeatureFlag => "feature-flag",
        }
    }

    /// The kind a name (as [`StrategyKind::name`] spells it) stands for.
    pub fn named(name: &str) -> Option<StrategyKind> {
        [
            StrategyKind::Canary,
            StrategyKind::BlueGreen,
            StrategyKind::Rolling,
            StrategyKind::FeatureFlag,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }

    /// What a strategy of this kind needs the traffic backend to do.
    pub fn needs(self) -> &'static [Capability] {
        match self {
            StrategyKind::Canary => &[Capability::Weights],
            StrategyKind::BlueGreen => &[Capability::Switch, Capability::Rotation],
            StrategyKind::Rolling => &[Capability::Rotation],
            StrategyKind::FeatureFlag => &[Capability::FlagPercent],
        }
    }
}

/// What a traffic backend must be able to do for a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Split requests between the versions by percentage.
    Weights,
    /// Send all traffic to one version or the other at once.
    Switch,
    /// Put chosen instances of each version in rotation.
    Rotation,
    /// Set a feature flag's rollout percentage.
    FlagPercent,
}

impl Capability {
    /// What it lets a backend do, in words.
    pub fn words(self) -> &'static str {
        match self {
            Capability::Weights => "split requests between the versions by weight",
            Capability::Switch => "switch all traffic from one version to the other",
            Capability::Rotation => "put chosen instances of each version in rotation",
            Capability::FlagPercent => "move a feature flag's percentage",
        }
    }
}

/// What a strategy decides for a release.
pub trait Rollout {
    fn kind(&self) -> StrategyKind;

    /// Its name in messages and the configuration ("blue-green"): its
    /// kind's.
    fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// What it needs the traffic backend to do: what its kind needs.
    fn needs(&self) -> &'static [Capability] {
        self.kind().needs()
    }

    /// The steps between `Prepare` and `Finish`. With `fleet: None` (the
    /// instance counts not read yet) a strategy that depends on them
    /// returns its outline.
    fn steps(&self, fleet: Option<Fleet>) -> Vec<PlanStep>;

    /// Whether its plan is built from the instance counts read after
    /// `Prepare` (so a new version without instances cannot go on).
    fn needs_fleet(&self) -> bool {
        false
    }

    /// The write that puts stable back at 100 %; `None` when nothing was
    /// replaced yet.
    fn revert(&self, fleet: Option<Fleet>) -> Option<TrafficWrite>;

    /// The steps that take a release straight to 100 % (before `Finish`);
    /// `switched`: the plan's switch already happened.
    fn promote_tail(&self, fleet: Option<Fleet>, switched: bool) -> Vec<PlanStep>;

    /// The new version's share of traffic as the backend reports it.
    fn actual_weight(&self, state: &TrafficState) -> Option<u8> {
        Some(state.new_weight)
    }

    /// Its settings in words, one part per line at most
    /// ("5% → pause 30s → …").
    fn settings(&self) -> Vec<String>;

    /// The path smoke-checked on the new version before it gets traffic.
    fn smoke_path(&self) -> Option<&str> {
        None
    }
}

impl Strategy {
    /// The one place a strategy's variant is looked at.
    pub fn rollout(&self) -> &dyn Rollout {
        match self {
            Strategy::Canary(s) => s,
            Strategy::BlueGreen(s) => s,
            Strategy::Rolling(s) => s,
            Strategy::FeatureFlag(s) => s,
        }
    }

    pub fn name(&self) -> &'static str {
        self.rollout().name()
    }

    pub fn kind(&self) -> StrategyKind {
        self.rollout().kind()
    }

    /// A rolling strategy's settings (a rolling Kubernetes Deployment
    /// moves at its pace).
    pub fn as_rolling(&self) -> Option<&Rolling> {
        match self {
            Strategy::Rolling(r) => Some(r),
            _ => None,
        }
    }

    /// The strategy of `kind` for a service configured with `self`: the
    /// configured one when it is of that kind, else that kind's defaults
    /// (a feature flag named after the service).
    pub fn of_kind(&self, kind: StrategyKind, service: &str) -> Strategy {
        if self.kind() == kind {
            return self.clone();
        }
        match kind {
            StrategyKind::Canary => Strategy::Canary(Canary::default()),
            StrategyKind::BlueGreen => Strategy::BlueGreen(BlueGreen::default()),
            StrategyKind::Rolling => Strategy::Rolling(Rolling::default()),
            StrategyKind::FeatureFlag => Strategy::FeatureFlag(FeatureFlag::named(service)),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn a_kind_is_named_as_the_command_line_spells_it() {
        for kind in StrategyKind::value_variants() {
            let spelled = kind.to_possible_value().expect("every kind is a value");
            assert_eq!(kind.name(), spelled.get_name());
        }
    }
}
