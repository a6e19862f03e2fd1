//! One driver per Kubernetes service across machines: a release takes the
//! `coordination.k8s.io/v1` Lease `helmsman-<service>` in the service's
//! namespace before anything moves, renews it every third of its duration
//! while it runs, and clears its holder when it ends. A Lease whose holder
//! stopped renewing (a bastion that died) is taken over once its
//! `renewTime + leaseDurationSeconds` has passed. The OS lock of
//! store/lock.rs does the same on one machine; this is what two bastions
//! share.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::task::JoinHandle;

use super::calls::{Calls, Patience};
use crate::config::KubernetesBackend;
use crate::providers::ProviderError;

/// How long a Lease stays ours without a renewal.
pub const DURATION: Duration = Duration::from_secs(30);

const RESOURCE: &str = "leases.coordination.k8s.io";

/// The Lease of `service`: `helmsman-<service>`, made a DNS-1123 name
/// (lowercase letters, digits, `-` and `.`; at most 253 characters).
pub fn lease_name(service: &str) -> String {
    let safe: String = format!("helmsman-{service}")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .take(253)
        .collect();
    safe.trim_end_matches(['-', '.']).to_string()
}

/// Who holds a Lease taken here: `<user>@<hostname> pid <pid>`.
pub fn identity(user: &str) -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    format!("{user}@{host} pid {}", std::process::id())
}

/// Whether a Lease last renewed at `renewed`, for `duration_seconds`, has
/// run out at `now`. One never renewed has; one without a duration lasts
/// [`DURATION`].
pub fn expired(
    renewed: Option<DateTime<Utc>>,
    duration_seconds: Option<i32>,
    now: DateTime<Utc>,
) -> bool {
    let Some(renewed) = renewed else {
        return true;
    };
    let seconds = duration_seconds.map_or(DURATION.as_secs() as i64, i64::from);
    renewed + chrono::Duration::seconds(seconds.max(0)) < now
}

/// A Lease another live holder has.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldLease {
    /// `namespace/name`.
    pub lease: String,
    pub holder: String,
    pub acquired: Option<DateTime<Utc>>,
    pub renewed: Option<DateTime<Utc>>,
}

impl fmt::Display for HeldLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |t: Option<DateTime<Utc>>| match t {
            Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            None => "an unknown time".to_string(),
        };
        write!(
            f,
            "the Lease {} is held by {} since {}, renewed {}; a release of it runs from there \
             (steer it there, or wait for it to end)",
            self.lease,
            self.holder,
            at(self.acquired),
            at(self.renewed)
        )
    }
}

/// Why the Lease was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{0}")]
    Held(HeldLease),
    #[error("cannot take the Lease {lease}: {source}")]
    Unavailable {
        lease: String,
        source: ProviderError,
    },
}

/// How long the Lease lasts (renewed every third of it) and the calls' patience.
#[derive(Debug, Clone)]
pub struct LeaseTerms {
    pub duration: Duration,
    pub patience: Patience,
}

impl Default for LeaseTerms {
    fn default() -> Self {
        Self {
            duration: DURATION,
            patience: Patience::default(),
        }
    }
}

/// Takes `service`'s Lease in the backend's namespace for `identity`.
pub async fn take(
    backend: &KubernetesBackend,
    service: &str,
    identity: &str,
) -> Result<LeaseHold, LeaseError> {
    take_with(backend, service, identity, LeaseTerms::default()).await
}

