//! `traffic = "rolling-update"`: one Deployment, rolled to the new image by
//! Kubernetes itself (its surge and unavailability taken from the rolling
//! strategy). helmsman holds the rollout with `spec.paused` at each of the
//! engine's batch boundaries, so every batch is health-gated before the
//! next one starts.
//!
//! - prepare: reads the Deployment and refuses one already mid-rollout or
//!   paused by someone else; remembers its pod template and strategy (the
//!   rollback target). Nothing changes yet.
//! - set_instances(stable, new > 0): the first batch writes the new image,
//!   `maxSurge` / `maxUnavailable` and `paused: false` in one PUT; later
//!   batches only unpause. The rollout is followed until at least `new`
//!   updated replicas are available and at most `stable` old ones remain,
//!   then paused again. Kubernetes moves by its own surge and
//!   unavailability between two reads, and keeps moving until the pause
//!   lands, so a batch may land a pod (or a surge) further than planned:
//!   the engine's batches are floors, never undone.
//! - set_instances(_, 0) (the rollback) and discard: the remembered
//!   template and strategy go back, unpaused, and the rollout back is
//!   waited for. This always restores, whatever image someone else wrote.
//! - finish: unpauses if paused and waits until fully rolled out (past
//!   the progress deadline: `Failed`, the engine rolls back).
//! - state: the Deployment's pods (LIST by its selector) as instances.
//!
//! While held at a batch the Deployment carries the annotation
//! `helmsman.dev/held-at-batch` ("v1 → v2"): a helmsman that dies
//! mid-release leaves it paused, and the next release of another version
//! names what was interrupted and how to undo it. From the first batch to
//! the end, `helmsman.dev/rollback-to` holds what prepare read (versions,
//! template, strategy): the host that takes over a release whose driver
//! died prepares the same release again from it, so it can still roll back.
//!
//! An image that is neither the old nor the new version (someone changed
//! the Deployment mid-release) is refused with the reason: the release
//! holds. Every change is one PUT, so a write the engine drops at any
//! await (a rollback pre-empting it) never leaves half a change behind.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::ListParams;

use super::Cluster;
use super::deployments::{Deployments, Progress, RESOURCE, rollout_progress};
use crate::observed::{Instance, TrafficState};
use crate::providers::{ProviderError, Rotation, Traffic};

/// Set while helmsman holds the Deployment at a batch: "v1 → v2". A
/// helmsman that dies mid-release leaves it paused; the next release says
/// what was interrupted and how to undo it, instead of blaming someone else.
const HELD_BY: &str = "helmsman.dev/held-at-batch";

/// Sets the annotation `key` of the Deployment to `value`, or removes it.
fn annotate(deployment: &mut Deployment, key: &str, value: Option<String>) {
    let annotations = &mut deployment.metadata.annotations;
    match value {
        Some(value) => {
            annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(key.to_string(), value);
        }
        None => {
            if let Some(map) = annotations {
                map.remove(key);
                if map.is_empty() {
                    *annotations = None;
                }
            }
        }
    }
}

/// Marks (or, with `None`, unmarks) the Deployment as held by a release.
fn mark_held(deployment: &mut Deployment, release: Option<String>) {
    annotate(deployment, HELD_BY, release);
}

/// Set from a release's first batch to its end: what prepare read, as
/// JSON, so the release can be rolled back by a process that did not
/// prepare it (the host that takes it over after a crash).
const ROLLBACK_TO: &str = "helmsman.dev/rollback-to";

/// Records (or, with `None`, forgets) the rollback target on the Deployment.
fn remember(deployment: &mut Deployment, prepared: Option<&Prepared>) {
    let text = prepared.and_then(|p| serde_json::to_string(p).ok());
    annotate(deployment, ROLLBACK_TO, text);
}

/// The rollback target a release recorded on the Deployment, if one is
/// in progress.
fn remembered(deployment: &Deployment) -> Option<Prepared> {
    let text = deployment.metadata.annotations.as_ref()?.get(ROLLBACK_TO)?;
    serde_json::from_str(text).ok()
}

/// How far Kubernetes may move in one step: the rolling strategy's
/// `max_surge` and `max_unavailable`, as the Deployment's own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub max_surge: u32,
    pub max_unavailable: u32,
}

/// What prepare read: the release's versions and the rollback target.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Prepared {
    stable_version: String,
    new_version: String,
    template: PodTemplateSpec,
    strategy: Option<DeploymentStrategy>,
}

