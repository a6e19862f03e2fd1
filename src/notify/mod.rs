//! Notifications: a release's news sent to the `[[notify]]` targets.
//!
//! Sending never blocks or slows a release. Each target has its own
//! bounded queue and a task that delivers from it in order, trying a
//! failed delivery again with a growing wait ([`deliver`]); a full queue
//! drops the message. A message that could not be delivered is logged
//! and handed back ([`Notifier::failures`]) for the front end to show;
//! it is never fatal. A process about to exit gives its queues a moment to
//! empty ([`drain`]).

mod bands;
pub mod deliver;
pub mod message;
mod slack;
pub mod watcher;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::notify::NotifyTarget;
pub use bands::BandWatch;
pub use message::Message;
pub use watcher::Notifying;

/// Messages a target's queue holds while its deliveries wait.
pub const QUEUE: usize = 64;

/// A message a target did not get, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub target: String,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "notify {}: {}", self.target, self.message)
    }
}

/// The delivery tasks of the targets of one deployment.
pub struct Notifier {
    outbox: Outbox,
    failures: mpsc::UnboundedReceiver<Failure>,
}

/// A target, and the queue its delivery task reads.
type Queue = (Arc<NotifyTarget>, mpsc::Sender<Arc<Message>>);

/// Where messages are queued, for every task that has news to send.
#[derive(Clone)]
pub struct Outbox {
    queues: Arc<[Queue]>,
    failures_tx: mpsc::UnboundedSender<Failure>,
}

/// Delivery tasks still at work, for [`drain`].
static WORKING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

impl Notifier {
    /// Starts a delivery task for each target, on the current runtime.
    pub fn start(targets: &[NotifyTarget]) -> Notifier {
        let (failures_tx, failures) = mpsc::unbounded_channel();
        let mut queues = Vec::new();
        // Most deployments have no target: no client, no task, no lock.
        if !targets.is_empty() {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client with rustls builds");
            let mut working = crate::sync::lock(&WORKING);
            working.retain(|task| !task.is_finished());
            for target in targets {
                let target = Arc::new(target.clone());
                let (tx, rx) = mpsc::channel(QUEUE);
                let task = work(Arc::clone(&target), rx, client.clone(), failures_tx.clone());
                working.push(tokio::spawn(task));
                queues.push((target, tx));
            }
        }
        Notifier {
            outbox: Outbox {
                queues: queues.into(),
                failures_tx,
            },
            failures,
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Whether some target hears of `event` in `env`.
    pub fn wants(&self, event: crate::config::notify::NotifyEvent, env: &str) -> bool {
        self.outbox.queues.iter().any(|(t, _)| t.wants(event, env))
    }

    /// What could not be delivered since the last call.
    pub fn failures(&mut self) -> Vec<Failure> {
        std::iter::from_fn(|| self.failures.try_recv().ok()).collect()
    }
}

impl Outbox {
    /// Queues `message` for every target that wants it; never waits.
    pub fn send(&self, message: Message) {
        let message = Arc::new(message);
        for (target, queue) in self.queues.iter() {
            if !target.wants(message.event, &message.env) {
                continue;
            }
            if queue.try_send(Arc::clone(&message)).is_err() {
                let why = format!("dropped: its queue is full ({QUEUE} waiting)");
                fail(target, &message, &why, &self.failures_tx);
            }
        }
    }
}

/// Delivers a target's messages in order until its queue closes (the
/// notifier is dropped) and is empty.
async fn work(
    target: Arc<NotifyTarget>,
    mut queue: mpsc::Receiver<Arc<Message>>,
    client: reqwest::Client,
    failures: mpsc::UnboundedSender<Failure>,
) {
    while let Some(message) = queue.recv().await {
        if let Err(why) = deliver::deliver(&client, &target, &message).await {
            fail(
                &target,
                &message,
                &format!("not delivered: {why}"),
                &failures,
            );
        }
    }
}

/// Logs that `target` did not get `message`, and hands it to the front end.
fn fail(
    target: &NotifyTarget,
    message: &Message,
    why: &str,
    failures: &mpsc::UnboundedSender<Failure>,
) {
    let failure = Failure {
        target: target.name.clone(),
        message: format!(
            "{} for {}/{} {why}",
            message.event.name(),
            message.env,
            message.service
        ),
    };
    tracing::warn!("{failure}");
    let _ = failures.send(failure);
}

/// Waits, at most `grace`, for the deliveries still queued: what a
/// process that is about to exit owes its targets. What is left then is
/// dropped, and said in the log.
pub async fn drain(grace: Duration) {
    let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *crate::sync::lock(&WORKING));
    if tasks.is_empty() {
        return;
    }
    let all = futures::future::join_all(tasks);
    if tokio::time::timeout(grace, all).await.is_err() {
        tracing::warn!(
            "notify: deliveries still pending after {grace:?} are dropped as helmsman exits"
        );
    }
}
