//! The releases a host drives: each submission runs the same pipeline as
//! `helmsman release` in a task of the host's, so it outlives the client
//! that submitted it. What it prints goes to a broadcast stream that the
//! submitting client and any client that attaches later read; while one of
//! its environments runs, that release is registered under its target so
//! commands from any client reach it (through the pipeline, which journals
//! them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use super::protocol::Reply;
use super::watching;
use crate::config::Config;
use crate::engine::{Actor, Command, CommandKind, Event, ReleaseResult, Snapshot, Target};
use crate::pipeline::plan::Plan;
use crate::pipeline::recover::{self, OnRestart};
use crate::pipeline::result_record::{ResultRecord, Started};
use crate::pipeline::{self, Attached, CommandSender, ReleaseRequest, Watcher};
use crate::preflight::Report;
use crate::store::{Entry, Filter, History};
use crate::strategy::StrategyKind;

/// Lines a follower may fall behind before it loses some (and is told).
/// A submission's stream carries its preflight reports, starts, events
/// and result: a few dozen lines over its life. The ring is allocated
/// whole for every submission, so a host driving hundreds keeps it small.
const STREAM_CAPACITY: usize = 64;

/// A line of a release's stream: shared, so one event goes to its
/// submission's followers and to every watcher without a copy, and a
/// stream's ring of slots stays small (a pointer each).
pub type Line = Arc<Reply>;
/// Lines every watcher (a cockpit) may fall behind: all releases' changes.
const WATCH_CAPACITY: usize = 4096;

/// Why the host cannot do what a client asked.
#[derive(Debug, thiserror::Error)]
pub enum HostedError {
    #[error("{0}")]
    Config(String),
    #[error(
        "no release of {} runs in {} on this host; `helmsman status` lists those that do",
        .0.service, .0.env
    )]
    NotRunning(Target),
    #[error("nothing to retry in {}/{}: {why}", target.env, target.service)]
    NothingToRetry { target: Target, why: String },
    #[error(transparent)]
    Journal(#[from] crate::store::StoreError),
}

/// A release of one environment that runs now.
struct Running {
    release_id: String,
    commands: CommandSender,
    snapshots: watch::Receiver<Snapshot>,
    plan: Arc<Plan>,
    stream: broadcast::Sender<Line>,
}

pub struct Releases {
    state_dir: PathBuf,
    /// The journal every hosted release writes, through one connection.
    journal: History,
    running: Mutex<HashMap<Target, Running>>,
    /// Succeeded releases whose numbers are still read (`watch_after`), as
    /// they stand now.
    watching: Mutex<HashMap<Target, Snapshot>>,
    /// Every hosted release's changes, for the clients that watch them all.
    watchers: broadcast::Sender<Line>,
    /// How many submissions have not ended.
    active: watch::Sender<usize>,
    /// The configuration last read: see [`Releases::load_config`].
    last_config: Mutex<Option<ReadConfig>>,
}

/// A configuration file as it was read, and what it gave.
struct ReadConfig {
    path: PathBuf,
    bytes: Vec<u8>,
    config: Arc<Config>,
}

