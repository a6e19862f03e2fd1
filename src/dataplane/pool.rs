//! The live routing table the proxy picks upstreams from.
//!
//! A [`Table`] is immutable apart from its pick cursors; a change builds a
//! new table and swaps it in atomically (see `DataPlane`), so a request sees
//! either the old or the new table, never half of a change, and never waits
//! for a lock.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hyper::http::uri::Authority;

use super::counters::{Registry, Side, VersionCounters};
use super::health::InstanceHealth;
use super::routing::{RoutingSpec, Split};

/// One upstream instance.
#[derive(Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    /// Pre-built so forwarding a request does not format the address.
    pub authority: Authority,
    pub health: Arc<InstanceHealth>,
}

/// The instances of every known version, built once at start. An address
/// listed under two versions shares one health state.
#[derive(Debug)]
pub struct Catalog {
    versions: BTreeMap<String, Vec<Arc<Upstream>>>,
}

impl Catalog {
    pub fn new(versions: &BTreeMap<String, Vec<SocketAddr>>) -> Self {
        let mut by_addr: BTreeMap<SocketAddr, Arc<Upstream>> = BTreeMap::new();
        let versions = versions
            .iter()
            .map(|(version, addrs)| {
                let upstreams = addrs
                    .iter()
                    .map(|addr| {
                        by_addr
                            .entry(*addr)
                            .or_insert_with(|| {
                                Arc::new(Upstream {
                                    addr: *addr,
                                    authority: Authority::try_from(addr.to_string().as_str())
                                        .expect("a socket address is a valid authority"),
                                    health: Arc::new(InstanceHealth::default()),
                                })
                            })
                            .clone()
                    })
                    .collect();
                (version.clone(), upstreams)
            })
            .collect();
        Self { versions }
    }

    /// Every distinct instance with its health, for the health checker.
    pub fn instances(&self) -> Vec<(SocketAddr, Arc<InstanceHealth>)> {
        let mut seen = BTreeMap::new();
        for u in self.versions.values().flatten() {
            seen.entry(u.addr).or_insert_with(|| u.health.clone());
        }
        seen.into_iter().collect()
    }

    fn upstreams(&self, version: &str) -> Vec<Arc<Upstream>> {
        self.versions.get(version).cloned().unwrap_or_default()
    }
}

/// One side of the table: a version, its instances (the first
/// `in_rotation` serve) and the counters its requests are recorded in.
#[derive(Debug)]
pub struct SideRoute {
    pub side: Side,
    pub version: String,
    pub instances: Vec<Arc<Upstream>>,
    pub in_rotation: usize,
    pub counters: Arc<VersionCounters>,
}

impl SideRoute {
    fn build(
        side: Side,
        version: &str,
        in_rotation: usize,
        catalog: &Catalog,
        reg: &Registry,
    ) -> Self {
        let instances = catalog.upstreams(version);
        Self {
            side,
            version: version.to_string(),
            in_rotation: in_rotation.min(instances.len()),
            instances,
            counters: reg.get(side, version),
        }
    }

    fn serving(&self) -> &[Arc<Upstream>] {
        &self.instances[..self.in_rotation]
    }
}

/// Where one request goes.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    pub route: &'a SideRoute,
    pub upstream: &'a Upstream,
}

#[derive(Debug)]
pub struct Table {
    pub spec: RoutingSpec,
    pub stable: SideRoute,
    pub new: Option<SideRoute>,
    /// Effective share of the new side in percent (see `RoutingSpec`).
    new_weight: u64,
    /// Counts side decisions, for the exact weighted split.
    split_cursor: AtomicU64,
    /// Round-robin cursors: stable, new, and all-instances (even split).
    rr: [AtomicU64; 3],
}

impl Table {
    /// The side running `version`, if one does.
    pub fn side_running(&self, version: &str) -> Option<&SideRoute> {
        std::iter::once(&self.stable)
            .chain(self.new.as_ref())
            .find(|side| side.version == version)
    }

    pub fn build(spec: RoutingSpec, catalog: &Catalog, registry: &Registry) -> Self {
        let stable = SideRoute::build(
            Side::Stable,
            &spec.stable.version,
            spec.stable.in_rotation,
            catalog,
            registry,
        );
        let new = spec
            .new
            .as_ref()
            .map(|n| SideRoute::build(Side::New, &n.version, n.in_rotation, catalog, registry));
        Self {
            new_weight: spec.effective_new_weight().into(),
            spec,
            stable,
            new,
            split_cursor: AtomicU64::new(0),
            rr: Default::default(),
        }
    }

    pub fn new_weight(&self) -> u8 {
        self.new_weight as u8
    }

