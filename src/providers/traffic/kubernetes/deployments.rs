//! The stable and canary Deployments: their image (which is the version),
//! their replicas, and waiting for a rollout as `kubectl rollout status` does.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use kube::Api;

use super::calls::Calls;
use crate::providers::ProviderError;

pub(super) const RESOURCE: &str = "deployments.apps";

/// A Deployment that does not run the image template's versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ImageError {
    #[error("deployment {deployment} has no container `{container}`")]
    NoNamedContainer {
        deployment: String,
        container: String,
    },
    #[error("deployment {deployment} has no container")]
    NoContainer { deployment: String },
    #[error("deployment {deployment} runs image `{image}`, which does not match `{template}`")]
    Unmatched {
        deployment: String,
        image: String,
        template: String,
    },
}

/// The image of a version, from a template with `{version}` in it.
pub(super) struct ImageTemplate<'a> {
    pub template: &'a str,
    /// The container that carries the version; `None`: the first.
    pub container: Option<&'a str>,
}

impl ImageTemplate<'_> {
    pub fn image_of(&self, version: &str) -> String {
        self.template.replace("{version}", version)
    }

    /// The version a running image is, if it matches the template.
    pub fn version_of<'i>(&self, image: &'i str) -> Option<&'i str> {
        let (prefix, suffix) = self.template.split_once("{version}")?;
        image
            .strip_prefix(prefix)?
            .strip_suffix(suffix)
            .filter(|v| !v.is_empty())
    }

    fn container_of<'d>(&self, deployment: &'d Deployment) -> Option<&'d Container> {
        self.container_in(deployment.spec.template.spec.as_ref()?)
    }

    /// The container that carries the version in a pod (or pod template).
    pub fn container_in<'s>(&self, spec: &'s PodSpec) -> Option<&'s Container> {
        let containers = &spec.containers;
        match self.container {
            Some(name) => containers.iter().find(|c| c.name == name),
            None => containers.first(),
        }
    }

    /// Points the Deployment's pod template at the image of `version`.
    pub fn set_version(
        &self,
        deployment: &mut Deployment,
        version: &str,
    ) -> Result<(), ImageError> {
        let missing = self.no_container(deployment);
        let container = self.container_mut(deployment).ok_or(missing)?;
        container.image = Some(self.image_of(version));
        Ok(())
    }

    fn container_mut<'d>(&self, deployment: &'d mut Deployment) -> Option<&'d mut Container> {
        let containers = &mut deployment.spec.template.spec.as_mut()?.containers;
        match self.container {
            Some(name) => containers.iter_mut().find(|c| c.name == name),
            None => containers.first_mut(),
        }
    }

    /// The version the Deployment's pod template runs.
    pub fn running_version(&self, deployment: &Deployment) -> Result<String, ImageError> {
        let image = self
            .container_of(deployment)
            .and_then(|c| c.image.as_deref())
            .ok_or_else(|| self.no_container(deployment))?;
        self.version_of(image)
            .map(str::to_string)
            .ok_or_else(|| ImageError::Unmatched {
                deployment: name_of(deployment).to_string(),
                image: image.to_string(),
                template: self.template.to_string(),
            })
    }

    fn no_container(&self, deployment: &Deployment) -> ImageError {
        let deployment = name_of(deployment).to_string();
        match self.container {
            Some(c) => ImageError::NoNamedContainer {
                deployment,
                container: c.to_string(),
            },
            None => ImageError::NoContainer { deployment },
        }
    }
}

fn name_of(deployment: &Deployment) -> &str {
    deployment.metadata.name.as_deref().unwrap_or("?")
}

/// Desired and ready replicas, as read back.
pub(super) struct Replicas {
    pub desired: u32,
    pub ready: u32,
}

pub(super) fn replicas(deployment: &Deployment) -> Replicas {
    let count = |n: Option<i32>| n.unwrap_or(0).max(0) as u32;
    Replicas {
        desired: count(deployment.spec.replicas),
        ready: count(deployment.status.as_ref().and_then(|s| s.ready_replicas)),
    }
}

pub(super) struct Deployments<'a> {
    pub api: Api<Deployment>,
    pub calls: &'a Calls,
    pub image: ImageTemplate<'a>,
}

impl Deployments<'_> {
    pub async fn get(&self, name: &str) -> Result<Deployment, ProviderError> {
        self.calls
            .call("get", RESOURCE, || self.api.get(name))
            .await
    }

    /// Sets the image of `version` and, if given, the replicas.
    pub async fn set(
        &self,
        name: &str,
        version: Option<&str>,
        replicas: Option<u32>,
    ) -> Result<(), ProviderError> {
        self.calls
            .update(&self.api, RESOURCE, name, |deployment| {
                if let Some(version) = version {
                    self.image
                        .set_version(deployment, version)
                        .map_err(|missing| self.calls.rejected(missing.to_string()))?;
                }
                if let Some(n) = replicas {
                    deployment.spec.replicas = Some(n as i32);
                }
                Ok(())
            })
            .await
            .map(drop)
    }

    /// Waits until every replica runs the current pod template and is
    /// available, or the rollout timeout passes.
    pub async fn wait_rolled_out(&self, name: &str) -> Result<(), ProviderError> {
        let patience = &self.calls.patience;
        let deadline = tokio::time::Instant::now() + patience.rollout_timeout;
        loop {
            let deployment = self.get(name).await?;
            let waiting_for = match rollout_progress(&deployment) {
                Progress::Done => return Ok(()),
                // Retrying will not make it progress: the release rolls back.
                Progress::Failed(why) => {
                    return Err(ProviderError::Failed {
                        provider: self.calls.provider.clone(),
                        detail: format!("deployment {name}: {why}"),
                    });
                }
                Progress::Waiting(what) => what,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(self.calls.rejected(format!(
                    "deployment {name} did not roll out within {:?}: {waiting_for}",
                    patience.rollout_timeout
                )));
            }
            tokio::time::sleep(patience.rollout_poll).await;
        }
    }
}

pub(super) enum Progress {
    Done,
    Waiting(String),
    Failed(String),
}

/// `kubectl rollout status`'s reading of a Deployment.
pub(super) fn rollout_progress(deployment: &Deployment) -> Progress {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let desired = replicas(deployment).desired as i32;
    let Some(status) = &deployment.status else {
        return Progress::Waiting("no status yet".into());
    };
    if status.observed_generation.unwrap_or(0) < generation {
        return Progress::Waiting("the controller has not seen the change yet".into());
    }
    let stalled = status.conditions.iter().flatten().any(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if stalled {
        return Progress::Failed("its progress deadline was exceeded".into());
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < desired {
        Progress::Waiting(format!("{updated} of {desired} replicas updated"))
    } else if total > updated {
        Progress::Waiting(format!("{} old replicas terminating", total - updated))
    } else if available < updated {
        Progress::Waiting(format!(
            "{available} of {updated} updated replicas available"
        ))
    } else {
        Progress::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_back_through_the_template() {
        let t = ImageTemplate {
            template: "registry.example.com:5000/checkout:{version}-alpine",
            container: None,
        };
        assert_eq!(
            t.image_of("v2"),
            "registry.example.com:5000/checkout:v2-alpine"
        );
        assert_eq!(
            t.version_of("registry.example.com:5000/checkout:v1.4.2-alpine"),
            Some("v1.4.2")
        );
        assert_eq!(
            t.version_of("registry.example.com:5000/checkout:-alpine"),
            None
        );
        assert_eq!(t.version_of("docker.io/checkout:v1-alpine"), None);
    }
}
