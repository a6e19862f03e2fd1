//! The release host as users and attackers meet it: `helmsman serve`'s
//! control socket, spoken to by `helmsman status` and by a raw client that
//! sends what it likes.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use world::{Env, helmsman, start_serve};

/// A raw connection to the host, one JSON line at a time.
struct Raw(BufReader<UnixStream>);

impl Raw {
    async fn open(state: &Path) -> Raw {
        Raw(BufReader::new(
            UnixStream::connect(state.join("host.sock")).await.unwrap(),
        ))
    }

    async fn say(&mut self, line: &str) -> serde_json::Value {
        self.0
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.hear().await.expect("an answer")
    }

    async fn hear(&mut self) -> Option<serde_json::Value> {
        let mut answer = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), self.0.read_line(&mut answer))
            .await
            .expect("the host answers in time")
            .unwrap();
        (n > 0).then(|| serde_json::from_str(&answer).unwrap())
    }
}

const HELLO: &str = r#"{"type":"hello","protocol":2,"helmsman":"test","origin":null}"#;

async fn output(command: &mut tokio::process::Command) -> (Option<i32>, String, String) {
    let out = command.output().await.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_socket_is_private_versioned_and_survives_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let dev = Env::start().await;
    let config = dir.path().join("helmsman.toml");
    std::fs::write(&config, dev.toml("dev", "", r#"[{ weight = 100 }]"#)).unwrap();
    let mut serve = start_serve(helmsman(&config, &state, &["serve"]), &[&dev]).await;

    let socket = state.join("host.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner opens it");

    // Another protocol gets words it can print, and the door closes.
    let mut newer = Raw::open(&state).await;
    let refused = newer
        .say(r#"{"type":"hello","protocol":99,"helmsman":"9.9.9","origin":null}"#)
        .await;
    assert_eq!(refused["type"], "error", "{refused}");
    let words = refused["message"].as_str().unwrap();
    assert!(
        words.contains("speaks protocol 2") && words.contains("the client 99 (helmsman 9.9.9)"),
        "{words}"
    );
    assert!(newer.hear().await.is_none(), "closed after a failed hello");

    // Garbage gets an error and the connection goes on serving.
    let mut client = Raw::open(&state).await;
    let hello = client.say(HELLO).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(hello["pid"], serve.id().unwrap());
    let garbage = client.say("{not json").await;
    assert_eq!(garbage["type"], "error", "{garbage}");
    let unknown = client.say(r#"{"type":"format-disk"}"#).await;
    assert_eq!(unknown["type"], "error", "{unknown}");
    let status = client
        .say(r#"{"type":"status","env":null,"service":null}"#)
        .await;
    assert_eq!(status["type"], "status", "{status}");
    assert_eq!(status["releases"], serde_json::json!([]));

    // A line too long to be a request closes that connection only.
    let mut flood = Raw::open(&state).await;
    flood.say(HELLO).await;
    let huge = format!("\"{}\"", "x".repeat(100_000));
    let answer = flood.say(&huge).await;
    assert!(
        answer["message"].as_str().unwrap().contains("longer than"),
        "{answer}"
    );
    assert!(
        client.say(HELLO).await["type"] == "error",
        "the first client still served"
    );

    // `status` goes through the host and says what the journal says.
    let (code, out, err) = output(&mut helmsman(&config, &state, &["status"])).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "no release in flight");
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_host_per_state_directory_and_a_crashed_ones_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (dev, other) = (Env::start().await, Env::start().await);
    let config = dir.path().join("helmsman.toml");
    std::fs::write(&config, dev.toml("dev", "", r#"[{ weight = 100 }]"#)).unwrap();
    let mut first = start_serve(helmsman(&config, &state, &["serve"]), &[&dev]).await;

    // A second host on the same state directory (other ports, so only the
    // host can refuse it) is refused, naming the first.
    let other_config = dir.path().join("other.toml");
    std::fs::write(
        &other_config,
        other.toml("dev", "", r#"[{ weight = 100 }]"#),
    )
    .unwrap();
    let (code, _, err) = output(&mut helmsman(&other_config, &state, &["serve"])).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("a release host already runs on")
            && err.contains(&format!("(pid {}", first.id().unwrap())),
        "{err}"
    );

    // kill -9 leaves the socket file behind; the next host replaces it.
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    assert!(state.join("host.sock").exists(), "a crash leaves the file");
    let (code, out, err) = output(&mut helmsman(&config, &state, &["status"])).await;
    assert_eq!(code, Some(0), "no host: status reads the journal: {err}");
    assert_eq!(out.trim(), "no release in flight");
    let mut second = start_serve(helmsman(&config, &state, &["serve"]), &[&dev]).await;
    let mut client = Raw::open(&state).await;
    assert_eq!(client.say(HELLO).await["pid"], second.id().unwrap());
    second.kill().await.unwrap();
}

/// The name of this process's group, as /etc/group has it.
fn own_group() -> (String, u32) {
    let gid = rustix::process::getegid().as_raw();
    let groups = std::fs::read_to_string("/etc/group").unwrap();
    let name = groups
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.get(2) == Some(&gid.to_string().as_str()))
        .map(|fields| fields[0].to_string())
        .expect("this process's group is in /etc/group");
    (name, gid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_group_shares_the_socket_with_its_members_and_an_unknown_one_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let dev = Env::start().await;
    let config = dir.path().join("helmsman.toml");
    std::fs::write(&config, dev.toml("dev", "", r#"[{ weight = 100 }]"#)).unwrap();

    let (code, _, err) = output(&mut helmsman(
        &config,
        &state,
        &["serve", "--socket-group", "no-such-group-here"],
    ))
    .await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no group `no-such-group-here`"), "{err}");

    let (group, gid) = own_group();
    let mut serve = start_serve(
        helmsman(&config, &state, &["serve", "--socket-group", &group]),
        &[&dev],
    )
    .await;
    let socket = std::fs::metadata(state.join("host.sock")).unwrap();
    assert_eq!(
        socket.permissions().mode() & 0o777,
        0o660,
        "its group opens it too"
    );
    assert_eq!(socket.gid(), gid);
    let (code, out, err) = output(&mut helmsman(&config, &state, &["status"])).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "no release in flight");
    serve.kill().await.unwrap();
}
