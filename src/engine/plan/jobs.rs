//! Where a service's migrate phase and step hooks go in its plan.
//!
//! Around each step that gives the new version traffic:
//!
//! ```text
//!   confirm hooks        (before the step that takes it to 100 %)
//!   preview hooks        (blue-green: before the switch)
//!   migrate              (before the first step above `migrate_above`)
//!   pre_step hooks
//!   <the step>
//!   post_step hooks
//! ```

use super::{Fleet, Job, PlanStep, plan};
use crate::config::{HookPoint, Service};

/// The full plan of a release of `service`: its strategy's steps (see
/// [`plan`]) with its jobs placed between them.
pub fn of_service(service: &Service, fleet: Option<Fleet>) -> Vec<PlanStep> {
    let steps = plan(&service.strategy, fleet);
    let has = |point: HookPoint| service.hooks.iter().any(|h| h.at == point);
    let migrate = service.migrations.as_ref().filter(|m| m.migrate.is_some());
    let shares: Vec<Option<u8>> = steps.iter().map(share).collect();
    let first = shares.iter().flatten().copied().find(|s| *s > 0);
    // Above the first step's share by default; a blue-green switch's
    // first step is all of it, so migrate goes before it.
    let threshold = migrate.map(|m| {
        m.migrate_above
            .unwrap_or_else(|| first.filter(|s| *s < 100).unwrap_or(0))
    });
    let migrate_at = threshold.and_then(|t| shares.iter().position(|s| s.is_some_and(|s| s > t)));
    let full_at = shares.iter().position(|s| *s == Some(100));

    let mut placed = Vec::with_capacity(steps.len() * 3);
    for (i, step) in steps.into_iter().enumerate() {
        let moves = shares[i].is_some_and(|s| s > 0);
        if moves && full_at == Some(i) && has(HookPoint::Confirm) {
            placed.push(PlanStep::Job(Job::Hooks(HookPoint::Confirm)));
        }
        if step == PlanStep::Switch && has(HookPoint::Preview) {
            placed.push(PlanStep::Job(Job::Hooks(HookPoint::Preview)));
        }
        if migrate_at == Some(i) {
            placed.push(PlanStep::Job(Job::Migrate));
        }
        if migrate.is_some() && migrate_at.is_none() && step == PlanStep::Finish {
            // No step goes above the threshold: the backfill still runs
            // before the new version becomes stable.
            placed.push(PlanStep::Job(Job::Migrate));
        }
        if moves && has(HookPoint::PreStep) {
            placed.push(PlanStep::Job(Job::Hooks(HookPoint::PreStep)));
        }
        placed.push(step);
        if moves && has(HookPoint::PostStep) {
            placed.push(PlanStep::Job(Job::Hooks(HookPoint::PostStep)));
        }
    }
    placed
}

/// The new version's share of the traffic once `step` is applied, for
/// the steps that set it.
fn share(step: &PlanStep) -> Option<u8> {
    match step {
        PlanStep::Weight(w) | PlanStep::Flag(w) => Some(*w),
        PlanStep::Switch => Some(100),
        PlanStep::Instances { stable, new } => {
            (new * 100).checked_div(stable + new).map(|p| p as u8)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::hooks::{Hook, HookAction, OnFailure};
    use crate::config::migrations::Tool;
    use crate::config::{Step, Strategy};
    use crate::strategy::{BlueGreen, Canary};

    fn service(strategy: Strategy, hooks: &[HookPoint], migrate_above: Option<u8>) -> Service {
        let text = crate::config::test_support::one_local_service("dev");
        let config =
            crate::config::parse_str(&text, std::path::Path::new("t.toml"), &|_| None).unwrap();
        let mut service = config.environments[0].services[0].clone();
        service.strategy = strategy;
        let mut migrations = Tool::Pgroll.commands("m.json", &[]);
        migrations.migrate = Some(vec!["backfill".into()]);
        migrations.migrate_above = migrate_above;
        service.migrations = Some(migrations);
        service.hooks = hooks
            .iter()
            .map(|at| Hook {
                name: at.name().into(),
                at: *at,
                action: HookAction::Command {
                    run: vec!["true".into()],
                },
                timeout: Duration::from_secs(1),
                retries: 0,
                on_failure: OnFailure::Refuse,
                every: Duration::from_secs(1),
            })
            .collect();
        service
    }

    fn canary(weights: &[u8]) -> Strategy {
        Strategy::Canary(Canary {
            steps: weights.iter().map(|w| Step::Weight(*w)).collect(),
        })
    }

    #[test]
    fn migrate_goes_before_the_new_version_passes_its_first_step() {
        let s = service(canary(&[10, 50]), &[], None);
        assert_eq!(
            of_service(&s, None),
            vec![
                PlanStep::Prepare,
                PlanStep::Weight(10),
                PlanStep::Job(Job::Migrate),
                PlanStep::Weight(50),
                PlanStep::Weight(100),
                PlanStep::Finish
            ]
        );
        let s = service(canary(&[10, 50]), &[], Some(60));
        let plan = of_service(&s, None);
        assert_eq!(plan[3], PlanStep::Job(Job::Migrate), "{plan:?}");
        assert_eq!(plan[4], PlanStep::Weight(100), "{plan:?}");
    }

    #[test]
    fn hooks_surround_each_traffic_step_and_confirm_comes_before_all_of_it() {
        let s = service(
            canary(&[50]),
            &[HookPoint::PreStep, HookPoint::PostStep, HookPoint::Confirm],
            None,
        );
        use HookPoint::*;
        assert_eq!(
            of_service(&s, None),
            vec![
                PlanStep::Prepare,
                PlanStep::Job(Job::Hooks(PreStep)),
                PlanStep::Weight(50),
                PlanStep::Job(Job::Hooks(PostStep)),
                PlanStep::Job(Job::Hooks(Confirm)),
                PlanStep::Job(Job::Migrate),
                PlanStep::Job(Job::Hooks(PreStep)),
                PlanStep::Weight(100),
                PlanStep::Job(Job::Hooks(PostStep)),
                PlanStep::Finish
            ]
        );
    }

    #[test]
    fn a_blue_green_release_migrates_and_runs_its_preview_hooks_before_the_switch() {
        let strategy = Strategy::BlueGreen(BlueGreen {
            smoke_path: "/".into(),
            preview_for: Duration::from_secs(30),
            manual_switch: false,
            scale_down_delay: Duration::from_secs(60),
        });
        let s = service(strategy, &[HookPoint::Preview], None);
        let plan = of_service(&s, Some(Fleet { stable: 2, new: 2 }));
        assert_eq!(
            plan,
            vec![
                PlanStep::Prepare,
                PlanStep::Preview(Duration::from_secs(30)),
                PlanStep::Job(Job::Hooks(HookPoint::Preview)),
                PlanStep::Job(Job::Migrate),
                PlanStep::Switch,
                PlanStep::KeepOld(Duration::from_secs(60)),
                PlanStep::Instances { stable: 0, new: 2 },
                PlanStep::Finish
            ]
        );
    }
}
