//! Preflight checks and the quality gate of an environment, as configured
//! (validated by `load/preflight.rs`, run by `crate::preflight`).
//!
//! ```toml
//! [environments.gate]                  # must pass before any release starts here
//! type = "command"                     # or "http"
//! run = ["gh", "run", "list", "--limit", "1", "--json", "conclusion", "-q", ".[0].conclusion"]
//!
//! [[environments.checks]]              # the environment's own checks
//! type = "tcp"
//! address = "db.internal:5432"
//!
//! [[environments.services.checks]]     # checks run for releases of one service
//! type = "http"
//! url = "https://checkout.internal/healthz"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::model::Secret;

/// The checks of one environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Preflight {
    /// Must pass before any release starts in the environment.
    pub gate: Option<CheckSpec>,
    /// The environment's own checks, then each service's, in file order.
    pub checks: Vec<CheckSpec>,
}

impl Preflight {
    pub fn is_empty(&self) -> bool {
        self.gate.is_none() && self.checks.is_empty()
    }

    /// Every check, the gate first: what `helmsman validate` and the cockpit run.
    pub fn all(&self) -> impl Iterator<Item = &CheckSpec> {
        self.gate.iter().chain(&self.checks)
    }

    /// What must pass before `service` is released: the gate, the
    /// environment's own checks and that service's.
    pub fn for_release<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a CheckSpec> {
        self.all().filter(move |check| match &check.scope {
            Scope::Service(name) => name == service,
            Scope::Gate | Scope::Environment => true,
        })
    }
}

/// Whose check it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "scope", content = "service", rename_all = "kebab-case")]
pub enum Scope {
    /// The environment's quality gate.
    Gate,
    /// One of `[[environments.checks]]`.
    Environment,
    /// One of `[[environments.services.checks]]`, run for releases of that service.
    Service(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Gate => f.write_str("gate"),
            Scope::Environment => f.write_str("environment"),
            Scope::Service(name) => f.write_str(name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckSpec {
    /// Unique within its scope; defaults to what it checks (URL, address, path…).
    pub name: String,
    #[serde(flatten)]
    pub scope: Scope,
    /// A check still running after this fails (a command is killed).
    pub timeout: Duration,
    #[serde(flatten)]
    pub probe: Probe,
}

impl CheckSpec {
    pub fn kind(&self) -> CheckKind {
        self.probe.kind()
    }
}

/// What a check looks at, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Probe {
    /// A GET that must answer an expected status; an
    /// `application/health+json` answer's `status` says pass, warn or fail.
    Http(HttpProbe),
    /// A TCP connection that must open.
    Tcp { address: HostPort },
    /// Days until the presented certificates expire.
    Tls(TlsProbe),
    /// Environment variables that must be set and not empty (names only).
    Env { names: Vec<String> },
    /// A command (argv) that must exit 0.
    Command { run: Vec<String> },
    /// Free space on the filesystem holding a path.
    Disk(DiskProbe),
    /// How much of a namespace's Kubernetes ResourceQuotas is used.
    Quota(QuotaProbe),
}

impl Probe {
    pub fn kind(&self) -> CheckKind {
        match self {
            Probe::Http(_) => CheckKind::Http,
            Probe::Tcp { .. } => CheckKind::Tcp,
            Probe::Tls(_) => CheckKind::Tls,
            Probe::Env { .. } => CheckKind::Env,
            Probe::Command { .. } => CheckKind::Command,
            Probe::Disk(_) => CheckKind::Disk,
            Probe::Quota(_) => CheckKind::Quota,
        }
    }

    /// The name a check gets when it is given none: what it looks at.
    pub fn default_name(&self) -> String {
        match self {
            Probe::Http(http) => http.url.clone(),
            Probe::Tcp { address } => address.to_string(),
            Probe::Tls(tls) => tls.address.to_string(),
            Probe::Env { names } => names.join(", "),
            Probe::Command { run } => run.join(" "),
            Probe::Disk(disk) => disk.path.display().to_string(),
            Probe::Quota(quota) => format!("quota {}", quota.namespace),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    Http,
    Tcp,
    Tls,
    Env,
    Command,
    Disk,
    Quota,
}

impl CheckKind {
    pub const ALL: [CheckKind; 7] = [
        CheckKind::Http,
        CheckKind::Tcp,
        CheckKind::Tls,
        CheckKind::Env,
        CheckKind::Command,
        CheckKind::Disk,
        CheckKind::Quota,
    ];

    /// The `type` written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Http => "http",
            CheckKind::Tcp => "tcp",
            CheckKind::Tls => "tls",
            CheckKind::Env => "env",
            CheckKind::Command => "command",
            CheckKind::Disk => "disk",
            CheckKind::Quota => "quota",
        }
    }

    /// A gate asks something outside whether a version may go out (CI, a
    /// change calendar): only a command or an HTTP call can.
    pub fn can_gate(self) -> bool {
        matches!(self, CheckKind::Http | CheckKind::Command)
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpProbe {
    pub url: String,
    /// Statuses that pass (default `2xx`).
    pub expect_status: Vec<StatusMatch>,
    /// Extra request headers; values may be `${VAR}` secrets.
    pub headers: BTreeMap<String, Secret>,
}

/// An expected HTTP status: one code, or a class such as `2xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    /// The hundreds digit: 2 is `2xx`.
    Class(u16),
}

impl StatusMatch {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Code(code) => status == code,
            StatusMatch::Class(class) => status / 100 == class,
        }
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusMatch::Code(code) => write!(f, "{code}"),
            StatusMatch::Class(class) => write!(f, "{class}xx"),
        }
    }
}

