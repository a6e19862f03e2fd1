//! Unit tests of the loader: one per error kind, layering of defaults,
//! secrets, and property tests that no input makes it panic.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::config::model::{Step, Strategy};
use crate::config::test_support::one_local_service;
use crate::strategy::{BlueGreen, Canary, Rolling};

const EXAMPLE: &str = include_str!("../../config.example.toml");

/// One environment, dev, with one valid local service, checkout; tests
/// append or substitute (and count lines in it: see `one_local_service`).
fn base() -> String {
    one_local_service("dev")
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(text: &str) -> Result<Config, ConfigErrors> {
    parse_str(text, Path::new("h.toml"), &no_env)
}

/// (line, col, message) of every error.
fn errors(text: &str) -> Vec<(usize, usize, String)> {
    match load(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => {
            e.0.into_iter()
                .map(|e| (e.line, e.col, e.message))
                .collect()
        }
    }
}

/// The single error of `text`, with its hint.
fn only_error(text: &str) -> ConfigError {
    let errs = load(text).expect_err("expected an error");
    assert_eq!(errs.len(), 1, "{errs}");
    errs.0.into_iter().next().unwrap()
}

fn service(config: &Config) -> &Service {
    &config.environments[0].services[0]
}

#[test]
fn the_example_is_valid_and_uses_every_strategy_its_backends_run() {
    let config = load(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    assert_eq!(config.environments[1].requires, ["dev"]);
    assert_eq!(config.environments[2].requires, ["staging"]);
    let kinds: std::collections::BTreeSet<_> = config
        .environments
        .iter()
        .flat_map(|e| e.services.iter().map(|s| s.strategy.name()))
        .collect();
    // Feature flags need a flag backend, which it does not configure.
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["blue-green", "canary", "rolling"]
    );
}

#[test]
fn a_minimal_service_gets_the_product_defaults() {
    let config = load(&base()).unwrap();
    let s = service(&config);
    assert_eq!(s.analysis, defaults::analysis());
    assert_eq!(s.triggers, defaults::triggers());
    assert_eq!(s.bands, defaults::bands());
    assert_eq!(s.health, defaults::health());
    assert_eq!(
        s.strategy,
        Strategy::Canary(Canary {
            steps: Canary::default().steps
        })
    );
    let Backend::Local(local) = &s.backend else {
        panic!("the first example service is local");
    };
    assert_eq!(local.listen.to_string(), "127.0.0.1:18080");
    assert_eq!(local.versions["v2"].len(), 1);
    assert_eq!(local.error_kind_header, None);
}

#[test]
fn defaults_are_inherited_key_by_key() {
    let base = base();
    let text = format!(
        "[defaults.analysis]\ninterval = \"3s\"\n[defaults.triggers]\np95_latency = {{ threshold = 3.0 }}\n[defaults.bands]\np95_ms = {{ alert = 600 }}\n\n{base}\
         [environments.services.analysis]\nmin_requests = 50\n\
         [environments.services.triggers]\np95_latency = {{ after = \"30s\" }}\n"
    );
    let config = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let s = service(&config);
    assert_eq!(s.analysis.interval, Duration::from_secs(3));
    assert_eq!(s.analysis.min_requests, 50);
    assert_eq!(s.triggers.p95_latency.threshold, 3.0);
    assert_eq!(s.triggers.p95_latency.after, Duration::from_secs(30));
    assert!(s.triggers.p95_latency.enabled);
    assert_eq!(s.bands.p95_ms.alert, 600.0);
    assert_eq!(s.bands.p95_ms.target, 300.0);
}

#[test]
fn strategies_inherit_from_defaults_only_for_the_same_kind() {
    let base = base();
    let text = format!(
        "[defaults.strategy]\nkind = \"blue-green\"\npreview_for = \"2m\"\n\n{base}\
         [environments.services.strategy]\nmanual_switch = true\n\
         [[environments.services]]\nname = \"other\"\nstrategy = \"rolling\"\n\
         [environments.services.backend]\nlisten = \"127.0.0.1:18090\"\nadmin = \"127.0.0.1:19090\"\nstable = \"a\"\nversions = {{ a = [\"127.0.0.1:1\"] }}\n"
    );
    let config = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.environments[0].services[0].strategy,
        Strategy::BlueGreen(BlueGreen {
            smoke_path: "/healthz".into(),
            preview_for: Duration::from_secs(120),
            manual_switch: true,
            scale_down_delay: Duration::from_secs(300),
        })
    );
    assert_eq!(
        config.environments[0].services[1].strategy,
        Strategy::Rolling(Rolling {
            max_surge: 1,
            max_unavailable: 0,
            batch_pause: Duration::from_secs(10),
        })
    );
}

