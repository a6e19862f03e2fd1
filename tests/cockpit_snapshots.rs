//! Whole-screen snapshots of the cockpit at 80×24 and 120×40, built from
//! hand-made snapshots at fixed times (no wall clock).

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use helmsman::cli::cockpit::environments_of;
use helmsman::config::defaults;
use helmsman::config::{CheckKind, Scope};
use helmsman::engine::{
    Actor, Event, InstanceCounts, Outcome, Phase, Snapshot, StepTimer, Target, TriggerKind, Verdict,
};
use helmsman::preflight::{CheckOutcome, CheckStatus, Report};
use helmsman::tui::{Cockpit, EnvInfo, HeaderInfo, ServiceInfo, Theme, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn at(s: i64) -> DateTime<Utc> {
    // 2025-01-15 14:00:00 UTC
    DateTime::from_timestamp(1_736_949_600 + s, 0).unwrap()
}

fn service(name: &str, stable: &str) -> ServiceInfo {
    ServiceInfo {
        name: name.into(),
        stable_version: stable.into(),
        strategy: "canary".into(),
        bands: defaults::bands(),
        triggers: defaults::triggers(),
        versions: vec![stable.into()],
        migrations: None,
    }
}

fn steps() -> Vec<String> {
    [
        "set weight 5%",
        "pause 1m",
        "set weight 25%",
        "analysis 2m",
        "manual gate",
        "set weight 100%",
    ]
    .map(String::from)
    .to_vec()
}

fn verdict(
    trigger: TriggerKind,
    outcome: Outcome,
    new: f64,
    base: f64,
    threshold: f64,
    summary: &str,
) -> Verdict {
    Verdict {
        trigger,
        outcome,
        new_value: Some(new),
        baseline_value: Some(base),
        threshold,
        tolerated: Some(threshold / 2.0),
        lower: None,
        upper: None,
        confidence: Some(0.99),
        new_requests: 1240,
        baseline_requests: 3710,
        summary: summary.into(),
    }
}

fn snapshot(env: &str, phase: Phase, step: usize, weight: u8, reason: &str) -> Snapshot {
    Snapshot {
        target: Target {
            env: env.into(),
            service: "checkout".into(),
        },
        release_id: format!("{env}-checkout-1"),
        stable_version: "v1.4.2".into(),
        new_version: "v1.5.0".into(),
        strategy: "canary".into(),
        phase,
        reason: reason.into(),
        step,
        steps: steps().into(),
        desired_weight: weight,
        actual_weight: Some(weight),
        new_error_rate_pct: Some(0.08),
        baseline_error_rate_pct: Some(0.07),
        new_p95_ms: Some(182.0),
        baseline_p95_ms: Some(176.0),
        new_requests: 1240,
        baseline_requests: 3710,
        new_instances: InstanceCounts {
            healthy: 2,
            total: 2,
        },
        stable_instances: InstanceCounts {
            healthy: 4,
            total: 4,
        },
        verdicts: vec![
            verdict(
                TriggerKind::ErrorRate,
                Outcome::Pass,
                0.08,
                0.07,
                5.0,
                "error rate 0.1 % vs baseline 0.1 % over 1 240 requests: +0.0 points, 99 % between -0.6 and +0.5 (limit +5.0, tolerated +2.5)",
            ),
            verdict(
                TriggerKind::P95Latency,
                Outcome::Pass,
                182.0,
                176.0,
                2.0,
                "p95 latency 182 ms vs baseline 176 ms over 1 240 requests: ×1.03, 99 % between ×0.91 and ×1.18 (limit ×2.0, tolerated ×1.50)",
            ),
        ]
        .into(),
        metrics_at: Some(at(-12)),
        provider_error: None,
        started_at: at(-900),
        updated_at: at(-2),
        step_timer: None,
        watching_until: None,
    }
}

#[allow(clippy::too_many_arguments)] // one line per event in the fixtures reads best
fn event(
    env: &str,
    s: i64,
    from: Phase,
    to: Phase,
    step: usize,
    weight: u8,
    reason: &str,
    actor: Actor,
) -> Event {
    Event {
        at: at(s),
        env: env.into(),
        service: "checkout".into(),
        from,
        to,
        step,
        steps: 6,
        weight,
        reason: reason.into(),
        actor,
        verdict: None,
        job: None,
    }
}

fn alice() -> Actor {
    Actor::Operator {
        user: "alice".into(),
        origin: Some("10.1.2.3".into()),
    }
}

/// dev succeeded, staging mid-canary at 25 % with live numbers, prod
/// waiting at a manual gate.
fn progressing(read_only: bool) -> Cockpit {
    let envs = ["dev", "staging", "prod"]
        .iter()
        .map(|e| EnvInfo {
            name: e.to_string(),
            services: vec![service("checkout", "v1.4.2"), service("cart", "v2.1.0")],
        })
        .collect();
    let header = HeaderInfo {
        config_label: "demo".into(),
        operator: alice(),
        host: None,
    };
    let mut c = Cockpit::new(header, envs, read_only);

    let mut dev = snapshot("dev", Phase::Succeeded, 5, 100, "all steps done");
    dev.new_instances = InstanceCounts {
        healthy: 4,
        total: 4,
    };
    c.on_snapshot(dev, at(0));

    // Staging: a history of readings, the latest in the alert band.
    let readings = [
        (0.05, 170.0),
        (0.08, 175.0),
        (0.12, 190.0),
        (0.2, 230.0),
        (0.31, 260.0),
        (0.45, 280.0),
        (0.62, 310.0),
    ];
    for (i, (err, p95)) in readings.iter().enumerate() {
        let mut s = snapshot("staging", Phase::Progressing, 2, 25, "pause 1m: 38s left");
        s.metrics_at = Some(at(-60 + i as i64 * 10));
        s.new_error_rate_pct = Some(*err);
        s.new_p95_ms = Some(*p95);
        s.baseline_error_rate_pct = Some(0.09);
        s.baseline_p95_ms = Some(188.0);
        c.on_snapshot(s, at(-60 + i as i64 * 10));
    }

    let prod = snapshot(
        "prod",
        Phase::WaitingForHuman,
        4,
        25,
        "manual gate: press a to go on",
    );
    c.on_snapshot(prod, at(0));
    for e in [
        event(
            "prod",
            -900,
            Phase::Pending,
            Phase::Progressing,
            0,
            5,
            "preflight passed",
            alice(),
        ),
        event(
            "prod",
            -840,
            Phase::Progressing,
            Phase::Progressing,
            2,
            25,
            "pause 1m done",
            Actor::Engine,
        ),
        event(
            "prod",
            -720,
            Phase::Progressing,
            Phase::Analysing,
            3,
            25,
            "analysis 2m",
            Actor::Engine,
        ),
        event(
            "prod",
            -600,
            Phase::Analysing,
            Phase::WaitingForHuman,
            4,
            25,
            "analysis passed: error rate, p95",
            Actor::Engine,
        ),
    ] {
        c.on_event(e);
    }
    c.tick(at(0));
    c
}

fn rolled_back() -> Cockpit {
    let mut c = progressing(false);
    let mut s = snapshot(
        "staging",
        Phase::RolledBack,
        2,
        0,
        "error rate 7.9 % vs baseline 0.2 % over 1240 requests (limit +5.0 points)",
    );
    s.actual_weight = Some(0);
    s.new_error_rate_pct = Some(7.9);
    s.baseline_error_rate_pct = Some(0.2);
    s.metrics_at = Some(at(5));
    c.on_snapshot(s, at(5));
    c.on_key(key(KeyCode::Right));
    c
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::from(code)
}

fn draw(cockpit: &Cockpit, theme: &Theme, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| render(f, cockpit, theme)).unwrap();
    terminal
}

