//! SQL as PostgreSQL itself reads it: statement boundaries and what each statement is, from
//! the server's own scanner and grammar (libpg_query, through the `pg_query` crate). The
//! migration engine splits and checks files with it; the lint reads the same statements. One
//! parser for both, and it is the server's: a hand-written lexer disagreed with the server on
//! nested comments, `BEGIN ATOMIC` bodies and quoted function names, and every disagreement
//! was a way to commit part of a migration unseen.

use std::fmt;

use pg_query::protobuf::{
    self, AlterTableType, DiscardMode, ReindexObjectType, Token, TransactionStmtKind,
};
use pg_query::NodeEnum;

/// One statement of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement's text, from its first token up to (excluding) its `;`.
    pub sql: &'a str,
    /// Byte offset in the file of the statement's first token.
    pub start: usize,
    /// 1-based line of the statement's first token.
    pub line: usize,
    /// What the statement is, as far as running it in a migration goes.
    pub kind: Kind,
    /// Why running it would release the session's advisory locks, if it would.
    pub releases_lock: Option<&'static str>,
}

impl Statement<'_> {
    /// The statement without surrounding whitespace, for messages.
    pub fn text(&self) -> String {
        self.sql.trim_end().to_string()
    }
}

/// What a statement is, for deciding how (and whether) a migration can run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Anything that runs the same inside or outside a transaction block.
    Plain,
    /// Begins, ends or prepares the transaction itself (`BEGIN`, `COMMIT`, `ROLLBACK`,
    /// `PREPARE TRANSACTION`, ...). Savepoints are `Plain`: they stay inside the transaction.
    TransactionControl(&'static str),
    /// Cannot run inside a transaction block (`CREATE INDEX CONCURRENTLY`, `VACUUM`, ...).
    NoTransaction(&'static str),
    /// `COPY ... FROM STDIN`: data follows that only psql knows how to send.
    CopyFromStdin,
    /// `COPY ... TO STDOUT`: answers with a copy stream, which only psql knows how to read.
    CopyToStdout,
    /// `SET standard_conforming_strings`: changes how the server reads the statements sent
    /// after it.
    SetsStandardStrings,
    /// A piece of a file the parser refuses (`unparsed`): its boundaries are a guess, so the
    /// file is only ever sent whole.
    Unparsed,
}

/// A file the server's grammar does not accept, or that never closes a quote or comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// 1-based line where the problem is (the statement's first line when the parser does not
    /// say where in it).
    pub line: usize,
    pub message: String,
    /// The grammar refuses a statement (as opposed to a quote left open, a psql
    /// meta-command or `COPY FROM STDIN` data): the server, which says exactly where, refuses
    /// the same text before running any of it.
    pub syntax: bool,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where each line of a text begins, to turn byte offsets into line numbers in O(log n).
pub struct Lines(Vec<usize>);

impl Lines {
    pub fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(newlines(text).map(|i| i + 1));
        Lines(starts)
    }

    /// The 1-based line of byte offset `at`.
    pub fn line_of(&self, at: usize) -> usize {
        self.0.partition_point(|&start| start <= at)
    }
}

fn newlines(text: &str) -> impl Iterator<Item = usize> + '_ {
    // The standard library's (optimized) memchr even in a debug build, where a per-byte
    // iterator chain costs thirty times as much.
    text.match_indices('\n').map(|(i, _)| i)
}

/// The 1-based line of byte offset `at` in `text` (one lookup; use `Lines` for many).
pub fn line_of(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    // A newline is one byte: the text up to the char boundary at or before `at` has as many.
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    newlines(&text[..at]).count() + 1
}

