//! The cockpit's imperative shell: the terminal, the key stream, and the
//! releases it watches. All it shows and every key's meaning live in
//! `crate::tui` (pure); this file only moves data between the terminal, the
//! engine and that model.
//!
//! It draws only when something changed (a key, a snapshot, an event, a
//! reply, a resize, the clock's second), at most 10 frames per second, each
//! frame inside a synchronized update so a slow link never shows half a
//! frame. The terminal is restored on every exit, a panic included
//! (`ratatui::try_init` chains a panic hook that restores it).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ExitCode;
use crate::config::Config;
use crate::engine::driver::send_command;
use crate::engine::{Command, CommandKind, CommandReply, Event, Snapshot, Target};
use crate::pipeline::{Attached, CommandSender, Watcher};
use crate::preflight::Report;
use crate::store::History;
use crate::tui::theme::Theme;
use crate::tui::{Action, Cockpit, StartRequest, view};

mod hosted;
mod setup;

pub use hosted::HostLink;
pub use setup::{Opened, contractor, environments_of, open, starter};

/// At most this many frames per second.
const FRAME: Duration = Duration::from_millis(100);

/// What reaches the cockpit from the releases it watches.
pub enum Update {
    Started(Attached),
    /// A release the release host drives, as it stands, with its plan.
    Hosted(Box<Snapshot>, Box<crate::pipeline::plan::Plan>),
    Snapshot(Snapshot),
    Event(Event),
    Reply(Command, CommandReply),
    /// Something to tell the operator; `true` when it is a refusal or failure.
    Notice(String, bool),
    /// An environment's preflight checks have answered.
    Preflight(Report),
    /// The version a service runs, as its backend says.
    Deployed(Target, String),
}

/// Starts a release the operator confirmed in the cockpit, reporting
/// through the updates channel; returns the task that runs it.
/// Starts a confirmed release; its task ends with the notice that says how
/// the release ended.
pub type Starter = Box<
    dyn Fn(StartRequest, mpsc::UnboundedSender<Update>) -> tokio::task::JoinHandle<String> + Send,
>;

/// Runs a confirmed contract of a service's migrations in the background,
/// reporting through the updates channel.
pub type Contractor = Box<dyn Fn(Target, mpsc::UnboundedSender<Update>) + Send>;

/// A pipeline watcher that forwards everything to the cockpit.
pub struct Forward(pub mpsc::UnboundedSender<Update>);

impl Watcher for Forward {
    fn event(&mut self, event: &Event) {
        let _ = self.0.send(Update::Event(event.clone()));
    }

    fn preflight(&mut self, report: &Report) {
        let _ = self.0.send(Update::Preflight(report.clone()));
    }

    fn started(&mut self, release: Attached) {
        let _ = self.0.send(Update::Started(release));
    }

    fn notice(&mut self, text: &str) {
        let _ = self.0.send(Update::Notice(text.to_string(), true));
    }
}

/// Restores the terminal when dropped, whatever the exit path.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// `helmsman` / `helmsman tui`: the cockpit over the configured
/// environments, each service at the version its backend says it runs (the
/// configured stable one until it answers), each environment's checks
/// running in the background. With a release host on the state directory
/// it attaches: it shows every release the host drives and sends commands
/// and new releases (`n`) there. Without one, releases started here run in
/// this process.
pub async fn run_over_config(config: &Config, state_dir: &Path, read_only: bool) -> ExitCode {
    if !has_terminal() {
        return ExitCode::Usage;
    }
    // The history is where releases started here are recorded: it must open.
    if let Err(code) = super::open_history(state_dir) {
        return code;
    }
    let host = match super::follow::connect(state_dir).await {
        Ok(host) => host,
        Err(e) => {
            crate::errln!("error: {e}");
            return ExitCode::Runtime;
        }
    };
    let config = std::sync::Arc::new(config.clone());
    let mut opened = setup::open(&config, config.source.display().to_string(), read_only);
    opened.journal = Some(state_dir.to_path_buf());
    if let Ok(history) = super::open_history(state_dir) {
        setup::show_migration_states(&config, &history, &mut opened.cockpit);
    }
    // A contract runs here even beside a host: it takes the service's lock
    // in the journal, as `helmsman migrations contract` does.
    let journal_dir = state_dir.to_path_buf();
    let contractor = setup::contractor(config.clone(), move |_| History::open(&journal_dir));
    match host {
        Some(host) => {
            let link = HostLink {
                state_dir: state_dir.to_path_buf(),
                pid: host.pid,
            };
            opened.cockpit.header.host = Some(host.pid);
            hosted::watch(host, opened.updates_tx.clone());
            let starter = hosted::starter(link.clone(), config.source.clone());
            opened.run(starter, contractor, Some(link)).await
        }
        None => {
            let state_dir = state_dir.to_path_buf();
            let starter = setup::starter(config, move |_| History::open(&state_dir));
            opened.run(starter, contractor, None).await
        }
    }
}

