//! Reading a `type = "flagd"` backend: the flag file, the flag's variants,
//! the data plane in front of the service that counts requests by variant,
//! and the beta cohort. Nothing here reads the flag file: `check-config`
//! works without it; the flag and its variants are checked when a release
//! prepares.

use super::backend::PlaneKeys;
use super::*;
use crate::config::model::FlagdBackend;
use crate::providers::flagd::file::Cohort;

const FLAGD_BACKEND_KEYS: &[&str] = &[
    "type",
    "flag_file",
    "variants",
    "variant_header",
    "upstreams",
    "beta",
    "listen",
    "admin",
    "error_kind_header",
    "admin_token",
    "header_read_timeout",
    "idle_timeout",
    "max_connections",
];

/// The response header naming the variant, unless configured.
const DEFAULT_VARIANT_HEADER: &str = "x-flag-variant";

impl Walker<'_, '_> {
    pub(super) fn flagd_backend(
        &mut self,
        table: &Table,
        span: &Span,
        who: &str,
    ) -> Option<Backend> {
        let place = "a flagd `[environments.services.backend]`";
        check_keys(self.errors, table, FLAGD_BACKEND_KEYS, place);
        let flag_file = self
            .required(
                table,
                span,
                "flag_file",
                place,
                "add `flag_file = \"/etc/flagd/flags.json\"`: the file flagd reads its flags from",
            )
            .and_then(|v| as_name(self.errors, "flag_file", v))
            .map(std::path::PathBuf::from);
        let plane: Option<PlaneKeys> = self.plane_keys(table, span, place, who);
        let variants = match get(table, "variants") {
            None => Some(vec!["off".to_string(), "on".to_string()]),
            Some(v) => self.variant_names(v),
        };
        let upstreams = self
            .required(
                table,
                span,
                "upstreams",
                place,
                "add `upstreams = [\"127.0.0.1:18181\"]`: the service's instances (each runs every variant)",
            )
            .and_then(|v| self.upstreams(v));
        let variant_header = self
            .optional_header(table, "variant_header")
            .map(|h| h.unwrap_or_else(|| DEFAULT_VARIANT_HEADER.to_string()));
        let cohort = match get(table, "beta") {
            None => Some(None),
            Some(v) => self.cohort(v).map(Some),
        };
        let (variants, upstreams) = (variants?, upstreams?);
        let versions = variants
            .iter()
            .map(|variant| (variant.clone(), upstreams.clone()))
            .collect();
        Some(Backend::Flagd(FlagdBackend {
            flag_file: flag_file?,
            cohort: cohort?,
            plane: plane?.backend(variants[0].clone(), versions, Some(variant_header?)),
        }))
    }

    /// Two or more distinct variant names, the one serving today first.
    fn variant_names(&mut self, value: &Value) -> Option<Vec<String>> {
        let items = as_array(self.errors, "variants", value)?;
        let mut names = Vec::new();
        for item in items {
            let name = as_name(self.errors, "variants", item)?;
            if names.contains(&name) {
                self.errors.add_hint(
                    &item.span(),
                    format!("variant `{name}` is listed twice"),
                    "list each of the flag's variants once",
                );
                return None;
            }
            names.push(name);
        }
        if names.len() < 2 {
            self.errors.add_hint(
                &value.span(),
                "`variants` needs two variants at least",
                "list the variant serving today first, then those a release may bring: [\"off\", \"on\"]",
            );
            return None;
        }
        Some(names)
    }

    fn upstreams(&mut self, value: &Value) -> Option<Vec<SocketAddr>> {
        let items = as_array(self.errors, "upstreams", value)?;
        if items.is_empty() {
            self.errors.add_hint(
                &value.span(),
                "`upstreams` is empty",
                "list the service's instances, e.g. [\"127.0.0.1:18181\"]",
            );
            return None;
        }
        let addrs: Option<Vec<SocketAddr>> = items
            .iter()
            .map(|item| as_socket_addr(self.errors, "upstreams", item))
            .collect();
        addrs
    }

    /// `beta = { keys = ["alice", …] }` or `beta = { email_domain = "example.com" }`.
    fn cohort(&mut self, value: &Value) -> Option<Cohort> {
        let table = as_table(self.errors, "beta", value)?;
        check_keys(self.errors, table, &["keys", "email_domain"], "`beta`");
        match (get(table, "keys"), get(table, "email_domain")) {
            (Some(keys), None) => {
                let items = as_array(self.errors, "keys", keys)?;
                let keys: Option<Vec<String>> = items
                    .iter()
                    .map(|k| as_name(self.errors, "keys", k))
                    .collect();
                let keys = keys?;
                if keys.is_empty() {
                    self.errors.add_hint(
                        &value.span(),
                        "`beta.keys` is empty",
                        "list the targeting keys that get the new variant first",
                    );
                    return None;
                }
                Some(Cohort::Keys(keys))
            }
            (None, Some(domain)) => {
                let domain = as_name(self.errors, "email_domain", domain)?;
                Some(Cohort::EmailDomain(
                    domain.trim_start_matches('@').to_string(),
                ))
            }
            _ => {
                self.errors.add_hint(
                    &value.span(),
                    "`beta` needs one of `keys` or `email_domain`",
                    "write `beta = { keys = [\"alice\", \"bob\"] }` or `beta = { email_domain = \"example.com\" }`",
                );
                None
            }
        }
    }
}
