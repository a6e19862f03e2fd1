//! `helmsman init` through the real binary, in an empty directory with an
//! empty home: the local starting configuration, the Kubernetes one from a
//! kubeconfig's current context, and the errors that point to init.

use std::path::Path;
use std::process::{Command, Output};

fn helmsman(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helmsman"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("HELMSMAN_STATE_DIR", dir.join("state"))
        .env_remove("HELMSMAN_CONFIG")
        .env_remove("KUBECONFIG")
        .output()
        .expect("the binary runs")
}

/// A command that needs the configuration.
#[rustfmt::skip]
const PLAN: [&str; 7] = ["plan", "--env", "dev", "--service", "web", "--version", "v2"];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn init_writes_a_configuration_that_checks_and_never_replaces_one() {
    let dir = tempfile::tempdir().unwrap();
    // Before: a command that needs a configuration says how to get one.
    let before = helmsman(dir.path(), &PLAN);
    assert_eq!(before.status.code(), Some(2));
    assert!(text(&before.stderr).contains("`helmsman init` writes a commented one"));

    let output = helmsman(dir.path(), &["init"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(out.starts_with("wrote helmsman.toml\n"), "{out}");
    assert!(
        out.contains("helmsman.toml: 1 environment, 1 service"),
        "{out}"
    );
    assert!(!out.contains("kubeconfig"), "{out}");
    let written = std::fs::read_to_string(dir.path().join("helmsman.toml")).unwrap();
    assert!(written.contains("type = \"local\""));

    // What it wrote is what `plan` reads.
    let plan = helmsman(dir.path(), &PLAN);
    assert!(
        text(&plan.stdout).contains("plan: dev/web v1 → v2 with canary"),
        "{plan:?}"
    );

    std::fs::write(dir.path().join("helmsman.toml"), "# mine\n").unwrap();
    let again = helmsman(dir.path(), &["init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("helmsman.toml exists already"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("helmsman.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn with_a_kubeconfig_init_offers_and_writes_its_current_context() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".kube")).unwrap();
    std::fs::write(
        dir.path().join(".kube/config"),
        "apiVersion: v1
kind: Config
current-context: staging-eu
clusters:
- name: eu
  cluster: {server: 'https://127.0.0.1:6443'}
contexts:
- name: staging-eu
  context: {cluster: eu, user: me, namespace: shop}
users:
- name: me
  user: {token: abc}
",
    )
    .unwrap();
    let output = helmsman(dir.path(), &["init"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(
        out.contains("(context staging-eu): `helmsman init --kubernetes --force` writes"),
        "{out}"
    );

    let output = helmsman(dir.path(), &["init", "--kubernetes", "--force"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    assert!(
        out.contains("web  rolling  kubernetes shop, context staging-eu, Deployment web"),
        "{out}"
    );
    let written = std::fs::read_to_string(dir.path().join("helmsman.toml")).unwrap();
    assert!(written.contains("context = \"staging-eu\""), "{written}");
    assert!(written.contains("namespace = \"shop\""), "{written}");
}

#[test]
fn init_without_a_kubeconfig_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let output = helmsman(dir.path(), &["init", "--kubernetes"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no kubeconfig found (KUBECONFIG, ~/.kube/config)"));
    assert!(!dir.path().join("helmsman.toml").exists());
}
