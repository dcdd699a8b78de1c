//! Splitting a migration into statements, the way psql and the server's grammar see them:
//! semicolons inside quotes, quoted identifiers, `E''` strings, dollar quotes (with tags),
//! `--` and nested `/* */` comments, parentheses and `BEGIN ATOMIC ... END` function bodies do
//! not end a statement.
//!
//! PostgreSQL's own parser (the pg_query crate) would be exact but needs libclang to build,
//! which breaks the two-command setup of a fresh machine; the lexical rules that decide where
//! a statement ends are few, and psql's `psqlscan.l` is the reference followed here.

use std::fmt;

/// One statement of a migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The text from the end of the previous statement up to (excluding) its `;`, comments
    /// included.
    pub sql: &'a str,
    /// Byte offset in the file of the statement's first token.
    pub start: usize,
    /// 1-based line of the statement's first token.
    pub line: usize,
}

impl Statement<'_> {
    /// The statement without its leading comments and surrounding whitespace, for messages.
    pub fn text(&self, file: &str) -> String {
        let end = self.sql.as_ptr() as usize - file.as_ptr() as usize + self.sql.len();
        file[self.start..end].trim_end().to_string()
    }
}

/// Why a file cannot be split into statements the server can run: a quote, dollar quote or
/// comment that the file never closes, a psql meta-command, `COPY ... FROM STDIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    pub line: usize,
    /// What is wrong and what to do, for the message.
    pub reason: String,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// The 1-based line of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Splits `sql` into its non-empty statements, with `standard_conforming_strings` on.
pub fn split(sql: &str) -> Result<Vec<Statement<'_>>, SplitError> {
    split_with(sql, true)
}

