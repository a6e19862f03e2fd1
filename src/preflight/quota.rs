//! `quota`: how much of a namespace's ResourceQuotas is used. Every quota
//! is read (`list resourcequotas`); the resource nearest its hard limit,
//! in any of them, is the value: "cpu requests 7.2 of 8 (90 %) in quota
//! compute".

use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Api;
use kube::api::ListParams;

use super::{Finding, quantity};
use crate::config::preflight::QuotaProbe;
use crate::config::{Backend, CheckSpec, Environment, Probe};
use crate::observed::CheckStatus;
use crate::providers::traffic::kubernetes::client::connect_to;

pub async fn check(probe: &QuotaProbe) -> Finding {
    let client = match connect_to(&probe.kubeconfig, &probe.context).await {
        Ok(client) => client,
        Err(e) => return Finding::fail(e.to_string()),
    };
    let namespace = &probe.namespace;
    let quotas = Api::<ResourceQuota>::namespaced(client, namespace)
        .list(&ListParams::default())
        .await;
    match quotas {
        Ok(list) => judge(&list.items, probe),
        Err(kube::Error::Api(status)) if status.code == 403 => Finding::fail(format!(
            "forbidden: cannot list resourcequotas in namespace {namespace} (grant it to the \
             user or service account helmsman runs as)"
        )),
        Err(e) => Finding::fail(format!(
            "cannot list resourcequotas in namespace {namespace}: {e}"
        )),
    }
}

/// A quota check naming neither kubeconfig nor context asks the cluster
/// of the environment's (first) Kubernetes service, when it has one.
pub fn in_cluster_of(environment: &Environment, mut spec: CheckSpec) -> CheckSpec {
    if let Probe::Quota(probe) = &mut spec.probe
        && probe.kubeconfig.is_none()
        && probe.context.is_none()
        && let Some(cluster) = environment.services.iter().find_map(|s| match &s.backend {
            Backend::Kubernetes(k) => Some(k),
            _ => None,
        })
    {
        probe.kubeconfig = cluster.kubeconfig.clone();
        probe.context = cluster.context.clone();
    }
    spec
}

/// One resource of one quota: how much is used of its hard limit.
struct Usage<'a> {
    quota: &'a str,
    resource: &'a str,
    used: f64,
    hard: f64,
}

impl Usage<'_> {
    fn pct(&self) -> f64 {
        match (self.used, self.hard) {
            (_, hard) if hard > 0.0 => self.used * 100.0 / hard,
            // A hard limit of 0 forbids the resource: any use is full.
            (used, _) if used > 0.0 => 100.0,
            _ => 0.0,
        }
    }
}

fn judge(quotas: &[ResourceQuota], probe: &QuotaProbe) -> Finding {
    let mut most: Option<Usage> = None;
    for quota in quotas {
        let name = quota.metadata.name.as_deref().unwrap_or("?");
        // The status is what the quota controller counted; a quota it has
        // not counted yet has none and says nothing.
        let Some(status) = &quota.status else {
            continue;
        };
        let (Some(hard), Some(used)) = (&status.hard, &status.used) else {
            continue;
        };
        for (resource, limit) in hard {
            let Some(amount) = used.get(resource) else {
                continue;
            };
            let (Some(hard), Some(used)) = (quantity::parse(&limit.0), quantity::parse(&amount.0))
            else {
                return Finding::fail(format!(
                    "quota {name}: `{resource}` is {} of {}, not Kubernetes quantities",
                    amount.0, limit.0
                ));
            };
            let usage = Usage {
                quota: name,
                resource,
                used,
                hard,
            };
            if most.as_ref().is_none_or(|m| usage.pct() > m.pct()) {
                most = Some(usage);
            }
        }
    }
    let Some(most) = most else {
        return Finding::pass(format!("no ResourceQuota in namespace {}", probe.namespace));
    };
    let pct = most.pct();
    let status = if pct >= probe.fail_pct {
        CheckStatus::Fail
    } else if pct >= probe.warn_pct {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    Finding {
        status,
        value: format!(
            "{} {} of {} ({pct:.0} %) in quota {}",
            resource_words(most.resource),
            amount(most.resource, most.used),
            amount(most.resource, most.hard),
            most.quota
        ),
    }
}

/// "requests.cpu" → "cpu requests"; "cpu" alone means its requests.
fn resource_words(resource: &str) -> String {
    match resource.split_once('.') {
        Some((kind @ ("requests" | "limits"), what)) => format!("{what} {kind}"),
        _ if matches!(resource, "cpu" | "memory" | "ephemeral-storage") => {
            format!("{resource} requests")
        }
        _ => resource.to_string(),
    }
}

/// Bytes in GiB or MiB for memory and storage; other amounts as numbers.
fn amount(resource: &str, value: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if resource.contains("memory") || resource.contains("storage") {
        return if value >= 1024.0 * MIB {
            format!("{} GiB", number(value / (1024.0 * MIB)))
        } else {
            format!("{} MiB", number(value / MIB))
        };
    }
    number(value)
}

/// At most two decimals, without trailing zeros: "7.2", "8", "0.25".
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn quota(name: &str, hard: serde_json::Value, used: serde_json::Value) -> ResourceQuota {
        serde_json::from_value(json!({
            "metadata": { "name": name },
            "status": { "hard": hard, "used": used }
        }))
        .unwrap()
    }

    fn probe() -> QuotaProbe {
        QuotaProbe {
            kubeconfig: None,
            context: None,
            namespace: "shop".into(),
            warn_pct: 80.0,
            fail_pct: 95.0,
        }
    }

    #[test]
    fn the_most_used_resource_of_any_quota_is_judged() {
        let quotas = [
            quota(
                "compute",
                json!({ "requests.cpu": "8", "requests.memory": "16Gi" }),
                json!({ "requests.cpu": "7200m", "requests.memory": "4Gi" }),
            ),
            quota("objects", json!({ "pods": "50" }), json!({ "pods": "10" })),
        ];
        assert_eq!(
            judge(&quotas, &probe()),
            Finding::warn("cpu requests 7.2 of 8 (90 %) in quota compute")
        );
        let full = [quota(
            "mem",
            json!({ "limits.memory": "1Gi" }),
            json!({ "limits.memory": "1000Mi" }),
        )];
        assert_eq!(
            judge(&full, &probe()),
            Finding::fail("memory limits 1000 MiB of 1 GiB (98 %) in quota mem")
        );
        let none_allowed = [quota("x", json!({ "pods": "0" }), json!({ "pods": "0" }))];
        assert_eq!(judge(&none_allowed, &probe()).status, CheckStatus::Pass);
        assert_eq!(
            judge(&[], &probe()),
            Finding::pass("no ResourceQuota in namespace shop")
        );
        let broken = [quota("x", json!({ "cpu": "lots" }), json!({ "cpu": "1" }))];
        assert_eq!(judge(&broken, &probe()).status, CheckStatus::Fail);
    }
}
