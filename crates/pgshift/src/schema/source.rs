//! Sources: the states of a schema that can be compared. `empty`; `migrations` (the
//! migrations folder replayed by the engine into a shadow database); `schema` (the schema
//! folder loaded into a shadow database); `env:NAME` (a configured environment's catalog,
//! read only); a URL. Each becomes a `Catalog`.

use std::fmt;

use super::folder::{self, RenameComment};
use super::load;
use crate::catalog::{self, Catalog};
use crate::config::Config;
use crate::local::shadow::ShadowDatabase;
use crate::migrations::{self, ApplyOptions, Mode};
use crate::target::{DbUrl, Target};
use crate::UsageError;

/// A state of the schema, as `--from`/`--to` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No objects at all.
    Empty,
    /// The migrations folder, replayed into a shadow database.
    Migrations,
    /// The schema folder (`[paths] schema`), loaded into a shadow database.
    Schema,
    /// The database of an environment (`local` or an `[env.NAME]`), read only.
    Env(String),
    /// Any database, read only.
    Url(DbUrl),
}

impl Source {
    /// `empty`, `migrations`, `schema`, `env:NAME`, or a `postgres://` URL.
    pub fn parse(text: &str) -> Result<Source, UsageError> {
        let text = text.trim();
        match text {
            "empty" => return Ok(Source::Empty),
            "migrations" => return Ok(Source::Migrations),
            "schema" => return Ok(Source::Schema),
            _ => {}
        }
        if let Some(env) = text.strip_prefix("env:") {
            if env.is_empty() {
                return Err(UsageError::Other(
                    "`env:` needs an environment's name, e.g. env:prod".into(),
                ));
            }
            return Ok(Source::Env(env.to_string()));
        }
        if text.contains("://") {
            return DbUrl::parse(text)
                .map(Source::Url)
                .map_err(|message| UsageError::BadUrl {
                    origin: "the source".into(),
                    message,
                });
        }
        Err(UsageError::Other(format!(
            "`{}` is not a source; use empty, migrations, schema, env:NAME or a postgres:// URL",
            crate::target::redact(text)
        )))
    }

    /// Refuses, before any work, a source this project cannot read: `schema` without
    /// `[paths] schema`.
    pub fn check(&self, config: &Config) -> Result<(), UsageError> {
        if *self == Source::Schema {
            schema_folder(config)?;
        }
        Ok(())
    }

    /// Whether reading it needs a shadow database on the local server.
    pub fn needs_shadow(&self) -> bool {
        matches!(self, Source::Migrations | Source::Schema)
    }
}

impl fmt::Display for Source {
    /// As the user wrote it, a URL redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Empty => f.write_str("empty"),
            Source::Migrations => f.write_str("migrations"),
            Source::Schema => f.write_str("schema"),
            Source::Env(env) => write!(f, "env:{env}"),
            Source::Url(url) => write!(f, "{url}"),
        }
    }
}

/// A source read: its catalog, and for the schema folder its rename comments.
#[derive(Debug, Clone, Default)]
pub struct SchemaState {
    pub catalog: Catalog,
    pub renames: Vec<RenameComment>,
}

/// What reading a source needs besides the source itself.
pub struct Context<'a> {
    pub config: &'a Config,
    /// The command, for the refusal of a non-local shadow server.
    pub command: &'a str,
    /// Resolves an environment's name to its target (`local` too: its server holds the
    /// shadow databases).
    pub resolve: &'a dyn Fn(&str) -> anyhow::Result<Target>,
}

/// Reads `source` into a catalog of `[codegen] schemas`.
pub async fn read(cx: &Context<'_>, source: &Source) -> anyhow::Result<SchemaState> {
    let schemas = &cx.config.codegen.schemas;
    match source {
        Source::Empty => Ok(SchemaState {
            catalog: Catalog {
                schemas: schemas.clone(),
                ..Catalog::default()
            },
            renames: Vec::new(),
        }),
        Source::Migrations => {
            let local = local_server(cx)?;
            Ok(SchemaState {
                catalog: migrations_catalog(cx.config, &local).await?,
                renames: Vec::new(),
            })
        }
        Source::Schema => {
            let local = local_server(cx)?;
            schema_state(cx.config, &local).await
        }
        Source::Env(env) => {
            let target = (cx.resolve)(env)?;
            catalog::read(&target.url, schemas).await
        }
        .map(|catalog| SchemaState {
            catalog,
            renames: Vec::new(),
        }),
        Source::Url(url) => Ok(SchemaState {
            // A URL given on the command line is not the local database: the hint to start
            // that one does not apply.
            catalog: catalog::read(url, schemas).await.map_err(|e| {
                anyhow::anyhow!(
                    "{}",
                    format!("{e:#}").replace(
                        "`cargo xtask db up` creates the local application database",
                        "create the database on that server, or fix the URL"
                    )
                )
            })?,
            renames: Vec::new(),
        }),
    }
}