impl Releases {
    pub fn new(state_dir: &Path, journal: History) -> Arc<Releases> {
        Arc::new(Releases {
            state_dir: state_dir.to_path_buf(),
            journal,
            running: Mutex::new(HashMap::new()),
            watching: Mutex::new(HashMap::new()),
            watchers: broadcast::channel(WATCH_CAPACITY).0,
            active: watch::channel(0).0,
            last_config: Mutex::new(None),
        })
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn journal(&self) -> &History {
        &self.journal
    }

    /// Reads the configuration a client named, as `helmsman` itself would
    /// (with the state directory's data plane admin token). The file is
    /// read every time, so an edit is seen by the next release; it is
    /// parsed again only when its bytes changed: a script submitting a
    /// release for each of hundreds of services parses it once, not once
    /// per service (each parse of a large file costs megabytes for a
    /// moment, and the allocator keeps what they leave behind).
    pub fn load_config(&self, path: &Path) -> Result<Arc<Config>, HostedError> {
        let invalid = |errors: crate::config::ConfigErrors| HostedError::Config(errors.to_string());
        let bytes = crate::config::read_file(path).map_err(invalid)?;
        // Held while parsing: submissions of one file wait for the one
        // parse rather than each doing it.
        let mut last = crate::sync::lock(&self.last_config);
        if let Some(read) = last.as_ref().filter(|r| r.path == path && r.bytes == bytes) {
            return Ok(Arc::clone(&read.config));
        }
        let mut config = crate::config::load_bytes(path, bytes.clone()).map_err(invalid)?;
        crate::dataplane::admin_token::provide(&mut config, &self.state_dir)
            .map_err(|e| HostedError::Config(format!("error: the data plane admin token: {e}")))?;
        let config = Arc::new(config);
        *last = Some(ReadConfig {
            path: path.to_path_buf(),
            bytes,
            config: Arc::clone(&config),
        });
        Ok(config)
    }

    /// Starts driving `request`; the returned stream carries its lines,
    /// ending with [`Reply::Finished`].
    pub fn submit(
        self: &Arc<Self>,
        config: &Config,
        request: ReleaseRequest,
    ) -> broadcast::Receiver<Line> {
        self.spawn(config, request, None)
    }

    /// Takes over every release of the journal that nobody drives (its
    /// driver died), as [`recover`] says; returns what it took over.
    pub fn take_over_undriven(
        self: &Arc<Self>,
        config: &Config,
        policy: OnRestart,
    ) -> Result<Vec<Entry>, HostedError> {
        let undriven = recover::undriven(&self.journal)?;
        for entry in &undriven {
            let start = &entry.start;
            let request = ReleaseRequest {
                service: start.target.service.clone(),
                version: start.new_version.clone(),
                envs: vec![start.target.env.clone()],
                strategy: None,
                actor: Actor::Engine,
                force: false,
            };
            self.spawn(config, request, Some((entry.clone(), policy)));
        }
        Ok(undriven)
    }

    /// Runs `request` through the pipeline (or takes over the interrupted
    /// release `interrupted`) in a task of the host's.
    fn spawn(
        self: &Arc<Self>,
        config: &Config,
        request: ReleaseRequest,
        interrupted: Option<(Entry, OnRestart)>,
    ) -> broadcast::Receiver<Line> {
        // Checked against the whole configuration, so a refusal names
        // every service and environment there is, not the narrowed few.
        let refused = match interrupted {
            None => pipeline::check_request(config, &request).err(),
            Some(_) => None,
        };
        let config = Arc::new(config.narrowed_to(&request.service, &request.envs));
        let (stream, follower) = broadcast::channel(STREAM_CAPACITY);
        self.active.send_modify(|n| *n += 1);
        let releases = Arc::clone(self);
        let mut history = self.journal.share();
        tokio::spawn(async move {
            let mut watcher = Hosted {
                releases: Arc::clone(&releases),
                config: Arc::clone(&config),
                stream,
                started: Vec::new(),
                targets: Vec::new(),
            };
            let outcome = match (refused, &interrupted) {
                (Some(refusal), _) => Err(refusal),
                (None, Some((entry, policy))) => {
                    let watcher = &mut watcher;
                    recover::take_over(&config, entry, *policy, &mut history, watcher).await
                }
                (None, None) => pipeline::run(&config, &request, &mut history, &mut watcher).await,
            };
            if let Err(e) = &outcome {
                tracing::warn!(
                    "hosted release of {} {}: {e}",
                    request.service,
                    request.version
                );
            }
            let result = ResultRecord::new(&request, &watcher.started, &outcome);
            watcher.finish(result);
            releases.active.send_modify(|n| *n -= 1);
        });
        follower
    }

    /// The last release of `target` again, when it was rolled back or
    /// aborted: same version, same strategy.
    pub fn retry(
        &self,
        config: &Config,
        target: &Target,
        actor: Actor,
    ) -> Result<ReleaseRequest, HostedError> {
        if self
            .running
            .lock()
            .expect("not poisoned")
            .contains_key(target)
        {
            return Err(HostedError::NothingToRetry {
                target: target.clone(),
                why: "its release still runs".into(),
            });
        }
        let filter = Filter {
            env: Some(target.env.clone()),
            service: Some(target.service.clone()),
            limit: Some(1),
        };
        let nothing = |why: String| HostedError::NothingToRetry {
            target: target.clone(),
            why,
        };
        let last = self
            .journal
            .entries(&filter)?
            .into_iter()
            .next()
            .ok_or_else(|| nothing("it has no release in the journal".into()))?;
        match last.result {
            Some(ReleaseResult::RolledBack | ReleaseResult::Aborted) => {
                // The configured strategy, unless the release overrode it.
                let configured = config
                    .service(&target.env, &target.service)
                    .map(|s| s.strategy.name());
                let strategy = match configured == Some(last.start.strategy.as_str()) {
                    true => None,
                    false => StrategyKind::named(&last.start.strategy),
                };
                Ok(ReleaseRequest {
                    service: target.service.clone(),
                    version: last.start.new_version,
                    envs: vec![target.env.clone()],
                    strategy,
                    actor,
                    force: false,
                })
            }
            Some(ReleaseResult::Succeeded) => Err(nothing(format!(
                "its last release, of {}, succeeded",
                last.start.new_version
            ))),
            None => Err(nothing(format!(
                "its last release, of {}, has not ended (`helmsman status` says who drives it)",
                last.start.new_version
            ))),
        }
    }

    /// Follows the release of `target` that runs now: how it stands, and
    /// the stream of the submission it belongs to.
    pub fn attach(
        &self,
        target: &Target,
    ) -> Result<(Reply, broadcast::Receiver<Line>), HostedError> {
        let running = self.running.lock().expect("not poisoned");
        let release = running
            .get(target)
            .ok_or_else(|| HostedError::NotRunning(target.clone()))?;
        let snapshot = release.snapshots.borrow();
        let attached = Reply::Attached {
            release_id: release.release_id.clone(),
            from: snapshot.stable_version.clone(),
            to: snapshot.new_version.clone(),
            phase: snapshot.phase,
            reason: snapshot.reason.clone(),
        };
        Ok((attached, release.stream.subscribe()))
    }

    /// Watches every release the host drives: how each stands now, then
    /// the stream of their changes. Subscribed first, so nothing falls
    /// between the two (a change may come twice; a snapshot only replaces).
    pub fn watch(&self) -> (Vec<Reply>, broadcast::Receiver<Line>) {
        let stream = self.watchers.subscribe();
        let running = self.running.lock().expect("not poisoned");
        let mut now: Vec<Reply> = running.values().map(Running::hosted).collect();
        drop(running);
        now.extend(self.watched(&Filter::default()).iter().map(snapshot_reply));
        (now, stream)
    }

    /// The releases watched after their success that `filter` selects.
    pub fn watched(&self, filter: &Filter) -> Vec<Snapshot> {
        let watching = crate::sync::lock(&self.watching);
        watching
            .values()
            .filter(|s| filter.env.as_ref().is_none_or(|e| *e == s.target.env))
            .filter(|s| {
                filter
                    .service
                    .as_ref()
                    .is_none_or(|v| *v == s.target.service)
            })
            .cloned()
            .collect()
    }

    /// Tells every cockpit something that is not a release's own news.
    pub(super) fn notice(&self, text: &str) {
        let reply = Reply::Notice {
            text: text.to_string(),
        };
        let _ = self.watchers.send(Arc::new(reply));
    }

    /// A watch's latest state: kept for `status`, sent to every cockpit.
    pub(super) fn show_watch(&self, target: &Target, snapshot: &Snapshot) {
        crate::sync::lock(&self.watching).insert(target.clone(), snapshot.clone());
        let _ = self.watchers.send(Arc::new(snapshot_reply(snapshot)));
    }

    /// A watch ended: its last state goes to every cockpit, and it is no
    /// longer listed (unless a newer release of the target is watched).
    pub(super) fn end_watch(&self, target: &Target, snapshot: &Snapshot) {
        let mut watching = crate::sync::lock(&self.watching);
        if watching
            .get(target)
            .is_some_and(|s| s.release_id == snapshot.release_id)
        {
            watching.remove(target);
        }
        drop(watching);
        let _ = self.watchers.send(Arc::new(snapshot_reply(snapshot)));
    }

    /// Sends `kind` from `actor` to the release of `target` and waits for
    /// the engine's answer (journaled by the pipeline before it comes back).
    pub async fn command(
        &self,
        target: &Target,
        kind: CommandKind,
        actor: Actor,
    ) -> Result<Reply, HostedError> {
        let (release_id, commands) = {
            let running = self.running.lock().expect("not poisoned");
            let release = running
                .get(target)
                .ok_or_else(|| HostedError::NotRunning(target.clone()))?;
            (release.release_id.clone(), release.commands.clone())
        };
        let command = Command {
            target: target.clone(),
            kind,
            actor,
        };
        let answer = crate::engine::driver::send_command(&commands, command)
            .await
            .unwrap_or_else(|| crate::engine::CommandReply::Refused {
                reason: "the release has just finished".into(),
            });
        Ok(Reply::Answer { release_id, answer })
    }

    /// Resolves once every submission has ended.
    pub async fn drained(&self) {
        let mut active = self.active.subscribe();
        let _ = active.wait_for(|n| *n == 0).await;
    }
}

impl Running {
    fn hosted(&self) -> Reply {
        Reply::Hosted {
            snapshot: Box::new(self.snapshots.borrow().clone()),
            plan: Box::new((*self.plan).clone()),
        }
    }
}

fn snapshot_reply(snapshot: &Snapshot) -> Reply {
    Reply::Snapshot {
        snapshot: Box::new(snapshot.clone()),
    }
}

/// Passes each new state of a release to the watchers until it ends.
fn forward_snapshots(mut snapshots: watch::Receiver<Snapshot>, watchers: broadcast::Sender<Line>) {
    tokio::spawn(async move {
        while snapshots.changed().await.is_ok() {
            let snapshot = snapshots.borrow_and_update();
            // With no cockpit watching, nothing to copy.
            if watchers.receiver_count() > 0 {
                let snapshot = Box::new(snapshot.clone());
                let _ = watchers.send(Arc::new(Reply::Snapshot { snapshot }));
            }
        }
    });
}

/// The pipeline's watcher for one submission: publishes every line and
/// registers each environment's release while it runs.
struct Hosted {
    releases: Arc<Releases>,
    /// The submission's configuration: each environment's `watch_after`.
    config: Arc<Config>,
    stream: broadcast::Sender<Line>,
    started: Vec<Started>,
    targets: Vec<Target>,
}

impl Hosted {
    /// What watching after `event`'s success needs, when its environment
    /// sets `watch_after`.
    fn watch_after(&self, event: &Event) -> Option<watching::WatchAfter> {
        if event.to != crate::engine::Phase::Succeeded {
            return None;
        }
        let for_how_long = self.config.environment(&event.env)?.watch_after?;
        let service = self.config.service(&event.env, &event.service)?.clone();
        Some(watching::WatchAfter {
            service,
            for_how_long,
            notify: self.config.notify.clone(),
        })
    }

