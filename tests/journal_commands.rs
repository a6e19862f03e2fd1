//! Commands a front end sends to a release go through the pipeline, which
//! journals each with the engine's answer — accepted or refused, who sent
//! it — before the front end hears the answer.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::time::Duration;

use helmsman::engine::{Actor, Command, CommandKind, CommandReply, Event, Phase};
use helmsman::pipeline::{self, Attached, ReleaseRequest, Watcher};
use helmsman::store::History;
use tokio::sync::oneshot;
use world::{Env, helmsman, start_serve};

/// Steers the release as an operator in the cockpit would: at the gate,
/// a retry (refused: nothing to retry) and an advance; then a promote, so
/// the end does not wait for traffic.
struct Operator {
    answers: tokio::sync::mpsc::UnboundedSender<(CommandKind, CommandReply)>,
}

impl Watcher for Operator {
    fn event(&mut self, _event: &Event) {}

    fn started(&mut self, release: Attached) {
        let answers = self.answers.clone();
        tokio::spawn(async move {
            let mut snapshots = release.snapshots.clone();
            snapshots
                .wait_for(|s| s.phase == Phase::WaitingForHuman)
                .await
                .unwrap();
            let send = |kind| {
                let (release, answers) = (&release, &answers);
                async move {
                    let (reply, answer) = oneshot::channel();
                    let command = Command {
                        target: release.target.clone(),
                        kind,
                        actor: alice(),
                    };
                    release.commands.send((command, reply)).await.unwrap();
                    answers.send((kind, answer.await.unwrap())).unwrap();
                }
            };
            send(CommandKind::Retry).await;
            send(CommandKind::Advance).await;
            // At the last step, with no traffic to judge, the engine holds
            // and offers the override: a promote then finishes.
            snapshots
                .wait_for(|s| s.reason.contains("promote to override"))
                .await
                .unwrap();
            send(CommandKind::Promote).await;
        });
    }
}

fn alice() -> Actor {
    Actor::Operator {
        user: "alice".into(),
        origin: Some("203.0.113.7".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_is_journaled_with_its_answer_and_sender() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let dev = Env::start().await;
    let config_path = dir.path().join("helmsman.toml");
    std::fs::write(
        &config_path,
        format!(
            "[defaults.analysis]\ninterval = \"200ms\"\nmin_requests = 20\n{}",
            dev.toml(
                "dev",
                "",
                r#"[{ weight = 25 }, { gate = "manual" }, { weight = 100 }]"#
            )
        ),
    )
    .unwrap();
    let mut serve = start_serve(helmsman(&config_path, &state, &["serve"]), &[&dev]).await;
    let mut config = helmsman::config::load_file(&config_path).unwrap();
    helmsman::dataplane::admin_token::provide(&mut config, &state).unwrap();

    let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let mut operator = Operator {
        answers: answers_tx,
    };
    let request = ReleaseRequest {
        service: "web".into(),
        version: "v2".into(),
        envs: vec!["dev".into()],
        strategy: None,
        actor: alice(),
        force: false,
    };
    let mut history = History::open(&state).unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        pipeline::run(&config, &request, &mut history, &mut operator),
    )
    .await
    .expect("the release ends")
    .unwrap();
    assert_eq!(result, helmsman::engine::ReleaseResult::Succeeded);

    let heard: Vec<_> = std::iter::from_fn(|| answers.try_recv().ok()).collect();
    assert!(
        matches!(heard[0], (CommandKind::Retry, CommandReply::Refused { .. })),
        "{heard:?}"
    );
    assert_eq!(heard[1], (CommandKind::Advance, CommandReply::Accepted));
    assert_eq!(heard[2], (CommandKind::Promote, CommandReply::Accepted));

    // What the front end heard is what the journal holds, sender included.
    let journal = History::open(&state).unwrap();
    let id = journal.entries(&Default::default()).unwrap()[0]
        .start
        .id
        .clone();
    let commands = journal.commands(&id).unwrap();
    let written: Vec<_> = commands.iter().map(|c| (c.kind, c.reply.clone())).collect();
    assert_eq!(written, heard);
    assert!(commands.iter().all(|c| c.actor == alice()));
    serve.kill().await.unwrap();
}
