//! A metrics source with no Prometheus: HAProxy's own per-server counters
//! (`show stat`), summed per version.
//!
//! - requests: the sessions each server took (`stot`; one a request in
//!   HTTP mode);
//! - errors: 5xx responses (`hrsp_5xx`), connections that failed (`econ`,
//!   kind `connect`) and responses that broke off (`eresp`, kind
//!   `response`); 5xx are kind `http_5xx`, as HAProxy does not keep the
//!   code;
//! - latency: HAProxy keeps no histogram, only each server's average
//!   response time over its last 1 024 requests (`rtime`). The reading
//!   carries the request-weighted average of a version's servers as its
//!   "p95" ([`Sample::reported_p95_ms`]): the p95 trigger then compares
//!   the two versions' recent averages, with no confidence bounds.
//!
//! Counters restart from 0 when HAProxy reloads or restarts. A reading from
//! another HAProxy process than the last (`show info`'s `Pid`), or lower
//! than the last, is refused as invalid — the engine holds, it never judges
//! on numbers that went back — and the counts before it are carried: later
//! readings add the new process's counters to them, so the totals never go
//! back (what was served between the last reading and the reload is lost).

use std::sync::Mutex;

use async_trait::async_trait;

use super::runtime::RuntimeApi;
use super::stat::ServerStat;
use crate::metrics::{Reading, Sample};
use crate::providers::{Metrics, ProviderError};

/// Index of `hrsp_5xx` among [`ServerStat::responses`].
const RESPONSES_5XX: usize = 4;

pub struct HaProxyMetrics {
    api: RuntimeApi,
    backend: String,
    stable: Vec<String>,
    new: Vec<String>,
    counted: Mutex<Counted>,
}

/// What earlier HAProxy processes counted, and the last process's last
/// reading (to tell counters that went back).
#[derive(Default)]
struct Counted {
    carried: Option<Reading>,
    last: Option<(u32, Reading)>,
}

impl HaProxyMetrics {
    /// The servers of `backend` that run the stable and the new version.
    pub fn new(api: RuntimeApi, backend: &str, stable: Vec<String>, new: Vec<String>) -> Self {
        HaProxyMetrics {
            api,
            backend: backend.to_string(),
            stable,
            new,
            counted: Mutex::default(),
        }
    }

    fn side(&self, stats: &[ServerStat], servers: &[String]) -> Result<Sample, ProviderError> {
        let mut sample = Sample::default();
        let mut weighted_ms = 0.0;
        let mut timed = 0u64;
        for name in servers {
            let Some(stat) = stats.iter().find(|s| s.server == *name) else {
                return Err(ProviderError::Invalid {
                    provider: self.describe(),
                    detail: format!(
                        "no server `{name}` in backend `{}`; it has {}",
                        self.backend,
                        crate::config::quoted_list(
                            &stats.iter().map(|s| s.server.as_str()).collect::<Vec<_>>()
                        )
                    ),
                });
            };
            sample.requests += stat.sessions;
            let kinds = [
                ("http_5xx", stat.responses[RESPONSES_5XX]),
                ("connect", stat.connect_errors),
                ("response", stat.response_errors),
            ];
            for (kind, n) in kinds {
                sample.errors += n;
                *sample.errors_by_kind.entry(kind.to_string()).or_insert(0) += n;
            }
            if let Some(ms) = stat.avg_response_ms {
                weighted_ms += ms * stat.sessions as f64;
                timed += stat.sessions;
            }
        }
        sample.errors_by_kind.retain(|_, n| *n > 0);
        // Errors can outnumber sessions (a retried connection counts each
        // failure): a request fails once.
        sample.errors = sample.errors.min(sample.requests);
        sample.reported_p95_ms = (timed > 0).then(|| weighted_ms / timed as f64);
        Ok(sample)
    }
}

#[async_trait]
impl Metrics for HaProxyMetrics {
    fn describe(&self) -> String {
        format!(
            "HAProxy backend `{}` ({})",
            self.backend,
            self.api.describe()
        )
    }

    async fn read(&self) -> Result<Reading, ProviderError> {
        let pid = self.api.pid().await?;
        let stats = self.api.stats(&self.backend).await?;
        let reading = Reading {
            new: self.side(&stats, &self.new)?,
            baseline: self.side(&stats, &self.stable)?,
        };
        let mut counted = crate::sync::lock(&self.counted);
        let Counted { carried, last } = &mut *counted;
        if let Some((before_pid, before)) = last.take() {
            let went_back = pid != before_pid
                || reading.new.requests < before.new.requests
                || reading.baseline.requests < before.baseline.requests;
            if went_back {
                *carried = Some(match carried.take() {
                    Some(c) => before.plus(&c),
                    None => before,
                });
                *last = Some((pid, reading));
                return Err(ProviderError::Invalid {
                    provider: self.describe(),
                    detail: "its counters went back: HAProxy was reloaded or restarted".into(),
                });
            }
        }
        *last = Some((pid, reading.clone()));
        Ok(match carried {
            Some(c) => reading.plus(c),
            None => reading,
        })
    }
}
