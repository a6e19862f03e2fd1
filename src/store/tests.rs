use std::io::Write;

use super::*;

fn target(env: &str) -> Target {
    Target {
        env: env.into(),
        service: "checkout".into(),
    }
}

fn record(env: &str, version: &str, result: ReleaseResult) -> ReleaseRecord {
    ReleaseRecord {
        id: format!("{env}-{version}"),
        target: target(env),
        strategy: "canary".into(),
        stable_version: "v1".into(),
        new_version: version.into(),
        result,
        reason: String::new(),
        started_by: Actor::Engine,
        started_at: Utc::now(),
        finished_at: Utc::now(),
    }
}

fn start(env: &str, version: &str) -> ReleaseStart {
    ReleaseStart {
        deployment: None,
        id: format!("{env}-{version}"),
        target: target(env),
        strategy: "canary".into(),
        stable_version: "v1".into(),
        new_version: version.into(),
        started_by: Actor::Operator {
            user: "alice".into(),
            origin: Some("10.0.0.7".into()),
        },
        started_at: Utc::now(),
    }
}

#[test]
fn survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = History::open(dir.path()).unwrap();
    h.record(record("dev", "v2", ReleaseResult::Succeeded))
        .unwrap();
    h.record(record("staging", "v2", ReleaseResult::RolledBack))
        .unwrap();
    drop(h);
    let h = History::open(dir.path()).unwrap();
    assert_eq!(h.entries(&Filter::default()).unwrap().len(), 2);
    assert!(h.succeeded("dev", "checkout", "v2"));
    assert!(!h.succeeded("staging", "checkout", "v2"));
    assert_eq!(h.current_version("dev", "checkout").as_deref(), Some("v2"));
    assert_eq!(h.current_version("staging", "checkout"), None);
}

#[test]
fn the_old_jsonl_history_is_imported_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = std::fs::File::create(dir.path().join("releases.jsonl")).unwrap();
    for r in [
        record("dev", "v2", ReleaseResult::Succeeded),
        record("dev", "v3", ReleaseResult::RolledBack),
    ] {
        writeln!(old, "{}", serde_json::to_string(&r).unwrap()).unwrap();
    }
    // A torn last line, as a crash mid-append left it.
    old.write_all(b"{\"id\": \"torn").unwrap();
    drop(old);

    let h = History::open(dir.path()).unwrap();
    assert!(h.succeeded("dev", "checkout", "v2"));
    assert!(!h.succeeded("dev", "checkout", "v3"));
    assert!(!dir.path().join("releases.jsonl").exists());
    assert!(dir.path().join("releases.jsonl.imported").exists());
    drop(h);
    let h = History::open(dir.path()).unwrap();
    assert_eq!(h.entries(&Filter::default()).unwrap().len(), 2);
}

#[test]
fn a_release_is_in_the_journal_from_its_start_with_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = History::open(dir.path()).unwrap();
    let begun = start("prod", "v2");
    h.begin(&begun).unwrap();
    let event = crate::engine::Event {
        at: Utc::now(),
        env: "prod".into(),
        service: "checkout".into(),
        from: crate::engine::Phase::Pending,
        to: crate::engine::Phase::Progressing,
        step: 0,
        steps: 4,
        weight: 5,
        reason: "set weight 5%".into(),
        actor: Actor::Engine,
        verdict: None,
        job: None,
    };
    h.event(&begun.id, &event).unwrap();

    // Another process (a crash's survivor) sees it in flight.
    let other = History::open(dir.path()).unwrap();
    let entries = other.entries(&Filter::default()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].start, begun);
    assert_eq!(entries[0].result, None);
    assert_eq!(other.events(&begun.id).unwrap(), [event]);

    h.record(ReleaseRecord {
        result: ReleaseResult::Succeeded,
        reason: "promoted".into(),
        finished_at: Utc::now(),
        ..record("prod", "v2", ReleaseResult::Succeeded)
    })
    .unwrap();
    let entries = other.entries(&Filter::default()).unwrap();
    assert_eq!(entries[0].result, Some(ReleaseResult::Succeeded));
    assert_eq!(
        entries[0].start.started_by, begun.started_by,
        "kept from the start"
    );
    assert!(other.succeeded("prod", "checkout", "v2"));
}

