//! Reading a service's traffic backend: addresses and the upstreams of each version.

use super::*;

/// What every embedded data plane is configured with.
pub(super) struct PlaneKeys {
    listen: SocketAddr,
    admin: SocketAddr,
    error_kind_header: Option<String>,
    admin_token: Option<Secret>,
    limits: ConnectionLimits,
}

impl PlaneKeys {
    pub(super) fn backend(
        self,
        stable: String,
        versions: BTreeMap<String, Vec<SocketAddr>>,
        variant_header: Option<String>,
    ) -> LocalBackend {
        LocalBackend {
            listen: self.listen,
            admin: self.admin,
            stable,
            versions,
            error_kind_header: self.error_kind_header,
            variant_header,
            admin_token: self.admin_token,
            limits: self.limits,
        }
    }
}

impl Walker<'_, '_> {
    pub(super) fn backend(&mut self, value: &Value, who: &str) -> Option<Backend> {
        let table = as_table(self.errors, "backend", value)?;
        let span = value.span();
        if let Some(kind) = get(table, "type") {
            let name = as_str(self.errors, "type", kind)?;
            const AVAILABLE: &str =
                "`local` (the embedded data plane), `kubernetes`, `haproxy` and `flagd`";
            if !BACKEND_TYPES.contains(&name) {
                let hint = match crate::config::schema::closest(name, BACKEND_TYPES) {
                    Some(c) => format!("did you mean `{c}`? The backend types are {AVAILABLE}"),
                    None => format!("the backend types are {AVAILABLE}"),
                };
                self.errors
                    .add_hint(&kind.span(), format!("unknown backend type `{name}`"), hint);
                return None;
            }
            if name == "haproxy" {
                return self.haproxy_backend(table, &span);
            }
            if name == "flagd" {
                return self.flagd_backend(table, &span, who);
            }
            if name == "kubernetes" {
                return self.kubernetes_backend(table, &span);
            }
        }
        let place = "`[environments.services.backend]`";
        check_keys(self.errors, table, LOCAL_BACKEND_KEYS, place);
        let plane = self.plane_keys(table, &span, place, who);
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
        Some(Backend::Local(plane?.backend(stable?, versions?, None)))
    }

    /// The keys of the embedded data plane in front of a service, which a
    /// local and a flagd backend share: its addresses, headers, token and
    /// connection limits.
    pub(super) fn plane_keys(
        &mut self,
        table: &Table,
        span: &Span,
        place: &str,
        who: &str,
    ) -> Option<PlaneKeys> {
        let listen = self
            .required(
                table,
                span,
                "listen",
                place,
                "add `listen = \"127.0.0.1:18080\"`: where the proxy accepts user traffic",
            )
            .and_then(|v| self.own_address(v, "listen", who));
        let admin = self
            .required(
                table,
                span,
                "admin",
                place,
                "add `admin = \"127.0.0.1:19080\"`: where /metrics and the control API are served",
            )
            .and_then(|v| self.own_address(v, "admin", who));
        let error_kind_header = self.optional_header(table, "error_kind_header");
        let admin_token = match get(table, "admin_token") {
            None => Some(None),
            Some(v) => self.secret("admin_token", v).map(Some),
        };
        if let (Some(addr), Some(None)) = (admin, &admin_token)
            && !addr.ip().is_loopback()
            && let Some(v) = get(table, "admin")
        {
            self.errors.add_hint(
                &v.span(),
                format!("`admin` address {addr} is reachable from other hosts, but no `admin_token` is set"),
                "bind `admin` to 127.0.0.1, or set `admin_token = \"${HELMSMAN_ADMIN_TOKEN}\"` \
                 (export a long random value) so only holders of the token can steer releases",
            );
        }
        let limits = self.connection_limits(table);
        Some(PlaneKeys {
            listen: listen?,
            admin: admin?,
            error_kind_header: error_kind_header?,
            admin_token: admin_token?,
            limits: limits?,
        })
    }

    /// An optional response header name: `Some(None)` when absent.
    pub(super) fn optional_header(&mut self, table: &Table, key: &str) -> Option<Option<String>> {
        match get(table, key) {
            None => Some(None),
            Some(v) => as_name(self.errors, key, v).and_then(|h| {
                if hyper::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    self.errors.add_hint(
                        &v.span(),
                        format!("`{key}`: `{h}` is not a valid HTTP header name"),
                        "write a header name such as \"x-error-kind\"",
                    );
                    return None;
                }
                Some(Some(h))
            }),
        }
    }

    /// The data plane's timeouts and connection limit, each defaulted.
    pub(super) fn connection_limits(&mut self, table: &Table) -> Option<ConnectionLimits> {
        let defaults = ConnectionLimits::default();
        let mut duration = |key: &str, default| match get(table, key) {
            None => Some(default),
            Some(v) => as_positive_duration(self.errors, key, v),
        };
        let header_read_timeout = duration("header_read_timeout", defaults.header_read_timeout);
        let idle_timeout = duration("idle_timeout", defaults.idle_timeout);
        let max_connections = match get(table, "max_connections") {
            None => Some(defaults.max_connections),
            Some(v) => as_int_in(
                self.errors,
                "max_connections",
                v,
                1,
                1_000_000,
                "connections served at once per listener, e.g. 10000",
            )
            .map(|n| n as usize),
        };
        Some(ConnectionLimits {
            header_read_timeout: header_read_timeout?,
            idle_timeout: idle_timeout?,
            max_connections: max_connections?,
        })
    }

    /// A listen or admin address, which no other service may use.
    pub(super) fn own_address(
        &mut self,
        value: &Value,
        key: &str,
        who: &str,
    ) -> Option<SocketAddr> {
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

    pub(super) fn versions(&mut self, value: &Value) -> Option<BTreeMap<String, Vec<SocketAddr>>> {
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
}