/// Splits `sql` into its statements and classifies each, as the server would read the whole
/// text in one message. `standard_strings` is the session's `standard_conforming_strings`
/// when the message arrives (with it off, `'...'` strings take backslash escapes).
pub fn statements(sql: &str, standard_strings: bool) -> Result<Vec<Statement<'_>>, SqlError> {
    if sql.contains('\0') {
        let at = sql.find('\0').unwrap_or(0);
        return Err(SqlError {
            line: line_of(sql, at),
            message: "holds a NUL byte, which PostgreSQL does not accept in SQL text; remove it"
                .into(),
            syntax: false,
        });
    }
    let options = if standard_strings {
        pg_query::ParserOptions::DEFAULT
    } else {
        pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS
    };
    // The boundaries come from the grammar without building trees (a 20 MB file of INSERTs
    // splits in about 2 s; building every tree takes 15). The splitting entry point knows only
    // the default `standard_conforming_strings`; with it off, the whole file is parsed.
    let ranges: Vec<(usize, usize)> = if standard_strings {
        match pg_query::split_with_parser(sql) {
            Ok(pieces) => pieces
                .iter()
                .map(|p| {
                    let from = p.as_ptr() as usize - sql.as_ptr() as usize;
                    (from, from + p.len())
                })
                .collect(),
            Err(e) => return Err(locate_error(sql, e, options)),
        }
    } else {
        match pg_query::parse(sql, options) {
            Ok(parsed) => parsed
                .protobuf
                .stmts
                .iter()
                .map(|raw| {
                    let from = raw.stmt_location.max(0) as usize;
                    let to = if raw.stmt_len > 0 {
                        from + raw.stmt_len as usize
                    } else {
                        sql.len()
                    };
                    (from, to)
                })
                .collect(),
            Err(e) => return Err(locate_error(sql, e, options)),
        }
    };
    let lines = Lines::new(sql);
    let mut statements = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        let start = from + leading_trivia(&sql[from..to]);
        if start >= to {
            continue;
        }
        let text = &sql[start..to];
        let (kind, releases_lock) = analyse(text, options);
        statements.push(Statement {
            sql: text,
            start,
            line: lines.line_of(start),
            kind,
            releases_lock,
        });
    }
    Ok(statements)
}

/// The statement's parse tree, for the lint (the same parser as the engine's). Locations in
/// it are byte offsets into `statement.sql`. `None` for a piece the parser refuses.
pub fn tree(statement: &Statement<'_>) -> Option<NodeEnum> {
    let parsed = pg_query::parse(statement.sql, pg_query::ParserOptions::DEFAULT).ok()?;
    parsed.protobuf.stmts.into_iter().next()?.stmt?.node
}

/// The statement's kind and whether it releases advisory locks. Only statements whose first
/// keyword can make them anything but `Plain` are parsed into a tree: the INSERTs of a data
/// migration are not.
fn analyse(text: &str, options: pg_query::ParserOptions) -> (Kind, Option<&'static str>) {
    let parsed = needs_tree(text)
        .then(|| pg_query::parse(text, options).ok())
        .flatten();
    let node = parsed
        .as_ref()
        .and_then(|p| p.protobuf.stmts.first())
        .and_then(|raw| raw.stmt.as_ref())
        .and_then(|n| n.node.as_ref());
    analyse_tree(text, node)
}

/// Whether the statement's first keyword can make it anything but `Plain`.
fn needs_tree(text: &str) -> bool {
    let word: String = text
        .bytes()
        .take_while(|b| b.is_ascii_alphabetic())
        .map(|b| b.to_ascii_uppercase() as char)
        .collect();
    matches!(
        word.as_str(),
        "BEGIN"
            | "START"
            | "COMMIT"
            | "END"
            | "ROLLBACK"
            | "ABORT"
            | "PREPARE"
            | "CREATE"
            | "DROP"
            | "REINDEX"
            | "VACUUM"
            | "ALTER"
            | "COPY"
            | "SET"
            | "DISCARD"
            | "DO"
    )
}

/// [`analyse`] from the statement's tree (`None`: not parsed, or not a keyword that needs it).
fn analyse_tree(text: &str, node: Option<&NodeEnum>) -> (Kind, Option<&'static str>) {
    let kind = node.map_or(Kind::Plain, classify);
    let releases_lock = match node {
        Some(NodeEnum::DiscardStmt(d)) if d.target == DiscardMode::DiscardAll as i32 => {
            Some("DISCARD ALL")
        }
        // A DO block runs now: the calls in its body count. A function's body runs when it
        // is called, which the runtime check after each migration catches.
        Some(NodeEnum::DoStmt(d)) => do_body(d).and_then(first_lock_release_call),
        _ => first_lock_release_call(text),
    };
    (kind, releases_lock)
}

/// A statement and its tree, for the lint.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub statement: Statement<'a>,
    /// `None` for a piece the parser refuses.
    pub tree: Option<NodeEnum>,
    /// The byte offset in the file that the tree's locations count from.
    pub locations_from: usize,
}

