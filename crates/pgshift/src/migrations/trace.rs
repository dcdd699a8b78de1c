//! What a migration's statements do to the tables that existed before it, observed on the
//! server: after each statement, the table locks this session holds (`pg_locks` for
//! `pg_backend_pid()`; inside the migration's transaction they add up until COMMIT) and the
//! tables whose data file was replaced (their relfilenode changed: a rewrite). `lint --trace`
//! and the deploy's rehearsal both observe statements through `Tracer`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::PgConnection;

/// A table lock a statement took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableLock {
    pub table: String,
    /// The strongest mode the migration's transaction holds on it after the statement, as
    /// PostgreSQL names it (`AccessExclusiveLock`).
    pub mode: String,
    /// This statement raised it to that mode (else an earlier statement of the migration did).
    pub newly: bool,
}

/// What one statement did to the tables that existed before its migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatementEffect {
    /// The tables it locked (a mode the migration did not hold before it), each with the
    /// strongest mode held after it.
    pub locks: Vec<TableLock>,
    /// Tables whose data files it replaced: rewritten.
    pub rewrote: Vec<String>,
}

impl StatementEffect {
    /// `took ACCESS EXCLUSIVE on doctor and rewrote it`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .locks
            .iter()
            .map(|l| {
                let verb = if l.newly { "took" } else { "holds" };
                let mut s = format!("{verb} {} on {}", mode_words(&l.mode), l.table);
                if self.rewrote.contains(&l.table) {
                    s.push_str(" and rewrote it");
                }
                s
            })
            .collect();
        for t in &self.rewrote {
            if !self.locks.iter().any(|l| &l.table == t) {
                parts.push(format!("rewrote {t}"));
            }
        }
        if parts.is_empty() {
            "no lock on an existing table, no rewrite".into()
        } else {
            parts.join(", ")
        }
    }
}

/// `AccessExclusiveLock` as `ACCESS EXCLUSIVE`.
pub fn mode_words(mode: &str) -> String {
    let base = mode.strip_suffix("Lock").unwrap_or(mode);
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The rank of a table lock mode, weakest first.
pub fn mode_rank(mode: &str) -> usize {
    const ORDER: [&str; 8] = [
        "AccessShareLock",
        "RowShareLock",
        "RowExclusiveLock",
        "ShareUpdateExclusiveLock",
        "ShareLock",
        "ShareRowExclusiveLock",
        "ExclusiveLock",
        "AccessExclusiveLock",
    ];
    ORDER.iter().position(|m| *m == mode).unwrap_or(0)
}

/// Each user table's data file (`relfilenode`; 0 for a partitioned table, which has none),
/// by `regclass` name.
pub async fn tables(conn: &mut PgConnection) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    Ok(observe(conn, true).await?.1)
}

/// Follows migrations statement by statement on the connection that runs them, one after
/// the other (`next_migration`).
#[derive(Debug)]
pub struct Tracer {
    existing: BTreeSet<String>,
    /// `existing` was given by the caller (else: the tables at each migration's start).
    fixed: bool,
    held: BTreeSet<(String, String)>,
    nodes: BTreeMap<String, i64>,
    /// The virtual transaction the last observation ran in.
    vxid: String,
}

impl Tracer {
    /// Starts following a migration before its first statement (inside its transaction
    /// when it has one). Locks and rewrites count on the tables of `existing` only; `None`
    /// means the tables that exist now.
    pub async fn start(
        conn: &mut PgConnection,
        existing: Option<BTreeSet<String>>,
    ) -> Result<Tracer, sqlx::Error> {
        let (held, nodes, vxid) = observe(conn, true).await?;
        let fixed = existing.is_some();
        let existing = existing.unwrap_or_else(|| nodes.keys().cloned().collect());
        Ok(Tracer {
            vxid,
            fixed,
            held: held
                .into_iter()
                .filter(|(t, _)| existing.contains(t))
                .collect(),
            existing,
            nodes,
        })
    }

    /// Follows the next migration on the same connection, before its first statement (inside
    /// its transaction when it has one), after nothing but the engine's bookkeeping ran since
    /// the last statement: as `start` with the same `existing` (or, with `None`, the tables
    /// that exist now), without reading every table again. The previous migration's locks
    /// ended with its transaction, and each table it made was seen locked by it.
    pub async fn next_migration(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let (held, nodes, vxid) = observe(conn, false).await?;
        self.nodes.extend(nodes);
        if !self.fixed {
            self.existing = self.nodes.keys().cloned().collect();
        }
        self.vxid = vxid;
        self.held = held
            .into_iter()
            .filter(|(t, _)| self.existing.contains(t))
            .collect();
        Ok(())
    }

