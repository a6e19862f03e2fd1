//! `command`: a program (an argv, no shell unless asked for) that must
//! exit 0 — a CI status query, a migration dry run, a smoke script.
//!
//! It runs in a process group of its own. When its check is dropped (the
//! runner's timeout) the whole group is killed, so a shell's children do
//! not outlive it; when it exits, whatever it left running in the group is
//! killed too, so its output ends and nothing lingers after a check.

use std::process::Stdio;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{Finding, shorten};

/// Output kept to quote its last line.
const TAIL: usize = 4096;
/// A quoted line is cut to this many characters.
const LINE_LIMIT: usize = 160;

/// Runs `run` with `vars` added to its environment (`HELMSMAN_ENV`, and
/// for a release `HELMSMAN_SERVICE` and `HELMSMAN_VERSION`).
pub async fn check(run: &[String], vars: &[(String, String)]) -> Finding {
    run_with_input(run, vars, None).await
}

/// [`check`], with `input` written to the command's standard input (a
/// notification's JSON); none gives it an empty one.
pub async fn run_with_input(
    run: &[String],
    vars: &[(String, String)],
    input: Option<Vec<u8>>,
) -> Finding {
    execute(run, vars, input, None).await.finding
}

/// What a command did: its finding, and the last of what it printed
/// (standard output, then standard error) for a record.
pub struct Ran {
    pub finding: Finding,
    pub output: String,
}

/// [`run_with_input`] in directory `dir` (the current one if `None`),
/// keeping the end of its output.
pub async fn execute(
    run: &[String],
    vars: &[(String, String)],
    input: Option<Vec<u8>>,
    dir: Option<&std::path::Path>,
) -> Ran {
    let Some((program, args)) = run.split_first() else {
        return Ran::failed(Finding::fail("no program to run"));
    };
    let mut command = tokio::process::Command::new(program);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = match command
        .args(args)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Ran::failed(Finding::fail(format!("cannot run `{program}`: {e}"))),
    };
    let group = ProcessGroup(child.id().and_then(|id| Pid::from_raw(id as i32)));
    // Written beside the wait: a command that never reads its input must
    // not hold the write (nor the wait) up. Closed once written.
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(&input).await;
        });
    }
    // Read both pipes while waiting, so a chatty command never blocks on a full pipe.
    let stdout = tokio::spawn(tail(child.stdout.take()));
    let stderr = tokio::spawn(tail(child.stderr.take()));
    let status = child.wait().await;
    drop(group);
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            return Ran::failed(Finding::fail(format!("cannot wait for `{program}`: {e}")));
        }
    };
    let said = |text: &str| last_line(text).map_or(String::new(), |l| format!(": {l}"));
    let finding = match status.code() {
        Some(0) => Finding::pass(format!("exit 0{}", said(&stdout))),
        // Why it failed is usually on stderr; some tools print it on stdout.
        Some(code) => Finding::fail(format!(
            "exit {code}{}",
            if last_line(&stderr).is_some() {
                said(&stderr)
            } else {
                said(&stdout)
            }
        )),
        None => Finding::fail(format!(
            "killed by a signal{}",
            std::os::unix::process::ExitStatusExt::signal(&status)
                .map_or(String::new(), |s| format!(" ({s})"))
        )),
    };
    let output = match (stdout.trim_end(), stderr.trim_end()) {
        (out, "") => out.to_string(),
        ("", err) => err.to_string(),
        (out, err) => format!("{out}\n{err}"),
    };
    Ran { finding, output }
}

impl Ran {
    fn failed(finding: Finding) -> Ran {
        Ran {
            finding,
            output: String::new(),
        }
    }
}

/// The last `TAIL` bytes a pipe carried, as text.
async fn tail(pipe: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buffer[..n]);
        if kept.len() > TAIL {
            kept.drain(..kept.len() - TAIL);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| shorten(l, LINE_LIMIT))
}

/// Kills every process of a command's group when dropped. While any
/// member is alive the group's id stays taken, even once the leader is
/// reaped; an empty group answers the kill with ESRCH.
struct ProcessGroup(Option<Pid>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // ESRCH (nobody left) is the usual, fine answer.
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::CheckStatus;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn exit_codes_and_the_last_line_said() {
        assert_eq!(
            check(&sh("echo first; echo 'CI: success'"), &[]).await,
            Finding::pass("exit 0: CI: success")
        );
        let failed = check(&sh("echo out; echo 'no such run' >&2; exit 3"), &[]).await;
        assert_eq!(failed, Finding::fail("exit 3: no such run"));
        assert_eq!(
            check(&sh("echo only stdout; exit 1"), &[]).await.value,
            "exit 1: only stdout"
        );
        let missing = check(&["/nonexistent/gh".to_string()], &[]).await;
        assert_eq!(missing.status, CheckStatus::Fail);
        assert!(
            missing.value.starts_with("cannot run `/nonexistent/gh`"),
            "{}",
            missing.value
        );
    }

    #[tokio::test]
    async fn a_command_learns_the_release_from_its_environment() {
        let vars = [("HELMSMAN_VERSION".to_string(), "v1.5.0".to_string())];
        let finding = check(&sh("echo \"checking $HELMSMAN_VERSION\""), &vars).await;
        assert_eq!(finding, Finding::pass("exit 0: checking v1.5.0"));
    }

    #[tokio::test]
    async fn what_a_command_leaves_running_is_killed_when_it_exits() {
        // The background sleep keeps stdout open: without the group kill
        // this check would wait for it.
        let started = std::time::Instant::now();
        let finding = check(&sh("sleep 30 & echo started"), &[]).await;
        assert_eq!(finding, Finding::pass("exit 0: started"));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
