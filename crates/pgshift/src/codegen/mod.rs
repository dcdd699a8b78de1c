//! Typed Rust bindings from the catalog: `generate` (what `cargo xtask generate`,
//! `migrate-dev` and the daemon run) and `check` (what `generate --check` and the staleness
//! test run).
//!
//! The output is a pure function of the catalog and the `[codegen]` options, formatted with
//! prettyplease, and written atomically only when its contents change, so an unchanged
//! schema never makes cargo rebuild the bindings crate.

mod emit;
pub mod names;
mod types;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgConnection;

use crate::catalog::{self, Catalog};
use crate::config::Config;
use crate::target::DbUrl;

pub use emit::{render, render_bindings, Bindings, SkippedColumn, HEADER};
pub use types::{RustType, TypeMapper};

/// The command that regenerates the bindings; errors and diffs point at it.
pub const REGENERATE: &str = "cargo xtask generate";

/// A column that cannot become Rust as configured.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    #[error("no Rust type for column {column} of type `{sql_type}`; map the type under [codegen.types] in pgshift.toml, e.g. {type_name:?} = \"my_crate::MyType\"")]
    UnknownType {
        /// `table.column` (`schema.table.column` outside the first configured schema).
        column: String,
        sql_type: String,
        /// The type's name in pg_type, the key an override uses.
        type_name: String,
    },
    #[error("column {column} of type `{sql_type}` is declared with {dims} array dimensions, but sqlx decodes only one-dimensional arrays; declare it one-dimensional, or store it as jsonb")]
    MultiDimensional {
        column: String,
        sql_type: String,
        dims: u32,
    },
    #[error("column {column} of type `{sql_type}` is an array of a domain, which PostgreSQL sends as the domain's array type and sqlx refuses to decode into Vec of the domain's base type; cast it in the query (`column::{base_array}`), or map {type_name:?} under [codegen.types] to a type that implements sqlx's Type and PgHasArrayType for the domain")]
    DomainArray {
        column: String,
        sql_type: String,
        /// The array type of the domain's underlying base type, e.g. `integer[]`.
        base_array: String,
        type_name: String,
    },
    #[error("column {column} of type `{sql_type}` maps to {rust_type}, which does not implement serde's traits; set [codegen] serde = false, or map {type_name:?} under [codegen.types] to a type that does")]
    NoSerde {
        column: String,
        sql_type: String,
        rust_type: String,
        type_name: String,
    },
    #[error("[codegen.types] {key:?} = {path:?} is not a Rust type; write a path such as \"my_crate::MyType\"")]
    BadOverride { key: String, path: String },
}

/// What `generate` did.
#[derive(Debug, Clone)]
pub struct GenerateOutcome {
    /// The bindings file.
    pub path: PathBuf,
    /// False when the file already had these contents and was left untouched.
    pub changed: bool,
    pub tables: usize,
    pub views: usize,
    pub enums: usize,
    pub composites: usize,
    /// Columns left out of their structs (no Rust type for them).
    pub skipped: Vec<SkippedColumn>,
    /// Time spent reading the catalog.
    pub introspect_time: Duration,
    /// Time spent rendering and formatting the Rust source.
    pub render_time: Duration,
}

/// What `check` found.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The bindings file.
    pub path: PathBuf,
    /// A unified diff from the file on disk to what `generate` would write; `None` when
    /// the file is up to date.
    pub diff: Option<String>,
}

/// Reads the schema from `url` and writes the bindings to `[paths] bindings` if they
/// changed.
pub async fn generate(config: &Config, url: &DbUrl) -> anyhow::Result<GenerateOutcome> {
    let mut conn = crate::db::connect(url).await?;
    let outcome = generate_on(&mut conn, config, url).await;
    crate::db::close(conn).await;
    outcome
}

/// `generate` through an open connection (the daemon keeps one); `url` names the database
/// in errors.
pub async fn generate_on(
    conn: &mut PgConnection,
    config: &Config,
    url: &DbUrl,
) -> anyhow::Result<GenerateOutcome> {
    let started = Instant::now();
    let catalog = introspect(conn, config, url).await?;
    let introspect_time = started.elapsed();
    let started = Instant::now();
    let Bindings { code, skipped } = render_for(&catalog, config)?;
    let render_time = started.elapsed();
    let path = config.paths.bindings.clone();
    let changed = write_if_changed(&path, &code)
        .with_context(|| format!("cannot write the bindings to {}", path.display()))?;
    Ok(GenerateOutcome {
        path,
        changed,
        tables: catalog.tables.len(),
        views: catalog.views.len(),
        enums: catalog.enums.len(),
        composites: catalog.composites.len(),
        skipped,
        introspect_time,
        render_time,
    })
}

