//! The default store: SQLite in a state directory.
//!
//! SQLite rather than a pure-Rust key-value file (redb, sled): stdio MCP
//! clients start one server per window or per agent, often several at once
//! on one machine, and they all default to the same state directory. redb
//! holds an exclusive lock on its file, so every server after the first
//! would refuse to start; SQLite in WAL mode lets every process read and
//! write the same file safely, serializing writes with its own locks. It is
//! built from the bundled source (`rusqlite`'s `bundled` feature), so no
//! system library is needed.
//!
//! At start the app only [checks](EmbeddedStore::check) the directory and
//! the file's header (a few system calls), so a damaged or unusable store
//! is a clear error at once. SQLite itself opens on first use, off the
//! async runtime (every statement runs on a blocking thread): a client's
//! `initialize` never waits for it, and a session that only lists keys
//! never loads it (its code and page cache would be most of a MiB).
//! The directory is created 0700 and the file 0600; neither ever holds a
//! value or a token (the ledger holds key names, service ids, secret names,
//! times and client names; spent nonces are random).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::OnceCell;

use super::{
    Claim, LINK_REMEMBERED, Ledger, LinkBook, LinkLimits, LinkRow, LinkState, Opened, Placement,
    Redeemed, Sessions, Spent, StoreError, now_ms,
};
use crate::sync::lock;

/// The database's file name in the state directory.
pub const FILE: &str = "state.sqlite3";
/// The layout this build reads and writes.
const SCHEMA: &str = "1";
/// How long a statement waits for another process's write to finish.
const BUSY: Duration = Duration::from_secs(4);

const SETUP: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS placements (
    tenant TEXT NOT NULL, service_id TEXT NOT NULL, secret_name TEXT NOT NULL,
    key TEXT NOT NULL, at_ms INTEGER NOT NULL, by_client TEXT NOT NULL,
    PRIMARY KEY (tenant, service_id, secret_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS placements_of_key ON placements (tenant, key);
CREATE TABLE IF NOT EXISTS spent (nonce TEXT PRIMARY KEY, until_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS spent_until ON spent (until_ms);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, state TEXT NOT NULL, until_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    tenant TEXT NOT NULL, id TEXT NOT NULL, client TEXT, deadline_ms INTEGER NOT NULL,
    state TEXT NOT NULL, fate TEXT, record TEXT NOT NULL,
    PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_open ON links (tenant, state, deadline_ms);
";

/// Why the state directory could not be used: for the operator, at start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot use the state directory {dir}: {why}. Set --state-dir (OSC_MCP_STATE_DIR) to a directory this user can write, \
     or move the damaged {FILE} aside to start a new ledger"
)]
pub struct OpenError {
    pub dir: String,
    pub why: String,
}

/// The open database.
struct Db {
    conn: Mutex<Connection>,
    generation: String,
}

/// SQLite in a state directory, opened once on first use.
pub struct EmbeddedStore {
    dir: PathBuf,
    db: OnceCell<Arc<Db>>,
    /// Set when opening failed, so later calls say so at once.
    failed: std::sync::OnceLock<String>,
}

impl EmbeddedStore {
    /// A store in `dir`; nothing is touched until [`Self::open`] or the
    /// first call.
    pub fn new(dir: PathBuf) -> EmbeddedStore {
        EmbeddedStore {
            dir,
            db: OnceCell::new(),
            failed: std::sync::OnceLock::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What can be known without opening SQLite: the directory can be made
    /// (0700), and the file, if there is one, can be opened for writing and
    /// starts as an SQLite database. Runs at start, in microseconds.
    pub fn check(&self) -> Result<(), OpenError> {
        check_dir(&self.dir).map_err(|why| OpenError {
            dir: self.dir.display().to_string(),
            why,
        })
    }

    /// Opens (creating if need be) the directory and the database, on a
    /// blocking thread. Safe to call more than once and from many tasks.
    pub async fn open(&self) -> Result<(), OpenError> {
        let opened = self
            .db
            .get_or_try_init(|| async {
                let dir = self.dir.clone();
                tokio::task::spawn_blocking(move || open_db(&dir))
                    .await
                    .unwrap_or_else(|_| Err("opening it panicked".to_owned()))
                    .map(Arc::new)
            })
            .await;
        match opened {
            Ok(_) => Ok(()),
            Err(why) => {
                let error = OpenError {
                    dir: self.dir.display().to_string(),
                    why: why.clone(),
                };
                if self.failed.set(why).is_ok() {
                    tracing::error!("{error}");
                }
                Err(error)
            }
        }
    }

    /// Runs `work` on the open database, on a blocking thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        if self.failed.get().is_some() {
            return Err(StoreError::Unreachable(
                "its file could not be opened; the server's log says why",
            ));
        }
        if self.open().await.is_err() {
            return Err(StoreError::Unreachable(
                "its file could not be opened; the server's log says why",
            ));
        }
        let Some(db) = self.db.get().cloned() else {
            return Err(StoreError::Unreachable("it is not open"));
        };
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&db.conn);
            work(&mut conn, &db.generation)
        })
        .await
        .map_err(|_| StoreError::Unreachable("a statement panicked"))?
        .map_err(|e| {
            tracing::warn!(error = %e, "state store statement failed");
            match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    StoreError::Unreachable("another process holds its lock")
                }
                Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                    StoreError::Corrupt("its file is damaged")
                }
                _ => StoreError::Unreachable("a statement failed; the server's log says why"),
            }
        })
    }
}

