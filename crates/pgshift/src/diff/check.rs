//! The judge of a diff: its script applied to a database in the `from` state must leave a
//! catalog equal to `to`'s. The corpus runs it over every pair; `migrate-dev` runs it on the
//! migrations' shadow database before it writes a generated migration, so a script that
//! fails, or that does not reach the schema folder's state, is never written as if it did.

use super::{diff, Diff, Options};
use crate::catalog::{self, Catalog};
use crate::target::DbUrl;

/// The catalog as the judge compares it: table columns in name order (an added column goes
/// last, whatever its place in the schema).
pub fn normalized(catalog: &Catalog) -> Catalog {
    let mut c = catalog.clone();
    for t in &mut c.tables {
        t.columns.sort_by(|a, b| a.name.cmp(&b.name));
    }
    c
}

/// Applies a diff's script as a migration would: in one transaction, or statement by
/// statement for a `-- no-transaction` one. The error names the failing statement.
pub async fn apply(url: &DbUrl, diff: &Diff) -> anyhow::Result<()> {
    let mut conn = crate::db::connect(url).await?;
    let result = if diff.no_transaction() {
        let mut result = Ok(());
        'all: for change in &diff.changes {
            for statement in &change.statements {
                if let Err(e) = sqlx::raw_sql(statement).execute(&mut conn).await {
                    result = Err(anyhow::anyhow!("{e} in: {statement}"));
                    break 'all;
                }
            }
        }
        result
    } else {
        // One message, as a migration is sent; when it fails, once more statement by
        // statement (rolled back) to name the statement.
        let script = format!("BEGIN;\n{}\nCOMMIT;", diff.script());
        match sqlx::raw_sql(&script).execute(&mut conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
                Err(anyhow::anyhow!(
                    "{}",
                    failing_statement(&mut conn, diff)
                        .await
                        .unwrap_or_else(|| e.to_string())
                ))
            }
        }
    };
    crate::db::close(conn).await;
    result
}

/// The first statement of `diff` that fails, run one by one in a transaction rolled back.
async fn failing_statement(conn: &mut sqlx::PgConnection, diff: &Diff) -> Option<String> {
    sqlx::raw_sql("BEGIN").execute(&mut *conn).await.ok()?;
    let mut failed = None;
    'each: for change in &diff.changes {
        for statement in &change.statements {
            if let Err(e) = sqlx::raw_sql(statement).execute(&mut *conn).await {
                failed = Some(format!("{e} in: {statement}"));
                break 'each;
            }
        }
    }
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    failed
}

/// Applies `diff` to the database at `url` (in the diff's `from` state) and reads it back:
/// `None` when it then equals `to`, else what went wrong (the statement that failed, or what
/// still differs). `Err` only when the database cannot be reached.
pub async fn rehearse(
    url: &DbUrl,
    diff: &Diff,
    to: &Catalog,
    schemas: &[String],
) -> anyhow::Result<Option<String>> {
    if let Err(e) = apply(url, diff).await {
        return Ok(Some(format!("the script fails: {e}")));
    }
    let after = catalog::read(url, schemas).await?;
    let (after, to) = (normalized(&after), normalized(to));
    if after == to {
        return Ok(None);
    }
    let rest = self::diff(&after, &to, &Options::default());
    let what = if rest.is_empty() {
        first_difference(&after, &to)
    } else {
        rest.header()
    };
    Ok(Some(format!(
        "after the script, the catalog still differs:\n{what}"
    )))
}

/// The first line where the two catalogs' debug prints differ, for what the diff misses.
fn first_difference(a: &Catalog, b: &Catalog) -> String {
    let (a, b) = (format!("{a:#?}"), format!("{b:#?}"));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            let context: Vec<&str> = a.lines().skip(i.saturating_sub(12)).take(12).collect();
            return format!(
                "(the diff sees no change) at line {i}:\n  after: {x}\n  B:     {y}\n  context:\n{}",
                context.join("\n")
            );
        }
    }
    "(the diff sees no change) the catalogs differ in length".to_string()
}
