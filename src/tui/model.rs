//! Everything the cockpit shows, and what keys do to it. No IO, no tokio,
//! no clock of its own: the shell feeds snapshots, events, replies, keys and
//! the time, and draws `view::render` of the result.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, KeyEventKind};

use super::components::{
    Component, Confirm, Detail, Help, Insights, Outcome, Request, VersionInput,
};
use super::env_checks::EnvChecks;
use super::keymap::{self, KeyAction, KeyHint, View};
use crate::config::{self, Bands, Triggers};
use crate::engine::machine::refusal_after_end;
pub(crate) use crate::engine::step_of;
use crate::engine::{Actor, Command, CommandKind, CommandReply, Event, Phase, Snapshot, Target};
use crate::pipeline;
use crate::pipeline::plan::Plan;
use crate::preflight::Report;

/// Readings kept per release for the sparklines.
pub const HISTORY_LEN: usize = 60;
/// Events kept per target for the detail view.
pub const EVENTS_KEPT: usize = 200;

/// What the shell must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    None,
    Redraw,
    Send(Command),
    /// Start releasing a version of a service (confirmed by the operator).
    Start(StartRequest),
    /// Write the report of the deployment this release belongs to.
    WriteReport(String),
    /// Run the pending contract of a service's migrations (confirmed).
    Contract(Target),
    /// Read the journal's delivery insights, for `show_insights`.
    ReadInsights,
    Quit,
}

/// A release the operator asked to start from the cockpit.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    pub target: Target,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeaderInfo {
    /// "demo" or the config path.
    pub config_label: String,
    pub operator: Actor,
    /// The release host it is attached to (its pid); None when releases
    /// started here run in the cockpit's own process.
    pub host: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnvInfo {
    pub name: String,
    pub services: Vec<ServiceInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    pub name: String,
    pub stable_version: String,
    pub strategy: String,
    pub bands: Bands,
    pub triggers: Triggers,
    /// Every version the configuration knows, for starting a release.
    pub versions: Vec<String>,
    /// Its database migrations, if it has any.
    pub migrations: Option<super::MigrationsInfo>,
}

pub use crate::config::is_prod;

