//! What a deployment report reads besides the releases and their events:
//! the deployment itself (one request through its environments in order),
//! the preflight checks run before each environment, each release's last
//! state with the alert bands it was drawn against, and operators' notes.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{ENTRY_SELECT, Entry, Filter, History, StoreError, from_json, json};
use crate::config::Bands;
use crate::engine::{Actor, InstanceCounts, Snapshot};
use crate::metrics::ResourceUse;
use crate::preflight::Report;

/// A deployment as it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStart {
    pub id: String,
    pub service: String,
    pub version: String,
    /// In the order they are released to.
    pub envs: Vec<String>,
    /// The strategy the request asked for, when it overrode the service's.
    pub strategy: Option<String>,
    pub started_by: Actor,
    pub started_at: DateTime<Utc>,
}

/// A deployment in the journal, finished or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    #[serde(flatten)]
    pub start: DeploymentStart,
    pub finished_at: Option<DateTime<Utc>>,
    /// The words of `helmsman release`'s result: `succeeded`,
    /// `rolled-back`, `aborted`, `refused`, `blocked` (a check failed),
    /// `interrupted`, `error`; none while it runs or when its driver died.
    pub outcome: Option<String>,
    pub reason: String,
}

/// The preflight checks of one environment, run before its release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightRun {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub report: Report,
}

/// A note an operator added to a deployment's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub by: Actor,
    pub text: String,
}

/// A release's state when it ended, the bands its figures are read
/// against, and what each version used of its CPU and memory.
#[derive(Debug, Clone, PartialEq)]
pub struct LastState {
    pub snapshot: Snapshot,
    pub bands: Option<Bands>,
    pub resources: ResourceUse,
}

