//! The one-screen summary `check-config` prints for a valid configuration.

use std::fmt::Write;

use super::duration::format as fmt_duration;
use super::model::{
    Backend, Config, FlagdBackend, HaProxyBackend, KubernetesBackend, KubernetesSplit,
    LocalBackend, Service,
};
use super::preflight::Preflight;

/// Environments in promotion order (with what they require and what they
/// check before a release), and for each service: backend addresses, stable
/// and known versions, the strategy with its steps, the analysis interval
/// and where its metrics come from. Four short lines per service so the
/// example fits one 80-column screen. Secrets never appear.
pub fn summary(config: &Config) -> String {
    let services: usize = config.environments.iter().map(|e| e.services.len()).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} environment{}, {} service{}",
        config.source.display(),
        config.environments.len(),
        plural(config.environments.len()),
        services,
        plural(services)
    );
    for env in &config.environments {
        let requires = if env.requires.is_empty() {
            String::new()
        } else {
            format!(" (requires {})", env.requires.join(", "))
        };
        let _ = writeln!(out, "{}{requires}", env.name);
        if !env.preflight.is_empty() {
            let _ = writeln!(out, "  {}", preflight_words(&env.preflight));
        }
        if env.services.is_empty() {
            let _ = writeln!(out, "  (no services)");
        }
        for service in &env.services {
            service_lines(&mut out, service);
        }
    }
    for target in &config.notify {
        let _ = writeln!(out, "{}", notify_words(target));
    }
    out
}

/// "notify team-slack (slack): rolled-back, succeeded, alert · prod"; never the URL.
fn notify_words(target: &crate::config::notify::NotifyTarget) -> String {
    use crate::config::notify::{NotifyEvent, Sink};
    let kind = match &target.sink {
        Sink::Webhook { .. } => "webhook",
        Sink::Slack { .. } => "slack",
        Sink::Command { .. } => "command",
    };
    let events = if target.events == NotifyEvent::defaults() {
        "every event but step".to_string()
    } else {
        let names: Vec<&str> = target.events.iter().map(|e| e.name()).collect();
        names.join(", ")
    };
    let envs = if target.environments.is_empty() {
        "every environment".to_string()
    } else {
        target.environments.join(", ")
    };
    format!("notify {} ({kind}): {events} · {envs}", target.name)
}