/// Whether standard output is a terminal; says what to do when it is not.
pub fn has_terminal() -> bool {
    let yes = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if !yes {
        crate::errln!(
            "error: the cockpit needs a terminal, and standard output is not one\n  \
             hint: add --headless to print one line per event instead"
        );
    }
    yes
}

/// Runs the cockpit until the operator quits. Returns the exit code.
/// Attached to a host (`host`), quitting detaches; otherwise it rolls back
/// the releases it started, which run in this process.
async fn run(
    mut cockpit: Cockpit,
    updates_tx: mpsc::UnboundedSender<Update>,
    mut updates: mpsc::UnboundedReceiver<Update>,
    mut shell: Shell,
) -> ExitCode {
    let code = watch(&mut cockpit, &updates_tx, &mut updates, &mut shell).await;
    match &shell.host {
        Some(link) => crate::errln!(
            "detached from the release host (pid {}): the releases it drives go on \
             (`helmsman status` lists them)",
            link.pid
        ),
        None => shell.roll_back_what_it_started(&mut updates).await,
    }
    code
}

/// What the loop keeps besides the model: how to reach each release, and
/// the releases it started itself.
struct Shell {
    commands: HashMap<Target, CommandSender>,
    started: Vec<(Target, tokio::task::JoinHandle<String>)>,
    starter: Starter,
    contractor: Contractor,
    /// The release host it is attached to: commands go there.
    host: Option<HostLink>,
    /// The state directory of the journal reports come from.
    journal: Option<PathBuf>,
}

impl Shell {
    fn new(
        starter: Starter,
        contractor: Contractor,
        host: Option<HostLink>,
        journal: Option<PathBuf>,
    ) -> Shell {
        Shell {
            commands: HashMap::new(),
            started: Vec::new(),
            starter,
            contractor,
            host,
            journal,
        }
    }