    /// What the statement that just ran did: the existing tables it locked (a mode the
    /// migration did not hold before it, reported with the strongest mode held now) and
    /// rewrote.
    pub async fn after_statement(
        &mut self,
        conn: &mut PgConnection,
    ) -> Result<StatementEffect, sqlx::Error> {
        // A table's data file changes only under ACCESS EXCLUSIVE, held until the
        // transaction ends. Still in the transaction of the last observation (the same
        // virtual transaction) with none of its locks released (`ROLLBACK TO SAVEPOINT`
        // releases them and puts data files back), only the locked tables can have changed:
        // one query reads the locks and their data files, not every table's (a thousand
        // rows per statement). Otherwise the statement committed on its own, its locks gone:
        // every table is read.
        let (mut held, mut nodes, vxid) = observe(conn, false).await?;
        let released = self.held.iter().any(|lock| !held.contains(lock));
        let everything = vxid != self.vxid || released;
        if everything {
            (held, nodes, _) = observe(conn, true).await?;
        }
        self.vxid = vxid;
        let held: BTreeSet<(String, String)> = held
            .into_iter()
            .filter(|(t, _)| self.existing.contains(t))
            .collect();
        let strongest_of = |set: &BTreeSet<(String, String)>, table: &str| {
            set.iter()
                .filter(|(t, _)| t == table)
                .map(|(_, m)| m.clone())
                .max_by_key(|m| mode_rank(m))
        };
        let touched: BTreeSet<&String> = held.difference(&self.held).map(|(t, _)| t).collect();
        let mut locks = Vec::new();
        for table in touched {
            let Some(mode) = strongest_of(&held, table) else {
                continue;
            };
            let before = strongest_of(&self.held, table);
            locks.push(TableLock {
                newly: before.is_none_or(|b| mode_rank(&b) < mode_rank(&mode)),
                table: table.clone(),
                mode,
            });
        }
        let rewrote = if everything {
            let rewrote = self
                .nodes
                .iter()
                .filter(|(table, node)| {
                    self.existing.contains(*table) && nodes.get(*table).is_some_and(|n| n != *node)
                })
                .map(|(table, _)| table.clone())
                .collect();
            self.nodes = nodes;
            rewrote
        } else {
            let mut rewrote = Vec::new();
            for (table, node) in nodes {
                let before = self.nodes.insert(table.clone(), node);
                if self.existing.contains(&table) && before.is_some_and(|b| b != node) {
                    rewrote.push(table);
                }
            }
            rewrote
        };
        self.held = held;
        Ok(StatementEffect { locks, rewrote })
    }
}

/// User tables as `regclass` prints them with the default search_path (`public` unqualified),
/// whatever the migration set it to; `$which` narrows them.
macro_rules! observe_sql {
    ($which:literal) => {
        concat!(
            "WITH mine AS ( \
               SELECT l.relation, l.mode, l.locktype, l.virtualtransaction \
               FROM pg_catalog.pg_locks l \
               WHERE l.pid = pg_catalog.pg_backend_pid() AND l.granted \
                 AND (l.locktype = 'virtualxid' OR (l.locktype = 'relation' \
                   AND l.database = (SELECT oid FROM pg_catalog.pg_database \
                                     WHERE datname = pg_catalog.current_database())))), \
             rel AS ( \
               SELECT c.oid, c.relkind, c.relfilenode, n.nspname, \
                      CASE WHEN n.nspname = 'public' THEN pg_catalog.quote_ident(c.relname) \
                           ELSE pg_catalog.quote_ident(n.nspname) || '.' || \
                                pg_catalog.quote_ident(c.relname) END AS name \
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
               WHERE c.relkind IN ('r', 'm', 'p') \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' ",
            $which,
            ") \
             SELECT 0, rel.name, mine.mode, 0::int8 FROM mine \
             JOIN rel ON rel.oid = mine.relation WHERE mine.locktype = 'relation' \
             UNION ALL \
             SELECT 1, rel.name, '', rel.relfilenode::int8 FROM rel \
             UNION ALL \
             SELECT 2, '', mine.virtualtransaction, 0::int8 FROM mine \
             WHERE mine.locktype = 'virtualxid'"
        )
    };
}
const OBSERVE_ALL: &str = observe_sql!("");
const OBSERVE_LOCKED: &str =
    observe_sql!("AND c.oid IN (SELECT relation FROM mine WHERE locktype = 'relation')");

/// The table locks this session holds, the data files of every user table (`all`) or of the
/// locked ones, and the session's virtual transaction: one round trip.
async fn observe(
    conn: &mut PgConnection,
    all: bool,
) -> Result<(BTreeSet<(String, String)>, BTreeMap<String, i64>, String), sqlx::Error> {
    // Two texts, not one with `$1 OR c.oid IN (...)`: after five runs PostgreSQL plans a
    // prepared statement generically, and that plan read all of pg_class after every
    // statement (2 ms with a thousand tables) where the locked tables are a few lookups.
    let sql = if all { OBSERVE_ALL } else { OBSERVE_LOCKED };
    let rows: Vec<(i32, String, String, i64)> = sqlx::query_as(sql).fetch_all(&mut *conn).await?;
    let mut held = BTreeSet::new();
    let mut nodes = BTreeMap::new();
    let mut vxid = String::new();
    for (what, table, mode, node) in rows {
        match what {
            0 => {
                held.insert((table, mode));
            }
            1 => {
                nodes.insert(table, node);
            }
            _ => vxid = mode,
        }
    }
    Ok((held, nodes, vxid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_words("AccessExclusiveLock"), "ACCESS EXCLUSIVE");
        assert_eq!(mode_words("ShareLock"), "SHARE");
        assert!(mode_rank("AccessExclusiveLock") > mode_rank("ShareLock"));
    }
}
