//! What the routing table should look like, as plain data, and the admin
//! operations that change it. Pure: no IO and no atomics, so every transition
//! and every refusal is unit-tested with plain values. `pool` turns a
//! [`RoutingSpec`] into the live table the proxy picks from.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;

/// A refused admin operation. Each maps to a 4xx status and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("unknown version `{version}`; this data plane knows: {known}")]
    UnknownVersion { version: String, known: String },
    #[error("version `{0}` is already the stable version")]
    AlreadyStable(String),
    #[error(
        "a release of `{staged}` is already staged; finish or discard it before staging `{requested}`"
    )]
    ReleaseStaged { staged: String, requested: String },
    #[error("no release is staged; stage one with PUT /api/v1/release first")]
    NoRelease,
    #[error("weight {0} is out of range: new_percent must be 0..=100")]
    WeightOutOfRange(u64),
    #[error("{side} has {have} instance(s); cannot put {asked} in rotation")]
    TooManyInstances {
        side: &'static str,
        asked: usize,
        have: usize,
    },
    #[error("at least one instance must stay in rotation")]
    NoInstanceLeft,
}

impl RoutingError {
    /// The HTTP status the admin API answers with.
    pub fn status(&self) -> u16 {
        match self {
            RoutingError::UnknownVersion { .. } => 404,
            RoutingError::AlreadyStable(_)
            | RoutingError::ReleaseStaged { .. }
            | RoutingError::NoRelease => 409,
            RoutingError::WeightOutOfRange(_)
            | RoutingError::TooManyInstances { .. }
            | RoutingError::NoInstanceLeft => 400,
        }
    }
}

/// How requests are split between the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Split {
    /// Canary / blue-green: this percentage goes to the new side.
    Weighted(u8),
    /// Rolling: every instance in rotation, on either side, gets an equal share.
    Even,
}

/// One side: a version and how many of its instances (the first k) serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideSpec {
    pub version: String,
    pub in_rotation: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingSpec {
    pub stable: SideSpec,
    pub new: Option<SideSpec>,
    pub split: Split,
}

/// Upstream instances of each version the data plane may route to.
pub type Versions = BTreeMap<String, Vec<SocketAddr>>;

fn count(versions: &Versions, version: &str) -> usize {
    versions.get(version).map_or(0, Vec::len)
}

impl RoutingSpec {
    /// Everything on `stable`, all of its instances in rotation.
    pub fn initial(stable: &str, versions: &Versions) -> Self {
        Self {
            stable: SideSpec {
                version: stable.to_string(),
                in_rotation: count(versions, stable),
            },
            new: None,
            split: Split::Weighted(0),
        }
    }

    /// The share of requests the new side actually gets, in percent.
    pub fn effective_new_weight(&self) -> u8 {
        let Some(new) = &self.new else { return 0 };
        let (s, n) = (self.stable.in_rotation, new.in_rotation);
        match self.split {
            _ if n == 0 => 0,
            _ if s == 0 => 100,
            Split::Weighted(w) => w,
            Split::Even => ((n * 100 + (s + n) / 2) / (s + n)) as u8,
        }
    }