/// "quality gate: command · 5 preflight checks: tcp, tls, env, disk, http"
fn preflight_words(preflight: &Preflight) -> String {
    let mut parts = Vec::new();
    if let Some(gate) = &preflight.gate {
        parts.push(format!("quality gate: {}", gate.kind()));
    }
    let n = preflight.checks.len();
    if n > 0 {
        let mut kinds: Vec<&str> = Vec::new();
        for kind in preflight.checks.iter().map(|c| c.kind().name()) {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        parts.push(format!(
            "{n} preflight check{}: {}",
            plural(n),
            kinds.join(", ")
        ));
    }
    parts.join(" · ")
}

/// Summary lines stay within this many columns (80×24 SSH sessions).
const WIDTH: usize = 80;
const DETAIL_INDENT: &str = "      ";

fn service_lines(out: &mut String, service: &Service) {
    match &service.backend {
        Backend::Local(local) => local_lines(out, service, local),
        Backend::Kubernetes(k) => kubernetes_lines(out, service, k),
        Backend::HaProxy(h) => haproxy_lines(out, service, h),
        Backend::Flagd(f) => flagd_lines(out, service, f),
    }
    let _ = writeln!(out, "{DETAIL_INDENT}metrics: {}", service.metrics_words());
    wrapped(out, &service.strategy.rollout().settings());
}

fn kubernetes_lines(out: &mut String, service: &Service, k: &KubernetesBackend) {
    let context = k.context.as_deref().unwrap_or("the current one");
    let (split, sizes) = match &k.split {
        KubernetesSplit::GatewayApi {
            route,
            canary_replicas,
            ..
        } => (
            format!("HTTPRoute {route}"),
            format!("canary ×{canary_replicas}"),
        ),
        KubernetesSplit::ReplicaRatio {
            service,
            replicas,
            min_stable,
            ..
        } => (
            format!("Service {service} (replica ratio)"),
            format!("×{replicas}, stable ≥ {min_stable}"),
        ),
        KubernetesSplit::ServiceSelector {
            active_service,
            preview_service,
            blue_deployment,
            green_deployment,
            selector_label,
        } => (
            format!("Service {active_service} (selector)"),
            // Its own line: beside a long image it would not fit.
            format!(
                "\n{DETAIL_INDENT}slots {blue_deployment}/{green_deployment} by \
                 `{selector_label}`, preview {preview_service}"
            ),
        ),
        KubernetesSplit::RollingUpdate { deployment } => (
            format!("Deployment {deployment} (rolling update)"),
            "replicas read at release".to_string(),
        ),
    };
    let _ = writeln!(
        out,
        "  {}  {}  kubernetes {}, context {context}, {split}",
        service.name,
        service.strategy.name(),
        k.namespace,
    );
    let separator = if sizes.starts_with('\n') { "" } else { " · " };
    let _ = writeln!(out, "{DETAIL_INDENT}image {}{separator}{sizes}", k.image);
}

fn haproxy_lines(out: &mut String, service: &Service, h: &HaProxyBackend) {
    let versions: Vec<String> = h
        .versions
        .iter()
        .map(|(name, servers)| format!("{name}×{}", servers.len()))
        .collect();
    let _ = writeln!(
        out,
        "  {}  {}  haproxy backend {}  runtime API {}",
        service.name,
        service.strategy.name(),
        h.backend,
        h.runtime_api,
    );
    let _ = writeln!(
        out,
        "{DETAIL_INDENT}stable read from HAProxy · versions {} · analysis every {}",
        versions.join(" "),
        fmt_duration(service.analysis.interval)
    );
}

fn flagd_lines(out: &mut String, service: &Service, f: &FlagdBackend) {
    let _ = writeln!(
        out,
        "  {}  {}  flag file {}  listen {}  admin {}",
        service.name,
        service.strategy.name(),
        f.flag_file.display(),
        f.plane.listen,
        f.plane.admin,
    );
    let variants: Vec<&str> = f.plane.versions.keys().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "{DETAIL_INDENT}variants {} counted by `{}` · analysis every {}",
        variants.join(" "),
        f.plane.variant_header.as_deref().unwrap_or("?"),
        fmt_duration(service.analysis.interval)
    );
    if let Some(cohort) = &f.cohort {
        let _ = writeln!(out, "{DETAIL_INDENT}beta first: {}", cohort.words());
    }
}

fn local_lines(out: &mut String, service: &Service, local: &LocalBackend) {
    let versions: Vec<String> = local
        .versions
        .iter()
        .map(|(name, upstreams)| format!("{name}×{}", upstreams.len()))
        .collect();
    let _ = writeln!(
        out,
        "  {}  {}  listen {}  admin {}",
        service.name,
        service.strategy.name(),
        local.listen,
        local.admin,
    );
    let _ = writeln!(
        out,
        "{DETAIL_INDENT}stable {} · versions {} · analysis every {}",
        local.stable,
        versions.join(" "),
        fmt_duration(service.analysis.interval)
    );
}

