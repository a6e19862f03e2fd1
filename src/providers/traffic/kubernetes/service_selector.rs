//! `traffic = "service-selector"`: blue-green with two Deployments, the
//! blue and the green slot, whose pod templates carry `<selector_label>:
//! <slot>` (slot: blue, slot: green). The active Service, the one users
//! hit, selects the live slot by that label; the preview Service selects
//! the slot being released, so it can be smoke-tested before any user
//! reaches it.
//!
//! - prepare(v): the idle slot gets image v and as many replicas as the
//!   live one (waited for), then the preview Service selects it.
//! - switch(to_new): the active Service's selector names the new slot (or
//!   the old one again). A slot scaled to zero is scaled back up and waited
//!   for first: users are never pointed at no pods.
//! - set_instances(old, new): the replica counts of the two slots
//!   (blue-green scales the old one to 0 after its delay). The slot users
//!   are on is never scaled to zero.
//! - finish: the old slot at zero; the new slot is live and stays in the
//!   preview.
//! - discard: the active selector back on the old slot if it is not, then
//!   the new slot to zero.
//!
//! The slot that is live at `prepare` is remembered until `finish`: after
//! the switch the active Service selects the new slot, yet it is still the
//! new version until the release is over. Without a release in progress
//! the live slot is stable and the idle one is new.
//!
//! Drift: helmsman remembers the slot it last put in the active selector.
//! A selector that reads back differently was changed by someone else; a
//! switch to the new slot refuses to overwrite it (the release holds with
//! the reason). A switch back to the old slot always overwrites: getting
//! users back to the stable version is never refused.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;

use super::deployments::{Deployments, replicas};
use super::{Cluster, instances};
use crate::observed::TrafficState;
use crate::providers::{ProviderError, Rotation, Switch, Traffic};

pub(super) const SERVICES: &str = "services";

pub(super) struct ServiceSelectorTraffic {
    pub cluster: Cluster,
    pub active_service: String,
    pub preview_service: String,
    pub blue_deployment: String,
    pub green_deployment: String,
    pub selector_label: String,
    /// The Deployment that was live when the release was prepared; `None`
    /// between releases (the live slot is then the stable one).
    pub old_deployment: Mutex<Option<String>>,
    /// The slot helmsman last put in the active selector; `None` before
    /// its first write (the old slot is then expected).
    pub written: Mutex<Option<String>>,
}

/// One Deployment and the label value its pods carry.
#[derive(Debug, Clone)]
struct Slot {
    deployment: Deployment,
    name: String,
    value: String,
}

/// The cluster now, seen through the release's two slots.
struct View {
    old: Slot,
    new: Slot,
    /// The slot value the active Service selects, if any.
    selected: Option<String>,
}

impl View {
    fn users_on(&self, slot: &Slot) -> bool {
        self.selected.as_deref() == Some(slot.value.as_str())
    }
}

impl ServiceSelectorTraffic {
    async fn services(&self) -> Result<Api<Service>, ProviderError> {
        Ok(Api::namespaced(
            self.cluster.client().await?,
            &self.cluster.backend.namespace,
        ))
    }

    fn invalid(&self, detail: String) -> ProviderError {
        ProviderError::Invalid {
            provider: self.cluster.calls.provider.clone(),
            detail,
        }
    }

    fn service_problem(&self, service: &str, detail: String) -> ProviderError {
        self.cluster.calls.rejected(format!(
            "Service {}/{service}: {detail}",
            self.cluster.backend.namespace
        ))
    }

    /// The slot value `service` selects pods by.
    fn selected(&self, service: &Service) -> Option<String> {
        service
            .spec
            .as_ref()?
            .selector
            .as_ref()?
            .get(&self.selector_label)
            .cloned()
    }

    fn slot_of(&self, deployment: Deployment) -> Result<Slot, ProviderError> {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let value = deployment
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .and_then(|labels| labels.get(&self.selector_label))
            .cloned()
            .ok_or_else(|| {
                self.invalid(format!(
                    "deployment {name}'s pod template has no label `{}`: give each slot's \
                     pods `{}: <slot>` and let the Services select on it",
                    self.selector_label, self.selector_label
                ))
            })?;
        Ok(Slot {
            deployment,
            name,
            value,
        })
    }