#[test]
fn steps_parse_in_order() {
    let base = base();
    let text = format!(
        "{base}[environments.services.strategy]\nsteps = [{{ weight = 5 }}, {{ pause = \"30s\" }}, {{ analysis = \"1m\" }}, {{ gate = \"manual\" }}, {{ weight = 100 }}]\n"
    );
    let config = load(&text).unwrap();
    assert_eq!(
        service(&config).strategy,
        Strategy::Canary(Canary {
            steps: vec![
                Step::Weight(5),
                Step::Pause(Duration::from_secs(30)),
                Step::Analysis(Duration::from_secs(60)),
                Step::ManualGate,
                Step::Weight(100),
            ]
        })
    );
}

#[test]
fn syntax_errors_have_a_location() {
    let e = only_error("[[environments]]\nname = \"dev\nx = 1\n");
    assert_eq!(e.line, 2);
    assert!(e.message.starts_with("invalid TOML"), "{}", e.message);
    let e = only_error("a = 1\na = 2\n");
    assert_eq!((e.line, e.col), (2, 1));
    assert!(e.message.contains("duplicate key"), "{}", e.message);
}

#[test]
fn unknown_keys_are_reported_at_every_level_with_suggestions() {
    let text = "enviroments = []\n[defaults.analysis]\nintervl = \"1s\"\n".to_string()
        + &base().replace("listen =", "listn = \"127.0.0.1:1\"\nlisten =")
        + "[environments.services.triggers]\nerror_rate = { treshold = 1.0 }\n";
    let errs = load(&text).unwrap_err();
    let found: Vec<_> = errs
        .iter()
        .map(|e| (e.message.as_str(), e.hint.as_deref().unwrap_or("")))
        .collect();
    for (key, suggested) in [
        ("enviroments", "environments"),
        ("intervl", "interval"),
        ("listn", "listen"),
        ("treshold", "threshold"),
    ] {
        assert!(
            found
                .iter()
                .any(|(m, h)| m.contains(&format!("unknown key `{key}`"))
                    && h.contains(&format!("did you mean `{suggested}`?"))),
            "{key}: {errs}"
        );
    }
}

#[test]
fn every_error_is_reported_in_one_run() {
    let text = base()
        .replace("\"127.0.0.1:18080\"", "18080")
        .replace("stable = \"v1\"", "stable = \"v9\"")
        + "[environments.services.analysis]\ninterval = \"soon\"\nmin_requests = 0\n";
    let errs = errors(&text);
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert_eq!(
        errs[0],
        (
            7,
            10,
            "`listen`: expected a string, found an integer".into()
        )
    );
    assert_eq!(errs[1].0, 9);
    assert!(errs[1].2.contains("`v9` is not among `versions`"));
    assert_eq!(errs[2].0, 12);
    assert_eq!(errs[3].0, 13);
}

#[test]
fn weights_must_be_percentages_that_never_go_down() {
    let base = base();
    let steps = |s: &str| format!("{base}[environments.services.strategy]\nsteps = [{s}]\n");
    let e = only_error(&steps("{ weight = 101 }"));
    assert_eq!((e.line, e.col), (12, 21));
    assert!(e.message.contains("outside 0..=100"));
    let e = only_error(&steps(
        "{ weight = 50 }, { pause = \"1s\" }, { weight = 25 }",
    ));
    assert_eq!((e.line, e.col), (12, 56));
    assert_eq!(
        e.message,
        "weight 25% is lower than the 50% of an earlier step (line 12)"
    );
    let e = only_error(&steps("{ weight = 5, pause = \"1s\" }"));
    assert!(
        e.message.contains("both `weight` and `pause`"),
        "{}",
        e.message
    );
    let e = only_error(&steps("{}"));
    assert_eq!(e.message, "empty step");
    let e = only_error(&steps("{ wieght = 5 }"));
    assert_eq!(e.hint.as_deref(), Some("did you mean `weight`?"));
    let e = only_error(&steps("{ gate = \"auto\" }"));
    assert_eq!(e.message, "unknown gate `auto`");
    let e = only_error(&steps(""));
    assert_eq!(e.message, "`steps` is empty");
}