/// The first bytes of every SQLite database file.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Creates `dir`, and any missing parent, 0700.
fn make_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("it cannot be created ({e})"))
}

fn check_dir(dir: &Path) -> Result<(), String> {
    use std::io::Read;
    make_dir(dir)?;
    let path = dir.join(FILE);
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("its {FILE} cannot be opened for writing ({e})")),
    };
    let mut head = Vec::with_capacity(HEADER.len());
    file.by_ref()
        .take(HEADER.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| format!("its {FILE} cannot be read ({e})"))?;
    // An empty file is what a server stopped mid-creation leaves: SQLite
    // makes a database of it.
    if head.is_empty() || head == HEADER {
        Ok(())
    } else {
        Err(format!(
            "its {FILE} is not a state store this server can read (it is not an SQLite database)"
        ))
    }
}

/// Creates `dir` (0700) and the database file (0600) if missing, and opens
/// the database. The error is a sentence for the operator.
fn open_db(dir: &Path) -> Result<Db, String> {
    use std::os::unix::fs::OpenOptionsExt;
    make_dir(dir)?;
    let path = dir.join(FILE);
    // Made 0600 before SQLite opens it: SQLite gives its -wal and -shm
    // files the database file's permissions.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("its {FILE} cannot be opened for writing ({e})"))?;
    let conn = Connection::open(&path).map_err(|e| format!("its {FILE} cannot be opened ({e})"))?;
    let damaged =
        |e: rusqlite::Error| format!("its {FILE} is not a state store this server can read ({e})");
    conn.busy_timeout(BUSY).map_err(damaged)?;
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .map_err(damaged)?;
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA cache_size=-256;")
        .map_err(damaged)?;
    conn.execute_batch(SETUP).map_err(damaged)?;
    let fresh = format!("e{:016x}", rand::random::<u64>());
    conn.execute(
        "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?1), ('generation', ?2)",
        params![SCHEMA, fresh],
    )
    .map_err(damaged)?;
    let schema: String = conn
        .query_row("SELECT value FROM meta WHERE name = 'schema'", [], |row| {
            row.get(0)
        })
        .map_err(damaged)?;
    if schema != SCHEMA {
        return Err(format!(
            "its {FILE} has layout {schema}, made by another version of this server; this one reads layout {SCHEMA}"
        ));
    }
    let generation: String = conn
        .query_row(
            "SELECT value FROM meta WHERE name = 'generation'",
            [],
            |row| row.get(0),
        )
        .map_err(damaged)?;
    Ok(Db {
        conn: Mutex::new(conn),
        generation,
    })
}

#[async_trait]
impl Ledger for EmbeddedStore {
    async fn place(&self, tenant: &str, placement: &Placement) -> Result<(), StoreError> {
        let tenant = tenant.to_owned();
        let p = placement.clone();
        self.run(move |conn, _| {
            conn.execute(
                "INSERT INTO placements (tenant, service_id, secret_name, key, at_ms, by_client)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant, service_id, secret_name) DO UPDATE SET
                   key = excluded.key, at_ms = excluded.at_ms, by_client = excluded.by_client",
                params![
                    tenant,
                    p.service_id,
                    p.secret_name,
                    p.key,
                    i64::try_from(p.at_ms).unwrap_or(i64::MAX),
                    p.by
                ],
            )
            .map(|_| ())
        })
        .await
    }

    async fn placements(&self, tenant: &str, key: &str) -> Result<Vec<Placement>, StoreError> {
        let tenant = tenant.to_owned();
        let key = key.to_owned();
        self.run(move |conn, _| {
            let mut statement = conn.prepare(
                "SELECT key, service_id, secret_name, at_ms, by_client FROM placements
                 WHERE tenant = ?1 AND key = ?2 ORDER BY at_ms, service_id, secret_name",
            )?;
            let rows = statement.query_map(params![tenant, key], |row| {
                Ok(Placement::stored(
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                    row.get(4)?,
                ))
            })?;
            rows.collect()
        })
        .await
    }
}

