//! Database migrations in step with the traffic, against a real
//! PostgreSQL and the real binary: `helmsman serve` runs the data plane in
//! front of the two versions of a service that reads the database on every
//! request (tests/migrations/app.rs), load runs through it the whole time,
//! and the release's migrations are psql running SQL files:
//!
//! - expand adds `users.display_name`, migrate backfills it, contract
//!   drops `users.name` (which only v1 reads), down drops `display_name`.

#[path = "migrations/app.rs"]
mod app;
mod ports;
#[path = "migrations/postgres.rs"]
mod postgres;
#[allow(dead_code)] // each test binary uses a different part of it
#[path = "served/world.rs"]
mod world;

use std::net::SocketAddr;

use app::App;
use std::sync::atomic::Ordering::Relaxed;

use helmsman::demo::load::Load;
use postgres::Postgres;
use tokio::process::Child;
use world::{FAST, Files, free_port, wait_for_admin};

const EXPAND: &str = "ALTER TABLE users ADD COLUMN display_name text;\n";
const MIGRATE: &str = "UPDATE users SET display_name = upper(name) WHERE display_name IS NULL;\n";
const CONTRACT: &str = "ALTER TABLE users DROP COLUMN name;\n";
const DOWN: &str = "ALTER TABLE users DROP COLUMN IF EXISTS display_name;\n";

/// One environment: its own database, the data plane's ports, and the
/// service's two versions reading that database.
struct DbEnv {
    name: &'static str,
    db: String,
    listen: u16,
    admin: u16,
    v1: App,
    v2: App,
}

impl DbEnv {
    async fn start(pg: &Postgres, name: &'static str, db: &str) -> DbEnv {
        pg.psql("postgres", &format!("CREATE DATABASE {db}"));
        pg.psql(
            db,
            "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL); \
             INSERT INTO users VALUES (1, 'alice'), (2, 'bob');",
        );
        DbEnv {
            name,
            db: db.to_string(),
            listen: free_port(),
            admin: free_port(),
            v1: App::start(&pg.url(db), "v1").await,
            v2: App::start(&pg.url(db), "v2").await,
        }
    }

    /// `[[environments]]` with the service, its canary and its migrations
    /// (psql on this environment's database, `contract_after` if given).
    fn toml(&self, pg: &Postgres, requires: &str, contract_after: &str) -> String {
        let psql = |file: &str| {
            format!(
                r#"["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "{}", "-f", "db/{file}.sql"]"#,
                pg.url(&self.db)
            )
        };
        format!(
            r#"
[[environments]]
name = "{name}"
requires = [{requires}]
[[environments.services]]
name = "web"
[environments.services.backend]
type = "local"
listen = "127.0.0.1:{listen}"
admin = "127.0.0.1:{admin}"
stable = "v1"
[environments.services.backend.versions]
"v1" = ["{v1}"]
"v2" = ["{v2}"]
[environments.services.strategy]
kind = "canary"
steps = [{{ weight = 20 }}, {{ pause = "1s" }}, {{ weight = 60 }}, {{ pause = "1s" }}]
[environments.services.migrations]
expand = {expand}
migrate = {migrate}
contract = {contract}
down = {down}
{contract_after}
"#,
            name = self.name,
            listen = self.listen,
            admin = self.admin,
            v1 = self.v1.addr,
            v2 = self.v2.addr,
            expand = psql("expand"),
            migrate = psql("migrate"),
            contract = psql("contract"),
            down = psql("down"),
        )
    }

    fn columns(&self, pg: &Postgres) -> String {
        pg.psql(
            &self.db,
            "SELECT string_agg(column_name, ',' ORDER BY column_name) \
             FROM information_schema.columns WHERE table_name = 'users'",
        )
    }
}

/// A configuration of `envs` with the migration files beside it.
fn files(text: &str, migrate: &str, expand: &str) -> Files {
    let files = Files::new(&format!("{FAST}{text}"));
    let db = files.config.parent().unwrap().join("db");
    std::fs::create_dir_all(&db).unwrap();
    for (file, sql) in [
        ("expand", expand),
        ("migrate", migrate),
        ("contract", CONTRACT),
        ("down", DOWN),
    ] {
        std::fs::write(db.join(format!("{file}.sql")), sql).unwrap();
    }
    files
}

