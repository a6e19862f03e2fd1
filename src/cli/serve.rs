//! `helmsman serve`: runs the embedded data plane of every local-backend
//! service (or those of one environment) until interrupted. Releases talk
//! to it through its admin address.

use std::path::Path;

use crate::config::{Backend, Config};
use crate::dataplane::{DataPlane, DataPlaneConfig};

pub async fn run(config: &Config, state_dir: &Path, env: Option<&str>) -> i32 {
    if let Some(env) = env {
        if config.environment(env).is_none() {
            eprintln!(
                "error: no environment `{env}` in {}",
                config.source.display()
            );
            return 2;
        }
    }
    let history = match super::open_history(state_dir) {
        Ok(history) => history,
        Err(code) => return code,
    };
    let mut planes = Vec::new();
    for environment in &config.environments {
        if env.is_some_and(|e| e != environment.name) {
            continue;
        }
        for service in &environment.services {
            // Only local backends have a data plane to serve.
            let Backend::Local(backend) = &service.backend else {
                continue;
            };
            let mut backend = backend.clone();
            // Resume from the last successful release, if that version is still configured.
            if let Some(current) = history.current_version(&environment.name, &service.name) {
                if backend.versions.contains_key(current) {
                    backend.stable = current.to_string();
                }
            }
            let name = format!("{}/{}", environment.name, service.name);
            match DataPlane::start(DataPlaneConfig::from_backend(
                name.clone(),
                &backend,
                &service.health,
            ))
            .await
            {
                Ok(plane) => {
                    println!(
                        "{name}: serving {} on http://{} (admin and /metrics on http://{})",
                        backend.stable,
                        plane.listen_addr(),
                        plane.admin_addr()
                    );
                    planes.push(plane);
                }
                Err(e) => {
                    eprintln!(
                        "error: {name}: cannot start the data plane on {} / {}: {e}",
                        backend.listen, backend.admin
                    );
                    for plane in planes {
                        plane.shutdown().await;
                    }
                    return 1;
                }
            }
        }
    }
    println!(
        "serving {} data plane(s); Ctrl-C stops them (in-flight requests finish first)",
        planes.len()
    );
    let _ = tokio::signal::ctrl_c().await;
    for plane in planes {
        plane.shutdown().await;
    }
    0
}
