//! Reading an environment's gate and preflight checks, and each service's checks.

use super::*;
use crate::config::preflight::{
    CheckKind, CheckSpec, DiskProbe, HostPort, HttpProbe, Preflight, Probe, QuotaProbe, Scope,
    StatusMatch, TlsProbe, defaults as check_defaults,
};

/// Keys every check takes, whatever its type.
const COMMON_KEYS: &[&str] = &["name", "type", "timeout"];

fn type_keys(kind: CheckKind) -> &'static [&'static str] {
    match kind {
        CheckKind::Http => &["url", "expect_status", "headers"],
        CheckKind::Tcp => &["address"],
        CheckKind::Tls => &["address", "server_name", "warn_days", "fail_days"],
        CheckKind::Env => &["names"],
        CheckKind::Command => &["run"],
        CheckKind::Disk => &["path", "warn_free_pct", "fail_free_pct"],
        CheckKind::Quota => &["kubeconfig", "context", "namespace", "warn_pct", "fail_pct"],
    }
}

impl Walker<'_, '_> {
    /// The `gate` and `checks` of an `[[environments]]` table, and the
    /// `checks` of each of its services. Service checks are read here, not
    /// with the service, so the service model the engine runs on knows
    /// nothing of preflight.
    pub(super) fn preflight(&mut self, env: &Table) -> Preflight {
        let mut preflight = Preflight::default();
        if let Some(v) = get(env, "gate") {
            preflight.gate = self.gate(v);
        }
        if let Some(v) = get(env, "checks") {
            self.check_list(v, Scope::Environment, &mut preflight.checks);
        }
        let services = match get(env, "services").map(|v| v.get_ref()) {
            Some(DeValue::Array(items)) => &items[..],
            _ => &[],
        };
        for item in services {
            let DeValue::Table(service) = item.get_ref() else {
                continue;
            };
            let Some(v) = get(service, "checks") else {
                continue;
            };
            // A missing or invalid name is reported with the service itself.
            let name = match get(service, "name").map(|n| n.get_ref()) {
                Some(DeValue::String(name)) => name.to_string(),
                _ => "?".to_string(),
            };
            self.check_list(v, Scope::Service(name), &mut preflight.checks);
        }
        preflight
    }

    fn gate(&mut self, value: &Value) -> Option<CheckSpec> {
        let table = as_table(self.errors, "gate", value)?;
        let check = self.check(table, &value.span(), Scope::Gate)?;
        if !check.kind().can_gate() {
            let span = get(table, "type").map_or(value.span(), |v| v.span());
            self.errors.add_hint(
                &span,
                format!(
                    "a gate is a `command` or `http` check, not `{}`",
                    check.kind()
                ),
                "a gate asks CI (or another system) whether this version may go out; \
                 put other checks in `[[environments.checks]]`",
            );
            return None;
        }
        Some(check)
    }

    fn check_list(&mut self, value: &Value, scope: Scope, into: &mut Vec<CheckSpec>) {
        let Some(items) = as_array(self.errors, "checks", value) else {
            return;
        };
        let mut seen: Vec<(String, Span)> = Vec::new();
        for item in items {
            let Some(table) = as_table(self.errors, "checks", item) else {
                continue;
            };
            let Some(check) = self.check(table, &item.span(), scope.clone()) else {
                continue;
            };
            let span = get(table, "name").map_or(item.span(), |v| v.span());
            if self.first_of_its_name(&mut seen, &check.name, span, "check") {
                into.push(check);
            }
        }
    }

    /// One check table: its type, the keys of that type, name and timeout.
    fn check(&mut self, table: &Table, span: &Span, scope: Scope) -> Option<CheckSpec> {
        let kind = self.check_kind(table, span)?;
        self.check_keys_of(table, kind);
        let timeout = match get(table, "timeout") {
            None => Some(check_defaults::TIMEOUT),
            Some(v) => as_positive_duration(self.errors, "timeout", v),
        };
        let name = match get(table, "name") {
            None => Some(None),
            Some(v) => as_name(self.errors, "name", v).map(Some),
        };
        let probe = match kind {
            CheckKind::Http => self.http_probe(table, span),
            CheckKind::Tcp => self
                .required(
                    table,
                    span,
                    "address",
                    "this tcp check",
                    "add `address = \"db.internal:5432\"`: the host and port to connect to",
                )
                .and_then(|v| self.host_port(v))
                .map(|address| Probe::Tcp { address }),
            CheckKind::Tls => self.tls_probe(table, span),
            CheckKind::Env => self.env_probe(table, span),
            CheckKind::Command => self.command_probe(table, span),
            CheckKind::Disk => self.disk_probe(table, span),
            CheckKind::Quota => self.quota_probe(table, span),
        }?;
        Some(CheckSpec {
            name: name?.unwrap_or_else(|| probe.default_name()),
            scope,
            timeout: timeout?,
            probe,
        })
    }

