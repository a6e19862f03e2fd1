//! Loading and validating `helmsman.toml`.
//!
//! The file is parsed into a spanned TOML tree and walked against the schema
//! by hand rather than through serde: serde stops at the first problem, but
//! an operator fixing a config wants every problem, each with its
//! `file:line:col` and a hint, in one run.
//!
//! Settings are layered: the built-in defaults (PRODUCT.md), then
//! `[defaults]`, then the service's own tables, key by key. A strategy is
//! inherited from `[defaults.strategy]` key by key only when the service keeps
//! the same kind; a service that picks another kind starts from that kind's
//! built-in defaults.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::errors::Errors;
pub use super::errors::{ConfigError, ConfigErrors};
use super::model::{
    Analysis, Backend, Bands, Config, Environment, HealthCheck, LocalBackend, Service, Step,
    Strategy, Triggers, defaults,
};
use super::schema::{
    Span, Table, Value, as_array, as_bool, as_duration, as_int_in, as_integer, as_name,
    as_non_negative, as_path, as_positive_duration, as_socket_addr, as_str, as_table, check_keys,
    get, quoted_list, suggestion,
};
use super::secret::{self, SecretError};

/// Looks up an environment variable (injected so tests need not touch the
/// process environment).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

const TOP_KEYS: &[&str] = &["defaults", "environments"];
const DEFAULTS_KEYS: &[&str] = &["analysis", "triggers", "bands", "health", "strategy"];
const ENVIRONMENT_KEYS: &[&str] = &["name", "requires", "services"];
const SERVICE_KEYS: &[&str] = &[
    "name", "backend", "strategy", "analysis", "triggers", "bands", "health",
];
const BACKEND_TYPES: &[&str] = &["local"];
const PLANNED_BACKEND_TYPES: &[&str] = &["kubernetes", "haproxy"];
const LOCAL_BACKEND_KEYS: &[&str] = &[
    "type",
    "listen",
    "admin",
    "stable",
    "versions",
    "error_kind_header",
];
const STRATEGY_KINDS: &[&str] = &["canary", "blue-green", "rolling", "feature-flag"];
const STEP_KEYS: &[&str] = &["weight", "pause", "analysis", "gate"];
const ANALYSIS_KEYS: &[&str] = &["interval", "min_requests"];
const TRIGGER_NAMES: &[&str] = &[
    "error_rate",
    "p95_latency",
    "unhealthy_instances",
    "new_error_kind",
];
const TRIGGER_KEYS: &[&str] = &["threshold", "after", "enabled"];
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
/// error naming the path (with line and column 0).
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            message: format!("cannot read {}: {e}", path.display()),
            hint: Some(
                "check the path; to start from the documented example run `cp config.example.toml helmsman.toml`"
                    .to_string(),
            ),
        }])
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
}