/// [`statements`] (with `standard_conforming_strings` on) and each statement's tree, from one
/// parse of the whole file instead of one per statement and another to classify it. A file
/// the grammar refuses gives the error `statements` gives.
pub fn statements_with_trees(sql: &str) -> Result<Vec<Parsed<'_>>, SqlError> {
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        // The error as the engine words it (`statements` refuses the same text); should the
        // two ever disagree, each statement is parsed alone.
        return statements(sql, true).map(|statements| {
            statements
                .into_iter()
                .map(|statement| Parsed {
                    tree: tree(&statement),
                    locations_from: statement.start,
                    statement,
                })
                .collect()
        });
    };
    let lines = Lines::new(sql);
    let mut out = Vec::with_capacity(parsed.protobuf.stmts.len());
    for raw in parsed.protobuf.stmts {
        let from = (raw.stmt_location.max(0) as usize).min(sql.len());
        let to = if raw.stmt_len > 0 {
            (from + raw.stmt_len as usize).min(sql.len())
        } else {
            sql.len()
        };
        let start = from + leading_trivia(&sql[from..to]);
        if start >= to {
            continue;
        }
        let text = &sql[start..to];
        let tree = raw.stmt.and_then(|n| n.node);
        let (kind, releases_lock) = analyse_tree(text, tree.as_ref().filter(|_| needs_tree(text)));
        out.push(Parsed {
            statement: Statement {
                sql: text,
                start,
                line: lines.line_of(start),
                kind,
                releases_lock,
            },
            tree,
            locations_from: 0,
        });
    }
    Ok(out)
}

/// Text the parser refuses, cut at its `;` tokens into `Kind::Unparsed` pieces: the server
/// refuses the same text (sent whole) with the exact position, and the pieces name the
/// statement around it in the message.
pub fn unparsed(sql: &str) -> Vec<Statement<'_>> {
    let tokens = pg_query::scan_tokens(sql).unwrap_or_default();
    let lines = Lines::new(sql);
    let mut pieces = Vec::new();
    let mut from = 0;
    let ends = tokens
        .iter()
        .filter(|t| t.token == ';' as i32)
        .map(|t| (t.start as usize, t.end as usize))
        .chain([(sql.len(), sql.len())]);
    for (end, next) in ends {
        let start = from + leading_trivia(&sql[from..end]);
        if start < end {
            pieces.push(Statement {
                sql: &sql[start..end],
                start,
                line: lines.line_of(start),
                kind: Kind::Unparsed,
                releases_lock: None,
            });
        }
        from = next;
    }
    pieces
}

