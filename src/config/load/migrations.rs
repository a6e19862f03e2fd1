//! Reading a service's `[environments.services.migrations]` table.

use super::*;
use crate::config::migrations::{ContractWhen, Migrations, Phase, Tool};

const KEYS: &[&str] = &[
    "expand",
    "migrate",
    "contract",
    "down",
    "status",
    "timeout",
    "migrate_above",
    "contract_after",
    "files",
    "tool",
    "migration",
    "args",
];
const CONTRACT_AFTER: [&str; 2] = ["confirm", "success"];

impl Walker<'_, '_> {
    /// The migrations of service `who` in environment `env`.
    pub(super) fn migrations(&mut self, value: &Value, env: &str) -> Option<Migrations> {
        let table = as_table(self.errors, "migrations", value)?;
        check_keys(
            self.errors,
            table,
            KEYS,
            "an `[environments.services.migrations]` table",
        );
        let mut migrations = match get(table, "tool") {
            Some(tool) => self.migration_tool(table, tool)?,
            None => Migrations::none(),
        };
        let mut complete = true;
        let hint = "write the command as an argv array, e.g. expand = [\"psql\", \"-v\", \"ON_ERROR_STOP=1\", \"-f\", \"db/expand.sql\"]";
        for phase in Phase::ALL {
            let Some(v) = get(table, phase.name()) else {
                continue;
            };
            if migrations.tool.is_some() {
                self.errors.add_hint(
                    &v.span(),
                    format!("`{phase}` is written by `tool`"),
                    "remove `tool` to write every phase's command yourself, or this key to use the tool's",
                );
                complete = false;
                continue;
            }
            match self.argv(phase.name(), v, hint) {
                Some(argv) => *phase_slot(&mut migrations, phase) = Some(argv),
                None => complete = false,
            }
        }
        if migrations.expand.is_none() && migrations.migrate.is_none() {
            self.errors.add_hint(
                &value.span(),
                "these migrations have neither `expand` nor `migrate`",
                "a migration set starts with `expand` (add what the new version needs) or `migrate` (backfill)",
            );
            complete = false;
        }
        if migrations.contract.is_some() && migrations.down.is_none() && migrations.tool.is_none() {
            self.errors.add_hint(
                &value.span(),
                "these migrations have no `down`",
                "add `down`, the command that undoes expand and migrate: a rollback before contract runs it",
            );
            complete = false;
        }
        complete &= self.optional(
            table,
            "timeout",
            as_positive_duration,
            &mut migrations.timeout,
        );
        if let Some(v) = get(table, "migrate_above") {
            match as_int_in(
                self.errors,
                "migrate_above",
                v,
                0,
                99,
                "a share in percent, 0 to 99",
            ) {
                Some(share) => migrations.migrate_above = Some(share as u8),
                None => complete = false,
            }
        }
        migrations.contract_when = if is_prod(env) {
            ContractWhen::Confirm
        } else {
            ContractWhen::Auto
        };
        if let Some(v) = get(table, "contract_after") {
            match as_str(self.errors, "contract_after", v) {
                Some("confirm") => migrations.contract_when = ContractWhen::Confirm,
                Some("success") => migrations.contract_when = ContractWhen::Auto,
                Some(other) => {
                    self.errors.add_hint(
                        &v.span(),
                        format!("unknown `contract_after` `{other}`"),
                        format!(
                            "one of {}: `confirm` waits for `helmsman migrations contract`",
                            quoted_list(&CONTRACT_AFTER)
                        ),
                    );
                    complete = false;
                }
                None => complete = false,
            }
        }
        if let Some(v) = get(table, "files") {
            match self.string_list(v, "files") {
                Some(files) => migrations.files = files,
                None => complete = false,
            }
        }
        complete.then_some(migrations)
    }

    /// The commands a `tool` preset writes.
    fn migration_tool(&mut self, table: &Table, tool: &Value) -> Option<Migrations> {
        let name = as_str(self.errors, "tool", tool)?;
        let tool_kind = match name {
            "pgroll" => Tool::Pgroll,
            other => {
                self.errors.add_hint(
                    &tool.span(),
                    format!("unknown migration tool `{other}`"),
                    suggestion(other, &Tool::NAMES, "tools"),
                );
                return None;
            }
        };
        let migration = self.required(
            table,
            &tool.span(),
            "migration",
            "these pgroll migrations",
            "add `migration = \"db/0042_add_email.json\"`, the pgroll migration file `pgroll start` runs",
        )?;
        let migration = as_name(self.errors, "migration", migration)?;
        let args = match get(table, "args") {
            Some(v) => self.string_list(v, "args")?,
            None => Vec::new(),
        };
        Some(tool_kind.commands(&migration, &args))
    }

    /// An array of non-empty strings.
    fn string_list(&mut self, value: &Value, key: &str) -> Option<Vec<String>> {
        let items = as_array(self.errors, key, value)?;
        let list: Vec<String> = items
            .iter()
            .filter_map(|item| as_name(self.errors, key, item))
            .collect();
        (list.len() == items.len()).then_some(list)
    }
}

fn phase_slot(migrations: &mut Migrations, phase: Phase) -> &mut Option<Vec<String>> {
    match phase {
        Phase::Expand => &mut migrations.expand,
        Phase::Migrate => &mut migrations.migrate,
        Phase::Contract => &mut migrations.contract,
        Phase::Down => &mut migrations.down,
        Phase::Status => &mut migrations.status,
    }
}