    /// A send with no follower is not an error: nobody is attached.
    fn publish(&self, reply: Reply) {
        let _ = self.stream.send(Arc::new(reply));
    }

    /// Publishes `reply` to this submission's followers and to every watcher.
    fn broadcast(&self, reply: Reply) {
        let line = Arc::new(reply);
        let _ = self.releases.watchers.send(Arc::clone(&line));
        let _ = self.stream.send(line);
    }

    fn finish(self, result: ResultRecord) {
        let mut running = self.releases.running.lock().expect("not poisoned");
        for target in &self.targets {
            running.remove(target);
        }
        drop(running);
        self.publish(Reply::Finished { result });
    }
}

impl Watcher for Hosted {
    fn event(&mut self, event: &Event) {
        if event.to.is_finished() {
            let target = Target {
                env: event.env.clone(),
                service: event.service.clone(),
            };
            let ended = self
                .releases
                .running
                .lock()
                .expect("not poisoned")
                .remove(&target);
            if let (Some(ended), Some(after)) = (ended, self.watch_after(event)) {
                let releases = Arc::clone(&self.releases);
                tokio::spawn(watching::watch(releases, ended.snapshots, after));
            }
        }
        self.broadcast(Reply::Event {
            event: event.clone(),
        });
    }

    fn preflight(&mut self, report: &Report) {
        self.broadcast(Reply::Preflight {
            report: report.clone(),
        });
    }

