//! The rehearsal: the target's data (the deploy's backup) or, with `[deploy] rehearse =
//! "schema"`, its schema alone (`schema_dump`), restored into a scratch database on the
//! local server; the pending migrations applied there through the same engine, statement by
//! statement (`migrations::apply_pending_traced`), each statement followed by
//! `migrations::trace::Tracer`: its duration, the locks it took on tables that existed
//! before its migration, and the tables it rewrote (their relfilenode changed). Its catalog
//! afterwards (which the deploy reads while production is deployed) is what production must
//! look like once the same migrations ran there.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::{schema_dump, Part};
use crate::backup::{self, RestoreOptions};
use crate::config::{Config, Rehearse};
use crate::local::shadow::ShadowDatabase;
use crate::migrations::trace::{mode_rank, mode_words};
use crate::migrations::{self, ApplyOptions, Mode, TracedStatement};
use crate::target::Target;

/// What the rehearsal found.
#[derive(Debug, Clone, Serialize)]
pub struct RehearsalReport {
    /// `full` (the backup, data included) or `schema` (the schema alone, no rows).
    pub mode: Rehearse,
    /// The scratch database (dropped afterwards).
    pub database: String,
    /// The rows the copy's tables held before the migrations ran, the history tables left
    /// out (0 for `schema`).
    pub rows: i64,
    pub migrations: Vec<RehearsedMigration>,
    /// Tables of the copy whose storage the migrations rewrote (relfilenode changed): a
    /// rewrite holds an ACCESS EXCLUSIVE lock for as long as it takes on production.
    pub rewritten: Vec<String>,
}

/// One pending migration as it ran on the copy.
#[derive(Debug, Clone, Serialize)]
pub struct RehearsedMigration {
    pub file: String,
    /// Its statements' time, without the rehearsal's own queries between them.
    pub duration_ms: f64,
    /// `-- no-transaction`: each statement committed on its own and released its locks
    /// before they could be read, so `locks` is empty (rewrites are still seen).
    pub no_transaction: bool,
    /// The strongest lock the migration took on each table that existed before it.
    pub locks: Vec<MigrationLock>,
    /// Tables that existed before it whose storage it rewrote.
    pub rewrote: Vec<String>,
    pub statements: Vec<TracedStatement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationLock {
    pub table: String,
    /// As PostgreSQL names it: `AccessExclusiveLock`.
    pub mode: String,
}

impl RehearsedMigration {
    fn of(traced: migrations::TracedMigration) -> RehearsedMigration {
        let mut locks: BTreeMap<String, String> = BTreeMap::new();
        let mut rewrote: Vec<String> = Vec::new();
        for st in &traced.statements {
            for lock in &st.effect.locks {
                let stronger = locks
                    .get(&lock.table)
                    .is_none_or(|m| mode_rank(m) < mode_rank(&lock.mode));
                if stronger {
                    locks.insert(lock.table.clone(), lock.mode.clone());
                }
            }
            for table in &st.effect.rewrote {
                if !rewrote.contains(table) {
                    rewrote.push(table.clone());
                }
            }
        }
        let duration: Duration = traced.statements.iter().map(|st| st.duration).sum();
        RehearsedMigration {
            file: traced.file,
            duration_ms: (duration.as_secs_f64() * 1e6).round() / 1e3,
            no_transaction: traced.no_transaction,
            locks: locks
                .into_iter()
                .map(|(table, mode)| MigrationLock { table, mode })
                .collect(),
            rewrote,
            statements: traced.statements,
        }
    }

    /// `3_x.sql 12.3 ms: ACCESS EXCLUSIVE on doctor (rewritten)`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .locks
            .iter()
            .map(|l| {
                let rewritten = if self.rewrote.contains(&l.table) {
                    " (rewritten)"
                } else {
                    ""
                };
                format!("{} on {}{rewritten}", mode_words(&l.mode), l.table)
            })
            .collect();
        for table in &self.rewrote {
            if !self.locks.iter().any(|l| &l.table == table) {
                parts.push(format!("rewrote {table}"));
            }
        }
        let what = match (parts.is_empty(), self.no_transaction) {
            (true, false) => "no lock on an existing table, no rewrite".to_string(),
            (true, true) => "no rewrite; locks not observable (-- no-transaction: each statement \
                 committed on its own)"
                .to_string(),
            (false, _) => parts.join(", "),
        };
        format!("{} {:.1} ms: {what}", self.file, self.duration_ms)
    }
}