    /// Reads both Deployments and the active Service. The old slot is the
    /// one remembered from `prepare`, else the one users are on now.
    async fn view(&self, deployments: &Deployments<'_>) -> Result<View, ProviderError> {
        let blue = self.slot_of(deployments.get(&self.blue_deployment).await?)?;
        let green = self.slot_of(deployments.get(&self.green_deployment).await?)?;
        if blue.value == green.value {
            return Err(self.invalid(format!(
                "deployments {} and {} both carry {}={}: the Services cannot tell the slots apart",
                blue.name, green.name, self.selector_label, blue.value
            )));
        }
        let services = self.services().await?;
        let active = self
            .cluster
            .calls
            .call("get", SERVICES, || services.get(&self.active_service))
            .await?;
        let selected = self.selected(&active);
        let remembered = crate::sync::lock(&self.old_deployment).clone();
        let old_is_blue = match remembered {
            Some(old) => old == blue.name,
            None if selected.as_deref() == Some(blue.value.as_str()) => true,
            None if selected.as_deref() == Some(green.value.as_str()) => false,
            None => return Err(self.selects_neither(&selected, &blue, &green)),
        };
        let (old, new) = if old_is_blue {
            (blue, green)
        } else {
            (green, blue)
        };
        Ok(View { old, new, selected })
    }

    fn selects_neither(&self, selected: &Option<String>, a: &Slot, b: &Slot) -> ProviderError {
        let label = &self.selector_label;
        let what = match selected {
            Some(value) => format!("selects {label}={value}"),
            None => format!("has no `{label}` in its selector"),
        };
        self.invalid(format!(
            "Service {}/{} {what}, which names neither deployment {} ({label}={}) nor {} \
             ({label}={}): helmsman cannot tell which slot is live",
            self.cluster.backend.namespace, self.active_service, a.name, a.value, b.name, b.value
        ))
    }

    /// The view, refusing a selector that names neither slot (users are on
    /// pods helmsman does not manage).
    async fn checked_view(&self, deployments: &Deployments<'_>) -> Result<View, ProviderError> {
        let view = self.view(deployments).await?;
        if !view.users_on(&view.old) && !view.users_on(&view.new) {
            return Err(self.selects_neither(&view.selected, &view.old, &view.new));
        }
        Ok(view)
    }

    /// Points `service`'s selector at `value`, leaving its other terms.
    async fn select(&self, service: &str, value: &str) -> Result<(), ProviderError> {
        let services = self.services().await?;
        self.cluster
            .calls
            .update(&services, SERVICES, service, |s| {
                self.set_selector(s, value);
                Ok(())
            })
            .await
            .map(drop)
    }

    fn set_selector(&self, service: &mut Service, value: &str) {
        service
            .spec
            .get_or_insert_with(Default::default)
            .selector
            .get_or_insert_with(BTreeMap::new)
            .insert(self.selector_label.clone(), value.to_string());
    }

    /// Moves users to `target`; unless `overwrite`, only from the slot
    /// helmsman itself selected last (see the module's note on drift).
    async fn select_active(
        &self,
        view: &View,
        target: &Slot,
        overwrite: bool,
    ) -> Result<(), ProviderError> {
        let expected = crate::sync::lock(&self.written)
            .clone()
            .unwrap_or_else(|| view.old.value.clone());
        let services = self.services().await?;
        let label = &self.selector_label;
        self.cluster
            .calls
            .update(&services, SERVICES, &self.active_service, |s| {
                let found = self.selected(s);
                let found = found.as_deref().unwrap_or("(none)");
                // A selector already on the target is a write whose answer was lost.
                if !overwrite && found != expected && found != target.value {
                    return Err(self.service_problem(
                        &self.active_service,
                        format!(
                            "drift: the selector has {label}={found} but helmsman last set \
                             {label}={expected}; someone else changed it, so helmsman will not \
                             overwrite it (set it back, or roll back)"
                        ),
                    ));
                }
                self.set_selector(s, &target.value);
                Ok(())
            })
            .await?;
        *crate::sync::lock(&self.written) = Some(target.value.clone());
        Ok(())
    }