    /// Picks the upstream for the next request, or `None` when no instance
    /// is in rotation at all.
    pub fn pick(&self) -> Option<Pick<'_>> {
        let new = self.new.as_ref().filter(|n| n.in_rotation > 0);
        let stable = Some(&self.stable).filter(|s| s.in_rotation > 0);
        match (self.spec.split, stable, new) {
            (_, None, None) => None,
            (_, Some(only), None) | (_, None, Some(only)) => self.pick_in(only, 0),
            (Split::Even, Some(s), Some(n)) => self.pick_even(s, n),
            (Split::Weighted(_), Some(s), Some(n)) => {
                // Bresenham-style: request k goes to the new side when
                // floor((k+1)·w/100) > floor(k·w/100), so every 100
                // consecutive requests split exactly w : 100-w, spread out
                // rather than in bursts.
                let k = self.split_cursor.fetch_add(1, Relaxed);
                let w = self.new_weight;
                let to_new = (k % 100 + 1) * w / 100 > (k % 100) * w / 100;
                if to_new {
                    self.pick_in(n, 1)
                } else {
                    self.pick_in(s, 0)
                }
            }
        }
    }

    /// Another in-rotation instance on `side` than `not`, for the one retry
    /// after a refused connection.
    pub fn pick_other(&self, side: Side, not: SocketAddr) -> Option<Pick<'_>> {
        let route = match side {
            Side::Stable => &self.stable,
            Side::New => self.new.as_ref()?,
        };
        let others: Vec<&Arc<Upstream>> =
            route.serving().iter().filter(|u| u.addr != not).collect();
        let start = self.rr[2].fetch_add(1, Relaxed) as usize;
        let healthy = (0..others.len())
            .map(|i| others[(start + i) % others.len()])
            .find(|u| u.health.is_healthy());
        healthy
            .or(others.first().copied())
            .map(|u| Pick { route, upstream: u })
    }

    /// Round-robin within one side, skipping unhealthy instances while a
    /// healthy one exists (if none is healthy, trying beats answering 502).
    fn pick_in<'a>(&'a self, route: &'a SideRoute, cursor: usize) -> Option<Pick<'a>> {
        let serving = route.serving();
        let start = self.rr[cursor].fetch_add(1, Relaxed) as usize;
        let n = serving.len();
        let chosen = (0..n)
            .map(|i| &serving[(start + i) % n])
            .find(|u| u.health.is_healthy())
            .unwrap_or(&serving[start % n]);
        Some(Pick {
            route,
            upstream: chosen,
        })
    }

    /// Rolling: one round-robin over the instances in rotation on both sides.
    fn pick_even<'a>(&'a self, s: &'a SideRoute, n: &'a SideRoute) -> Option<Pick<'a>> {
        let total = s.in_rotation + n.in_rotation;
        let start = self.rr[2].fetch_add(1, Relaxed) as usize;
        let at = |i: usize| {
            let i = (start + i) % total;
            if i < s.in_rotation {
                Pick {
                    route: s,
                    upstream: &s.serving()[i],
                }
            } else {
                Pick {
                    route: n,
                    upstream: &n.serving()[i - s.in_rotation],
                }
            }
        };
        Some(
            (0..total)
                .map(at)
                .find(|p| p.upstream.health.is_healthy())
                .unwrap_or_else(|| at(0)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::routing::Versions;

    fn setup() -> (Versions, Catalog, Registry) {
        let a = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let v = Versions::from([
            ("v1".to_string(), vec![a(1), a(2), a(3)]),
            ("v2".to_string(), vec![a(4), a(5)]),
        ]);
        let c = Catalog::new(&v);
        (v, c, Registry::default())
    }

    /// v2 staged beside v1, which serves everything.
    fn staged(v: &Versions) -> RoutingSpec {
        RoutingSpec::initial("v1", v).prepare("v2", v).unwrap()
    }

    fn tally(t: &Table, n: usize) -> BTreeMap<u16, usize> {
        let mut m = BTreeMap::new();
        for _ in 0..n {
            *m.entry(t.pick().unwrap().upstream.addr.port()).or_insert(0) += 1;
        }
        m
    }

    #[test]
    fn weighted_split_is_exact_and_round_robins_inside_a_side() {
        let (v, c, r) = setup();
        let spec = staged(&v).set_weight(25, &v).unwrap();
        let t = Table::build(spec, &c, &r);
        let m = tally(&t, 2000);
        assert_eq!(m[&4] + m[&5], 500);
        assert_eq!((m[&4], m[&5]), (250, 250));
        assert_eq!(m[&1] + m[&2] + m[&3], 1500);
        assert_eq!(m[&1], 500);
    }

    #[test]
    fn staged_version_gets_no_traffic() {
        let (v, c, r) = setup();
        let spec = staged(&v);
        let m = tally(&Table::build(spec, &c, &r), 300);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn even_split_covers_exactly_the_instances_in_rotation() {
        let (v, c, r) = setup();
        let spec = staged(&v).set_instances(2, 1, &v).unwrap();
        let m = tally(&Table::build(spec, &c, &r), 300);
        assert_eq!(m, BTreeMap::from([(1, 100), (2, 100), (4, 100)]));
    }

    #[test]
    fn unhealthy_instances_are_skipped_while_a_healthy_one_exists() {
        let (v, c, r) = setup();
        let t = Table::build(RoutingSpec::initial("v1", &v), &c, &r);
        let mark = |port: u16, healthy: bool| {
            let u = &t.stable.instances[(port - 1) as usize];
            u.health.set(healthy);
        };
        mark(2, false);
        let m = tally(&t, 100);
        assert!(!m.contains_key(&2));
        assert_eq!(m[&1] + m[&3], 100);
        mark(1, false);
        mark(3, false);
        assert_eq!(
            tally(&t, 30).values().sum::<usize>(),
            30,
            "all down: still tries"
        );
    }

    #[test]
    fn retry_picks_another_instance_of_the_same_side() {
        let (v, c, r) = setup();
        let t = Table::build(RoutingSpec::initial("v1", &v), &c, &r);
        for _ in 0..10 {
            let p = t
                .pick_other(Side::Stable, t.stable.instances[0].addr)
                .unwrap();
            assert_ne!(p.upstream.addr.port(), 1);
        }
        assert!(
            t.pick_other(Side::New, t.stable.instances[0].addr)
                .is_none()
        );
    }
}