/// Splits `sql` into its non-empty statements. `standard_strings` is the session's
/// `standard_conforming_strings`: when off, `'...'` strings take backslash escapes too.
pub fn split_with(sql: &str, standard_strings: bool) -> Result<Vec<Statement<'_>>, SplitError> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut i = 0;
    let mut stmt_begin = 0; // where the current statement's text begins
    let mut first_token: Option<usize> = None;
    let mut paren_depth = 0usize;
    let mut begin_depth = 0usize;
    // psql's heuristic for CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END:
    // the first letters of the statement's first identifiers.
    let mut idents: Vec<u8> = Vec::new();
    let unterminated = |what: &str, at| SplitError {
        reason: format!("{what} opened at line {} is never closed", line_of(sql, at)),
        line: line_of(sql, at),
    };
    // A statement that ends here: COPY FROM STDIN is refused before its data is lexed.
    let ended = |begin: usize, end: usize, start: usize| -> Result<Statement<'_>, SplitError> {
        let statement = Statement {
            sql: &sql[begin..end],
            start,
            line: line_of(sql, start),
        };
        if is_copy_from_stdin(statement.sql) {
            return Err(SplitError {
                line: statement.line,
                reason:
                    "`COPY ... FROM STDIN` needs a client that sends the data that follows it \
                         (psql, pg_restore); migrations are sent as SQL only: turn the data into \
                         INSERT statements (`pg_dump --inserts`), or COPY FROM a file on the server"
                        .into(),
            });
        }
        Ok(statement)
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let open = i;
                let mut depth = 0usize;
                loop {
                    if i + 1 >= bytes.len() {
                        return Err(unterminated("a /* comment", open));
                    }
                    match (bytes[i], bytes[i + 1]) {
                        (b'/', b'*') => {
                            depth += 1;
                            i += 2;
                        }
                        (b'*', b'/') => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => i += 1,
                    }
                }
                continue;
            }
            _ => {}
        }
        // Anything else is (part of) a token of the current statement.
        first_token.get_or_insert(i);
        match b {
            b';' if paren_depth == 0 && begin_depth == 0 => {
                if let Some(start) = first_token.filter(|&s| s < i) {
                    statements.push(ended(stmt_begin, i, start)?);
                }
                i += 1;
                stmt_begin = i;
                first_token = None;
                idents.clear();
                continue;
            }
            b'(' => paren_depth += 1,
            b')' => paren_depth = paren_depth.saturating_sub(1),
            b'\'' => {
                i = skip_string(bytes, i, !standard_strings)
                    .ok_or_else(|| unterminated("a quoted string", i))?;
                continue;
            }
            b'\\' => {
                let word: String = sql[i..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .take(12)
                    .collect();
                return Err(SplitError {
                    line: line_of(sql, i),
                    reason: format!(
                        "`{word}` is a psql meta-command, not SQL: the server cannot run it; remove \
                         it (write out the SQL it would include or set)"
                    ),
                });
            }
            b'"' => {
                i = skip_quoted(bytes, i, b'"', false)
                    .ok_or_else(|| unterminated("a quoted identifier", i))?;
                continue;
            }
            b'$' => {
                if let Some(tag_end) = dollar_tag(bytes, i) {
                    let tag = &sql[i..=tag_end];
                    let body = tag_end + 1;
                    let close = sql[body..]
                        .find(tag)
                        .ok_or_else(|| unterminated("a dollar-quoted string", i))?;
                    i = body + close + tag.len();
                    continue;
                }
            }
            _ if is_ident_start(b) => {
                let start = i;
                while i < bytes.len() && is_ident_char(bytes[i]) {
                    i += 1;
                }
                let word = &sql[start..i];
                // E'...' (and e'...') strings take backslash escapes.
                if (word == "E" || word == "e") && bytes.get(i) == Some(&b'\'') {
                    i = skip_string(bytes, i, true)
                        .ok_or_else(|| unterminated("an E'' string", i))?;
                    continue;
                }
                track_begin_atomic(word, &mut idents, &mut begin_depth, paren_depth);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(start) = first_token {
        statements.push(ended(stmt_begin, sql.len(), start)?);
    }
    Ok(statements)
}

/// Skips a string literal starting at `open`, with its continuations: a string followed by
/// whitespace holding a newline and another quote goes on in that quote, with the same
/// escaping (the SQL standard's rule, which the server follows).
fn skip_string(bytes: &[u8], open: usize, backslash: bool) -> Option<usize> {
    let mut end = skip_quoted(bytes, open, b'\'', backslash)?;
    loop {
        let mut j = end;
        let mut newline = false;
        while let Some(&b) = bytes.get(j) {
            match b {
                b'\n' | b'\r' => newline = true,
                b' ' | b'\t' | b'\x0c' => {}
                _ => break,
            }
            j += 1;
        }
        if !(newline && bytes.get(j) == Some(&b'\'')) {
            return Some(end);
        }
        end = skip_quoted(bytes, j, b'\'', backslash)?;
    }
}

/// `COPY ... FROM STDIN`: data follows in the file, which only psql knows how to send.
fn is_copy_from_stdin(sql: &str) -> bool {
    let words = leading_words(sql, 64);
    words.first().is_some_and(|w| w == "COPY")
        && words.windows(2).any(|w| w[0] == "FROM" && w[1] == "STDIN")
}

/// Why a statement would release the migration lock, if it would: it belongs to the session
/// that applies the migrations, and another deploy could start halfway through this one.
pub fn releases_lock(sql: &str) -> Option<&'static str> {
    let words = leading_words(sql, 2);
    if words.first().is_some_and(|w| w == "DISCARD") && words.get(1).is_some_and(|w| w == "ALL") {
        return Some("DISCARD ALL");
    }
    let code = code_words(sql);
    if code.iter().any(|w| w == "PG_ADVISORY_UNLOCK_ALL") {
        Some("pg_advisory_unlock_all()")
    } else if code.iter().any(|w| w == "PG_ADVISORY_UNLOCK") {
        Some("pg_advisory_unlock()")
    } else {
        None
    }
}

/// Every word of a statement outside comments, quoted strings and identifiers, upper-cased;
/// a `DO` block's body (which runs now) counts as code, a function's body (which runs when
/// called) does not.
fn code_words(sql: &str) -> Vec<String> {
    let is_do = leading_words(sql, 1).first().is_some_and(|w| w == "DO");
    let bytes = sql.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
            i = sql[i..].find('\n').map_or(bytes.len(), |k| i + k + 1);
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i = sql[i..].find("*/").map_or(bytes.len(), |k| i + k + 2);
        } else if b == b'\'' || b == b'"' {
            i = skip_quoted(bytes, i, b, false).unwrap_or(bytes.len());
        } else if b == b'$' && !is_do {
            match dollar_tag(bytes, i) {
                Some(end) => {
                    let tag = &sql[i..=end];
                    i = sql[end + 1..]
                        .find(tag)
                        .map_or(bytes.len(), |k| end + 1 + k + tag.len());
                }
                None => i += 1,
            }
        } else if is_ident_start(b) {
            let start = i;
            while i < bytes.len() && is_ident_char(bytes[i]) {
                i += 1;
            }
            words.push(sql[start..i].to_ascii_uppercase());
        } else {
            i += 1;
        }
    }
    words
}

