//! The `cpu` and `memory` templates: each version's use of what it may
//! use, asked once when a release ends, for its report. Unlike the
//! counters a release is judged on, nothing waits on these: a template not
//! set, or a query Prometheus does not answer with one finite number, is
//! "not measured" (and said in the log), never a guess.

use super::api::{Api, Failure};
use crate::config::metrics::{PrometheusSource, Template, TemplateValues};
use crate::metrics::{PerVersion, ResourceUse};

/// The versions a release compared, in the environment and service named.
pub struct Versions<'a> {
    pub env: &'a str,
    pub service: &'a str,
    pub new: &'a str,
    pub stable: &'a str,
}

pub async fn resource_use(source: &PrometheusSource, versions: &Versions<'_>) -> ResourceUse {
    let api = Api::new(source);
    let (cpu_pct, memory_pct) = futures::join!(
        per_version(&api, "cpu", source.queries.cpu.as_deref(), versions),
        per_version(&api, "memory", source.queries.memory.as_deref(), versions),
    );
    ResourceUse {
        cpu_pct,
        memory_pct,
    }
}

async fn per_version(
    api: &Api,
    key: &str,
    template: Option<&Template>,
    versions: &Versions<'_>,
) -> PerVersion {
    let Some(template) = template else {
        return PerVersion::default();
    };
    let (new, stable) = futures::join!(
        one(api, key, template, versions, versions.new),
        one(api, key, template, versions, versions.stable),
    );
    PerVersion { new, stable }
}

async fn one(
    api: &Api,
    key: &str,
    template: &Template,
    versions: &Versions<'_>,
    version: &str,
) -> Option<f64> {
    let query = template.render(TemplateValues {
        env: versions.env,
        service: versions.service,
        version,
    });
    let answer = match api.query(&query).await {
        Ok(answer) => answer,
        Err(Failure::Unreachable(why) | Failure::Rejected(why) | Failure::Invalid(why)) => {
            tracing::warn!("`{key}` of {version} not measured: {why}; query: {query}");
            return None;
        }
    };
    match answer.as_slice() {
        [one] if one.value.is_finite() && one.value >= 0.0 => Some(one.value),
        other => {
            tracing::warn!(
                "`{key}` of {version} not measured: {} series where one number was expected; query: {query}",
                other.len()
            );
            None
        }
    }
}
