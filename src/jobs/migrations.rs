//! Running one phase of a service's migrations: its command, in the
//! configuration's directory, with the release's context, bounded by the
//! migrations' timeout (its whole process group is killed past it). A
//! phase is never tried again by itself: a half-run migration is for its
//! own tool, or a human, to judge.

use std::path::Path;

use chrono::Utc;

use super::{Context, JobRun};
use crate::config::migrations::{Migrations, Phase};
use crate::observed::CheckStatus;
use crate::preflight::command;

/// Runs `phase`; `None` when the migrations have no command for it.
pub async fn run(
    migrations: &Migrations,
    phase: Phase,
    context: &Context,
    dir: &Path,
) -> Option<JobRun> {
    let argv = migrations.command(phase)?;
    let started_at = Utc::now();
    let vars = context.vars(phase.name());
    let ran = tokio::time::timeout(
        migrations.timeout,
        command::execute(argv, &vars, None, Some(dir)),
    )
    .await;
    Some(match ran {
        Ok(ran) => JobRun::ended(
            phase.name().to_string(),
            started_at,
            ran.finding.status == CheckStatus::Pass,
            ran.finding.value,
            &ran.output,
        ),
        Err(_) => JobRun::ended(
            phase.name().to_string(),
            started_at,
            false,
            format!(
                "still running after {}: killed",
                crate::config::duration::format(migrations.timeout)
            ),
            "",
        ),
    })
}

/// What identifies a migration set across environments: a SHA-256 over
/// the contents of its files (`files`, or every phase argument naming a
/// file that exists in `dir`), in order, so staging and production share
/// it when they run the same SQL through different connection strings. A
/// set that names no file is identified by its commands.
pub fn digest(migrations: &Migrations, dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let named: Vec<&String> = if migrations.files.is_empty() {
        Phase::ALL
            .iter()
            .filter(|p| **p != Phase::Status)
            .filter_map(|p| migrations.command(*p))
            .flat_map(|argv| argv.iter().skip(1))
            .filter(|arg| dir.join(arg).is_file())
            .collect()
    } else {
        migrations.files.iter().collect()
    };
    let mut hash = Sha256::new();
    if named.is_empty() {
        for phase in Phase::ALL {
            if let Some(argv) = migrations.command(phase) {
                hash.update(phase.name());
                hash.update(argv.join("\0"));
            }
        }
    }
    for file in named {
        hash.update(file.as_bytes());
        // A file that cannot be read counts as empty: the digest then
        // differs from the one it has where it can.
        hash.update(std::fs::read(dir.join(file)).unwrap_or_default());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::migrations::Tool;

    fn psql(url: &str) -> Migrations {
        let mut m = Tool::Pgroll.commands("unused.json", &[]);
        m.tool = None;
        m.files.clear();
        m.expand = Some(vec![
            "psql".into(),
            url.into(),
            "-f".into(),
            "expand.sql".into(),
        ]);
        m.contract = None;
        m
    }

    #[test]
    fn a_set_is_named_by_its_files_not_by_where_it_connects() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("expand.sql"), "ALTER TABLE t ADD c int;").unwrap();
        let staging = digest(&psql("postgres://staging/app"), dir.path());
        let prod = digest(&psql("postgres://prod/app"), dir.path());
        assert_eq!(staging, prod);
        std::fs::write(dir.path().join("expand.sql"), "ALTER TABLE t ADD d int;").unwrap();
        assert_ne!(digest(&psql("postgres://prod/app"), dir.path()), prod);
        // No file at all: the commands name the set.
        let elsewhere = tempfile::tempdir().unwrap();
        assert_ne!(
            digest(&psql("postgres://staging/app"), elsewhere.path()),
            digest(&psql("postgres://prod/app"), elsewhere.path())
        );
    }

    #[tokio::test]
    async fn a_phase_runs_with_the_release_s_context_and_is_killed_past_its_timeout() {
        let context = Context {
            env: "dev".into(),
            service: "web".into(),
            version: "v2".into(),
            previous_version: "v1".into(),
            preview_urls: Vec::new(),
        };
        let mut m = psql("x");
        m.expand = Some(vec![
            "sh".into(),
            "-c".into(),
            "echo \"$HELMSMAN_PHASE of $HELMSMAN_SERVICE $HELMSMAN_PREVIOUS_VERSION → $HELMSMAN_VERSION\""
                .into(),
        ]);
        m.migrate = Some(vec!["sleep".into(), "30".into()]);
        m.timeout = Duration::from_millis(300);
        let dir = Path::new(".");
        let expand = run(&m, Phase::Expand, &context, dir).await.unwrap();
        assert!(expand.passed);
        assert_eq!(expand.output, "expand of web v1 → v2");
        let migrate = run(&m, Phase::Migrate, &context, dir).await.unwrap();
        assert!(!migrate.passed);
        assert_eq!(migrate.summary, "still running after 300ms: killed");
        assert!(migrate.took < Duration::from_secs(5));
        assert!(run(&m, Phase::Contract, &context, dir).await.is_none());
    }
}