/// psqlscan.l's tracking of `BEGIN ... END` inside CREATE FUNCTION/PROCEDURE bodies.
fn track_begin_atomic(word: &str, idents: &mut Vec<u8>, begin_depth: &mut usize, parens: usize) {
    let lower = word.to_ascii_lowercase();
    if idents.len() < 4 {
        idents.push(
            if ["create", "function", "procedure", "or", "replace"].contains(&lower.as_str()) {
                lower.as_bytes()[0]
            } else {
                0
            },
        );
    }
    let is_routine = idents.first() == Some(&b'c')
        && match idents.get(1) {
            Some(b'f') | Some(b'p') => true,
            Some(b'o') => {
                idents.get(2) == Some(&b'r') && matches!(idents.get(3), Some(b'f' | b'p'))
            }
            _ => false,
        };
    if !is_routine || parens != 0 {
        return;
    }
    match lower.as_str() {
        "begin" => *begin_depth += 1,
        "case" if *begin_depth >= 1 => *begin_depth += 1,
        "end" if *begin_depth > 0 => *begin_depth -= 1,
        _ => {}
    }
}

/// Skips a quoted string or identifier starting at `open`; returns the index after it.
/// A doubled quote is an escaped quote; with `backslash`, `\x` escapes x.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash: bool) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// If a dollar-quote tag (`$$` or `$tag$`) starts at `i`, the index of its closing `$`.
/// `$1` is a parameter; a `$` inside an identifier was consumed with it.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if bytes.get(j) == Some(&b'$') {
        return Some(j);
    }
    if !bytes.get(j).copied().is_some_and(is_ident_start) {
        return None;
    }
    while j < bytes.len() && (is_ident_start(bytes[j]) || bytes[j].is_ascii_digit()) {
        j += 1;
    }
    (bytes.get(j) == Some(&b'$')).then_some(j)
}

/// The first `n` words of a statement, upper-cased, skipping comments and punctuation and
/// stopping at the first quote: enough to classify it.
pub fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < bytes.len() && words.len() < n {
        let b = bytes[i];
        if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
            i = sql[i..].find('\n').map_or(bytes.len(), |k| i + k + 1);
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i = sql[i..].find("*/").map_or(bytes.len(), |k| i + k + 2);
        } else if b == b'\'' || b == b'"' || b == b'$' {
            break;
        } else if is_ident_start(b) {
            let start = i;
            while i < bytes.len() && is_ident_char(bytes[i]) {
                i += 1;
            }
            words.push(sql[start..i].to_ascii_uppercase());
        } else {
            i += 1;
        }
    }
    words
}

/// Why a statement cannot run inside a transaction block, if it cannot.
pub fn needs_no_transaction(sql: &str) -> Option<&'static str> {
    let words = leading_words(sql, 12);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let has = |word: &str| w.contains(&word);
    match w.as_slice() {
        ["CREATE", "INDEX", "CONCURRENTLY", ..]
        | ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", ..] => Some("CREATE INDEX CONCURRENTLY"),
        ["DROP", "INDEX", "CONCURRENTLY", ..] => Some("DROP INDEX CONCURRENTLY"),
        ["REINDEX", ..] if has("CONCURRENTLY") => Some("REINDEX CONCURRENTLY"),
        ["REINDEX", ..] if has("DATABASE") || has("SYSTEM") => Some("REINDEX DATABASE/SYSTEM"),
        ["VACUUM", ..] => Some("VACUUM"),
        ["CREATE", "DATABASE", ..] => Some("CREATE DATABASE"),
        ["DROP", "DATABASE", ..] => Some("DROP DATABASE"),
        ["CREATE", "TABLESPACE", ..] => Some("CREATE TABLESPACE"),
        ["DROP", "TABLESPACE", ..] => Some("DROP TABLESPACE"),
        ["ALTER", "SYSTEM", ..] => Some("ALTER SYSTEM"),
        ["CREATE", "SUBSCRIPTION", ..] => Some("CREATE SUBSCRIPTION"),
        ["ALTER", "TABLE", ..] if has("DETACH") && has("CONCURRENTLY") => {
            Some("ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY")
        }
        _ => None,
    }
}

