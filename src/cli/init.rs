//! `helmsman init`: a commented starting configuration, written where
//! commands look for one, then checked as `check-config` would. One local
//! service by default; with `--kubernetes`, one Deployment in the current
//! context of the kubeconfig found (`KUBECONFIG`, else `~/.kube/config`),
//! which a plain `init` offers when it sees one.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use super::ExitCode;
use super::check_config::{self, CheckConfigArgs};

const LOCAL: &str = include_str!("../../assets/init/local.toml");
const KUBERNETES: &str = include_str!("../../assets/init/kubernetes.toml");

/// Writes the starting configuration to `file` (`--config`, else
/// `./helmsman.toml`), refusing to replace one unless `force`.
pub fn run(file: Option<&Path>, kubernetes: bool, force: bool) -> ExitCode {
    let file = file.map_or_else(|| PathBuf::from(super::CONFIG_FILE_NAME), Path::to_path_buf);
    if file.exists() && !force {
        crate::errln!(
            "error: {} exists already\n  hint: check it with `helmsman check-config`, or pass \
             --force to replace it",
            file.display()
        );
        return ExitCode::Usage;
    }
    let found = kubeconfig();
    let text = if kubernetes {
        let Some((path, config)) = &found else {
            crate::errln!(
                "error: no kubeconfig found (KUBECONFIG, ~/.kube/config)\n  hint: point \
                 KUBECONFIG at one, or run `helmsman init` for a service on this machine"
            );
            return ExitCode::Usage;
        };
        let Some(context) = config.current_context.clone() else {
            crate::errln!(
                "error: {} names no current context\n  hint: `kubectl config use-context NAME`",
                path.display()
            );
            return ExitCode::Usage;
        };
        for_context(config, &context)
    } else {
        LOCAL.to_string()
    };
    if let Err(e) = std::fs::write(&file, text) {
        crate::errln!("error: writing {}: {e}", file.display());
        return ExitCode::Runtime;
    }
    crate::outln!("wrote {}", file.display());
    if let (Some((path, config)), false) = (&found, kubernetes) {
        crate::outln!(
            "found a kubeconfig at {}{}: `helmsman init --kubernetes --force` writes a \
             Kubernetes configuration instead",
            path.display(),
            config
                .current_context
                .as_ref()
                .map(|c| format!(" (context {c})"))
                .unwrap_or_default()
        );
    }
    crate::outln!("");
    let args = CheckConfigArgs {
        file: Some(file),
        output: super::OutputFormat::Text,
    };
    check_config::run(&args, None)
}

/// The Kubernetes starting configuration for `context`, in its namespace.
fn for_context(config: &Kubeconfig, context: &str) -> String {
    let namespace = config
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref()?.namespace.clone())
        .unwrap_or_else(|| "default".to_string());
    let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
    KUBERNETES
        .replacen("\"CONTEXT\"", &quoted(context), 1)
        .replacen(
            "namespace = \"default\"",
            &format!("namespace = {}", quoted(&namespace)),
            1,
        )
}

/// The kubeconfig kubectl would read, if there is one and it parses.
fn kubeconfig() -> Option<(PathBuf, Kubeconfig)> {
    let path = match std::env::var_os("KUBECONFIG") {
        Some(paths) => std::env::split_paths(&paths).next()?,
        None => directories::BaseDirs::new()?
            .home_dir()
            .join(".kube")
            .join("config"),
    };
    let config = Kubeconfig::read_from(&path).ok()?;
    Some((path, config))
}
