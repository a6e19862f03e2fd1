//! The reads of one embedded data plane, shared by a release's traffic and
//! metrics providers. A periodic reading asks for the traffic state and
//! the counters at the same moment; one admin call
//! (`GET /api/v1/observed`) answers both. These calls are the largest
//! share of the CPU of a host driving hundreds of releases, so halving
//! them counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::local::AdminClient;
use crate::observed::Observed;
use crate::providers::ProviderError;

/// How long a read waits for the other reads of the same moment before it
/// goes out: the engine asks for both within microseconds, and a reading
/// a millisecond or two later changes nothing at a 1 s interval.
const GATHER: Duration = Duration::from_millis(2);

type Read = Shared<BoxFuture<'static, Result<Arc<Observed>, ProviderError>>>;

/// A read that callers may still join until it is sent.
struct Gathering {
    read: Read,
    sent: Arc<AtomicBool>,
}

pub struct PlaneReads {
    admin: AdminClient,
    next: std::sync::Mutex<Option<Gathering>>,
}

impl PlaneReads {
    pub fn new(admin: AdminClient) -> Arc<Self> {
        Arc::new(Self {
            admin,
            next: std::sync::Mutex::new(None),
        })
    }

    /// The data plane's admin address.
    pub fn address(&self) -> std::net::SocketAddr {
        self.admin.address()
    }

    /// The data plane as it stands after this call: joins the read about
    /// to be sent, or starts one. A read already sent is never joined, so
    /// the answer is never older than the question (a traffic read after a
    /// write must see the write).
    pub async fn read(&self) -> Result<Arc<Observed>, ProviderError> {
        let read = {
            let mut next = crate::sync::lock(&self.next);
            match next.as_ref() {
                Some(gathering) if !gathering.sent.load(Ordering::Acquire) => {
                    gathering.read.clone()
                }
                _ => {
                    let gathering = self.gather();
                    let read = gathering.read.clone();
                    *next = Some(gathering);
                    read
                }
            }
        };
        read.await
    }

    fn gather(&self) -> Gathering {
        let sent = Arc::new(AtomicBool::new(false));
        let admin = self.admin.clone();
        let flag = Arc::clone(&sent);
        let read = async move {
            tokio::time::sleep(GATHER).await;
            flag.store(true, Ordering::Release);
            observe(&admin).await.map(Arc::new)
        };
        Gathering {
            read: read.boxed().shared(),
            sent,
        }
    }
}

/// One call, or two to a data plane from before `/api/v1/observed` (a
/// host upgraded while its planes process kept serving).
async fn observe(admin: &AdminClient) -> Result<Observed, ProviderError> {
    use hyper::Method;
    if let Some(observed) = admin.get_if_found("/api/v1/observed").await? {
        return Ok(observed);
    }
    Ok(Observed {
        traffic: admin.call(Method::GET, "/api/v1/state", None).await?,
        counters: admin.call(Method::GET, "/api/v1/counters", None).await?,
    })
}