    fn check_kind(&mut self, table: &Table, span: &Span) -> Option<CheckKind> {
        let names: Vec<&str> = CheckKind::ALL.iter().map(|k| k.name()).collect();
        let Some(value) = get(table, "type") else {
            self.errors.add_hint(
                span,
                "missing key `type` in this check",
                format!(
                    "add `type = \"http\"`; check types: {}",
                    quoted_list(&names)
                ),
            );
            return None;
        };
        let name = as_str(self.errors, "type", value)?;
        let kind = CheckKind::ALL.into_iter().find(|k| k.name() == name);
        if kind.is_none() {
            self.errors.add_hint(
                &value.span(),
                format!("unknown check type `{name}`"),
                suggestion(name, &names, "check types"),
            );
        }
        kind
    }

    /// Unknown keys; a key of another check type says which type takes it.
    fn check_keys_of(&mut self, table: &Table, kind: CheckKind) {
        let allowed: Vec<&str> = COMMON_KEYS.iter().chain(type_keys(kind)).copied().collect();
        for key in table.keys() {
            let key_name = key.get_ref().as_ref();
            if allowed.contains(&key_name) {
                continue;
            }
            let owners: Vec<&str> = CheckKind::ALL
                .into_iter()
                .filter(|k| type_keys(*k).contains(&key_name))
                .map(CheckKind::name)
                .collect();
            let hint = if owners.is_empty() {
                suggestion(key_name, &allowed, "allowed keys here")
            } else {
                format!(
                    "`{key_name}` belongs to a {} check; a {kind} check takes {}",
                    owners.join(" or "),
                    quoted_list(&allowed)
                )
            };
            self.errors.add_hint(
                &key.span(),
                format!("unknown key `{key_name}` in a {kind} check"),
                hint,
            );
        }
    }

    fn http_probe(&mut self, table: &Table, span: &Span) -> Option<Probe> {
        let url = self
            .required(
                table,
                span,
                "url",
                "this http check",
                "add `url = \"https://checkout.internal/healthz\"`: the URL to GET",
            )
            .and_then(|v| self.url(v));
        let expect_status = match get(table, "expect_status") {
            None => Some(vec![check_defaults::EXPECT_STATUS]),
            Some(v) => self.expect_status(v),
        };
        let mut headers = BTreeMap::new();
        if let Some(v) = get(table, "headers") {
            self.headers(v, &mut headers);
        }
        Some(Probe::Http(HttpProbe {
            url: url?,
            expect_status: expect_status?,
            headers,
        }))
    }

    fn url(&mut self, value: &Value) -> Option<String> {
        let text = as_str(self.errors, "url", value)?;
        let parsed = reqwest::Url::parse(text.trim());
        if matches!(&parsed, Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host())
        {
            return Some(text.trim().to_string());
        }
        let hint = if text.contains("${") {
            "`${VAR}` is not expanded in URLs; send a token in `headers = { Authorization = \"Bearer ${TOKEN}\" }`"
        } else {
            "write an http or https URL, e.g. \"https://checkout.internal/healthz\""
        };
        self.errors.add_hint(
            &value.span(),
            format!("`url`: `{text}` is not an http(s) URL"),
            hint,
        );
        None
    }