/// Writes `parts` joined by " → ", wrapping before WIDTH columns.
fn wrapped(out: &mut String, parts: &[String]) {
    let mut line = String::from(DETAIL_INDENT);
    for (i, part) in parts.iter().enumerate() {
        let piece = if i + 1 < parts.len() {
            format!("{part} → ")
        } else {
            part.clone()
        };
        let used = line.chars().count();
        if used > DETAIL_INDENT.len() && used + piece.trim_end().chars().count() > WIDTH {
            let _ = writeln!(out, "{}", line.trim_end());
            line = format!("{DETAIL_INDENT}  ");
        }
        line.push_str(&piece);
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn summarises_environments_services_and_steps() {
        let text = r#"
[[environments]]
name = "dev"
[[environments.services]]
name = "checkout"
strategy = "canary"
[environments.services.backend]
listen = "127.0.0.1:18080"
admin = "127.0.0.1:19080"
stable = "v1"
versions = { v1 = ["127.0.0.1:18181"], v2 = ["127.0.0.1:18281", "127.0.0.1:18282"] }

[[environments]]
name = "prod"
requires = ["dev"]
"#;
        let config = crate::config::parse_str(text, Path::new("h.toml"), &|_| None).expect("valid");
        let text = summary(&config);
        assert_eq!(
            text,
            "h.toml: 2 environments, 1 service\n\
             dev\n\
             \x20 checkout  canary  listen 127.0.0.1:18080  admin 127.0.0.1:19080\n\
             \x20     stable v1 · versions v1×1 v2×2 · analysis every 10s\n\
             \x20     metrics: the data plane's own counters\n\
             \x20     5% → pause 1m → 25% → analysis 2m → 50% → pause 2m → 100%\n\
             prod (requires dev)\n  (no services)\n"
        );
    }

    #[test]
    fn a_rolling_update_names_its_deployment() {
        let text = r#"
[[environments]]
name = "prod"
[[environments.services]]
name = "checkout"
strategy = "rolling"
[environments.services.backend]
type = "kubernetes"
namespace = "shop"
traffic = "rolling-update"
deployment = "checkout"
image = "registry.example.com/checkout:{version}"
"#;
        let text = &[text, crate::config::PROMETHEUS_METRICS_TOML].concat();
        let config = crate::config::parse_str(text, Path::new("h.toml"), &|_| None).expect("valid");
        let text = summary(&config);
        assert!(
            text.contains(
                "checkout  rolling  kubernetes shop, context the current one, Deployment checkout \
                 (rolling update)\n"
            ),
            "{text}"
        );
        assert!(text.contains("· replicas read at release"), "{text}");
    }

    #[test]
    fn a_service_selector_names_its_services_slots_and_label() {
        let text = r#"
[[environments]]
name = "prod"
[[environments.services]]
name = "checkout"
strategy = "blue-green"
[environments.services.backend]
type = "kubernetes"
context = "prod-eu"
namespace = "shop"
traffic = "service-selector"
active_service = "checkout"
preview_service = "checkout-preview"
blue_deployment = "checkout-blue"
green_deployment = "checkout-green"
selector_label = "color"
image = "registry.example.com/checkout:{version}"
"#;
        let text = &[text, crate::config::PROMETHEUS_METRICS_TOML].concat();
        let config = crate::config::parse_str(text, Path::new("h.toml"), &|_| None).expect("valid");
        let text = summary(&config);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "  checkout  blue-green  kubernetes shop, context prod-eu, Service checkout (selector)"
        );
        assert_eq!(
            lines[3],
            "      image registry.example.com/checkout:{version}"
        );
        assert_eq!(
            lines[4],
            "      slots checkout-blue/checkout-green by `color`, preview checkout-preview"
        );
    }
}

#[cfg(test)]
mod wrap_tests {
    use super::*;

    #[test]
    fn long_step_lists_wrap_within_the_width() {
        let parts: Vec<String> = (0..30).map(|i| format!("pause {i}m")).collect();
        let mut out = String::new();
        wrapped(&mut out, &parts);
        assert!(out.lines().count() > 1);
        for line in out.lines() {
            assert!(line.chars().count() <= WIDTH, "{line}");
        }
        let rejoined: String = out.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        assert!(rejoined.contains("pause 0m → pause 1m"));
        assert!(rejoined.ends_with("pause 29m"));
    }
}