/// `serve` in front of `envs`, and load through each of them.
async fn serve_with_load(files: &Files, envs: &[&DbEnv]) -> (Child, Loads) {
    let mut serve = files
        .helmsman(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for env in envs {
        wait_for_admin(env.admin, &mut serve).await;
    }
    let loads = envs
        .iter()
        .map(|env| {
            let listen: SocketAddr = format!("127.0.0.1:{}", env.listen).parse().unwrap();
            Load::start(listen, 100)
        })
        .collect();
    let loads = Loads(loads);
    // Flowing before anything else happens.
    while loads
        .0
        .iter()
        .any(|l| l.stats().answered.load(Relaxed) < 50)
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (serve, loads)
}

/// Load through each environment's data plane.
struct Loads(Vec<Load>);

impl Loads {
    /// Asserts no request failed or answered a 5xx, in any environment.
    fn none_failed(&self, context: &str) {
        for stats in self.0.iter().map(Load::stats) {
            let (sent, failed, errors) = (
                stats.sent.load(Relaxed),
                stats.failed.load(Relaxed),
                stats.status_5xx.load(Relaxed),
            );
            assert!(sent >= 100, "{context}: only {sent} requests sent");
            assert_eq!((failed, errors), (0, 0), "{context}: of {sent} requests");
            eprintln!("{context}: {sent} requests, {failed} failed, {errors} answered 5xx");
        }
    }

    async fn stop(self) {
        for load in self.0 {
            load.stop().await;
        }
    }
}

fn release(envs: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "release",
        "--service",
        "web",
        "--version",
        "v2",
        "--headless",
    ]
    .map(String::from)
    .to_vec();
    for env in envs {
        args.extend(["--env".to_string(), env.to_string()]);
    }
    args
}

async fn run(files: &Files, args: &[String]) -> (i32, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    files.run(&args).await
}

