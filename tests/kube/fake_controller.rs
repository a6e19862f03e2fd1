//! The fake API's Deployment controller for Deployments rolled pod by pod
//! (`traffic = "rolling-update"`), following the real one's rolling
//! update (kubernetes/pkg/controller/deployment/rolling.go) one sync per
//! read of the Deployment:
//!
//! - pods left terminating by the last sync are gone; pods created two
//!   syncs ago have started: Ready, or crash-looping when their image is
//!   one a test marked as never becoming ready;
//! - unless `spec.paused`: the pods of the current template (by
//!   `pod-template-hash`) scale up as far as `maxSurge` allows; if none
//!   were added, old pods go, unhealthy ones first, as far as
//!   `maxUnavailable` allows;
//! - status as the real controller reports it (observedGeneration,
//!   replicas, updatedReplicas, readyReplicas, availableReplicas and the
//!   Progressing condition, `ProgressDeadlineExceeded` once no pod became
//!   ready, was created or went for `progressDeadlineSeconds`; never while
//!   paused).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The fake cluster's objects, by (plural, name).
pub type Objects = BTreeMap<(String, String), Value>;

#[derive(Default)]
pub struct Controller {
    /// The Deployments this controller rolls (others roll the quick way).
    managed: BTreeSet<String>,
    /// Images whose containers crash-loop and never become ready.
    never_ready: BTreeSet<String>,
    pods_created: u64,
    /// Syncs each created pod still spends starting (ContainerCreating),
    /// by pod name: a pod does not boot within one read.
    booting: BTreeMap<String, u32>,
}

/// Syncs a pod spends starting before it is Ready (or crashes).
const BOOT_SYNCS: u32 = 2;

/// A pod of the Deployment, as the sync sees it.
struct PodView {
    name: String,
    current: bool,
    ready: bool,
}

impl Controller {
    pub fn manage(&mut self, deployment: &str) {
        self.managed.insert(deployment.to_string());
    }

    pub fn manages(&self, deployment: &str) -> bool {
        self.managed.contains(deployment)
    }

    pub fn never_ready(&mut self, image: &str) {
        self.never_ready.insert(image.to_string());
    }

    /// One sync of the Deployment `name`; every object it changes gets a
    /// new resourceVersion from `rv`.
    pub fn sync(&mut self, objects: &mut Objects, name: &str, rv: &mut u64) {
        let key = ("deployments".to_string(), name.to_string());
        let d = objects[&key].clone();
        let selector = d["spec"]["selector"]["matchLabels"].clone();
        let template = d["spec"]["template"].clone();
        let hash = template_hash(&template);
        let desired = d["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
        let paused = d["spec"]["paused"].as_bool() == Some(true);
        let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
        let mut progressed = false;

        // Terminating pods from the last sync are gone; new ones started.
        let owned = |objects: &Objects| -> Vec<String> {
            objects
                .iter()
                .filter(|((plural, _), pod)| plural == "pods" && selects(&selector, pod))
                .map(|((_, name), _)| name.clone())
                .collect()
        };
        for pod_name in owned(objects) {
            let pod_key = ("pods".to_string(), pod_name);
            let pod = objects.get_mut(&pod_key).unwrap();
            if !pod["metadata"]["deletionTimestamp"].is_null() {
                objects.remove(&pod_key);
                continue;
            }
            if ready(pod) {
                continue;
            }
            if let Some(left) = self.booting.get_mut(&pod_key.1) {
                *left -= 1;
                if *left > 0 {
                    continue;
                }
                self.booting.remove(&pod_key.1);
            }
            if self.start(pod) {
                progressed = true;
            }
            *rv += 1;
            pod["metadata"]["resourceVersion"] = json!(rv.to_string());
        }

        let view = |objects: &Objects| -> Vec<PodView> {
            owned(objects)
                .into_iter()
                .map(|n| {
                    let pod = &objects[&("pods".to_string(), n.clone())];
                    PodView {
                        current: pod["metadata"]["labels"]["pod-template-hash"] == hash.as_str(),
                        ready: ready(pod),
                        name: n,
                    }
                })
                .collect()
        };
        let (surge, unavailable) = pace(&d, desired);
        if !paused {
            let pods = view(objects);
            let new = pods.iter().filter(|p| p.current).count();
            let all = pods.len();
            // reconcileNewReplicaSet: up to desired + maxSurge pods in all.
            let scale_up = if new < desired {
                (desired + surge).saturating_sub(all).min(desired - new)
            } else {
                0
            };
            for _ in 0..scale_up {
                self.create_pod(objects, name, &template, &hash, rv);
                progressed = true;
            }
            if scale_up == 0 {
                progressed |= scale_down_old(objects, &pods, desired, unavailable, rv);
            }
        }

        // syncRolloutStatus
        let pods = view(objects);
        let updated = pods.iter().filter(|p| p.current).count();
        let ready_count = pods.iter().filter(|p| p.ready).count();
        let complete = updated == desired && pods.len() == desired && ready_count >= desired;
        let previous = d["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Progressing"))
            .cloned();
        let observed = d["status"]["observedGeneration"].as_i64().unwrap_or(0);
        let deadline = d["spec"]["progressDeadlineSeconds"].as_i64().unwrap_or(600);
        let progressing = progressing(
            previous,
            paused,
            complete,
            progressed || observed < generation,
            deadline,
        );
        let status = json!({
            "observedGeneration": generation,
            "replicas": pods.len(),
            "updatedReplicas": updated,
            "readyReplicas": ready_count,
            "availableReplicas": ready_count,
            "unavailableReplicas": desired.saturating_sub(ready_count),
            "conditions": [
                {
                    "type": "Available",
                    "status": if ready_count + unavailable >= desired { "True" } else { "False" },
                    "reason": "MinimumReplicasAvailable",
                },
                progressing,
            ],
        });
        let d = objects.get_mut(&key).unwrap();
        if d["status"] != status {
            d["status"] = status;
            *rv += 1;
            d["metadata"]["resourceVersion"] = json!(rv.to_string());
        }
    }

