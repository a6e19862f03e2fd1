//! Metrics provider for the embedded data plane: its own cumulative
//! counters, read from the admin API (`GET /api/v1/counters`).

use std::net::SocketAddr;

use async_trait::async_trait;

use crate::config::ConnectionLimits;
use crate::metrics::Reading;
use crate::providers::traffic::local::AdminClient;
use crate::providers::{Metrics, ProviderError};

#[derive(Debug, Clone)]
pub struct LocalMetrics {
    admin: AdminClient,
}

impl LocalMetrics {
    /// `limits`: the data plane's connection limits (`LocalBackend::limits`).
    pub fn new(admin: SocketAddr, limits: &ConnectionLimits) -> Self {
        let provider = format!("local data plane metrics (admin {admin})");
        Self {
            // Counters are read with GET, which needs no token.
            admin: AdminClient::new(admin, None, limits, provider),
        }
    }
}

#[async_trait]
impl Metrics for LocalMetrics {
    fn describe(&self) -> String {
        self.admin.provider().to_string()
    }

    async fn read(&self) -> Result<Reading, ProviderError> {
        let reading: Reading = self
            .admin
            .call(reqwest::Method::GET, "/api/v1/counters", None)
            .await?;
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