/// One target's live state as the cockpit knows it.
#[derive(Debug, Default)]
pub(crate) struct TargetState {
    pub snapshot: Option<Snapshot>,
    pub error_history: VecDeque<f64>,
    pub p95_history: VecDeque<f64>,
    pub events: VecDeque<Event>,
    /// The plan of the latest release started here, as the pipeline made it.
    pub plan: Option<Arc<Plan>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKind {
    Note,
    Accepted,
    Refused,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Status {
    pub kind: StatusKind,
    pub text: String,
}

pub struct Cockpit {
    pub(crate) header: HeaderInfo,
    pub(crate) envs: Vec<EnvInfo>,
    pub(crate) read_only: bool,
    pub(crate) now: Option<DateTime<Utc>>,
    pub(crate) targets: HashMap<Target, TargetState>,
    pub(crate) selected_env: usize,
    /// The selected service of each environment, kept while moving across.
    pub(crate) selected_service: Vec<usize>,
    pub(crate) status: Option<Status>,
    /// The detail screen and the overlays, each shown or hidden.
    pub(crate) detail: Detail,
    pub(crate) insights: Insights,
    pub(crate) help: Help,
    pub(crate) confirm: Confirm,
    pub(crate) version: VersionInput,
    /// Numbers older than this are marked STALE: three of the service's
    /// analysis intervals, by target; `stale_after` where none is known.
    pub(crate) stale_after: chrono::Duration,
    pub(crate) stale_after_of: HashMap<Target, chrono::Duration>,
    /// Preflight checks and gate of each environment that has any, by name.
    pub(crate) checks: HashMap<String, EnvChecks>,
    /// A line under an environment's services, by name: what the demo
    /// assumes about it.
    pub(crate) env_notes: HashMap<String, String>,
}

impl Cockpit {
    pub fn new(header: HeaderInfo, envs: Vec<EnvInfo>, read_only: bool) -> Cockpit {
        Cockpit {
            header,
            selected_service: vec![0; envs.len()],
            envs,
            read_only,
            now: None,
            targets: HashMap::new(),
            selected_env: 0,
            status: None,
            detail: Detail::default(),
            insights: Insights::default(),
            help: Help::default(),
            confirm: Confirm::default(),
            version: VersionInput::default(),
            stale_after: stale_after(config::defaults::analysis().interval),
            stale_after_of: HashMap::new(),
            checks: HashMap::new(),
            env_notes: HashMap::new(),
        }
    }

    /// Shows `note` in `env`'s column, under its services.
    pub fn set_env_note(&mut self, env: &str, note: String) {
        self.env_notes.insert(env.to_string(), note);
    }

    /// Where `target`'s migrations stand, as the journal says (when the
    /// cockpit opens); its releases' events move it on.
    pub fn set_migration_phase(&mut self, target: &Target, phase: &str) {
        if let Some(migrations) = self.migrations_of(target) {
            migrations.phase = phase.to_string();
        }
    }

    fn migrations_of(&mut self, target: &Target) -> Option<&mut super::MigrationsInfo> {
        self.envs
            .iter_mut()
            .filter(|e| e.name == target.env)
            .flat_map(|e| e.services.iter_mut())
            .find(|s| s.name == target.service)?
            .migrations
            .as_mut()
    }

    /// The checks of `env` are running (shown until their report arrives).
    pub fn checks_running(&mut self, env: &str) {
        self.checks.entry(env.to_string()).or_default().running = true;
    }

    /// Outcomes of an environment's checks: every check, or a release's own.
    pub fn on_preflight(&mut self, report: &Report) {
        if report.checks.is_empty() && !self.checks.contains_key(&report.env) {
            return;
        }
        self.checks
            .entry(report.env.clone())
            .or_default()
            .merge(report);
    }

    /// The engine reads `target`'s numbers every `interval`: after three
    /// intervals without a reading they are marked STALE.
    pub fn set_analysis_interval(&mut self, target: Target, interval: std::time::Duration) {
        self.stale_after_of.insert(target, stale_after(interval));
    }

    pub fn on_snapshot(&mut self, snapshot: Snapshot, now: DateTime<Utc>) {
        self.tick(now);
        let state = self.targets.entry(snapshot.target.clone()).or_default();
        let previous = state.snapshot.as_ref();
        let new_release = previous.is_none_or(|p| p.release_id != snapshot.release_id);
        if new_release {
            state.error_history.clear();
            state.p95_history.clear();
        }
        // One sparkline point per metrics reading, not per snapshot: the
        // engine publishes on every transition too.
        let new_reading =
            new_release || previous.is_none_or(|p| p.metrics_at != snapshot.metrics_at);
        if new_reading && snapshot.metrics_at.is_some() {
            push_capped(
                &mut state.error_history,
                snapshot.new_error_rate_pct,
                HISTORY_LEN,
            );
            push_capped(&mut state.p95_history, snapshot.new_p95_ms, HISTORY_LEN);
        }
        state.snapshot = Some(snapshot);
    }

    /// The plan of the release just started on `target`.
    pub fn on_plan(&mut self, target: Target, plan: Arc<Plan>) {
        self.targets.entry(target).or_default().plan = Some(plan);
    }

    pub fn on_event(&mut self, event: Event) {
        let target = Target {
            env: event.env.clone(),
            service: event.service.clone(),
        };
        if let Some(migrations) = self.migrations_of(&target)
            && let Some(phase) = migrations.after(&event)
        {
            migrations.phase = phase;
        }
        let events = &mut self.targets.entry(target).or_default().events;
        events.push_back(event);
        while events.len() > EVENTS_KEPT {
            events.pop_front();
        }
    }

    pub fn on_reply(&mut self, command: &Command, reply: &CommandReply) {
        self.status = Some(match reply {
            CommandReply::Accepted => Status {
                kind: StatusKind::Accepted,
                text: format!("accepted: {} {}", command.kind, command.target),
            },
            CommandReply::Refused { reason } => Status {
                kind: StatusKind::Refused,
                text: format!("refused: {reason} ({} {})", command.kind, command.target),
            },
        });
    }

    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.now = Some(now);
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Press {
            return Action::None;
        }
        let Some(action) = keymap::lookup(self.view(), &key) else {
            return Action::None;
        };
        let outcome = match self.focused_mut() {
            Some(component) => component.on_key(action, &key),
            None => Outcome::Unhandled(action),
        };
        self.finish(outcome)
    }

    /// Which part of the key table is in force.
    pub fn view(&self) -> View {
        self.focused().map_or(View::Main, |c| c.view())
    }

    /// The key hints of what has the keys, for the footer.
    pub fn commands(&self) -> Vec<KeyHint> {
        self.focused()
            .map_or_else(|| keymap::hints(View::Main), |c| c.commands())
    }

    /// The overlays, topmost first: the first one shown has the keys.
    pub(crate) fn overlays(&self) -> [&dyn Component; 3] {
        [&self.help, &self.confirm, &self.version]
    }

    /// The screen shown instead of the environments, if any.
    pub(crate) fn screen(&self) -> Option<&dyn Component> {
        [&self.detail as &dyn Component, &self.insights]
            .into_iter()
            .find(|s| s.is_visible())
    }

    fn focused(&self) -> Option<&dyn Component> {
        let mut shown = self.overlays().into_iter().filter(|o| o.is_visible());
        shown.next().or_else(|| self.screen())
    }

    fn focused_mut(&mut self) -> Option<&mut dyn Component> {
        let topmost_first: [&mut dyn Component; 5] = [
            &mut self.help,
            &mut self.confirm,
            &mut self.version,
            &mut self.detail,
            &mut self.insights,
        ];
        topmost_first.into_iter().find(|c| c.is_visible())
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Opens the insights screen on what the shell read of the journal.
    pub fn show_insights(&mut self, lines: Vec<String>) {
        self.insights.show(lines);
    }

    /// The footer / status line: the last reply or note.
    pub fn status_line(&self) -> Option<&str> {
        self.status.as_ref().map(|s| s.text.as_str())
    }

    /// The selected environment and service.
    pub fn selected(&self) -> Option<Target> {
        let env = self.envs.get(self.selected_env)?;
        let service = env.services.get(self.selected_service[self.selected_env])?;
        Some(Target {
            env: env.name.clone(),
            service: service.name.clone(),
        })
    }

    pub(crate) fn service_info(&self, target: &Target) -> Option<&ServiceInfo> {
        self.envs
            .iter()
            .find(|e| e.name == target.env)?
            .services
            .iter()
            .find(|s| s.name == target.service)
    }

    pub(crate) fn state(&self, target: &Target) -> Option<&TargetState> {
        self.targets.get(target)
    }

    pub(crate) fn snapshot(&self, target: &Target) -> Option<&Snapshot> {
        self.targets.get(target)?.snapshot.as_ref()
    }

    /// How old a release's numbers are, at the last tick.
    pub(crate) fn data_age(&self, snapshot: &Snapshot) -> Option<chrono::Duration> {
        Some(self.now? - snapshot.metrics_at?)
    }

    pub(crate) fn is_stale(&self, snapshot: &Snapshot) -> bool {
        let limit = self
            .stale_after_of
            .get(&snapshot.target)
            .unwrap_or(&self.stale_after);
        self.data_age(snapshot).is_some_and(|age| age > *limit)
    }

    /// "38s left" for a release in a timed step (a pause, an analysis
    /// window), counting down with the clock; "38s left, stopped" while its
    /// clock stands (paused, held); nothing once its time is up.
    pub(crate) fn time_left(&self, snap: &Snapshot) -> Option<String> {
        let timer = snap.step_timer?;
        let now = self.now.unwrap_or(snap.updated_at);
        let left = timer.left_at(snap.updated_at, now);
        if left.is_zero() {
            // Over; a step held past its time says why in its reason.
            return None;
        }
        // Whole seconds, rounded up: never "0s left" while time is left.
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let words = config::duration::format(std::time::Duration::from_secs(secs));
        Some(if timer.running {
            format!("{words} left")
        } else {
            format!("{words} left, stopped")
        })
    }

    /// "prod/checkout waits for you at step 3/6", for every release at a
    /// manual gate, in configuration order.
    pub fn waiting_summary(&self) -> Vec<String> {
        self.envs
            .iter()
            .flat_map(|env| {
                env.services.iter().map(move |s| Target {
                    env: env.name.clone(),
                    service: s.name.clone(),
                })
            })
            .filter_map(|t| {
                let snap = self.snapshot(&t)?;
                (snap.phase == Phase::WaitingForHuman).then(|| {
                    format!(
                        "{t} waits for you at step {}",
                        step_of(snap.step, snap.steps.len())
                    )
                })
            })
            .collect()
    }

    /// What `p` would send for the selected release.
    pub fn pause_or_resume(&self) -> CommandKind {
        match self
            .selected()
            .and_then(|t| self.snapshot(&t).map(|s| s.phase))
        {
            Some(Phase::Paused) => CommandKind::Resume,
            _ => CommandKind::Pause,
        }
    }

    /// Finishes what a key did to a component.
    fn finish(&mut self, outcome: Outcome) -> Action {
        match outcome {
            Outcome::Redraw | Outcome::Closed(None) => {}
            Outcome::Closed(Some(text)) | Outcome::Note(text) => self.note(text),
            Outcome::Confirmed(request) => return self.confirmed(request),
            Outcome::AnotherVersion(after) => return self.new_release(Some(&after)),
            Outcome::Release {
                target,
                running,
                version,
            } => {
                let Some(service) = self.service_info(&target) else {
                    return Action::None;
                };
                let strategy = service.strategy.clone();
                return self.ask_release(
                    target,
                    &running,
                    version,
                    &strategy,
                    " (v: another version)",
                );
            }
            Outcome::Unhandled(action) => return self.apply(action),
        }
        Action::Redraw
    }

    /// A key of the environments (and of the detail screen, which shares
    /// the release commands).
    fn apply(&mut self, action: KeyAction) -> Action {
        match action {
            KeyAction::Quit => return Action::Quit,
            KeyAction::PrevEnv | KeyAction::NextEnv => {
                let n = self.envs.len().max(1);
                self.selected_env = if action == KeyAction::NextEnv {
                    (self.selected_env + 1) % n
                } else {
                    (self.selected_env + n - 1) % n
                };
                self.detail.page.scroll.reset();
            }
            KeyAction::PrevService | KeyAction::NextService => {
                let Some(env) = self.envs.get(self.selected_env) else {
                    return Action::None;
                };
                let n = env.services.len().max(1);
                let sel = &mut self.selected_service[self.selected_env];
                *sel = if action == KeyAction::NextService {
                    (*sel + 1) % n
                } else {
                    (*sel + n - 1) % n
                };
                self.detail.page.scroll.reset();
            }
            KeyAction::Details => self.detail.page.show(),
            KeyAction::Help => self.help.page.show(),
            KeyAction::Insights => return Action::ReadInsights,
            KeyAction::Advance => return self.command(CommandKind::Advance),
            KeyAction::PauseResume => return self.command(self.pause_or_resume()),
            KeyAction::Promote => return self.command(CommandKind::Promote),
            KeyAction::Rollback => return self.command(CommandKind::Rollback),
            KeyAction::NewRelease => return self.new_release(None),
            KeyAction::Contract => return self.contract(),
            KeyAction::WriteReport => {
                let release = self
                    .selected()
                    .and_then(|t| self.snapshot(&t).map(|s| s.release_id.clone()));
                match release {
                    Some(id) => return Action::WriteReport(id),
                    None => self.note("no release here: no report to write".into()),
                }
            }
            // The components' own keys never reach here.
            _ => return Action::None,
        }
        Action::Redraw
    }

    /// A confirmed question: sent or started, unless read-only.
    fn confirmed(&mut self, request: Request) -> Action {
        if self.refused_as_read_only() {
            return Action::Redraw;
        }
        match request {
            Request::Command(command) => self.send(command),
            Request::Start(start) => {
                self.note(format!(
                    "{}: starting the release of {} (checks first)",
                    start.target, start.version
                ));
                Action::Start(start)
            }
            Request::Contract(target) => {
                self.note(format!("{target}: running the contract"));
                Action::Contract(target)
            }
        }
    }

    /// `C`: asks to run the selected service's pending contract — the
    /// point of no return, so always asked, in every environment.
    fn contract(&mut self) -> Action {
        if self.refused_as_read_only() {
            return Action::Redraw;
        }
        let Some(target) = self.selected() else {
            self.note("no service selected: no contract to run".into());
            return Action::Redraw;
        };
        let phase = self
            .service_info(&target)
            .and_then(|s| s.migrations.as_ref())
            .map(|m| m.phase.clone());
        match phase.as_deref() {
            // A contract that failed may be run again, as on the command line.
            Some("contract pending" | "contract failed") => {}
            Some(phase) => {
                self.note(format!("{target}: no contract pending (db: {phase})"));
                return Action::Redraw;
            }
            None => {
                self.note(format!("{target}: has no database migrations"));
                return Action::Redraw;
            }
        }
        let versions = self
            .snapshot(&target)
            .map(|s| format!(" {} → {}:", s.stable_version, s.new_version))
            .unwrap_or_default();
        let text = format!(
            "{target}:{versions} run the contract of the new version's migrations. The \
             previous version will no longer fit the schema: a rollback after it needs --force."
        );
        let prod = is_prod(&target.env);
        self.confirm
            .ask(Request::Contract(target), "Contract", text, prod);
        Action::Redraw
    }

    /// A read-only cockpit sends nothing: says so, and whether it is one.
    fn refused_as_read_only(&mut self) -> bool {
        if self.read_only {
            self.note("read-only: nothing sent".into());
        }
        self.read_only
    }

    /// Sends `command`, saying so until the engine's answer replaces it.
    fn send(&mut self, command: Command) -> Action {
        self.note(format!(
            "{} {}: sent, waiting for the engine",
            command.kind, command.target
        ));
        Action::Send(command)
    }

    /// A command key on the selected release: a note when nothing can be
    /// sent, a confirmation for promote / rollback, else the command.
    fn command(&mut self, kind: CommandKind) -> Action {
        if self.refused_as_read_only() {
            return Action::Redraw;
        }
        let Some(target) = self.selected() else {
            self.note("no service selected: nothing sent".into());
            return Action::Redraw;
        };
        let Some(snap) = self.snapshot(&target) else {
            self.note(format!("{target}: no release, nothing to {kind}"));
            return Action::Redraw;
        };
        let command = Command {
            target: target.clone(),
            kind,
            actor: self.header.operator.clone(),
        };
        // An ended release has no engine left to ask: its refusal, in the
        // engine's words, is known from the snapshot.
        if let Some(reason) = refusal_after_end(snap, kind) {
            self.on_reply(&command, &CommandReply::Refused { reason });
            return Action::Redraw;
        }
        let (verb, text) = match kind {
            CommandKind::Rollback => (
                "Roll back",
                format!(
                    "{target}: roll back {} → {}: all traffic to {} at once",
                    snap.new_version, snap.stable_version, snap.stable_version
                ),
            ),
            CommandKind::Promote => {
                let remaining = snap.steps.len().saturating_sub(snap.step + 1);
                (
                    "Promote",
                    format!(
                        "{target}: promote {} → {}: traffic to {} goes from {} % to 100 %, \
                         skipping {remaining} remaining step{}",
                        snap.stable_version,
                        snap.new_version,
                        snap.new_version,
                        snap.desired_weight,
                        if remaining == 1 { "" } else { "s" }
                    ),
                )
            }
            _ => return self.send(command),
        };
        let prod = is_prod(&target.env);
        self.confirm
            .ask(Request::Command(command), verb, text, prod);
        Action::Redraw
    }

    /// `n`: asks to start releasing the selected service, offering the
    /// configured versions other than the one it runs, one after another
    /// (`v` in the confirmation picks the next one after `after`).
    fn new_release(&mut self, after: Option<&str>) -> Action {
        if self.refused_as_read_only() {
            return Action::Redraw;
        }
        let Some(target) = self.selected() else {
            self.note("no service selected: nothing to release".into());
            return Action::Redraw;
        };
        let snapshot = self.snapshot(&target);
        if let Some(snap) = snapshot.filter(|s| !s.phase.is_finished()) {
            self.note(format!(
                "{target}: {} is already being released ({})",
                snap.new_version,
                snap.phase.words().to_lowercase()
            ));
            return Action::Redraw;
        }
        let Some(service) = self.service_info(&target) else {
            return Action::None;
        };
        let running = match snapshot {
            Some(snap) => pipeline::running_after(snap).to_string(),
            None => service.stable_version.clone(),
        };
        if service.versions.is_empty() {
            let prod = is_prod(&target.env);
            self.version.ask(target, running, prod);
            return Action::Redraw;
        }
        let candidates: Vec<&String> = service.versions.iter().filter(|v| **v != running).collect();
        let next = match after {
            Some(after) => candidates
                .iter()
                .position(|v| *v == after)
                .map(|i| candidates[(i + 1) % candidates.len()]),
            None => candidates.last().copied(),
        };
        let Some(version) = next.cloned() else {
            self.note(format!(
                "{target}: no version other than {running} is configured: nothing to release"
            ));
            return Action::Redraw;
        };
        let more = if candidates.len() > 1 {
            " (v: another version)"
        } else {
            ""
        };
        let strategy = service.strategy.clone();
        self.ask_release(target, &running, version, &strategy, more)
    }

    fn ask_release(
        &mut self,
        target: Target,
        running: &str,
        version: String,
        strategy: &str,
        more: &str,
    ) -> Action {
        let text = format!("{target}: release {running} → {version} with {strategy}{more}");
        let prod = is_prod(&target.env);
        let request = Request::Start(StartRequest { target, version });
        self.confirm.ask(request, "Release", text, prod);
        Action::Redraw
    }

    /// The version a service runs, as its backend says when the cockpit
    /// opens (a Kubernetes service's configuration names none).
    pub fn on_deployed(&mut self, target: &Target, version: String) {
        let service = self
            .envs
            .iter_mut()
            .find(|e| e.name == target.env)
            .and_then(|e| e.services.iter_mut().find(|s| s.name == target.service));
        if let Some(service) = service {
            service.stable_version = version;
        }
    }

    /// A message from the shell (e.g. why a release could not start).
    pub fn on_notice(&mut self, text: String, refused: bool) {
        self.status = Some(Status {
            kind: if refused {
                StatusKind::Refused
            } else {
                StatusKind::Note
            },
            text,
        });
    }

    fn note(&mut self, text: String) {
        self.status = Some(Status {
            kind: StatusKind::Note,
            text,
        });
    }
}

/// How old numbers read every `interval` may get before they are STALE:
/// one reading missed is a hiccup, three are not.
fn stale_after(interval: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(interval * 3).unwrap_or(chrono::Duration::MAX)
}

fn push_capped(history: &mut VecDeque<f64>, value: Option<f64>, cap: usize) {
    if let Some(v) = value {
        history.push_back(v);
        while history.len() > cap {
            history.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::InstanceCounts;
    use crate::tui::components::Focus;
    use crate::tui::keymap::View;
    use crossterm::event::{KeyCode, KeyEventState, KeyModifiers};

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    fn ch(c: char) -> KeyEvent {
        press(KeyCode::Char(c))
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn service(name: &str) -> ServiceInfo {
        ServiceInfo {
            name: name.into(),
            stable_version: "v1.4.2".into(),
            strategy: "canary".into(),
            bands: config::defaults::bands(),
            triggers: config::defaults::triggers(),
            versions: vec!["v1.4.2".into(), "v1.5.0".into(), "v1.6.0".into()],
            migrations: None,
        }
    }

    fn operator() -> Actor {
        Actor::Operator {
            user: "alice".into(),
            origin: None,
        }
    }

    fn cockpit(read_only: bool) -> Cockpit {
        let envs = ["dev", "prod"]
            .iter()
            .map(|e| EnvInfo {
                name: e.to_string(),
                services: vec![service("checkout"), service("cart")],
            })
            .collect();
        let header = HeaderInfo {
            config_label: "demo".into(),
            operator: operator(),
            host: None,
        };
        let mut c = Cockpit::new(header, envs, read_only);
        c.on_snapshot(snapshot("dev", Phase::Progressing), at(0));
        c.on_snapshot(snapshot("prod", Phase::WaitingForHuman), at(0));
        c
    }

    fn snapshot(env: &str, phase: Phase) -> Snapshot {
        Snapshot {
            target: Target {
                env: env.into(),
                service: "checkout".into(),
            },
            release_id: format!("{env}-1"),
            stable_version: "v1.4.2".into(),
            new_version: "v1.5.0".into(),
            strategy: "canary".into(),
            phase,
            reason: String::new(),
            step: 2,
            steps: (1..=6).map(|i| format!("step {i}")).collect(),
            desired_weight: 25,
            actual_weight: Some(25),
            new_error_rate_pct: Some(0.2),
            baseline_error_rate_pct: Some(0.1),
            new_p95_ms: Some(200.0),
            baseline_p95_ms: Some(180.0),
            new_requests: 1000,
            baseline_requests: 3000,
            new_instances: InstanceCounts {
                healthy: 2,
                total: 2,
            },
            stable_instances: InstanceCounts {
                healthy: 4,
                total: 4,
            },
            verdicts: Arc::default(),
            metrics_at: Some(at(0)),
            provider_error: None,
            started_at: at(-600),
            updated_at: at(0),
            step_timer: None,
            watching_until: None,
        }
    }

    fn target(env: &str) -> Target {
        Target {
            env: env.into(),
            service: "checkout".into(),
        }
    }

    fn sent(action: Action) -> Command {
        match action {
            Action::Send(c) => c,
            other => panic!("expected Send, got {other:?}"),
        }
    }

    #[test]
    fn main_view_keys_select_and_send() {
        let mut c = cockpit(false);
        assert_eq!(c.selected(), Some(target("dev")));
        let cmd = sent(c.on_key(ch('a')));
        assert_eq!(cmd.kind, CommandKind::Advance);
        assert_eq!(cmd.target, target("dev"));
        assert_eq!(cmd.actor, operator());
        assert_eq!(c.on_key(press(KeyCode::Right)), Action::Redraw);
        assert_eq!(c.selected(), Some(target("prod")));
        assert_eq!(c.on_key(press(KeyCode::Tab)), Action::Redraw);
        assert_eq!(c.selected().unwrap().env, "dev", "Tab wraps around");
        c.on_key(ch('l'));
        c.on_key(ch('j'));
        assert_eq!(c.selected().unwrap().service, "cart");
        c.on_key(press(KeyCode::Up));
        assert_eq!(c.selected(), Some(target("prod")));
        assert_eq!(c.on_key(ch('q')), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(c.on_key(ctrl_c), Action::Quit);
    }

    #[test]
    fn only_presses_count() {
        let mut c = cockpit(false);
        let mut release = ch('a');
        release.kind = KeyEventKind::Release;
        assert_eq!(c.on_key(release), Action::None);
        let mut repeat = ch('q');
        repeat.kind = KeyEventKind::Repeat;
        assert_eq!(c.on_key(repeat), Action::None);
    }

    #[test]
    fn p_pauses_a_running_release_and_resumes_a_paused_one() {
        let mut c = cockpit(false);
        assert_eq!(sent(c.on_key(ch('p'))).kind, CommandKind::Pause);
        c.on_snapshot(snapshot("dev", Phase::Paused), at(1));
        assert_eq!(sent(c.on_key(ch('p'))).kind, CommandKind::Resume);
        c.on_key(ch('l'));
        assert_eq!(
            sent(c.on_key(ch('p'))).kind,
            CommandKind::Pause,
            "a gate is running"
        );
    }

    #[test]
    fn rollback_is_r_then_y_and_names_what_changes() {
        let mut c = cockpit(false);
        c.on_key(ch('l'));
        assert_eq!(c.on_key(ch('r')), Action::Redraw);
        assert_eq!(c.view(), View::Confirm);
        let Some(conf) = c.confirm.asking() else {
            panic!("no modal")
        };
        assert_eq!(
            conf.text,
            "prod/checkout: roll back v1.5.0 → v1.4.2: all traffic to v1.4.2 at once"
        );
        assert!(conf.prod);
        assert_eq!(conf.focus, Focus::Cancel);
        // Keys of the main view do nothing while the modal is open.
        assert_eq!(c.on_key(ch('a')), Action::None);
        let cmd = sent(c.on_key(ch('y')));
        assert_eq!(
            (cmd.kind, cmd.target),
            (CommandKind::Rollback, target("prod"))
        );
        assert_eq!(c.view(), View::Main);
    }

    #[test]
    fn the_modal_cancels_with_n_esc_or_enter_on_cancel() {
        let mut c = cockpit(false);
        for cancel in [ch('n'), press(KeyCode::Esc), press(KeyCode::Enter)] {
            c.on_key(ch('P'));
            assert_eq!(c.view(), View::Confirm);
            assert_eq!(c.on_key(cancel), Action::Redraw);
            assert_eq!(c.view(), View::Main);
            assert!(c.status_line().unwrap().starts_with("cancelled"));
        }
        // Focus moved to the confirm button, Enter sends.
        c.on_key(ch('P'));
        c.on_key(press(KeyCode::Tab));
        assert_eq!(
            sent(c.on_key(press(KeyCode::Enter))).kind,
            CommandKind::Promote
        );
    }

    #[test]
    fn read_only_never_sends() {
        let mut c = cockpit(true);
        for key in ['a', 'p', 'P', 'r', 'y'] {
            let action = c.on_key(ch(key));
            assert!(!matches!(action, Action::Send(_)), "{key}: {action:?}");
            assert_eq!(c.view(), View::Main, "{key} opened nothing");
        }
        assert_eq!(c.status_line(), Some("read-only: nothing sent"));
        c.on_key(press(KeyCode::Enter));
        assert_eq!(c.on_key(ch('r')), Action::Redraw);
        assert_eq!(c.view(), View::Detail);
    }

    #[test]
    fn detail_and_help_views() {
        let mut c = cockpit(false);
        c.on_key(press(KeyCode::Enter));
        assert_eq!(c.view(), View::Detail);
        assert_eq!(sent(c.on_key(ch('a'))).kind, CommandKind::Advance);
        c.on_key(ch('r'));
        assert_eq!(
            c.view(),
            View::Confirm,
            "rollback asks from the detail view too"
        );
        c.on_key(press(KeyCode::Esc));
        assert_eq!(c.view(), View::Detail);
        c.on_key(ch('?'));
        assert_eq!(c.view(), View::Help);
        assert_eq!(
            c.on_key(ch('a')),
            Action::None,
            "help swallows command keys"
        );
        assert_eq!(
            c.on_key(ch('q')),
            Action::Redraw,
            "q closes help, not the cockpit"
        );
        assert_eq!(c.view(), View::Detail);
        c.on_key(press(KeyCode::Esc));
        assert_eq!(c.view(), View::Main);
    }

    #[test]
    fn replies_show_in_the_status_line() {
        let mut c = cockpit(false);
        let cmd = sent(c.on_key(ch('a')));
        c.on_reply(&cmd, &CommandReply::Accepted);
        assert_eq!(c.status_line(), Some("accepted: advance dev/checkout"));
        c.on_reply(
            &cmd,
            &CommandReply::Refused {
                reason: "not at a gate or pause".into(),
            },
        );
        let line = c.status_line().unwrap();
        assert!(
            line.starts_with("refused: not at a gate or pause"),
            "{line}"
        );
    }

    #[test]
    fn no_release_or_a_finished_one_sends_nothing() {
        let mut c = cockpit(false);
        c.on_key(ch('j'));
        assert_eq!(c.on_key(ch('a')), Action::Redraw);
        assert_eq!(
            c.status_line(),
            Some("dev/cart: no release, nothing to advance")
        );
        c.on_key(ch('k'));
        c.on_snapshot(snapshot("dev", Phase::Succeeded), at(2));
        assert_eq!(c.on_key(ch('r')), Action::Redraw);
        assert_eq!(c.view(), View::Main);
        // In the engine's words, as if it had answered.
        assert_eq!(
            c.status_line(),
            Some(
                "refused: cannot roll back: v1.5.0 already succeeded and is stable now \
                 — release v1.4.2 again to go back (rollback dev/checkout)"
            )
        );
    }

    #[test]
    fn history_waiting_and_staleness() {
        let mut c = cockpit(false);
        let mut s = snapshot("dev", Phase::Progressing);
        c.on_snapshot(s.clone(), at(1)); // same reading: no new point
        s.metrics_at = Some(at(10));
        s.new_error_rate_pct = Some(0.4);
        c.on_snapshot(s.clone(), at(10));
        let state = c.state(&target("dev")).unwrap();
        assert_eq!(state.error_history, VecDeque::from([0.2, 0.4]));
        assert_eq!(
            c.waiting_summary(),
            vec!["prod/checkout waits for you at step 3/6"]
        );
        assert!(!c.is_stale(&s));
        c.tick(at(41));
        assert!(c.is_stale(&s));
        for i in 0..(EVENTS_KEPT + 5) {
            c.on_event(Event {
                at: at(i as i64),
                env: "dev".into(),
                service: "checkout".into(),
                from: Phase::Progressing,
                to: Phase::Progressing,
                step: 0,
                steps: 6,
                weight: 5,
                reason: String::new(),
                actor: Actor::Engine,
                verdict: None,
                job: None,
            });
        }
        assert_eq!(c.state(&target("dev")).unwrap().events.len(), EVENTS_KEPT);
    }

    #[test]
    fn n_asks_before_starting_a_release_and_v_picks_another_version() {
        let mut c = cockpit(false);
        // dev/cart has no release: n offers the newest other version.
        c.on_key(ch('j'));
        assert_eq!(c.on_key(ch('n')), Action::Redraw);
        assert_eq!(c.view(), View::Confirm);
        c.on_key(ch('v'));
        c.on_key(ch('v'));
        let Action::Start(start) = c.on_key(ch('y')) else {
            panic!("y did not start a release");
        };
        assert_eq!(
            start.target,
            Target {
                env: "dev".into(),
                service: "cart".into()
            }
        );
        // v1.6.0 → v1.5.0 → v1.6.0: the configured versions, never the running one.
        assert_eq!(start.version, "v1.6.0");

        // Cancelled: nothing starts, and the footer says so.
        c.on_key(ch('n'));
        assert_eq!(c.on_key(ch('n')), Action::Redraw);
        assert!(
            c.status_line()
                .unwrap()
                .contains("no release of dev/cart started")
        );
    }

    #[test]
    fn without_a_version_list_n_asks_for_the_version_to_type() {
        let mut c = cockpit(false);
        // dev/cart as a Kubernetes service: any image tag, none listed.
        c.envs[0].services[1].versions.clear();
        c.on_key(ch('j'));
        c.on_key(ch('n'));
        assert_eq!(c.view(), View::Version);
        c.on_key(press(KeyCode::Enter));
        assert_eq!(c.status_line(), Some("type a version first"));
        for key in "v1.4.2".chars() {
            c.on_key(ch(key));
        }
        c.on_key(press(KeyCode::Enter));
        assert!(c.status_line().unwrap().contains("runs v1.4.2 already"));
        // Letters bound elsewhere (n, q, v, y) are typed here.
        c.on_key(press(KeyCode::Backspace));
        for key in "9-rc.nqvy".chars() {
            c.on_key(ch(key));
        }
        c.on_key(press(KeyCode::Enter));
        assert_eq!(c.view(), View::Confirm);
        let Action::Start(start) = c.on_key(ch('y')) else {
            panic!("y did not start a release");
        };
        assert_eq!(start.version, "v1.4.9-rc.nqvy");

        c.on_key(ch('n'));
        c.on_key(ch('x'));
        c.on_key(press(KeyCode::Esc));
        assert!(c.overlays().iter().all(|o| !o.is_visible()));
        assert!(
            c.status_line()
                .unwrap()
                .contains("no release of dev/cart started")
        );
    }

    #[test]
    fn a_deployed_version_read_from_the_cluster_becomes_the_stable_one() {
        let mut c = cockpit(false);
        c.on_deployed(&target("prod"), "v1.3.0".into());
        assert_eq!(
            c.service_info(&target("prod")).unwrap().stable_version,
            "v1.3.0"
        );
    }

    #[test]
    fn preflight_reports_are_kept_only_for_environments_with_checks() {
        let mut c = cockpit(false);
        c.on_preflight(&Report::new("dev".into(), vec![]));
        assert!(c.checks.is_empty(), "nothing configured, nothing shown");
        c.checks_running("prod");
        assert!(c.checks["prod"].running);
        c.on_preflight(&Report::new("prod".into(), vec![]));
        assert!(!c.checks["prod"].running);
    }

    #[test]
    fn every_command_sent_or_started_says_so_at_once() {
        let mut c = cockpit(false);
        c.on_notice("an earlier message".into(), false);
        sent(c.on_key(ch('a')));
        assert_eq!(
            c.status_line(),
            Some("advance dev/checkout: sent, waiting for the engine")
        );
        // Confirmed commands too.
        c.on_key(ch('r'));
        sent(c.on_key(ch('y')));
        assert_eq!(
            c.status_line(),
            Some("rollback dev/checkout: sent, waiting for the engine")
        );
        // n y on a service with no release: the start is announced.
        c.on_key(ch('j'));
        c.on_key(ch('n'));
        assert!(matches!(c.on_key(ch('y')), Action::Start(_)));
        assert_eq!(
            c.status_line(),
            Some("dev/cart: starting the release of v1.6.0 (checks first)")
        );
    }

    #[test]
    fn the_scroll_keys_move_the_help_and_the_detail_view() {
        let mut c = cockpit(false);
        c.on_key(ch('?'));
        for key in [ch('j'), press(KeyCode::Down), press(KeyCode::PageDown)] {
            assert_eq!(c.on_key(key), Action::Redraw);
        }
        assert_eq!(c.help.page.scroll.offset(), 2 + 10, "two lines and a page");
        c.on_key(press(KeyCode::PageUp));
        c.on_key(ch('k'));
        assert_eq!(c.help.page.scroll.offset(), 1);
        // Opening again starts at the top.
        c.on_key(press(KeyCode::Esc));
        c.on_key(ch('?'));
        assert_eq!(c.help.page.scroll.offset(), 0);
        c.on_key(press(KeyCode::Esc));

        c.on_key(press(KeyCode::Enter));
        c.on_key(press(KeyCode::PageDown));
        c.on_key(ch('j'));
        assert_eq!(c.detail.page.scroll.offset(), 11);
        assert_eq!(c.help.page.scroll.offset(), 0, "each view has its own");
        c.on_key(press(KeyCode::Esc));
        c.on_key(ch('l'));
        c.on_key(press(KeyCode::Enter));
        assert_eq!(
            c.detail.page.scroll.offset(),
            0,
            "another release starts at the top"
        );
    }

    #[test]
    fn a_timed_step_counts_down_and_says_when_its_clock_stands() {
        let mut c = cockpit(false);
        let mut s = snapshot("dev", Phase::Progressing);
        s.updated_at = at(10);
        s.step_timer = Some(crate::engine::StepTimer {
            left: std::time::Duration::from_millis(90_500),
            running: true,
        });
        c.on_snapshot(s.clone(), at(10));
        assert_eq!(c.time_left(&s).as_deref(), Some("1m31s left"));
        c.tick(at(40));
        assert_eq!(c.time_left(&s).as_deref(), Some("1m1s left"));
        c.tick(at(200));
        assert_eq!(c.time_left(&s), None, "over: the reason says what holds it");
        s.step_timer = Some(crate::engine::StepTimer {
            left: std::time::Duration::from_secs(38),
            running: false,
        });
        assert_eq!(c.time_left(&s).as_deref(), Some("38s left, stopped"));
        s.step_timer = None;
        assert_eq!(c.time_left(&s), None);
    }

    #[test]
    fn n_refuses_while_a_release_runs_and_when_read_only() {
        // dev/checkout is mid-release.
        let mut c = cockpit(false);
        assert_eq!(c.on_key(ch('n')), Action::Redraw);
        assert_eq!(c.view(), View::Main);
        assert!(c.status_line().unwrap().contains("already being released"));

        let mut ro = cockpit(true);
        ro.on_key(ch('n'));
        assert_eq!(ro.view(), View::Main);
        assert!(ro.status_line().unwrap().contains("read-only"));
    }

    #[test]
    fn c_asks_before_running_a_pending_contract_and_only_then() {
        let target = Target {
            env: "prod".into(),
            service: "checkout".into(),
        };
        // prod/checkout is selected (second column); it has no migrations.
        let mut c = cockpit(false);
        c.on_key(press(KeyCode::Right));
        assert_eq!(c.on_key(ch('C')), Action::Redraw);
        assert_eq!(c.view(), View::Main);
        assert!(
            c.status_line()
                .unwrap()
                .contains("has no database migrations")
        );

        let with_phase = |phase: &str, read_only: bool| {
            let mut c = cockpit(read_only);
            c.envs[1].services[0].migrations = Some(crate::tui::MigrationsInfo {
                phase: phase.into(),
                contract_waits: true,
            });
            c.on_key(press(KeyCode::Right));
            c
        };
        let mut migrated = with_phase("migrated", false);
        migrated.on_key(ch('C'));
        assert_eq!(migrated.view(), View::Main);
        assert!(
            migrated
                .status_line()
                .unwrap()
                .contains("no contract pending (db: migrated)")
        );

        let mut ro = with_phase("contract pending", true);
        ro.on_key(ch('C'));
        assert_eq!(ro.view(), View::Main);
        assert!(ro.status_line().unwrap().contains("read-only"));

        // Pending: asked, Cancel focused; `n` runs nothing, `y` runs it.
        let mut pending = with_phase("contract pending", false);
        pending.on_key(ch('C'));
        assert_eq!(pending.view(), View::Confirm);
        let asked = pending.confirm.asking().unwrap();
        assert_eq!(asked.request, Request::Contract(target.clone()));
        assert!(asked.prod && asked.text.contains("no longer fit the schema"));
        pending.on_key(ch('n'));
        assert!(pending.status_line().unwrap().contains("no contract run"));
        pending.on_key(ch('C'));
        assert_eq!(pending.on_key(ch('y')), Action::Contract(target.clone()));
        assert!(
            pending
                .status_line()
                .unwrap()
                .contains("running the contract")
        );

        // One that failed may be run again.
        let mut failed = with_phase("contract failed", false);
        failed.on_key(ch('C'));
        assert_eq!(failed.view(), View::Confirm);
    }
}
