//! `migrate-dev --name` with a schema folder: the migration that takes the migrations'
//! state to the schema folder's, computed in two shadow databases on the local server.

use super::folder::RenameComment;
use super::source;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::diff::{self, Diff, ObjectKind, Options, Rename};
use crate::target::Target;
use crate::UsageError;

/// The next migration from the schema folder: the diff from the migrations' state to the
/// folder's, and whether it was rehearsed successfully.
pub struct Next {
    pub diff: Diff,
    /// The way back, for a folder of up/down pairs: from the folder's state to the
    /// migrations', the renames reversed.
    pub down: Option<Diff>,
    /// Why the diff's script, applied to the migrations replayed in a shadow database, does
    /// not reach the folder's state (a statement fails, or something still differs). `None`
    /// when it does, or when there is nothing to do.
    pub rehearsal_failed: Option<String>,
}

/// The diff from the migrations (all of them, replayed) to the schema folder, with the
/// folder's rename comments and `concurrently`, rehearsed on the replayed migrations.
pub async fn next_migration(
    config: &Config,
    local: &Target,
    concurrently: bool,
    reversible: bool,
) -> anyhow::Result<Next> {
    // Two shadow databases, made and filled at the same time: the server's work (mostly
    // CREATE DATABASE copying its template) runs in parallel.
    let (schema, migrations) = tokio::join!(
        source::schema_state(config, local),
        source::migrations_shadow(config, local)
    );
    let (schema, (shadow, migrations)) = match (schema, migrations) {
        (Ok(schema), Ok(replayed)) => (schema, replayed),
        (Err(e), Ok((shadow, _))) => {
            shadow.drop().await;
            return Err(e);
        }
        (_, Err(e)) => return Err(e),
    };
    let result = async {
        let options = Options {
            concurrently,
            renames: renames(&schema.renames, &migrations, &schema.catalog)?,
        };
        let diff = diff::diff(&migrations, &schema.catalog, &options);
        let down = (reversible && !diff.is_empty()).then(|| {
            let back = Options {
                concurrently: false,
                renames: reversed(&options.renames),
            };
            diff::diff(&schema.catalog, &migrations, &back)
        });
        let schemas = &config.codegen.schemas;
        let mut rehearsal_failed = None;
        if !diff.is_empty() {
            rehearsal_failed =
                diff::check::rehearse(shadow.url(), &diff, &schema.catalog, schemas).await?;
        }
        // The way back, from where the way there arrived.
        if let (None, Some(down)) = (&rehearsal_failed, &down) {
            rehearsal_failed = diff::check::rehearse(shadow.url(), down, &migrations, schemas)
                .await?
                .map(|why| format!("the down migration: {why}"));
        }
        Ok(Next {
            diff,
            down,
            rehearsal_failed,
        })
    }
    .await;
    shadow.drop().await;
    result
}

/// The rename comments as the diff takes them: tables first, then columns (whose `table` is
/// the table's new name). Only the renames still to do: a comment stays in the schema file
/// after the migration that renamed is written, and from then on its old name is gone from
/// `from` (the state the migrations make) and the new one is there.
///
/// A comment that cannot be done is an error naming its line, never skipped: a rename that
/// silently does not happen is a drop and a create, and the rows are lost. That is an old
/// name found nowhere (while `from` has tables: from `empty` there is nothing to rename),
/// an old name the folder still defines, both names in `from`, and two comments renaming
/// the same thing.
pub fn renames(
    comments: &[RenameComment],
    from: &Catalog,
    to: &Catalog,
) -> Result<Vec<Rename>, UsageError> {
    let bad = |c: &RenameComment, why: String| {
        UsageError::Other(format!(
            "{}: `-- pgshift:renamed from={}`: {why}",
            c.at,
            quoted(&c.from)
        ))
    };
    for (i, c) in comments.iter().enumerate() {
        if let Some(twin) = comments[..i].iter().find(|o| {
            o.schema == c.schema
                && o.column.is_some() == c.column.is_some()
                && (c.column.is_none() || o.table == c.table)
                && o.from == c.from
        }) {
            return Err(bad(
                c,
                format!("{} renames the same one; keep one of them", twin.at),
            ));
        }
    }
    let table_renamed = |schema: &str, table: &str| {
        comments
            .iter()
            .find(|c| c.column.is_none() && c.schema == schema && c.table == table)
            .map(|c| c.from.as_str())
    };
    let mut renames = Vec::new();
    for c in comments {
        let to_do = match &c.column {
            None => {
                let name = format!("{}.{}", quoted(&c.schema), quoted(&c.from));
                let others = from
                    .tables
                    .iter()
                    .filter(|t| t.schema == c.schema)
                    .map(|t| t.name.as_str());
                still_to_do(
                    c,
                    Found {
                        what: "table",
                        name: &name,
                        new_name: &quoted(&c.table),
                        old: from.find_table(&c.schema, &c.from).is_some(),
                        new: from.find_table(&c.schema, &c.table).is_some(),
                        still_defined: to.find_table(&c.schema, &c.from).is_some(),
                        nothing_there: from.tables.is_empty(),
                        missing: format!(
                            "there is no table {name} to rename{}",
                            case_hint(&c.from, others)
                        ),
                    },
                )?
            }
            Some(column) => {
                let table = from.find_table(&c.schema, &c.table).or_else(|| {
                    table_renamed(&c.schema, &c.table)
                        .and_then(|old| from.find_table(&c.schema, old))
                });
                // A table new in this migration has nothing to rename.
                let Some(table) = table else { continue };
                let has = |name: &str| table.columns.iter().any(|col| col.name == name);
                let others = table.columns.iter().map(|col| col.name.as_str());
                still_to_do(
                    c,
                    Found {
                        what: "column",
                        name: &format!("{}.{}", quoted(&c.table), quoted(&c.from)),
                        new_name: &quoted(column),
                        old: has(&c.from),
                        new: has(column),
                        still_defined: to
                            .find_table(&c.schema, &c.table)
                            .is_some_and(|t| t.columns.iter().any(|col| col.name == c.from)),
                        nothing_there: false,
                        missing: format!(
                            "table {} has no column {} to rename{}",
                            quoted(&c.table),
                            quoted(&c.from),
                            case_hint(&c.from, others)
                        ),
                    },
                )?
            }
        };
        if to_do {
            renames.push(Rename {
                kind: if c.column.is_some() {
                    ObjectKind::Column
                } else {
                    ObjectKind::Table
                },
                schema: c.schema.clone(),
                table: c.column.as_ref().map(|_| c.table.clone()),
                from: c.from.clone(),
                to: c.to().to_string(),
            });
        }
    }
    renames.sort_by_key(|r| r.kind != ObjectKind::Table);
    Ok(renames)
}

