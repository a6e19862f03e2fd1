//! `helmsman plan`: the steps, gates and minimum duration of a release,
//! computed from the configuration alone — nothing is touched.

use std::time::Duration;

use serde::Serialize;

use super::OutputFormat;
use crate::config::duration::format as fmt_duration;
use crate::config::{Backend, Config, Service, Step, Strategy, Trigger};
use crate::pipeline::{self, ReleaseRequest, StrategyKind};
use crate::store::History;

#[derive(Debug, Serialize)]
pub struct Plan {
    pub env: String,
    pub service: String,
    pub stable_version: String,
    pub new_version: String,
    pub strategy: String,
    pub backend: String,
    /// Each requirement and whether the history says it is met.
    pub requires: Vec<(String, bool)>,
    pub steps: Vec<String>,
    pub manual_gates: usize,
    pub minimum_duration_secs: u64,
    pub triggers: Vec<String>,
}

pub fn run(
    config: &Config,
    history: &History,
    env: &str,
    service: &str,
    version: &str,
    strategy: Option<StrategyKind>,
    output: OutputFormat,
) -> i32 {
    let request = ReleaseRequest {
        service: service.to_string(),
        version: version.to_string(),
        envs: vec![env.to_string()],
        strategy,
        actor: crate::engine::Actor::Engine,
    };
    if let Err(e) = pipeline::check_request(config, &request) {
        eprintln!("error: {e}");
        return e.exit_code();
    }
    let environment = config.environment(env).expect("checked");
    let svc = config.service(env, service).expect("checked");
    let plan = build(
        environment.name.as_str(),
        &environment.requires,
        svc,
        version,
        strategy,
        history,
    );
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&plan).expect("plans serialize")
        ),
        OutputFormat::Text => print!("{}", render(&plan)),
    }
    0
}

pub fn build(
    env: &str,
    requires: &[String],
    service: &Service,
    version: &str,
    strategy: Option<StrategyKind>,
    history: &History,
) -> Plan {
    let Backend::Local(backend) = &service.backend;
    let strategy = pipeline::effective_strategy(service, strategy);
    let stable = backend.stable.clone();
    let (steps, gates, minimum) = steps_of(
        &strategy,
        &stable,
        version,
        backend.versions.get(version).map_or(0, Vec::len),
    );
    let t = &service.triggers;
    let trigger = |name: &str, trig: &Trigger, unit: &str| {
        if !trig.enabled {
            return format!("{name}: off");
        }
        let when = if trig.after.is_zero() {
            "at once".to_string()
        } else {
            format!("after {}", fmt_duration(trig.after))
        };
        format!("{name} > {}{unit} ({when})", trig.threshold)
    };
    Plan {
        env: env.to_string(),
        service: service.name.clone(),
        stable_version: stable,
        new_version: version.to_string(),
        strategy: strategy.name().to_string(),
        backend: format!(
            "local data plane on {} (admin {})",
            backend.listen, backend.admin
        ),
        requires: requires
            .iter()
            .map(|r| (r.clone(), history.succeeded(r, &service.name, version)))
            .collect(),
        steps,
        manual_gates: gates,
        minimum_duration_secs: minimum.as_secs(),
        triggers: vec![
            trigger("error rate over baseline", &t.error_rate, " points"),
            trigger("p95 latency vs baseline", &t.p95_latency, "×"),
            trigger("unhealthy new instances", &t.unhealthy_instances, " %"),
            trigger("new error kind", &t.new_error_kind, " % of requests"),
            format!(
                "no verdict on fewer than {} requests; metrics read every {}",
                service.analysis.min_requests,
                fmt_duration(service.analysis.interval)
            ),
        ],
    }
}

/// The steps in words, the number of manual gates, and the time the
/// release takes at the least (pauses, windows; gates not counted).
fn steps_of(
    strategy: &Strategy,
    stable: &str,
    new: &str,
    new_instances: usize,
) -> (Vec<String>, usize, Duration) {
    let mut steps = vec![format!("stage {new} beside {stable}, no user traffic")];
    let mut gates = 0;
    let mut minimum = Duration::ZERO;
    match strategy {
        Strategy::Canary { steps: s } | Strategy::FeatureFlag { steps: s, .. } => {
            let flag = matches!(strategy, Strategy::FeatureFlag { .. });
            for step in s {
                steps.push(match step {
                    Step::Weight(w) if flag => format!("set the flag to {w} %"),
                    Step::Weight(w) => format!("send {w} % of traffic to {new}"),
                    Step::Pause(d) => {
                        minimum += *d;
                        format!("pause {} (triggers watching)", fmt_duration(*d))
                    }
                    Step::ManualGate => {
                        gates += 1;
                        "manual gate: waits for a human to advance".to_string()
                    }
                    Step::Analysis(d) => {
                        minimum += *d;
                        format!(
                            "analysis {}: advance only if every trigger passes",
                            fmt_duration(*d)
                        )
                    }
                });
            }
            if !matches!(
                s.iter().rev().find(|s| matches!(s, Step::Weight(_))),
                Some(Step::Weight(100))
            ) {
                steps.push(format!("promote: 100 % to {new}"));
            }
        }
        Strategy::BlueGreen {
            smoke_path,
            preview_for,
            manual_switch,
            scale_down_delay,
        } => {
            minimum += *preview_for + *scale_down_delay;
            steps.push(format!(
                "validate the preview for {}: health checks and GET {smoke_path} on every {new} instance",
                fmt_duration(*preview_for)
            ));
            if *manual_switch {
                gates += 1;
                steps.push("manual gate: waits for a human to switch".to_string());
            }
            steps.push(format!("switch all traffic to {new}"));
            steps.push(format!(
                "keep {stable} for an instant switch-back for {} (triggers watching)",
                fmt_duration(*scale_down_delay)
            ));
            steps.push(format!("scale {stable} down"));
        }
        Strategy::Rolling {
            max_surge,
            max_unavailable,
            batch_pause,
        } => {
            let batch = (*max_surge + *max_unavailable).max(1) as usize;
            let batches = new_instances.div_ceil(batch).max(1);
            minimum += *batch_pause * batches as u32;
            steps.push(format!(
                "replace {new_instances} instances {batch} at a time (max surge {max_surge}, max unavailable {max_unavailable}): \
                 {batches} batches, each healthy for {} before the next",
                fmt_duration(*batch_pause)
            ));
        }
    }
    steps.push(format!("finish: {new} becomes stable, {stable} retired"));
    (steps, gates, minimum)
}

pub fn render(plan: &Plan) -> String {
    let mut out = format!(
        "plan: {}/{} {} → {} with {}\nbackend: {}\n",
        plan.env, plan.service, plan.stable_version, plan.new_version, plan.strategy, plan.backend
    );
    for (env, met) in &plan.requires {
        out.push_str(&format!(
            "requires: {} succeeded in {env}: {}\n",
            plan.new_version,
            if *met {
                "yes"
            } else {
                "NOT YET — the release will be refused"
            }
        ));
    }
    for (i, step) in plan.steps.iter().enumerate() {
        out.push_str(&format!("{:>3}. {step}\n", i + 1));
    }
    out.push_str(&format!(
        "minimum duration: {}{}\n",
        fmt_duration(Duration::from_secs(plan.minimum_duration_secs)),
        match plan.manual_gates {
            0 => String::new(),
            1 => ", plus the wait at 1 manual gate".to_string(),
            n => format!(", plus the waits at {n} manual gates"),
        }
    ));
    out.push_str("rolls back automatically on:\n");
    for t in &plan.triggers {
        out.push_str(&format!("  - {t}\n"));
    }
    out
}