pub(super) struct RollingUpdateTraffic {
    pub cluster: Cluster,
    pub deployment: String,
    /// How far each batch may go over and under the desired count.
    pub pace: Pace,
    prepared: Mutex<Option<Prepared>>,
}

impl RollingUpdateTraffic {
    pub fn new(cluster: Cluster, deployment: String, pace: Pace) -> Self {
        Self {
            cluster,
            deployment,
            pace,
            prepared: Mutex::new(None),
        }
    }

    fn prepared(&self) -> Result<Prepared, ProviderError> {
        crate::sync::lock(&self.prepared).clone().ok_or_else(|| {
            self.cluster.calls.rejected(format!(
                "deployment {}: no release prepared",
                self.deployment
            ))
        })
    }

    /// Refuses a template someone else pointed at a third version.
    fn check_drift(
        &self,
        deployments: &Deployments<'_>,
        deployment: &Deployment,
        prepared: &Prepared,
        allowed: &[&str],
    ) -> Result<String, ProviderError> {
        let version = deployments
            .image
            .running_version(deployment)
            .map_err(|e| self.cluster.calls.rejected(e.to_string()))?;
        if allowed.contains(&version.as_str()) {
            return Ok(version);
        }
        Err(self.cluster.calls.rejected(format!(
            "deployment {} was changed by someone else during the release: its template runs \
             {version}, neither {} nor {}; helmsman will not roll over that change (roll back \
             to restore {})",
            self.deployment, prepared.stable_version, prepared.new_version, prepared.stable_version
        )))
    }

    /// Follows the rollout until the batch `(stable, new)` has landed, or
    /// the whole rollout is done (`true`: nothing left to pause). The
    /// progress deadline exceeded is `Failed`: the batch cannot land.
    async fn wait_for_batch(
        &self,
        deployments: &Deployments<'_>,
        prepared: &Prepared,
        stable: usize,
        new: usize,
    ) -> Result<bool, ProviderError> {
        let patience = &self.cluster.calls.patience;
        let deadline = tokio::time::Instant::now() + patience.rollout_timeout;
        let name = &self.deployment;
        loop {
            let deployment = deployments.get(name).await?;
            self.check_drift(deployments, &deployment, prepared, &[&prepared.new_version])?;
            let waiting_for = match batch_progress(&deployment, stable, new) {
                Batch::Complete => return Ok(true),
                Batch::Landed => return Ok(false),
                Batch::Failed(why) => {
                    return Err(ProviderError::Failed {
                        provider: self.cluster.calls.provider.clone(),
                        detail: format!("deployment {name}: {why}"),
                    });
                }
                Batch::Waiting(what) => what,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(self.cluster.calls.rejected(format!(
                    "deployment {name} did not reach {new} new / {stable} old replicas within \
                     {:?}: {waiting_for}",
                    patience.rollout_timeout
                )));
            }
            tokio::time::sleep(patience.rollout_poll).await;
        }
    }

    /// Puts the remembered template and strategy back, unpaused, and waits
    /// for Kubernetes to roll back to it.
    async fn restore(&self) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let prepared = match self.prepared() {
            Ok(prepared) => prepared,
            // Prepared by a process that died (this one takes its release
            // over): what it recorded on the Deployment, if it changed it.
            Err(_) => match remembered(&deployments.get(&self.deployment).await?) {
                Some(recorded) => recorded,
                None => return Ok(()), // never prepared: nothing was changed
            },
        };
        self.cluster
            .calls
            .update(&deployments.api, RESOURCE, &self.deployment, |d| {
                d.spec.template = prepared.template.clone();
                d.spec.strategy = prepared.strategy.clone();
                d.spec.paused = None;
                mark_held(d, None);
                remember(d, None);
                Ok(())
            })
            .await?;
        deployments.wait_rolled_out(&self.deployment).await
    }

    /// The pods of the Deployment, by its `matchLabels`.
    async fn pods(&self, deployment: &Deployment) -> Result<Vec<Pod>, ProviderError> {
        let labels = selector(deployment).ok_or_else(|| ProviderError::Invalid {
            provider: self.cluster.calls.provider.clone(),
            detail: format!(
                "deployment {} has no spec.selector.matchLabels to find its pods by",
                self.deployment
            ),
        })?;
        let api: Api<Pod> = Api::namespaced(
            self.cluster.client().await?,
            &self.cluster.backend.namespace,
        );
        let params = ListParams::default().labels(&labels);
        let list = self
            .cluster
            .calls
            .call("list", "pods", || api.list(&params))
            .await?;
        Ok(list.items)
    }
}