impl RehearsalReport {
    /// One line: how many migrations ran on what, and what they rewrote.
    pub fn summary(&self) -> String {
        let on = match self.mode {
            Rehearse::Schema => "a schema-only copy (no rows)".to_string(),
            _ => format!("a copy with the backup's data ({} rows)", self.rows),
        };
        let rewrites = if self.rewritten.is_empty() {
            "no table rewritten".to_string()
        } else {
            format!("rewrote {}", self.rewritten.join(", "))
        };
        format!("{} applied on {on}; {rewrites}", self.migrations.len())
    }

    /// A line per migration: its duration, locks and rewrites.
    pub fn lines(&self) -> Vec<String> {
        self.migrations.iter().map(|m| m.summary()).collect()
    }
}

/// A rehearsal's outcome: the report, and where its time went (`pg_dump` of the schema,
/// `restore`, the `migrations`' statements). The copy's catalog is read by the caller.
pub(super) struct Rehearsed {
    pub report: RehearsalReport,
    pub parts: Vec<super::Part>,
}

/// Where the rehearsal's copy comes from.
pub(super) enum Source<'a> {
    /// The deploy's backup, restored whole.
    Backup(&'a Path),
    /// The target's schema, dumped now.
    Schema(&'a Target),
}

/// Rehearses `files` (as the deploy read them) in `scratch`, an empty database on the local
/// server (`local`) that the caller made (while the backup ran) and drops afterwards.
pub(super) async fn rehearse(
    config: &Config,
    local: &Target,
    scratch: &ShadowDatabase,
    source: Source<'_>,
    files: &std::sync::Arc<[migrations::MigrationFile]>,
    allow_out_of_order: bool,
) -> anyhow::Result<Rehearsed> {
    let name = scratch.name();
    let options = RestoreOptions {
        database: Some(name.to_string()),
        jobs: 1,
        allow_protected: false,
    };
    let copy = Target {
        env: local.env.clone(),
        url: scratch.url().clone(),
        source: local.source.clone(),
        protected: false,
    };
    let mut parts = Vec::new();
    let (mode, rows) = match source {
        Source::Backup(archive) => {
            let started = Instant::now();
            let restored = backup::restore(config, local, archive, &options, &mut |_| {})
                .await
                .context("restoring the backup into the scratch database")?;
            parts.push(Part::new("restore", started.elapsed()));
            (Rehearse::Full, user_rows(&restored))
        }
        Source::Schema(target) => {
            let (_dir, archive) = schema_dump::archive_dir()?;
            let started = Instant::now();
            let history = schema_dump::dump(target, &archive).await?;
            parts.push(Part::new("pg_dump", started.elapsed()));
            let started = Instant::now();
            let restored = backup::restore(config, local, &archive, &options, &mut |_| {})
                .await
                .context("restoring the schema into the scratch database")?;
            parts.push(Part::new("restore", started.elapsed()));
            schema_dump::write_history(&copy.url, &history).await?;
            (Rehearse::Schema, user_rows(&restored))
        }
    };
    let apply = ApplyOptions {
        mode: Mode::Deploy,
        allow_out_of_order,
        dry_run: false,
        // The files the deploy planned and linted.
        files: Some(files.clone()),
        lint: false,
    };
    let (_, traced) = migrations::apply_pending_traced(config, &copy, &apply, &mut |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("on the copy of production: {e}"))?;
    let migrations: Vec<RehearsedMigration> =
        traced.into_iter().map(RehearsedMigration::of).collect();
    let mut rewritten: Vec<String> = Vec::new();
    for table in migrations.iter().flat_map(|m| &m.rewrote) {
        if !rewritten.contains(table) {
            rewritten.push(table.clone());
        }
    }
    let statements: Duration = migrations
        .iter()
        .flat_map(|m| &m.statements)
        .map(|st| st.duration)
        .sum();
    parts.push(Part::new("migrations", statements));
    let report = RehearsalReport {
        mode,
        database: name.to_string(),
        rows,
        migrations,
        rewritten,
    };
    Ok(Rehearsed { report, parts })
}

/// The rows a restored copy holds outside the history tables.
fn user_rows(restored: &backup::RestoreReport) -> i64 {
    restored
        .tables
        .iter()
        .filter(|t| t.table != "_sqlx_migrations" && !t.table.starts_with("_pgshift_"))
        .map(|t| t.rows)
        .sum()
}
