//! Every configuration `check-config` accepts can be planned and run by the
//! machine without a panic: generated configurations put extreme values
//! (zero, one millisecond, the 30-day maximum, far past it, numbers at and
//! beyond their ranges) in every duration and number of a canary, a
//! blue-green and a rolling service. Whatever the loader accepts is planned
//! as `helmsman plan` does and driven through the machine, with time
//! jumping from wake to wake and an operator pressing advance now and then.

use proptest::prelude::{Just, ProptestConfig, Strategy as PropStrategy, prop_oneof, proptest};

use super::*;
use crate::config::test_support::{environment, local_backend, service};
use crate::store::History;

/// Mostly durations the loader accepts, the 30-day maximum among them, and
/// now and then one it must refuse, so most cases reach the machine.
fn duration() -> impl PropStrategy<Value = String> {
    prop_oneof![
        6 => Just("1ms".to_string()),
        12 => Just("720h".to_string()),
        6 => Just("719h59m59s".to_string()),
        24 => (1u64..=2_592_000_000).prop_map(|n| format!("{n}ms")),
        1 => Just("0".to_string()),
        1 => Just("720h1ms".to_string()),
        1 => Just("2300000000h".to_string()),
        1 => Just("2562047788015216h".to_string()),
    ]
}

/// Mostly numbers in `range`, its ends among them, and now and then one past them.
fn number(range: std::ops::RangeInclusive<i64>) -> impl PropStrategy<Value = String> {
    let (low, high) = (*range.start(), *range.end());
    prop_oneof![
        6 => Just(low.to_string()),
        6 => Just(high.to_string()),
        24 => range.prop_map(|n| n.to_string()),
        1 => Just((low - 1).to_string()),
        1 => Just((high + 1).to_string()),
        1 => Just(i64::MAX.to_string()),
    ]
}

fn config_text(d: &[String], n: &[String], manual_switch: bool) -> String {
    let prod = environment("prod");
    let canary = service("canary", &local_backend(1, 2, &[3], &[4, 5]));
    let blue_green = service("blue-green", &local_backend(6, 7, &[8], &[9]));
    let rolling = service("rolling", &local_backend(10, 11, &[12, 13], &[14, 15]));
    format!(
        r#"
[defaults.analysis]
interval = "{}"
min_requests = {}
[defaults.triggers]
error_rate = {{ threshold = 5.0, after = "{}" }}
p95_latency = {{ threshold = 2.0, after = "{}" }}
[defaults.health]
interval = "{}"
timeout = "{}"

{prod}{canary}[environments.services.strategy]
kind = "canary"
steps = [{{ weight = {} }}, {{ pause = "{}" }}, {{ analysis = "{}" }}, {{ gate = "manual" }}, {{ weight = 100 }}]

{blue_green}[environments.services.strategy]
kind = "blue-green"
preview_for = "{}"
manual_switch = {manual_switch}
scale_down_delay = "{}"

{rolling}[environments.services.strategy]
kind = "rolling"
max_surge = {}
max_unavailable = {}
batch_pause = "{}"
"#,
        d[0], n[0], d[1], d[2], d[3], d[4], n[1], d[5], d[6], d[7], d[8], n[2], n[3], d[9]
    )
}

/// Runs one service's release through the machine: time jumps to each
/// wake; every fifth step an operator presses advance.
fn drive(service: &config::Service) {
    let mut spec = spec(service.strategy.clone());
    spec.service = service.clone();
    let mut h = Harness::with_spec(spec).start();
    for i in 0..60 {
        if h.r.result().is_some() {
            break;
        }
        if let Some(at) = h.r.next_wake() {
            h.now = h.now.max(at);
        }
        // The world counts as if a second passed since its last read, so
        // month-long waits cost microseconds, not a month of requests.
        h.world.last_read = h.now.checked_sub_signed(chrono::Duration::seconds(1));
        if i % 5 == 4 {
            h.command(CommandKind::Advance);
        }
        h.feed(Input::Tick);
    }
    let _ = h.r.snapshot();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_accepted_configuration_plans_and_runs_without_a_panic(
        durations in proptest::collection::vec(duration(), 10),
        numbers in (number(1..=1_000_000), number(1..=100), number(0..=4), number(1..=4))
            .prop_map(|(a, b, c, d)| vec![a, b, c, d]),
        manual_switch in proptest::bool::ANY,
    ) {
        let text = config_text(&durations, &numbers, manual_switch);
        let Ok(config) = config::parse_str(&text, std::path::Path::new("h.toml"), &|_| None) else {
            return Ok(());
        };
        for service in &config.environments[0].services {
            let plan = crate::pipeline::plan::build(
                "prod",
                &[],
                service,
                "v2",
                None,
                crate::pipeline::plan::Stable::configured(service),
                &History::in_memory(),
            );
            let _ = crate::pipeline::plan::render(&plan);
            drive(service);
        }
    }
}

#[test]
fn the_durations_that_once_panicked_are_refused() {
    for (key, value) in [
        ("batch_pause", "2562047788015216h"),
        ("pause", "2300000000h"),
    ] {
        let mut d: Vec<String> = vec!["1s".into(); 10];
        d[if key == "pause" { 4 } else { 9 }] = value.into();
        let n: Vec<String> = vec!["1".into(); 4];
        let errors = config::parse_str(
            &config_text(&d, &n, false),
            std::path::Path::new("h.toml"),
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            errors.contains("longest duration accepted"),
            "{key}: {errors}"
        );
    }
}