#[test]
fn strategy_kinds_and_kind_specific_keys() {
    let with = |s: &str| format!("{}[environments.services.strategy]\n{s}\n", base());
    let e = only_error(&with("kind = \"canari\""));
    assert_eq!(e.message, "unknown strategy kind `canari`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `canary`?"));
    let e = only_error(&with("kind = \"canary\"\nmax_surge = 2"));
    assert!(e.hint.unwrap().contains("belongs to the rolling strategy"));
    let e = only_error(&with("kind = \"feature-flag\""));
    assert_eq!(
        e.message,
        "missing key `flag` for the feature-flag strategy"
    );
    let e = only_error(&with(
        "kind = \"rolling\"\nmax_surge = 0\nmax_unavailable = 0",
    ));
    assert!(e.message.contains("both 0"));
    let e = only_error(&base().replace("name = \"checkout\"", "name = \"checkout\"\nstrategy = 5"));
    assert!(e.message.contains("expected a string or a table"));
}

#[test]
fn backend_problems() {
    let base = base();
    let e = only_error(&base.replace("listen =", "type = \"lokal\"\nlisten ="));
    assert_eq!(e.message, "unknown backend type `lokal`");
    assert!(e.hint.unwrap().starts_with("did you mean `local`?"));
    let e = only_error(&base.replace("127.0.0.1:19080", "localhost:19080"));
    assert_eq!(
        e.message,
        "`admin`: `localhost:19080` is not a socket address"
    );
    let e = only_error(&base.replace("v2 = [\"127.0.0.1:18281\"]", "v2 = []"));
    assert_eq!(e.message, "version `v2` has no upstreams");
    let e = only_error(&base.replace("admin = \"127.0.0.1:19080\"\n", ""));
    assert_eq!(
        (e.line, e.col, e.message.as_str()),
        (
            6,
            1,
            "missing key `admin` in `[environments.services.backend]`"
        )
    );
    let e = only_error(&base.replace("\"127.0.0.1:19080\"", "\"127.0.0.1:18080\""));
    assert!(
        e.message
            .contains("is already the listen address of `dev/checkout`"),
        "{}",
        e.message
    );
    let errs = errors(&base.replace(
        "[environments.services.backend]",
        "[environments.services.backnd]",
    ));
    assert_eq!(
        errs[0],
        (4, 1, "missing table `backend` in this service".into())
    );
    assert_eq!(
        errs[1],
        (
            6,
            24,
            "unknown key `backnd` in an `[[environments.services]]` table".into()
        )
    );
}

/// One environment with service `web` behind HAProxy, `backend` being
/// the lines of its backend table after `type`.
fn haproxy_service(backend: &str) -> String {
    format!(
        "[[environments]]\nname = \"dev\"\n[[environments.services]]\nname = \"web\"\n\
         [environments.services.backend]\ntype = \"haproxy\"\n{backend}\n"
    )
}

const HAPROXY_VERSIONS: &str = "[environments.services.backend.versions]\n\
                                \"v1\" = [\"web-a1\", \"web-a2\"]\n\"v2\" = [\"web-b1\"]";

