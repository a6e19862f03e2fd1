//! The weights of a Gateway API HTTPRoute (gateway.networking.k8s.io/v1).
//!
//! The route is handled as a `DynamicObject`: helmsman edits only the
//! `weight` of the two backendRefs it owns and writes everything else back
//! as it was read, including fields newer than this code (filters, timeouts,
//! session persistence…), which a typed struct would drop on write.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

/// The resource name RBAC and messages use.
pub(super) const RESOURCE: &str = "httproutes.gateway.networking.k8s.io";

pub(super) fn api_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
    ))
}

/// Why the route's weights cannot be read or set as helmsman expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum RouteError {
    #[error("it has no spec.rules")]
    NoRules,
    #[error("no rule has a backendRef to the Service `{stable}` (stable_service)")]
    NoStableRef { stable: String },
    #[error(
        "its rules give the canary different shares ({shares:?} %); make them equal or \
         let helmsman set them"
    )]
    UnequalShares { shares: Vec<u8> },
}

/// The two Services whose weights a release moves.
pub(super) struct Refs<'a> {
    pub stable: &'a str,
    pub canary: &'a str,
}

impl Refs<'_> {
    /// Sets stable to `100 - canary_percent` and canary to `canary_percent`
    /// in every rule that routes to the stable Service, adding the canary
    /// ref (on the stable ref's port) where a rule lacks it.
    pub fn set_weights(
        &self,
        route: &mut DynamicObject,
        canary_percent: u8,
    ) -> Result<(), RouteError> {
        let rules = self.rules_mut(route)?;
        for rule in rules {
            let Some(refs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) else {
                continue;
            };
            let Some(stable_at) = refs.iter().position(|r| is_service(r, self.stable)) else {
                continue;
            };
            if !refs.iter().any(|r| is_service(r, self.canary)) {
                let mut canary = json!({ "name": self.canary });
                if let Some(port) = refs[stable_at].get("port") {
                    canary["port"] = port.clone();
                }
                refs.push(canary);
            }
            for r in refs.iter_mut() {
                if is_service(r, self.stable) {
                    r["weight"] = json!(100 - canary_percent);
                } else if is_service(r, self.canary) {
                    r["weight"] = json!(canary_percent);
                }
            }
        }
        Ok(())
    }

    /// The canary's share in percent. Rules that disagree (someone edited
    /// one by hand) are reported, not averaged.
    pub fn canary_percent(&self, route: &DynamicObject) -> Result<u8, RouteError> {
        let mut shares = Vec::new();
        for rule in self.rules(route)? {
            let refs = rule
                .get("backendRefs")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let weight_of = |service: &str| {
                refs.iter().find(|r| is_service(r, service)).map(|r| {
                    // The Gateway API's default weight is 1.
                    r.get("weight").and_then(Value::as_u64).unwrap_or(1)
                })
            };
            let Some(stable) = weight_of(self.stable) else {
                continue;
            };
            let canary = weight_of(self.canary).unwrap_or(0);
            let total = stable + canary;
            let percent = (canary * 100 + total / 2).checked_div(total).unwrap_or(0) as u8;
            shares.push(percent);
        }
        match shares.as_slice() {
            [] => Err(self.no_stable_ref()),
            [first, rest @ ..] if rest.iter().all(|p| p == first) => Ok(*first),
            _ => Err(RouteError::UnequalShares { shares }),
        }
    }

    fn rules<'r>(&self, route: &'r DynamicObject) -> Result<&'r Vec<Value>, RouteError> {
        route.data["spec"]["rules"]
            .as_array()
            .ok_or(RouteError::NoRules)
    }

    fn rules_mut<'r>(
        &self,
        route: &'r mut DynamicObject,
    ) -> Result<&'r mut Vec<Value>, RouteError> {
        let any = self.rules(route)?.iter().any(|rule| {
            rule["backendRefs"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| is_service(r, self.stable)))
        });
        if !any {
            return Err(self.no_stable_ref());
        }
        route.data["spec"]["rules"]
            .as_array_mut()
            .ok_or(RouteError::NoRules)
    }

    fn no_stable_ref(&self) -> RouteError {
        RouteError::NoStableRef {
            stable: self.stable.to_string(),
        }
    }
}

/// A backendRef to the core Service `name` (kind and group may be left out).
fn is_service(backend_ref: &Value, name: &str) -> bool {
    let kind = backend_ref
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Service");
    let group = backend_ref
        .get("group")
        .and_then(Value::as_str)
        .unwrap_or("");
    kind == "Service" && group.is_empty() && backend_ref["name"].as_str() == Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(rules: Value) -> DynamicObject {
        let mut route = DynamicObject::new("checkout", &api_resource());
        route.data = json!({ "spec": { "parentRefs": [{ "name": "gw" }], "rules": rules } });
        route
    }

    const REFS: Refs = Refs {
        stable: "stable",
        canary: "canary",
    };

    #[test]
    fn weights_are_set_on_the_owned_refs_only_and_a_missing_canary_is_added() {
        let mut r = route(json!([
            { "matches": [{ "path": { "value": "/" } }],
              "backendRefs": [{ "name": "stable", "port": 80 }, { "name": "mirror", "weight": 7 }] },
            { "backendRefs": [{ "name": "other" }] }
        ]));
        REFS.set_weights(&mut r, 10).unwrap();
        let rules = &r.data["spec"]["rules"];
        assert_eq!(
            rules[0]["backendRefs"],
            json!([
                { "name": "stable", "port": 80, "weight": 90 },
                { "name": "mirror", "weight": 7 },
                { "name": "canary", "port": 80, "weight": 10 }
            ])
        );
        assert_eq!(rules[0]["matches"], json!([{ "path": { "value": "/" } }]));
        assert_eq!(rules[1], json!({ "backendRefs": [{ "name": "other" }] }));
        assert_eq!(r.data["spec"]["parentRefs"], json!([{ "name": "gw" }]));
        assert_eq!(REFS.canary_percent(&r), Ok(10));
    }

    #[test]
    fn shares_are_read_with_the_gateway_api_defaults() {
        let r = route(json!([{ "backendRefs": [{ "name": "stable" }] }]));
        assert_eq!(REFS.canary_percent(&r), Ok(0));
        let r = route(json!([{ "backendRefs": [{ "name": "stable" }, { "name": "canary" }] }]));
        assert_eq!(REFS.canary_percent(&r), Ok(50));
        let r = route(json!([{ "backendRefs": [{ "name": "other" }] }]));
        assert!(
            REFS.canary_percent(&r)
                .unwrap_err()
                .to_string()
                .contains("stable_service")
        );
        let mut r = route(json!([{ "backendRefs": [{ "name": "other" }] }]));
        assert!(REFS.set_weights(&mut r, 5).is_err());
    }

    #[test]
    fn rules_that_disagree_are_reported() {
        let r = route(json!([
            { "backendRefs": [{ "name": "stable", "weight": 90 }, { "name": "canary", "weight": 10 }] },
            { "backendRefs": [{ "name": "stable", "weight": 50 }, { "name": "canary", "weight": 50 }] }
        ]));
        assert!(
            REFS.canary_percent(&r)
                .unwrap_err()
                .to_string()
                .contains("different shares")
        );
    }
}
