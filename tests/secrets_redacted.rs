//! A configured secret never leaves helmsman in text, even when a server
//! echoes it: a metrics server answers every query 401 with the request's
//! `Authorization` header in its body (as many proxies and frameworks do).
//! `release --headless --output json` against `helmsman serve` holds, then
//! rolls back once metrics stay away; neither its output, nor the history,
//! nor the log file holds the token, and each says which variable it masked.

mod ports;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use world::{Env, FAST, Files, release_args};

const TOKEN: &str = "tok-9f8e7d6c5b4a-secret";

/// Answers every request 401, repeating the request's `Authorization`
/// header in a long body.
async fn echoing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1
                {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let authorization = head
                    .lines()
                    .find(|line| line.to_ascii_lowercase().starts_with("authorization:"))
                    .unwrap_or("no authorization");
                let body = format!(
                    "unauthorized; you sent: {authorization}; {}",
                    "x".repeat(5000)
                );
                let answer = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_echoed_by_a_server_is_masked_everywhere() {
    let prod = Env::start().await;
    let prometheus = echoing_server().await;
    let metrics = format!(
        "[environments.services.metrics]\ntype = \"prometheus\"\nurl = \"{prometheus}\"\n\
         token = \"${{PROM_TOKEN}}\"\n\
         requests = 'sum(requests{{version=\"{{version}}\"}})'\n\
         errors_by_kind = 'sum by (kind) (errors{{version=\"{{version}}\"}})'\n\
         latency_buckets = 'sum by (le) (latency_bucket{{version=\"{{version}}\"}})'\n"
    );
    let mut files = Files::new(&format!(
        "{FAST}{}{metrics}",
        prod.toml(
            "prod",
            "",
            r#"[{ weight = 20 }, { pause = "1s" }, { weight = 100 }]"#
        )
    ));
    files.vars.push(("PROM_TOKEN".into(), TOKEN.into()));
    let mut serve = files.serve(&[&prod]).await;
    let mut args = release_args(&["prod"]);
    args.extend(["--output", "json"]);
    let output = files
        .helmsman(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");

    // The server's words are there, masked and cut short.
    assert!(stdout.contains("unauthorized; you sent"), "{stdout}");
    assert!(stdout.contains("[redacted ${PROM_TOKEN}]"), "{stdout}");
    assert!(
        !stdout.contains(&"x".repeat(1000)),
        "a 5 kB body repeated whole"
    );
    let history = format!("{:?}", files.history());
    assert!(history.contains("rolled-back"), "{history}");
    let journal = files.journal_bytes();
    let mut log = String::new();
    for entry in std::fs::read_dir(files.state.join("logs")).unwrap() {
        log.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(log.contains("rolling back"), "{log}");
    for (what, text) in [
        ("stdout", &*stdout),
        ("stderr", &*stderr),
        ("history", &history),
        ("journal", &journal),
        ("log", &log),
    ] {
        assert!(!text.contains(TOKEN), "{what} shows the token:\n{text}");
    }
    serve.kill().await.unwrap();
}
