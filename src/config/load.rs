//! Loading and validating `helmsman.toml`.
//!
//! The file is parsed into a spanned TOML tree and walked against the schema
//! by hand rather than through serde: serde stops at the first problem, but
//! an operator fixing a config wants every problem, each with its
//! `file:line:col` and a hint, in one run.
//!
//! Settings are layered: the built-in defaults (`model::defaults`), then
//! `[defaults]`, then the service's own tables, key by key. A strategy is
//! inherited from `[defaults.strategy]` key by key only when the service keeps
//! the same kind; a service that picks another kind starts from that kind's
//! built-in defaults.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::errors::Errors;
pub use super::errors::{ConfigError, ConfigErrors};
use super::model::{
    Analysis, Backend, Bands, Config, ConnectionLimits, Environment, HealthCheck, LocalBackend,
    Secret, Service, Step, Strategy, Triggers, defaults, is_prod,
};
use super::schema::{
    Span, Table, Value, as_array, as_bool, as_duration, as_int_in, as_integer, as_name,
    as_non_negative, as_path, as_positive_duration, as_socket_addr, as_str, as_table, check_keys,
    get, quoted_list, suggestion,
};
use super::secret::{self, SecretError};
use crate::strategy::{BlueGreen, Canary, FeatureFlag, Rolling};

// The walker's parts, as impl blocks on `Walker`.
mod backend;
mod flagd;
mod haproxy;
mod hooks;
mod kubernetes;
mod metrics;
pub use metrics::METRICS_TYPES;
mod migrations;
mod notify;
mod preflight;
mod settings;
mod strategy;

/// Looks up an environment variable (injected so tests need not touch the
/// process environment).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

const TOP_KEYS: &[&str] = &["defaults", "environments", "notify"];
const DEFAULTS_KEYS: &[&str] = &[
    "analysis", "triggers", "bands", "health", "strategy", "metrics",
];
const ENVIRONMENT_KEYS: &[&str] = &[
    "name",
    "requires",
    "services",
    "checks",
    "gate",
    "watch_after",
];
const SERVICE_KEYS: &[&str] = &[
    "name",
    "backend",
    "strategy",
    "analysis",
    "triggers",
    "bands",
    "health",
    "metrics",
    "checks",
    "migrations",
    "hooks",
];
/// Every `type` a service's backend may have.
pub const BACKEND_TYPES: &[&str] = &["local", "kubernetes", "haproxy", "flagd"];
const LOCAL_BACKEND_KEYS: &[&str] = &[
    "type",
    "listen",
    "admin",
    "stable",
    "versions",
    "error_kind_header",
    "admin_token",
    "header_read_timeout",
    "idle_timeout",
    "max_connections",
];
const STRATEGY_KINDS: &[&str] = &["canary", "blue-green", "rolling", "feature-flag"];
const STEP_KEYS: &[&str] = &["weight", "pause", "analysis", "gate"];
const ANALYSIS_KEYS: &[&str] = &[
    "interval",
    "min_requests",
    "confidence",
    "tolerance",
    "max_failed_reads",
];
const TRIGGER_NAMES: &[&str] = &[
    "error_rate",
    "p95_latency",
    "unhealthy_instances",
    "new_error_kind",
];
const TRIGGER_KEYS: &[&str] = &["threshold", "after", "enabled", "tolerance"];
const P95_TRIGGER_KEYS: &[&str] = &["threshold", "after", "enabled", "tolerance", "min_increase"];
const BAND_NAMES: &[&str] = &["error_rate", "p95_ms"];
const BAND_KEYS: &[&str] = &["target", "alert", "critical"];
const HEALTH_KEYS: &[&str] = &["path", "interval", "timeout", "headers"];

const STEP_FORMS: &str = "a step is one of { weight = 25 }, { pause = \"30s\" }, { analysis = \"1m\" } or { gate = \"manual\" }";

fn strategy_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "canary" => &["kind", "steps"],
        "blue-green" => &[
            "kind",
            "smoke_path",
            "preview_for",
            "manual_switch",
            "scale_down_delay",
        ],
        "rolling" => &["kind", "max_surge", "max_unavailable", "batch_pause"],
        _ => &["kind", "flag", "steps"],
    }
}

/// Reads and validates a configuration file. An unreadable file is a single
/// error naming the path (with line and column 0); a file that is not UTF-8
/// is a single error at its first bad byte.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    load_bytes(path, read_file(path)?)
}

