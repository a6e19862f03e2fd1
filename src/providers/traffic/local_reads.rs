//! The reads of embedded data planes, shared by a release's traffic and
//! metrics providers and gathered across releases.
//!
//! A periodic reading asks for the traffic state and the counters at the
//! same moment; one admin call (`GET /api/v1/observed`) answers both. A
//! host driving hundreds of releases reads hundreds of data planes a
//! second, and one HTTP exchange per plane was most of the CPU of both
//! the host and the planes process. So reads are gathered for a few
//! milliseconds and sent as one call to one of the planes
//! (`GET /api/v1/observed/siblings?admin=…`), which answers for every
//! plane of its process on the same address. A plane it does not answer
//! for — another process's, one older than the call — is read on its own,
//! as is every plane when the gathered call fails, so one plane's trouble
//! is never another's.
//!
//! A read joins a gathered call only until it is sent, so an answer is
//! never older than its question (a traffic read after a write sees it).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::Shared;
use tokio::sync::oneshot;

use super::local::AdminClient;
use crate::dataplane::admin::{MAX_SIBLINGS, Siblings};
use crate::observed::Observed;
use crate::providers::ProviderError;

/// How long a read waits for others before the call goes out. Longer
/// waits gather more planes a call (at 900 releases about 22 at 25 ms)
/// and cost the host less; a reading's traffic then lands up to this much
/// after its metrics, well inside one reading interval.
const GATHER: Duration = Duration::from_millis(25);
/// A gathered call answers in a millisecond or two; one that takes longer
/// than this is given up, and each plane is read on its own.
const GATHERED_TIMEOUT: Duration = Duration::from_millis(250);

/// One data plane's reads.
pub struct PlaneReads {
    admin: AdminClient,
}

impl PlaneReads {
    pub fn new(admin: AdminClient) -> Arc<Self> {
        Arc::new(Self { admin })
    }

    /// The data plane's admin address.
    pub fn address(&self) -> SocketAddr {
        self.admin.address()
    }

    /// The data plane as it stands after this call.
    pub async fn read(&self) -> Result<Arc<Observed>, ProviderError> {
        // No answer at all: the call went with the runtime that sent it.
        let gathered = GATHERING.join(&self.admin).await.ok();
        match gathered.as_ref().and_then(|g| g.get(&self.admin.address())) {
            Some(answer) => answer.clone(),
            None => observe(&self.admin).await.map(Arc::new),
        }
    }
}

/// What a gathered call brought back, by admin address. A plane left out
/// is read on its own.
type Gathered = HashMap<SocketAddr, Result<Arc<Observed>, ProviderError>>;
type Answer = Shared<oneshot::Receiver<Arc<Gathered>>>;

/// The reads of this process waiting for their call to go out, one call
/// per admin IP address (only planes on the same address answer for each
/// other).
static GATHERING: LazyLock<Gathering> = LazyLock::new(|| Gathering {
    open: Mutex::new(HashMap::new()),
    answered_by: Mutex::new(HashMap::new()),
});

struct Gathering {
    open: Mutex<HashMap<IpAddr, Open>>,
    /// The plane that last answered a call for its siblings on each
    /// address, asked first next time: one kept connection serves every
    /// call, instead of one per plane that happened to be asked.
    answered_by: Mutex<HashMap<IpAddr, AdminClient>>,
}

/// A call that reads may still join.
struct Open {
    planes: Arc<Mutex<Vec<AdminClient>>>,
    answer: Answer,
}

impl Gathering {
    /// Joins the call about to go out for `admin`'s address, or opens one.
    fn join(&'static self, admin: &AdminClient) -> Answer {
        let ip = admin.address().ip();
        let mut open = crate::sync::lock(&self.open);
        if let Some(call) = open.get(&ip) {
            let mut planes = crate::sync::lock(&call.planes);
            if planes.iter().any(|p| p.address() == admin.address()) {
                return call.answer.clone();
            }
            if planes.len() < MAX_SIBLINGS {
                planes.push(admin.clone());
                return call.answer.clone();
            }
        }
        let planes = Arc::new(Mutex::new(vec![admin.clone()]));
        // Sent by a task of its own rather than by whichever reader polls
        // first: readers on other runtimes (tests run several) only wait
        // for the answer, never on another runtime's timer.
        let (sent, answer) = oneshot::channel();
        tokio::spawn(self.send_soon(ip, Arc::clone(&planes), sent));
        let answer = answer.shared();
        open.insert(
            ip,
            Open {
                planes,
                answer: answer.clone(),
            },
        );
        answer
    }

    async fn send_soon(
        &'static self,
        ip: IpAddr,
        planes: Arc<Mutex<Vec<AdminClient>>>,
        answer: oneshot::Sender<Arc<Gathered>>,
    ) {
        tokio::time::sleep(GATHER).await;
        {
            // Closed before its list is taken: nothing joins it after.
            let mut open = crate::sync::lock(&self.open);
            if open
                .get(&ip)
                .is_some_and(|call| Arc::ptr_eq(&call.planes, &planes))
            {
                open.remove(&ip);
            }
        }
        let planes = std::mem::take(&mut *crate::sync::lock(&planes));
        let gathered = match planes.as_slice() {
            [] => Gathered::new(),
            [one] => Gathered::from([(one.address(), observe(one).await.map(Arc::new))]),
            [first, ..] => self.gather(ip, first, &planes).await,
        };
        let _ = answer.send(Arc::new(gathered));
    }

    /// One call for all of `planes`, to the plane that answered the last
    /// one (or the first of them). What it leaves out, each plane reads on
    /// its own.
    async fn gather(&self, ip: IpAddr, first: &AdminClient, planes: &[AdminClient]) -> Gathered {
        let asked = crate::sync::lock(&self.answered_by)
            .get(&ip)
            .cloned()
            .unwrap_or_else(|| first.clone());
        let answer = tokio::time::timeout(GATHERED_TIMEOUT, siblings(&asked, planes)).await;
        let gathered: Gathered = match answer {
            Ok(Ok(Some(answer))) => answer
                .planes
                .into_iter()
                .map(|(admin, observed)| (admin, Ok(Arc::new(observed))))
                .collect(),
            // Not answered, refused, or a plane from before the call.
            _ => Gathered::new(),
        };
        let mut answered_by = crate::sync::lock(&self.answered_by);
        match gathered.is_empty() {
            // Gone, or in another process than these planes: the next
            // call asks one of its own.
            true => answered_by.remove(&ip),
            false => answered_by.insert(ip, asked),
        };
        gathered
    }
}

async fn siblings(
    asked: &AdminClient,
    planes: &[AdminClient],
) -> Result<Option<Siblings>, ProviderError> {
    let list = planes
        .iter()
        .map(|p| p.address().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("admin", &list)
        .finish();
    asked
        .get_if_found(&format!("/api/v1/observed/siblings?{query}"))
        .await
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