    /// Stages `version` as the new side: known, health-checked, no traffic.
    /// Staging the already staged version again is a no-op, so a retried
    /// call is harmless.
    pub fn prepare(&self, version: &str, versions: &Versions) -> Result<Self, RoutingError> {
        if !versions.contains_key(version) {
            return Err(RoutingError::UnknownVersion {
                version: version.to_string(),
                known: versions.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        if version == self.stable.version {
            return Err(RoutingError::AlreadyStable(version.to_string()));
        }
        match &self.new {
            Some(staged) if staged.version == version => Ok(self.clone()),
            Some(staged) => Err(RoutingError::ReleaseStaged {
                staged: staged.version.clone(),
                requested: version.to_string(),
            }),
            None => Ok(Self {
                stable: self.stable.clone(),
                new: Some(SideSpec {
                    version: version.to_string(),
                    in_rotation: 0,
                }),
                split: Split::Weighted(0),
            }),
        }
    }

    /// Canary weight: both sides fully in rotation, `percent` to the new one.
    pub fn set_weight(&self, percent: u64, versions: &Versions) -> Result<Self, RoutingError> {
        let weight = u8::try_from(percent)
            .ok()
            .filter(|w| *w <= 100)
            .ok_or(RoutingError::WeightOutOfRange(percent))?;
        if self.new.is_none() && weight > 0 {
            return Err(RoutingError::NoRelease);
        }
        Ok(Self {
            stable: SideSpec {
                version: self.stable.version.clone(),
                in_rotation: count(versions, &self.stable.version),
            },
            new: self.new.as_ref().map(|n| SideSpec {
                version: n.version.clone(),
                in_rotation: count(versions, &n.version),
            }),
            split: Split::Weighted(weight),
        })
    }

    /// Rolling: the first `stable` and `new` instances serve, evenly.
    pub fn set_instances(
        &self,
        stable: usize,
        new: usize,
        versions: &Versions,
    ) -> Result<Self, RoutingError> {
        let have = count(versions, &self.stable.version);
        if stable > have {
            return Err(RoutingError::TooManyInstances {
                side: "stable",
                asked: stable,
                have,
            });
        }
        let new_side = match &self.new {
            None if new > 0 => return Err(RoutingError::NoRelease),
            None => None,
            Some(n) => {
                let have = count(versions, &n.version);
                if new > have {
                    return Err(RoutingError::TooManyInstances {
                        side: "new",
                        asked: new,
                        have,
                    });
                }
                Some(SideSpec {
                    version: n.version.clone(),
                    in_rotation: new,
                })
            }
        };
        if stable + new == 0 {
            return Err(RoutingError::NoInstanceLeft);
        }
        Ok(Self {
            stable: SideSpec {
                version: self.stable.version.clone(),
                in_rotation: stable,
            },
            new: new_side,
            split: Split::Even,
        })
    }

    /// The new version becomes stable with all its instances; the old side
    /// leaves the table (its in-flight requests finish on their own).
    pub fn finish(&self, versions: &Versions) -> Result<Self, RoutingError> {
        let new = self.new.as_ref().ok_or(RoutingError::NoRelease)?;
        Ok(Self::initial(&new.version, versions))
    }

    /// All traffic back on stable, every stable instance in rotation, the new
    /// side removed. Idempotent: a rollback may be retried safely.
    pub fn discard(&self, versions: &Versions) -> Self {
        Self::initial(&self.stable.version, versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions() -> Versions {
        let a = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        BTreeMap::from([
            ("v1".to_string(), vec![a(1), a(2), a(3)]),
            ("v2".to_string(), vec![a(4), a(5)]),
        ])
    }

    #[test]
    fn canary_lifecycle() {
        let v = versions();
        let s = RoutingSpec::initial("v1", &v);
        assert_eq!(s.stable.in_rotation, 3);
        let s = s.prepare("v2", &v).unwrap();
        assert_eq!(s.new.as_ref().unwrap().in_rotation, 0);
        assert_eq!(s.effective_new_weight(), 0);
        assert_eq!(s.prepare("v2", &v).unwrap(), s, "staging again is a no-op");
        let s = s.set_weight(25, &v).unwrap();
        assert_eq!(s.effective_new_weight(), 25);
        assert_eq!(s.new.as_ref().unwrap().in_rotation, 2);
        let s = s.finish(&v).unwrap();
        assert_eq!(s, RoutingSpec::initial("v2", &v));
    }

    #[test]
    fn rolling_reports_the_even_share() {
        let v = versions();
        let s = RoutingSpec::initial("v1", &v).prepare("v2", &v).unwrap();
        let s = s.set_instances(2, 1, &v).unwrap();
        assert_eq!(s.split, Split::Even);
        assert_eq!(s.effective_new_weight(), 33);
        assert_eq!(
            s.set_instances(0, 2, &v).unwrap().effective_new_weight(),
            100
        );
    }

    #[test]
    fn refusals_say_why() {
        let v = versions();
        let s = RoutingSpec::initial("v1", &v);
        assert_eq!(s.prepare("v9", &v).unwrap_err().status(), 404);
        assert_eq!(
            s.prepare("v1", &v).unwrap_err(),
            RoutingError::AlreadyStable("v1".into())
        );
        assert_eq!(s.set_weight(10, &v).unwrap_err(), RoutingError::NoRelease);
        assert_eq!(s.set_weight(0, &v).unwrap(), s);
        assert_eq!(s.finish(&v).unwrap_err().status(), 409);
        assert_eq!(
            s.set_instances(0, 1, &v).unwrap_err(),
            RoutingError::NoRelease
        );
        let staged = s.prepare("v2", &v).unwrap();
        assert_eq!(
            staged.set_weight(101, &v).unwrap_err(),
            RoutingError::WeightOutOfRange(101)
        );
        assert_eq!(staged.set_weight(300, &v).unwrap_err().status(), 400);
        assert!(matches!(
            staged.set_instances(4, 0, &v).unwrap_err(),
            RoutingError::TooManyInstances { side: "stable", .. }
        ));
        assert!(matches!(
            staged.set_instances(0, 3, &v).unwrap_err(),
            RoutingError::TooManyInstances { side: "new", .. }
        ));
        assert_eq!(
            staged.set_instances(0, 0, &v).unwrap_err(),
            RoutingError::NoInstanceLeft
        );
        let mut other = v.clone();
        other.insert("v3".into(), vec![SocketAddr::from(([127, 0, 0, 1], 9))]);
        assert_eq!(staged.prepare("v3", &other).unwrap_err().status(), 409);
    }

    #[test]
    fn discard_is_idempotent_and_restores_stable() {
        let v = versions();
        let s = RoutingSpec::initial("v1", &v)
            .prepare("v2", &v)
            .unwrap()
            .set_instances(1, 2, &v)
            .unwrap();
        let d = s.discard(&v);
        assert_eq!(d, RoutingSpec::initial("v1", &v));
        assert_eq!(d.discard(&v), d);
    }
}
