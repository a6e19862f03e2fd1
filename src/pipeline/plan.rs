//! The plan of a release: its steps, gates and minimum duration, computed
//! from the configuration — nothing is touched — and what the
//! environment's quality gate says now. `helmsman plan` prints it; the
//! cockpit's detail view shows it for the release it runs.
//!
//! The plan starts from the version that serves, read as `release` reads
//! it: the backend's traffic state. A plan of the version already serving
//! is refused as the release would be. When the backend cannot be read the
//! plan still comes, from the history's last success there (else the
//! configured `stable`), and says so.

use std::time::Duration;

use serde::{Deserialize, Serialize};

mod backend;
mod evidence;
mod phases;

use crate::config::duration::format as fmt_duration;
use crate::config::metrics::TemplateValues;
use crate::config::{
    Backend, Config, KubernetesBackend, KubernetesSplit, MetricsSource, Service, Trigger,
};
use crate::engine::Target;
use crate::engine::plan::{Fleet, PlanStep, of_service};
use crate::pipeline::{self, PipelineError, ReleaseRequest};
use crate::preflight::{self, CheckOutcome, CheckStatus, ReleaseOf, Selection};
use crate::store::History;
use crate::strategy::Rolling;
use crate::strategy::StrategyKind;
use backend::{Terms, Where};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Requirement {
    pub env: String,
    pub met: bool,
}

/// Where the version a plan starts from was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StableFrom {
    /// The backend's traffic state, as a release reads it.
    Backend,
    /// The backend could not be read: the last release that succeeded there.
    History,
    /// Neither: the local backend's configured `stable`.
    Configured,
    /// Neither, on Kubernetes: known only when the release reads the cluster.
    Unknown,
}

/// The version serving now, where that was learnt, and why the backend
/// could not tell when it did not.
#[derive(Debug, Clone)]
pub struct Stable {
    pub version: String,
    pub from: StableFrom,
    pub unread: Option<String>,
}

impl Stable {
    /// Read from the backend, as a release does before it starts.
    pub fn read(version: String) -> Stable {
        Stable {
            version,
            from: StableFrom::Backend,
            unread: None,
        }
    }

    /// Before any release and with no backend to ask: what the
    /// configuration says (for tests and callers that touch nothing).
    pub fn configured(service: &Service) -> Stable {
        match &service.backend {
            Backend::Local(b) => Stable {
                version: b.stable.clone(),
                from: StableFrom::Configured,
                unread: None,
            },
            Backend::Kubernetes(_) => Stable {
                version: "(read from the cluster at release)".to_string(),
                from: StableFrom::Unknown,
                unread: None,
            },
            Backend::Flagd(_) => Stable {
                version: "(read from the flag file at release)".to_string(),
                from: StableFrom::Unknown,
                unread: None,
            },
            Backend::HaProxy(_) => Stable {
                version: "(read from HAProxy at release)".to_string(),
                from: StableFrom::Unknown,
                unread: None,
            },
        }
    }
}

/// A plan waits this long at most for the backend's traffic state: it is a
/// preview, and falls back to the history rather than hang on a backend.
const STATE_READ_LIMIT: Duration = Duration::from_secs(10);

/// The version `service` serves in `env`: the backend's word when it
/// answers, else the history's last success, else the configuration's.
pub async fn current_stable(env: &str, service: &Service, history: &History) -> Stable {
    let traffic = pipeline::backends::traffic_for(service);
    let unread = match tokio::time::timeout(STATE_READ_LIMIT, traffic.state()).await {
        Ok(Ok(state)) => return Stable::read(state.stable_version),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "{} did not answer within {}",
            traffic.describe(),
            fmt_duration(STATE_READ_LIMIT)
        ),
    };
    let fallback = match history.current_version(env, &service.name) {
        Some(version) => Stable {
            version: version.to_string(),
            from: StableFrom::History,
            unread: None,
        },
        None => Stable::configured(service),
    };
    Stable {
        unread: Some(unread),
        ..fallback
    }
}