impl History {
    /// Writes that a deployment started, before its first check runs.
    pub fn deployment_begin(&mut self, start: &DeploymentStart) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO deployments (id, service, version, envs, strategy, started_by, \
                 started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    start.id,
                    start.service,
                    start.version,
                    json(&start.envs),
                    start.strategy,
                    json(&start.started_by),
                    start.started_at,
                ],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Writes how a deployment ended.
    pub fn deployment_end(
        &mut self,
        id: &str,
        outcome: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                "UPDATE deployments SET finished_at = ?2, outcome = ?3, reason = ?4 \
                 WHERE id = ?1 AND finished_at IS NULL",
                params![id, at, outcome, reason],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Writes the preflight checks run before a deployment's release in `env`.
    pub fn preflight(&mut self, deployment: &str, run: &PreflightRun) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO preflights (deployment, env, started_at, finished_at, report) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    deployment,
                    run.report.env,
                    run.started_at,
                    run.finished_at,
                    json(&run.report),
                ],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Writes a release's state as it ended, with the service's bands and
    /// the resources its versions used.
    pub fn last_state(
        &mut self,
        release_id: &str,
        snapshot: &Snapshot,
        bands: &Bands,
        resources: &ResourceUse,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                "UPDATE releases SET last_state = ?2, bands = ?3, resources = ?4 WHERE id = ?1",
                params![release_id, json(snapshot), json(bands), json(resources)],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Writes the stable version's instances as a release first read them;
    /// a release resumed later keeps what it read when it began.
    pub fn stable_at_start(
        &mut self,
        release_id: &str,
        stable: &InstanceCounts,
    ) -> Result<(), StoreError> {
        self.db()
            .execute(
                "UPDATE releases SET stable_at_start = ?2 WHERE id = ?1 AND stable_at_start IS NULL",
                params![release_id, json(stable)],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Appends an operator's note to a deployment's record.
    pub fn note(&mut self, deployment: &str, note: &Note) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO notes (deployment, at, actor, text) VALUES (?1, ?2, ?3, ?4)",
                params![deployment, note.at, json(&note.by), note.text],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// One deployment, by its id.
    pub fn deployment(&self, id: &str) -> Result<Option<Deployment>, StoreError> {
        self.db()
            .query_row(
                "SELECT id, service, version, envs, strategy, started_by, started_at, \
                 finished_at, outcome, reason FROM deployments WHERE id = ?1",
                params![id],
                deployment,
            )
            .optional()
            .map_err(|e| self.failed(e))
    }

    /// The deployment that `id` names: a deployment's own id, or the id
    /// of one of its releases. A release journaled before deployments
    /// were stands for itself: [`Found::Release`].
    pub fn find_deployment(&self, id: &str) -> Result<Option<Found>, StoreError> {
        if let Some(found) = self.deployment(id)? {
            return Ok(Some(Found::Deployment(Box::new(found))));
        }
        let owner: Option<Option<String>> = self
            .db()
            .query_row(
                "SELECT deployment FROM releases WHERE id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.failed(e))?;
        match owner {
            None => Ok(None),
            Some(Some(deployment)) => Ok(self
                .deployment(&deployment)?
                .map(|d| Found::Deployment(Box::new(d)))),
            Some(None) => Ok(Some(Found::Release(id.to_string()))),
        }
    }

    /// The newest deployment `filter` selects (its environment among the
    /// deployment's), or the newest release journaled before deployments
    /// were, when that is newer.
    pub fn last_deployment(&self, filter: &Filter) -> Result<Option<Found>, StoreError> {
        let db = self.db();
        let newest = db
            .query_row(
                "SELECT id, started_at, 0 FROM deployments \
                 WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM json_each(envs) WHERE value = ?1)) \
                 AND (?2 IS NULL OR service = ?2) \
                 UNION ALL \
                 SELECT id, started_at, 1 FROM releases WHERE deployment IS NULL \
                 AND (?1 IS NULL OR env = ?1) AND (?2 IS NULL OR service = ?2) \
                 ORDER BY 2 DESC LIMIT 1",
                params![filter.env, filter.service],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(2)? == 1)),
            )
            .optional()
            .map_err(|e| self.failed(e))?;
        drop(db);
        match newest {
            None => Ok(None),
            Some((id, true)) => Ok(Some(Found::Release(id))),
            Some((id, false)) => Ok(self
                .deployment(&id)?
                .map(|d| Found::Deployment(Box::new(d)))),
        }
    }

    /// A deployment's releases, in the order they started.
    pub fn releases_of(&self, deployment: &str) -> Result<Vec<Entry>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(&format!(
                "{ENTRY_SELECT} WHERE deployment = ?1 ORDER BY started_at, rowid"
            ))
            .map_err(|e| self.failed(e))?;
        statement
            .query_map(params![deployment], super::entry)
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))
    }

    /// One release, by its id.
    pub fn release(&self, id: &str) -> Result<Option<Entry>, StoreError> {
        self.db()
            .query_row(
                &format!("{ENTRY_SELECT} WHERE id = ?1"),
                params![id],
                super::entry,
            )
            .optional()
            .map_err(|e| self.failed(e))
    }

    /// The preflight checks run for a deployment, in the order they ran.
    pub fn preflights(&self, deployment: &str) -> Result<Vec<PreflightRun>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT started_at, finished_at, report FROM preflights \
                 WHERE deployment = ?1 ORDER BY rowid",
            )
            .map_err(|e| self.failed(e))?;
        statement
            .query_map(params![deployment], |row| {
                Ok(PreflightRun {
                    started_at: row.get(0)?,
                    finished_at: row.get(1)?,
                    report: from_json(row, 2)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))
    }

    /// A deployment's notes, oldest first.
    pub fn notes(&self, deployment: &str) -> Result<Vec<Note>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare("SELECT at, actor, text FROM notes WHERE deployment = ?1 ORDER BY rowid")
            .map_err(|e| self.failed(e))?;
        statement
            .query_map(params![deployment], |row| {
                Ok(Note {
                    at: row.get(0)?,
                    by: from_json(row, 1)?,
                    text: row.get(2)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))
    }

    /// The stable version's instances as a release first read them; none
    /// when it never read them or was journaled before this was kept.
    pub fn stable_at_start_of(
        &self,
        release_id: &str,
    ) -> Result<Option<InstanceCounts>, StoreError> {
        self.db()
            .query_row(
                "SELECT stable_at_start FROM releases \
                 WHERE id = ?1 AND stable_at_start IS NOT NULL",
                params![release_id],
                |row| from_json(row, 0),
            )
            .optional()
            .map_err(|e| self.failed(e))
    }

    /// The deployments `filter` selects that started at or after `since`,
    /// oldest first, with the releases journaled before deployments were
    /// (each a deployment of its own).
    pub fn deployments_since(
        &self,
        filter: &Filter,
        since: DateTime<Utc>,
    ) -> Result<Vec<Found>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT id, started_at, 0 FROM deployments WHERE started_at >= ?3 \
                 AND (?1 IS NULL OR EXISTS (SELECT 1 FROM json_each(envs) WHERE value = ?1)) \
                 AND (?2 IS NULL OR service = ?2) \
                 UNION ALL \
                 SELECT id, started_at, 1 FROM releases WHERE deployment IS NULL \
                 AND started_at >= ?3 AND (?1 IS NULL OR env = ?1) AND (?2 IS NULL OR service = ?2) \
                 ORDER BY 2",
            )
            .map_err(|e| self.failed(e))?;
        let ids: Vec<(String, bool)> = statement
            .query_map(params![filter.env, filter.service, since], |row| {
                Ok((row.get(0)?, row.get::<_, i64>(2)? == 1))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.failed(e))?;
        drop(statement);
        drop(db);
        let mut found = Vec::with_capacity(ids.len());
        for (id, alone) in ids {
            if alone {
                found.push(Found::Release(id));
            } else if let Some(d) = self.deployment(&id)? {
                found.push(Found::Deployment(Box::new(d)));
            }
        }
        Ok(found)
    }

    /// A release's state as it ended; none for one still running, one
    /// whose driver died, or one journaled before this was kept.
    pub fn last_state_of(&self, release_id: &str) -> Result<Option<LastState>, StoreError> {
        self.db()
            .query_row(
                "SELECT last_state, bands, resources FROM releases \
                 WHERE id = ?1 AND last_state IS NOT NULL",
                params![release_id],
                |row| {
                    let kept = |i| -> rusqlite::Result<Option<String>> { row.get(i) };
                    Ok(LastState {
                        snapshot: from_json(row, 0)?,
                        bands: kept(1)?.and_then(|b| serde_json::from_str(&b).ok()),
                        resources: kept(2)?
                            .and_then(|r| serde_json::from_str(&r).ok())
                            .unwrap_or_default(),
                    })
                },
            )
            .optional()
            .map_err(|e| self.failed(e))
    }
}

/// What a report id names in the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Deployment(Box<Deployment>),
    /// A release journaled before deployments were: a deployment of its own.
    Release(String),
}

fn deployment(row: &rusqlite::Row<'_>) -> rusqlite::Result<Deployment> {
    Ok(Deployment {
        start: DeploymentStart {
            id: row.get(0)?,
            service: row.get(1)?,
            version: row.get(2)?,
            envs: from_json(row, 3)?,
            strategy: row.get(4)?,
            started_by: from_json(row, 5)?,
            started_at: row.get(6)?,
        },
        finished_at: row.get(7)?,
        outcome: row.get(8)?,
        reason: row.get(9)?,
    })
}
