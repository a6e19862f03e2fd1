//! The demo's database: an SQLite file per environment holding checkout's
//! customers, which checkout's sample instances read on every request and
//! whose schema the release migrates in three phases. v1.4.2 greets a
//! customer by `name`; v1.5.0 by `display_name`, which expand adds and the
//! backfill fills; contract drops `name`. The SQL is in
//! `assets/demo-migrations/`, written beside the database so the release
//! runs it through `helmsman demo-db`, as a team's would through `psql`.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// The schema and rows the stable version starts from.
const SEED: &str = include_str!("../../assets/demo-migrations/seed.sql");

/// The migration set's files, as the demo configuration names them.
const FILES: [(&str, &str); 4] = [
    (
        "expand.sql",
        include_str!("../../assets/demo-migrations/expand.sql"),
    ),
    (
        "backfill.sql",
        include_str!("../../assets/demo-migrations/backfill.sql"),
    ),
    (
        "contract.sql",
        include_str!("../../assets/demo-migrations/contract.sql"),
    ),
    (
        "down.sql",
        include_str!("../../assets/demo-migrations/down.sql"),
    ),
];

/// The backfill of the `bad-migration` scenario, written as `backfill.sql`.
const BAD_BACKFILL: &str = include_str!("../../assets/demo-migrations/backfill-bad.sql");

/// The database of `service` in `dir`, its working directory.
pub fn file_of(dir: &Path, service: &str) -> PathBuf {
    dir.join(format!("{service}.db"))
}

/// Writes the migration set into `dir` (with the failing backfill if
/// `bad_backfill`) and a fresh database of `service` at the stable schema.
pub fn prepare(dir: &Path, service: &str, bad_backfill: bool) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, sql) in FILES {
        let sql = if name == "backfill.sql" && bad_backfill {
            BAD_BACKFILL
        } else {
            sql
        };
        let path = dir.join(name);
        std::fs::write(&path, sql).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let db = file_of(dir, service);
    let conn = Connection::open(&db).map_err(|e| format!("{}: {e}", db.display()))?;
    // Readers never wait for a migration's writes, nor it for them.
    conn.pragma_update(None, "journal_mode", "WAL")
        .and_then(|()| conn.execute_batch(SEED))
        .map_err(|e| format!("{}: {e}", db.display()))
}

/// Runs the SQL file `sql` on `db` in one transaction (all of it or none),
/// and says what the table looks like after.
pub fn run_file(db: &Path, sql: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(sql).map_err(|e| format!("{}: {e}", sql.display()))?;
    let mut conn = open(db, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let name = sql.display();
    let tx = conn.transaction().map_err(|e| format!("{name}: {e}"))?;
    tx.execute_batch(&text)
        .and_then(|()| tx.commit())
        .map_err(|e| format!("{name}: {e} (nothing of it applied)"))?;
    Ok(format!("{name} applied: {}", describe_with(&conn)?))
}

/// The customers table's columns and how many rows have a display name.
pub fn describe(db: &Path) -> Result<String, String> {
    describe_with(&open(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?)
}

fn describe_with(conn: &Connection) -> Result<String, String> {
    let columns = columns(conn).map_err(|e| e.to_string())?;
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    let mut said = format!("customers({}), {rows} rows", columns.join(", "));
    if columns.iter().any(|c| c == "display_name") {
        let named: i64 = conn
            .query_row("SELECT count(display_name) FROM customers", [], |r| {
                r.get(0)
            })
            .map_err(|e| e.to_string())?;
        said.push_str(&format!(", {named} with a display_name"));
    }
    Ok(said)
}

fn columns(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare("SELECT name FROM pragma_table_info('customers')")?;
    statement.query_map([], |r| r.get(0))?.collect()
}

fn open(db: &Path, flags: OpenFlags) -> Result<Connection, String> {
    // Not created here: a missing database is a mistake to say.
    let conn = Connection::open_with_flags(db, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("{}: {e}", db.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(2))
        .map_err(|e| format!("{}: {e}", db.display()))?;
    Ok(conn)
}

/// How a version of checkout reads a customer's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// v1.4.2: `name`.
    Name,
    /// v1.5.0: `display_name`, or `name` until the backfill filled it.
    DisplayName,
}

/// What one instance reads its customers from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customers {
    pub db: PathBuf,
    pub reads: Reads,
}

impl Customers {
    /// The name the instance greets customer `n` (any number: it wraps
    /// around the table) by, or SQLite's words for why it cannot.
    pub fn greet(&self, n: u64) -> Result<String, String> {
        let conn = open(&self.db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let count: i64 = conn
            .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        let id = (n % count.max(1) as u64) as i64 + 1;
        let read = |column: &str| -> Result<Option<String>, String> {
            conn.query_row(
                &format!("SELECT {column} FROM customers WHERE id = ?1"),
                [id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| e.to_string())
        };
        let name = match self.reads {
            Reads::Name => read("name")?,
            Reads::DisplayName => match read("display_name")? {
                Some(name) => Some(name),
                None => read("name")?,
            },
        };
        Ok(name.unwrap_or_else(|| format!("customer {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greet(dir: &Path, reads: Reads) -> Result<String, String> {
        Customers {
            db: file_of(dir, "checkout"),
            reads,
        }
        .greet(3)
    }

    /// The phases in the order a release runs them: each version reads
    /// what it needs until contract, after which only v1.5.0 does.
    #[test]
    fn each_version_reads_its_shape_through_expand_backfill_and_contract() {
        let dir = tempfile::tempdir().unwrap();
        let (db, at) = (file_of(dir.path(), "checkout"), dir.path());
        prepare(at, "checkout", false).unwrap();
        assert_eq!(greet(at, Reads::Name).unwrap(), "Grace Kelly");
        assert_eq!(describe(&db).unwrap(), "customers(id, name), 6 rows");

        let said = run_file(&db, &at.join("expand.sql")).unwrap();
        assert!(said.ends_with("customers(id, name, display_name), 6 rows, 0 with a display_name"));
        assert_eq!(greet(at, Reads::DisplayName).unwrap(), "Grace Kelly");
        run_file(&db, &at.join("backfill.sql")).unwrap();
        assert!(describe(&db).unwrap().ends_with("6 with a display_name"));
        run_file(&db, &at.join("contract.sql")).unwrap();
        assert_eq!(greet(at, Reads::DisplayName).unwrap(), "Grace Kelly");
        let broken = greet(at, Reads::Name).unwrap_err();
        assert!(broken.contains("no such column: name"), "{broken}");
    }

    #[test]
    fn the_bad_backfill_fails_whole_and_down_brings_the_stable_schema_back() {
        let dir = tempfile::tempdir().unwrap();
        let (db, at) = (file_of(dir.path(), "checkout"), dir.path());
        prepare(at, "checkout", true).unwrap();
        run_file(&db, &at.join("expand.sql")).unwrap();
        let failed = run_file(&db, &at.join("backfill.sql")).unwrap_err();
        assert!(
            failed.contains("UNIQUE constraint failed: customers.display_name"),
            "{failed}"
        );
        // Its UPDATE went with the failed index: nothing of it applied.
        assert!(describe(&db).unwrap().ends_with("0 with a display_name"));
        run_file(&db, &at.join("down.sql")).unwrap();
        assert_eq!(describe(&db).unwrap(), "customers(id, name), 6 rows");
        assert_eq!(greet(at, Reads::Name).unwrap(), "Grace Kelly");
    }

    #[test]
    fn a_missing_database_is_said_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_of(dir.path(), "checkout");
        assert!(describe(&db).unwrap_err().contains("checkout.db"));
        assert!(!db.exists());
    }
}
