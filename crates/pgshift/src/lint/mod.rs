//! The migration lint: every statement of a migration read with PostgreSQL's own parser
//! (`crate::sql`, the engine's), checked by the rules of `rules` (squawk's rule names), then
//! judged with what pgshift knows and squawk does not: the project (tables created earlier in
//! the run take no risk, pgshift's session sets `lock_timeout`, `-- no-transaction` files
//! commit statement by statement) and the target (`context`: each table's rows and size).
//!
//! `check` is pure (files in, candidates out); `context::target_facts` asks a database;
//! `judge` turns candidates into `Finding`s; `render` prints them.

pub mod context;
pub mod impact;
pub mod render;
pub mod rules;
pub mod trace;

use std::path::Path;

use serde::Serialize;

use crate::config::{Config, RuleLevel};
use crate::migrations::files::MigrationFile;
use crate::sql::{self, Lines};
pub use context::{TableSize, TargetFacts};
use rules::{Cx, Hit, Risk, State, TableRef};

/// How serious a finding is. `Error` is blocking: `migrate-deploy` refuses it unless the
/// migration acknowledges it, and `lint` exits 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A `-- pgshift:allow RULE reason` (or squawk's `-- squawk-ignore RULE`) that covers a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    /// The comment's line.
    pub line: usize,
    pub reason: String,
}

/// One finding of the lint, located in its file.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The file as given, or relative to the project root.
    pub file: String,
    /// 1-based line and column of what is flagged.
    pub line: usize,
    pub col: usize,
    /// The rule's id (squawk's name), or `syntax-error`.
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// The statement, as written (at most 6 lines), and the line it starts on.
    pub excerpt: String,
    pub excerpt_line: usize,
    pub help: String,
    /// The table the statement touches, and its size on the target when one was asked.
    pub table: Option<String>,
    /// The column, for statements on one.
    pub column: Option<String>,
    pub rows: Option<i64>,
    pub bytes: Option<i64>,
    pub acknowledged: Option<Acknowledgement>,
}

impl Finding {
    /// An error nobody acknowledged: what refuses a deploy.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Error && self.acknowledged.is_none()
    }
}

/// The rule id of a file PostgreSQL's parser refuses.
pub const SYNTAX_ERROR: &str = "syntax-error";

/// Whether any finding blocks.
pub fn any_blocking(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::blocks)
}

/// A migration to lint.
#[derive(Debug, Clone)]
pub struct Source {
    /// How the file is shown in findings.
    pub file: String,
    pub sql: String,
    pub no_transaction: bool,
}

impl Source {
    /// A migration of the folder, shown relative to `root`.
    pub fn of(m: &MigrationFile, root: &Path) -> Source {
        Source {
            file: m
                .path
                .strip_prefix(root)
                .unwrap_or(&m.path)
                .display()
                .to_string(),
            sql: m.sql.clone(),
            no_transaction: m.no_tx,
        }
    }

    /// A file named on the command line, shown as given.
    pub fn read(path: &Path, shown: &str) -> std::io::Result<Source> {
        let bytes = std::fs::read(path)?;
        let sql = crate::migrations::files::without_bom(String::from_utf8_lossy(&bytes).into());
        Ok(Source {
            file: shown.to_string(),
            no_transaction: sql.starts_with(crate::migrations::files::NO_TRANSACTION),
            sql,
        })
    }
}

/// How the sources relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Pending migrations applied in order: a table created by one is new for the next.
    Run,
    /// Unrelated files (`--all`, files named on the command line): each judged on its own.
    EachFile,
}

/// A rule's hit located in its file, not judged yet.
#[derive(Debug, Clone)]
pub struct Candidate {
    file: String,
    line: usize,
    col: usize,
    excerpt: String,
    excerpt_line: usize,
    hit: Hit,
    /// The table was created earlier in the run.
    new_table: bool,
    acknowledged: Option<Acknowledgement>,
    /// A `-- pgshift:allow` for this rule without a reason, at this line.
    unexplained_allow: Option<usize>,
}

/// Runs the rules over `sources`, in order. The files are parsed on every core (parsing is
/// most of the work); with `Scope::EachFile` each file's rules run on the same thread as its
/// parse, with `Scope::Run` they run here, file after file, since what one file creates is
/// new for the next. Either way the candidates come out in the order of `sources`.
pub fn check(
    sources: &[Source],
    config: &Config,
    postgres_version: u32,
    scope: Scope,
) -> Vec<Candidate> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    check_on(cores, sources, config, postgres_version, scope)
}

