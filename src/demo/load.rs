//! Steady HTTP load against one address: the demo's stand-in for users.
//!
//! Requests are sent on a fixed schedule (open loop), each in its own task,
//! so a slow version does not slow the arrival rate down — as with real
//! users. The generator counts what it saw so the demo can prove that no
//! request failed at the proxy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// What the users saw so far.
#[derive(Debug, Default)]
pub struct LoadStats {
    pub sent: AtomicU64,
    /// Any HTTP answer, whatever its status.
    pub answered: AtomicU64,
    pub status_5xx: AtomicU64,
    /// No HTTP answer at all (connection refused or reset, timeout).
    pub failed: AtomicU64,
    /// Sent and not answered yet.
    pub in_flight: AtomicU64,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Load {
    stats: Arc<LoadStats>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Load {
    /// Starts `rate` requests per second to `http://target/`.
    pub fn start(target: SocketAddr, rate: u32) -> Load {
        let stats = Arc::new(LoadStats::default());
        let (stop, mut stopped) = watch::channel(false);
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .expect("a client with default TLS settings always builds");
        let url = format!("http://{target}/");
        let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopped.changed() => break,
                }
                let (client, url, stats) = (client.clone(), url.clone(), task_stats.clone());
                stats.sent.fetch_add(1, Ordering::Relaxed);
                stats.in_flight.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    match client.get(&url).send().await {
                        Ok(response) => {
                            stats.answered.fetch_add(1, Ordering::Relaxed);
                            if response.status().is_server_error() {
                                stats.status_5xx.fetch_add(1, Ordering::Relaxed);
                            }
                            // Read the body so the connection goes back to the pool.
                            let _ = response.bytes().await;
                        }
                        Err(_) => {
                            stats.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        Load { stats, stop, task }
    }

    pub fn stats(&self) -> &LoadStats {
        &self.stats
    }

    pub fn shared_stats(&self) -> Arc<LoadStats> {
        self.stats.clone()
    }

    /// Stops sending and waits (up to the request timeout) for the
    /// requests still in flight, so none is counted before it is answered.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        while self.stats.in_flight.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