#[async_trait]
impl Traffic for RollingUpdateTraffic {
    named_by_the_cluster!();

    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let name = &self.deployment;
        let deployment = deployments.get(name).await?;
        // A release of this version whose driver died: prepared again as it
        // was, to be taken over (rolled back, or driven on).
        if let Some(interrupted) = remembered(&deployment)
            && interrupted.new_version == new_version
        {
            *crate::sync::lock(&self.prepared) = Some(interrupted);
            return Ok(());
        }
        if deployment.spec.paused == Some(true) {
            let held = deployment
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(HELD_BY));
            return Err(self.cluster.calls.rejected(match held {
                Some(release) => format!(
                    "deployment {name} is held at a batch by an unfinished helmsman release \
                     ({release}); undo it first (`kubectl rollout undo deployment/{name} && \
                     kubectl rollout resume deployment/{name}`), or resume it to finish that \
                     rollout"
                ),
                None => format!(
                    "deployment {name} is paused by someone else; helmsman pauses it itself \
                     between batches, so resume it first (`kubectl rollout resume \
                     deployment/{name}`)"
                ),
            }));
        }
        match rollout_progress(&deployment) {
            Progress::Done => {}
            Progress::Waiting(what) => {
                return Err(self.cluster.calls.rejected(format!(
                    "deployment {name} is still rolling out ({what}); release once it is done"
                )));
            }
            Progress::Failed(why) => {
                return Err(self.cluster.calls.rejected(format!(
                    "deployment {name}: its last rollout failed ({why}); fix or undo it first"
                )));
            }
        }
        let stable_version = self.cluster.version_of(&deployments, &deployment)?;
        *crate::sync::lock(&self.prepared) = Some(Prepared {
            stable_version,
            new_version: new_version.to_string(),
            template: deployment.spec.template.clone(),
            strategy: deployment.spec.strategy.clone(),
        });
        Ok(())
    }

    async fn finish(&self) -> Result<(), ProviderError> {
        let prepared = self.prepared()?;
        let deployments = self.cluster.deployments().await?;
        let deployment = deployments.get(&self.deployment).await?;
        if deployment.spec.paused == Some(true) {
            self.cluster
                .calls
                .update(&deployments.api, RESOURCE, &self.deployment, |d| {
                    self.check_drift(&deployments, d, &prepared, &[&prepared.new_version])?;
                    d.spec.paused = None;
                    mark_held(d, None);
                    Ok(())
                })
                .await?;
        }
        // Every replica new and available; past the progress deadline the
        // release fails (and is rolled back) rather than waiting forever.
        let desired = deployment.spec.replicas.unwrap_or(1).max(0) as usize;
        self.wait_for_batch(&deployments, &prepared, 0, desired)
            .await?;
        // Rolled out: nothing left to roll back to.
        self.cluster
            .calls
            .update(&deployments.api, RESOURCE, &self.deployment, |d| {
                remember(d, None);
                Ok(())
            })
            .await
            .map(drop)
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        self.restore().await
    }

    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let deployment = deployments.get(&self.deployment).await?;
        let pods = self.pods(&deployment).await?;
        // Read by a process that did not prepare the release (a host
        // taking it over), what the Deployment recorded.
        let prepared = self.prepared().ok().or_else(|| remembered(&deployment));
        let stable_version = match &prepared {
            Some(p) => p.stable_version.clone(),
            None => self.cluster.version_of(&deployments, &deployment)?,
        };
        let new_version = prepared.as_ref().map(|p| p.new_version.clone());
        let (mut stable, mut new) = (Vec::new(), Vec::new());
        for pod in pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            let version = pod
                .spec
                .as_ref()
                .and_then(|spec| deployments.image.container_in(spec))
                .and_then(|c| c.image.as_deref())
                .and_then(|image| deployments.image.version_of(image));
            match (version, &new_version) {
                (Some(v), Some(new_version)) if v == new_version => new.push(instance(pod)),
                _ => stable.push(instance(pod)),
            }
        }
        let ready = |instances: &[Instance]| instances.iter().filter(|i| i.in_rotation).count();
        let (stable_ready, new_ready) = (ready(&stable), ready(&new));
        let new_weight = ((new_ready * 100 + (stable_ready + new_ready) / 2)
            .checked_div(stable_ready + new_ready)
            .unwrap_or(0)) as u8;
        Ok(TrafficState {
            stable_version,
            new_version,
            new_weight,
            stable,
            new,
            flag_percent: None,
            // The new version's pods are created while rolling: the batches
            // are planned over the replicas the Deployment will have.
            planned_new: prepared.map(|_| deployment.spec.replicas.unwrap_or(1).max(0) as usize),
        })
    }

    fn as_rotation(&self) -> Option<&dyn Rotation> {
        Some(self)
    }
}

