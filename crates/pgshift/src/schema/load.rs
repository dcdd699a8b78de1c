//! Loading the schema folder into a (shadow) database, statement by statement, so that a
//! failure names its file and line.
//!
//! Files run in path order, but a schema folder describes a state, not a sequence: a
//! statement that fails because something it refers to does not exist yet (a table whose
//! foreign key points at a table of a later file, a view over a later table) is tried again
//! after the others, for as long as each round makes progress. Each statement runs on its
//! own (autocommit), so a failed one leaves nothing behind. Function bodies are checked when
//! called, not created (`check_function_bodies = off`, as pg_dump's output does), so a
//! function may name a table defined later.

use sqlx::Connection;

use super::folder::{RenameComment, SchemaFile};
use crate::sql::{Kind, Statement};
use crate::target::DbUrl;

/// SQLSTATEs of a statement that refers to something not created yet: undefined table,
/// object (type), function, column, schema.
const NOT_YET: [&str; 5] = ["42P01", "42704", "42883", "42703", "3F000"];

/// The parsed schema folder: every file's statements and rename comments.
pub struct Parsed<'a> {
    statements: Vec<(&'a SchemaFile, Statement<'a>)>,
    pub renames: Vec<RenameComment>,
}

/// Parses every file; the first problem is `file:line: message`.
pub fn parse(files: &[SchemaFile]) -> Result<Parsed<'_>, String> {
    let mut parsed = Parsed {
        statements: Vec::new(),
        renames: Vec::new(),
    };
    for file in files {
        let statements = file.statements()?;
        parsed
            .renames
            .extend(super::folder::renames(file, &statements)?);
        for statement in statements {
            let refuse = |why: &str| Err(format!("{}:{}: {why}", file.shown, statement.line));
            match statement.kind {
                Kind::CopyFromStdin | Kind::CopyToStdout => {
                    return refuse(
                        "COPY to or from the client needs psql; the schema folder holds the \
                         schema's definitions, put data in a migration",
                    )
                }
                Kind::TransactionControl(what) => {
                    return refuse(&format!(
                        "{what} does not belong in the schema folder: it describes the schema, \
                         and its statements are run one by one; remove it"
                    ))
                }
                _ => {}
            }
            parsed.statements.push((file, statement));
        }
    }
    Ok(parsed)
}

/// Runs the parsed schema in the database at `url` (an empty shadow database).
pub async fn load(url: &DbUrl, parsed: &Parsed<'_>) -> anyhow::Result<()> {
    let mut conn = crate::db::connect(url).await?;
    let result = run(&mut conn, parsed).await;
    let _ = conn.close().await;
    result
}

async fn run(conn: &mut sqlx::PgConnection, parsed: &Parsed<'_>) -> anyhow::Result<()> {
    sqlx::raw_sql("SET check_function_bodies = off")
        .execute(&mut *conn)
        .await?;
    let mut pending: Vec<&(&SchemaFile, Statement<'_>)> = parsed.statements.iter().collect();
    loop {
        let mut later = Vec::new();
        let mut failures = Vec::new();
        let before = pending.len();
        for item in pending {
            let (file, statement) = item;
            match sqlx::raw_sql(statement.sql).execute(&mut *conn).await {
                Ok(_) => {}
                Err(e) if is_not_yet(&e) => {
                    failures.push(failure(file, statement, &e));
                    later.push(item);
                }
                Err(e) => return Err(fix(vec![failure(file, statement, &e)])),
            }
        }
        if later.is_empty() {
            return Ok(());
        }
        if later.len() == before {
            // No progress: what is missing is missing from the whole folder. Every statement
            // still waiting is named: the first may only wait for another one that fails.
            return Err(fix(failures));
        }
        pending = later;
    }
}

/// The failures, at most 10 of them, then what to do.
fn fix(mut failures: Vec<String>) -> anyhow::Error {
    const SHOWN: usize = 10;
    if failures.len() > SHOWN {
        let more = failures.len() - SHOWN;
        failures.truncate(SHOWN);
        failures.push(format!("and {more} more"));
    }
    anyhow::anyhow!(
        "{}; fix the schema folder and run the command again",
        failures.join("\n")
    )
}

fn is_not_yet(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| NOT_YET.contains(&c.as_ref())),
        _ => false,
    }
}

/// `schema/doctor.sql:12: relation "clinic" does not exist`, the line being where the
/// server points (the statement's first line when it does not).
fn failure(file: &SchemaFile, statement: &Statement<'_>, e: &sqlx::Error) -> String {
    let mut line = statement.line;
    let message = match e {
        sqlx::Error::Database(db) => {
            let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
            if let Some(sqlx::postgres::PgErrorPosition::Original(at)) =
                pg.and_then(|pg| pg.position())
            {
                // A 1-based character position in the statement.
                let byte = statement
                    .sql
                    .char_indices()
                    .nth(at.saturating_sub(1))
                    .map_or(statement.sql.len(), |(i, _)| i);
                line += statement.sql[..byte].matches('\n').count();
            }
            db.message().to_string()
        }
        e => e.to_string(),
    };
    format!("{}:{line}: {}", file.shown, crate::target::redact(&message))
}