#[test]
fn haproxy_backends_are_read_and_their_mistakes_found_where_they_are() {
    let good = haproxy_service(&format!(
        "runtime_api = \"/run/haproxy/admin.sock\"\nbackend = \"web\"\n{HAPROXY_VERSIONS}"
    ));
    let config = load(&good).unwrap_or_else(|e| panic!("{e}"));
    let Backend::HaProxy(h) = &service(&config).backend else {
        panic!("a haproxy backend");
    };
    assert_eq!(h.backend, "web");
    assert_eq!(h.runtime_api.to_string(), "/run/haproxy/admin.sock");
    assert_eq!(h.versions["v1"], ["web-a1", "web-a2"]);
    // Judged on HAProxy's own counters unless Prometheus is configured.
    assert!(matches!(
        service(&config).metrics,
        crate::config::MetricsSource::Local
    ));
    let tcp = load(&good.replace("/run/haproxy/admin.sock", "127.0.0.1:9999")).unwrap();
    assert!(matches!(service(&tcp).backend, Backend::HaProxy(_)));

    let e = only_error(&good.replace("/run/haproxy/admin.sock", "admin.sock"));
    assert_eq!((e.line, e.col), (7, 15));
    assert!(
        e.message.contains("neither an absolute socket path"),
        "{}",
        e.message
    );
    let e = only_error(&good.replace("backend = \"web\"", "backend = \"web shop\""));
    assert_eq!(
        e.message,
        "`backend`: `web shop` is not a name HAProxy allows"
    );
    let e = only_error(&good.replace("[\"web-b1\"]", "[\"web-a2\"]"));
    assert_eq!(
        (e.line, e.message.as_str()),
        (11, "server `web-a2` is already listed for version `v1`")
    );
    let e = only_error(&good.replace("[\"web-b1\"]", "[]"));
    assert_eq!(e.message, "version `v2` has no servers");
    let e = only_error(&good.replace("backend = \"web\"\n", ""));
    assert!(e.message.contains("missing key `backend`"), "{}", e.message);

    // Every strategy a HAProxy backend cannot run is refused, naming those it can.
    let flags =
        format!("{good}[environments.services.strategy]\nkind = \"feature-flag\"\nflag = \"f\"\n");
    let e = only_error(&flags);
    assert_eq!(e.line, 12);
    assert!(e.message.contains("HAProxy backend `web`"), "{}", e.message);
    assert_eq!(
        e.hint.as_deref(),
        Some("choose a strategy HAProxy backend `web` runs: canary, blue-green, rolling")
    );
}

/// One environment with service `web` behind a flag of a flagd file,
/// `extra` the backend's further lines, `strategy` its strategy table's.
fn flagd_service(extra: &str, strategy: &str) -> String {
    format!(
        "[[environments]]\nname = \"dev\"\n[[environments.services]]\nname = \"web\"\n\
         [environments.services.backend]\ntype = \"flagd\"\nflag_file = \"/etc/flagd/flags.json\"\n\
         listen = \"127.0.0.1:18080\"\nadmin = \"127.0.0.1:19080\"\nupstreams = [\"127.0.0.1:18181\"]\n{extra}\n\
         [environments.services.strategy]\n{strategy}\n"
    )
}