    /// A created pod's containers start: `true` if it became Ready.
    fn start(&self, pod: &mut Value) -> bool {
        let containers = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let restarts = |pod: &Value, i: usize| {
            pod["status"]["containerStatuses"][i]["restartCount"]
                .as_u64()
                .unwrap_or(0)
        };
        let statuses: Vec<Value> = containers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let image = c["image"].as_str().unwrap_or("");
                if self.never_ready.contains(image) {
                    json!({
                        "name": c["name"], "image": image, "imageID": "", "ready": false,
                        "started": false, "restartCount": restarts(pod, i) + 1,
                        "state": { "waiting": { "reason": "CrashLoopBackOff",
                            "message": "back-off restarting failed container" } },
                        "lastState": { "terminated": { "exitCode": 1, "reason": "Error" } },
                    })
                } else {
                    json!({
                        "name": c["name"], "image": image, "imageID": "", "ready": true,
                        "started": true, "restartCount": restarts(pod, i),
                        "state": { "running": { "startedAt": now() } },
                    })
                }
            })
            .collect();
        let all_ready = statuses.iter().all(|s| s["ready"] == true);
        let condition = if all_ready { "True" } else { "False" };
        pod["status"] = json!({
            "phase": "Running",
            "conditions": [
                { "type": "ContainersReady", "status": condition },
                { "type": "Ready", "status": condition },
            ],
            "containerStatuses": statuses,
        });
        all_ready
    }

    fn create_pod(
        &mut self,
        objects: &mut Objects,
        deployment: &str,
        template: &Value,
        hash: &str,
        rv: &mut u64,
    ) {
        self.pods_created += 1;
        *rv += 1;
        let name = format!("{deployment}-{hash}-{}", self.pods_created);
        let mut labels = template["metadata"]["labels"].clone();
        labels["pod-template-hash"] = json!(hash);
        let statuses: Vec<Value> = template["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!({
                    "name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                    "started": false, "restartCount": 0,
                    "state": { "waiting": { "reason": "ContainerCreating" } },
                })
            })
            .collect();
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": crate::fake_api::NAMESPACE,
                "labels": labels,
                "resourceVersion": rv.to_string(),
            },
            "spec": template["spec"],
            "status": {
                "phase": "Pending",
                "conditions": [{ "type": "Ready", "status": "False" }],
                "containerStatuses": statuses,
            },
        });
        self.booting.insert(name.clone(), BOOT_SYNCS);
        objects.insert(("pods".to_string(), name), pod);
    }
}