fn screen(cockpit: &Cockpit, width: u16, height: u16) -> String {
    draw(cockpit, &Theme::colored(), width, height)
        .backend()
        .to_string()
}

#[test]
fn progressing_canary() {
    let mut c = progressing(false);
    insta::assert_snapshot!("progressing_80x24", screen(&c, 80, 24));
    insta::assert_snapshot!("progressing_120x40", screen(&c, 120, 40));
    c.on_key(key(KeyCode::Right));
    insta::assert_snapshot!("staging_selected_80x24", screen(&c, 80, 24));
}

#[test]
fn a_succeeded_release_watched_by_the_host_reads_live_again() {
    let mut c = progressing(false);
    let mut s = snapshot(
        "dev",
        Phase::Succeeded,
        5,
        100,
        "watching until 2025-01-15 14:30:00 UTC: error rate 3.20 % (CRIT), p95 190.00 ms (OK) over 1500 requests in the last 5 minutes",
    );
    s.new_error_rate_pct = Some(3.2);
    s.new_p95_ms = Some(190.0);
    s.metrics_at = Some(at(4));
    s.watching_until = Some(at(1800));
    c.on_snapshot(s, at(5));
    insta::assert_snapshot!("watching_80x24", screen(&c, 80, 24));
}

#[test]
fn rolled_back_with_its_reason() {
    let c = rolled_back();
    insta::assert_snapshot!("rolled_back_80x24", screen(&c, 80, 24));
    insta::assert_snapshot!("rolled_back_120x40", screen(&c, 120, 40));
}