/// `check` on `threads` threads.
fn check_on(
    threads: usize,
    sources: &[Source],
    config: &Config,
    postgres_version: u32,
    scope: Scope,
) -> Vec<Candidate> {
    match scope {
        Scope::EachFile => on_threads(threads, sources, |source| {
            let mut state = State::default();
            state.next_file(source.no_transaction);
            let mut out = Vec::new();
            let statements = sql::statements_with_trees(&source.sql);
            check_file(
                source,
                statements,
                config,
                postgres_version,
                &mut state,
                &mut out,
            );
            out
        })
        .into_iter()
        .flatten()
        .collect(),
        Scope::Run => {
            let parsed = on_threads(threads, sources, |source| {
                sql::statements_with_trees(&source.sql)
            });
            let mut out = Vec::new();
            let mut state = State::default();
            for (source, statements) in sources.iter().zip(parsed) {
                state.next_file(source.no_transaction);
                check_file(
                    source,
                    statements,
                    config,
                    postgres_version,
                    &mut state,
                    &mut out,
                );
            }
            out
        }
    }
}

/// `work` on each source, on `threads` threads (this one included), each taking the next
/// file not taken yet (so a core that another process keeps busy does less of the work);
/// the results in the order of `sources`.
fn on_threads<'s, R: Send>(
    threads: usize,
    sources: &'s [Source],
    work: impl Fn(&'s Source) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = threads.min(sources.len());
    if threads <= 1 {
        return sources.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(source) = sources.get(i) else {
                return done;
            };
            done.push((i, work(source)));
        }
    };
    let mut done = std::thread::scope(|scope| {
        // The main thread's stack size: deep statements recurse in the parser and the rules.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("lint".into())
                    .stack_size(8 << 20)
                    .spawn_scoped(scope, take)
                    .ok()
            })
            .collect();
        let mut done = take();
        for helper in helpers {
            match helper.join() {
                Ok(theirs) => done.extend(theirs),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

fn check_file(
    source: &Source,
    statements: Result<Vec<sql::Parsed<'_>>, sql::SqlError>,
    config: &Config,
    postgres_version: u32,
    state: &mut State,
    out: &mut Vec<Candidate>,
) {
    let text = &source.sql;
    let statements = match statements {
        Ok(s) => s,
        Err(e) => {
            out.push(Candidate {
                file: source.file.clone(),
                line: e.line,
                col: 1,
                excerpt: text
                    .lines()
                    .nth(e.line.saturating_sub(1))
                    .unwrap_or("")
                    .into(),
                excerpt_line: e.line,
                hit: Hit {
                    rule: SYNTAX_ERROR,
                    location: None,
                    table: None,
                    column: None,
                    risk: Risk::Advice,
                    message: e.message,
                    help: "fix the SQL: PostgreSQL refuses this file as it is".into(),
                },
                new_table: false,
                acknowledged: None,
                unexplained_allow: None,
            });
            return;
        }
    };
    let lines = Lines::new(text);
    let file_ignores = squawk_file_ignores(text);
    let mut gap_start = 0;
    for parsed in &statements {
        let statement = &parsed.statement;
        let comments = comments_before(text, gap_start, statement.start, &lines);
        gap_start = statement.start + statement.sql.len();
        let Some(node) = &parsed.tree else {
            continue;
        };
        let mut cx = Cx {
            state,
            postgres_version,
            session_lock_timeout: !config.migrate.session_lock_timeout.is_zero(),
            hits: Vec::new(),
            column_types: Vec::new(),
        };
        rules::check_statement(node, &mut cx);
        let hits = cx.hits;
        let new_tables: Vec<bool> = hits
            .iter()
            .map(|h| h.table.as_ref().is_some_and(|t| state.is_new(t)))
            .collect();
        state.observe(node, &hits);
        for (hit, new_table) in hits.into_iter().zip(new_tables) {
            // Tree locations count from `locations_from`; a hit without one points at the
            // statement's start.
            let at = hit
                .location
                .map_or(statement.start, |l| parsed.locations_from + l)
                .clamp(statement.start, statement.start + statement.sql.len());
            let line = lines.line_of(at);
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let col = text[line_start..at].chars().count() + 1;
            let (acknowledged, unexplained_allow) =
                acknowledgement(hit.rule, &comments, &file_ignores);
            out.push(Candidate {
                file: source.file.clone(),
                line,
                col,
                excerpt: excerpt(statement.sql),
                excerpt_line: statement.line,
                hit,
                new_table,
                acknowledged,
                unexplained_allow,
            });
        }
    }
}

/// The statement's first lines, for the finding.
fn excerpt(statement: &str) -> String {
    const MAX: usize = 6;
    let lines: Vec<&str> = statement.trim_end().lines().collect();
    let mut out = lines[..lines.len().min(MAX)].join("\n");
    if lines.len() > MAX {
        out.push_str("\n...");
    }
    out.push(';');
    out
}

/// `--` comments between the previous statement and this one: (line, text after `--`).
fn comments_before(text: &str, from: usize, to: usize, lines: &Lines) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut at = from;
    for piece in text[from..to].split_inclusive('\n') {
        let trimmed = piece.trim();
        if let Some(comment) = trimmed.strip_prefix("--") {
            out.push((
                lines.line_of(at + (piece.len() - piece.trim_start().len())),
                comment.trim().to_string(),
            ));
        }
        at += piece.len();
    }
    out
}

/// A comment that acknowledges rules.
enum Allow {
    /// `-- pgshift:allow RULE reason`
    Pgshift { rule: String, reason: String },
    /// `-- squawk-ignore RULE[, RULE]` (no rule: all of them).
    Squawk { rules: Vec<String> },
}

fn parse_allow(comment: &str) -> Option<Allow> {
    if let Some(rest) = comment.strip_prefix("pgshift:allow") {
        let rest = rest.trim();
        let (rule, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Some(Allow::Pgshift {
            rule: rule.to_string(),
            reason: reason.trim().to_string(),
        });
    }
    let rest = comment.strip_prefix("squawk-ignore")?;
    if rest.starts_with("-file") {
        return None;
    }
    Some(Allow::Squawk {
        rules: rule_list(rest),
    })
}

fn rule_list(text: &str) -> Vec<String> {
    text.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// The rules a `-- squawk-ignore-file [RULE, ...]` anywhere in the file ignores (empty list:
/// every rule), with the comment's line.
fn squawk_file_ignores(text: &str) -> Vec<(usize, Vec<String>)> {
    if !text.contains("squawk-ignore-file") {
        return Vec::new();
    }
    let Ok(tokens) = pg_query::scan_tokens(text) else {
        return Vec::new();
    };
    let lines = Lines::new(text);
    tokens
        .iter()
        .filter(|t| t.token == pg_query::protobuf::Token::SqlComment as i32)
        .filter_map(|t| {
            let comment = text.get(t.start as usize..t.end as usize)?;
            let rest = comment
                .strip_prefix("--")?
                .trim()
                .strip_prefix("squawk-ignore-file")?;
            Some((lines.line_of(t.start as usize), rule_list(rest)))
        })
        .collect()
}

fn acknowledgement(
    rule: &str,
    comments: &[(usize, String)],
    file_ignores: &[(usize, Vec<String>)],
) -> (Option<Acknowledgement>, Option<usize>) {
    let mut unexplained = None;
    for (line, comment) in comments.iter().rev() {
        match parse_allow(comment) {
            Some(Allow::Pgshift { rule: r, reason }) if rules::canonical(&r) == rule => {
                if reason.is_empty() {
                    unexplained = Some(*line);
                } else {
                    return (
                        Some(Acknowledgement {
                            line: *line,
                            reason,
                        }),
                        None,
                    );
                }
            }
            Some(Allow::Squawk { rules })
                if rules.is_empty() || rules.iter().any(|r| rules::canonical(r) == rule) =>
            {
                return (
                    Some(Acknowledgement {
                        line: *line,
                        reason: format!("-- {comment}"),
                    }),
                    None,
                );
            }
            _ => {}
        }
    }
    for (line, rules) in file_ignores {
        if rules.is_empty() || rules.iter().any(|r| rules::canonical(r) == rule) {
            return (
                Some(Acknowledgement {
                    line: *line,
                    reason: "-- squawk-ignore-file".into(),
                }),
                None,
            );
        }
    }
    (None, unexplained)
}

/// The tables the candidates touch, for `context::target_facts`.
pub fn tables(candidates: &[Candidate]) -> Vec<TableRef> {
    let mut out: Vec<TableRef> = Vec::new();
    for c in candidates {
        if let Some(t) = &c.hit.table {
            if !c.new_table && !out.contains(t) {
                out.push(t.clone());
            }
        }
    }
    out
}

/// Turns candidates into findings: what the project and the target say about each, and the
/// `[lint] rules` levels.
pub fn judge(
    candidates: Vec<Candidate>,
    config: &Config,
    facts: Option<&TargetFacts>,
) -> Vec<Finding> {
    let large = config.lint.large_table_rows;
    let mut out = Vec::new();
    for c in candidates {
        let hit = c.hit;
        let level = config
            .lint
            .rules
            .iter()
            .find(|(name, _)| rules::canonical(name) == hit.rule)
            .map(|(_, level)| *level);
        if level == Some(RuleLevel::Off) {
            continue;
        }
        // On a table made earlier in the run only what fails whatever the table, and advice
        // on the file, remain.
        if c.new_table && !matches!(hit.risk, Risk::Advice | Risk::Fails) {
            continue;
        }
        let size = match (facts, &hit.table) {
            (Some(f), Some(t)) => f.size(t),
            _ => None,
        };
        let rows = size.map(|s| s.rows);
        let severity = match hit.risk {
            Risk::Lock => match rows {
                Some(0) => continue,
                Some(n) if n >= large as i64 => Severity::Error,
                _ => Severity::Warning,
            },
            Risk::DataLoss => match rows {
                Some(n) if n > 0 => Severity::Error,
                _ => Severity::Warning,
            },
            Risk::FailsIfPopulated => match rows {
                Some(0) => continue,
                Some(_) => Severity::Error,
                None => Severity::Warning,
            },
            Risk::Breaking | Risk::Advice => Severity::Warning,
            Risk::Fails => Severity::Error,
        };
        let severity = match (level, hit.rule) {
            (_, SYNTAX_ERROR) => Severity::Error,
            (Some(RuleLevel::Warning), _) => Severity::Warning,
            (Some(RuleLevel::Error), _) => Severity::Error,
            _ => severity,
        };
        let mut message = hit.message;
        if let (Some(size), Some(t), Some(f)) = (size, &hit.table, facts) {
            message.push_str(&format!(
                " ({} on {}: {}{} rows, {})",
                t.sql(),
                f.env,
                if size.at_least { "at least " } else { "" },
                thousands(size.rows),
                human_bytes(size.bytes)
            ));
        } else if matches!(
            hit.risk,
            Risk::Lock | Risk::DataLoss | Risk::FailsIfPopulated
        ) && facts.is_none()
        {
            message.push_str(" (table size unknown: --env NAME measures it)");
        }
        let mut help = hit.help;
        if let Some(line) = c.unexplained_allow {
            help.push_str(&format!(
                "; the `-- pgshift:allow {}` on line {line} gives no reason, so it does not \
                 count: write why after the rule name",
                hit.rule
            ));
        }
        out.push(Finding {
            file: c.file,
            line: c.line,
            col: c.col,
            rule: hit.rule.to_string(),
            severity,
            message,
            excerpt: c.excerpt,
            excerpt_line: c.excerpt_line,
            help,
            table: hit.table.as_ref().map(TableRef::sql),
            column: hit.column.clone(),
            rows,
            bytes: size.map(|s| s.bytes),
            acknowledged: c.acknowledged,
        });
    }
    out
}

/// Lints `sources` without a target: what the files alone say.
pub fn lint_static(sources: &[Source], config: &Config, scope: Scope) -> Vec<Finding> {
    let candidates = check(sources, config, config.lint.postgres_version, scope);
    let mut findings = judge(candidates, config, None);
    impact::annotate(&mut findings, config);
    findings
}

/// Lints `sources` against the database `conn` is connected to (`env` names it in messages).
pub async fn lint_against(
    conn: &mut sqlx::PgConnection,
    env: &str,
    sources: &[Source],
    config: &Config,
    scope: Scope,
) -> Result<Vec<Finding>, sqlx::Error> {
    let version = context::server_major_version(conn).await?;
    let candidates = check(sources, config, version, scope);
    let facts = context::target_facts(
        conn,
        env,
        version,
        &tables(&candidates),
        config.lint.large_table_rows,
    )
    .await?;
    let mut findings = judge(candidates, config, Some(&facts));
    impact::annotate(&mut findings, config);
    Ok(findings)
}

/// The migrations of the folder that `target` has applied, and those it has not (pending or
/// out of order), each in order.
pub async fn partition(
    config: &Config,
    target: &crate::target::Target,
) -> Result<(Vec<MigrationFile>, Vec<MigrationFile>), crate::migrations::MigrateError> {
    use crate::migrations::State;
    let files = crate::migrations::files::discover(&config.paths.migrations)?;
    let status = crate::migrations::read_status(config, target).await?;
    let state = |f: &MigrationFile| {
        status
            .migrations
            .iter()
            .find(|r| r.version == f.version)
            .map(|r| r.state)
    };
    let (mut applied, mut pending) = (Vec::new(), Vec::new());
    for f in files {
        match state(&f) {
            Some(State::Pending | State::OutOfOrder) => pending.push(f),
            Some(State::Applied | State::Modified) => applied.push(f),
            _ => {}
        }
    }
    Ok((applied, pending))
}

/// The migrations of the folder that `target` has not applied (pending or out of order), in
/// order: what `lint` checks by default.
pub async fn pending_sources(
    config: &Config,
    target: &crate::target::Target,
) -> Result<Vec<Source>, crate::migrations::MigrateError> {
    let (_, pending) = partition(config, target).await?;
    Ok(pending
        .iter()
        .map(|f| Source::of(f, &config.root))
        .collect())
}

/// Rules whose risk is a rewrite: a trace that shows none downgrades them to warnings.
const REWRITE_RULES: &[&str] = &["changing-column-type", "adding-field-with-default"];

/// The rule id of a rewrite the trace saw where no rule said so.
pub const TABLE_REWRITE: &str = "table-rewrite";

/// Adds the trace's evidence to the findings: each finding on a traced statement says what
/// it did; a rewrite rule whose statement rewrote nothing becomes a warning; a statement
/// that rewrote a table without any finding becomes a `table-rewrite` warning.
pub fn apply_trace(findings: &mut Vec<Finding>, steps: &[trace::TraceStep]) {
    for f in findings.iter_mut() {
        let Some(step) = steps
            .iter()
            .find(|s| s.file == f.file && s.line == f.excerpt_line)
        else {
            continue;
        };
        if REWRITE_RULES.contains(&f.rule.as_str()) && step.rewrote.is_empty() {
            f.severity = Severity::Warning;
            f.message
                .push_str(&format!(" (traced: {}; no rewrite)", step.summary()));
        } else {
            f.message
                .push_str(&format!(" (traced: {})", step.summary()));
        }
    }
    for step in steps.iter().filter(|s| !s.rewrote.is_empty()) {
        let flagged = findings.iter().any(|f| {
            f.file == step.file
                && f.excerpt_line == step.line
                && REWRITE_RULES.contains(&f.rule.as_str())
        });
        if flagged {
            continue;
        }
        findings.push(Finding {
            file: step.file.clone(),
            line: step.line,
            col: 1,
            rule: TABLE_REWRITE.into(),
            severity: Severity::Warning,
            message: format!("traced: {}", step.summary()),
            excerpt: step.statement.clone(),
            excerpt_line: step.line,
            help: "a rewrite holds ACCESS EXCLUSIVE while every row is copied; on a large table, \
                   add a new column or table and backfill it in batches instead"
                .into(),
            table: step.rewrote.first().cloned(),
            column: None,
            rows: None,
            bytes: None,
            acknowledged: None,
        });
    }
    findings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
}

/// Lints `sources` against `target`'s tables, on a connection of its own (read-only).
pub async fn lint_on_target(
    config: &Config,
    target: &crate::target::Target,
    sources: &[Source],
    scope: Scope,
) -> Result<Vec<Finding>, crate::migrations::MigrateError> {
    let mut conn = crate::db::connect(&target.url).await?;
    let result = lint_against(&mut conn, &target.env, sources, config, scope).await;
    crate::db::close(conn).await;
    result.map_err(|e| {
        crate::migrations::MigrateError::db(
            &format!("{} ({})", target.env, target.url.host_and_database()),
            "measuring the tables the migrations touch",
            e,
        )
    })
}

/// `12345678` as `12,345,678`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// Bytes as PostgreSQL's `pg_size_pretty` would say them, roughly.
pub fn human_bytes(bytes: i64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{} kB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(sql: &str) -> Vec<Source> {
        vec![Source {
            file: "m.sql".into(),
            sql: sql.into(),
            no_transaction: false,
        }]
    }

    #[test]
    fn acknowledged_with_a_reason_only() {
        let config = Config::default();
        let sql = "-- pgshift:allow ban-drop-column the column was never read\n\
                   ALTER TABLE a DROP COLUMN b;\n\
                   -- pgshift:allow ban-drop-column\n\
                   ALTER TABLE a DROP COLUMN c;\n\
                   -- squawk-ignore ban-drop-table\n\
                   DROP TABLE d;";
        let f = lint_static(&source(sql), &config, Scope::EachFile);
        assert_eq!(f.len(), 3, "{f:#?}");
        assert_eq!(
            f[0].acknowledged,
            Some(Acknowledgement {
                line: 1,
                reason: "the column was never read".into()
            })
        );
        assert!(f[1].acknowledged.is_none());
        assert!(
            f[1].help.contains("on line 3 gives no reason"),
            "{}",
            f[1].help
        );
        assert_eq!(f[2].acknowledged.as_ref().unwrap().line, 5);
        assert_eq!((f[1].line, f[1].col), (4, 1));
    }

    #[test]
    fn squawks_other_name_for_a_rule_acknowledges_it() {
        let config = Config::default();
        let sources = vec![Source {
            file: "1.sql".into(),
            sql: "-- squawk-ignore prefer-timestamptz\nCREATE TABLE a (at timestamp);\n\
                  -- pgshift:allow prefer-timestamptz local times by design\n\
                  CREATE TABLE b (at timestamp);"
                .into(),
            no_transaction: false,
        }];
        let found = lint_static(&sources, &config, Scope::Run);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found.iter().all(|f| f.rule == "prefer-timestamp-tz"));
        assert!(found.iter().all(|f| f.acknowledged.is_some()), "{found:#?}");
        assert!(rules::is_rule("prefer-timestamptz"));
    }

    #[test]
    fn tables_created_earlier_in_the_run_take_no_risk() {
        let config = Config::default();
        let sources = vec![
            Source {
                file: "1.sql".into(),
                sql: "CREATE TABLE doctor (id bigint);".into(),
                no_transaction: false,
            },
            Source {
                file: "2.sql".into(),
                sql: "CREATE INDEX i ON doctor (id); CREATE INDEX j ON visit (id);".into(),
                no_transaction: false,
            },
        ];
        let run = lint_static(&sources, &config, Scope::Run);
        assert_eq!(run.len(), 1, "{run:#?}");
        assert_eq!(run[0].table.as_deref(), Some("visit"));
        assert_eq!(lint_static(&sources, &config, Scope::EachFile).len(), 2);
    }

    #[test]
    fn many_files_on_many_threads_give_what_one_thread_gives_in_the_same_order() {
        let config = Config::default();
        // Tables made by one file and changed by later ones (new in a run, not alone), an
        // acknowledgement, a `-- no-transaction` file and a file the parser refuses, in
        // files of very different sizes.
        let sources: Vec<Source> = (1..=60)
            .map(|i| {
                let mut sql = format!("CREATE TABLE t{i} (id int PRIMARY KEY, name varchar(20));\n");
                match i % 5 {
                    0 => sql.push_str(&format!(
                        "CREATE INDEX t{}_name ON t{} (name);\n",
                        i - 1,
                        i - 1
                    )),
                    1 => sql.push_str(&format!(
                        "-- pgshift:allow ban-drop-column unused\nALTER TABLE t{i} DROP COLUMN name;\nALTER TABLE old DROP COLUMN x;\n"
                    )),
                    2 => sql.push_str("ALTER TABLE old ADD COLUMN at timestamp;\n".repeat(i).as_str()),
                    3 => sql.push_str("CREATE TABLE broken (;\n"),
                    _ => {
                        sql.insert_str(0, "-- no-transaction\n");
                        sql.push_str("CREATE INDEX CONCURRENTLY old_x ON old (x);\n");
                    }
                }
                Source {
                    file: format!("{i:03}.sql"),
                    no_transaction: i % 5 == 4,
                    sql,
                }
            })
            .collect();
        for scope in [Scope::EachFile, Scope::Run] {
            let shown = |c: Vec<Candidate>| format!("{c:#?}");
            let one = shown(check_on(1, &sources, &config, 15, scope));
            assert!(one.contains("syntax-error") && one.contains("ban-drop-column"));
            for threads in [2, 3, 8] {
                assert_eq!(
                    one,
                    shown(check_on(threads, &sources, &config, 15, scope)),
                    "{threads} threads, {scope:?}"
                );
            }
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(12345678), "12,345,678");
        assert_eq!(thousands(999), "999");
        assert_eq!(human_bytes(8 * 1024 * 1024 + 100_000), "8.1 MB");
    }
}