/// reconcileOldReplicaSets: unhealthy old pods first, then available ones,
/// never below `desired - maxUnavailable` available. `true` if any went.
fn scale_down_old(
    objects: &mut Objects,
    pods: &[PodView],
    desired: usize,
    unavailable: usize,
    rv: &mut u64,
) -> bool {
    let old: Vec<&PodView> = pods.iter().filter(|p| !p.current).collect();
    if old.is_empty() {
        return false;
    }
    let min_available = desired.saturating_sub(unavailable);
    let new_unavailable = pods.iter().filter(|p| p.current && !p.ready).count();
    let max_scaled_down = pods
        .len()
        .saturating_sub(min_available)
        .saturating_sub(new_unavailable);
    let unhealthy: Vec<&&PodView> = old.iter().filter(|p| !p.ready).collect();
    let mut going: Vec<&str> = unhealthy
        .iter()
        .take(max_scaled_down)
        .map(|p| p.name.as_str())
        .collect();
    let available = pods.iter().filter(|p| p.ready).count();
    let total_scale_down = available.saturating_sub(min_available);
    going.extend(
        old.iter()
            .filter(|p| p.ready)
            .take(total_scale_down)
            .map(|p| p.name.as_str()),
    );
    for name in &going {
        *rv += 1;
        let pod = objects
            .get_mut(&("pods".to_string(), name.to_string()))
            .unwrap();
        pod["metadata"]["deletionTimestamp"] = json!(now());
        pod["metadata"]["resourceVersion"] = json!(rv.to_string());
    }
    !going.is_empty()
}

/// The Progressing condition after a sync.
fn progressing(
    previous: Option<Value>,
    paused: bool,
    complete: bool,
    progressed: bool,
    deadline_seconds: i64,
) -> Value {
    let condition = |status: &str, reason: &str| {
        json!({ "type": "Progressing", "status": status, "reason": reason,
                "lastUpdateTime": now(), "lastTransitionTime": now() })
    };
    let previous_reason = previous
        .as_ref()
        .and_then(|c| c["reason"].as_str().map(str::to_string));
    if paused {
        return condition("Unknown", "DeploymentPaused");
    }
    if complete {
        return condition("True", "NewReplicaSetAvailable");
    }
    if previous_reason.as_deref() == Some("DeploymentPaused") {
        return condition("True", "DeploymentResumed");
    }
    if progressed || previous.is_none() {
        return condition("True", "ReplicaSetUpdated");
    }
    let previous = previous.unwrap();
    let last = previous["lastUpdateTime"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    if previous_reason.as_deref() != Some("ProgressDeadlineExceeded")
        && (Utc::now() - last).num_seconds() > deadline_seconds
    {
        return condition("False", "ProgressDeadlineExceeded");
    }
    previous
}

/// (maxSurge, maxUnavailable) in pods: an int or a percentage of the
/// replicas (surge rounded up, unavailable down), 25 % each by default.
fn pace(d: &Value, desired: usize) -> (usize, usize) {
    let rolling = &d["spec"]["strategy"]["rollingUpdate"];
    let resolve = |v: &Value, round_up: bool| -> usize {
        match v {
            Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
            Value::String(s) => {
                let pct: usize = s.trim_end_matches('%').parse().unwrap_or(25);
                let scaled = pct * desired;
                if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                }
            }
            _ => {
                if round_up {
                    (25 * desired).div_ceil(100)
                } else {
                    25 * desired / 100
                }
            }
        }
    };
    let surge = resolve(&rolling["maxSurge"], true);
    let unavailable = resolve(&rolling["maxUnavailable"], false);
    // Both zero would never move: the API refuses it, and the controller
    // treats it as one unavailable.
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn selects(selector: &Value, pod: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|m| m.iter().all(|(k, v)| pod["metadata"]["labels"][k] == *v))
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// The `pod-template-hash` of a template: the same template, the same hash
/// (a template restored to its old self adopts its old pods).
fn template_hash(template: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    template.to_string().hash(&mut hasher);
    format!("{:016x}", hasher.finish())[..10].to_string()
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}