#[test]
fn confirm_modal() {
    let mut c = progressing(false);
    c.on_key(key(KeyCode::Char('l')));
    c.on_key(key(KeyCode::Char('l')));
    c.on_key(key(KeyCode::Char('r')));
    insta::assert_snapshot!("confirm_rollback_prod_80x24", screen(&c, 80, 24));
    c.on_key(key(KeyCode::Esc));
    c.on_key(key(KeyCode::Char('P')));
    insta::assert_snapshot!("confirm_promote_prod_120x40", screen(&c, 120, 40));
}

#[test]
fn help_overlay() {
    let mut c = progressing(false);
    c.on_key(key(KeyCode::Char('?')));
    insta::assert_snapshot!("help_80x24", screen(&c, 80, 24));
    insta::assert_snapshot!("help_120x40", screen(&c, 120, 40));
}

#[test]
fn detail_view() {
    let mut c = progressing(false);
    c.on_key(key(KeyCode::Left));
    c.on_key(key(KeyCode::Enter));
    insta::assert_snapshot!("detail_prod_80x24", screen(&c, 80, 24));
    insta::assert_snapshot!("detail_prod_120x40", screen(&c, 120, 40));
}

#[test]
fn read_only_note() {
    let mut c = progressing(true);
    c.on_key(key(KeyCode::Char('r')));
    insta::assert_snapshot!("read_only_80x24", screen(&c, 80, 24));
}

#[test]
fn too_small_terminal() {
    let c = progressing(false);
    insta::assert_snapshot!("too_small_79x24", screen(&c, 79, 24));
    insta::assert_snapshot!("too_small_60x10", screen(&c, 60, 10));
    // Tiny sizes draw without panicking (0×0 is only drawn: TestBackend
    // itself cannot print a zero-width buffer).
    for (w, h) in [(1, 1), (10, 3), (80, 23), (0, 0)] {
        draw(&c, &Theme::colored(), w, h);
    }
}

#[test]
fn monochrome_uses_no_colour() {
    let c = rolled_back();
    let terminal = draw(&c, &Theme::for_no_color(Some("1")), 80, 24);
    insta::assert_snapshot!("monochrome_80x24", terminal.backend().to_string());
    let coloured = |t: &Terminal<TestBackend>| {
        t.backend()
            .buffer()
            .content()
            .iter()
            .filter(|cell| cell.fg != Color::Reset || cell.bg != Color::Reset)
            .count()
    };
    assert_eq!(coloured(&terminal), 0, "NO_COLOR: no cell has a colour");
    assert!(coloured(&draw(&c, &Theme::colored(), 80, 24)) > 0);
}

fn check(
    name: &str,
    scope: Scope,
    kind: CheckKind,
    status: CheckStatus,
    value: &str,
) -> CheckOutcome {
    CheckOutcome {
        name: name.into(),
        scope,
        kind,
        status,
        value: value.into(),
        duration: std::time::Duration::from_millis(12),
    }
}