/// The local target, whose server holds the shadow databases: only on this machine.
fn local_server(cx: &Context<'_>) -> anyhow::Result<Target> {
    let local = (cx.resolve)(crate::target::LOCAL_ENV)?;
    local.require_local(cx.command)?;
    Ok(local)
}

/// The schema folder's files, or a usage error when `[paths] schema` is not set.
pub fn schema_files(config: &Config) -> anyhow::Result<Vec<folder::SchemaFile>> {
    let folder = schema_folder(config)?;
    folder::discover(folder, &config.root).map_err(|e| UsageError::Other(e).into())
}

/// `[paths] schema`, or a usage error saying how to set it.
pub fn schema_folder(config: &Config) -> Result<&std::path::Path, UsageError> {
    config.paths.schema.as_deref().ok_or_else(|| {
        UsageError::Other(
            "this project has no schema folder; add `schema = \"schema\"` under [paths] in \
             pgshift.toml (and `cargo xtask schema pull` writes it from a database)"
                .into(),
        )
    })
}

/// The schema folder loaded into a shadow database on `local`'s server, read back.
pub async fn schema_state(config: &Config, local: &Target) -> anyhow::Result<SchemaState> {
    let files = schema_files(config)?;
    let parsed = load::parse(&files).map_err(UsageError::Other)?;
    let shadow = ShadowDatabase::create(&local.url, "schema").await?;
    let result = async {
        load::load(shadow.url(), &parsed).await?;
        warn_unread(shadow.url(), &config.codegen.schemas).await;
        catalog::read(shadow.url(), &config.codegen.schemas).await
    }
    .await;
    shadow.drop().await;
    Ok(SchemaState {
        catalog: result?,
        renames: parsed.renames,
    })
}

/// Says what the folder defines that no comparison reads: objects in schemas outside
/// `[codegen] schemas`, and partitions (the diff covers a partitioned table, not its
/// partitions). Best effort: a failed query says nothing.
async fn warn_unread(shadow: &DbUrl, schemas: &[String]) {
    let found: anyhow::Result<(Vec<String>, Vec<String>)> = async {
        let mut conn = crate::db::connect(shadow).await?;
        let outside: Vec<String> = sqlx::query_scalar(
            "SELECT n.nspname::text FROM pg_catalog.pg_namespace n \
             WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' \
               AND NOT n.nspname = ANY($1) \
               AND (EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid \
                              AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')) \
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_type t WHERE t.typnamespace = n.oid \
                               AND t.typtype IN ('e', 'd')) \
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.pronamespace = n.oid \
                               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                                   WHERE d.classid = 'pg_catalog.pg_proc'::regclass \
                                     AND d.objid = p.oid AND d.deptype = 'e'))) \
             ORDER BY 1",
        )
        .bind(schemas)
        .fetch_all(&mut conn)
        .await?;
        let partitions: Vec<String> = sqlx::query_scalar(
            "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relispartition AND c.relkind IN ('r', 'p') AND n.nspname = ANY($1) \
             ORDER BY 1",
        )
        .bind(schemas)
        .fetch_all(&mut conn)
        .await?;
        crate::db::close(conn).await;
        Ok((outside, partitions))
    }
    .await;
    let Ok((outside, partitions)) = found else {
        return;
    };
    if !outside.is_empty() {
        tracing::warn!(
            "the schema folder defines objects in {} outside [codegen] schemas ({}): they are \
             not compared, so no migration creates them; add the schema to [codegen] schemas",
            outside.join(", "),
            schemas.join(", ")
        );
    }
    if let Some(first) = partitions.first() {
        tracing::warn!(
            "the schema folder defines {} partition{} ({first}{}): partitions are not compared \
             (the diff covers the partitioned table); create them in a migration",
            partitions.len(),
            if partitions.len() == 1 { "" } else { "s" },
            if partitions.len() > 1 { ", ..." } else { "" }
        );
    }
}

