//! The rehearsal: the deploy's backup restored into a scratch database on the local
//! server, the pending migrations applied there through the same engine, each one timed,
//! and the tables they rewrote named (their relfilenode changed). Its catalog afterwards is
//! what production must look like once the same migrations ran there.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::backup::{self, RestoreOptions};
use crate::catalog::{self, Catalog};
use crate::config::Config;
use crate::migrations::{self, ApplyOptions, Mode};
use crate::target::Target;

/// What the rehearsal found.
#[derive(Debug, Clone, Serialize)]
pub struct RehearsalReport {
    /// The scratch database (dropped afterwards).
    pub database: String,
    pub migrations: Vec<RehearsedMigration>,
    /// Tables of the copy whose storage the migrations rewrote (relfilenode changed): a
    /// rewrite holds an ACCESS EXCLUSIVE lock for as long as it takes on production.
    pub rewritten: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RehearsedMigration {
    pub file: String,
    pub duration_ms: f64,
}

impl RehearsalReport {
    pub fn summary(&self) -> String {
        let timings: Vec<String> = self
            .migrations
            .iter()
            .map(|m| format!("{} {:.1} ms", m.file, m.duration_ms))
            .collect();
        let rewrites = if self.rewritten.is_empty() {
            "no table rewritten".to_string()
        } else {
            format!("rewrote {}", self.rewritten.join(", "))
        };
        format!(
            "{} applied on a copy ({}); {rewrites}",
            self.migrations.len(),
            timings.join(", ")
        )
    }
}

pub(super) async fn rehearse(
    config: &Config,
    local: &Target,
    archive: &Path,
    allow_out_of_order: bool,
) -> anyhow::Result<(RehearsalReport, Catalog)> {
    let name = format!(
        "pgshift_rehearsal_{}_{}",
        std::process::id(),
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    let mut admin = crate::db::connect(&local.url)
        .await
        .context("connecting to the local server for the rehearsal")?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating the scratch database {name} on the local server"))?;
    let result = run(config, local, archive, &name, allow_out_of_order).await;
    let dropped = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    if let Err(e) = dropped {
        tracing::warn!("could not drop the rehearsal database {name}: {e}");
    }
    crate::db::close(admin).await;
    result
}

async fn run(
    config: &Config,
    local: &Target,
    archive: &Path,
    name: &str,
    allow_out_of_order: bool,
) -> anyhow::Result<(RehearsalReport, Catalog)> {
    let options = RestoreOptions {
        database: Some(name.to_string()),
        jobs: 1,
        allow_protected: false,
    };
    backup::restore(config, local, archive, &options, &mut |_| {})
        .await
        .context("restoring the backup into the scratch database")?;
    let copy = Target {
        env: local.env.clone(),
        url: local.url.with_database(name),
        source: local.source.clone(),
        protected: false,
    };
    let before = relfilenodes(&copy).await?;
    let apply = ApplyOptions {
        mode: Mode::Deploy,
        allow_out_of_order,
        dry_run: false,
    };
    let applied = migrations::apply_pending(config, &copy, &apply, &mut |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("on the copy of production: {e}"))?;
    let after = relfilenodes(&copy).await?;
    let rewritten = before
        .iter()
        .filter(|(table, node)| after.get(*table).is_some_and(|n| n != *node))
        .map(|(table, _)| table.clone())
        .collect();
    let catalog = catalog::read(&copy.url, &config.codegen.schemas).await?;
    let report = RehearsalReport {
        database: name.to_string(),
        migrations: applied
            .applied
            .iter()
            .map(|m| RehearsedMigration {
                file: m.file.clone(),
                duration_ms: (m.duration.as_secs_f64() * 1e6).round() / 1e3,
            })
            .collect(),
        rewritten,
    };
    Ok((report, catalog))
}

/// The storage file of every table and materialized view outside the system schemas.
async fn relfilenodes(target: &Target) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut conn = crate::db::connect(&target.url).await?;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT n.nspname || '.' || c.relname, c.relfilenode::bigint \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_%' AND c.relname <> '_sqlx_migrations' \
           AND c.relname NOT LIKE '\\_pgshift\\_%'",
    )
    .fetch_all(&mut conn)
    .await?;
    crate::db::close(conn).await;
    Ok(rows.into_iter().collect())
}

/// The objects that differ between two catalogs, by name: what the rehearsal expected and
/// production has.
pub(super) fn differences(expected: &Catalog, actual: &Catalog) -> Vec<String> {
    let mut out = Vec::new();
    let key = |schema: &str, name: &str| format!("{schema}.{name}");
    for table in &expected.tables {
        match actual.find_table(&table.schema, &table.name) {
            None => out.push(format!(
                "table {} is missing",
                key(&table.schema, &table.name)
            )),
            Some(other) if other != table => {
                let columns = |t: &crate::catalog::Table| {
                    t.columns
                        .iter()
                        .map(|c| format!("{} {}", c.name, c.ty.sql))
                        .collect::<Vec<_>>()
                };
                let what = if columns(other) != columns(table) {
                    "its columns differ"
                } else {
                    "its constraints, indexes or defaults differ"
                };
                out.push(format!("table {}: {what}", key(&table.schema, &table.name)));
            }
            Some(_) => {}
        }
    }
    for table in &actual.tables {
        if expected.find_table(&table.schema, &table.name).is_none() {
            out.push(format!(
                "table {} exists in production but not after the rehearsal",
                key(&table.schema, &table.name)
            ));
        }
    }
    let views = |c: &Catalog| {
        c.views
            .iter()
            .map(|v| (key(&v.schema, &v.name), v.definition.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (ev, av) = (views(expected), views(actual));
    for (name, definition) in &ev {
        match av.get(name) {
            None => out.push(format!("view {name} is missing")),
            Some(d) if d != definition => out.push(format!("view {name}: its definition differs")),
            _ => {}
        }
    }
    if expected.enums != actual.enums {
        out.push("enum types differ".into());
    }
    out
}
