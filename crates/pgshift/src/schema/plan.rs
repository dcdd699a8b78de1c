//! `migrate-dev --name` with a schema folder: the migration that takes the migrations'
//! state to the schema folder's, computed in two shadow databases on the local server.

use super::folder::RenameComment;
use super::source;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::diff::{self, Diff, ObjectKind, Options, Rename};
use crate::target::Target;

/// The diff from the migrations (all of them, replayed) to the schema folder, with the
/// folder's rename comments and `concurrently`.
pub async fn next_migration(
    config: &Config,
    local: &Target,
    concurrently: bool,
) -> anyhow::Result<Diff> {
    // Two shadow databases, made and filled at the same time: the server's work (mostly
    // CREATE DATABASE copying its template) runs in parallel.
    let (schema, migrations) = tokio::join!(
        source::schema_state(config, local),
        source::migrations_catalog(config, local)
    );
    let (schema, migrations) = (schema?, migrations?);
    let options = Options {
        concurrently,
        renames: renames(&schema.renames, &migrations),
    };
    Ok(diff::diff(&migrations, &schema.catalog, &options))
}

/// The rename comments as the diff takes them: tables first, then columns (whose `table` is
/// the table's new name). Only the renames still to do: a comment stays in the schema file
/// after the migration that renamed is written, and from then on its old name is gone from
/// `from` (the state the migrations make) and the new one is there.
pub fn renames(comments: &[RenameComment], from: &Catalog) -> Vec<Rename> {
    let table_renamed = |schema: &str, table: &str| {
        comments
            .iter()
            .find(|c| c.column.is_none() && c.schema == schema && c.table == table)
            .map(|c| c.from.as_str())
    };
    let mut renames: Vec<Rename> = comments
        .iter()
        .filter(|c| match &c.column {
            None => {
                from.find_table(&c.schema, &c.from).is_some()
                    && from.find_table(&c.schema, &c.table).is_none()
            }
            Some(column) => {
                let table = from.find_table(&c.schema, &c.table).or_else(|| {
                    table_renamed(&c.schema, &c.table)
                        .and_then(|old| from.find_table(&c.schema, old))
                });
                table.is_some_and(|t| {
                    t.columns.iter().any(|col| col.name == c.from)
                        && !t.columns.iter().any(|col| &col.name == column)
                })
            }
        })
        .map(|c| Rename {
            kind: if c.column.is_some() {
                ObjectKind::Column
            } else {
                ObjectKind::Table
            },
            schema: c.schema.clone(),
            table: c.column.as_ref().map(|_| c.table.clone()),
            from: c.from.clone(),
            to: c.to().to_string(),
        })
        .collect();
    renames.sort_by_key(|r| r.kind != ObjectKind::Table);
    renames
}
