//! Starts the demo's world: for every environment and service of the demo
//! configuration, sample service instances for each version, the embedded
//! data plane in front of them, and steady load on the released services.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Backend, Config, LocalBackend};
use crate::dataplane::{DataPlane, DataPlaneConfig};
use crate::engine::Target;

use super::load::{Load, LoadStats};
use super::sample_service::{Behaviour, SampleService};
use super::scenario::Scenario;

/// The version a demo service is released to: the one in `versions` that is
/// not `stable` (the last, if the file lists several).
pub fn new_version_of(backend: &LocalBackend) -> Option<&str> {
    backend
        .versions
        .keys()
        .rfind(|v| **v != backend.stable)
        .map(String::as_str)
}

/// What the world runs.
pub struct WorldPlan {
    pub scenario: Scenario,
    /// The service whose new version misbehaves as the scenario says, and
    /// which receives load. Other services' new versions behave.
    pub released_service: String,
    /// Requests per second sent to each loaded service, per environment.
    pub rate: u32,
    /// Load every service (the cockpit), not only the released one.
    pub load_every_service: bool,
}

pub struct World {
    /// The demo configuration with every port-0 address replaced by the
    /// address actually bound.
    pub config: Config,
    planes: Vec<DataPlane>,
    services: Vec<SampleService>,
    loads: Vec<(Target, Load)>,
}

/// What kept the demo's world from starting.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("starting {target} {version} on {addr}: {source}")]
    SampleService {
        target: Target,
        version: String,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("starting the data plane of {target}: {source}")]
    DataPlane {
        target: Target,
        source: std::io::Error,
    },
}

impl World {
    pub async fn start(mut config: Config, plan: &WorldPlan) -> Result<World, WorldError> {
        let mut world = World {
            config: config.clone(),
            planes: Vec::new(),
            services: Vec::new(),
            loads: Vec::new(),
        };
        for env in &mut config.environments {
            for service in &mut env.services {
                let target = Target {
                    env: env.name.clone(),
                    service: service.name.clone(),
                };
                // The demo's own configuration has local backends only.
                let Backend::Local(backend) = &mut service.backend else {
                    continue;
                };
                let released = service.name == plan.released_service;
                let new_version = new_version_of(backend).map(str::to_string);
                for (version, upstreams) in &mut backend.versions {
                    let is_new = new_version.as_deref() == Some(version.as_str());
                    for (index, addr) in upstreams.iter_mut().enumerate() {
                        let behaviour = if is_new && released {
                            plan.scenario.new_version_behaviour(version, index)
                        } else {
                            Behaviour::healthy(version)
                        };
                        let instance =
                            SampleService::start(*addr, behaviour)
                                .await
                                .map_err(|source| WorldError::SampleService {
                                    target: target.clone(),
                                    version: version.clone(),
                                    addr: *addr,
                                    source,
                                })?;
                        *addr = instance.addr();
                        world.services.push(instance);
                    }
                }
                let plane = DataPlane::start(DataPlaneConfig::from_backend(
                    target.to_string(),
                    backend,
                    &service.health,
                ))
                .await
                .map_err(|source| WorldError::DataPlane {
                    target: target.clone(),
                    source,
                })?;
                backend.listen = plane.listen_addr();
                backend.admin = plane.admin_addr();
                backend.admin_token = Some(plane.admin_token().clone());
                if released || plan.load_every_service {
                    world
                        .loads
                        .push((target, Load::start(backend.listen, plan.rate)));
                }
                world.planes.push(plane);
            }
        }
        world.config = config;
        Ok(world)
    }

    /// Where users reach each service.
    pub fn entry_points(&self) -> Vec<(Target, SocketAddr)> {
        self.config
            .environments
            .iter()
            .flat_map(|env| {
                env.services.iter().filter_map(|s| {
                    let Backend::Local(b) = &s.backend else {
                        return None;
                    };
                    Some((
                        Target {
                            env: env.name.clone(),
                            service: s.name.clone(),
                        },
                        b.listen,
                    ))
                })
            })
            .collect()
    }

    pub fn load_stats(&self) -> impl Iterator<Item = (&Target, &LoadStats)> {
        self.loads.iter().map(|(t, l)| (t, l.stats()))
    }

    /// Stops the load first and waits for its last answers (so no request
    /// is cut off by the proxies stopping), then the data planes, then the
    /// services. Returns what the users saw, per loaded service.
    pub async fn stop(self) -> Vec<(Target, Arc<LoadStats>)> {
        let mut seen = Vec::new();
        for (target, load) in self.loads {
            let stats = load.shared_stats();
            load.stop().await;
            seen.push((target, stats));
        }
        for plane in self.planes {
            plane.shutdown().await;
        }
        drop(self.services);
        seen
    }
}
