//! How much traffic a verdict needs, and whether a plan's steps give it
//! that much in their time: `helmsman plan --rps N`.
//!
//! A step that dwells ends only when every trigger passes, so a canary too
//! thin for its pauses is held past them. Better to hear it from `plan`
//! than from a release that sits at 5 % for half an hour.

use std::time::Duration;

use crate::analysis::sequences;
use crate::config::Service;
use crate::config::duration::format as fmt_duration;
use crate::engine::plan::PlanStep;

/// Requests on the new version before every enabled trigger can pass on
/// clean traffic: the request minimum, the error rate's bound under its
/// threshold, and enough requests to bound a p95 from above.
pub fn requests_for_a_pass(service: &Service) -> u64 {
    let a = &service.analysis;
    let t = &service.triggers;
    // Each side of a two-sided comparison takes half of the error budget.
    let side = (1.0 - a.confidence) / 2.0;
    let errors = if t.error_rate.enabled {
        sequences::clean_trials_to_bound_under(t.error_rate.threshold / 100.0, side)
    } else {
        0
    };
    let p95 = if t.p95_latency.enabled {
        sequences::samples_to_bound_quantile_above(0.95, side)
    } else {
        0
    };
    a.min_requests.max(errors).max(p95)
}

/// For each dwelling step that ends before the new version (or its
/// baseline) has served enough requests for a verdict, at `rps` requests
/// a second to the service: a warning with the numbers and how much
/// longer the step will be held.
pub fn short_steps(service: &Service, steps: &[PlanStep], rps: f64) -> Vec<String> {
    let needed = requests_for_a_pass(service) as f64;
    let baseline_needed = service.analysis.min_requests as f64;
    let (mut share, mut new, mut baseline) = (0.0_f64, 0.0_f64, 0.0_f64);
    let mut warnings = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            PlanStep::Weight(w) | PlanStep::Flag(w) => share = f64::from(*w) / 100.0,
            PlanStep::Switch => share = 1.0,
            PlanStep::Instances { stable, new } if stable + new > 0 => {
                share = *new as f64 / (stable + new) as f64
            }
            _ => {}
        }
        let dwell = match step {
            PlanStep::Pause(d)
            | PlanStep::Analysis(d)
            | PlanStep::KeepOld(d)
            | PlanStep::HealthGate(d) => *d,
            // The old version still serves every user during a preview:
            // that is the baseline a blue-green switch is judged against.
            PlanStep::Preview(d) => {
                baseline += rps * d.as_secs_f64();
                continue;
            }
            _ => continue,
        };
        new += share * rps * dwell.as_secs_f64();
        baseline += (1.0 - share) * rps * dwell.as_secs_f64();
        if new >= needed && baseline >= baseline_needed {
            continue;
        }
        let step_words = format!(
            "step {} ({} at {:.0} %)",
            i + 1,
            step.describe("new"),
            share * 100.0
        );
        let mut words = format!(
            "{step_words} ends with about {:.0} requests on the new version and {:.0} on the \
             baseline; a verdict needs {needed:.0} and {baseline_needed:.0}",
            new.floor(),
            baseline.floor()
        );
        let new_rate = share * rps;
        let base_rate = (1.0 - share) * rps;
        let extra = [
            (needed - new, new_rate),
            (baseline_needed - baseline, base_rate),
        ]
        .into_iter()
        .filter(|(missing, _)| *missing > 0.0)
        .map(|(missing, rate)| (rate > 0.0).then(|| missing / rate))
        .collect::<Option<Vec<f64>>>();
        match extra {
            Some(secs) => {
                let longest = secs.into_iter().fold(0.0_f64, f64::max).ceil();
                words += &format!(
                    ": held about {} longer (or advance it)",
                    fmt_duration(Duration::from_secs(longest as u64))
                );
            }
            None => words += ": held until someone advances it",
        }
        warnings.push(words);
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Step, Strategy, defaults};
    use crate::engine::plan::plan as engine_plan;
    use crate::strategy::Canary;

    fn checkout() -> Service {
        let config = crate::config::load_file(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config.example.toml"
        )))
        .expect("the example configuration is valid");
        let mut service = config.service("prod", "checkout").unwrap().clone();
        service.analysis = defaults::analysis();
        service.triggers = defaults::triggers();
        service
    }

    #[test]
    fn a_pass_needs_the_error_rates_bound_and_a_p95_bound() {
        let s = checkout();
        let n = requests_for_a_pass(&s);
        assert!(n >= s.analysis.min_requests, "{n}");
        let side = (1.0 - s.analysis.confidence) / 2.0;
        assert!(sequences::proportion(0.0, n as f64, side).1 <= 0.05);
        assert!(sequences::quantile_ranks(n, 0.95, side).1.is_some());
        let p95 = sequences::samples_to_bound_quantile_above(0.95, side);
        assert!(sequences::quantile_ranks(p95 - 1, 0.95, side).1.is_none());
    }

    #[test]
    fn a_thin_canary_is_warned_about_with_the_extra_time() {
        let mut s = checkout();
        s.strategy = Strategy::Canary(Canary {
            steps: vec![
                Step::Weight(5),
                Step::Pause(Duration::from_secs(60)),
                Step::Weight(50),
                Step::Pause(Duration::from_secs(60)),
            ],
        });
        let steps = engine_plan(&s.strategy, None);
        let thin = short_steps(&s, &steps, 10.0);
        assert_eq!(thin.len(), 1, "{thin:?}");
        assert!(
            thin[0].contains("ends with about 30 requests on the new version"),
            "{}",
            thin[0]
        );
        assert!(thin[0].contains("held about "), "{}", thin[0]);
        // Ten times the traffic reaches a verdict in every step.
        assert!(short_steps(&s, &steps, 100.0).is_empty());
    }
}