#[test]
fn flagd_backends_are_read_and_their_mistakes_found_where_they_are() {
    let flag = "kind = \"feature-flag\"\nflag = \"new-ranking\"";
    let config = load(&flagd_service(
        "beta = { email_domain = \"@example.com\" }",
        flag,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let Backend::Flagd(f) = &service(&config).backend else {
        panic!("a flagd backend");
    };
    assert_eq!(f.flag_file, Path::new("/etc/flagd/flags.json"));
    // Each variant is a version of the data plane, served by every instance.
    assert_eq!(f.plane.stable, "off");
    assert_eq!(f.plane.versions.keys().collect::<Vec<_>>(), ["off", "on"]);
    assert_eq!(f.plane.versions["on"], f.plane.versions["off"]);
    assert_eq!(f.plane.variant_header.as_deref(), Some("x-flag-variant"));
    assert_eq!(
        f.cohort,
        Some(crate::providers::flagd::file::Cohort::EmailDomain(
            "example.com".into()
        ))
    );

    let e = only_error(&flagd_service("variants = [\"off\"]", flag));
    assert_eq!(e.message, "`variants` needs two variants at least");
    let e = only_error(&flagd_service("variants = [\"a\", \"b\", \"a\"]", flag));
    assert_eq!(e.message, "variant `a` is listed twice");
    let e = only_error(&flagd_service("beta = { keys = [] }", flag));
    assert_eq!(e.message, "`beta.keys` is empty");
    let e = only_error(&flagd_service("beta = {}", flag));
    assert_eq!(e.message, "`beta` needs one of `keys` or `email_domain`");
    let e =
        only_error(&flagd_service("", flag).replace("flag_file = \"/etc/flagd/flags.json\"\n", ""));
    assert!(
        e.message.contains("missing key `flag_file`"),
        "{}",
        e.message
    );

    // A flag file moves a flag: a canary cannot run there.
    let e = only_error(&flagd_service("", "kind = \"canary\""));
    assert!(
        e.message
            .contains("the flagd flag file /etc/flagd/flags.json"),
        "{}",
        e.message
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("choose a strategy the flagd flag file /etc/flagd/flags.json runs: feature-flag")
    );
}

#[test]
fn environments_problems() {
    let base = base();
    let e = only_error("[defaults]\n");
    assert_eq!(
        (e.line, e.col, e.message.as_str()),
        (1, 1, "no environments are defined")
    );
    let e = only_error(&format!("{base}[[environments]]\nname = \"dev\"\n"));
    assert_eq!((e.line, e.col), (12, 8));
    assert_eq!(e.message, "duplicate environment `dev`");
    let e = only_error(&format!(
        "{base}[[environments.services]]\nname = \"checkout\"\n[environments.services.backend]\nlisten = \"127.0.0.1:1\"\nadmin = \"127.0.0.1:2\"\nstable = \"a\"\nversions = {{ a = [\"127.0.0.1:3\"] }}\n"
    ));
    assert_eq!(
        e.message,
        "duplicate service `checkout` in environment `dev`"
    );
    let errs = load(&format!(
        "{base}[[environments]]\nname = \"prod\"\nrequires = [\"stagng\", \"dve\"]\n"
    ))
    .unwrap_err();
    assert_eq!(errs.len(), 2);
    assert_eq!((errs.0[0].line, errs.0[0].col), (13, 13));
    assert_eq!(
        errs.0[0].message,
        "`requires` names unknown environment `stagng`"
    );
    assert_eq!(errs.0[1].hint.as_deref(), Some("did you mean `dev`?"));
    let e = only_error(&format!(
        "{base}[[environments]]\nname = \"prod\"\nrequires = [\"prod\"]\n"
    ));
    assert_eq!(e.message, "environment `prod` requires itself");
    let errs = errors(
        &(base.replace("name = \"dev\"", "name = \"dev\"\nrequires = [\"prod\"]")
            + "[[environments]]\nname = \"prod\"\nrequires = [\"dev\"]\n"),
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].2, "`requires` forms a cycle: dev → prod → dev");
    let e = only_error("[[environments]]\nrequires = []\n");
    assert_eq!(e.message, "missing key `name` in this environment");
}

#[test]
fn analysis_triggers_bands_and_health_values() {
    let with = |s: &str| format!("{}{s}\n", base());
    let e = only_error(&with("[environments.services.analysis]\nmin_requests = 0"));
    assert!(e.message.contains("at least 1"));
    let e = only_error(&with("[environments.services.analysis]\ninterval = \"0s\""));
    assert_eq!(e.message, "`interval` must be longer than zero");
    let e = only_error(&with(
        "[environments.services.triggers]\nerror_rate = { threshold = -1 }",
    ));
    assert!(e.message.contains("must not be negative"));
    let e = only_error(&with(
        "[environments.services.bands]\nerror_rate = { alert = 2.0 }",
    ));
    assert_eq!(
        e.message,
        "`bands.error_rate` out of order: target 0.1, alert 2, critical 1"
    );
    let e = only_error(&with(
        "[environments.services.health]\ntimeout = \"1 second\"",
    ));
    assert!(e.message.starts_with("`timeout`:"), "{}", e.message);
    let e = only_error(&with(
        "[environments.services.triggers]\np95_latency = { after = \"2min\" }",
    ));
    assert_eq!(e.message, "`after`: unknown unit `min` in `2min`");
}

#[test]
fn a_trigger_takes_its_own_tolerance_and_the_p95_a_minimum_increase() {
    let base = base();
    let with = |s: &str| format!("{base}[environments.services.triggers]\n{s}\n");
    let text = with("p95_latency = { min_increase = \"80ms\" }\nerror_rate = { tolerance = 0.6 }");
    let config = parse_str(&text, Path::new("h.toml"), &|_| None).unwrap();
    let t = &service(&config).triggers;
    assert_eq!(t.p95_latency.min_increase, Duration::from_millis(80));
    assert_eq!(t.error_rate.tolerance, Some(0.6));
    // The built-in defaults stay where nothing overrides them.
    assert_eq!(t.new_error_kind.tolerance, Some(0.75));
    assert_eq!(t.p95_latency.tolerance, None);
    let e = only_error(&with("error_rate = { tolerance = 1.5 }"));
    assert_eq!(
        e.message,
        "`tolerance` is 1.5, it must be between 0 and 1 (exclusive)"
    );
    // A minimum increase means something for latency only.
    let e = only_error(&with("error_rate = { min_increase = \"50ms\" }"));
    assert!(e.message.contains("min_increase"), "{}", e.message);
}

#[test]
fn secrets_resolve_only_in_headers_and_never_leak() {
    let base = base();
    let text = format!(
        "{base}[environments.services.health]\nheaders = {{ Authorization = \"Bearer ${{API_TOKEN}}\" }}\n"
    );
    let env = |name: &str| (name == "API_TOKEN").then(|| "hunter2-secret".to_string());
    let config = parse_str(&text, Path::new("h.toml"), &env).unwrap();
    let header = &service(&config).health.headers["Authorization"];
    assert_eq!(header.expose(), "Bearer hunter2-secret");
    assert!(!format!("{config:?}").contains("hunter2"));
    assert!(!serde_json::to_string(&config).unwrap().contains("hunter2"));
    assert!(!crate::config::summary(&config).contains("hunter2"));

    let e = only_error(&text);
    assert_eq!(
        e.message,
        "header `Authorization` uses `${API_TOKEN}`, which is not set"
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("export API_TOKEN=… in the environment helmsman runs in")
    );
    assert_eq!((e.line, e.col), (12, 29));

    // `${VAR}` elsewhere is not expanded, and the error says where it is.
    let e = only_error(&base.replace("\"127.0.0.1:18080\"", "\"${LISTEN}\""));
    assert!(e.hint.unwrap().contains("only expanded in secret fields"));

    // Other errors in the same file never show the resolved value.
    let broken = text.replace("stable = \"v1\"", "stable = 1");
    let errs = parse_str(&broken, Path::new("h.toml"), &env).unwrap_err();
    assert!(!errs.to_string().contains("hunter2"));
}

#[test]
fn an_unreadable_file_is_one_error_naming_it() {
    let errs = load_file(Path::new("/nonexistent/helmsman.toml")).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs.0[0].line, 0);
    assert!(
        errs.to_string()
            .starts_with("/nonexistent/helmsman.toml: error: cannot read")
    );
}