/// Compares the bindings file with what `generate` would write, without writing.
pub async fn check(config: &Config, url: &DbUrl) -> anyhow::Result<CheckOutcome> {
    let mut conn = crate::db::connect(url).await?;
    let catalog = introspect(&mut conn, config, url).await;
    crate::db::close(conn).await;
    let code = render_for(&catalog?, config)?.code;
    let path = config.paths.bindings.clone();
    let label = path
        .strip_prefix(&config.root)
        .unwrap_or(&path)
        .display()
        .to_string();
    let diff = stale_diff(&path, &label, &code)?;
    Ok(CheckOutcome { path, diff })
}

/// `render` with `config`'s options; a bad `[codegen.types]` entry is a configuration
/// error (exit code 2) that names pgshift.toml.
fn render_for(catalog: &Catalog, config: &Config) -> anyhow::Result<Bindings> {
    render_bindings(catalog, &config.codegen).map_err(|e| match e {
        CodegenError::BadOverride { .. } => crate::UsageError::Config {
            file: config.root.join(crate::config::CONFIG_FILE),
            message: e.to_string(),
        }
        .into(),
        e => e.into(),
    })
}

async fn introspect(
    conn: &mut PgConnection,
    config: &Config,
    url: &DbUrl,
) -> anyhow::Result<Catalog> {
    let failed = |e: sqlx::Error| catalog::read_error(url, &e);
    let schemas = &config.codegen.schemas;
    // A misspelt or not yet created schema would otherwise give empty bindings silently.
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT s FROM unnest($1::text[]) s \
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = s)",
    )
    .bind(schemas)
    .fetch_all(&mut *conn)
    .await
    .map_err(failed)?;
    if !missing.is_empty() {
        anyhow::bail!(
            "schema {} of [codegen] schemas does not exist in {url}; apply the migrations \
             that create it (`cargo xtask migrate-dev`), or fix [codegen] schemas in {}",
            missing.join(", "),
            config.root.join(crate::config::CONFIG_FILE).display()
        );
    }
    let mut catalog = catalog::introspect(conn, schemas).await.map_err(failed)?;
    if config.codegen.partitions {
        add_partitions(conn, &mut catalog).await.map_err(failed)?;
    }
    Ok(catalog)
}

/// `[codegen] partitions = true`: a struct per partition too. The catalog lists a
/// partitioned table once (its partitions have its columns); for the bindings each
/// partition becomes a table of its own with its parent's columns.
async fn add_partitions(conn: &mut PgConnection, catalog: &mut Catalog) -> Result<(), sqlx::Error> {
    let partitions: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, pn.nspname::text, p.relname::text          FROM pg_catalog.pg_class c          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace          JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid          JOIN pg_catalog.pg_class p ON p.oid = i.inhparent          JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace          WHERE c.relispartition AND n.nspname = ANY($1::text[])",
    )
    .bind(&catalog.schemas)
    .fetch_all(&mut *conn)
    .await?;
    // Parents first, so a partition of a partition finds its (already added) parent.
    let mut pending = partitions;
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|(schema, name, parent_schema, parent)| {
            let Some(parent) = catalog.find_table(parent_schema, parent).cloned() else {
                return true;
            };
            catalog.tables.push(catalog::Table {
                schema: schema.clone(),
                name: name.clone(),
                comment: Some(format!("A partition of {}.", parent.name)),
                ..parent
            });
            false
        });
        if pending.len() == before {
            break;
        }
    }
    catalog
        .tables
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(())
}

/// The diff from the file at `path` (missing counts as empty) to `expected`, or `None`
/// when they are equal. `label` names the file in the diff's header.
pub fn stale_diff(path: &Path, label: &str, expected: &str) -> anyhow::Result<Option<String>> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if current == expected {
        return Ok(None);
    }
    Ok(Some(unified_diff(label, &current, expected)))
}

/// A unified diff (3 lines of context) from `old` to `new`, headed `a/label`, `b/label`.
pub fn unified_diff(label: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string()
}

/// Writes `contents` to `path` unless it already holds exactly that; returns whether it
/// wrote. The write goes to a temporary file in the same folder that is then renamed over
/// `path`, so a reader (cargo, rust-analyzer) never sees a half-written file.
pub fn write_if_changed(path: &Path, contents: &str) -> std::io::Result<bool> {
    match std::fs::read(path) {
        Ok(current) if current == contents.as_bytes() => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".pgshift-generate-")
        .tempfile_in(dir)?;
    temp.write_all(contents.as_bytes())?;
    temp.as_file().sync_all()?;
    // tempfile creates 0600 files; the bindings are ordinary source.
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::Permissions::from_mode(0o644)
        });
    std::fs::set_permissions(temp.path(), mode)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(true)
}