    fn notice(&mut self, text: &str) {
        self.broadcast(Reply::Notice {
            text: text.to_string(),
        });
    }

    fn started(&mut self, release: Attached) {
        self.started.push(Started::of(&release));
        let snapshot = release.snapshots.borrow().clone();
        let running = Running {
            release_id: snapshot.release_id.clone(),
            commands: release.commands.clone(),
            snapshots: release.snapshots.clone(),
            plan: release.plan.clone(),
            stream: self.stream.clone(),
        };
        let _ = self.releases.watchers.send(Arc::new(running.hosted()));
        forward_snapshots(release.snapshots.clone(), self.releases.watchers.clone());
        self.releases
            .running
            .lock()
            .expect("not poisoned")
            .insert(release.target.clone(), running);
        self.targets.push(release.target.clone());
        self.publish(Reply::Started {
            env: release.target.env,
            service: release.target.service,
            release_id: snapshot.release_id,
            from: snapshot.stable_version,
            to: snapshot.new_version,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::one_local_service;

    #[test]
    fn a_configuration_is_parsed_once_until_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let releases = Releases::new(dir.path(), History::open(dir.path()).unwrap());
        let file = dir.path().join("helmsman.toml");
        let text = one_local_service("dev");
        std::fs::write(&file, &text).unwrap();
        let first = releases.load_config(&file).unwrap();
        let again = releases.load_config(&file).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same bytes are not parsed again"
        );
        // An edit is seen by the next release.
        std::fs::write(&file, text.replace("\"checkout\"", "\"api\"")).unwrap();
        let edited = releases.load_config(&file).unwrap();
        assert!(!Arc::ptr_eq(&first, &edited));
        assert_eq!(edited.environments[0].services[0].name, "api");
        // A file that no longer parses is refused, not served from before.
        std::fs::write(&file, "[[environments]\n").unwrap();
        assert!(matches!(
            releases.load_config(&file),
            Err(HostedError::Config(_))
        ));
    }
}