/// The names of the migration phases and hooks a release's output said ran,
/// in order (`expand passed in …`).
fn phases_said(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|line| {
            ["expand", "migrate", "contract", "down"]
                .into_iter()
                .find(|p| {
                    line.contains(&format!("  {p} passed in"))
                        || line.contains(&format!("  {p} failed in"))
                })
                .map(|p| {
                    let passed = line.contains(&format!("{p} passed"));
                    format!("{p} {}", if passed { "passed" } else { "failed" })
                })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_expands_migrates_and_contracts_once_the_old_version_is_retired() {
    let Some(pg) = Postgres::start() else { return };
    let dev = DbEnv::start(&pg, "dev", "dev_ok").await;
    // Hooks say where they ran in a file beside the configuration.
    let hooks: String = ["pre_release", "pre_step", "post_release"]
        .iter()
        .map(|at| {
            format!(
                "[[environments.services.hooks]]\nat = \"{at}\"\nrun = [\"sh\", \"-c\", \
                 'echo \"$HELMSMAN_PHASE $HELMSMAN_PREVIOUS_VERSION $HELMSMAN_VERSION\" >> hooks.log']\n"
            )
        })
        .collect();
    let files = files(&dev.toml(&pg, "", &hooks), MIGRATE, EXPAND);
    let (mut serve, load) = serve_with_load(&files, &[&dev]).await;

    let (code, out, err) = run(&files, &release(&["dev"])).await;
    assert_eq!(code, 0, "{out}\n{err}\n{}", pg.log());
    assert_eq!(
        phases_said(&out),
        ["expand passed", "migrate passed", "contract passed"],
        "{out}"
    );
    // Contract only after the release ended with v2 alone serving.
    let stable_at = out.find("v2 is stable now").expect("the release succeeded");
    let contract_at = out.find("contract passed").unwrap();
    assert!(stable_at < contract_at, "{out}");
    // The backfill ran while v2 had its first step's share, no more.
    let migrate_line = out.lines().find(|l| l.contains("migrate passed")).unwrap();
    assert!(migrate_line.contains("20 %"), "{migrate_line}");
    assert_eq!(dev.columns(&pg), "display_name,id");
    assert_eq!(
        pg.psql(&dev.db, "SELECT display_name FROM users WHERE id = 2"),
        "BOB"
    );
    // Before anything moved, before each of the canary's three steps, after it succeeded.
    let said = std::fs::read_to_string(files.config.parent().unwrap().join("hooks.log")).unwrap();
    assert_eq!(
        said,
        "pre_release v1 v2\npre_step v1 v2\npre_step v1 v2\npre_step v1 v2\npost_release v1 v2\n"
    );
    load.none_failed("through expand, migrate, the canary and contract");

    let (code, out, _) = run(&files, &["migrations".into(), "status".into()]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("dev/web") && out.contains("contracted") && out.contains("v1 → v2"),
        "{out}"
    );
    // The report lists each phase with its duration and the end of its output.
    let report: Vec<String> = ["report", "last", "--format", "json"]
        .map(String::from)
        .to_vec();
    let (code, out, _) = run(&files, &report).await;
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let jobs = report["environments"][0]["jobs"].as_array().unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "pre_release hook sh",
            "expand",
            "pre_step hook sh",
            "migrate",
            "pre_step hook sh",
            "pre_step hook sh",
            "post_release hook sh",
            "contract"
        ],
        "{report}"
    );
    assert!(
        jobs.iter()
            .all(|j| j["passed"] == true && j["took"].is_u64()),
        "{report}"
    );
    let markdown: Vec<String> = ["report", "last"].map(String::from).to_vec();
    let (_, out, _) = run(&files, &markdown).await;
    assert!(out.contains("### Migrations and hooks"), "{out}");
    assert!(out.contains("| migrate | passed |"), "{out}");
    load.stop().await;
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backfill_rolls_back_the_traffic_then_runs_down() {
    let Some(pg) = Postgres::start() else { return };
    let dev = DbEnv::start(&pg, "dev", "dev_bad_backfill").await;
    let broken = "UPDATE users SET display_name = (1 / 0)::text;\n";
    let files = files(&dev.toml(&pg, "", ""), broken, EXPAND);
    let (mut serve, load) = serve_with_load(&files, &[&dev]).await;

    let (code, out, err) = run(&files, &release(&["dev"])).await;
    assert_eq!(code, 3, "{out}\n{err}");
    assert_eq!(
        phases_said(&out),
        ["expand passed", "migrate failed", "down passed"],
        "{out}"
    );
    assert!(out.contains("division by zero"), "{out}");
    // The traffic came back before down ran.
    let back_at = out.find("rolled back;").expect("the rollback finished");
    assert!(back_at < out.find("down passed").unwrap(), "{out}");
    assert_eq!(dev.columns(&pg), "id,name");
    load.none_failed("through the failed backfill, the rollback and down");
    let (_, out, _) = run(&files, &["migrations".into(), "status".into()]).await;
    assert!(out.contains("rolled back"), "{out}");
    let markdown: Vec<String> = ["report", "last"].map(String::from).to_vec();
    let (_, out, _) = run(&files, &markdown).await;
    assert!(out.contains("| migrate | FAILED |"), "{out}");
    assert!(
        out.contains("The end of migrate's output:") && out.contains("division by zero"),
        "{out}"
    );
    load.stop().await;
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_expand_refuses_the_release_with_nothing_moved() {
    let Some(pg) = Postgres::start() else { return };
    let dev = DbEnv::start(&pg, "dev", "dev_bad_expand").await;
    let files = files(
        &dev.toml(&pg, "", ""),
        MIGRATE,
        "ALTER TABLE customers ADD COLUMN display_name text;\n",
    );
    let (mut serve, load) = serve_with_load(&files, &[&dev]).await;

    let (code, out, err) = run(&files, &release(&["dev"])).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("dev/web: refused: expand failed in") && err.contains("nothing moved"),
        "{err}"
    );
    assert!(
        err.contains("relation \"customers\" does not exist"),
        "{err}"
    );
    let state: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{}/api/v1/state", dev.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(state["stable_version"], "v1", "{state}");
    assert!(state["new_version"].is_null(), "{state}");
    assert_eq!(dev.columns(&pg), "id,name");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    load.none_failed("around the refused release");
    load.stop().await;
    serve.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_runs_staging_s_set_and_contracts_only_when_a_human_says_so() {
    let Some(pg) = Postgres::start() else { return };
    let staging = DbEnv::start(&pg, "staging", "staging_db").await;
    let prod = DbEnv::start(&pg, "prod", "prod_db").await;
    let text = staging.toml(&pg, "", "") + &prod.toml(&pg, "\"staging\"", "");
    let files = files(&text, MIGRATE, EXPAND);
    let (mut serve, load) = serve_with_load(&files, &[&prod, &staging]).await;

    // The plan shows the phases between and around the traffic steps.
    let plan: Vec<String> = [
        "plan",
        "--env",
        "prod",
        "--service",
        "web",
        "--version",
        "v2",
    ]
    .map(String::from)
    .to_vec();
    let (code, out, err) = run(&files, &plan).await;
    assert_eq!(code, 0, "{out}\n{err}");
    for line in [
        "before: expand: psql",
        "  4. migrate: backfill for the new schema",
        "after: contract: psql",
        "the point of no return (v1 will no longer fit the schema); waits, once v2 alone serves, \
         for `helmsman migrations contract`",
        "on rollback: down: psql",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }

    // Not in staging yet: production refuses before anything runs.
    let (code, _, err) = run(&files, &release(&["prod"])).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("requires web v2 to have succeeded in staging"),
        "{err}"
    );

    let (code, out, err) = run(&files, &release(&["staging"])).await;
    assert_eq!(code, 0, "{out}\n{err}");
    // A set that is not the one staging ran is refused in production.
    let migrate = files.config.parent().unwrap().join("db/migrate.sql");
    std::fs::write(&migrate, format!("{MIGRATE}-- changed after staging\n")).unwrap();
    let (code, _, err) = run(&files, &release(&["prod"])).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("prod/web: refused: its migrations (set ")
            && err.contains("have not completed in staging (it ran set "),
        "{err}"
    );
    assert_eq!(prod.columns(&pg), "id,name");
    std::fs::write(&migrate, MIGRATE).unwrap();
    let (code, out, err) = run(&files, &release(&["prod"])).await;
    assert_eq!(code, 0, "{out}\n{err}");
    // Staging contracted by itself; production waits for a human.
    assert_eq!(staging.columns(&pg), "display_name,id");
    assert_eq!(prod.columns(&pg), "display_name,id,name");
    assert!(
        err.contains("prod/web: contract pending — it is the point of no return"),
        "{err}"
    );
    let (_, status, _) = run(&files, &["migrations".into(), "status".into()]).await;
    assert!(status.contains("contract pending"), "{status}");
    let (_, status, _) = run(&files, &["status".into()]).await;
    assert!(
        status.contains(
            "migrations of prod/web: contract pending (v1 → v2) — the point of no return"
        ),
        "{status}"
    );

    // No terminal to ask on: refused, nothing run.
    let contract: Vec<String> = [
        "migrations",
        "contract",
        "--env",
        "prod",
        "--service",
        "web",
    ]
    .map(String::from)
    .to_vec();
    let (code, _, err) = run(&files, &contract).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("asks for a confirmation"), "{err}");
    assert_eq!(prod.columns(&pg), "display_name,id,name");

    let mut confirmed = contract.clone();
    confirmed.push("--yes".into());
    let (code, out, err) = run(&files, &confirmed).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("contract passed"), "{out}");
    assert_eq!(prod.columns(&pg), "display_name,id");
    load.none_failed("through both releases and the contract");

    // Going back to v1 where the contract ran would break it: refused unless forced.
    let back: Vec<String> = [
        "release",
        "--env",
        "staging",
        "--service",
        "web",
        "--version",
        "v1",
        "--headless",
    ]
    .map(String::from)
    .to_vec();
    let (code, _, err) = run(&files, &back).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("staging/web: refused: the schema no longer fits v1")
            && err.contains("pass --force"),
        "{err}"
    );
    let (code, _, err) = run(&files, &confirmed).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nothing to contract"), "{err}");
    load.stop().await;
    serve.kill().await.unwrap();
}
