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
    /// Each statement with its file and whether it sets a session setting (`SET`, pg_dump's
    /// `set_config`), which holds for the rest of its file only.
    statements: Vec<(&'a SchemaFile, Statement<'a>, bool)>,
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
            let node = crate::sql::tree(&statement);
            if let Some(why) = node.as_ref().and_then(not_schema) {
                return refuse(&why);
            }
            let sets = matches!(
                node,
                Some(pg_query::NodeEnum::VariableSetStmt(_) | pg_query::NodeEnum::SelectStmt(_))
            );
            parsed.statements.push((file, statement, sets));
        }
    }
    Ok(parsed)
}

/// Why a statement has no place in the schema folder, if it has none. The folder describes
/// one database's objects and is loaded into a scratch database, so it holds definitions
/// only: a statement that acts on the server outside that database (databases, roles,
/// tablespaces, subscriptions, the server's settings) would reach past the scratch database,
/// and one that reads, writes or runs something (`INSERT`, `DO`, `CALL`, `COPY`, a `SELECT`
/// other than pg_dump's `set_config` preamble) is not a definition. What runs inside
/// definitions (a view's query, a function's body) is code the project trusts, as its
/// migrations are.
fn not_schema(node: &pg_query::NodeEnum) -> Option<String> {
    use pg_query::protobuf::ObjectType;
    use pg_query::NodeEnum as N;
    let server = |what: &str| {
        Some(format!(
            "{what} acts on the server outside the database; the schema folder describes one \
             database's objects and is loaded into a scratch database: do this by hand, or in a \
             migration"
        ))
    };
    let not_a_definition = |what: &str| {
        Some(format!(
            "{what} is not a definition; the schema folder holds the schema's definitions \
             (tables, types, views, functions, ...): put data and one-off actions in a migration"
        ))
    };
    let outside = |object: i32| {
        matches!(
            ObjectType::try_from(object),
            Ok(ObjectType::ObjectDatabase
                | ObjectType::ObjectRole
                | ObjectType::ObjectTablespace
                | ObjectType::ObjectSubscription)
        )
    };
    match node {
        N::CreatedbStmt(_) => server("CREATE DATABASE"),
        N::DropdbStmt(_) => server("DROP DATABASE"),
        N::AlterDatabaseStmt(_)
        | N::AlterDatabaseSetStmt(_)
        | N::AlterDatabaseRefreshCollStmt(_) => server("ALTER DATABASE"),
        N::AlterSystemStmt(_) => server("ALTER SYSTEM"),
        N::CreateRoleStmt(_) => server("CREATE ROLE"),
        N::AlterRoleStmt(_) | N::AlterRoleSetStmt(_) => server("ALTER ROLE"),
        N::DropRoleStmt(_) => server("DROP ROLE"),
        N::GrantRoleStmt(_) => server("GRANT of a role"),
        N::DropOwnedStmt(_) => server("DROP OWNED"),
        N::ReassignOwnedStmt(_) => server("REASSIGN OWNED"),
        N::CreateTableSpaceStmt(_)
        | N::DropTableSpaceStmt(_)
        | N::AlterTableSpaceOptionsStmt(_)
        | N::AlterTableMoveAllStmt(_) => server("a tablespace statement"),
        N::CreateSubscriptionStmt(_) | N::AlterSubscriptionStmt(_) | N::DropSubscriptionStmt(_) => {
            server("a subscription statement")
        }
        N::CommentStmt(c) if outside(c.objtype) => server("this COMMENT"),
        N::GrantStmt(g)
            if outside(g.objtype)
                || ObjectType::try_from(g.objtype) == Ok(ObjectType::ObjectParameterAcl) =>
        {
            server("this GRANT")
        }
        N::SecLabelStmt(_) => server("SECURITY LABEL"),
        N::RenameStmt(r) if outside(r.rename_type) => server("this RENAME"),
        N::AlterOwnerStmt(o) if outside(o.object_type) => server("this OWNER TO"),
        N::LoadStmt(_) => server("LOAD"),
        N::CheckPointStmt(_) => server("CHECKPOINT"),
        N::CreateEventTrigStmt(_) | N::AlterEventTrigStmt(_) => {
            server("an event trigger (it runs on every later definition)")
        }
        N::InsertStmt(_) => not_a_definition("INSERT"),
        N::UpdateStmt(_) => not_a_definition("UPDATE"),
        N::DeleteStmt(_) => not_a_definition("DELETE"),
        N::MergeStmt(_) => not_a_definition("MERGE"),
        N::TruncateStmt(_) => not_a_definition("TRUNCATE"),
        N::CopyStmt(_) => not_a_definition("COPY"),
        N::DoStmt(_) => not_a_definition("DO"),
        N::CallStmt(_) => not_a_definition("CALL"),
        N::ExecuteStmt(_) | N::PrepareStmt(_) => not_a_definition("PREPARE or EXECUTE"),
        N::ExplainStmt(_) => not_a_definition("EXPLAIN"),
        N::RefreshMatViewStmt(_) => not_a_definition("REFRESH MATERIALIZED VIEW"),
        N::VacuumStmt(_) | N::ClusterStmt(_) | N::ReindexStmt(_) => {
            not_a_definition("VACUUM, ANALYZE, CLUSTER or REINDEX")
        }
        N::LockStmt(_) => not_a_definition("LOCK"),
        N::NotifyStmt(_) | N::ListenStmt(_) | N::UnlistenStmt(_) => {
            not_a_definition("NOTIFY or LISTEN")
        }
        N::DeclareCursorStmt(_) | N::FetchStmt(_) | N::ClosePortalStmt(_) => {
            not_a_definition("a cursor")
        }
        N::CreateTableAsStmt(c)
            if ObjectType::try_from(c.objtype) != Ok(ObjectType::ObjectMatview) =>
        {
            not_a_definition("CREATE TABLE ... AS (or SELECT INTO)")
        }
        N::SelectStmt(select) if !sets_config_only(select) => not_a_definition("SELECT"),
        _ => None,
    }
}