/// Serialized for `plan --output json` and for the release host's
/// watchers, whose cockpits show it in the detail view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub env: String,
    pub service: String,
    pub stable_version: String,
    /// Where `stable_version` was read: "backend", or a fallback.
    pub stable_version_from: StableFrom,
    /// Why the backend's traffic state could not be read, if it could not.
    pub stable_version_unread: Option<String>,
    pub new_version: String,
    pub strategy: String,
    pub backend: String,
    /// Where the triggers' numbers come from.
    pub metrics: String,
    /// For Prometheus: each query of the new version, with its template's key.
    pub metrics_queries: Vec<String>,
    /// Each required environment and whether the history says it is met.
    pub requires: Vec<Requirement>,
    pub steps: Vec<String>,
    pub manual_gates: usize,
    pub minimum_duration_secs: u64,
    pub triggers: Vec<String>,
    /// Something about the timing a reader would not guess.
    pub note: Option<String>,
    /// With `--rps`: the service's traffic, and each step too short to
    /// reach a verdict in it at that traffic.
    pub traffic_rps: Option<f64>,
    pub short_steps: Vec<String>,
    /// What the environment's gate says now (run by `run`, not `build`).
    pub gate: Option<CheckOutcome>,
    /// Migrations and hooks outside the traffic steps.
    #[serde(default)]
    pub phases: phases::Around,
}

/// What `helmsman plan` was asked.
#[derive(Clone, Copy)]
pub struct PlanArgs<'a> {
    pub env: &'a str,
    pub service: &'a str,
    pub version: &'a str,
    pub strategy: Option<StrategyKind>,
    /// The service's traffic, requests/s, to check each step against.
    pub rps: Option<f64>,
}

/// The plan of `args`, as `helmsman plan` prints it: checked like the
/// release it previews, from the version serving now, with the environment
/// gate's word. A plan of the version already serving is refused in the
/// words of the release.
pub async fn prepare(
    config: &Config,
    history: &History,
    args: &PlanArgs<'_>,
) -> Result<Plan, PipelineError> {
    let PlanArgs {
        env,
        service,
        version,
        strategy,
        rps,
    } = *args;
    let request = ReleaseRequest {
        service: service.to_string(),
        version: version.to_string(),
        envs: vec![env.to_string()],
        strategy,
        actor: crate::engine::Actor::Engine,
        force: false,
    };
    super::check_request(config, &request)?;
    let environment = config.environment(env).expect("checked");
    let svc = config.service(env, service).expect("checked");
    let stable = current_stable(env, svc, history).await;
    if stable.from == StableFrom::Backend && stable.version == version {
        let target = Target {
            env: env.to_string(),
            service: service.to_string(),
        };
        return Err(PipelineError::AlreadyRuns {
            target,
            version: version.to_string(),
        });
    }
    let mut plan = build(
        environment.name.as_str(),
        &environment.requires,
        svc,
        version,
        strategy,
        stable,
        history,
    );
    if let Some(rps) = rps {
        let mut effective = svc.clone();
        effective.strategy = super::effective_strategy(svc, strategy);
        let steps = of_service(&effective, None);
        plan.traffic_rps = Some(rps);
        plan.short_steps = evidence::short_steps(svc, &steps, rps);
    }
    plan.gate = preflight::run(environment, Selection::Gate(ReleaseOf { service, version }))
        .await
        .checks
        .pop();
    Ok(plan)
}

