//! The proxy's worker threads: one single-threaded tokio runtime per core.
//!
//! Every accepted user connection is handed (round-robin) to one worker and
//! lives there for good, together with the upstream connections it opens
//! (see `proxy::Connection`). A request, its upstream round trip and the
//! response therefore stay on one thread: no cross-thread wake-ups, no
//! work stealing, no cache lines bouncing between cores — the model of
//! HAProxy's one event loop per thread. The accept loop itself, the admin
//! API and the health checks stay on the caller's runtime.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Running worker runtimes. Dropping this stops them (and drops whatever
/// still runs on them).
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropping a sender ends its worker's `block_on`.
    _stop: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// One worker per available CPU.
    pub async fn per_cpu(name: &str) -> io::Result<Workers> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::start(name, n).await
    }

    /// Starts `n` (at least one) worker threads.
    pub async fn start(name: &str, n: usize) -> io::Result<Workers> {
        let mut handles = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        for i in 0..n.max(1) {
            let (stop, stopped) = oneshot::channel::<()>();
            let (started, handle) = oneshot::channel();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    // Built on its own thread: a runtime must not be
                    // dropped inside another runtime's async context.
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(e) => {
                            let _ = started.send(Err(e));
                            return;
                        }
                    };
                    let _ = started.send(Ok(runtime.handle().clone()));
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
            let handle = handle
                .await
                .map_err(|_| io::Error::other("a proxy worker thread died while starting"))??;
            handles.push(handle);
            stops.push(stop);
        }
        Ok(Workers {
            handles,
            next: AtomicUsize::new(0),
            _stop: stops,
        })
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The worker for the next connection (round-robin, so connections are
    /// spread exactly evenly).
    pub fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Relaxed) % self.handles.len();
        &self.handles[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spreads_work_round_robin_and_stops_when_dropped() {
        let workers = Workers::start("test-worker", 2).await.unwrap();
        assert_eq!(workers.len(), 2);
        let mut names = Vec::new();
        for _ in 0..4 {
            let name = workers
                .next()
                .spawn(async { std::thread::current().name().map(str::to_string) })
                .await
                .unwrap();
            names.push(name.unwrap());
        }
        assert_eq!(
            names,
            [
                "test-worker-0",
                "test-worker-1",
                "test-worker-0",
                "test-worker-1"
            ]
        );

        // A task still running when the workers go away is dropped with them.
        let (tx, rx) = oneshot::channel::<()>();
        let pending = workers.next().spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await
        });
        drop(workers);
        assert!(rx.await.is_err(), "the task was dropped");
        assert!(pending.await.unwrap_err().is_cancelled());
    }
}
