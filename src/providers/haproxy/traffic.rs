//! Moving traffic on a HAProxy backend whose servers are each version's
//! instances, through the runtime API, then reading back what HAProxy does:
//!
//! - canary ([`Weights`]): each version's servers get one weight (0 to 256)
//!   chosen so the version's share of the round robin is the one asked for,
//!   exactly where 0..256 can say it, else as near as it can;
//! - blue-green ([`Switch`]): the side switched to is `ready`, the other
//!   `drain` (requests in flight finish, no new ones);
//! - rolling ([`Rotation`]): the servers leaving rotation are drained and
//!   their sessions waited out, then those joining are made `ready`.
//!
//! A server HAProxy marks DOWN, or that is not `ready`, is out of rotation
//! in what [`Traffic::state`] reports: the share it gives is the one
//! HAProxy applies. The version serving before a release is read the same
//! way: the one whose servers are in rotation.
//!
//! Runtime changes live in the HAProxy process. A reload or restart puts
//! every server back to its configuration file's weight and state, and a
//! release must not go on at that split: each reading compares the servers
//! with what helmsman last set. After a reload (another process answers)
//! helmsman sets them again and fails that one reading, so the engine holds
//! until the next shows the release's own split; a change by hand in the
//! same process is drift, and helmsman holds without overwriting it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::runtime::RuntimeApi;
use super::servers::{Admin, ServerState};
use crate::config::quoted_list;
use crate::observed::{Instance, TrafficState};
use crate::providers::{ProviderError, Rotation, Switch, Traffic, Weights};

/// The highest weight HAProxy takes.
const MAX_WEIGHT: u16 = 256;
/// How long a drained server's sessions are waited out before a rolling
/// step goes on regardless.
const DRAIN_WAIT: Duration = Duration::from_secs(30);

pub struct HaProxyTraffic {
    api: RuntimeApi,
    backend: String,
    /// Each version's servers in the backend.
    versions: BTreeMap<String, Vec<String>>,
    roles: Mutex<Roles>,
    written: Mutex<Written>,
}

#[derive(Debug, Clone)]
struct Roles {
    /// `None` until a release names it: read from HAProxy meanwhile.
    stable: Option<String>,
    new: Option<String>,
}

/// What helmsman last set on each server, and in which HAProxy process.
#[derive(Debug, Default)]
struct Written {
    pid: Option<u32>,
    servers: BTreeMap<String, (Option<u16>, Admin)>,
}

impl HaProxyTraffic {
    /// `stable`: the version a release starts from; `None` reads it from
    /// HAProxy.
    pub fn new(
        api: RuntimeApi,
        backend: &str,
        versions: BTreeMap<String, Vec<String>>,
        stable: Option<&str>,
    ) -> HaProxyTraffic {
        HaProxyTraffic {
            api,
            backend: backend.to_string(),
            versions,
            roles: Mutex::new(Roles {
                stable: stable.map(str::to_string),
                new: None,
            }),
            written: Mutex::default(),
        }
    }

    fn roles(&self) -> Roles {
        crate::sync::lock(&self.roles).clone()
    }

