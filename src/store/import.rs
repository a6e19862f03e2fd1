//! The history of earlier versions, one JSON record per line in
//! `releases.jsonl`: imported into the journal once, then renamed so it is
//! kept but not read again.

use std::path::Path;

use rusqlite::{Connection, params};

use super::ReleaseRecord;

const OLD_FILE: &str = "releases.jsonl";
const KEPT_AS: &str = "releases.jsonl.imported";

/// Imports `state_dir`'s `releases.jsonl`, if there is one, in one
/// transaction. Lines that do not parse (a torn last line after a crash)
/// are skipped, as the old reader skipped them.
pub fn jsonl(db: &mut Connection, state_dir: &Path) -> rusqlite::Result<()> {
    let old = state_dir.join(OLD_FILE);
    let Ok(text) = std::fs::read_to_string(&old) else {
        return Ok(());
    };
    let records: Vec<ReleaseRecord> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let tx = db.transaction()?;
    for r in &records {
        tx.execute(
            "INSERT OR IGNORE INTO releases (id, env, service, strategy, stable_version, \
             new_version, started_by, started_at, finished_at, result, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                r.id,
                r.target.env,
                r.target.service,
                r.strategy,
                r.stable_version,
                r.new_version,
                super::json(&r.started_by),
                r.started_at,
                r.finished_at,
                super::word(r.result),
                r.reason,
            ],
        )?;
    }
    tx.execute(
        "INSERT OR REPLACE INTO imported (file, at) VALUES (?1, ?2)",
        params![OLD_FILE, chrono::Utc::now()],
    )?;
    tx.commit()?;
    if let Err(e) = std::fs::rename(&old, state_dir.join(KEPT_AS)) {
        // Imported again next time: harmless, each record is kept once.
        tracing::warn!("could not rename {} after importing it: {e}", old.display());
    }
    tracing::info!(
        "imported {} release(s) from {} into the journal",
        records.len(),
        old.display()
    );
    Ok(())
}