    /// Writes the report of release `id`'s deployment to
    /// `<state dir>/reports/<deployment>.md`; says where, or why not.
    fn write_report(&self, id: &str) -> (String, bool) {
        let Some(state_dir) = &self.journal else {
            return (
                "no report here: the demo keeps no journal (`helmsman report` reads a real one)"
                    .into(),
                true,
            );
        };
        let written = crate::store::History::open(state_dir)
            .map_err(crate::report::ReportError::from)
            .and_then(|history| crate::report::read(&history, crate::report::Which::Id(id)))
            .map_err(|e| e.to_string())
            .and_then(|report| {
                let dir = state_dir.join("reports");
                let path = dir.join(format!("{}.md", report.deployment));
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(&path, crate::report::markdown::render(&report)))
                    .map(|()| path)
                    .map_err(|e| format!("cannot write {}: {e}", dir.display()))
            });
        match written {
            Ok(path) => (format!("report written to {}", path.display()), false),
            Err(e) => (format!("no report: {e}"), true),
        }
    }

    /// The journal's delivery insights of the last 30 days, as text.
    fn insights(&self) -> Result<Vec<String>, String> {
        let Some(state_dir) = &self.journal else {
            return Err(
                "no insights here: the demo keeps no journal (`helmsman insights` reads a real one)"
                    .into(),
            );
        };
        let filter = crate::store::Filter::default();
        let window = super::insights::Since::default().until_now(&filter);
        crate::store::History::open(state_dir)
            .map_err(crate::report::ReportError::from)
            .and_then(|history| crate::insights::read(&history, window))
            .map(|insights| crate::insights::text::render(&insights))
            .map_err(|e| format!("no insights: {e}"))
    }

    /// Sends a command to its release, wherever that runs.
    fn send(&self, command: Command, updates: &mpsc::UnboundedSender<Update>) {
        match &self.host {
            Some(link) => hosted::send(link, command, updates),
            None => send(&self.commands, command, updates),
        }
    }

    /// Starts a confirmed release; one that runs in this process is kept
    /// to be rolled back on exit.
    fn start(&mut self, start: StartRequest, updates: &mpsc::UnboundedSender<Update>) {
        let target = start.target.clone();
        let task = (self.starter)(start, updates.clone());
        if self.host.is_none() {
            self.started.push((target, task));
        }
    }

    /// Releases started in the cockpit run in this process and would die
    /// with it at whatever weight they had reached: roll them back first.
    /// One that already ended (a signal reaches its own driver too, which
    /// may roll it back before this runs) is said with how it ended, so
    /// the terminal the cockpit gives back tells what became of each.
    async fn roll_back_what_it_started(mut self, updates: &mut mpsc::UnboundedReceiver<Update>) {
        let (ended, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.started)
            .into_iter()
            .partition(|(_, task)| task.is_finished());
        for (_, task) in ended {
            if let Ok(ending) = task.await {
                crate::errln!("{ending}");
            }
        }
        self.started = running;
        if self.started.is_empty() {
            return;
        }
        crate::errln!(
            "{} release(s) started in the cockpit still running: rolling back before exiting",
            self.started.len()
        );
        // A release that started after the last frame is only in the queue.
        while let Ok(update) = updates.try_recv() {
            if let Update::Started(release) = update {
                self.commands.insert(release.target, release.commands);
            }
        }
        for (target, task) in self.started {
            if let Some(commands) = self.commands.get(&target) {
                let command = Command {
                    target: target.clone(),
                    kind: CommandKind::Rollback,
                    actor: super::operator::current(),
                };
                let reply = match send_command(commands, command).await {
                    Some(CommandReply::Accepted) => "accepted".to_string(),
                    Some(CommandReply::Refused { reason }) => format!("refused: {reason}"),
                    None => "not needed: the release had already finished".to_string(),
                };
                crate::errln!("  {target}: rollback {reply}");
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }
}

async fn watch(
    cockpit: &mut Cockpit,
    updates_tx: &mpsc::UnboundedSender<Update>,
    updates: &mut mpsc::UnboundedReceiver<Update>,
    shell: &mut Shell,
) -> ExitCode {
    let theme = Theme::from_env();
    if !has_terminal() {
        return ExitCode::Usage;
    }
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(e) => {
            ratatui::restore();
            crate::errln!(
                "error: cannot open the cockpit on this terminal: {e}\n  hint: add --headless"
            );
            return ExitCode::Usage;
        }
    };
    let _guard = TerminalGuard;
    let mut keys = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    let mut last_frame = Instant::now() - FRAME;
    // SIGTERM or SIGHUP: leave like `q`, so `run` rolls back what this
    // cockpit started, or detaches (the handlers keep these signals from
    // killing it).
    let mut stop = std::pin::pin!(crate::interrupt::wait());

    loop {
        if dirty && last_frame.elapsed() >= FRAME {
            if let Err(e) = draw(&mut terminal, cockpit, &theme) {
                drop(_guard);
                crate::errln!("error: cannot draw the cockpit: {e}");
                return ExitCode::Runtime;
            }
            last_frame = Instant::now();
            dirty = false;
        }
        // While a frame is owed, wake up when the frame budget allows it.
        let frame_due = async {
            if dirty {
                tokio::time::sleep_until(last_frame + FRAME).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            key = keys.next() => match key {
                Some(Ok(TermEvent::Key(key))) if key.kind == KeyEventKind::Press => {
                    match cockpit.on_key(key) {
                        Action::None => {}
                        Action::Redraw => dirty = true,
                        Action::Quit => break,
                        Action::Send(command) => {
                            dirty = true;
                            shell.send(command, updates_tx);
                        }
                        Action::Start(start) => {
                            dirty = true;
                            shell.start(start, updates_tx);
                        }
                        Action::ReadInsights => {
                            dirty = true;
                            match shell.insights() {
                                Ok(lines) => cockpit.show_insights(lines),
                                Err(why) => cockpit.on_notice(why, true),
                            }
                        }
                        Action::Contract(target) => {
                            dirty = true;
                            (shell.contractor)(target, updates_tx.clone());
                        }
                        Action::WriteReport(id) => {
                            dirty = true;
                            let (text, failed) = shell.write_report(&id);
                            cockpit.on_notice(text, failed);
                        }
                    }
                }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                // The terminal is gone (an SSH session dropped): stop
                // drawing; `run` then rolls back what this cockpit started.
                Some(Err(_)) | None => break,
            },
            update = updates.recv() => {
                let Some(update) = update else { continue };
                dirty = true;
                match update {
                    Update::Started(release) => {
                        shell.commands.insert(release.target.clone(), release.commands.clone());
                        cockpit.on_plan(release.target.clone(), release.plan.clone());
                        forward_snapshots(release, updates_tx.clone());
                    }
                    Update::Hosted(snapshot, plan) => {
                        cockpit.on_plan(snapshot.target.clone(), std::sync::Arc::new(*plan));
                        cockpit.on_snapshot(*snapshot, Utc::now());
                    }
                    Update::Snapshot(snapshot) => cockpit.on_snapshot(snapshot, Utc::now()),
                    Update::Event(event) => cockpit.on_event(event),
                    Update::Reply(command, reply) => cockpit.on_reply(&command, &reply),
                    Update::Notice(text, refused) => cockpit.on_notice(text, refused),
                    Update::Preflight(report) => cockpit.on_preflight(&report),
                    Update::Deployed(target, version) => cockpit.on_deployed(&target, version),
                }
            }
            _ = clock.tick() => {
                cockpit.tick(Utc::now());
                dirty = true;
            }
            () = frame_due => {}
            _ = &mut stop => break,
        }
    }
    drop(keys);
    ExitCode::Ok
}

fn draw(
    terminal: &mut ratatui::DefaultTerminal,
    cockpit: &Cockpit,
    theme: &Theme,
) -> std::io::Result<()> {
    crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate)?;
    let drawn = terminal.draw(|frame| view::render(frame, cockpit, theme));
    crossterm::execute!(std::io::stdout(), EndSynchronizedUpdate)?;
    std::io::stdout().flush()?;
    drawn.map(|_| ())
}

/// Sends a command to its release and reports the engine's answer back.
fn send(
    commands: &HashMap<Target, CommandSender>,
    command: Command,
    updates: &mpsc::UnboundedSender<Update>,
) {
    let updates = updates.clone();
    let Some(sender) = commands.get(&command.target).cloned() else {
        let reason = format!("no release is running for {}", command.target);
        let _ = updates.send(Update::Reply(command, CommandReply::Refused { reason }));
        return;
    };
    tokio::spawn(async move {
        let reply = send_command(&sender, command.clone())
            .await
            .unwrap_or_else(|| CommandReply::Refused {
                reason: "the release has already finished".to_string(),
            });
        let _ = updates.send(Update::Reply(command, reply));
    });
}

/// Forwards every new snapshot of a release until it ends.
fn forward_snapshots(release: Attached, updates: mpsc::UnboundedSender<Update>) {
    let mut snapshots = release.snapshots;
    tokio::spawn(async move {
        let _ = updates.send(Update::Snapshot(snapshots.borrow().clone()));
        while snapshots.changed().await.is_ok() {
            let snapshot = snapshots.borrow_and_update().clone();
            if updates.send(Update::Snapshot(snapshot)).is_err() {
                break;
            }
        }
    });
}