fn classify(node: &NodeEnum) -> Kind {
    use Kind::*;
    match node {
        NodeEnum::TransactionStmt(t) => match TransactionStmtKind::try_from(t.kind) {
            Ok(TransactionStmtKind::TransStmtBegin) => TransactionControl("BEGIN"),
            Ok(TransactionStmtKind::TransStmtStart) => TransactionControl("START TRANSACTION"),
            Ok(TransactionStmtKind::TransStmtCommit) => TransactionControl("COMMIT"),
            Ok(TransactionStmtKind::TransStmtRollback) => TransactionControl("ROLLBACK"),
            Ok(TransactionStmtKind::TransStmtPrepare) => TransactionControl("PREPARE TRANSACTION"),
            Ok(TransactionStmtKind::TransStmtCommitPrepared) => {
                TransactionControl("COMMIT PREPARED")
            }
            Ok(TransactionStmtKind::TransStmtRollbackPrepared) => {
                TransactionControl("ROLLBACK PREPARED")
            }
            _ => Plain,
        },
        NodeEnum::IndexStmt(i) if i.concurrent => NoTransaction("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(d) if d.concurrent => NoTransaction("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(r) => {
            let concurrently = r.params.iter().any(
                |p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"),
            );
            let whole = r.kind == ReindexObjectType::ReindexObjectDatabase as i32
                || r.kind == ReindexObjectType::ReindexObjectSystem as i32;
            if concurrently {
                NoTransaction("REINDEX CONCURRENTLY")
            } else if whole {
                NoTransaction("REINDEX DATABASE/SYSTEM")
            } else {
                Plain
            }
        }
        NodeEnum::VacuumStmt(v) if v.is_vacuumcmd => NoTransaction("VACUUM"),
        NodeEnum::CreatedbStmt(_) => NoTransaction("CREATE DATABASE"),
        NodeEnum::DropdbStmt(_) => NoTransaction("DROP DATABASE"),
        NodeEnum::CreateTableSpaceStmt(_) => NoTransaction("CREATE TABLESPACE"),
        NodeEnum::DropTableSpaceStmt(_) => NoTransaction("DROP TABLESPACE"),
        NodeEnum::AlterSystemStmt(_) => NoTransaction("ALTER SYSTEM"),
        NodeEnum::CreateSubscriptionStmt(_) => NoTransaction("CREATE SUBSCRIPTION"),
        NodeEnum::AlterTableStmt(a) => {
            let detach_concurrently = a.cmds.iter().any(|c| match &c.node {
                Some(NodeEnum::AlterTableCmd(cmd)) => {
                    cmd.subtype == AlterTableType::AtDetachPartition as i32
                        && matches!(
                            cmd.def.as_ref().and_then(|d| d.node.as_ref()),
                            Some(NodeEnum::PartitionCmd(p)) if p.concurrent
                        )
                }
                _ => false,
            });
            if detach_concurrently {
                NoTransaction("ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY")
            } else {
                Plain
            }
        }
        NodeEnum::CopyStmt(c) if c.filename.is_empty() && !c.is_program => {
            if c.is_from {
                CopyFromStdin
            } else {
                CopyToStdout
            }
        }
        NodeEnum::VariableSetStmt(v)
            if v.name.eq_ignore_ascii_case("standard_conforming_strings") =>
        {
            SetsStandardStrings
        }
        _ => Plain,
    }
}

/// The code of a `DO` block.
fn do_body(d: &protobuf::DoStmt) -> Option<&str> {
    d.args.iter().find_map(|a| match &a.node {
        Some(NodeEnum::DefElem(e)) if e.defname == "as" => match e.arg.as_ref()?.node.as_ref()? {
            NodeEnum::String(s) => Some(s.sval.as_str()),
            _ => None,
        },
        _ => None,
    })
}

/// Calls of the functions that release advisory locks, found with the server's scanner: a
/// name token (plain or quoted, any case, schema-qualified or not) followed by `(`. Strings
/// and comments are tokens of their own, so a name in them does not count.
fn first_lock_release_call(sql: &str) -> Option<&'static str> {
    // Every spelling of the names holds this, whatever the case; most statements do not.
    if !sql.to_ascii_lowercase().contains("pg_advisory_unlock") {
        return None;
    }
    let tokens = pg_query::scan_tokens(sql).ok()?;
    for pair in tokens.windows(2) {
        let (name, next) = (&pair[0], &pair[1]);
        if next.token != Token::Ascii40 as i32 {
            continue;
        }
        let Some(text) = sql.get(name.start as usize..name.end as usize) else {
            continue;
        };
        let ident = if name.token == Token::Ident as i32 {
            if text.starts_with('"') {
                text[1..text.len().saturating_sub(1)].replace("\"\"", "\"")
            } else {
                text.to_ascii_lowercase()
            }
        } else {
            continue;
        };
        let what = match ident.as_str() {
            "pg_advisory_unlock_all" => "pg_advisory_unlock_all()",
            "pg_advisory_unlock" => "pg_advisory_unlock()",
            "pg_advisory_unlock_shared" => "pg_advisory_unlock_shared()",
            _ => continue,
        };
        return Some(what);
    }
    None
}

/// How many bytes of whitespace and comments `text` starts with.
fn leading_trivia(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i..].starts_with(b"--") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if bytes[i..].starts_with(b"/*") {
            let mut depth = 0usize;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else {
            return i;
        }
    }
}