#[async_trait]
impl Rotation for RollingUpdateTraffic {
    async fn set_instances(&self, stable: usize, new: usize) -> Result<(), ProviderError> {
        if new == 0 {
            return self.restore().await;
        }
        let prepared = self.prepared()?;
        let pace = self.pace;
        let deployments = self.cluster.deployments().await?;
        let (old, new_version) = (&prepared.stable_version, &prepared.new_version);
        self.cluster
            .calls
            .update(&deployments.api, RESOURCE, &self.deployment, |d| {
                let running = self.check_drift(&deployments, d, &prepared, &[old, new_version])?;
                if running == *old {
                    // The first batch starts the rollout, in the same PUT
                    // as the pace it moves at.
                    deployments
                        .image
                        .set_version(d, new_version)
                        .map_err(|missing| self.cluster.calls.rejected(missing.to_string()))?;
                    d.spec.strategy = Some(rolling_strategy(pace));
                }
                d.spec.paused = None;
                mark_held(d, None);
                remember(d, Some(&prepared));
                Ok(())
            })
            .await?;
        let complete = self
            .wait_for_batch(&deployments, &prepared, stable, new)
            .await?;
        if complete {
            return Ok(());
        }
        self.cluster
            .calls
            .update(&deployments.api, RESOURCE, &self.deployment, |d| {
                self.check_drift(&deployments, d, &prepared, &[new_version])?;
                d.spec.paused = Some(true);
                mark_held(d, Some(format!("{old} → {new_version}")));
                Ok(())
            })
            .await
            .map(drop)
    }
}

/// The Deployment strategy that moves at `pace`.
fn rolling_strategy(pace: Pace) -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".to_string()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(pace.max_surge as i32)),
            max_unavailable: Some(IntOrString::Int(pace.max_unavailable as i32)),
        }),
    }
}

/// `app=checkout,track=stable` from the Deployment's `matchLabels`.
fn selector(deployment: &Deployment) -> Option<String> {
    let labels: &BTreeMap<String, String> = deployment.spec.selector.match_labels.as_ref()?;
    if labels.is_empty() {
        return None; // would select every pod of the namespace
    }
    let terms: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Some(terms.join(","))
}

/// A pod as an instance: in rotation when Ready (a Service sends a pod
/// that is not Ready no traffic). A pod still starting (its containers
/// being created or running without a restart, not Ready yet) is not
/// failing its health checks: it counts as healthy out of rotation, or
/// every batch would trip the unhealthy-instances trigger while its new
/// pods boot. A pod that crashes or cannot pull its image is unhealthy; one
/// that runs without a restart but never passes its readiness probe cannot
/// be told from a slow starter, and is caught by the Deployment's progress
/// deadline instead.
fn instance(pod: &Pod) -> Instance {
    let name = pod.metadata.name.clone().unwrap_or_else(|| "?".into());
    let status = pod.status.as_ref();
    let ready_condition = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    let ready = ready_condition.is_some_and(|c| c.status == "True");
    Instance {
        name,
        in_rotation: ready,
        healthy: ready || starting(pod),
    }
}

/// Not Ready yet, and nothing has gone wrong so far.
fn starting(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return true; // not even scheduled yet
    };
    if matches!(status.phase.as_deref(), Some("Failed" | "Succeeded")) {
        return false;
    }
    status.container_statuses.iter().flatten().all(|c| {
        let state = c.state.as_ref();
        let waiting = state.and_then(|s| s.waiting.as_ref());
        let fine_waiting = waiting.is_none_or(|w| {
            matches!(
                w.reason.as_deref(),
                None | Some("ContainerCreating" | "PodInitializing")
            )
        });
        c.restart_count == 0 && state.is_none_or(|s| s.terminated.is_none()) && fine_waiting
    })
}

enum Batch {
    /// Every replica runs the new template and is available.
    Complete,
    /// At least the batch's new replicas are available and no more than
    /// its old ones remain.
    Landed,
    Waiting(String),
    Failed(String),
}

