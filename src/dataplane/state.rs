//! The state one data plane shares between its proxy, admin API and health
//! checker: the current routing table and every counter.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hyper::header::HeaderName;

use super::counters::Registry;
use super::pool::{Catalog, SideRoute, Table};
use super::routing::{RoutingError, RoutingSpec, Versions};
use crate::metrics::Reading;
use crate::observed::{Instance, Observed, TrafficState};

/// Response headers the proxy reads to count a request.
#[derive(Debug, Default)]
pub struct Headers {
    /// Names the error kind of a failed request.
    pub error_kind: Option<HeaderName>,
    /// Names the flag variant that served it.
    pub variant: Option<HeaderName>,
}

pub struct Shared {
    /// `env/service`, the `service` label of every metric.
    pub name: String,
    pub versions: Versions,
    pub catalog: Catalog,
    pub registry: Registry,
    pub headers: Headers,
    /// The table requests read. `ArcSwap` makes a change one atomic pointer
    /// swap: readers never block and never see half a change.
    table: ArcSwap<Table>,
    /// Serialises admin changes so two concurrent ones cannot lose an update
    /// (read-modify-write of the spec). Never taken by requests.
    writer: Mutex<()>,
}

impl Shared {
    pub fn new(name: String, stable: &str, versions: Versions, headers: Headers) -> Self {
        let catalog = Catalog::new(&versions);
        let registry = Registry::default();
        let table = Table::build(RoutingSpec::initial(stable, &versions), &catalog, &registry);
        Self {
            name,
            versions,
            catalog,
            registry,
            headers,
            table: ArcSwap::from_pointee(table),
            writer: Mutex::new(()),
        }
    }

    pub fn table(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// Applies one admin change atomically and returns the resulting state.
    pub fn update(
        &self,
        change: impl FnOnce(&RoutingSpec, &Versions) -> Result<RoutingSpec, RoutingError>,
    ) -> Result<TrafficState, RoutingError> {
        let _one_writer = crate::sync::lock(&self.writer);
        let current = self.table.load_full();
        let spec = change(&current.spec, &self.versions)?;
        // An unchanged spec keeps its table, so a repeated call does not
        // reset the weighted split's cursor.
        if spec != current.spec {
            tracing::info!(service = %self.name, ?spec, "routing changed");
            self.table
                .store(Arc::new(Table::build(spec, &self.catalog, &self.registry)));
        }
        Ok(self.traffic_state())
    }

    pub fn traffic_state(&self) -> TrafficState {
        traffic_of(&self.table())
    }

    /// The new side's counters against the stable side's (the baseline).
    pub fn reading(&self) -> Reading {
        reading_of(&self.table())
    }

    /// Both of the above from the same routing table.
    pub fn observed(&self) -> Observed {
        let table = self.table();
        Observed {
            traffic: traffic_of(&table),
            counters: reading_of(&table),
        }
    }
}

fn traffic_of(table: &Table) -> TrafficState {
    let instances = |route: &SideRoute| {
        route
            .instances
            .iter()
            .enumerate()
            .map(|(i, u)| Instance {
                name: u.addr.to_string(),
                in_rotation: i < route.in_rotation,
                healthy: u.health.is_healthy(),
            })
            .collect()
    };
    TrafficState {
        stable_version: table.stable.version.clone(),
        new_version: table.new.as_ref().map(|n| n.version.clone()),
        new_weight: table.new_weight(),
        stable: instances(&table.stable),
        new: table.new.as_ref().map(instances).unwrap_or_default(),
        flag_percent: None,
        planned_new: None,
    }
}

fn reading_of(table: &Table) -> Reading {
    Reading {
        new: table
            .new
            .as_ref()
            .map(|n| n.counters.snapshot().sample)
            .unwrap_or_default(),
        baseline: table.stable.counters.snapshot().sample,
    }
}
