//! The migration lock: the same advisory lock as sqlx's `Migrator` (so an application running
//! `sqlx::migrate!` at start-up and a deploy exclude each other), but taken with
//! `pg_try_advisory_lock` in a bounded retry loop instead of waiting forever, and named when
//! it times out.

use std::fmt;
use std::time::{Duration, Instant};

use sqlx::PgConnection;

/// sqlx's lock id for a database (`sqlx-postgres/src/migrate.rs`, `generate_lock_id`):
/// `0x3d32ad9e * crc32(database name)`, wrapping like sqlx's i64 arithmetic cannot (the
/// product always fits in an i64).
pub fn lock_id(database: &str) -> i64 {
    0x3d32ad9e_i64 * i64::from(crc32(database.as_bytes()))
}

/// CRC-32/ISO-HDLC, the checksum of zip and Ethernet (what sqlx's `crc::CRC_32_ISO_HDLC` is).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The session holding the migration lock, from `pg_stat_activity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: i32,
    pub application_name: String,
    pub state: String,
    pub query: String,
    pub client: String,
    pub since: String,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = if self.application_name.is_empty() {
            "(no application_name)"
        } else {
            &self.application_name
        };
        write!(
            f,
            "pid {} ({app}) from {}, {} since {}, last query: {}",
            self.pid,
            self.client,
            self.state,
            self.since,
            one_line(&self.query, 120)
        )
    }
}

/// Squeezes whitespace and cuts a query for a one-line message.
pub fn one_line(text: &str, max: usize) -> String {
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if squeezed.chars().count() <= max {
        squeezed
    } else {
        let cut: String = squeezed.chars().take(max).collect();
        format!("{cut}...")
    }
}

/// Who holds the advisory lock `id` right now, if anyone (other than us).
pub async fn holder(conn: &mut PgConnection, id: i64) -> Result<Option<LockHolder>, sqlx::Error> {
    // A bigint advisory key is stored as classid = high 32 bits, objid = low 32 bits,
    // objsubid = 1.
    type Row = (
        i32,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT a.pid, a.application_name, a.state, a.query, \
                    coalesce(host(a.client_addr), 'local socket'), \
                    to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.pid <> pg_backend_pid() \
             LIMIT 1",
    )
    .bind((id >> 32) & 0xffff_ffff)
    .bind(id & 0xffff_ffff)
    .fetch_optional(conn)
    .await?;
    Ok(
        row.map(|(pid, app, state, query, client, since)| LockHolder {
            pid,
            application_name: app.unwrap_or_default(),
            state: state.unwrap_or_else(|| "unknown state".into()),
            query: query.unwrap_or_default(),
            client: client.unwrap_or_default(),
            since: since.unwrap_or_default(),
        }),
    )
}

/// A boolean SQL expression: this session holds the advisory lock `id` (a bigint key is
/// stored as classid = high 32 bits, objid = low 32 bits, objsubid = 1).
pub(crate) fn held_by_this_session(id: i64) -> String {
    format!(
        "EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted \
         AND pid = pg_catalog.pg_backend_pid() AND objsubid = 1 \
         AND classid::bigint = {} AND objid::bigint = {})",
        (id >> 32) & 0xffff_ffff,
        id & 0xffff_ffff
    )
}

/// The two-key advisory lock space pgshift marks a migration's transaction with:
/// `(TRANSACTION_MARK, backend pid)`, shared (it never blocks anyone), released by the server
/// when the transaction ends and by nothing else (`pg_advisory_unlock_all` releases only
/// session locks). Still held before the history is written means still the same
/// transaction.
const TRANSACTION_MARK: i64 = 0x7067_7368; // "pgsh"

/// Taken at the start of a migration's transaction.
pub(crate) const MARK_TRANSACTION: &str =
    "pg_catalog.pg_advisory_xact_lock_shared(1885827944, pg_catalog.pg_backend_pid())";

/// A boolean SQL expression: the transaction that `MARK_TRANSACTION` marked is still open.
pub(crate) fn transaction_marked() -> String {
    format!(
        "EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted \
         AND pid = pg_catalog.pg_backend_pid() AND objsubid = 2 AND mode = 'ShareLock' \
         AND classid::bigint = {TRANSACTION_MARK} \
         AND objid::bigint = pg_catalog.pg_backend_pid())"
    )
}

/// How taking the lock ended.
pub enum Acquired {
    Locked,
    /// Still held by someone else after `timeout`.
    TimedOut(Option<LockHolder>),
}

/// Takes the advisory lock on `conn`, retrying with a short back-off until `timeout`.
/// `on_wait` is called once, with the holder, when the lock is not free at the first try.
pub async fn acquire(
    conn: &mut PgConnection,
    id: i64,
    timeout: Duration,
    on_wait: &mut dyn FnMut(Option<&LockHolder>),
) -> Result<Acquired, sqlx::Error> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    let mut told = false;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        if got {
            return Ok(Acquired::Locked);
        }
        if !told {
            told = true;
            on_wait(holder(conn, id).await?.as_ref());
        }
        if started.elapsed() >= timeout {
            return Ok(Acquired::TimedOut(holder(conn, id).await?));
        }
        let left = timeout.saturating_sub(started.elapsed());
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Releases the lock. A connection left in a failed transaction is rolled back first, so the
/// unlock cannot be refused.
pub async fn release(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    let unlock = || sqlx::query("SELECT pg_advisory_unlock($1)").bind(id);
    if unlock().execute(&mut *conn).await.is_err() {
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        unlock().execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The catalogue's check value for CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