/// The plan of releasing `version` of `service` in `env`, from `stable`;
/// `history` says whether each required environment is met.
pub fn build(
    env: &str,
    requires: &[String],
    service: &Service,
    version: &str,
    strategy: Option<StrategyKind>,
    stable: Stable,
    history: &History,
) -> Plan {
    let strategy = pipeline::effective_strategy(service, strategy);
    let Where {
        fleet,
        about: backend,
        terms,
    } = backend::describe(service, &stable.version, version);
    let mut effective = service.clone();
    effective.strategy = strategy.clone();
    let (mut steps, gates, mut minimum) = steps_of(&effective, fleet, version, terms.as_ref());
    if let (
        Backend::Kubernetes(KubernetesBackend {
            split: KubernetesSplit::RollingUpdate { deployment },
            ..
        }),
        Some(Rolling { batch_pause, .. }),
    ) = (&service.backend, strategy.as_rolling())
    {
        // The batches depend on the replicas, which only the cluster
        // knows; there is at least one.
        steps.insert(
            1.min(steps.len()),
            format!(
                "batches from {deployment}'s replicas, read at release (Kubernetes may land a \
                 batch further, by its surge), each healthy for {} before the next",
                fmt_duration(*batch_pause)
            ),
        );
        minimum = minimum.max(*batch_pause);
    }
    let t = &service.triggers;
    let trigger = |name: &str, trig: &Trigger, unit: &str| {
        if !trig.enabled {
            return format!("{name}: off");
        }
        let when = if trig.after.is_zero() {
            "at once".to_string()
        } else {
            format!("once it held {}", fmt_duration(trig.after))
        };
        let floor = if trig.min_increase.is_zero() {
            String::new()
        } else {
            format!(" and +{}", fmt_duration(trig.min_increase))
        };
        format!("{name} > {}{unit}{floor} ({when})", trig.threshold)
    };
    let phases = phases::around(service, &stable.version, version);
    Plan {
        env: env.to_string(),
        service: service.name.clone(),
        stable_version: stable.version,
        stable_version_from: stable.from,
        stable_version_unread: stable.unread,
        new_version: version.to_string(),
        strategy: strategy.name().to_string(),
        backend,
        metrics: service.metrics_words(),
        metrics_queries: match &service.metrics {
            MetricsSource::Local => Vec::new(),
            MetricsSource::Prometheus(p) => p
                .queries
                .rendered(TemplateValues {
                    env,
                    service: &service.name,
                    version,
                })
                .into_iter()
                .map(|(key, query)| format!("{key}: {query}"))
                .collect(),
        },
        requires: requires
            .iter()
            .map(|r| Requirement {
                env: r.clone(),
                met: history.succeeded(r, &service.name, version),
            })
            .collect(),
        steps,
        manual_gates: gates,
        minimum_duration_secs: minimum.as_secs(),
        note: Some(evidence_note(service)),
        traffic_rps: None,
        short_steps: Vec::new(),
        gate: None,
        phases,
        triggers: vec![
            trigger("error rate over baseline", &t.error_rate, " points"),
            trigger("p95 latency vs baseline", &t.p95_latency, "×"),
            trigger("unhealthy new instances", &t.unhealthy_instances, " %"),
            trigger("new error kind", &t.new_error_kind, " % of requests"),
            format!(
                "verdicts at {} % confidence, {} % of each threshold tolerated; \
                 no verdict on fewer than {} requests; metrics read every {}",
                service.analysis.confidence * 100.0,
                service.analysis.tolerance * 100.0,
                service.analysis.min_requests,
                fmt_duration(service.analysis.interval)
            ),
        ],
    }
}

/// How much clean traffic a step needs before it may end.
fn evidence_note(service: &Service) -> String {
    format!(
        "a step ends only when every trigger passes: on clean traffic that takes about {} \
         requests on the new version ({} % confidence), so a thin canary holds its step longer \
         (`--rps` checks each step)",
        evidence::requests_for_a_pass(service),
        service.analysis.confidence * 100.0
    )
}

/// The steps in words (the engine's own plan, so `plan` never drifts from
/// what a release does), the number of manual gates, and the time the
/// release takes at the least (pauses and windows; gates not counted).
fn steps_of(
    service: &Service,
    fleet: Option<Fleet>,
    new: &str,
    terms: Option<&Terms>,
) -> (Vec<String>, usize, Duration) {
    let steps = of_service(service, fleet);
    let words = steps
        .iter()
        .map(|step| match step {
            PlanStep::Pause(_) | PlanStep::KeepOld(_) => {
                format!("{} (triggers watching)", step.describe(new))
            }
            PlanStep::Analysis(_) => format!(
                "{}: advance only if every trigger passes",
                step.describe(new)
            ),
            PlanStep::ManualGate | PlanStep::ManualSwitch => {
                format!("{}: waits for a human to advance", step.describe(new))
            }
            _ => match terms.and_then(|t| t.of(step)) {
                Some(terms) => format!("{} ({terms})", step.describe(new)),
                None => step.describe(new),
            },
        })
        .collect();
    let gates = steps
        .iter()
        .filter(|s| matches!(s, PlanStep::ManualGate | PlanStep::ManualSwitch))
        .count();
    let minimum = steps
        .iter()
        .map(PlanStep::min_duration)
        .fold(Duration::ZERO, Duration::saturating_add);
    (words, gates, minimum)
}