/// How far the rollout is for the batch `(stable, new)`. Available new
/// replicas are not reported apart from old ones, so they are counted at
/// their fewest (available minus every old replica): a batch is never
/// declared landed early.
fn batch_progress(deployment: &Deployment, stable: usize, new: usize) -> Batch {
    let counts = |n: Option<i32>| n.unwrap_or(0).max(0) as usize;
    let observed = deployment
        .status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0);
    if observed < deployment.metadata.generation.unwrap_or(0) {
        return Batch::Waiting("the controller has not seen the change yet".into());
    }
    match rollout_progress(deployment) {
        Progress::Done => return Batch::Complete,
        Progress::Failed(why) => return Batch::Failed(why),
        Progress::Waiting(_) => {}
    }
    let Some(status) = &deployment.status else {
        return Batch::Waiting("no status yet".into());
    };
    let updated = counts(status.updated_replicas);
    let old = counts(status.replicas).saturating_sub(updated);
    let new_available = counts(status.available_replicas).saturating_sub(old);
    if new_available >= new && old <= stable {
        Batch::Landed
    } else {
        Batch::Waiting(format!(
            "{new_available} of {new} new replicas available, {old} old remaining (the batch \
             keeps at most {stable})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus};

    fn pod(ready: bool, restarts: i32, waiting: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "checkout-1" },
            "status": {
                "phase": "Running",
                "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }],
            }
        }))
        .map(|mut p: Pod| {
            let status = p.status.as_mut().unwrap();
            status.container_statuses = Some(vec![ContainerStatus {
                name: "app".into(),
                ready,
                restart_count: restarts,
                started: Some(ready),
                state: Some(ContainerState {
                    waiting: waiting.map(|r| ContainerStateWaiting {
                        reason: Some(r.into()),
                        message: None,
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            }]);
            p
        })
        .unwrap()
    }

    #[test]
    fn a_starting_pod_is_healthy_out_of_rotation_and_a_crashing_one_unhealthy() {
        let i = instance(&pod(true, 0, None));
        assert!(i.healthy && i.in_rotation);
        let i = instance(&pod(false, 0, Some("ContainerCreating")));
        assert!(i.healthy && !i.in_rotation);
        let i = instance(&pod(false, 2, Some("CrashLoopBackOff")));
        assert!(!i.healthy && !i.in_rotation);
        let i = instance(&pod(false, 0, Some("ImagePullBackOff")));
        assert!(!i.healthy);
    }

    fn deployment(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "checkout", "generation": generation },
            "spec": {
                "replicas": 4,
                "selector": { "matchLabels": { "app": "checkout" } },
                "template": { "spec": { "containers": [] } }
            },
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn a_batch_lands_on_available_new_replicas_counted_at_their_fewest() {
        let d = |updated: i32, total: i32, available: i32| {
            deployment(
                2,
                serde_json::json!({ "observedGeneration": 2, "replicas": total,
                    "updatedReplicas": updated, "availableReplicas": available }),
            )
        };
        // 1 new of 5 pods, all available: (4 old, 1 new) has landed.
        assert!(matches!(batch_progress(&d(1, 5, 5), 4, 1), Batch::Landed));
        // The new pod is not available yet: 5 - 4 old = 0 new.
        assert!(matches!(
            batch_progress(&d(1, 5, 4), 4, 1),
            Batch::Waiting(_)
        ));
        // (3, 1) needs an old pod gone.
        assert!(matches!(
            batch_progress(&d(1, 5, 5), 3, 1),
            Batch::Waiting(_)
        ));
        assert!(matches!(batch_progress(&d(4, 4, 4), 0, 4), Batch::Complete));
        let unseen = deployment(3, serde_json::json!({ "observedGeneration": 2 }));
        assert!(matches!(batch_progress(&unseen, 4, 1), Batch::Waiting(_)));
        let stalled = deployment(
            2,
            serde_json::json!({ "observedGeneration": 2, "replicas": 5, "updatedReplicas": 1,
                "availableReplicas": 4, "conditions": [{ "type": "Progressing",
                "status": "False", "reason": "ProgressDeadlineExceeded" }] }),
        );
        assert!(matches!(batch_progress(&stalled, 4, 1), Batch::Failed(_)));
    }

    #[test]
    fn the_selector_is_the_match_labels() {
        let d = deployment(1, serde_json::json!({}));
        assert_eq!(selector(&d).as_deref(), Some("app=checkout"));
    }
}