/// `SELECT pg_catalog.set_config('search_path', '', false)`, the preamble of pg_dump's
/// output: calls of `set_config` and nothing else.
fn sets_config_only(select: &pg_query::protobuf::SelectStmt) -> bool {
    use pg_query::NodeEnum as N;
    select.from_clause.is_empty()
        && select.into_clause.is_none()
        && !select.target_list.is_empty()
        && select.target_list.iter().all(|target| {
            let Some(N::ResTarget(target)) = &target.node else {
                return false;
            };
            let Some(N::FuncCall(call)) = target.val.as_ref().and_then(|v| v.node.as_ref()) else {
                return false;
            };
            let name: Vec<&str> = call
                .funcname
                .iter()
                .filter_map(|n| match &n.node {
                    Some(N::String(s)) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect();
            matches!(name[..], ["set_config"] | ["pg_catalog", "set_config"])
                && call
                    .args
                    .iter()
                    .all(|a| matches!(a.node, Some(N::AConst(_))))
        })
}

/// Runs the parsed schema in the database at `url` (an empty shadow database).
pub async fn load(url: &DbUrl, parsed: &Parsed<'_>) -> anyhow::Result<()> {
    let mut conn = crate::db::connect(url).await?;
    let result = run(&mut conn, parsed).await;
    let _ = conn.close().await;
    result
}

async fn run(conn: &mut sqlx::PgConnection, parsed: &Parsed<'_>) -> anyhow::Result<()> {
    // A file's settings (`SET search_path = billing`) hold for that file alone, as if each
    // file ran in a session of its own: on a change of file, the session is reset and the
    // new file's settings so far are set again (a statement retried in a later round gets
    // its file's settings back).
    let mut settings: std::collections::HashMap<&std::path::Path, Vec<&str>> = Default::default();
    let mut current: Option<&std::path::Path> = None;
    let mut pending: Vec<&(&SchemaFile, Statement<'_>, bool)> = parsed.statements.iter().collect();
    loop {
        let mut later = Vec::new();
        let mut failures = Vec::new();
        let before = pending.len();
        for item in pending {
            let (file, statement, sets) = item;
            if current != Some(file.path.as_path()) {
                let mut reset = String::from("RESET ALL; SET check_function_bodies = off;");
                for set in settings.get(file.path.as_path()).into_iter().flatten() {
                    // On a line of its own: the statement may end in a `--` comment.
                    reset.push_str(set);
                    reset.push_str("\n;");
                }
                sqlx::raw_sql(&reset).execute(&mut *conn).await?;
                current = Some(file.path.as_path());
            }
            match sqlx::raw_sql(statement.sql).execute(&mut *conn).await {
                Ok(_) if *sets => settings
                    .entry(file.path.as_path())
                    .or_default()
                    .push(statement.sql),
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