/// Where the starting version came from, when not from the backend itself.
fn stable_from_words(plan: &Plan) -> Option<String> {
    let source = match plan.stable_version_from {
        StableFrom::Backend => return None,
        StableFrom::History => format!(
            "{} as the history records (the last release that succeeded)",
            plan.stable_version
        ),
        StableFrom::Configured => format!("{} as configured (`stable`)", plan.stable_version),
        StableFrom::Unknown => "unknown until the release reads the backend".to_string(),
    };
    let why = match &plan.stable_version_unread {
        Some(detail) => format!(": the traffic state could not be read ({detail})"),
        None => String::new(),
    };
    let refused = if plan.stable_version == plan.new_version {
        format!(
            "; if {} still serves, the release will be refused",
            plan.new_version
        )
    } else {
        String::new()
    };
    Some(format!("{source}{why}{refused}"))
}

pub fn render(plan: &Plan) -> String {
    let mut out = format!(
        "plan: {}/{} {} → {} with {}\n",
        plan.env, plan.service, plan.stable_version, plan.new_version, plan.strategy,
    );
    if let Some(from) = stable_from_words(plan) {
        out.push_str(&format!("from: {from}\n"));
    }
    out.push_str(&format!(
        "backend: {}\nmetrics: {}\n",
        plan.backend, plan.metrics
    ));
    for query in &plan.metrics_queries {
        out.push_str(&format!("  {query}\n"));
    }
    for Requirement { env, met } in &plan.requires {
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
    if let Some(gate) = &plan.gate {
        out.push_str(&format!(
            "gate: {} {} ({}): {}{}\n",
            gate.status.word(),
            gate.name,
            gate.kind,
            gate.value,
            if gate.status == CheckStatus::Fail {
                " — the release will be refused"
            } else {
                ""
            }
        ));
    }
    for phase in &plan.phases.before {
        out.push_str(&format!("before: {phase}\n"));
    }
    for (i, step) in plan.steps.iter().enumerate() {
        out.push_str(&format!("{:>3}. {step}\n", i + 1));
    }
    for phase in &plan.phases.after {
        out.push_str(&format!("after: {phase}\n"));
    }
    for phase in &plan.phases.on_rollback {
        out.push_str(&format!("on rollback: {phase}\n"));
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
    if let Some(note) = &plan.note {
        out.push_str(&format!("note: {note}\n"));
    }
    if let Some(rps) = plan.traffic_rps {
        match plan.short_steps.as_slice() {
            [] => out.push_str(&format!(
                "at {rps} requests/s: every step reaches a verdict within its time\n"
            )),
            short => {
                for warning in short {
                    out.push_str(&format!("warning: at {rps} requests/s, {warning}\n"));
                }
            }
        }
    }
    out.push_str("rolls back automatically on:\n");
    for t in &plan.triggers {
        out.push_str(&format!("  - {t}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Step, Strategy, defaults};
    use crate::strategy::Canary;

    fn example() -> Config {
        crate::config::load_file(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config.example.toml"
        )))
        .expect("the example configuration is valid")
    }

    /// The plan of v2 of `service` in prod, from its configured stable version.
    fn plan_in_prod(service: &Service) -> Plan {
        build(
            "prod",
            &[],
            service,
            "v2",
            None,
            Stable::configured(service),
            &History::in_memory(),
        )
    }

    #[test]
    fn canary_plan_counts_pauses_windows_and_gates() {
        let config = example();
        let mut service = config.service("prod", "checkout").unwrap().clone();
        service.strategy = Strategy::Canary(Canary {
            steps: vec![
                Step::Weight(10),
                Step::Pause(Duration::from_secs(60)),
                Step::ManualGate,
                Step::Analysis(Duration::from_secs(120)),
            ],
        });
        service.triggers = defaults::triggers();
        let plan = build(
            "prod",
            &["staging".into()],
            &service,
            "v1.5.0",
            None,
            Stable::configured(&service),
            &History::in_memory(),
        );
        assert_eq!(plan.minimum_duration_secs, 180);
        assert_eq!(plan.manual_gates, 1);
        assert!(!plan.requires[0].met);
        // Ends below 100 %: the engine adds the promotion, and the plan shows it.
        assert!(
            plan.steps.iter().any(|s| s == "set weight 100%"),
            "{:?}",
            plan.steps
        );
        // 165 clean requests bound the error rate under +5 points with the
        // confidence sequences (fewer bound a p95 from above).
        assert!(
            plan.note.as_deref().unwrap().contains("about 165 requests"),
            "{:?}",
            plan.note
        );
        let text = render(&plan);
        assert!(
            text.contains("minimum duration: 3m, plus the wait at 1 manual gate"),
            "{text}"
        );
    }

    #[test]
    fn a_replica_ratio_plan_says_where_each_weight_lands() {
        let config = example();
        let mut service = config.service("prod", "payments").unwrap().clone();
        let crate::config::Backend::Kubernetes(k) = &mut service.backend else {
            panic!("payments runs in Kubernetes");
        };
        k.split = KubernetesSplit::ReplicaRatio {
            service: "payments".into(),
            stable_deployment: "payments-stable".into(),
            canary_deployment: "payments-canary".into(),
            replicas: 4,
            min_stable: 1,
        };
        service.strategy = Strategy::Canary(Canary {
            steps: vec![Step::Weight(10), Step::Weight(50), Step::Weight(100)],
        });
        let plan = plan_in_prod(&service);
        assert!(
            plan.backend.contains("reachable weights 25/50/75 %"),
            "{}",
            plan.backend
        );
        let weights: Vec<&String> = plan.steps.iter().filter(|s| s.contains("weight")).collect();
        assert_eq!(
            weights,
            [
                "set weight 10% (lands on 25% with the replica counts)",
                "set weight 50%",
                "set weight 100% (lands on 75% with the replica counts)"
            ],
            "{:?}",
            plan.steps
        );
    }

    #[test]
    fn a_rolling_update_plan_reads_its_batches_at_release() {
        let config = example();
        let mut service = config.service("prod", "payments").unwrap().clone();
        let crate::config::Backend::Kubernetes(k) = &mut service.backend else {
            panic!("payments runs in Kubernetes");
        };
        k.split = KubernetesSplit::RollingUpdate {
            deployment: "payments".into(),
        };
        service.strategy = Strategy::Rolling(Rolling::default());
        let plan = plan_in_prod(&service);
        assert!(
            plan.backend
                .contains("Deployment payments rolled by Kubernetes"),
            "{}",
            plan.backend
        );
        assert!(
            plan.steps[1].starts_with("batches from payments's replicas, read at release"),
            "{:?}",
            plan.steps
        );
    }

    #[test]
    fn a_service_selector_plan_names_the_services_and_the_slots() {
        let config = example();
        let mut service = config.service("prod", "payments").unwrap().clone();
        let crate::config::Backend::Kubernetes(k) = &mut service.backend else {
            panic!("payments runs in Kubernetes");
        };
        k.split = KubernetesSplit::ServiceSelector {
            active_service: "payments".into(),
            preview_service: "payments-preview".into(),
            blue_deployment: "payments-blue".into(),
            green_deployment: "payments-green".into(),
            selector_label: "color".into(),
        };
        service.strategy = Strategy::BlueGreen(crate::strategy::BlueGreen::default());
        let plan = plan_in_prod(&service);
        assert!(
            plan.backend.contains(
                "Service payments selects the live slot of payments-blue / payments-green by \
                 label `color`; Service payments-preview previews the new one"
            ),
            "{}",
            plan.backend
        );
        // The new slot's replicas are the live one's, known only at release.
        assert!(
            !plan.steps.iter().any(|s| s.starts_with("in rotation")),
            "{:?}",
            plan.steps
        );
        assert!(plan.steps.iter().any(|s| s == "switch all traffic to v2"));
    }

    #[test]
    fn rolling_plan_lists_every_batch() {
        let config = example();
        let service = config.service("staging", "catalog").unwrap();
        let plan = build(
            "staging",
            &[],
            service,
            "v3.2.0",
            None,
            Stable::configured(service),
            &History::in_memory(),
        );
        assert_eq!(plan.strategy, "rolling");
        let batches = plan
            .steps
            .iter()
            .filter(|s| s.starts_with("in rotation"))
            .count();
        assert_eq!(batches, 6, "{:?}", plan.steps);
        assert!(
            plan.note
                .as_deref()
                .unwrap()
                .contains("every trigger passes")
        );
    }
}