    /// `200`, `"2xx"`, or an array of them.
    fn expect_status(&mut self, value: &Value) -> Option<Vec<StatusMatch>> {
        let single = std::slice::from_ref(value);
        let items = match value.get_ref() {
            DeValue::Array(items) => &items[..],
            _ => single,
        };
        if items.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "`expect_status` is empty",
                "list the statuses that pass, e.g. [200, 204] or \"2xx\" (the default)",
            );
            return None;
        }
        let hint = "write a status such as 200, a class such as \"2xx\", or an array of them";
        let mut statuses = Vec::new();
        for item in items {
            let status = match item.get_ref() {
                DeValue::Integer(_) => {
                    as_int_in(self.errors, "expect_status", item, 100, 599, hint)
                        .map(|code| StatusMatch::Code(code as u16))
                }
                DeValue::String(text) => {
                    let class = text
                        .strip_suffix("xx")
                        .and_then(|digit| digit.parse::<u16>().ok())
                        .filter(|digit| (1..=5).contains(digit));
                    if class.is_none() {
                        self.errors.add_hint(
                            &item.span(),
                            format!("`expect_status`: `{text}` is not a status class"),
                            hint,
                        );
                    }
                    class.map(StatusMatch::Class)
                }
                other => {
                    self.errors.add_hint(
                        &item.span(),
                        format!(
                            "`expect_status`: expected a status, found {}",
                            crate::config::schema::type_name(other)
                        ),
                        hint,
                    );
                    None
                }
            };
            statuses.push(status);
        }
        statuses.into_iter().collect()
    }

    fn host_port(&mut self, value: &Value) -> Option<HostPort> {
        let text = as_str(self.errors, "address", value)?;
        match HostPort::parse(text.trim()) {
            Ok(address) => Some(address),
            Err(why) => {
                self.errors.add_hint(
                    &value.span(),
                    format!("`address`: `{text}` is not host:port ({why})"),
                    "write a host name or IP address and a port, e.g. \"db.internal:5432\" or \"[::1]:443\"",
                );
                None
            }
        }
    }

    fn tls_probe(&mut self, table: &Table, span: &Span) -> Option<Probe> {
        let address = self
            .required(
                table,
                span,
                "address",
                "this tls check",
                "add `address = \"api.example.com:443\"`: where the TLS server listens",
            )
            .and_then(|v| self.host_port(v));
        let server_name = match get(table, "server_name") {
            None => Some(None),
            Some(v) => as_name(self.errors, "server_name", v).map(Some),
        };
        let hint = "a number of days, e.g. 30 to warn and 7 to fail";
        let mut days = |key: &str, default: u32| match get(table, key) {
            None => Some(default),
            Some(v) => as_int_in(self.errors, key, v, 0, 3650, hint).map(|n| n as u32),
        };
        let warn_days = days("warn_days", check_defaults::TLS_WARN_DAYS);
        let fail_days = days("fail_days", check_defaults::TLS_FAIL_DAYS);
        if let (Some(warn), Some(fail)) = (warn_days, fail_days)
            && fail > warn
        {
            self.out_of_order(table, "fail_days", "warn_days", span);
            return None;
        }
        Some(Probe::Tls(TlsProbe {
            address: address?,
            server_name: server_name?,
            warn_days: warn_days?,
            fail_days: fail_days?,
        }))
    }

    fn env_probe(&mut self, table: &Table, span: &Span) -> Option<Probe> {
        let value = self.required(
            table,
            span,
            "names",
            "this env check",
            "add `names = [\"DATABASE_URL\"]`: the variables that must be set",
        )?;
        let items = as_array(self.errors, "names", value)?;
        if items.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "`names` is empty",
                "list the variables that must be set, e.g. [\"DATABASE_URL\"]",
            );
            return None;
        }
        let mut names = Vec::new();
        for item in items {
            let Some(name) = as_str(self.errors, "names", item) else {
                continue;
            };
            if crate::config::secret::is_var_name(name) {
                names.push(name.to_string());
            } else {
                self.errors.add_hint(
                    &item.span(),
                    format!("`names`: `{name}` is not an environment variable name"),
                    "write the bare name, e.g. \"DATABASE_URL\" (letters, digits and `_`); \
                     only names are checked, values are never read out",
                );
            }
        }
        (names.len() == items.len()).then_some(Probe::Env { names })
    }

    fn command_probe(&mut self, table: &Table, span: &Span) -> Option<Probe> {
        let hint = "write the command as an argv array, e.g. run = [\"sh\", \"-c\", \"curl -fsS http://…\"]";
        let value = self.required(table, span, "run", "this command check", hint)?;
        self.argv("run", value, hint)
            .map(|run| Probe::Command { run })
    }

    /// `run` (or another `key`): a program and its arguments, as an
    /// array of strings (no shell unless it names one).
    pub(super) fn argv(&mut self, key: &str, value: &Value, hint: &str) -> Option<Vec<String>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.errors.add_hint(
                &value.span(),
                format!("`{key}` is an argv array, not a single string"),
                hint,
            );
            return None;
        };
        let run: Vec<String> = items
            .iter()
            .filter_map(|item| as_str(self.errors, key, item).map(str::to_string))
            .collect();
        if run.len() != items.len() {
            return None;
        }
        if run.first().is_none_or(|program| program.trim().is_empty()) {
            self.errors
                .add_hint(&value.span(), format!("`{key}` names no program"), hint);
            return None;
        }
        Some(run)
    }

    fn disk_probe(&mut self, table: &Table, span: &Span) -> Option<Probe> {
        let path = self
            .required(
                table,
                span,
                "path",
                "this disk check",
                "add `path = \"/var/lib/checkout\"`: any path on the filesystem to watch",
            )
            .and_then(|v| {
                let text = as_name(self.errors, "path", v)?;
                let path = std::path::PathBuf::from(&text);
                if path.is_absolute() {
                    return Some(path);
                }
                self.errors.add_hint(
                    &v.span(),
                    format!("`path`: `{text}` is not an absolute path"),
                    "write a path from the root, e.g. \"/var/lib/checkout\" (the working directory of a release varies)",
                );
                None
            });
        let hint = "a percentage of the filesystem's size, 0 to 100";
        let warn = self.percent(
            table,
            "warn_free_pct",
            check_defaults::DISK_WARN_FREE_PCT,
            hint,
        );
        let fail = self.percent(
            table,
            "fail_free_pct",
            check_defaults::DISK_FAIL_FREE_PCT,
            hint,
        );
        if let (Some(warn), Some(fail)) = (warn, fail)
            && fail > warn
        {
            self.out_of_order(table, "fail_free_pct", "warn_free_pct", span);
            return None;
        }
        Some(Probe::Disk(DiskProbe {
            path: path?,
            warn_free_pct: warn?,
            fail_free_pct: fail?,
        }))
    }

    fn quota_probe(&mut self, table: &Table, span: &Span) -> Option<Probe> {
        let mut optional = |key: &str| match get(table, key) {
            None => Some(None),
            Some(v) => as_name(self.errors, key, v).map(Some),
        };
        let kubeconfig = optional("kubeconfig");
        let context = optional("context");
        let namespace = self
            .required(
                table,
                span,
                "namespace",
                "this quota check",
                "add `namespace = \"shop\"`: the namespace whose ResourceQuotas are read",
            )
            .and_then(|v| as_name(self.errors, "namespace", v));
        let hint = "a percentage of a quota's hard limit, 0 to 100";
        let warn = self.percent(table, "warn_pct", check_defaults::QUOTA_WARN_PCT, hint);
        let fail = self.percent(table, "fail_pct", check_defaults::QUOTA_FAIL_PCT, hint);
        if let (Some(warn), Some(fail)) = (warn, fail)
            && fail < warn
        {
            self.out_of_order(table, "fail_pct", "warn_pct", span);
            return None;
        }
        Some(Probe::Quota(QuotaProbe {
            kubeconfig: kubeconfig?,
            context: context?,
            namespace: namespace?,
            warn_pct: warn?,
            fail_pct: fail?,
        }))
    }

    /// A percentage threshold, 0 to 100; `default` when not given.
    fn percent(&mut self, table: &Table, key: &str, default: f64, hint: &str) -> Option<f64> {
        let Some(v) = get(table, key) else {
            return Some(default);
        };
        let pct = as_non_negative(self.errors, key, v)?;
        if pct <= 100.0 {
            return Some(pct);
        }
        self.errors
            .add_hint(&v.span(), format!("`{key}` is {pct}, more than 100"), hint);
        None
    }

    /// A fail threshold set beyond its warn threshold (either may be inherited from the defaults).
    fn out_of_order(&mut self, table: &Table, fail: &str, warn: &str, span: &Span) {
        let at = get(table, fail)
            .or_else(|| get(table, warn))
            .map_or(span.clone(), |v| v.span());
        self.errors.add_hint(
            &at,
            format!("`{fail}` is beyond `{warn}`: the check would fail before it ever warned"),
            format!(
                "`{fail}` must be reached after `{warn}`; change one of them \
                 (values not given here are the defaults)"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::preflight::{HostPort, Probe, Scope, StatusMatch};
    use crate::config::{Config, ConfigError, parse_str};

    /// One environment with one service; the cases add their checks.
    fn config(checks: &str) -> String {
        format!(
            r#"[[environments]]
name = "prod"
{checks}
[[environments.services]]
name = "web"
[environments.services.backend]
listen = "127.0.0.1:18080"
admin = "127.0.0.1:19080"
stable = "v1"
versions = {{ v1 = ["127.0.0.1:18181"] }}
[[environments.services.checks]]
type = "env"
names = ["WEB_SECRET"]
"#
        )
    }

    fn load(text: &str) -> Result<Config, Vec<ConfigError>> {
        let env = |name: &str| (name == "CI_TOKEN").then(|| "s3cret".to_string());
        parse_str(text, Path::new("h.toml"), &env).map_err(|e| e.0)
    }

    /// The errors of `checks` as (line, col, message, hint); line 3 is the first line of `checks`.
    fn errors(checks: &str) -> Vec<(usize, usize, String, String)> {
        load(&config(checks))
            .expect_err("expected errors")
            .into_iter()
            .map(|e| (e.line, e.col, e.message, e.hint.unwrap_or_default()))
            .collect()
    }

    #[test]
    fn gate_environment_and_service_checks_with_their_defaults() {
        let text = config(
            r#"[environments.gate]
type = "http"
url = "https://ci.example.com/api/status"
headers = { Authorization = "Bearer ${CI_TOKEN}" }
[[environments.checks]]
name = "db"
type = "tcp"
address = "db.internal:5432"
timeout = "2s"
[[environments.checks]]
type = "tls"
address = "api.example.com:443"
[[environments.checks]]
type = "disk"
path = "/var/lib"
[[environments.checks]]
type = "command"
run = ["sh", "-c", "exit 0"]
[[environments.checks]]
type = "http"
url = "http://127.0.0.1:8080/healthz"
expect_status = [200, "3xx"]
[[environments.checks]]
type = "quota"
namespace = "shop"
warn_pct = 70"#,
        );
        let config = load(&text).unwrap_or_else(|e| panic!("{e:?}"));
        let preflight = &config.environments[0].preflight;
        let gate = preflight.gate.as_ref().unwrap();
        assert_eq!(gate.scope, Scope::Gate);
        assert_eq!(gate.name, "https://ci.example.com/api/status");
        assert_eq!(gate.timeout, Duration::from_secs(5));
        let Probe::Http(http) = &gate.probe else {
            panic!("{gate:?}")
        };
        assert_eq!(http.expect_status, [StatusMatch::Class(2)]);
        assert_eq!(http.headers["Authorization"].expose(), "Bearer s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(!serde_json::to_string(&config).unwrap().contains("s3cret"));

        let names: Vec<_> = preflight.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "db",
                "api.example.com:443",
                "/var/lib",
                "sh -c exit 0",
                "http://127.0.0.1:8080/healthz",
                "quota shop",
                "WEB_SECRET"
            ]
        );
        assert_eq!(preflight.checks[0].timeout, Duration::from_secs(2));
        assert_eq!(
            preflight.checks[0].probe,
            Probe::Tcp {
                address: HostPort::parse("db.internal:5432").unwrap()
            }
        );
        let Probe::Tls(tls) = &preflight.checks[1].probe else {
            panic!()
        };
        assert_eq!((tls.warn_days, tls.fail_days), (30, 7));
        let Probe::Disk(disk) = &preflight.checks[2].probe else {
            panic!()
        };
        assert_eq!((disk.warn_free_pct, disk.fail_free_pct), (20.0, 10.0));
        let Probe::Http(http) = &preflight.checks[4].probe else {
            panic!()
        };
        assert_eq!(
            http.expect_status,
            [StatusMatch::Code(200), StatusMatch::Class(3)]
        );
        let Probe::Quota(quota) = &preflight.checks[5].probe else {
            panic!()
        };
        assert_eq!((quota.warn_pct, quota.fail_pct), (70.0, 95.0));
        assert_eq!((&quota.context, &quota.kubeconfig), (&None, &None));
        assert_eq!(preflight.checks[6].scope, Scope::Service("web".into()));
    }

    #[test]
    fn invalid_checks_are_located_and_explained() {
        let cases: &[(&str, usize, usize, &str, &str)] = &[
            (
                "[[environments.checks]]\ntype = \"htpp\"\nurl = \"http://x/\"",
                4,
                8,
                "unknown check type `htpp`",
                "did you mean `http`?",
            ),
            (
                "[[environments.checks]]\nurl = \"http://x/\"",
                3,
                1,
                "missing key `type` in this check",
                "check types: `http`, `tcp`",
            ),
            (
                "[[environments.checks]]\ntype = \"http\"",
                3,
                1,
                "missing key `url` in this http check",
                "add `url = ",
            ),
            (
                "[[environments.checks]]\ntype = \"tcp\"\naddress = \"db\"",
                5,
                11,
                "`address`: `db` is not host:port (it has no `:port`)",
                "db.internal:5432",
            ),
            (
                "[[environments.checks]]\ntype = \"tcp\"\naddress = \"db:1\"\nurl = \"http://x/\"",
                6,
                1,
                "unknown key `url` in a tcp check",
                "`url` belongs to a http check",
            ),
            (
                "[environments.gate]\ntype = \"tcp\"\naddress = \"db:1\"",
                4,
                8,
                "a gate is a `command` or `http` check, not `tcp`",
                "[[environments.checks]]",
            ),
            (
                "[[environments.checks]]\ntype = \"tls\"\naddress = \"a:443\"\nfail_days = 40",
                6,
                13,
                "`fail_days` is beyond `warn_days`",
                "defaults",
            ),
            (
                "[[environments.checks]]\ntype = \"quota\"\nnamespace = \"shop\"\nwarn_pct = 99",
                6,
                12,
                "`fail_pct` is beyond `warn_pct`",
                "defaults",
            ),
            (
                "[[environments.checks]]\ntype = \"quota\"\nnamspace = \"shop\"",
                5,
                1,
                "unknown key `namspace` in a quota check",
                "did you mean `namespace`?",
            ),
            (
                "[[environments.checks]]\ntype = \"disk\"\npath = \"var\"",
                5,
                8,
                "`path`: `var` is not an absolute path",
                "/var/lib/checkout",
            ),
            (
                "[[environments.checks]]\ntype = \"command\"\nrun = \"gh run list\"",
                5,
                7,
                "`run` is an argv array, not a single string",
                "run = [\"sh\", \"-c\"",
            ),
            (
                "[[environments.checks]]\ntype = \"env\"\nnames = [\"${DATABASE_URL}\"]",
                5,
                10,
                "`names`: `${DATABASE_URL}` is not an environment variable name",
                "values are never read out",
            ),
            (
                "[[environments.checks]]\ntype = \"http\"\nurl = \"https://x/\"\nexpect_status = \"2oo\"",
                6,
                17,
                "`expect_status`: `2oo` is not a status class",
                "\"2xx\"",
            ),
            (
                "[[environments.checks]]\ntype = \"http\"\nurl = \"https://x/\"\nheaders = { Authorization = \"${NOPE}\" }",
                6,
                29,
                "header `Authorization` uses `${NOPE}`, which is not set",
                "export NOPE",
            ),
            (
                "[[environments.checks]]\ntype = \"env\"\nnames = [\"A\"]\n[[environments.checks]]\ntype = \"env\"\nnames = [\"A\"]",
                6,
                1,
                "duplicate check `A`",
                "already defined on line 3",
            ),
            (
                "[[environments.checks]]\ntype = \"http\"\nurl = \"db:5432\"\ntimeout = \"0s\"",
                5,
                7,
                "`url`: `db:5432` is not an http(s) URL",
                "https://checkout.internal/healthz",
            ),
        ];
        for (checks, line, col, message, hint) in cases {
            let found = errors(checks);
            assert!(
                found.iter().any(|(l, c, m, h)| (l, c) == (line, col)
                    && m.starts_with(message)
                    && h.contains(hint)),
                "expected {line}:{col} `{message}` (hint `{hint}`) for\n{checks}\nfound {found:#?}"
            );
        }
    }
}