    /// `target` has replicas ready before users are sent to it: a slot
    /// scaled to zero (the old one after its delay) gets as many as `other`.
    async fn ready_for_users(
        &self,
        deployments: &Deployments<'_>,
        target: &Slot,
        other: &Slot,
    ) -> Result<(), ProviderError> {
        if replicas(&target.deployment).desired == 0 {
            let wanted = replicas(&other.deployment).desired;
            if wanted == 0 {
                return Err(self.cluster.calls.rejected(format!(
                    "deployments {} and {} both have 0 replicas: users would reach no pods",
                    target.name, other.name
                )));
            }
            deployments.set(&target.name, None, Some(wanted)).await?;
        }
        deployments.wait_rolled_out(&target.name).await
    }
}

#[async_trait]
impl Traffic for ServiceSelectorTraffic {
    named_by_the_cluster!();

    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        // A new release: the live slot is read afresh, not remembered.
        *crate::sync::lock(&self.old_deployment) = None;
        *crate::sync::lock(&self.written) = None;
        let deployments = self.cluster.deployments().await?;
        let view = self.checked_view(&deployments).await?;
        *crate::sync::lock(&self.old_deployment) = Some(view.old.name.clone());
        let count = replicas(&view.old.deployment).desired;
        deployments
            .set(&view.new.name, Some(new_version), Some(count))
            .await?;
        deployments.wait_rolled_out(&view.new.name).await?;
        self.select(&self.preview_service, &view.new.value).await
    }

    async fn finish(&self) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let view = self.view(&deployments).await?;
        if !view.users_on(&view.new) {
            return Err(self.service_problem(
                &self.active_service,
                format!(
                    "does not select the new slot {}={} ({}), so it cannot become stable; \
                     switch first",
                    self.selector_label, view.new.value, view.new.name
                ),
            ));
        }
        deployments.set(&view.old.name, None, Some(0)).await?;
        self.select(&self.preview_service, &view.new.value).await?;
        // The release is over: the live slot is the stable one again.
        *crate::sync::lock(&self.old_deployment) = None;
        *crate::sync::lock(&self.written) = None;
        Ok(())
    }

    async fn discard(&self) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let view = self.view(&deployments).await?;
        if !view.users_on(&view.old) {
            // Never leave users on the side about to be scaled away.
            self.ready_for_users(&deployments, &view.old, &view.new)
                .await?;
            self.select_active(&view, &view.old, true).await?;
        }
        deployments.set(&view.new.name, None, Some(0)).await
    }

    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let view = self.checked_view(&deployments).await?;
        let on_new = view.users_on(&view.new);
        Ok(TrafficState {
            stable_version: self
                .cluster
                .version_of(&deployments, &view.old.deployment)?,
            new_version: self
                .cluster
                .canary_version(&deployments, &view.new.deployment)?,
            new_weight: if on_new { 100 } else { 0 },
            stable: instances(&view.old.deployment, !on_new),
            new: instances(&view.new.deployment, on_new),
            flag_percent: None,
            planned_new: None,
        })
    }

    fn as_switch(&self) -> Option<&dyn Switch> {
        Some(self)
    }

    fn as_rotation(&self) -> Option<&dyn Rotation> {
        Some(self)
    }
}

#[async_trait]
impl Switch for ServiceSelectorTraffic {
    async fn switch(&self, to_new: bool) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let view = self.view(&deployments).await?;
        let (target, other) = if to_new {
            (&view.new, &view.old)
        } else {
            (&view.old, &view.new)
        };
        self.ready_for_users(&deployments, target, other).await?;
        self.select_active(&view, target, !to_new).await
    }
}

#[async_trait]
impl Rotation for ServiceSelectorTraffic {
    async fn set_instances(&self, old: usize, new: usize) -> Result<(), ProviderError> {
        let deployments = self.cluster.deployments().await?;
        let view = self.checked_view(&deployments).await?;
        let mut order = [(&view.old, old as u32), (&view.new, new as u32)];
        for (slot, count) in &order {
            if *count == 0 && view.users_on(slot) {
                return Err(self.service_problem(
                    &self.active_service,
                    format!(
                        "selects {}={}: scaling deployment {} to 0 would leave users on no pods",
                        self.selector_label, slot.value, slot.name
                    ),
                ));
            }
        }
        // The side that grows first, so capacity never dips.
        order.sort_by_key(|(slot, count)| *count <= replicas(&slot.deployment).desired);
        for (slot, count) in order {
            deployments.set(&slot.name, None, Some(count)).await?;
            deployments.wait_rolled_out(&slot.name).await?;
        }
        Ok(())
    }
}