/// The bytes of a configuration file, or the error that names it.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ConfigErrors> {
    std::fs::read(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            message: format!("cannot read {}: {e}", path.display()),
            hint: Some(
                format!(
                    "check the path, or write a starting configuration there with `helmsman init --config {}`",
                    path.display()
                ),
            ),
        }])
    })
}

/// Parses and validates the bytes read from the configuration file `path`.
pub fn load_bytes(path: &Path, bytes: Vec<u8>) -> Result<Config, ConfigErrors> {
    let text = String::from_utf8(bytes).map_err(|e| {
        ConfigErrors(vec![ConfigError::not_utf8(
            path,
            e.as_bytes(),
            &e.utf8_error(),
        )])
    })?;
    parse_str(&text, path, &|name| std::env::var(name).ok())
}

/// Parses and validates configuration text. `source` is the file name used
/// in errors and recorded in the `Config`; `env` resolves `${VAR}` secrets.
pub fn parse_str(text: &str, source: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigErrors> {
    let mut errors = Errors::new(source, text);
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        // The recovered tree is a guess; walking it would pile schema errors
        // on top of the real problem. Report the syntax alone.
        for e in &syntax_errors {
            let span = e.span().unwrap_or(0..0);
            errors.add_hint(
                &span,
                format!("invalid TOML: {}", e.message().trim()),
                "fix the TOML syntax here (config.example.toml shows every section)",
            );
        }
        return Err(errors.finish());
    }
    let config = Walker {
        errors: &mut errors,
        env,
        dir: match source.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        },
        addresses: HashMap::new(),
    }
    .document(document.get_ref(), source);
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            if errors.is_empty() {
                // Every path that yields no config records why; this is a
                // safety net so a bug here can never pass a bad file.
                errors.add(&(0..0), "the configuration could not be loaded");
            }
            Err(errors.finish())
        }
    }
}

/// Settings a service inherits: the built-in defaults overlaid with `[defaults]`.
#[derive(Clone)]
struct Inherited {
    analysis: Analysis,
    triggers: Triggers,
    bands: Bands,
    health: HealthCheck,
    strategy: Option<Strategy>,
    metrics: metrics::MetricsKeys,
}

impl Inherited {
    fn builtin() -> Self {
        Self {
            analysis: defaults::analysis(),
            triggers: defaults::triggers(),
            bands: defaults::bands(),
            health: defaults::health(),
            strategy: None,
            metrics: metrics::MetricsKeys::default(),
        }
    }
}

/// A `requires` entry, checked once every environment is known.
struct Requirement {
    env: usize,
    name: String,
    span: Span,
}

struct Walker<'w, 't> {
    errors: &'w mut Errors<'t>,
    env: EnvLookup<'w>,
    /// The configuration file's directory: where migrations and hooks run.
    dir: PathBuf,
    /// Every listen/admin address seen so far, with who uses it.
    addresses: HashMap<SocketAddr, String>,
}