impl Serialize for StatusMatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `host:port`, where the host may be a name (resolved when the check runs)
/// or an IP address (`[::1]:443` for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Without brackets.
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<HostPort, &'static str> {
        if text.contains("://") {
            return Err("write host:port without a scheme");
        }
        let (host, port) = text.rsplit_once(':').ok_or("it has no `:port`")?;
        let host = match host.strip_prefix('[') {
            Some(inner) => inner
                .strip_suffix(']')
                .filter(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
                .ok_or("an IPv6 address goes in brackets: [::1]:443")?,
            None if host.contains(':') => {
                return Err("an IPv6 address goes in brackets: [::1]:443");
            }
            None => host,
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err("the host is empty or not a host name");
        }
        match port.parse::<u16>() {
            Ok(port) if port > 0 => Ok(HostPort {
                host: host.to_string(),
                port,
            }),
            _ => Err("the port must be a number from 1 to 65535"),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Serialize for HostPort {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsProbe {
    pub address: HostPort,
    /// The name sent as SNI; the address's host when not given.
    pub server_name: Option<String>,
    /// Fewer days than this before any certificate of the chain expires warns…
    pub warn_days: u32,
    /// …and fewer than this fails.
    pub fail_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskProbe {
    /// Any path on the filesystem to look at (absolute).
    pub path: PathBuf,
    /// Less free space than this percentage warns…
    pub warn_free_pct: f64,
    /// …and less than this fails.
    pub fail_free_pct: f64,
}

/// A namespace's ResourceQuotas: the most used resource of any of them
/// warns or fails by its share of the quota's hard limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaProbe {
    /// A kubeconfig file; with `context`, `None` for both means the
    /// environment's Kubernetes service's, else the default chain (as for
    /// the backend: `$KUBECONFIG`, `~/.kube/config`, in-cluster).
    pub kubeconfig: Option<String>,
    /// A context of the kubeconfig; `None`: its current context.
    pub context: Option<String>,
    pub namespace: String,
    /// A resource used to this percentage of its hard limit or more warns…
    pub warn_pct: f64,
    /// …and to this one or more fails.
    pub fail_pct: f64,
}

/// Defaults from the configuration reference (config.example.toml).
pub mod defaults {
    use super::*;

    pub const TIMEOUT: Duration = Duration::from_secs(5);
    pub const EXPECT_STATUS: StatusMatch = StatusMatch::Class(2);
    pub const TLS_WARN_DAYS: u32 = 30;
    pub const TLS_FAIL_DAYS: u32 = 7;
    pub const DISK_WARN_FREE_PCT: f64 = 20.0;
    pub const DISK_FAIL_FREE_PCT: f64 = 10.0;
    pub const QUOTA_WARN_PCT: f64 = 80.0;
    pub const QUOTA_FAIL_PCT: f64 = 95.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_accepts_names_and_addresses() {
        let hp = HostPort::parse("db.internal:5432").unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("db.internal", 5432));
        let v6 = HostPort::parse("[::1]:443").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "[::1]:443");
        for bad in [
            "db",
            ":5432",
            "db:0",
            "db:99999",
            "db:http",
            "::1:443",
            "https://db:443",
            "[db]:1",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_matches_codes_and_classes() {
        assert!(StatusMatch::Class(2).matches(204));
        assert!(!StatusMatch::Class(2).matches(301));
        assert!(StatusMatch::Code(301).matches(301));
        assert_eq!(StatusMatch::Class(2).to_string(), "2xx");
    }

    #[test]
    fn a_release_runs_the_gate_the_environment_and_its_own_service_checks() {
        let check = |name: &str, scope: Scope| CheckSpec {
            name: name.into(),
            scope,
            timeout: defaults::TIMEOUT,
            probe: Probe::Env {
                names: vec!["X".into()],
            },
        };
        let preflight = Preflight {
            gate: Some(check("ci", Scope::Gate)),
            checks: vec![
                check("db", Scope::Environment),
                check("web", Scope::Service("web".into())),
                check("api", Scope::Service("api".into())),
            ],
        };
        let names: Vec<_> = preflight.for_release("web").map(|c| &c.name).collect();
        assert_eq!(names, ["ci", "db", "web"]);
        assert_eq!(preflight.all().count(), 4);
        let json = serde_json::to_value(&preflight.checks[1]).unwrap();
        assert_eq!(json["scope"], "service");
        assert_eq!(json["service"], "web");
        assert_eq!(json["type"], "env");
    }
}