/// The migrations folder replayed into a shadow database on `local`'s server by the
/// migration engine (as `migrate-dev` applies them), read back. A migration that is still
/// the empty template `migrate-new` wrote holds no SQL and is left out (`migrate-dev` waits
/// for it, which would stop the replay there).
pub async fn migrations_catalog(config: &Config, local: &Target) -> anyhow::Result<Catalog> {
    let (shadow, catalog) = migrations_shadow(config, local).await?;
    shadow.drop().await;
    Ok(catalog)
}

/// The migrations replayed as `migrations_catalog` does, in a shadow database that the
/// caller drops: something more is to be done in that state.
pub async fn migrations_shadow(
    config: &Config,
    local: &Target,
) -> anyhow::Result<(ShadowDatabase, Catalog)> {
    replayed_subset(config, local, &|_| true).await
}

/// Only the migrations whose versions are in `versions` (those a database has applied),
/// replayed as `migrations_catalog` does.
pub async fn applied_migrations_catalog(
    config: &Config,
    local: &Target,
    versions: &std::collections::BTreeSet<i64>,
) -> anyhow::Result<Catalog> {
    let (shadow, catalog) =
        replayed_subset(config, local, &|f| versions.contains(&f.version)).await?;
    shadow.drop().await;
    Ok(catalog)
}

/// The migrations `keep` keeps (without untouched templates), replayed. When that is not
/// the whole folder, their files are copied into a temporary folder that the engine reads
/// instead.
async fn replayed_subset(
    config: &Config,
    local: &Target,
    keep: &(dyn Fn(&migrations::MigrationFile) -> bool + Sync),
) -> anyhow::Result<(ShadowDatabase, Catalog)> {
    let files = migrations::files::discover(&config.paths.migrations)?;
    let kept = |f: &migrations::MigrationFile| {
        keep(f) && !migrations::new::is_untouched_template(f.name_without_version(), &f.sql)
    };
    if files.iter().all(kept) {
        return replayed_catalog(config, local).await;
    }
    let folder = tempfile::Builder::new()
        .prefix("pgshift-replay-")
        .tempdir()
        .map_err(|e| anyhow::anyhow!("cannot make a temporary folder: {e}"))?;
    for file in files.iter().filter(|f| kept(f)) {
        for path in std::iter::once(&file.path).chain(file.down.as_ref()) {
            let name = path.file_name().expect("a migration file has a name");
            std::fs::copy(path, folder.path().join(name))
                .map_err(|e| anyhow::anyhow!("cannot copy {}: {e}", path.display()))?;
        }
    }
    let mut subset = config.clone();
    subset.paths.migrations = folder.path().to_path_buf();
    replayed_catalog(&subset, local).await
}

async fn replayed_catalog(
    config: &Config,
    local: &Target,
) -> anyhow::Result<(ShadowDatabase, Catalog)> {
    let shadow = ShadowDatabase::create(&local.url, "migrations").await?;
    let result = async {
        replay(config, local, shadow.url()).await?;
        catalog::read(shadow.url(), &config.codegen.schemas).await
    }
    .await;
    match result {
        Ok(catalog) => Ok((shadow, catalog)),
        Err(e) => {
            shadow.drop().await;
            Err(e)
        }
    }
}

/// Applies every migration to the empty database `shadow` with the engine.
async fn replay(config: &Config, local: &Target, shadow: &DbUrl) -> anyhow::Result<()> {
    let copy = Target {
        env: local.env.clone(),
        url: shadow.clone(),
        source: local.source.clone(),
        protected: false,
    };
    let options = ApplyOptions {
        mode: Mode::Dev,
        allow_out_of_order: false,
        dry_run: false,
        files: None,
        lint: true,
    };
    let report = migrations::apply_pending(config, &copy, &options, &mut |_| {})
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "replaying the migrations into a shadow database: {}",
                crate::target::redact(&e.to_string())
            )
        })?;
    if let Some(waiting) = report.waiting {
        anyhow::bail!(
            "replaying the migrations into a shadow database stopped: {waiting}; write it or \
             delete it"
        );
    }
    Ok(())
}