/// Whether a statement begins, ends or prepares the transaction itself, which would break a
/// transactional migration's all-or-nothing promise.
pub fn controls_transaction(sql: &str) -> Option<String> {
    let words = leading_words(sql, 2);
    let first = words.first()?.as_str();
    match first {
        "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" => Some(first.to_string()),
        "START" if words.get(1).is_some_and(|w| w == "TRANSACTION") => {
            Some("START TRANSACTION".into())
        }
        "PREPARE" if words.get(1).is_some_and(|w| w == "TRANSACTION") => {
            Some("PREPARE TRANSACTION".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql).unwrap().iter().map(|s| s.text(sql)).collect()
    }

    #[test]
    fn plain_statements_and_lines() {
        let sql = "create table a (id int);\n\n-- a comment; with a semicolon\ninsert into a values (1);\n";
        let stmts = split(sql).unwrap();
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].line, 1);
        assert_eq!(stmts[1].line, 4);
        assert_eq!(stmts[1].text(sql), "insert into a values (1)");
        // No trailing semicolon, empty statements, and a file of comments only.
        assert_eq!(texts("select 1;;  ; select 2"), ["select 1", "select 2"]);
        assert!(split("-- nothing\n/* at all */\n").unwrap().is_empty());
    }

    #[test]
    fn quotes_and_identifiers() {
        assert_eq!(
            texts("select 'a;b''c;'; select \"we;ird\"\"x;\" from t; select 1"),
            [
                "select 'a;b''c;'",
                "select \"we;ird\"\"x;\" from t",
                "select 1"
            ]
        );
        // E'' strings take backslash escapes; a standard string does not.
        assert_eq!(
            texts(r"select E'it\'s;'; select 'C:\'; select 2"),
            [r"select E'it\'s;'", r"select 'C:\'", "select 2"]
        );
        // An identifier ending in e is not an E'' prefix.
        assert_eq!(
            texts(r"select name'x\'; select 2"),
            [r"select name'x\'", "select 2"]
        );
    }

    #[test]
    fn dollar_quotes() {
        let sql = "create function f() returns int as $$ select 1; $$ language sql;\n\
                   create function g() returns text as $body$ select '$$;'; $body$ language sql;\n\
                   select $1, a$b from t; select $q$;$q$";
        assert_eq!(
            texts(sql),
            [
                "create function f() returns int as $$ select 1; $$ language sql",
                "create function g() returns text as $body$ select '$$;'; $body$ language sql",
                "select $1, a$b from t",
                "select $q$;$q$"
            ]
        );
        // Tags must match exactly: $a$ does not close $ab$.
        assert_eq!(
            texts("select $ab$ $a$; $ab$; select 2"),
            ["select $ab$ $a$; $ab$", "select 2"]
        );
    }

    #[test]
    fn comments_nest_and_hide_quotes() {
        assert_eq!(
            texts("/* outer /* inner; */ still; */ select 1; -- it's; \"\nselect 2"),
            ["select 1", "select 2"]
        );
        assert_eq!(
            texts("select 1 -- trailing; comment"),
            ["select 1 -- trailing; comment"]
        );
        assert_eq!(
            texts("select 1/2; select 3-1"),
            ["select 1/2", "select 3-1"]
        );
    }

    #[test]
    fn begin_atomic_bodies_and_parentheses() {
        let sql = "create or replace function f(a int) returns int language sql\n\
                   begin atomic\n  select case when a > 0 then 1 else 2 end;\n  select 3;\nend;\n\
                   create rule r as on insert to t do also (insert into u values (1); insert into u values (2));\n\
                   begin;";
        let t = texts(sql);
        assert_eq!(t.len(), 3, "{t:#?}");
        assert!(t[0].ends_with("select 3;\nend"), "{t:#?}");
        assert_eq!(t[2], "begin");
    }

    #[test]
    fn comment_and_quote_markers_inside_other_tokens() {
        assert_eq!(
            texts("select '--;', '/*;' ; select $$ -- ; /* ; $$; select \"a--b;\"; select 2"),
            [
                "select '--;', '/*;'",
                "select $$ -- ; /* ; $$",
                "select \"a--b;\"",
                "select 2"
            ]
        );
        // U&'' and X'' are standard strings; a$b$c is one identifier, not a dollar quote.
        assert_eq!(
            texts(r"select U&'d\0061t;', X'1f'; select a$b$c from t; select 3"),
            [
                r"select U&'d\0061t;', X'1f'",
                "select a$b$c from t",
                "select 3"
            ]
        );
        // A CASE ... END inside BEGIN ATOMIC does not close the body early.
        let sql = "create procedure p() language sql begin atomic select case when true then 1 end; end; select 4";
        assert_eq!(split(sql).unwrap().len(), 2);
        // CREATE TABLE with a column named begin is not a routine body.
        assert_eq!(
            texts("create table t (begin int); select 5"),
            ["create table t (begin int)", "select 5"]
        );
    }

    #[test]
    fn unterminated_is_reported_with_its_line() {
        assert_eq!(
            split("select 1;\nselect 'oops;\n").unwrap_err(),
            SplitError {
                reason: "a quoted string opened at line 2 is never closed".into(),
                line: 2
            }
        );
        assert_eq!(split("\n\n/* a /* b */").unwrap_err().line, 3);
        let reason = |sql| split(sql).unwrap_err().reason;
        assert!(reason("select $x$ never").starts_with("a dollar-quoted string"));
        assert!(reason("select \"x").starts_with("a quoted identifier"));
        assert!(reason(r"select E'\'").starts_with("an E'' string"));
    }

    #[test]
    fn standard_conforming_strings_off_makes_backslash_an_escape() {
        let sql = r"select 'it\'s;'; select 2";
        // With it on, the quote after the backslash ends the string: the next one never does.
        assert!(split_with(sql, true).is_err());
        assert_eq!(
            split_with(sql, false)
                .unwrap()
                .iter()
                .map(|s| s.text(sql))
                .collect::<Vec<_>>(),
            [r"select 'it\'s;'", "select 2"]
        );
        // With it on, 'C:\' is a whole string; with it off, it never ends.
        assert!(split_with(r"select 'C:\'", true).is_ok());
        assert!(split_with(r"select 'C:\'", false).is_err());
    }

    #[test]
    fn an_e_string_continues_on_the_next_line_with_backslash_escapes() {
        let sql = "select E'a'\n  'b\\';c'; select 2";
        assert_eq!(texts(sql), ["select E'a'\n  'b\\';c'", "select 2"]);
        // Without a newline between them, two strings are two strings (a syntax error the
        // server reports), and a standard string after it takes no escapes.
        assert_eq!(
            texts(r"select E'a' 'b\'; select 2"),
            [r"select E'a' 'b\'", "select 2"]
        );
    }

    #[test]
    fn psql_meta_commands_and_copy_from_stdin_are_refused_with_their_line() {
        let e = split("select 1;\n\\set x 1\nselect :x;").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.reason.starts_with("`\\set` is a psql meta-command"),
            "{e}"
        );
        let sql = "create table t (a text);\nCOPY public.t (a) FROM stdin;\nit's\n\\.\n";
        let e = split(sql).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("INSERT"), "{e}");
        assert!(split("copy t from '/tmp/x.csv'; copy t to stdout").is_ok());
        // A backslash inside a string or comment is not a meta-command.
        assert!(split(r"select E'\n', '\i' -- \i x").is_ok());
    }

    #[test]
    fn statements_that_release_the_migration_lock() {
        assert_eq!(
            releases_lock("select pg_advisory_unlock_all()"),
            Some("pg_advisory_unlock_all()")
        );
        assert_eq!(
            releases_lock("SELECT PG_ADVISORY_UNLOCK(1, 2)"),
            Some("pg_advisory_unlock()")
        );
        assert_eq!(releases_lock("discard all"), Some("DISCARD ALL"));
        assert_eq!(
            releases_lock("do $$ begin perform pg_advisory_unlock_all(); end $$"),
            Some("pg_advisory_unlock_all()")
        );
        assert_eq!(releases_lock("discard plans"), None);
        assert_eq!(releases_lock("select 'pg_advisory_unlock_all()'"), None);
        assert_eq!(releases_lock("-- pg_advisory_unlock_all\nselect 1"), None);
        assert_eq!(
            releases_lock("create function f() returns void language sql as $$ select pg_advisory_unlock_all() $$"),
            None
        );
    }

    #[test]
    fn classifies_statements() {
        assert_eq!(
            needs_no_transaction("create index concurrently i on t (a)"),
            Some("CREATE INDEX CONCURRENTLY")
        );
        assert_eq!(
            needs_no_transaction("-- note\nCREATE UNIQUE INDEX CONCURRENTLY i ON t (a)"),
            Some("CREATE INDEX CONCURRENTLY")
        );
        assert_eq!(
            needs_no_transaction("reindex (verbose) table concurrently t"),
            Some("REINDEX CONCURRENTLY")
        );
        assert_eq!(needs_no_transaction("vacuum analyze t"), Some("VACUUM"));
        assert_eq!(
            needs_no_transaction("create database x"),
            Some("CREATE DATABASE")
        );
        assert_eq!(
            needs_no_transaction("alter table s.p detach partition s.c concurrently"),
            Some("ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY")
        );
        assert_eq!(needs_no_transaction("create index i on t (a)"), None);
        assert_eq!(
            needs_no_transaction("insert into t values ('vacuum')"),
            None
        );
        assert_eq!(
            needs_no_transaction("select 'create index concurrently'"),
            None
        );
        assert_eq!(controls_transaction("COMMIT"), Some("COMMIT".into()));
        assert_eq!(
            controls_transaction("start transaction isolation level serializable"),
            Some("START TRANSACTION".into())
        );
        assert_eq!(controls_transaction("create table begin_x (a int)"), None);
    }
}