#[async_trait]
impl Spent for EmbeddedStore {
    async fn generation(&self) -> Result<String, StoreError> {
        self.run(|_, generation| Ok(generation.to_owned())).await
    }

    async fn redeem(
        &self,
        generation: &str,
        nonce: &str,
        ttl: Duration,
    ) -> Result<Redeemed, StoreError> {
        let asked = generation.to_owned();
        let nonce = nonce.to_owned();
        let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        self.run(move |conn, _| {
            // IMMEDIATE: the write lock is taken before the read, so two
            // processes redeeming the same nonce cannot both see it unused.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE name = 'generation'",
                    [],
                    |row| row.get(0),
                )
                .optional()?;
            if current.as_deref() != Some(asked.as_str()) {
                return Ok(Redeemed::OtherGeneration);
            }
            tx.execute("DELETE FROM spent WHERE until_ms <= ?1", params![now])?;
            let seen: Option<i64> = tx
                .query_row(
                    "SELECT until_ms FROM spent WHERE nonce = ?1",
                    params![nonce],
                    |row| row.get(0),
                )
                .optional()?;
            if seen.is_some() {
                return Ok(Redeemed::Again);
            }
            tx.execute(
                "INSERT INTO spent (nonce, until_ms) VALUES (?1, ?2)",
                params![nonce, until],
            )?;
            tx.commit()?;
            Ok(Redeemed::First)
        })
        .await
    }

    async fn used(&self, nonce: &str) -> Result<bool, StoreError> {
        let nonce = nonce.to_owned();
        let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        self.run(move |conn, _| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM spent WHERE nonce = ?1 AND until_ms > ?2)",
                params![nonce, now],
                |row| row.get(0),
            )
        })
        .await
    }
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A `links` row as [`LinkRow`]: columns deadline_ms, state, fate, record.
fn link_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LinkRow> {
    let state: String = row.get(1)?;
    let fate: Option<String> = row.get(2)?;
    let state = match (state.as_str(), fate) {
        ("open", _) => LinkState::Open,
        ("settled", Some(fate)) => LinkState::Settled(fate),
        // Claimed, or anything this build did not write: not usable.
        _ => LinkState::Claimed,
    };
    Ok(LinkRow {
        deadline_ms: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
        state,
        record: row.get(3)?,
    })
}

const LINK_COLUMNS: &str = "deadline_ms, state, fate, record";

