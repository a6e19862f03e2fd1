//! Releases of `prod/checkout` through the real engine driver, against the
//! fake API server: what the Kubernetes suites (tests/kube*.rs) share. The
//! traffic is the real Kubernetes backend; the numbers are made up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use helmsman::config::{self, KubernetesBackend, Strategy, defaults};
use helmsman::engine::clock::TokioClock;
use helmsman::engine::driver::{Providers, ReleaseHandle, spawn_release};
use helmsman::engine::machine::ReleaseSpec;
use helmsman::engine::{Actor, Phase, ReleaseResult, Target};
use helmsman::metrics::Reading;
use helmsman::pipeline::backends::providers_for;
use helmsman::providers::traffic::kubernetes::{self, Patience};
use helmsman::providers::{Metrics, ProviderError};

/// A new version as healthy as its baseline: 50 requests each per read.
#[derive(Default)]
pub struct CleanMetrics {
    reading: Mutex<Reading>,
}

#[async_trait]
impl Metrics for CleanMetrics {
    fn describe(&self) -> String {
        "clean metrics".into()
    }
    async fn read(&self) -> Result<Reading, ProviderError> {
        let mut guard = self.reading.lock().unwrap();
        let reading = &mut *guard;
        for sample in [&mut reading.new, &mut reading.baseline] {
            sample.requests += 50;
            for _ in 0..50 {
                sample.latency.record_ms(20.0);
            }
        }
        Ok(guard.clone())
    }
}

pub fn target() -> Target {
    Target {
        env: "prod".into(),
        service: "checkout".into(),
    }
}

pub fn alice() -> Actor {
    Actor::Operator {
        user: "alice".into(),
        origin: None,
    }
}

/// One release to start: the backend and strategy of `checkout`.
pub struct Release {
    pub backend: KubernetesBackend,
    pub strategy: Strategy,
    pub patience: Patience,
    /// How often the engine reads.
    pub interval: Duration,
    pub new_version: String,
    /// Run the smoke checks `helmsman release` would build for it.
    pub smoke_checks: bool,
}

impl Release {
    /// Starts it from the version the cluster runs, which is returned.
    pub async fn start(self) -> (String, ReleaseHandle) {
        let traffic =
            kubernetes::traffic_with_patience(&self.backend, &self.strategy, self.patience);
        let stable_version = traffic.state().await.unwrap().stable_version;
        let mut analysis = defaults::analysis();
        analysis.interval = self.interval;
        let service = config::Service {
            name: "checkout".into(),
            backend: config::Backend::Kubernetes(self.backend),
            strategy: self.strategy,
            analysis,
            triggers: defaults::triggers(),
            bands: defaults::bands(),
            health: defaults::health(),
            metrics: config::MetricsSource::Local,
            migrations: None,
            hooks: Vec::new(),
            workdir: ".".into(),
        };
        let spec = ReleaseSpec {
            target: target(),
            release_id: format!("r-{}", self.new_version),
            stable_version: stable_version.clone(),
            new_version: self.new_version,
            service,
            started_by: alice(),
        };
        let smoke_checks = match self.smoke_checks {
            true => providers_for(&spec).smoke_checks,
            false => Vec::new(),
        };
        let providers = Providers {
            traffic,
            metrics: Arc::new(CleanMetrics::default()),
            smoke_checks,
        };
        let handle = spawn_release(
            spec,
            providers,
            Arc::new(TokioClock::anchored_at(Utc::now())),
        );
        (stable_version, handle)
    }
}

pub async fn finished(handle: &mut ReleaseHandle) -> ReleaseResult {
    tokio::time::timeout(Duration::from_secs(60), &mut handle.task)
        .await
        .expect("the release ends within a minute")
        .unwrap()
}

/// Waits (bounded) until the release progresses at `weight` % read back.
pub async fn progressing_at(handle: &mut ReleaseHandle, weight: u8) {
    tokio::time::timeout(
        Duration::from_secs(30),
        handle
            .snapshots
            .wait_for(|s| s.actual_weight == Some(weight) && s.phase == Phase::Progressing),
    )
    .await
    .unwrap_or_else(|_| panic!("the canary reaches {weight} %"))
    .unwrap();
}