/// Turns the parser's error into one with a line. libpg_query does not report the cursor
/// position, so the line is found the way a reader would: a quote or comment left open runs
/// to the end of the file (the message quotes the rest of the file from where it opens);
/// otherwise the first statement that fails on its own is the one to look at. Two mistakes
/// get their own words: data after `COPY ... FROM STDIN`, and psql meta-commands.
fn locate_error(sql: &str, error: pg_query::Error, options: pg_query::ParserOptions) -> SqlError {
    let message = match error {
        pg_query::Error::Parse(m) | pg_query::Error::Scan(m) | pg_query::Error::Split(m) => m,
        other => other.to_string(),
    };
    // pg_dump's data sections: the rows after `COPY ... FROM stdin;` are what fails to parse
    // (or to scan), so the COPY line is looked for first.
    let mut pos = 0;
    for line in sql.split('\n') {
        let text = line.trim().trim_end_matches(';');
        if text.len() > 4
            && text[..4].eq_ignore_ascii_case("copy")
            && text.to_ascii_lowercase().ends_with("stdin")
            && analyse(text, options).0 == Kind::CopyFromStdin
        {
            return SqlError {
                line: line_of(sql, pos),
                message: COPY_FROM_STDIN.into(),
                syntax: false,
            };
        }
        pos += line.len() + 1;
    }
    if message.starts_with("unterminated") {
        let rest = message
            .split_once(" at or near \"")
            .map(|(_, r)| r.strip_suffix('"').unwrap_or(r))
            .filter(|rest| !rest.is_empty() && sql.ends_with(rest));
        let line = rest.map_or(1, |rest| line_of(sql, sql.len() - rest.len()));
        return SqlError {
            line,
            message: format!(
                "{} opened at line {line} is never closed",
                unterminated_what(&message)
            ),
            syntax: false,
        };
    }
    // The parser names the token it stopped at; the statement to show is the first one (text
    // between `;` tokens) that fails on its own and holds that token. A `BEGIN ATOMIC` body is
    // cut into pieces here, which fail on their own, but do not hold the token.
    let near = message
        .split_once(" at or near \"")
        .map(|(_, r)| r.strip_suffix('"').unwrap_or(r).to_string());
    let tokens = pg_query::scan_tokens(sql).unwrap_or_default();
    let mut chunk_start = 0;
    let mut fallback = None;
    for (i, token) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        if token.token != ';' as i32 && !last {
            continue;
        }
        let end = if last {
            sql.len()
        } else {
            token.start as usize
        };
        let from = chunk_start;
        chunk_start = token.end as usize;
        let at = from + leading_trivia(&sql[from..end]);
        if at >= end {
            continue;
        }
        let text = &sql[at..end];
        if pg_query::parse(text, options).is_ok() {
            if analyse(text, options).0 == Kind::CopyFromStdin {
                return SqlError {
                    line: line_of(sql, at),
                    message: COPY_FROM_STDIN.into(),
                    syntax: false,
                };
            }
            continue;
        }
        // A line that starts with a backslash: psql's syntax.
        let mut pos = at;
        for line in text.split('\n') {
            if line.trim_start().starts_with('\\') {
                let word: String = line
                    .trim_start()
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .take(12)
                    .collect();
                return SqlError {
                    line: line_of(sql, pos),
                    message: format!(
                        "`{word}` is a psql meta-command, not SQL: the server cannot run it; \
                         remove it (write out the SQL it would include or set)"
                    ),
                    syntax: false,
                };
            }
            pos += line.len() + 1;
        }
        let occurrences: Vec<usize> = near.as_deref().map_or(Vec::new(), |near| {
            tokens[..=i]
                .iter()
                .take_while(|t| (t.start as usize) < end)
                .filter(|t| t.start as usize >= at)
                .filter(|t| sql.get(t.start as usize..t.end as usize) == Some(near))
                .map(|t| t.start as usize)
                .collect()
        });
        if !occurrences.is_empty() || near.as_deref() == Some("end of input") && last {
            let mut error = refused(sql, at, &message);
            // The token the parser stopped at, when the statement holds it once: its line.
            if let [token] = occurrences[..] {
                error.line = line_of(sql, token);
            }
            return error;
        }
        fallback.get_or_insert(at);
    }
    match fallback {
        Some(at) => refused(sql, at, &message),
        None => SqlError {
            line: 1,
            message: format!("PostgreSQL's parser refuses it: {message}"),
            syntax: true,
        },
    }
}

fn refused(sql: &str, at: usize, message: &str) -> SqlError {
    let line = line_of(sql, at);
    SqlError {
        line,
        message: format!("PostgreSQL's parser refuses the statement at line {line}: {message}"),
        syntax: true,
    }
}

/// Why `COPY ... FROM STDIN` cannot be in a migration, and what to do instead.
pub const COPY_FROM_STDIN: &str = "`COPY ... FROM STDIN` needs a client that sends the data that \
     follows it (psql, pg_restore); migrations are sent as SQL only: turn the data into INSERT \
     statements (`pg_dump --inserts`), or COPY FROM a file on the server";