/// [`take`], with the terms given (tests wait less).
pub async fn take_with(
    backend: &KubernetesBackend,
    service: &str,
    identity: &str,
    terms: LeaseTerms,
) -> Result<LeaseHold, LeaseError> {
    let name = lease_name(service);
    let lease = format!("{}/{name}", backend.namespace);
    let client = super::client::connect(backend)
        .await
        .map_err(|e| LeaseError::Unavailable {
            lease: lease.clone(),
            source: ProviderError::Unreachable {
                provider: format!("Kubernetes Lease {lease}"),
                detail: e.to_string(),
            },
        })?;
    let keeper = Arc::new(Keeper {
        api: Api::namespaced(client, &backend.namespace),
        calls: Calls {
            provider: format!("Kubernetes Lease {lease}"),
            namespace: backend.namespace.clone(),
            patience: terms.patience,
        },
        name,
        lease,
        identity: identity.to_string(),
        duration: terms.duration.max(Duration::from_secs(1)),
    });
    keeper.acquire().await?;
    let renewing = keeper.clone();
    let (lost_tx, lost) = tokio::sync::watch::channel(None);
    let renewer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(renewing.duration / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut renewed = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let e = match renewing.renew().await {
                Ok(()) => {
                    renewed = tokio::time::Instant::now();
                    continue;
                }
                Err(e) => e,
            };
            tracing::warn!("cannot renew the Lease {}: {e}", renewing.lease);
            // Someone else holds it, or it ran out while the API was away:
            // another bastion may be driving the service now.
            if matches!(e, ProviderError::Rejected { .. }) || renewed.elapsed() >= renewing.duration
            {
                let _ = lost_tx.send(Some(format!("the Lease {} is lost: {e}", renewing.lease)));
                return;
            }
        }
    });
    Ok(LeaseHold {
        keeper,
        renewer,
        lost,
    })
}

/// A Lease taken: renewed until [`LeaseHold::release`] or drop. Dropped
/// without a release, it stops being renewed and expires by itself.
pub struct LeaseHold {
    keeper: Arc<Keeper>,
    renewer: JoinHandle<()>,
    lost: tokio::sync::watch::Receiver<Option<String>>,
}

impl LeaseHold {
    /// Says why once the Lease is lost: taken by another holder, or run
    /// out while it could not be renewed. Renewal stops then.
    pub fn lost(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.lost.clone()
    }

    /// `namespace/name`.
    pub fn lease(&self) -> &str {
        &self.keeper.lease
    }

    /// Stops renewing and clears the holder, best effort: a failure is
    /// logged, and the Lease then expires by itself.
    pub async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.keeper.release().await {
            tracing::warn!(
                "cannot release the Lease {} (it expires by itself): {e}",
                self.keeper.lease
            );
        }
    }
}

impl Drop for LeaseHold {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

struct Keeper {
    api: Api<Lease>,
    calls: Calls,
    name: String,
    /// `namespace/name`, for messages.
    lease: String,
    identity: String,
    duration: Duration,
}

impl Keeper {
    fn unavailable(&self, source: ProviderError) -> LeaseError {
        LeaseError::Unavailable {
            lease: self.lease.clone(),
            source,
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX)
    }

    /// GET; create when missing; take over when free, expired or ours;
    /// a lost race (409) reads again and judges the winner.
    async fn acquire(&self) -> Result<(), LeaseError> {
        let params = PostParams::default();
        for _ in 0..=self.calls.patience.conflicts {
            let now = Utc::now();
            let current = self
                .calls
                .call("get", RESOURCE, || self.api.get_opt(&self.name))
                .await
                .map_err(|e| self.unavailable(e))?;
            let Some(mut lease) = current else {
                let fresh = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(self.duration_seconds()),
                        acquire_time: Some(micro(now)),
                        renew_time: Some(micro(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                let created = self
                    .calls
                    .call_or_conflict("create", RESOURCE, || self.api.create(&params, &fresh))
                    .await
                    .map_err(|e| self.unavailable(e))?;
                match created {
                    Some(_) => return Ok(()),
                    None => continue,
                }
            };
            let spec = lease.spec.take().unwrap_or_default();
            let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
            let ours = holder.as_deref() == Some(self.identity.as_str());
            let renewed = spec.renew_time.as_ref().and_then(chrono_of);
            if let Some(holder) = holder.filter(|_| !ours)
                && !expired(renewed, spec.lease_duration_seconds, now)
            {
                return Err(LeaseError::Held(HeldLease {
                    lease: self.lease.clone(),
                    holder,
                    acquired: spec.acquire_time.as_ref().and_then(chrono_of),
                    renewed,
                }));
            }
            let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
            lease.spec = Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds()),
                acquire_time: match ours {
                    true => spec.acquire_time.clone().or(Some(micro(now))),
                    false => Some(micro(now)),
                },
                renew_time: Some(micro(now)),
                lease_transitions: Some(transitions),
                ..spec
            });
            let written = self
                .calls
                .call_or_conflict("update", RESOURCE, || {
                    self.api.replace(&self.name, &params, &lease)
                })
                .await
                .map_err(|e| self.unavailable(e))?;
            if written.is_some() {
                return Ok(());
            }
            tracing::info!("{}: 409 conflict taking it, reading again", self.lease);
        }
        Err(self.unavailable(self.calls.rejected(format!(
            "{} writes in a row answered 409 Conflict",
            self.calls.patience.conflicts + 1
        ))))
    }

