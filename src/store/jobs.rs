//! The runs of migration phases and hooks, and where each service's
//! migrations stand in each environment.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{History, StoreError, from_json, json};
use crate::engine::Target;
use crate::jobs::JobRun;

/// One run, as a deployment's report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub env: String,
    pub service: String,
    pub version: String,
    pub run: JobRun,
}

/// Where one service's migrations stand in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationState {
    pub phase: MigrationPhase,
    /// The version the migration set is for, and the one it replaces.
    pub version: String,
    pub previous_version: String,
    /// What identifies the set (the staging-first rule compares it).
    pub digest: String,
    pub at: DateTime<Utc>,
    /// The last phase's one-line summary.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationPhase {
    /// Expand is running.
    Expanding,
    /// Expand passed; the backfill has not run.
    Expanded,
    /// The backfill passed.
    Migrated,
    /// The release succeeded; contract waits for a human.
    ContractPending,
    /// Contract passed: the schema no longer fits the previous version.
    Contracted,
    /// A rollback brought traffic back and `down` undid the migrations.
    RolledBack,
    /// A phase failed (the detail says which).
    Failed,
}

impl MigrationPhase {
    /// Whether a human should know of it beside the releases in flight:
    /// mid-way, waiting for a contract, or failed.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            MigrationPhase::Contracted | MigrationPhase::RolledBack
        )
    }

    pub fn words(self) -> &'static str {
        match self {
            MigrationPhase::Expanding => "expanding",
            MigrationPhase::Expanded => "expanded",
            MigrationPhase::Migrated => "migrated",
            MigrationPhase::ContractPending => "contract pending",
            MigrationPhase::Contracted => "contracted",
            MigrationPhase::RolledBack => "rolled back",
            MigrationPhase::Failed => "failed",
        }
    }
}

impl History {
    /// Writes one run of a migration phase or a hook of `deployment`.
    pub fn job(&mut self, deployment: &str, record: &JobRecord) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO jobs (deployment, env, service, version, run) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    deployment,
                    record.env,
                    record.service,
                    record.version,
                    json(&record.run)
                ],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Writes one run of a job the engine ran for release `release_id`,
    /// under the release's deployment.
    pub fn release_job(&mut self, release_id: &str, record: &JobRecord) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO jobs (deployment, env, service, version, run) \
                 SELECT COALESCE(deployment, id), ?2, ?3, ?4, ?5 FROM releases WHERE id = ?1",
                params![
                    release_id,
                    record.env,
                    record.service,
                    record.version,
                    json(&record.run)
                ],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// The runs of `deployment`, in the order they ended.
    pub fn jobs(&self, deployment: &str) -> Result<Vec<JobRecord>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT env, service, version, run FROM jobs WHERE deployment = ?1 ORDER BY rowid",
            )
            .map_err(|e| self.failed(e))?;
        statement
            .query_map(params![deployment], |row| {
                Ok(JobRecord {
                    env: row.get(0)?,
                    service: row.get(1)?,
                    version: row.get(2)?,
                    run: from_json(row, 3)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))
    }

    /// Records where `target`'s migrations stand now.
    pub fn set_migration_state(
        &mut self,
        target: &Target,
        state: &MigrationState,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO migration_states (env, service, state) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (env, service) DO UPDATE SET state = excluded.state",
                params![target.env, target.service, json(state)],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Where every service's migrations stand, by environment and service.
    pub fn migration_states(&self) -> Result<Vec<(Target, MigrationState)>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare("SELECT env, service, state FROM migration_states ORDER BY env, service")
            .map_err(|e| self.failed(e))?;
        statement
            .query_map([], |row| {
                Ok((
                    Target {
                        env: row.get(0)?,
                        service: row.get(1)?,
                    },
                    from_json(row, 2)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))
    }

    /// Where `target`'s migrations stand, if it ever ran any.
    pub fn migration_state(&self, target: &Target) -> Result<Option<MigrationState>, StoreError> {
        self.db()
            .query_row(
                "SELECT state FROM migration_states WHERE env = ?1 AND service = ?2",
                params![target.env, target.service],
                |row| from_json(row, 0),
            )
            .optional()
            .map_err(|e| self.failed(e))
    }
}