    fn servers_of(&self, version: &str) -> Result<&[String], ProviderError> {
        self.versions
            .get(version)
            .map(Vec::as_slice)
            .ok_or_else(|| ProviderError::Rejected {
                provider: self.describe(),
                detail: format!(
                    "no servers are configured for version `{version}`; versions: {}",
                    self.versions.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })
    }

    fn rejected(&self, detail: String) -> ProviderError {
        ProviderError::Rejected {
            provider: self.describe(),
            detail,
        }
    }

    /// The version a release starts from: named, or the one HAProxy sends
    /// requests to (servers ready at a weight above 0).
    fn stable(&self, servers: &[ServerState]) -> Result<String, ProviderError> {
        if let Some(stable) = self.roles().stable {
            return Ok(stable);
        }
        let serving: Vec<&String> = self
            .versions
            .iter()
            .filter(|(_, names)| {
                servers
                    .iter()
                    .any(|s| names.contains(&s.server) && s.admin == Admin::Ready && s.weight > 0)
            })
            .map(|(version, _)| version)
            .collect();
        match serving[..] {
            [version] => Ok(version.clone()),
            [] => Err(self.rejected(format!(
                "no server of {} is in rotation (ready, at a weight above 0), so no version \
                 serves today; put the serving version's servers back with \
                 `set server {}/<server> state ready` and a weight",
                quoted_list(&self.versions.keys().collect::<Vec<_>>()),
                self.backend
            ))),
            _ => Err(self.rejected(format!(
                "versions {} are all in rotation, so none is the stable one (a release that \
                 did not end?); set the servers of all but one to weight 0 or drain them",
                quoted_list(&serving)
            ))),
        }
    }

    /// The servers of the version a release started from.
    fn stable_servers(&self) -> Result<Vec<String>, ProviderError> {
        match self.roles().stable {
            Some(stable) => Ok(self.servers_of(&stable)?.to_vec()),
            None => Err(self.rejected("no release names the stable version".into())),
        }
    }

    /// The new version's servers, once `prepare` named it.
    fn new_servers(&self) -> Result<&[String], ProviderError> {
        match self.roles().new {
            Some(new) => self.servers_of(&new),
            None => Err(ProviderError::Rejected {
                provider: self.describe(),
                detail: "no new version is prepared".into(),
            }),
        }
    }

    async fn set_all(
        &self,
        servers: &[String],
        weight: Option<u16>,
        state: Admin,
    ) -> Result<(), ProviderError> {
        for server in servers {
            if let Some(weight) = weight {
                self.api.set_weight(&self.backend, server, weight).await?;
            }
            self.api.set_state(&self.backend, server, state).await?;
            let mut written = crate::sync::lock(&self.written);
            let entry = written
                .servers
                .entry(server.clone())
                .or_insert((weight, state));
            *entry = (weight.or(entry.0), state);
        }
        Ok(())
    }

    /// The backend's servers, which must hold every configured one: a
    /// wrong name is refused with the names HAProxy has, before anything
    /// moves.
    async fn read_servers(&self) -> Result<Vec<ServerState>, ProviderError> {
        let present = match self.api.servers(&self.backend).await {
            Err(refused @ ProviderError::Rejected { .. }) => {
                return Err(match self.api.backends().await {
                    Ok(backends) if !backends.contains(&self.backend) => self.rejected(format!(
                        "HAProxy has no backend `{}`; it has {}",
                        self.backend,
                        quoted_list(&backends)
                    )),
                    _ => refused,
                });
            }
            read => read?,
        };
        let mut configured = self.versions.values().flatten();
        if let Some(missing) = configured.find(|n| !present.iter().any(|s| s.server == **n)) {
            let names: Vec<String> = present.iter().map(|s| s.server.clone()).collect();
            return Err(self.rejected(format!(
                "backend `{}` has no server `{missing}`; it has {}",
                self.backend,
                quoted_list(&names)
            )));
        }
        Ok(present)
    }

    /// Servers that are not what helmsman last set, in words; none: all are.
    fn changed(&self, servers: &[ServerState]) -> Vec<String> {
        let written = crate::sync::lock(&self.written);
        written
            .servers
            .iter()
            .filter_map(|(name, (weight, state))| {
                let now = servers.iter().find(|s| s.server == *name)?;
                let same_weight = weight.is_none_or(|w| w == now.weight);
                let same_state = *state == now.admin;
                (!same_weight || !same_state).then(|| {
                    format!(
                        "`{name}` is at weight {} and {}, helmsman set {}{}",
                        now.weight,
                        now.admin.word(),
                        weight.map_or(String::new(), |w| format!("weight {w} and ")),
                        state.word()
                    )
                })
            })
            .collect()
    }

    /// Checks the servers are as helmsman last set them. After a reload or
    /// restart, sets them again and fails this reading; a change within the
    /// same process is drift, left alone.
    async fn still_ours(&self, servers: &[ServerState]) -> Result<(), ProviderError> {
        let changed = self.changed(servers);
        if changed.is_empty() {
            return Ok(());
        }
        let pid = self.api.pid().await?;
        let before = crate::sync::lock(&self.written).pid;
        if before == Some(pid) {
            return Err(self.rejected(format!(
                "drift: {}; someone else changed them, so helmsman will not overwrite them \
                 (set them back, or roll back)",
                changed.join("; ")
            )));
        }
        let again: Vec<(String, Option<u16>, Admin)> = crate::sync::lock(&self.written)
            .servers
            .iter()
            .map(|(name, (weight, state))| (name.clone(), *weight, *state))
            .collect();
        for (server, weight, state) in again {
            self.set_all(&[server], weight, state).await?;
        }
        crate::sync::lock(&self.written).pid = Some(pid);
        Err(self.rejected(format!(
            "HAProxy was reloaded or restarted (process {} now) and put its servers back to \
             its configuration file's: {}; helmsman set them again",
            pid,
            changed.join("; ")
        )))
    }

    /// Waits (bounded) until `servers` hold no session.
    async fn drained(&self, servers: &[String]) -> Result<(), ProviderError> {
        let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
        loop {
            let stats = self.api.stats(&self.backend).await?;
            let busy = stats
                .iter()
                .any(|s| servers.contains(&s.server) && s.current > 0);
            if !busy || tokio::time::Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Per-server weights of the new and the stable version that give the new
/// one `percent` of the round robin over `new` and `stable` servers: the
/// exact ratio `percent × stable : (100 − percent) × new`, scaled up to
/// HAProxy's 256, or as near as 256 allows when the exact one does not fit.
pub fn weights_for(percent: u8, new: usize, stable: usize) -> (u16, u16) {
    let percent = u64::from(percent.min(100));
    let (new, stable) = (new.max(1) as u64, stable.max(1) as u64);
    let (a, b) = (percent * stable, (100 - percent) * new);
    let g = gcd(a, b).max(1);
    let (a, b) = (a / g, b / g);
    let top = a.max(b).max(1);
    let max = u64::from(MAX_WEIGHT);
    if top <= max {
        let k = max / top;
        return ((a * k) as u16, (b * k) as u16);
    }
    // Too fine for 0..256: the larger side at 256, the other rounded (but
    // never to 0 unless it asked for 0).
    let scale = |x: u64| -> u16 {
        match x {
            0 => 0,
            x => ((x * max + top / 2) / top).max(1) as u16,
        }
    };
    (scale(a), scale(b))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The new version's share, percent, of the weight HAProxy applies: that
/// of the servers it sends requests to (ready and up).
fn share(servers: &[ServerState], new: &[String], stable: &[String]) -> u8 {
    let applied = |names: &[String]| -> u64 {
        servers
            .iter()
            .filter(|s| names.contains(&s.server) && s.admin == Admin::Ready && s.up)
            .map(|s| u64::from(s.weight))
            .sum()
    };
    let (n, s) = (applied(new), applied(stable));
    match n + s {
        0 => 0,
        total => ((n * 100 + total / 2) / total) as u8,
    }
}

fn instances(servers: &[ServerState], names: &[String]) -> Vec<Instance> {
    names
        .iter()
        .map(|name| {
            let server = servers.iter().find(|s| s.server == *name);
            Instance {
                name: name.clone(),
                in_rotation: server.is_some_and(|s| s.admin == Admin::Ready && s.weight > 0),
                healthy: server.is_some_and(|s| s.up),
            }
        })
        .collect()
}

#[async_trait]
impl Traffic for HaProxyTraffic {
    fn describe(&self) -> String {
        format!(
            "HAProxy backend `{}` ({})",
            self.backend,
            self.api.describe()
        )
    }

    /// The new version's servers ready but at weight 0: health-checked,
    /// given no request.
    async fn prepare(&self, new_version: &str) -> Result<(), ProviderError> {
        let servers = self.servers_of(new_version)?.to_vec();
        self.read_servers().await?;
        crate::sync::lock(&self.roles).new = Some(new_version.to_string());
        crate::sync::lock(&self.written).pid = Some(self.api.pid().await?);
        self.set_all(&servers, Some(0), Admin::Ready).await
    }

    /// The new version carries everything and becomes stable; the old one
    /// is drained.
    async fn finish(&self) -> Result<(), ProviderError> {
        let roles = self.roles();
        let Some(new) = roles.new else {
            return Ok(());
        };
        let (new_servers, old_servers) = (self.servers_of(&new)?.to_vec(), self.stable_servers()?);
        self.set_all(&new_servers, Some(MAX_WEIGHT), Admin::Ready)
            .await?;
        self.set_all(&old_servers, Some(0), Admin::Drain).await?;
        *crate::sync::lock(&self.roles) = Roles {
            stable: Some(new),
            new: None,
        };
        Ok(())
    }

    /// Everything back on stable; the new version drained.
    async fn discard(&self) -> Result<(), ProviderError> {
        let roles = self.roles();
        let stable = self.stable_servers()?;
        self.set_all(&stable, Some(MAX_WEIGHT), Admin::Ready)
            .await?;
        if let Some(new) = &roles.new {
            let new = self.servers_of(new)?.to_vec();
            self.set_all(&new, Some(0), Admin::Drain).await?;
        }
        crate::sync::lock(&self.roles).new = None;
        Ok(())
    }

    async fn state(&self) -> Result<TrafficState, ProviderError> {
        let servers = self.read_servers().await?;
        self.still_ours(&servers).await?;
        let new_version = self.roles().new;
        let stable_version = self.stable(&servers)?;
        let stable = self.servers_of(&stable_version)?;
        let new: &[String] = match &new_version {
            Some(new) => self.servers_of(new)?,
            None => &[],
        };
        Ok(TrafficState {
            new_weight: share(&servers, new, stable),
            stable: instances(&servers, stable),
            new: instances(&servers, new),
            stable_version,
            new_version,
            flag_percent: None,
            planned_new: None,
        })
    }

    fn as_weights(&self) -> Option<&dyn Weights> {
        Some(self)
    }

    fn as_switch(&self) -> Option<&dyn Switch> {
        Some(self)
    }

    fn as_rotation(&self) -> Option<&dyn Rotation> {
        Some(self)
    }
}

#[async_trait]
impl Weights for HaProxyTraffic {
    /// One side's weight changes before the other's: the order whose moment
    /// between the two gives the new version the smaller share, so no
    /// moment sends it more than either end of the move does.
    async fn set_weight(&self, new_percent: u8) -> Result<(), ProviderError> {
        let new = self.new_servers()?.to_vec();
        let stable = self.stable_servers()?;
        let (w_new, w_stable) = weights_for(new_percent, new.len(), stable.len());
        let now = self.api.servers(&self.backend).await?;
        let weight_of = |names: &[String]| {
            now.iter()
                .find(|s| names.contains(&s.server))
                .map_or(0, |s| s.weight)
        };
        let (now_new, now_stable) = (weight_of(&new), weight_of(&stable));
        let between = |wn: u16, ws: u16| {
            let (n, s) = (
                u64::from(wn) * new.len() as u64,
                u64::from(ws) * stable.len() as u64,
            );
            n as f64 / (n + s).max(1) as f64
        };
        let steps = if between(w_new, now_stable) <= between(now_new, w_stable) {
            [(&new, w_new), (&stable, w_stable)]
        } else {
            [(&stable, w_stable), (&new, w_new)]
        };
        for (servers, weight) in steps {
            self.set_all(servers, Some(weight), Admin::Ready).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Switch for HaProxyTraffic {
    /// The side switched to is made ready before the other is drained, so
    /// no request finds no server.
    async fn switch(&self, to_new: bool) -> Result<(), ProviderError> {
        let new = self.new_servers()?.to_vec();
        let stable = self.stable_servers()?;
        let (on, off) = if to_new { (new, stable) } else { (stable, new) };
        self.set_all(&on, Some(MAX_WEIGHT), Admin::Ready).await?;
        self.set_all(&off, None, Admin::Drain).await
    }
}

#[async_trait]
impl Rotation for HaProxyTraffic {
    /// The first `stable` stable servers and the first `new` new servers in
    /// rotation, at even weights. Those leaving are drained and their
    /// sessions waited out (at most 30 s) before those joining are made
    /// ready.
    async fn set_instances(&self, stable: usize, new: usize) -> Result<(), ProviderError> {
        let new_servers = self.new_servers()?.to_vec();
        let stable_servers = self.stable_servers()?;
        let (stable_in, stable_out) = stable_servers.split_at(stable.min(stable_servers.len()));
        let (new_in, new_out) = new_servers.split_at(new.min(new_servers.len()));
        let leaving: Vec<String> = stable_out.iter().chain(new_out).cloned().collect();
        self.set_all(&leaving, None, Admin::Drain).await?;
        self.drained(&leaving).await?;
        let joining: Vec<String> = stable_in.iter().chain(new_in).cloned().collect();
        self.set_all(&joining, Some(MAX_WEIGHT), Admin::Ready).await
    }
}

#[cfg(test)]
mod tests {
    use super::weights_for;

    /// The new version's share of a round robin at these weights.
    fn share(percent: u8, new: usize, stable: usize) -> f64 {
        let (wn, ws) = weights_for(percent, new, stable);
        assert!(wn <= 256 && ws <= 256);
        let (n, s) = (f64::from(wn) * new as f64, f64::from(ws) * stable as f64);
        100.0 * n / (n + s)
    }

    #[test]
    fn a_version_s_share_is_exact_where_256_can_say_it() {
        assert_eq!(weights_for(0, 1, 1), (0, 256));
        assert_eq!(weights_for(100, 2, 3), (256, 0));
        assert_eq!(weights_for(50, 1, 1), (256, 256));
        // 25 % on one new server beside three stable: 1 : 1.
        assert_eq!(weights_for(25, 1, 3), (256, 256));
        for (percent, new, stable) in [(5, 1, 1), (10, 2, 3), (37, 2, 3), (75, 4, 4)] {
            let got = share(percent, new, stable);
            assert!(
                (got - f64::from(percent)).abs() < 1e-9,
                "{percent} % of {new}/{stable}: {got}"
            );
        }
    }

    #[test]
    fn a_share_too_fine_for_256_is_as_near_as_it_allows() {
        // 1 % over 3 new and 7 stable servers needs 7 : 297.
        let got = share(1, 3, 7);
        assert!((got - 1.0).abs() < 0.1, "{got}");
        // Never 0 for a share that is not.
        assert!(weights_for(1, 1, 200).0 > 0);
    }
}