/// dev passed its gate and checks, staging's are still running, prod's
/// gate is red and one of its checks fails.
fn with_checks() -> Cockpit {
    let mut c = progressing(false);
    for env in ["dev", "staging", "prod"] {
        c.checks_running(env);
    }
    c.on_preflight(&Report::new(
        "dev".into(),
        vec![
            check(
                "ci",
                Scope::Gate,
                CheckKind::Command,
                CheckStatus::Pass,
                "exit 0: success",
            ),
            check(
                "database",
                Scope::Environment,
                CheckKind::Tcp,
                CheckStatus::Pass,
                "connected to 10.0.0.5:5432 in 2 ms",
            ),
            check(
                "DATABASE_URL",
                Scope::Environment,
                CheckKind::Env,
                CheckStatus::Pass,
                "DATABASE_URL is set",
            ),
        ],
    ));
    c.on_preflight(&Report::new(
        "prod".into(),
        vec![
            check(
                "ci",
                Scope::Gate,
                CheckKind::Command,
                CheckStatus::Fail,
                "exit 1: CI is red",
            ),
            check(
                "database",
                Scope::Environment,
                CheckKind::Tcp,
                CheckStatus::Fail,
                "cannot connect to 10.0.0.5:5432: Connection refused",
            ),
            check(
                "/var/lib",
                Scope::Environment,
                CheckKind::Disk,
                CheckStatus::Warn,
                "12.5 % free (31.6 GiB of 252.0 GiB)",
            ),
            check(
                "api.example.com:443",
                Scope::Environment,
                CheckKind::Tls,
                CheckStatus::Pass,
                "expires in 80 days (CN=api.example.com); trusted",
            ),
            check(
                "https://checkout/healthz",
                Scope::Service("checkout".into()),
                CheckKind::Http,
                CheckStatus::Pass,
                "HTTP 200 in 4 ms",
            ),
        ],
    ));
    c
}

#[test]
fn preflight_checks_and_gates_in_each_column() {
    let c = with_checks();
    insta::assert_snapshot!("checks_80x24", screen(&c, 80, 24));
    insta::assert_snapshot!("checks_120x40", screen(&c, 120, 40));
}

