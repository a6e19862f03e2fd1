//! Job steps in the machine: the migrate phase and the step hooks, each
//! answered by the test driver (`World::job`), which fails the next
//! `fail_jobs` runs.

use super::*;
use crate::config::HookPoint;
use crate::config::hooks::{Hook, HookAction, OnFailure};
use crate::engine::plan::Job;

fn hook(at: HookPoint, on_failure: OnFailure) -> Hook {
    Hook {
        name: "check".into(),
        at,
        action: HookAction::Command {
            run: vec!["true".into()],
        },
        timeout: secs(5),
        retries: 0,
        on_failure,
        every: secs(10),
    }
}

/// A 10 → 50 % canary with a migrate phase and `hooks`, started with its
/// first `fail_jobs` job runs failing.
fn harness(hooks: Vec<Hook>, fail_jobs: u32) -> Harness {
    let mut spec = spec(canary(vec![
        Step::Weight(10),
        Step::Pause(secs(30)),
        Step::Weight(50),
        Step::Pause(secs(30)),
    ]));
    let mut migrations = crate::config::migrations::Tool::Pgroll.commands("m.json", &[]);
    migrations.migrate = Some(vec!["backfill".into()]);
    spec.service.migrations = Some(migrations);
    spec.service.hooks = hooks;
    let mut h = Harness::with_spec(spec);
    h.world.fail_jobs = fail_jobs;
    h.start()
}

/// Runs second by second until `done` holds (or ten minutes passed).
fn run_until(h: &mut Harness, done: impl Fn(&Harness) -> bool) {
    for _ in 0..600 {
        if done(h) {
            return;
        }
        h.run_for(secs(1));
    }
    panic!("never got there: {:?}", reasons(h));
}

fn migrated(h: &Harness) -> bool {
    h.world.jobs.iter().any(|(j, _)| *j == Job::Migrate)
}

fn reasons(h: &Harness) -> Vec<String> {
    h.events.iter().map(|e| e.reason.clone()).collect()
}

#[test]
fn migrate_runs_once_the_first_step_held_and_before_the_new_version_gets_more() {
    let mut h = harness(Vec::new(), 0);
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    assert_eq!(h.world.jobs, vec![(Job::Migrate, 10)]);
    let journaled: Vec<_> = h.events.iter().filter_map(|e| e.job.as_ref()).collect();
    assert_eq!(journaled.len(), 1);
    assert_eq!(journaled[0].name, "migrate");
}

#[test]
fn a_failed_backfill_rolls_the_release_back_before_any_more_traffic() {
    let mut h = harness(Vec::new(), 1);
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::RolledBack));
    assert!(
        !h.traffic_writes().contains(&TrafficWrite::SetWeight(50)),
        "{:?}",
        h.traffic_writes()
    );
    assert!(
        reasons(&h)
            .iter()
            .any(|r| r.starts_with("migrate failed (exit 1: no): rolled back")),
        "{:?}",
        reasons(&h)
    );
    assert_eq!(h.world.weight, 0);
}

#[test]
fn a_pre_step_hook_that_holds_pauses_until_resumed_and_runs_again() {
    let mut h = harness(vec![hook(HookPoint::PreStep, OnFailure::Hold)], 1);
    h.run_for(secs(5));
    assert_eq!(h.phase(), Phase::Paused);
    assert!(
        h.r.snapshot()
            .reason
            .starts_with("held: pre_step hook check failed (exit 1: no)")
    );
    // Held: nothing moved, and time alone does not move it.
    h.run_for(secs(120));
    assert_eq!(h.traffic_writes(), vec![TrafficWrite::Prepare]);
    assert_eq!(
        h.command(CommandKind::Advance),
        CommandReply::Refused {
            reason: "alice asked to advance: refused — cannot advance: the release is paused by engine — resume it first".into()
        }
    );
    assert_eq!(h.command(CommandKind::Resume), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    let pre_steps = h
        .world
        .jobs
        .iter()
        .filter(|(j, _)| *j == Job::Hooks(HookPoint::PreStep));
    // Twice before 10 % (failed, then passed), then before 50 % and 100 %.
    assert_eq!(pre_steps.count(), 4);
}

#[test]
fn a_pre_step_hook_that_refuses_rolls_the_release_back() {
    // The third job: the pre_step hook before 50 %, after the backfill.
    let mut h = harness(vec![hook(HookPoint::PreStep, OnFailure::Refuse)], 0);
    run_until(&mut h, migrated);
    h.world.fail_jobs = 1;
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::RolledBack));
    assert!(
        reasons(&h).iter().any(|r| r.starts_with(
            "pre_step hook check failed (exit 1: no): the step is refused: rolled back"
        )),
        "{:?}",
        reasons(&h)
    );
}

#[test]
fn a_failed_post_step_hook_is_reported_and_the_release_goes_on() {
    let mut h = harness(vec![hook(HookPoint::PostStep, OnFailure::Refuse)], 1);
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    let failed: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| e.job.as_ref())
        .filter(|run| !run.passed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name, "post_step hook check");
}

#[test]
fn a_confirm_gate_asks_again_until_it_passes_and_says_each_answer_once() {
    let mut h = harness(vec![hook(HookPoint::Confirm, OnFailure::Refuse)], 0);
    // At 50 %: the gate before 100 % answers "no" 5 times.
    run_until(&mut h, |h| h.world.weight == 50);
    h.world.fail_jobs = 5;
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    let confirms: Vec<_> = h
        .world
        .jobs
        .iter()
        .filter(|(j, _)| *j == Job::Hooks(HookPoint::Confirm))
        .collect();
    assert_eq!(confirms.len(), 6, "{:?}", h.world.jobs);
    let said: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| e.job.as_ref())
        .filter(|run| run.name.starts_with("confirm"))
        .map(|run| run.passed)
        .collect();
    assert_eq!(said, vec![false, true]);
}

#[test]
fn a_promote_keeps_the_backfill_and_a_human_advance_confirms() {
    let mut h = harness(vec![hook(HookPoint::Confirm, OnFailure::Refuse)], 0);
    h.run_for(secs(5));
    // Promoted at 10 %: the backfill still runs before 100 %.
    assert_eq!(h.command(CommandKind::Promote), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
    assert_eq!(h.world.jobs, vec![(Job::Migrate, 10)], "{:?}", reasons(&h));

    let mut h = harness(vec![hook(HookPoint::Confirm, OnFailure::Refuse)], 0);
    run_until(&mut h, |h| h.world.weight == 50);
    h.world.fail_jobs = 1000;
    h.run_for(secs(120));
    assert_eq!(h.world.weight, 50);
    assert!(
        h.r.snapshot()
            .reason
            .starts_with("waiting for confirm hook check to confirm (exit 1: no)"),
        "{}",
        h.r.snapshot().reason
    );
    assert_eq!(h.command(CommandKind::Advance), CommandReply::Accepted);
    assert_eq!(h.run_to_end(secs(600)), Some(ReleaseResult::Succeeded));
}