/// The renames of the way back: each from its new name to its old one; a column's table
/// is then known by the table's old name.
fn reversed(renames: &[Rename]) -> Vec<Rename> {
    let mut back: Vec<Rename> = renames
        .iter()
        .map(|r| Rename {
            kind: r.kind,
            schema: r.schema.clone(),
            table: r.table.as_ref().map(|table| {
                renames
                    .iter()
                    .find(|t| t.kind == ObjectKind::Table && t.schema == r.schema && t.to == *table)
                    .map_or_else(|| table.clone(), |t| t.from.clone())
            }),
            from: r.to.clone(),
            to: r.from.clone(),
        })
        .collect();
    back.sort_by_key(|r| r.kind != ObjectKind::Table);
    back
}

/// What the states hold of one rename comment's names.
struct Found<'a> {
    /// `table` or `column`.
    what: &'a str,
    /// The old name as shown: `public.doctor`, `doctor.name`.
    name: &'a str,
    new_name: &'a str,
    /// Whether `from` (the migrations' state) has the old name, and the new one.
    old: bool,
    new: bool,
    /// Whether the schema folder still defines the old name.
    still_defined: bool,
    /// `from` has nothing at all (from `empty`): nothing to rename, no error.
    nothing_there: bool,
    /// What to say of an old name found nowhere.
    missing: String,
}

/// Whether the rename of comment `c` is still to do (`false`: the migrations did it), or
/// why it cannot be done.
fn still_to_do(c: &RenameComment, found: Found<'_>) -> Result<bool, UsageError> {
    let Found {
        what,
        name,
        new_name,
        ..
    } = found;
    let why = match (found.old, found.new) {
        (true, _) if found.still_defined => format!(
            "the schema folder still defines {what} {name}; a {what} renamed away is defined \
             only under its new name"
        ),
        (true, false) => return Ok(true),
        (false, true) => return Ok(false),
        (true, true) => format!(
            "both {name} and {new_name} already exist; remove the comment if the rename was \
             done, or drop one of them first"
        ),
        (false, false) if found.nothing_there => return Ok(false),
        (false, false) => found.missing,
    };
    Err(UsageError::Other(format!(
        "{}: `-- pgshift:renamed from={}`: {why}",
        c.at,
        quoted(&c.from)
    )))
}

/// A name as it is written in SQL: quoted when folding would change it.
fn quoted(name: &str) -> String {
    crate::diff::sql::quote_ident(name)
}

/// `; names fold to lower case unless quoted: from="Mixed"` when a name that differs only
/// in case exists.
fn case_hint<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> String {
    let mut names = names;
    match names.find(|n| n.to_lowercase() == wanted.to_lowercase() && *n != wanted) {
        Some(name) => format!(
            "; a name is folded to lower case unless it is quoted: write from={}",
            quoted(name)
        ),
        None => String::new(),
    }
}