/// staging runs checkout locally, prod in Kubernetes; the columns are
/// built from the configuration as the cockpit builds them, and prod's
/// stable version is what its cluster answered (the stable Deployment's
/// image), as `helmsman tui` reads it when it opens.
fn local_beside_kubernetes() -> Cockpit {
    let text = r#"
[[environments]]
name = "staging"
[[environments.services]]
name = "checkout"
[environments.services.backend]
listen = "127.0.0.1:18080"
admin = "127.0.0.1:19080"
stable = "v1.4.2"
versions = { "v1.4.2" = ["127.0.0.1:18181"], "v1.5.0" = ["127.0.0.1:18281"] }

[[environments]]
name = "prod"
[[environments.services]]
name = "checkout"
[environments.services.backend]
type = "kubernetes"
namespace = "shop"
traffic = "gateway-api"
route = "checkout"
stable_service = "checkout-stable"
canary_service = "checkout-canary"
stable_deployment = "checkout-stable"
canary_deployment = "checkout-canary"
image = "registry.example.com/checkout:{version}"
[environments.services.metrics]
type = "prometheus"
url = "http://127.0.0.1:9090"
requests = 'sum(http_requests_total{version="{version}"})'
errors_by_kind = 'sum by (kind) (http_errors_total{version="{version}"})'
p95_seconds = 'histogram_quantile(0.95, sum by (le) (rate(latency_bucket{version="{version}"}[1m])))'
"#;
    let config = helmsman::config::parse_str(text, std::path::Path::new("h.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let header = HeaderInfo {
        config_label: "helmsman.toml".into(),
        operator: alice(),
        host: None,
    };
    let mut c = Cockpit::new(header, environments_of(&config), false);
    let prod = Target {
        env: "prod".into(),
        service: "checkout".into(),
    };
    c.on_deployed(&prod, "v1.4.2".into());
    c.tick(at(0));
    c
}

#[test]
fn a_kubernetes_environment_shows_like_a_local_one() {
    let mut c = local_beside_kubernetes();
    for env in ["staging", "prod"] {
        c.on_snapshot(
            snapshot(env, Phase::Progressing, 2, 25, "pause 1m: 38s left"),
            at(0),
        );
    }
    insta::assert_snapshot!("kubernetes_beside_local_80x24", screen(&c, 80, 24));
    insta::assert_snapshot!("kubernetes_beside_local_120x40", screen(&c, 120, 40));
}

#[test]
fn a_kubernetes_release_asks_for_the_version_to_release() {
    let mut c = local_beside_kubernetes();
    c.on_key(key(KeyCode::Right));
    c.on_key(key(KeyCode::Char('n')));
    for ch in "v1.5.0".chars() {
        c.on_key(key(KeyCode::Char(ch)));
    }
    insta::assert_snapshot!("kubernetes_version_input_80x24", screen(&c, 80, 24));
    c.on_key(key(KeyCode::Enter));
    insta::assert_snapshot!("kubernetes_release_confirm_80x24", screen(&c, 80, 24));
}

/// A key press `n` times.
fn press(c: &mut Cockpit, code: KeyCode, n: usize) {
    for _ in 0..n {
        c.on_key(key(code));
    }
}

#[test]
fn help_overlay_scrolls_to_quit_and_the_legend_at_80x24() {
    let mut c = progressing(false);
    c.on_key(key(KeyCode::Char('?')));
    // Drawn once, as a person sees it before scrolling.
    let top = screen(&c, 80, 24);
    assert!(top.contains("▼"), "{top}");
    press(&mut c, KeyCode::PageDown, 5);
    let end = screen(&c, 80, 24);
    insta::assert_snapshot!("help_80x24_end", end);
    assert!(end.contains("q Ctrl-C") && end.contains("phases:"), "{end}");
}

/// prod/checkout in a longer canary: ten steps, four verdicts.
fn long_release() -> Cockpit {
    let mut c = progressing(false);
    c.on_snapshot(long_snapshot(), at(0));
    c.on_key(key(KeyCode::Left));
    c
}

/// prod/checkout 38 s before the end of a 1m30s pause at step 8 of 10.
fn long_snapshot() -> Snapshot {
    let mut s = snapshot(
        "prod",
        Phase::Progressing,
        7,
        50,
        "step 8 of 10: pause 1m30s",
    );
    s.steps = [
        "prepare v1.5.0 (no user traffic)",
        "set weight 5%",
        "manual gate",
        "set weight 25%",
        "pause 30s",
        "manual gate",
        "set weight 50%",
        "pause 1m30s",
        "set weight 100%",
        "finish: v1.5.0 becomes stable",
    ]
    .map(String::from)
    .into();
    s.step_timer = Some(StepTimer {
        left: std::time::Duration::from_secs(38),
        running: true,
    });
    s.updated_at = at(0);
    let mut verdicts = s.verdicts.to_vec();
    verdicts.push(verdict(
        TriggerKind::UnhealthyInstances,
        Outcome::Pass,
        0.0,
        0.0,
        10.0,
        "0 of 2 new instances failing health checks (limit 10 %)",
    ));
    verdicts.push(verdict(
        TriggerKind::NewErrorKind,
        Outcome::NotEnoughEvidence,
        0.0,
        0.0,
        1.0,
        "no new error kind yet; 1 240 requests, 5 min window not over",
    ));
    s.verdicts = verdicts.into();
    s
}

#[test]
fn detail_view_scrolls_to_every_step_verdict_and_event_at_80x24() {
    let mut c = long_release();
    c.on_key(key(KeyCode::Enter));
    let top = screen(&c, 80, 24);
    insta::assert_snapshot!("detail_long_80x24", top);
    // One page moves as far as there is (no further: a key up moves at once).
    press(&mut c, KeyCode::PageDown, 3);
    let end = screen(&c, 80, 24);
    insta::assert_snapshot!("detail_long_80x24_end", end);
    assert!(end.contains("preflight passed"), "the oldest event: {end}");
    insta::assert_snapshot!("detail_long_120x40", {
        c.on_key(key(KeyCode::Esc));
        c.on_key(key(KeyCode::Enter));
        screen(&c, 120, 40)
    });
}

#[test]
fn a_timed_pause_shows_its_countdown_in_the_column() {
    let mut c = long_release();
    c.on_key(key(KeyCode::Right));
    insta::assert_snapshot!("countdown_80x24", screen(&c, 80, 24));
    c.tick(at(30));
    let later = screen(&c, 80, 24);
    assert!(later.contains("canary 8/10 · 8s left"), "{later}");
    // Paused: the clock stands, and the detail view says so.
    let mut paused = long_snapshot();
    paused.phase = Phase::Paused;
    paused.step_timer = Some(StepTimer {
        left: std::time::Duration::from_secs(38),
        running: false,
    });
    c.on_snapshot(paused, at(30));
    let screen80 = screen(&c, 80, 24);
    assert!(screen80.contains("canary 8/10 · 38s left"), "{screen80}");
    c.on_key(key(KeyCode::Left));
    c.on_key(key(KeyCode::Enter));
    let detail = screen(&c, 80, 24);
    assert!(
        detail.contains("▶ 8 pause 1m30s — 38s left, stopped"),
        "{detail}"
    );
}

/// prod promoted from 25 %: the engine's last traffic read was before the
/// promote, and nothing is read after the release has finished.
#[test]
fn a_promoted_release_shows_what_it_verified_not_stale_readings() {
    let mut c = progressing(false);
    let mut s = snapshot(
        "prod",
        Phase::Succeeded,
        5,
        100,
        "v1.5.0 is stable now (v1.4.2 retired)",
    );
    s.actual_weight = Some(25);
    s.metrics_at = Some(at(-200));
    c.on_snapshot(s, at(0));
    c.tick(at(0));
    let screen80 = screen(&c, 80, 24);
    insta::assert_snapshot!("promoted_80x24", screen80);
    insta::assert_snapshot!("promoted_120x40", screen(&c, 120, 40));
    let prod: String = screen80
        .lines()
        .filter_map(|l| l.split('┃').nth(1))
        .collect();
    assert!(!prod.contains("STALE"), "{screen80}");
    assert!(!prod.contains("actual 25%"), "{screen80}");
    assert!(prod.contains("traffic 100% · finished"), "{screen80}");
}

#[test]
fn the_demo_says_what_it_assumes_in_each_column() {
    let mut c = progressing(false);
    c.set_env_note("staging", "needs dev: assumed ✓".into());
    c.set_env_note("prod", "needs staging: assumed ✓".into());
    insta::assert_snapshot!("demo_assumptions_80x24", screen(&c, 80, 24));
}

/// prod/checkout has migrations: its release succeeded and the contract
/// waits for a human; staging's ran by itself.
#[test]
fn the_migration_phase_of_each_service_and_a_pending_contract() {
    let migrations = |phase: &str, contract_waits| {
        Some(helmsman::tui::MigrationsInfo {
            phase: phase.into(),
            contract_waits,
        })
    };
    let envs = [("staging", "contracted", false), ("prod", "migrated", true)]
        .iter()
        .map(|(env, phase, waits)| EnvInfo {
            name: env.to_string(),
            services: vec![ServiceInfo {
                migrations: migrations(phase, *waits),
                ..service("checkout", "v1.4.2")
            }],
        })
        .collect();
    let header = HeaderInfo {
        config_label: "helmsman.toml".into(),
        operator: alice(),
        host: None,
    };
    let mut c = Cockpit::new(header, envs, false);
    // prod's release reaches its end: the contract is pending now.
    c.on_event(event(
        "prod",
        0,
        Phase::Promoting,
        Phase::Succeeded,
        5,
        100,
        "v1.5.0 is stable now (v1.4.2 retired)",
        Actor::Engine,
    ));
    c.on_key(key(KeyCode::Right));
    insta::assert_snapshot!(screen(&c, 100, 24));
    // `C` asks before the point of no return.
    c.on_key(key(KeyCode::Char('C')));
    insta::assert_snapshot!("contract_asked", screen(&c, 100, 24));
}
