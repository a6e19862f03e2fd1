//! Metrics provider for the embedded data plane: its own cumulative
//! counters, read from the admin API together with its traffic state
//! (`GET /api/v1/observed`).

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::ConnectionLimits;
use crate::metrics::Reading;
use crate::providers::traffic::local::AdminClient;
use crate::providers::traffic::local_reads::PlaneReads;
use crate::providers::{Metrics, ProviderError};

#[derive(Clone)]
pub struct LocalMetrics {
    reads: Arc<PlaneReads>,
    provider: String,
}

impl LocalMetrics {
    /// `limits`: the data plane's connection limits (`LocalBackend::limits`).
    pub fn new(admin: SocketAddr, limits: &ConnectionLimits) -> Self {
        // Counters are read with GET, which needs no token.
        let client = AdminClient::new(admin, None, limits, name(admin));
        Self::sharing(PlaneReads::new(client))
    }

    /// Reads through a traffic provider's reads (`LocalTraffic::reads`), so
    /// a periodic reading of both costs one admin call.
    pub fn sharing(reads: Arc<PlaneReads>) -> Self {
        let provider = name(reads.address());
        Self { reads, provider }
    }
}

fn name(admin: SocketAddr) -> String {
    format!("local data plane metrics (admin {admin})")
}

#[async_trait]
impl Metrics for LocalMetrics {
    fn describe(&self) -> String {
        self.provider.clone()
    }

    async fn read(&self) -> Result<Reading, ProviderError> {
        let reading = self.reads.read().await?.counters.clone();
        // Cumulative counters that contradict themselves cannot be judged.
        for (side, sample) in [("new", &reading.new), ("baseline", &reading.baseline)] {
            if sample.errors > sample.requests || !sample.latency.is_consistent() {
                return Err(ProviderError::Invalid {
                    provider: self.describe(),
                    detail: format!("{side} counters are inconsistent: {sample:?}"),
                });
            }
        }
        Ok(reading)
    }
}
