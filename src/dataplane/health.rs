//! Active health checks: every configured upstream instance (of every known
//! version, in rotation or not, so a staged version is validated before it
//! gets traffic) is probed with `GET health.path` every `health.interval`.
//!
//! One failed probe is noise, so an instance flips to unhealthy after two
//! consecutive failures and back to healthy after two consecutive successes.
//! Instances start healthy: a just-started data plane must serve traffic at
//! once, and a dead instance is caught after two intervals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::{Either, Empty};
use hyper::Request;
use hyper::header::{HeaderName, HeaderValue};
use tokio::task::JoinHandle;

use super::proxy::{UpstreamBody, UpstreamClient};
use crate::config::HealthCheck;

/// Consecutive results needed to change an instance's health.
pub const FLIP_AFTER: u32 = 2;

/// The pure health state machine of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthState {
    pub healthy: bool,
    /// Consecutive probe results that contradict `healthy`.
    streak: u32,
}

impl Default for HealthState {
    fn default() -> Self {
        Self {
            healthy: true,
            streak: 0,
        }
    }
}

impl HealthState {
    /// Feeds one probe result; returns true when the health changed.
    pub fn observe(&mut self, probe_ok: bool) -> bool {
        if probe_ok == self.healthy {
            self.streak = 0;
            return false;
        }
        self.streak += 1;
        if self.streak >= FLIP_AFTER {
            self.healthy = probe_ok;
            self.streak = 0;
            return true;
        }
        false
    }
}

/// The published health of one instance, read lock-free by the router.
#[derive(Debug)]
pub struct InstanceHealth {
    healthy: AtomicBool,
}

impl Default for InstanceHealth {
    fn default() -> Self {
        Self {
            healthy: AtomicBool::new(HealthState::default().healthy),
        }
    }
}

impl InstanceHealth {
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }
}

/// Starts one probe loop per instance. The tasks run until aborted.
pub fn spawn_checkers(
    instances: &[(SocketAddr, Arc<InstanceHealth>)],
    cfg: &HealthCheck,
    client: UpstreamClient,
) -> Vec<JoinHandle<()>> {
    // Header names and values are validated once; a bad one is skipped with
    // a warning rather than failing every probe.
    let headers: Vec<(HeaderName, HeaderValue)> = cfg
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let parsed = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value.expose()),
            );
            match parsed {
                (Ok(n), Ok(mut v)) => {
                    v.set_sensitive(true);
                    Some((n, v))
                }
                _ => {
                    tracing::warn!(header = %name, "health check header is not valid HTTP; skipped");
                    None
                }
            }
        })
        .collect();
    instances
        .iter()
        .map(|(addr, health)| {
            let probe = Probe {
                addr: *addr,
                path: cfg.path.clone(),
                timeout: cfg.timeout,
                headers: headers.clone(),
                client: client.clone(),
            };
            let health = health.clone();
            let interval = cfg.interval;
            tokio::spawn(async move {
                let mut state = HealthState::default();
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let ok = probe.run().await;
                    if state.observe(ok) {
                        tracing::info!(instance = %probe.addr, healthy = state.healthy, "instance health changed");
                        health.set(state.healthy);
                    }
                }
            })
        })
        .collect()
}

struct Probe {
    addr: SocketAddr,
    path: String,
    timeout: std::time::Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: UpstreamClient,
}

impl Probe {
    /// True when the instance answered 2xx within the timeout.
    async fn run(&self) -> bool {
        let mut builder = Request::get(format!("http://{}{}", self.addr, self.path));
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let body: UpstreamBody = Either::Right(Empty::<Bytes>::new());
        let Ok(request) = builder.body(body) else {
            return false;
        };
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => response.status().is_success(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_only_after_two_consecutive_results() {
        let mut s = HealthState::default();
        assert!(s.healthy);
        assert!(!s.observe(false));
        assert!(s.healthy, "one failure is noise");
        assert!(!s.observe(true));
        assert!(!s.observe(false));
        assert!(s.healthy, "the streak restarted after a success");
        assert!(s.observe(false));
        assert!(!s.healthy);
        assert!(!s.observe(true));
        assert!(!s.healthy);
        assert!(s.observe(true));
        assert!(s.healthy);
        assert!(!s.observe(true));
    }
}