impl Walker<'_, '_> {
    fn document(&mut self, root: &Table, source: &Path) -> Option<Config> {
        check_keys(self.errors, root, TOP_KEYS, "the top level");
        let inherited = match get(root, "defaults") {
            Some(value) => self.defaults(value),
            None => Inherited::builtin(),
        };

        let no_environments_hint = "add an `[[environments]]` table with a `name` and its `[[environments.services]]` (see config.example.toml)";
        let Some(value) = get(root, "environments") else {
            self.errors
                .add_hint(&(0..0), "no environments are defined", no_environments_hint);
            return None;
        };
        let items = as_array(self.errors, "environments", value)?;
        if items.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "no environments are defined",
                no_environments_hint,
            );
            return None;
        }

        let mut environments = Vec::new();
        let mut names: Vec<(String, Span)> = Vec::new();
        let mut requirements = Vec::new();
        let mut complete = true;
        for item in items {
            let Some(table) = as_table(self.errors, "environments", item) else {
                complete = false;
                continue;
            };
            let index = names.len();
            let name = self.environment_name(table, &item.span(), &names);
            names.push((name.clone().unwrap_or_default(), item.span()));
            let requires = self.requires(table, index, &mut requirements);
            let services = self.services(table, name.as_deref().unwrap_or("?"), &inherited);
            let preflight = self.preflight(table);
            let watch_after = match get(table, "watch_after") {
                None => Some(None),
                Some(v) => as_positive_duration(self.errors, "watch_after", v).map(Some),
            };
            match (name, services, watch_after) {
                (Some(name), Some(services), Some(watch_after)) => environments.push(Environment {
                    name,
                    requires,
                    services,
                    preflight,
                    watch_after,
                }),
                _ => complete = false,
            }
        }
        self.check_requirements(&names, &requirements);
        let notify = match get(root, "notify") {
            Some(value) => {
                let envs: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
                self.notify(value, &envs)
            }
            None => Vec::new(),
        };
        complete.then(|| Config {
            source: source.to_path_buf(),
            environments,
            notify,
        })
    }

    fn defaults(&mut self, value: &Value) -> Inherited {
        let mut inherited = Inherited::builtin();
        let Some(table) = as_table(self.errors, "defaults", value) else {
            return inherited;
        };
        check_keys(self.errors, table, DEFAULTS_KEYS, "`[defaults]`");
        if let Some(v) = get(table, "analysis") {
            self.analysis(v, &mut inherited.analysis);
        }
        if let Some(v) = get(table, "triggers") {
            self.triggers(v, &mut inherited.triggers);
        }
        if let Some(v) = get(table, "bands") {
            self.bands(v, &mut inherited.bands);
        }
        if let Some(v) = get(table, "health") {
            self.health(v, &mut inherited.health);
        }
        if let Some(v) = get(table, "metrics") {
            self.metrics(v, &mut inherited.metrics);
        }
        if let Some(v) = get(table, "strategy") {
            // `flag` is not required here: each feature-flag service names its own.
            inherited.strategy = self.strategy(Some(v), None, &v.span(), false);
        }
        inherited
    }

    fn environment_name(
        &mut self,
        table: &Table,
        span: &Span,
        seen: &[(String, Span)],
    ) -> Option<String> {
        check_keys(
            self.errors,
            table,
            ENVIRONMENT_KEYS,
            "an `[[environments]]` table",
        );
        let Some(value) = get(table, "name") else {
            self.errors.add_hint(
                span,
                "missing key `name` in this environment",
                "add `name = \"staging\"` (environments are promoted through in file order)",
            );
            return None;
        };
        let name = as_name(self.errors, "name", value)?;
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            let line = self.errors.line_of(first);
            self.errors.add_hint(
                &value.span(),
                format!("duplicate environment `{name}`"),
                format!("an environment named `{name}` is already defined on line {line}; rename or merge them"),
            );
            return None;
        }
        Some(name)
    }

    fn requires(
        &mut self,
        table: &Table,
        env: usize,
        requirements: &mut Vec<Requirement>,
    ) -> Vec<String> {
        let Some(value) = get(table, "requires") else {
            return Vec::new();
        };
        let Some(items) = as_array(self.errors, "requires", value) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        for item in items {
            if let Some(name) = as_name(self.errors, "requires", item) {
                requirements.push(Requirement {
                    env,
                    name: name.clone(),
                    span: item.span(),
                });
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// Unknown names, self-references and cycles in `requires`.
    fn check_requirements(&mut self, names: &[(String, Span)], requirements: &[Requirement]) {
        let known: Vec<&str> = names
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        let index_of = |name: &str| names.iter().position(|(n, _)| n == name);
        let mut edges: Vec<Vec<(usize, &Requirement)>> = vec![Vec::new(); names.len()];
        for r in requirements {
            let own = &names[r.env].0;
            if r.name == *own {
                self.errors.add_hint(
                    &r.span,
                    format!("environment `{own}` requires itself"),
                    "remove it from `requires`; list the environments that must succeed first",
                );
            } else if let Some(target) = index_of(&r.name) {
                edges[r.env].push((target, r));
            } else {
                self.errors.add_hint(
                    &r.span,
                    format!("`requires` names unknown environment `{}`", r.name),
                    suggestion(&r.name, &known, "defined environments"),
                );
            }
        }
        // Depth-first search; an edge back to an environment still on the
        // stack closes a cycle, reported once at that `requires` entry.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnStack,
            Done,
        }
        let mut marks = vec![Mark::New; names.len()];
        for start in 0..names.len() {
            if marks[start] != Mark::New {
                continue;
            }
            let mut path = vec![start];
            let mut cursor = vec![0usize];
            marks[start] = Mark::OnStack;
            while let (Some(&node), Some(next)) = (path.last(), cursor.last_mut()) {
                if let Some(&(target, requirement)) = edges[node].get(*next) {
                    *next += 1;
                    match marks[target] {
                        Mark::New => {
                            marks[target] = Mark::OnStack;
                            path.push(target);
                            cursor.push(0);
                        }
                        Mark::OnStack => {
                            let from = path.iter().position(|&n| n == target).unwrap_or(0);
                            let mut cycle: Vec<&str> =
                                path[from..].iter().map(|&n| names[n].0.as_str()).collect();
                            cycle.push(&names[target].0);
                            self.errors.add_hint(
                                &requirement.span,
                                format!("`requires` forms a cycle: {}", cycle.join(" → ")),
                                "a release could never start in any of these environments; remove one of the requirements",
                            );
                        }
                        Mark::Done => {}
                    }
                } else {
                    marks[node] = Mark::Done;
                    path.pop();
                    cursor.pop();
                }
            }
        }
    }

    fn services(
        &mut self,
        table: &Table,
        env_name: &str,
        inherited: &Inherited,
    ) -> Option<Vec<Service>> {
        let Some(value) = get(table, "services") else {
            return Some(Vec::new());
        };
        let items = as_array(self.errors, "services", value)?;
        let mut services = Vec::new();
        let mut seen: Vec<(String, Span)> = Vec::new();
        let mut complete = true;
        for item in items {
            let Some(table) = as_table(self.errors, "services", item) else {
                complete = false;
                continue;
            };
            match self.service(table, &item.span(), env_name, inherited, &mut seen) {
                Some(service) => services.push(service),
                None => complete = false,
            }
        }
        complete.then_some(services)
    }

    fn service(
        &mut self,
        table: &Table,
        span: &Span,
        env_name: &str,
        inherited: &Inherited,
        seen: &mut Vec<(String, Span)>,
    ) -> Option<Service> {
        check_keys(
            self.errors,
            table,
            SERVICE_KEYS,
            "an `[[environments.services]]` table",
        );
        let name = match get(table, "name") {
            None => {
                self.errors.add_hint(
                    span,
                    "missing key `name` in this service",
                    "add `name = \"checkout\"`",
                );
                None
            }
            Some(value) => as_name(self.errors, "name", value).and_then(|name| {
                if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                    let line = self.errors.line_of(first);
                    self.errors.add_hint(
                        &value.span(),
                        format!("duplicate service `{name}` in environment `{env_name}`"),
                        format!("a service named `{name}` is already defined on line {line}"),
                    );
                    None
                } else {
                    seen.push((name.clone(), value.span()));
                    Some(name)
                }
            }),
        };
        let who = format!("{env_name}/{}", name.as_deref().unwrap_or("?"));

        let backend = match get(table, "backend") {
            None => {
                self.errors.add_hint(
                    span,
                    "missing table `backend` in this service",
                    "add `[environments.services.backend]` with type = \"local\", listen, admin, stable and versions",
                );
                None
            }
            Some(value) => self.backend(value, &who),
        };
        let strategy = self.strategy(
            get(table, "strategy"),
            inherited.strategy.as_ref(),
            span,
            true,
        );
        let mut analysis = inherited.analysis.clone();
        let mut triggers = inherited.triggers.clone();
        let mut bands = inherited.bands.clone();
        let mut health = inherited.health.clone();
        if let Some(v) = get(table, "analysis") {
            self.analysis(v, &mut analysis);
        }
        if let Some(v) = get(table, "triggers") {
            self.triggers(v, &mut triggers);
        }
        if let Some(v) = get(table, "bands") {
            self.bands(v, &mut bands);
        }
        if let Some(v) = get(table, "health") {
            self.health(v, &mut health);
        }
        let mut metrics = inherited.metrics.clone();
        let metrics_at = match get(table, "metrics") {
            Some(v) => {
                self.metrics(v, &mut metrics);
                v.span()
            }
            None => span.clone(),
        };
        let metrics = self.metrics_source(&metrics, &metrics_at, &who);
        let strategy_at = get(table, "strategy").map_or(span.clone(), |v| v.span());
        match (&backend, &metrics, &strategy) {
            (Some(Backend::Kubernetes(k)), Some(metrics), Some(strategy)) => self
                .check_kubernetes_service(
                    &k.split,
                    metrics,
                    &metrics_at,
                    strategy,
                    &strategy_at,
                    &who,
                ),
            (
                Some(backend @ (Backend::Local(_) | Backend::HaProxy(_) | Backend::Flagd(_))),
                _,
                Some(strategy),
            ) => {
                self.check_capabilities(backend, strategy, &strategy_at, &who);
            }
            _ => {}
        }
        let migrations = match get(table, "migrations") {
            None => Some(None),
            Some(v) => self.migrations(v, env_name).map(Some),
        };
        let hooks = match get(table, "hooks") {
            None => Some(Vec::new()),
            Some(v) => self.hooks(v, &who),
        };
        Some(Service {
            name: name?,
            backend: backend?,
            strategy: strategy?,
            analysis,
            triggers,
            bands,
            health,
            metrics: metrics?,
            migrations: migrations?,
            hooks: hooks?,
            workdir: self.dir.clone(),
        })
    }

    /// A required key of `table`; a missing one is reported at the table.
    fn required<'t, 'i>(
        &mut self,
        table: &'t Table<'i>,
        table_span: &Span,
        key: &str,
        place: &str,
        hint: &str,
    ) -> Option<&'t Value<'i>> {
        let value = get(table, key);
        if value.is_none() {
            self.errors
                .add_hint(table_span, format!("missing key `{key}` in {place}"), hint);
        }
        value
    }

    /// Whether `name` (a `what`, found at `span`) is the first of its name
    /// in `seen`, which it joins; a second one is reported where it is.
    fn first_of_its_name(
        &mut self,
        seen: &mut Vec<(String, Span)>,
        name: &str,
        span: Span,
        what: &str,
    ) -> bool {
        if let Some((_, first)) = seen.iter().find(|(seen, _)| seen == name) {
            let line = self.errors.line_of(first);
            self.errors.add_hint(
                &span,
                format!("duplicate {what} `{name}`"),
                format!(
                    "a {what} named `{name}` is already defined on line {line}; give one of them another `name`"
                ),
            );
            return false;
        }
        seen.push((name.to_string(), span));
        true
    }

    /// `text`, found at `value`, as a secret: its `${VAR}`s resolved, or each
    /// problem reported as one of `what` ("`token`", "header `Accept`"),
    /// naming the variable but never a value.
    fn resolve_secret(&mut self, what: &str, text: &str, value: &Value) -> Option<Secret> {
        match secret::resolve(text, self.env) {
            Ok(secret) => Some(secret),
            Err(problems) => {
                for problem in problems {
                    match problem {
                        SecretError::Unset(var) => self.errors.add_hint(
                            &value.span(),
                            format!("{what} uses `${{{var}}}`, which is not set"),
                            format!("export {var}=… in the environment helmsman runs in"),
                        ),
                        SecretError::Malformed(message) => self.errors.add_hint(
                            &value.span(),
                            format!("{what}: {message}"),
                            "reference a variable as `${NAME}` (letters, digits and `_`)",
                        ),
                    }
                }
                None
            }
        }
    }

    /// Reads the optional `key` of `table` with `read` into `field`, which
    /// keeps its value (inherited or built in) when the key is absent.
    /// Returns false when the key is there but `read` refused it (having
    /// said why).
    fn optional<T>(
        &mut self,
        table: &Table,
        key: &str,
        read: impl FnOnce(&mut Errors, &str, &Value) -> Option<T>,
        field: &mut T,
    ) -> bool {
        let Some(v) = get(table, key) else {
            return true;
        };
        match read(self.errors, key, v) {
            Some(value) => {
                *field = value;
                true
            }
            None => false,
        }
    }
}

/// A strategy kind with its built-in defaults. A feature flag has no
/// default flag: the empty name is reported as missing by `strategy`.
fn builtin_strategy(kind: &str) -> Strategy {
    match kind {
        "blue-green" => Strategy::BlueGreen(BlueGreen::default()),
        "rolling" => Strategy::Rolling(Rolling::default()),
        "feature-flag" => Strategy::FeatureFlag(FeatureFlag {
            flag: String::new(),
            steps: vec![1, 5, 25, 50, 100]
                .into_iter()
                .map(Step::Weight)
                .collect(),
        }),
        _ => Strategy::Canary(Canary::default()),
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