    /// Moves renewTime to now, if the Lease is still ours.
    async fn renew(&self) -> Result<(), ProviderError> {
        self.calls
            .update(&self.api, RESOURCE, &self.name, |lease| {
                let spec = lease.spec.get_or_insert_default();
                self.still_ours(spec)?;
                spec.renew_time = Some(micro(Utc::now()));
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Clears the holder, if the Lease is still ours.
    async fn release(&self) -> Result<(), ProviderError> {
        self.calls
            .update(&self.api, RESOURCE, &self.name, |lease| {
                let spec = lease.spec.get_or_insert_default();
                self.still_ours(spec)?;
                spec.holder_identity = None;
                spec.renew_time = Some(micro(Utc::now()));
                Ok(())
            })
            .await
            .map(|_| ())
    }

    fn still_ours(&self, spec: &LeaseSpec) -> Result<(), ProviderError> {
        match spec.holder_identity.as_deref() {
            Some(holder) if holder == self.identity => Ok(()),
            other => Err(self.calls.rejected(format!(
                "it is no longer held by {}, but by {}",
                self.identity,
                other.filter(|h| !h.is_empty()).unwrap_or("no one")
            ))),
        }
    }
}

fn micro(t: DateTime<Utc>) -> MicroTime {
    MicroTime(Timestamp::from_microsecond(t.timestamp_micros()).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn chrono_of(t: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.0.as_microsecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_lease_expires_after_its_duration_from_the_last_renewal() {
        let renewed = Some(at("2026-11-30T00:31:07Z"));
        let now = |s| at(s);
        assert!(!expired(renewed, Some(30), now("2026-11-30T00:31:20Z")));
        assert!(!expired(renewed, Some(30), now("2026-11-30T00:31:37Z")));
        assert!(expired(
            renewed,
            Some(30),
            now("2026-11-30T00:31:37.000001Z")
        ));
        // No duration: the default 30 s; never renewed: expired.
        assert!(!expired(renewed, None, now("2026-11-30T00:31:36Z")));
        assert!(expired(renewed, None, now("2026-11-30T00:31:38Z")));
        assert!(expired(None, Some(30), now("2026-11-30T00:31:07Z")));
    }

    #[test]
    fn lease_names_are_dns_1123() {
        assert_eq!(lease_name("payments"), "helmsman-payments");
        assert_eq!(lease_name("Pay_ments v2"), "helmsman-pay-ments-v2");
        assert_eq!(lease_name("x".repeat(300).as_str()).len(), 253);
    }

    #[test]
    fn micro_times_round_trip_to_the_microsecond() {
        let t = at("2026-11-30T00:31:07.123456Z");
        assert_eq!(chrono_of(&micro(t)), Some(t));
        assert_eq!(
            serde_json::to_value(micro(t)).unwrap(),
            "2026-11-30T00:31:07.123456Z"
        );
    }

    #[test]
    fn a_held_lease_names_its_holder_and_times() {
        let held = HeldLease {
            lease: "shop/helmsman-payments".into(),
            holder: "bob@bastion-2 pid 77".into(),
            acquired: Some(at("2026-11-30T00:31:07Z")),
            renewed: Some(at("2026-11-30T00:40:00Z")),
        };
        assert_eq!(
            held.to_string(),
            "the Lease shop/helmsman-payments is held by bob@bastion-2 pid 77 since 2026-11-30 \
             00:31:07 UTC, renewed 2026-11-30 00:40:00 UTC; a release of it runs from there \
             (steer it there, or wait for it to end)"
        );
    }
}
