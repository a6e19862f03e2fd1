//! What a release runs outside its traffic steps, in words for `helmsman
//! plan`: the pre_release hooks and expand before anything moves; the
//! post_release hooks and contract once it succeeded; down and the
//! on_rollback hooks once a rollback brought the traffic back.

use crate::config::migrations::{ContractWhen, Migrations, Phase};
use crate::config::{HookPoint, Service};

/// The phases around the traffic steps of a release of `service` from
/// `stable` to `new`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Around {
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub on_rollback: Vec<String>,
}

pub fn around(service: &Service, stable: &str, new: &str) -> Around {
    let hooks = |point: HookPoint, then: &str| -> Vec<String> {
        service
            .hooks
            .iter()
            .filter(|h| h.at == point)
            .map(|h| format!("{point} hook {}{then}", h.name))
            .collect()
    };
    let mut around = Around {
        before: hooks(HookPoint::PreRelease, ": a failure refuses the release"),
        ..Around::default()
    };
    let migrations = service.migrations.as_ref();
    let command = |phase: Phase| {
        migrations
            .and_then(|m| m.command(phase))
            .map(|c| c.join(" "))
    };
    if let Some(expand) = command(Phase::Expand) {
        around.before.push(format!(
            "expand: {expand} (a failure refuses the release, nothing moved)"
        ));
    }
    around.after = hooks(HookPoint::PostRelease, "");
    if let (Some(m), Some(contract)) = (migrations, command(Phase::Contract)) {
        around.after.push(contract_words(m, &contract, stable, new));
    }
    if let Some(down) = command(Phase::Down) {
        around.on_rollback.push(format!(
            "down: {down} (once the traffic is back on {stable})"
        ));
    }
    around.on_rollback.extend(hooks(HookPoint::OnRollback, ""));
    around
}

fn contract_words(m: &Migrations, contract: &str, stable: &str, new: &str) -> String {
    let when = match m.contract_when {
        ContractWhen::Auto => format!("runs once {new} alone serves"),
        ContractWhen::Confirm => {
            format!("waits, once {new} alone serves, for `helmsman migrations contract`")
        }
    };
    format!(
        "contract: {contract} — the point of no return ({stable} will no longer fit the schema); {when}"
    )
}
