//! Reading a `type = "haproxy"` backend: the runtime API's address, the
//! HAProxy backend, and the servers of each version. Nothing here talks to
//! HAProxy (`check-config` works on a laptop); the names are checked against
//! HAProxy's own at preflight.

use super::*;
use crate::config::model::HaProxyBackend;
use crate::providers::haproxy::Address;
use crate::providers::haproxy::runtime::allowed_name;

const HAPROXY_BACKEND_KEYS: &[&str] = &["type", "runtime_api", "backend", "versions"];

impl Walker<'_, '_> {
    pub(super) fn haproxy_backend(&mut self, table: &Table, span: &Span) -> Option<Backend> {
        let place = "a haproxy `[environments.services.backend]`";
        check_keys(self.errors, table, HAPROXY_BACKEND_KEYS, place);
        let runtime_api = self
            .required(
                table,
                span,
                "runtime_api",
                place,
                "add `runtime_api = \"/run/haproxy/admin.sock\"` (a `stats socket … level admin` \
                 of haproxy.cfg) or a TCP one such as \"127.0.0.1:9999\"",
            )
            .and_then(|v| {
                let text = as_str(self.errors, "runtime_api", v)?;
                Address::parse(text)
                    .map_err(|why| {
                        self.errors.add_hint(
                            &v.span(),
                            format!("`runtime_api`: {why}"),
                            "write the path of a `stats socket` or its `ipv4@` address and port",
                        )
                    })
                    .ok()
            });
        let backend = self
            .required(
                table,
                span,
                "backend",
                place,
                "add `backend = \"checkout\"`: the `backend` section of haproxy.cfg with the servers",
            )
            .and_then(|v| self.haproxy_name("backend", v));
        let versions = self
            .required(
                table,
                span,
                "versions",
                place,
                "add a `[environments.services.backend.versions]` table: \"v1.4.2\" = [\"checkout-a1\", \"checkout-a2\"]",
            )
            .and_then(|v| self.haproxy_versions(v));
        Some(Backend::HaProxy(HaProxyBackend {
            runtime_api: runtime_api?,
            backend: backend?,
            versions: versions?,
        }))
    }

    /// A backend or server name: one HAProxy allows, which also keeps it
    /// from ending a runtime API command and starting another.
    fn haproxy_name(&mut self, key: &str, value: &Value) -> Option<String> {
        let name = as_name(self.errors, key, value)?;
        if !allowed_name(&name) {
            self.errors.add_hint(
                &value.span(),
                format!("`{key}`: `{name}` is not a name HAProxy allows"),
                "HAProxy names are letters, digits and `-_.:`",
            );
            return None;
        }
        Some(name)
    }

    /// Each version's servers; a server belongs to one version only.
    fn haproxy_versions(&mut self, value: &Value) -> Option<BTreeMap<String, Vec<String>>> {
        let table = as_table(self.errors, "versions", value)?;
        if table.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "`versions` is empty",
                "add each version with its servers: \"v1.4.2\" = [\"checkout-a1\"]",
            );
            return None;
        }
        let mut versions = BTreeMap::new();
        let mut owner: HashMap<String, String> = HashMap::new();
        let mut complete = true;
        for (key, servers) in table.iter() {
            let version = key.get_ref().to_string();
            let Some(items) = as_array(self.errors, &version, servers) else {
                complete = false;
                continue;
            };
            if items.is_empty() {
                self.errors.add_hint(
                    &key.span(),
                    format!("version `{version}` has no servers"),
                    "list the servers of the HAProxy backend that run it, e.g. [\"checkout-a1\"]",
                );
                complete = false;
                continue;
            }
            let mut names = Vec::new();
            for item in items {
                let Some(name) = self.haproxy_name(&version, item) else {
                    complete = false;
                    continue;
                };
                if let Some(first) = owner.get(&name) {
                    self.errors.add_hint(
                        &item.span(),
                        format!("server `{name}` is already listed for version `{first}`"),
                        "a server runs one version: list each server once",
                    );
                    complete = false;
                    continue;
                }
                owner.insert(name.clone(), version.clone());
                names.push(name);
            }
            versions.insert(version, names);
        }
        complete.then_some(versions)
    }
}
