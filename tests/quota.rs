//! The `quota` preflight check against a fake Kubernetes API server on
//! loopback (tests/kube/quota_api.rs), through the real kube client and a
//! generated kubeconfig: pass, warn, fail, no quotas, 403, and
//! `helmsman validate` showing it.

#[path = "kube/api_status.rs"]
mod api_status;
#[path = "kube/quota_api.rs"]
mod quota_api;

use std::path::Path;

use serde_json::json;

use helmsman::config::parse_str;
use helmsman::preflight::{CheckStatus, Selection, run};

use quota_api::{QuotaApi, Quotas, quota};

fn config_text(kubeconfig: &Path) -> String {
    format!(
        "[[environments]]\nname = \"prod\"\n[[environments.checks]]\nname = \"quota\"\n\
         type = \"quota\"\nkubeconfig = \"{}\"\nnamespace = \"shop\"\n",
        kubeconfig.display()
    )
}

/// The status and value of the quota check over what `quotas` serves.
async fn check(quotas: Quotas) -> (CheckStatus, String) {
    let api = QuotaApi::start("shop", quotas).await;
    let config = parse_str(&config_text(&api.kubeconfig), Path::new("q.toml"), &|_| {
        None
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let report = run(&config.environments[0], Selection::Everything).await;
    let outcome = &report.checks[0];
    (outcome.status, outcome.value.clone())
}

fn compute(cpu_used: &str) -> serde_json::Value {
    quota(
        "compute",
        json!({ "requests.cpu": "8", "requests.memory": "16Gi", "limits.memory": "32Gi" }),
        json!({ "requests.cpu": cpu_used, "requests.memory": "6Gi", "limits.memory": "12Gi" }),
    )
}

#[tokio::test]
async fn the_most_used_resource_passes_warns_or_fails_by_the_thresholds() {
    let objects = quota("objects", json!({ "pods": "50" }), json!({ "pods": "20" }));
    let (status, value) = check(Quotas::List(vec![compute("2500m"), objects.clone()])).await;
    assert_eq!(
        (status, value.as_str()),
        (CheckStatus::Pass, "pods 20 of 50 (40 %) in quota objects")
    );
    let (status, value) = check(Quotas::List(vec![objects.clone(), compute("7200m")])).await;
    assert_eq!(
        (status, value.as_str()),
        (
            CheckStatus::Warn,
            "cpu requests 7.2 of 8 (90 %) in quota compute"
        )
    );
    let (status, value) = check(Quotas::List(vec![compute("7.8")])).await;
    assert_eq!(
        (status, value.as_str()),
        (
            CheckStatus::Fail,
            "cpu requests 7.8 of 8 (98 %) in quota compute"
        )
    );
}

#[tokio::test]
async fn no_quota_passes_and_a_403_names_the_verb_and_resource() {
    let (status, value) = check(Quotas::List(vec![])).await;
    assert_eq!(
        (status, value.as_str()),
        (CheckStatus::Pass, "no ResourceQuota in namespace shop")
    );
    let (status, value) = check(Quotas::Forbidden).await;
    assert_eq!(status, CheckStatus::Fail);
    assert!(
        value.starts_with("forbidden: cannot list resourcequotas in namespace shop"),
        "{value}"
    );
}

#[tokio::test]
async fn helmsman_validate_shows_the_quota_check() {
    let api = QuotaApi::start("shop", Quotas::List(vec![compute("7200m")])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("helmsman.toml");
    std::fs::write(&config, config_text(&api.kubeconfig)).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .arg("--config")
        .arg(&config)
        .env("HELMSMAN_STATE_DIR", dir.path().join("state"))
        .args(["validate", "--env", "prod"])
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains("WARN    environment  quota"), "{out}");
    assert!(
        out.contains("cpu requests 7.2 of 8 (90 %) in quota compute"),
        "{out}"
    );
}

#[tokio::test]
async fn without_kubeconfig_or_context_the_environment_kubernetes_service_cluster_is_asked() {
    let api = QuotaApi::start("shop", Quotas::List(vec![compute("7.8")])).await;
    let text = format!(
        r#"[[environments]]
name = "prod"
[[environments.checks]]
type = "quota"
namespace = "shop"
[[environments.services]]
name = "checkout"
[environments.services.backend]
type = "kubernetes"
kubeconfig = "{}"
namespace = "shop"
traffic = "gateway-api"
route = "checkout"
stable_service = "checkout-stable"
canary_service = "checkout-canary"
stable_deployment = "checkout-stable"
canary_deployment = "checkout-canary"
image = "registry.example.com/checkout:{{version}}"
[environments.services.metrics]
type = "prometheus"
url = "http://127.0.0.1:9090"
requests = 'sum(http_requests_total{{version="{{version}}"}})'
errors_by_kind = 'sum by (kind) (http_errors_total{{version="{{version}}"}})'
p95_seconds = 'histogram_quantile(0.95, sum by (le) (rate(latency_bucket{{version="{{version}}"}}[1m])))'
"#,
        api.kubeconfig.display()
    );
    let config = parse_str(&text, Path::new("q.toml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let report = run(&config.environments[0], Selection::Everything).await;
    let outcome = &report.checks[0];
    assert_eq!(outcome.name, "quota shop");
    assert_eq!(
        (outcome.status, outcome.value.as_str()),
        (
            CheckStatus::Fail,
            "cpu requests 7.8 of 8 (98 %) in quota compute"
        )
    );
}