#[test]
fn entries_are_filtered_and_newest_first() {
    let mut h = History::in_memory();
    for (env, version) in [("dev", "v2"), ("staging", "v2"), ("dev", "v3")] {
        h.record(record(env, version, ReleaseResult::Succeeded))
            .unwrap();
    }
    let dev = h
        .entries(&Filter {
            env: Some("dev".into()),
            ..Filter::default()
        })
        .unwrap();
    let versions: Vec<_> = dev.iter().map(|e| e.start.new_version.as_str()).collect();
    assert_eq!(versions, ["v3", "v2"]);
    let newest = h
        .entries(&Filter {
            limit: Some(1),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(newest[0].start.id, "dev-v3");
}

#[test]
fn a_second_driver_of_a_service_is_refused_with_the_holder_named() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let alice = Actor::Operator {
        user: "alice".into(),
        origin: None,
    };
    let hold = h
        .hold(&target("prod"), Holder::this_process(alice, "v2"))
        .unwrap();
    let refused = h
        .hold(&target("prod"), Holder::this_process(Actor::Engine, "v3"))
        .unwrap_err();
    let words = refused.to_string();
    assert!(
        words.starts_with("prod/checkout: refused: a release of v2 is in flight, driven by alice")
            && words.contains(&format!("pid {}", std::process::id())),
        "{words}"
    );
    // Another service is free; the same one is once the hold is dropped.
    h.hold(&target("dev"), Holder::this_process(Actor::Engine, "v3"))
        .unwrap();
    drop(hold);
    h.hold(&target("prod"), Holder::this_process(Actor::Engine, "v3"))
        .unwrap();
}

#[test]
fn a_finished_release_is_never_overwritten() {
    let mut h = History::in_memory();
    h.record(record("dev", "v2", ReleaseResult::Succeeded))
        .unwrap();
    // The same id again (a clock gone back): the first outcome stands.
    h.record(record("dev", "v2", ReleaseResult::RolledBack))
        .unwrap();
    let entries = h.entries(&Filter::default()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].result, Some(ReleaseResult::Succeeded));
    assert!(
        h.begin(&start("dev", "v2")).is_err(),
        "a begun id is refused"
    );
}

#[test]
fn a_version_1_journal_is_upgraded_in_place_and_its_releases_stand_alone() {
    use crate::engine::InstanceCounts;
    let dir = tempfile::tempdir().unwrap();
    {
        // The first journal's schema, with one finished release in it.
        let db = Connection::open(dir.path().join(FILE)).unwrap();
        db.execute_batch(
            "CREATE TABLE releases (id TEXT PRIMARY KEY, env TEXT NOT NULL, service TEXT NOT NULL,
                 strategy TEXT NOT NULL, stable_version TEXT NOT NULL, new_version TEXT NOT NULL,
                 started_by TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
                 result TEXT, reason TEXT NOT NULL DEFAULT '');
             CREATE TABLE events (release_id TEXT NOT NULL, at TEXT NOT NULL, event TEXT NOT NULL);
             CREATE TABLE commands (release_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL,
                 actor TEXT NOT NULL, reply TEXT NOT NULL);
             CREATE TABLE imported (file TEXT PRIMARY KEY, at TEXT NOT NULL);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        db.execute(
            "INSERT INTO releases VALUES ('old', 'dev', 'checkout', 'canary', 'v1', 'v2', \
             '{\"kind\":\"engine\"}', '2026-01-01T00:00:00Z', '2026-01-01T00:05:00Z', \
             'succeeded', '')",
            [],
        )
        .unwrap();
    }
    let mut history = History::open(dir.path()).unwrap();
    let version: i64 = history
        .db()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let old = &history.entries(&Filter::default()).unwrap()[0];
    assert_eq!(
        (old.start.id.as_str(), old.start.deployment.as_deref()),
        ("old", None)
    );
    assert_eq!(
        history.find_deployment("old").unwrap(),
        Some(Found::Release("old".into()))
    );
    // A note on it is kept under its own id.
    let note = Note {
        at: Utc::now(),
        by: Actor::Engine,
        text: "from before".into(),
    };
    history.note("old", &note).unwrap();
    assert_eq!(history.notes("old").unwrap(), [note]);
    // Its rollback path was never read; once written, the first reading stays.
    assert_eq!(history.stable_at_start_of("old").unwrap(), None);
    let read = |healthy| InstanceCounts { healthy, total: 3 };
    history.stable_at_start("old", &read(3)).unwrap();
    history.stable_at_start("old", &read(1)).unwrap();
    assert_eq!(history.stable_at_start_of("old").unwrap(), Some(read(3)));
    // Reopening an upgraded journal changes nothing.
    drop(history);
    let again = History::open(dir.path()).unwrap();
    assert_eq!(again.entries(&Filter::default()).unwrap().len(), 1);
}