impl Inherited {
    fn builtin() -> Self {
        Self {
            analysis: defaults::analysis(),
            triggers: defaults::triggers(),
            bands: defaults::bands(),
            health: defaults::health(),
            strategy: None,
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
            match (name, services) {
                (Some(name), Some(services)) => environments.push(Environment {
                    name,
                    requires,
                    services,
                }),
                _ => complete = false,
            }
        }
        self.check_requirements(&names, &requirements);
        complete.then(|| Config {
            source: source.to_path_buf(),
            environments,
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
        Some(Service {
            name: name?,
            backend: backend?,
            strategy: strategy?,
            analysis,
            triggers,
            bands,
            health,
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

    fn backend(&mut self, value: &Value, who: &str) -> Option<Backend> {
        let table = as_table(self.errors, "backend", value)?;
        let span = value.span();
        if let Some(kind) = get(table, "type") {
            let name = as_str(self.errors, "type", kind)?;
            if PLANNED_BACKEND_TYPES.contains(&name) {
                self.errors.add_hint(
                    &kind.span(),
                    format!("backend type `{name}` is not supported yet"),
                    "only `local` (the embedded data plane) is available now; `kubernetes` and `haproxy` backends are planned",
                );
                return None;
            }
            if !BACKEND_TYPES.contains(&name) {
                let all = ["local", "kubernetes", "haproxy"];
                let hint = match super::schema::closest(name, &all) {
                    Some(c) => format!("did you mean `{c}`? only `local` (the embedded data plane) is available now; `kubernetes` and `haproxy` are planned"),
                    None => "only `local` (the embedded data plane) is available now; `kubernetes` and `haproxy` backends are planned".to_string(),
                };
                self.errors
                    .add_hint(&kind.span(), format!("unknown backend type `{name}`"), hint);
                return None;
            }
        }
        let place = "`[environments.services.backend]`";
        check_keys(self.errors, table, LOCAL_BACKEND_KEYS, place);

        let listen = self
            .required(
                table,
                &span,
                "listen",
                place,
                "add `listen = \"127.0.0.1:18080\"`: where the proxy accepts user traffic",
            )
            .and_then(|v| self.own_address(v, "listen", who));
        let admin = self
            .required(
                table,
                &span,
                "admin",
                place,
                "add `admin = \"127.0.0.1:19080\"`: where /metrics and the control API are served",
            )
            .and_then(|v| self.own_address(v, "admin", who));
        let versions = self
            .required(
                table,
                &span,
                "versions",
                place,
                "add a `[environments.services.backend.versions]` table: \"v1.4.2\" = [\"127.0.0.1:18181\"]",
            )
            .and_then(|v| self.versions(v));
        let stable = self
            .required(
                table,
                &span,
                "stable",
                place,
                "add `stable = \"…\"`: the version serving today, one of `versions`",
            )
            .and_then(|v| {
                let stable = as_name(self.errors, "stable", v)?;
                if let Some(versions) = &versions
                    && !versions.contains_key(&stable)
                {
                    let names: Vec<&str> = versions.keys().map(String::as_str).collect();
                    self.errors.add_hint(
                        &v.span(),
                        format!("`stable` version `{stable}` is not among `versions`"),
                        suggestion(&stable, &names, "known versions"),
                    );
                    return None;
                }
                Some(stable)
            });
        let error_kind_header = match get(table, "error_kind_header") {
            None => Some(None),
            Some(v) => as_name(self.errors, "error_kind_header", v).and_then(|h| {
                if hyper::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    self.errors.add_hint(
                        &v.span(),
                        format!("`error_kind_header`: `{h}` is not a valid HTTP header name"),
                        "write a header name such as \"x-error-kind\"",
                    );
                    return None;
                }
                Some(Some(h))
            }),
        };
        Some(Backend::Local(LocalBackend {
            listen: listen?,
            admin: admin?,
            stable: stable?,
            versions: versions?,
            error_kind_header: error_kind_header?,
        }))
    }

    /// A listen or admin address, which no other service may use.
    fn own_address(&mut self, value: &Value, key: &str, who: &str) -> Option<SocketAddr> {
        let addr = as_socket_addr(self.errors, key, value)?;
        // Port 0 asks the OS for a free port, so it never collides.
        if addr.port() == 0 {
            return Some(addr);
        }
        let user = format!("the {key} address of `{who}`");
        if let Some(first) = self.addresses.get(&addr) {
            self.errors.add_hint(
                &value.span(),
                format!("`{key}` address {addr} is already {first}"),
                "every service needs its own listen and admin ports",
            );
            return None;
        }
        self.addresses.insert(addr, user);
        Some(addr)
    }

    fn versions(&mut self, value: &Value) -> Option<BTreeMap<String, Vec<SocketAddr>>> {
        let table = as_table(self.errors, "versions", value)?;
        if table.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "`versions` is empty",
                "add each version with its upstreams: \"v1.4.2\" = [\"127.0.0.1:18181\"]",
            );
            return None;
        }
        let mut versions = BTreeMap::new();
        let mut complete = true;
        for (key, upstreams) in table.iter() {
            let version = key.get_ref().to_string();
            let Some(items) = as_array(self.errors, &version, upstreams) else {
                complete = false;
                continue;
            };
            if items.is_empty() {
                self.errors.add_hint(
                    &key.span(),
                    format!("version `{version}` has no upstreams"),
                    "list at least one upstream address, e.g. [\"127.0.0.1:18181\"]",
                );
                complete = false;
                continue;
            }
            let mut addrs: Vec<SocketAddr> = Vec::new();
            for item in items {
                match as_socket_addr(self.errors, &version, item) {
                    // Port 0 is "any free port" (the demo fills it in), so it may repeat.
                    Some(addr) if addr.port() != 0 && addrs.contains(&addr) => {
                        self.errors.add_hint(
                            &item.span(),
                            format!("upstream {addr} is listed twice for version `{version}`"),
                            "list each instance once",
                        );
                        complete = false;
                    }
                    Some(addr) => addrs.push(addr),
                    None => complete = false,
                }
            }
            versions.insert(version, addrs);
        }
        complete.then_some(versions)
    }

    /// The strategy of a service (or of `[defaults]`): a bare kind
    /// (`strategy = "rolling"`) or a table. `owner` locates errors about an
    /// inherited strategy; `require_flag` is false only for `[defaults]`.
    fn strategy(
        &mut self,
        value: Option<&Value>,
        inherited: Option<&Strategy>,
        owner: &Span,
        require_flag: bool,
    ) -> Option<Strategy> {
        let base_for = |kind: &str| match inherited {
            Some(s) if s.name() == kind => s.clone(),
            _ => builtin_strategy(kind),
        };
        let (strategy, span) = match value {
            None => (
                inherited
                    .cloned()
                    .unwrap_or_else(|| builtin_strategy("canary")),
                owner.clone(),
            ),
            Some(value) => match value.get_ref() {
                DeValue::String(kind) => (base_for(self.kind(kind, &value.span())?), value.span()),
                DeValue::Table(table) => {
                    let kind = match get(table, "kind") {
                        Some(k) => {
                            let kind = as_str(self.errors, "kind", k)?;
                            self.kind(kind, &k.span())?
                        }
                        None => inherited.map(Strategy::name).unwrap_or("canary"),
                    };
                    let base = base_for(kind);
                    (self.strategy_table(table, base)?, value.span())
                }
                other => {
                    self.errors.add_hint(
                        &value.span(),
                        format!(
                            "`strategy`: expected a string or a table, found {}",
                            super::schema::type_name(other)
                        ),
                        "write `strategy = \"canary\"` or a `[environments.services.strategy]` table",
                    );
                    return None;
                }
            },
        };
        if let Strategy::FeatureFlag { flag, .. } = &strategy
            && require_flag
            && flag.is_empty()
        {
            self.errors.add_hint(
                &span,
                "missing key `flag` for the feature-flag strategy",
                "add `flag = \"new-checkout\"`: the flag whose percentage the release moves",
            );
            return None;
        }
        Some(strategy)
    }

    fn kind(&mut self, kind: &str, span: &Span) -> Option<&'static str> {
        if let Some(k) = STRATEGY_KINDS.iter().find(|k| **k == kind) {
            return Some(k);
        }
        self.errors.add_hint(
            span,
            format!("unknown strategy kind `{kind}`"),
            suggestion(kind, STRATEGY_KINDS, "strategy kinds"),
        );
        None
    }

    /// Overlays the keys of a strategy table on `base` (same kind).
    fn strategy_table(&mut self, table: &Table, mut base: Strategy) -> Option<Strategy> {
        let allowed = strategy_keys(base.name());
        for key in table.keys() {
            let key_name = key.get_ref().as_ref();
            if allowed.contains(&key_name) {
                continue;
            }
            let owner = STRATEGY_KINDS
                .iter()
                .find(|k| strategy_keys(k).contains(&key_name));
            let hint = match owner {
                Some(owner) => format!(
                    "`{key_name}` belongs to the {owner} strategy; a {} strategy takes {}",
                    base.name(),
                    quoted_list(allowed)
                ),
                None => suggestion(key_name, allowed, "allowed keys here"),
            };
            self.errors.add_hint(
                &key.span(),
                format!("unknown key `{key_name}` for a {} strategy", base.name()),
                hint,
            );
        }
        let mut complete = true;
        match &mut base {
            Strategy::Canary { steps } => {
                if let Some(v) = get(table, "steps") {
                    match self.steps(v) {
                        Some(s) => *steps = s,
                        None => complete = false,
                    }
                }
            }
            Strategy::FeatureFlag { flag, steps } => {
                if let Some(v) = get(table, "flag") {
                    match as_name(self.errors, "flag", v) {
                        Some(f) => *flag = f,
                        None => complete = false,
                    }
                }
                if let Some(v) = get(table, "steps") {
                    match self.steps(v) {
                        Some(s) => *steps = s,
                        None => complete = false,
                    }
                }
            }
            Strategy::BlueGreen {
                smoke_path,
                preview_for,
                manual_switch,
                scale_down_delay,
            } => {
                complete &= set(
                    get(table, "smoke_path").map(|v| as_path(self.errors, "smoke_path", v)),
                    smoke_path,
                );
                complete &= set(
                    get(table, "preview_for").map(|v| as_duration(self.errors, "preview_for", v)),
                    preview_for,
                );
                complete &= set(
                    get(table, "manual_switch").map(|v| as_bool(self.errors, "manual_switch", v)),
                    manual_switch,
                );
                complete &= set(
                    get(table, "scale_down_delay")
                        .map(|v| as_duration(self.errors, "scale_down_delay", v)),
                    scale_down_delay,
                );
            }
            Strategy::Rolling {
                max_surge,
                max_unavailable,
                batch_pause,
            } => {
                let count = |errors: &mut Errors, key: &str, v: &Value| {
                    as_int_in(
                        errors,
                        key,
                        v,
                        0,
                        u32::MAX.into(),
                        "use a small whole number of instances, e.g. 1",
                    )
                    .map(|n| n as u32)
                };
                complete &= set(
                    get(table, "max_surge").map(|v| count(self.errors, "max_surge", v)),
                    max_surge,
                );
                complete &= set(
                    get(table, "max_unavailable").map(|v| count(self.errors, "max_unavailable", v)),
                    max_unavailable,
                );
                complete &= set(
                    get(table, "batch_pause").map(|v| as_duration(self.errors, "batch_pause", v)),
                    batch_pause,
                );
                if complete && *max_surge == 0 && *max_unavailable == 0 {
                    let span = get(table, "max_surge")
                        .or_else(|| get(table, "max_unavailable"))
                        .map(|v| v.span())
                        .unwrap_or(0..0);
                    self.errors.add_hint(
                        &span,
                        "`max_surge` and `max_unavailable` are both 0: no instance could ever be replaced",
                        "allow at least one: e.g. max_surge = 1, max_unavailable = 0",
                    );
                    complete = false;
                }
            }
        }
        complete.then_some(base)
    }

    /// Canary or feature-flag steps: each step does one thing, weights are
    /// percentages and never go down (only a rollback lowers them).
    fn steps(&mut self, value: &Value) -> Option<Vec<Step>> {
        let items = as_array(self.errors, "steps", value)?;
        if items.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "`steps` is empty",
                format!("add at least one step; {STEP_FORMS}"),
            );
            return None;
        }
        let mut steps = Vec::new();
        let mut complete = true;
        let mut highest: Option<(u8, Span)> = None;
        for item in items {
            let Some(table) = as_table(self.errors, "steps", item) else {
                complete = false;
                continue;
            };
            check_keys(self.errors, table, STEP_KEYS, "a step");
            let actions: Vec<_> = table
                .iter()
                .filter(|(k, _)| STEP_KEYS.contains(&k.get_ref().as_ref()))
                .collect();
            let (key, v) = match actions.as_slice() {
                [one] => *one,
                [] => {
                    if table.is_empty() {
                        self.errors
                            .add_hint(&item.span(), "empty step", STEP_FORMS.to_string());
                    }
                    complete = false;
                    continue;
                }
                [first, second, ..] => {
                    let (a, b) = if first.0.span().start <= second.0.span().start {
                        (first, second)
                    } else {
                        (second, first)
                    };
                    self.errors.add_hint(
                        &b.0.span(),
                        format!(
                            "a step does one thing, but this one has both `{}` and `{}`",
                            a.0.get_ref(),
                            b.0.get_ref()
                        ),
                        format!("split it into two steps; {STEP_FORMS}"),
                    );
                    complete = false;
                    continue;
                }
            };
            let step = match key.get_ref().as_ref() {
                "weight" => as_int_in(
                    self.errors,
                    "weight",
                    v,
                    0,
                    100,
                    "a weight is the percentage of traffic for the new version, 0 to 100",
                )
                .and_then(|w| {
                    let w = w as u8;
                    if let Some((previous, span)) = &highest
                        && w < *previous
                    {
                        let line = self.errors.line_of(span);
                        self.errors.add_hint(
                            &v.span(),
                            format!("weight {w}% is lower than the {previous}% of an earlier step (line {line})"),
                            "weights only go up during a release; lowering traffic is what a rollback does",
                        );
                        return None;
                    }
                    highest = Some((w, v.span()));
                    Some(Step::Weight(w))
                }),
                "pause" => as_duration(self.errors, "pause", v).map(Step::Pause),
                "analysis" => as_positive_duration(self.errors, "analysis", v).map(Step::Analysis),
                _ => as_str(self.errors, "gate", v).and_then(|gate| {
                    if gate == "manual" {
                        Some(Step::ManualGate)
                    } else {
                        self.errors.add_hint(
                            &v.span(),
                            format!("unknown gate `{gate}`"),
                            "the only gate is \"manual\" (waits for a human); for a metrics gate write { analysis = \"1m\" }",
                        );
                        None
                    }
                }),
            };
            match step {
                Some(step) => steps.push(step),
                None => complete = false,
            }
        }
        complete.then_some(steps)
    }

    fn analysis(&mut self, value: &Value, analysis: &mut Analysis) {
        let Some(table) = as_table(self.errors, "analysis", value) else {
            return;
        };
        check_keys(self.errors, table, ANALYSIS_KEYS, "`analysis`");
        if let Some(v) = get(table, "interval")
            && let Some(d) = as_positive_duration(self.errors, "interval", v)
        {
            analysis.interval = d;
        }
        if let Some(v) = get(table, "min_requests")
            && let Some(n) = as_integer(self.errors, "min_requests", v)
        {
            match u64::try_from(n) {
                Ok(n) if n >= 1 => analysis.min_requests = n,
                _ => self.errors.add_hint(
                    &v.span(),
                    format!("`min_requests` is {n}, it must be at least 1"),
                    "below this many requests a trigger reports \"not enough evidence\" instead of judging; 100 is the default",
                ),
            }
        }
    }

    fn triggers(&mut self, value: &Value, triggers: &mut Triggers) {
        let Some(table) = as_table(self.errors, "triggers", value) else {
            return;
        };
        check_keys(self.errors, table, TRIGGER_NAMES, "`triggers`");
        for (name, trigger) in [
            ("error_rate", &mut triggers.error_rate),
            ("p95_latency", &mut triggers.p95_latency),
            ("unhealthy_instances", &mut triggers.unhealthy_instances),
            ("new_error_kind", &mut triggers.new_error_kind),
        ] {
            let Some(v) = get(table, name) else { continue };
            let Some(t) = as_table(self.errors, name, v) else {
                continue;
            };
            check_keys(self.errors, t, TRIGGER_KEYS, &format!("`triggers.{name}`"));
            if let Some(v) = get(t, "threshold")
                && let Some(x) = as_non_negative(self.errors, "threshold", v)
            {
                trigger.threshold = x;
            }
            if let Some(v) = get(t, "after")
                && let Some(d) = as_duration(self.errors, "after", v)
            {
                trigger.after = d;
            }
            if let Some(v) = get(t, "enabled")
                && let Some(b) = as_bool(self.errors, "enabled", v)
            {
                trigger.enabled = b;
            }
        }
    }

    fn bands(&mut self, value: &Value, bands: &mut Bands) {
        let Some(table) = as_table(self.errors, "bands", value) else {
            return;
        };
        check_keys(self.errors, table, BAND_NAMES, "`bands`");
        for (name, band) in [
            ("error_rate", &mut bands.error_rate),
            ("p95_ms", &mut bands.p95_ms),
        ] {
            let Some(v) = get(table, name) else { continue };
            let Some(t) = as_table(self.errors, name, v) else {
                continue;
            };
            check_keys(self.errors, t, BAND_KEYS, &format!("`bands.{name}`"));
            let mut valid = true;
            for (key, field) in [
                ("target", &mut band.target),
                ("alert", &mut band.alert),
                ("critical", &mut band.critical),
            ] {
                if let Some(v) = get(t, key) {
                    match as_non_negative(self.errors, key, v) {
                        Some(x) => *field = x,
                        None => valid = false,
                    }
                }
            }
            // Checked on the merged band, where this layer touched it, so an
            // override that breaks the inherited order is caught here.
            if valid && !(band.target <= band.alert && band.alert <= band.critical) {
                self.errors.add_hint(
                    &v.span(),
                    format!(
                        "`bands.{name}` out of order: target {}, alert {}, critical {}",
                        band.target, band.alert, band.critical
                    ),
                    "bands must satisfy target ≤ alert ≤ critical (values not given here are inherited)",
                );
            }
        }
    }

    fn health(&mut self, value: &Value, health: &mut HealthCheck) {
        let Some(table) = as_table(self.errors, "health", value) else {
            return;
        };
        check_keys(self.errors, table, HEALTH_KEYS, "`health`");
        if let Some(v) = get(table, "path")
            && let Some(p) = as_path(self.errors, "path", v)
        {
            health.path = p;
        }
        if let Some(v) = get(table, "interval")
            && let Some(d) = as_positive_duration(self.errors, "interval", v)
        {
            health.interval = d;
        }
        if let Some(v) = get(table, "timeout")
            && let Some(d) = as_positive_duration(self.errors, "timeout", v)
        {
            health.timeout = d;
        }
        let Some(v) = get(table, "headers") else {
            return;
        };
        let Some(headers) = as_table(self.errors, "headers", v) else {
            return;
        };
        for (key, v) in headers.iter() {
            let name = key.get_ref().as_ref();
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.errors.add_hint(
                    &key.span(),
                    format!("`{name}` is not a valid HTTP header name"),
                    "write a header name such as \"Authorization\"",
                );
                continue;
            }
            // The value is a secret: messages name the header and the
            // variable, never the text.
            let Some(text) = as_str(self.errors, name, v) else {
                continue;
            };
            match secret::resolve(text, self.env) {
                Ok(secret) => {
                    health.headers.insert(name.to_string(), secret);
                }
                Err(problems) => {
                    for problem in problems {
                        match problem {
                            SecretError::Unset(var) => self.errors.add_hint(
                                &v.span(),
                                format!("header `{name}` uses `${{{var}}}`, which is not set"),
                                format!("export {var}=… in the environment helmsman runs in"),
                            ),
                            SecretError::Malformed(message) => self.errors.add_hint(
                                &v.span(),
                                format!("header `{name}`: {message}"),
                                "reference a variable as `${NAME}` (letters, digits and `_`)",
                            ),
                        }
                    }
                }
            }
        }
    }
}

/// Stores a value read from an optional key; returns false when the key was
/// present but invalid.
fn set<T>(read: Option<Option<T>>, field: &mut T) -> bool {
    match read {
        None => true,
        Some(Some(value)) => {
            *field = value;
            true
        }
        Some(None) => false,
    }
}

/// A strategy kind with the PRODUCT.md defaults. A feature flag has no
/// default flag: the empty name is reported as missing by `strategy`.
fn builtin_strategy(kind: &str) -> Strategy {
    use std::time::Duration;
    match kind {
        "blue-green" => Strategy::BlueGreen {
            smoke_path: "/healthz".to_string(),
            preview_for: Duration::from_secs(30),
            manual_switch: false,
            scale_down_delay: Duration::from_secs(300),
        },
        "rolling" => Strategy::Rolling {
            max_surge: 1,
            max_unavailable: 0,
            batch_pause: Duration::from_secs(10),
        },
        "feature-flag" => Strategy::FeatureFlag {
            flag: String::new(),
            steps: vec![1, 5, 25, 50, 100]
                .into_iter()
                .map(Step::Weight)
                .collect(),
        },
        _ => Strategy::Canary {
            steps: defaults::canary_steps(),
        },
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