fn unterminated_what(message: &str) -> &'static str {
    if message.contains("quoted string") {
        "a quoted string"
    } else if message.contains("quoted identifier") {
        "a quoted identifier"
    } else if message.contains("dollar-quoted") {
        "a dollar-quoted string"
    } else if message.contains("comment") {
        "a /* comment"
    } else {
        "a quoted string or comment"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        statements(sql, true)
            .unwrap()
            .iter()
            .map(Statement::text)
            .collect()
    }

    fn kinds(sql: &str) -> Vec<Kind> {
        statements(sql, true)
            .unwrap()
            .into_iter()
            .map(|s| s.kind)
            .collect()
    }

    #[test]
    fn statements_lines_and_comments() {
        let sql = "create table a (id int);\n\n-- a comment; with a semicolon\ninsert into a values (1);\n";
        let st = statements(sql, true).unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!((st[0].line, st[1].line), (1, 4));
        assert_eq!(st[1].text(), "insert into a values (1)");
        assert_eq!(texts("select 1;;  ; select 2"), ["select 1", "select 2"]);
        assert!(statements("-- nothing\n/* at all */\n", true)
            .unwrap()
            .is_empty());
        // Nested comments hide a COMMIT; quotes, dollar quotes and identifiers hide `;`.
        assert_eq!(
            texts("/* a /* b */ COMMIT; */ select 1; select 'a;b', $$;$$, \"c;\""),
            ["select 1", "select 'a;b', $$;$$, \"c;\""]
        );
    }

    #[test]
    fn one_parse_with_trees_gives_the_same_statements() {
        let sql = "-- head\ncreate table a (id int);\n\n/* c; */ insert into a values (1);;\n\
                   create index concurrently i on a (id);\nselect pg_advisory_unlock_all();\n\
                   create function begin() returns int language sql\nbegin atomic\n  select 1;\nend;\n\
                   commit;\n  alter table a add column b int -- last, no semicolon\n";
        let one = statements_with_trees(sql).unwrap();
        let each = statements(sql, true).unwrap();
        assert_eq!(
            one.iter().map(|p| p.statement.clone()).collect::<Vec<_>>(),
            each
        );
        assert!(one
            .iter()
            .all(|p| p.tree.is_some() && p.locations_from == 0));
        // Locations count from the file: the column of the last ALTER.
        let Some(NodeEnum::AlterTableStmt(alter)) = &one[6].tree else {
            panic!("{:?}", one[6].tree);
        };
        let Some(NodeEnum::AlterTableCmd(cmd)) = alter.cmds[0].node.as_ref() else {
            panic!()
        };
        let Some(NodeEnum::ColumnDef(col)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
            panic!()
        };
        assert_eq!(&sql[col.location as usize..][..5], "b int");
        // The grammar refuses the file: the engine's error.
        let bad = "select 1;\nselec 2;";
        assert_eq!(
            statements_with_trees(bad).unwrap_err(),
            statements(bad, true).unwrap_err()
        );
    }

    #[test]
    fn begin_atomic_bodies_and_keywords_as_names() {
        let sql = "create function begin() returns int language sql\nbegin atomic\n  select 1;\n  select 2;\nend;\ncommit;";
        let st = statements(sql, true).unwrap();
        assert_eq!(st.len(), 2, "{st:#?}");
        assert_eq!(st[0].kind, Kind::Plain);
        assert_eq!(st[1].kind, Kind::TransactionControl("COMMIT"));
        assert_eq!(st[1].line, 6);
    }

    #[test]
    fn standard_conforming_strings_decides_what_a_string_is() {
        // On: 'C:\' is a whole string and the COMMIT a statement; off: the backslash
        // escapes the quote and the string never ends.
        let sql = r"select 'C:\'; commit";
        assert_eq!(
            kinds(sql),
            [Kind::Plain, Kind::TransactionControl("COMMIT")]
        );
        assert!(statements(sql, false).is_err());
        // Off: 'a\'b' is one string, a'b; on, it is 'a\' and a string that never ends.
        let sql = r"select 'a\'b'; commit; select 1";
        assert!(statements(sql, true).is_err());
        let off: Vec<Kind> = statements(sql, false)
            .unwrap()
            .into_iter()
            .map(|s| s.kind)
            .collect();
        assert_eq!(
            off,
            [Kind::Plain, Kind::TransactionControl("COMMIT"), Kind::Plain]
        );
    }

    #[test]
    fn classification() {
        use Kind::*;
        assert_eq!(
            kinds(
                "create unique index concurrently i on t (a); drop index concurrently i; \
                   reindex (verbose) table concurrently t; vacuum analyze t; analyze t; \
                   alter table p detach partition c concurrently; create database x"
            ),
            [
                NoTransaction("CREATE INDEX CONCURRENTLY"),
                NoTransaction("DROP INDEX CONCURRENTLY"),
                NoTransaction("REINDEX CONCURRENTLY"),
                NoTransaction("VACUUM"),
                Plain,
                NoTransaction("ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY"),
                NoTransaction("CREATE DATABASE"),
            ]
        );
        assert_eq!(
            kinds(
                "begin; start transaction isolation level serializable; savepoint s; \
                   rollback to savepoint s; release s; end; abort; prepare transaction 'x'"
            ),
            [
                TransactionControl("BEGIN"),
                TransactionControl("START TRANSACTION"),
                Plain,
                Plain,
                Plain,
                TransactionControl("COMMIT"),
                TransactionControl("ROLLBACK"),
                TransactionControl("PREPARE TRANSACTION"),
            ]
        );
        assert_eq!(
            kinds("COPY \"order\" (id) TO STDOUT; copy t from '/tmp/x.csv'; copy (select 1) to stdout; \
                   SET standard_conforming_strings = off; set local standard_conforming_strings to on"),
            [CopyToStdout, Plain, CopyToStdout, SetsStandardStrings, SetsStandardStrings]
        );
        assert_eq!(kinds("create table begin_x (commit int)"), [Plain]);
    }

    #[test]
    fn lock_releases_in_any_spelling() {
        let releases = |sql| {
            statements(sql, true)
                .unwrap()
                .into_iter()
                .map(|s| s.releases_lock)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            releases("select \"pg_advisory_unlock_all\"(); SELECT PG_CATALOG.PG_ADVISORY_UNLOCK(1, 2); discard all"),
            [
                Some("pg_advisory_unlock_all()"),
                Some("pg_advisory_unlock()"),
                Some("DISCARD ALL")
            ]
        );
        assert_eq!(
            releases("do $$ begin perform pg_advisory_unlock_all(); end $$"),
            [Some("pg_advisory_unlock_all()")]
        );
        // Names in strings, comments and function bodies (which run later) do not count.
        assert_eq!(
            releases("select 'pg_advisory_unlock_all()' -- pg_advisory_unlock(1)\n; discard plans; \
                      create function f() returns void language sql as $$ select pg_advisory_unlock_all() $$"),
            [None, None, None]
        );
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let e = statements("select 1;\nselect 'oops;\n", true).unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "a quoted string opened at line 2 is never closed")
        );
        assert_eq!(statements("\n\n/* a /* b */", true).unwrap_err().line, 3);
        let e = statements("select 1;\n\\set x 1\nselect :x;", true).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.starts_with("`\\set` is a psql meta-command"),
            "{e}"
        );
        let e = statements(
            "create table t (a text);\nCOPY public.t (a) FROM stdin;\nit's\n\\.\n",
            true,
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("INSERT"), "{e}");
        let e = statements("select 1;\n\n  selec 2;\nselect 3", true).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(
            e.message.contains("syntax error at or near \"selec\""),
            "{e}"
        );
        // The line of the token the parser stopped at, when the statement holds it once; the
        // message names the statement's first line too.
        let e = statements(
            "CREATE TABLE q1 (id int);\n\nCREATE TABLE q2 (\n  x int,\n\n  y int SELEC\n);\n",
            true,
        )
        .unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("the statement at line 3"), "{e}");
        let e = statements("CREATE TABLE q2 (\n  x int,\n  y int x\n);\n", true).unwrap_err();
        assert_eq!(e.line, 1, "twice in the statement: its first line; {e}");
        // A syntax error inside a BEGIN ATOMIC body points at the function, not a piece of it.
        let e = statements("select 1;\ncreate function f() returns int language sql\nbegin atomic\n select 1;\n selec 2;\nend;", true).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn lines_index() {
        let text = "a\nbc\n\nd";
        let lines = Lines::new(text);
        for at in 0..text.len() {
            assert_eq!(lines.line_of(at), line_of(text, at), "at {at}");
        }
    }
}