#[async_trait]
impl LinkBook for EmbeddedStore {
    async fn open_link(
        &self,
        tenant: &str,
        id: &str,
        client: Option<&str>,
        row: &LinkRow,
        limits: LinkLimits,
        now_ms: u64,
    ) -> Result<Opened, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        let client = client.map(str::to_owned);
        let row = row.clone();
        let now = millis(now_ms);
        let forget = millis(
            now_ms.saturating_sub(u64::try_from(LINK_REMEMBERED.as_millis()).unwrap_or(u64::MAX)),
        );
        let (all, per_client) = (
            i64::try_from(limits.all).unwrap_or(i64::MAX),
            i64::try_from(limits.per_client).unwrap_or(i64::MAX),
        );
        self.run(move |conn, _| {
            // IMMEDIATE: counting and adding happen under the write lock,
            // so two processes cannot both take the last place.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM links WHERE deadline_ms <= ?1", params![forget])?;
            let open: i64 = tx.query_row(
                "SELECT COUNT(*) FROM links WHERE tenant = ?1 AND state = 'open' AND deadline_ms > ?2",
                params![tenant, now],
                |r| r.get(0),
            )?;
            if open >= all {
                return Ok(Opened::TooMany);
            }
            if let Some(client) = &client {
                let held: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM links
                     WHERE tenant = ?1 AND client = ?2 AND state = 'open' AND deadline_ms > ?3",
                    params![tenant, client, now],
                    |r| r.get(0),
                )?;
                if held >= per_client {
                    return Ok(Opened::TooManyForClient);
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO links (tenant, id, client, deadline_ms, state, fate, record)
                 VALUES (?1, ?2, ?3, ?4, 'open', NULL, ?5)",
                params![tenant, id, client, millis(row.deadline_ms), row.record],
            )?;
            tx.commit()?;
            Ok(Opened::Yes)
        })
        .await
    }

    async fn link(&self, tenant: &str, id: &str) -> Result<Option<LinkRow>, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.run(move |conn, _| {
            conn.query_row(
                &format!("SELECT {LINK_COLUMNS} FROM links WHERE tenant = ?1 AND id = ?2"),
                params![tenant, id],
                link_row,
            )
            .optional()
        })
        .await
    }

    async fn claim_link(&self, tenant: &str, id: &str, now_ms: u64) -> Result<Claim, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        let now = millis(now_ms);
        self.run(move |conn, _| {
            // One statement: SQLite runs it under its write lock, so of two
            // processes claiming the same link one changes the row.
            let taken = conn.execute(
                "UPDATE links SET state = 'claimed'
                 WHERE tenant = ?1 AND id = ?2 AND state = 'open' AND deadline_ms > ?3",
                params![tenant, id, now],
            )?;
            let row = conn
                .query_row(
                    &format!("SELECT {LINK_COLUMNS} FROM links WHERE tenant = ?1 AND id = ?2"),
                    params![tenant, id],
                    link_row,
                )
                .optional()?;
            Ok(match (taken, row) {
                (1, Some(row)) => Claim::Taken(row),
                (_, row) => Claim::Not(row),
            })
        })
        .await
    }

    async fn open_links(&self, tenant: &str, now_ms: u64) -> Result<u64, StoreError> {
        let tenant = tenant.to_owned();
        let now = millis(now_ms);
        self.run(move |conn, _| {
            conn.query_row(
                "SELECT COUNT(*) FROM links WHERE tenant = ?1 AND state = 'open' AND deadline_ms > ?2",
                params![tenant, now],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn settle_link(&self, tenant: &str, id: &str, fate: &str) -> Result<(), StoreError> {
        let (tenant, id, fate) = (tenant.to_owned(), id.to_owned(), fate.to_owned());
        self.run(move |conn, _| {
            conn.execute(
                "UPDATE links SET state = 'settled', fate = ?3 WHERE tenant = ?1 AND id = ?2",
                params![tenant, id, fate],
            )
            .map(|_| ())
        })
        .await
    }
}

#[async_trait]
impl Sessions for EmbeddedStore {
    async fn load_session(&self, id: &str) -> Result<Option<String>, StoreError> {
        let id = id.to_owned();
        let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        self.run(move |conn, _| {
            conn.query_row(
                "SELECT state FROM sessions WHERE id = ?1 AND until_ms > ?2",
                params![id, now],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn save_session(&self, id: &str, state: &str, ttl: Duration) -> Result<(), StoreError> {
        let (id, state) = (id.to_owned(), state.to_owned());
        let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        self.run(move |conn, _| {
            conn.execute("DELETE FROM sessions WHERE until_ms <= ?1", params![now])?;
            conn.execute(
                "INSERT OR REPLACE INTO sessions (id, state, until_ms) VALUES (?1, ?2, ?3)",
                params![id, state, until],
            )
            .map(|_| ())
        })
        .await
    }

    async fn drop_session(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.run(move |conn, _| {
            conn.execute("DELETE FROM sessions WHERE id = ?1", params![id])
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::domain::Key;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "osc-mcp-store-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Two stores on one directory, as two processes: a link one opens,
    /// the other reads; of claims racing from both, one takes it; the
    /// limits count the open, unexpired links of the tenant and of the
    /// client, and a claimed or expired link frees its place.
    #[tokio::test]
    async fn links_are_claimed_once_across_stores_on_one_directory() {
        let dir = temp_dir("links");
        let (one, two) = (
            Arc::new(EmbeddedStore::new(dir.clone())),
            Arc::new(EmbeddedStore::new(dir)),
        );
        let now = crate::store::now_ms();
        let row = |deadline_ms| LinkRow {
            record: "sealed".into(),
            deadline_ms,
            state: LinkState::Open,
        };
        let limits = LinkLimits {
            all: 3,
            per_client: 2,
        };
        let open = |store: &Arc<EmbeddedStore>, id: &str, client: Option<&str>, deadline| {
            let (store, id, client) = (store.clone(), id.to_owned(), client.map(str::to_owned));
            async move {
                store
                    .open_link("t", &id, client.as_deref(), &row(deadline), limits, now)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(open(&one, "a", Some("c1"), now + 60_000).await, Opened::Yes);
        assert_eq!(open(&two, "b", Some("c1"), now + 60_000).await, Opened::Yes);
        assert_eq!(
            open(&one, "c", Some("c1"), now + 60_000).await,
            Opened::TooManyForClient
        );
        assert_eq!(open(&one, "old", None, now - 1).await, Opened::Yes);
        assert_eq!(open(&two, "c", Some("c2"), now + 60_000).await, Opened::Yes);
        assert_eq!(open(&one, "d", None, now + 60_000).await, Opened::TooMany);
        assert_eq!(
            two.link("t", "a").await.unwrap().map(|r| r.state),
            Some(LinkState::Open)
        );
        assert_eq!(two.link("other tenant", "a").await.unwrap(), None);

        let racers: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { one.clone() } else { two.clone() };
                tokio::spawn(async move { store.claim_link("t", "a", now).await.unwrap() })
            })
            .collect();
        let mut taken = 0;
        for racer in racers {
            if matches!(racer.await.unwrap(), Claim::Taken(_)) {
                taken += 1;
            }
        }
        assert_eq!(taken, 1, "one claim takes the link");
        assert!(matches!(
            one.claim_link("t", "old", now).await.unwrap(),
            Claim::Not(Some(_))
        ));
        assert_eq!(open(&one, "d", Some("c1"), now + 60_000).await, Opened::Yes);
        one.settle_link("t", "a", "done").await.unwrap();
        assert_eq!(
            two.link("t", "a").await.unwrap().map(|r| r.state),
            Some(LinkState::Settled("done".into()))
        );
    }

    #[tokio::test]
    async fn the_ledger_and_spent_nonces_outlive_the_store_that_wrote_them() {
        let dir = temp_dir("reopen").join("nested");
        let key = Key::check("user.db").unwrap();
        let generation = {
            let store = EmbeddedStore::new(dir.clone());
            store.open().await.unwrap();
            store
                .place("t", &Placement::now(&key, "svc-a", "pw", "client-a"))
                .await
                .unwrap();
            store
                .place("t", &Placement::now(&key, "svc-b", "pw", "client-b"))
                .await
                .unwrap();
            let generation = store.generation().await.unwrap();
            let ttl = Duration::from_secs(60);
            assert_eq!(
                store.redeem(&generation, "n1", ttl).await,
                Ok(Redeemed::First)
            );
            generation
        };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(FILE)), 0o600);

        let again = EmbeddedStore::new(dir.clone());
        let found = again.placements("t", "user.db").await.unwrap();
        let seen: Vec<(&str, &str)> = found
            .iter()
            .map(|p| (p.service_id.as_str(), p.by.as_str()))
            .collect();
        assert_eq!(seen, [("svc-a", "client-a"), ("svc-b", "client-b")]);
        assert!(
            again
                .placements("other", "user.db")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(again.generation().await.unwrap(), generation);
        let ttl = Duration::from_secs(60);
        assert_eq!(
            again.redeem(&generation, "n1", ttl).await,
            Ok(Redeemed::Again)
        );
        assert_eq!(
            again.redeem("m-other", "n2", ttl).await,
            Ok(Redeemed::OtherGeneration)
        );
        assert!(again.used("n1").await.unwrap());

        // A store that starts over empty has a new generation.
        std::fs::remove_dir_all(&dir).unwrap();
        let fresh = EmbeddedStore::new(dir.clone());
        assert_ne!(fresh.generation().await.unwrap(), generation);
        assert_eq!(
            fresh.redeem(&generation, "n1", ttl).await,
            Ok(Redeemed::OtherGeneration)
        );
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[tokio::test]
    async fn a_damaged_file_is_a_clear_error_and_every_call_fails_closed() {
        let dir = temp_dir("damaged");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(FILE),
            b"this is not a database, and it is long enough to be read",
        )
        .unwrap();
        let store = EmbeddedStore::new(dir.clone());
        let error = store.open().await.unwrap_err().to_string();
        assert!(
            error.contains("is not a state store this server can read"),
            "{error}"
        );
        assert!(error.contains("--state-dir"), "{error}");
        let key = Key::check("user.db").unwrap();
        assert!(matches!(
            store.place("t", &Placement::now(&key, "s", "n", "c")).await,
            Err(StoreError::Unreachable(_))
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_session_is_kept_until_dropped_or_expired() {
        let dir = temp_dir("sessions");
        let one = EmbeddedStore::new(dir.clone());
        let two = EmbeddedStore::new(dir.clone());
        one.save_session("d1", "{\"a\":1}", Duration::from_secs(60))
            .await
            .unwrap();
        one.save_session("d2", "{}", Duration::ZERO).await.unwrap();
        assert_eq!(
            two.load_session("d1").await.unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(two.load_session("d2").await.unwrap(), None, "expired");
        two.drop_session("d1").await.unwrap();
        assert_eq!(one.load_session("d1").await.unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
