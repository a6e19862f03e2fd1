//! Starts the demo's world: for every environment and service of the demo
//! configuration, sample service instances for each version, the embedded
//! data plane in front of them, and steady load on the released services.
//! A feature-flagged service gets a flag file of its own, in a temporary
//! directory, which its instances read as flagd would. A service with
//! migrations gets a database there, which its instances read and its
//! migrations change (see [`super::database`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::migrations::Migrations;
use crate::config::{Backend, Config, FlagdBackend, LocalBackend, Service};
use crate::dataplane::{DataPlane, DataPlaneConfig};
use crate::engine::Target;

use super::database::{self, Customers, Reads};
use super::flag_eval::FlagEvaluator;
use super::load::{Load, LoadStats};
use super::sample_service::{Behaviour, Flagged, SampleService};
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
    /// Holds the flag files of feature-flagged services and the databases
    /// of services with migrations.
    dir: tempfile::TempDir,
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
    #[error("creating a directory for the demo's flag files and databases: {0}")]
    Dir(std::io::Error),
    #[error("preparing the database of {target}: {why}")]
    Database { target: Target, why: String },
    #[error("writing the flag file of {target}: {source}")]
    FlagFile {
        target: Target,
        source: std::io::Error,
    },
}

impl World {
    pub async fn start(mut config: Config, plan: &WorldPlan) -> Result<World, WorldError> {
        let dir = tempfile::tempdir().map_err(WorldError::Dir)?;
        let mut world = World {
            config: config.clone(),
            planes: Vec::new(),
            services: Vec::new(),
            loads: Vec::new(),
            dir,
        };
        for env in &mut config.environments {
            for service in &mut env.services {
                let target = Target {
                    env: env.name.clone(),
                    service: service.name.clone(),
                };
                let released = service.name == plan.released_service;
                let flag = crate::providers::flagd::flag_of(service).to_string();
                let bad_backfill = released && plan.scenario == Scenario::BadMigration;
                let dir = world.dir.path().join(&target.env).join(&target.service);
                let db = give_database(service, dir, bad_backfill).map_err(|why| {
                    WorldError::Database {
                        target: target.clone(),
                        why,
                    }
                })?;
                let instances = match &mut service.backend {
                    Backend::Local(backend) => {
                        let scenario = plan.scenario;
                        start_instances(backend, &target, released, scenario, db).await?
                    }
                    Backend::Flagd(flagd) => {
                        let file = world
                            .dir
                            .path()
                            .join(format!("{}-{}.json", target.env, target.service));
                        write_flag_file(&file, &flag, &flagd.plane).map_err(|source| {
                            WorldError::FlagFile {
                                target: target.clone(),
                                source,
                            }
                        })?;
                        flagd.flag_file = file;
                        let on = released.then_some(plan.scenario);
                        start_flagged(flagd, &flag, &target, on).await?
                    }
                    // The demo's own configuration has local and flagd backends only.
                    Backend::Kubernetes(_) | Backend::HaProxy(_) => continue,
                };
                world.services.extend(instances);
                let Some(backend) = service.backend.plane_mut() else {
                    continue;
                };
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
                    let b = s.backend.plane()?;
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

/// A service with migrations on a local backend gets a database of its own
/// in `dir`, which becomes its working directory, where its migrations run;
/// returns the database's file. Other services get none.
fn give_database(
    service: &mut Service,
    dir: PathBuf,
    bad_backfill: bool,
) -> Result<Option<PathBuf>, String> {
    let (Some(migrations), Backend::Local(_)) = (&mut service.migrations, &service.backend) else {
        return Ok(None);
    };
    database::prepare(&dir, &service.name, bad_backfill)?;
    run_this_binary(migrations);
    let db = database::file_of(&dir, &service.name);
    service.workdir = dir;
    Ok(Some(db))
}

/// The demo configuration's migrations run `helmsman demo-db`: this
/// binary, wherever it is, rather than whichever `helmsman` is on the PATH.
/// (So only a world the helmsman binary starts can migrate.)
fn run_this_binary(migrations: &mut Migrations) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let phases = [
        &mut migrations.expand,
        &mut migrations.migrate,
        &mut migrations.contract,
        &mut migrations.down,
        &mut migrations.status,
    ];
    for argv in phases.into_iter().flatten() {
        if argv.first().is_some_and(|program| program == "helmsman") {
            argv[0] = exe.display().to_string();
        }
    }
}

/// A sample instance for every upstream of every version; the new version
/// of the released service misbehaves as the scenario says. With a
/// database, every instance reads a customer from it on each request: the
/// stable version by `name`, the others by `display_name`.
async fn start_instances(
    backend: &mut LocalBackend,
    target: &Target,
    released: bool,
    scenario: Scenario,
    db: Option<PathBuf>,
) -> Result<Vec<SampleService>, WorldError> {
    let new_version = new_version_of(backend).map(str::to_string);
    let mut instances = Vec::new();
    for (version, upstreams) in &mut backend.versions {
        let is_new = new_version.as_deref() == Some(version.as_str());
        let customers = db.clone().map(|db| Customers {
            db,
            reads: if *version == backend.stable {
                Reads::Name
            } else {
                Reads::DisplayName
            },
        });
        for (index, addr) in upstreams.iter_mut().enumerate() {
            let behaviour = Behaviour {
                customers: customers.clone(),
                ..if is_new && released {
                    scenario.new_version_behaviour(version, index)
                } else {
                    Behaviour::healthy(version)
                }
            };
            let instance = SampleService::start(*addr, behaviour)
                .await
                .map_err(|source| WorldError::SampleService {
                    target: target.clone(),
                    version: version.clone(),
                    addr: *addr,
                    source,
                })?;
            *addr = instance.addr();
            instances.push(instance);
        }
    }
    Ok(instances)
}

/// The flag `flag` with the data plane's variants, the stable one the
/// default for everyone.
fn write_flag_file(
    path: &std::path::Path,
    flag: &str,
    plane: &LocalBackend,
) -> std::io::Result<()> {
    let variants: serde_json::Map<String, serde_json::Value> = plane
        .versions
        .keys()
        .map(|v| (v.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let doc = serde_json::json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            flag: {
                "state": "ENABLED",
                "variants": variants,
                "defaultVariant": plane.stable,
            }
        }
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
}

/// The instances of a feature-flagged service: each runs every variant
/// and serves a request as the variant the flag file gives it; with a
/// scenario, the new variant misbehaves as it says.
async fn start_flagged(
    flagd: &mut FlagdBackend,
    flag: &str,
    target: &Target,
    scenario: Option<Scenario>,
) -> Result<Vec<SampleService>, WorldError> {
    let plane = &mut flagd.plane;
    let new_variant = new_version_of(plane).map(str::to_string);
    let upstreams = plane.versions.values().next().cloned().unwrap_or_default();
    let mut instances = Vec::new();
    for (index, addr) in upstreams.iter().enumerate() {
        let variants = plane
            .versions
            .keys()
            .map(|variant| {
                let behaviour = match scenario {
                    Some(s) if new_variant.as_deref() == Some(variant) => {
                        s.new_version_behaviour(variant, index)
                    }
                    _ => Behaviour::healthy(variant),
                };
                (variant.clone(), behaviour)
            })
            .collect();
        let flagged = Flagged {
            flag: FlagEvaluator::new(flagd.flag_file.clone(), flag),
            variants,
        };
        let instance = SampleService::start_flagged(*addr, flagged)
            .await
            .map_err(|source| WorldError::SampleService {
                target: target.clone(),
                version: plane.stable.clone(),
                addr: *addr,
                source,
            })?;
        instances.push(instance);
    }
    let bound: Vec<SocketAddr> = instances.iter().map(SampleService::addr).collect();
    for upstreams in plane.versions.values_mut() {
        *upstreams = bound.clone();
    }
    Ok(instances)
}