/// Mutates `text` by replacing the characters at `at..at+len` with `insert`.
fn mutate(text: &str, at: usize, len: usize, insert: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = at % (chars.len() + 1);
    let end = (at + len).min(chars.len());
    let mut out: String = chars[..at].iter().collect();
    out.push_str(insert);
    out.extend(&chars[end..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        let _ = load(&text);
    }

    #[test]
    fn toml_like_text_never_panics(text in "[\\[\\]{}=\",.a-z0-9_ \\n$-]{0,200}") {
        let _ = load(&text);
    }

    #[test]
    fn mutations_of_the_example_never_panic(
        edits in proptest::collection::vec((any::<usize>(), 0usize..20, "\\PC{0,8}|[\\[\\]{}=\",0-9-]{0,4}"), 1..4)
    ) {
        let mut text = EXAMPLE.to_string();
        for (at, len, insert) in &edits {
            text = mutate(&text, *at, *len, insert);
        }
        if let Err(errs) = load(&text) {
            for e in errs.iter() {
                prop_assert!(e.line >= 1 && e.col >= 1, "{e}");
            }
        }
    }
}

#[test]
fn a_narrowed_configuration_holds_one_service_in_the_environments_released_to() {
    let config = load(EXAMPLE).unwrap();
    let narrowed = config.narrowed_to("checkout", &["staging".to_string()]);
    let names =
        |c: &Config| -> Vec<String> { c.environments.iter().map(|e| e.name.clone()).collect() };
    // Every environment stays, for the checks that name them.
    assert_eq!(names(&narrowed), names(&config));
    let staging = narrowed.environment("staging").unwrap();
    assert_eq!(
        staging.requires,
        config.environment("staging").unwrap().requires
    );
    assert_eq!(staging.services.len(), 1);
    assert_eq!(
        narrowed.service("staging", "checkout").unwrap().strategy,
        config.service("staging", "checkout").unwrap().strategy
    );
    assert!(narrowed.service("dev", "checkout").is_none());
    assert!(narrowed.service("prod", "checkout").is_none());
    assert!(narrowed.service("staging", "catalog").is_none());
}

#[test]
fn notify_targets_are_read_with_their_defaults_and_secret_urls() {
    use crate::config::notify::{NotifyEvent, Sink};
    let text = format!(
        "{}\n[[notify]]\ntype = \"slack\"\nurl = \"${{SLACK_URL}}\"\n\n\
         [[notify]]\nname = \"pager\"\ntype = \"command\"\nrun = [\"page\", \"--team\", \"pay\"]\n\
         events = [\"rolled-back\", \"alert\"]\nenvironments = [\"dev\"]\ntimeout = \"2s\"\nretries = 0\n",
        base()
    );
    let env = |name: &str| {
        (name == "SLACK_URL")
            .then(|| "https://hooks.example.com/services/T1/B2/notify-secret".into())
    };
    let config = parse_str(&text, Path::new("h.toml"), &env).unwrap();
    let [slack, pager] = &config.notify[..] else {
        panic!("{:?}", config.notify)
    };
    assert_eq!(slack.name, "slack");
    assert!(matches!(&slack.sink, Sink::Slack { url } if url.expose().ends_with("notify-secret")));
    assert_eq!(slack.events, NotifyEvent::defaults());
    assert!(slack.environments.is_empty());
    assert_eq!(slack.timeout, Duration::from_secs(5));
    assert_eq!(slack.retries, 3);
    assert_eq!(pager.events, [NotifyEvent::RolledBack, NotifyEvent::Alert]);
    assert!(pager.wants(NotifyEvent::Alert, "dev"));
    assert!(!pager.wants(NotifyEvent::Alert, "prod"));
    assert!(!pager.wants(NotifyEvent::Started, "dev"));
    assert!(!format!("{config:?}").contains("notify-secret"));
    assert!(
        !serde_json::to_string(&config)
            .unwrap()
            .contains("notify-secret")
    );
}

#[test]
fn a_bad_notify_target_is_refused_where_it_is() {
    let with = |table: &str| format!("{}\n[[notify]]\n{table}\n", base());
    let e = only_error(&with("type = \"email\"\nurl = \"https://x.example\""));
    assert_eq!(e.message, "unknown notify type `email`");
    let e = only_error(&with(
        "type = \"webhook\"\nurl = \"https://x.example\"\nevents = [\"succeded\"]",
    ));
    assert_eq!(e.message, "unknown notify event `succeded`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `succeeded`?"));
    let e = only_error(&with(
        "type = \"webhook\"\nurl = \"https://x.example\"\nenvironments = [\"prd\"]",
    ));
    assert_eq!(e.message, "unknown environment `prd` in `environments`");
    let e = only_error(&with("type = \"slack\"\nurl = \"${SLACK_URL}\""));
    assert_eq!(e.message, "`url` uses `${SLACK_URL}`, which is not set");
    // A URL that is not one is refused without being quoted.
    let e = only_error(&with(
        "type = \"webhook\"\nurl = \"ftp://files.example/drop-secret\"",
    ));
    assert_eq!(e.message, "`url` ((redacted)) is not an http(s) URL");
    let e = only_error(&with("type = \"command\""));
    assert_eq!(e.message, "missing key `run` in this command target");
    let e = only_error(&with(
        "type = \"webhook\"\nurl = \"https://x.example\"\nevents = []",
    ));
    assert!(
        e.message.contains("would never hear anything"),
        "{}",
        e.message
    );
    let errs = errors(&format!(
        "{}\n[[notify]]\ntype = \"slack\"\nurl = \"https://a.example\"\n[[notify]]\ntype = \"slack\"\nurl = \"https://b.example\"\n",
        base()
    ));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].2.starts_with("duplicate notify target `slack`"),
        "{errs:?}"
    );
}

const MIGRATIONS_AND_HOOKS: &str = r#"[environments.services.migrations]
expand = ["psql", "-f", "db/expand.sql"]
migrate = ["psql", "-f", "db/migrate.sql"]
contract = ["psql", "-f", "db/contract.sql"]
down = ["psql", "-f", "db/down.sql"]
[[environments.services.hooks]]
at = "pre_step"
run = ["./smoke.sh"]
on_failure = "hold"
[[environments.services.hooks]]
at = "confirm"
url = "https://ci.internal/confirm"
every = "5s"
"#;

#[test]
fn migrations_and_hooks_are_read_and_their_mistakes_found_where_they_are() {
    use crate::config::hooks::{HookAction, HookPoint, OnFailure};
    use crate::config::migrations::{ContractWhen, Phase};

    let good = base() + MIGRATIONS_AND_HOOKS;
    let config = load(&good).unwrap_or_else(|e| panic!("{e}"));
    let s = service(&config);
    let m = s.migrations.as_ref().expect("migrations");
    assert_eq!(
        m.command(Phase::Migrate).unwrap(),
        ["psql", "-f", "db/migrate.sql"]
    );
    assert_eq!(m.timeout, Duration::from_secs(600));
    // Outside production contract follows success; in it a human says when.
    assert_eq!(m.contract_when, ContractWhen::Auto);
    let prod = load(&good.replace("name = \"dev\"", "name = \"prod\"")).unwrap();
    assert_eq!(
        service(&prod).migrations.as_ref().unwrap().contract_when,
        ContractWhen::Confirm
    );
    assert_eq!(s.hooks.len(), 2);
    assert_eq!(
        (s.hooks[0].at, s.hooks[0].on_failure),
        (HookPoint::PreStep, OnFailure::Hold)
    );
    assert_eq!(s.hooks[0].name, "smoke.sh");
    assert_eq!(s.hooks[1].name, "ci.internal");
    assert!(matches!(s.hooks[1].action, HookAction::Http { .. }));
    assert_eq!(s.hooks[1].every, Duration::from_secs(5));
    assert_eq!(s.workdir, Path::new("."));

    let pgroll = base()
        + "[environments.services.migrations]\ntool = \"pgroll\"\nmigration = \"db/42.json\"\n";
    let config = load(&pgroll).unwrap_or_else(|e| panic!("{e}"));
    let m = service(&config).migrations.clone().unwrap();
    assert_eq!(m.expand.unwrap(), ["pgroll", "start", "db/42.json"]);
    assert_eq!(m.contract.unwrap(), ["pgroll", "complete"]);
    assert_eq!(m.down.unwrap(), ["pgroll", "rollback"]);

    let e = only_error(&good.replace("down = [\"psql\", \"-f\", \"db/down.sql\"]\n", ""));
    assert_eq!(
        (e.line, e.message.as_str()),
        (11, "these migrations have no `down`")
    );
    let e = only_error(&good.replace(
        "expand = [\"psql\", \"-f\", \"db/expand.sql\"]",
        "expand = \"psql -f db/expand.sql\"",
    ));
    assert_eq!((e.line, e.col), (12, 10));
    assert_eq!(e.message, "`expand` is an argv array, not a single string");
    let e = only_error(&pgroll.replace("pgroll", "flyway"));
    assert_eq!(e.message, "unknown migration tool `flyway`");
    let e = only_error(&(pgroll.clone() + "expand = [\"x\"]\n"));
    assert_eq!(e.message, "`expand` is written by `tool`");
    let e = only_error(&good.replace("on_failure = \"hold\"", "on_failure = \"hold\"\nat2 = 1"));
    assert_eq!((e.line, e.col), (20, 1));
    let e = only_error(&good.replace(
        "at = \"confirm\"",
        "at = \"confirm\"\non_failure = \"hold\"",
    ));
    assert_eq!(e.message, "a `confirm` hook cannot hold");
    let e = only_error(&good.replace("at = \"pre_step\"", "at = \"pre-step\""));
    assert_eq!(
        (e.line, e.message.as_str()),
        (17, "unknown hook point `pre-step`")
    );
    assert!(
        e.hint.as_deref().unwrap_or("").contains("pre_step"),
        "{e:?}"
    );
    let e = only_error(&good.replace(
        "run = [\"./smoke.sh\"]",
        "run = [\"./smoke.sh\"]\nurl = \"http://x\"",
    ));
    assert_eq!(e.message, "a hook has `run` or `url`, not both");
    let e = only_error(&good.replace("run = [\"./smoke.sh\"]\n", ""));
    assert_eq!(
        (e.line, e.message.as_str()),
        (16, "this hook has neither `run` nor `url`")
    );
}
