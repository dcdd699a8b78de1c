//! Schema diff: what it takes to turn one catalog into another, as data first.
//!
//! `diff(from, to, options)` compares two `Catalog`s (name-based, so two databases with the
//! same schema give no changes) and returns a `Diff`: a list of `Change`s in a safe
//! execution order, each naming the object it touches, what it does, the SQL statements
//! that do it and the hazards of running them (data loss, table rewrite, lock, possible
//! rename). The same list serves migration generation (`Diff::script`, `Diff::header`),
//! drift reports (`Change::summary`, `Change::object`) and `--json` (the types are
//! `Serialize`).
//!
//! Renames cannot be seen in two states: `Options::renames` says which drop + add pairs are
//! renames. Without one, a column dropped and a column of the same type added in the same
//! table get a `PossibleRename` hazard.
//!
//! Layout: `plan.rs` orders changes by phase (drops of dependants before what they depend
//! on, creations in dependency order); one file per object family renders its changes
//! (`tables.rs`, `types.rs`, `views.rs`, `routines.rs`, `misc.rs`); `sql.rs` quotes names.

pub mod check;
pub mod corpus;
mod misc;
mod plan;
mod renames;
mod routines;
pub(crate) mod sql;
mod tables;
mod types;
mod views;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;

pub use sql::{qualified, quote_ident, quote_literal};

/// How to diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Write new indexes on existing tables as `CREATE INDEX CONCURRENTLY` (and drops as
    /// `DROP INDEX CONCURRENTLY`); the changes that do so are `no_transaction`, and so is
    /// the script.
    pub concurrently: bool,
    /// Objects renamed between `from` and `to`: each becomes an `ALTER ... RENAME` instead of
    /// a drop and a create.
    pub renames: Vec<Rename>,
}

/// One rename: the object `from` in `from`'s catalog is `to` in `to`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    /// `Table`, `Column`, `View`, `MaterializedView`, `Enum`, `Domain`, `Composite`,
    /// `Sequence`, `Index`, or a constraint kind.
    pub kind: ObjectKind,
    pub schema: String,
    /// The table, for a column, constraint or index.
    pub table: Option<String>,
    pub from: String,
    pub to: String,
}

/// The kind of a database object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Schema,
    Extension,
    Enum,
    Domain,
    Composite,
    Sequence,
    Table,
    Column,
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
    Exclusion,
    Index,
    View,
    MaterializedView,
    Function,
    Procedure,
    Trigger,
}

impl ObjectKind {
    /// The kind in words, as the summaries and the header say it.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Schema => "schema",
            ObjectKind::Extension => "extension",
            ObjectKind::Enum => "enum",
            ObjectKind::Domain => "domain",
            ObjectKind::Composite => "type",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::PrimaryKey => "primary key",
            ObjectKind::Unique => "unique constraint",
            ObjectKind::ForeignKey => "foreign key",
            ObjectKind::Check => "check constraint",
            ObjectKind::Exclusion => "exclusion constraint",
            ObjectKind::Index => "index",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Function => "function",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Trigger => "trigger",
        }
    }
}

/// The object a change touches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Object {
    pub kind: ObjectKind,
    /// The schema (empty for a schema or an extension).
    pub schema: String,
    /// The object's name; for a function or procedure, with its identity arguments:
    /// `add_days(date, integer)`.
    pub name: String,
    /// The table, for a column, constraint, index or trigger.
    pub table: Option<String>,
}

impl std::fmt::Display for Object {
    /// `column public.doctor.nickname`, `table public.doctor`, `schema billing`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.kind.noun())?;
        if !self.schema.is_empty() {
            write!(f, "{}.", self.schema)?;
        }
        if let Some(table) = &self.table {
            if self.kind == ObjectKind::Column {
                return write!(f, "{table}.{}", self.name);
            }
            return write!(f, "{} on {}", self.name, table);
        }
        write!(f, "{}", self.name)
    }
}

/// What a change does to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The object is in `to` only.
    Create,
    /// The object is in `from` only.
    Drop,
    /// The object is in both and is changed in place.
    Alter,
    /// The object was renamed (from `Options::renames`).
    Rename,
    /// The object is in both but cannot be changed in place: dropped and created again,
    /// or dropped before a change it depends on and created after it.
    Recreate,
}

/// One step of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub object: Object,
    pub action: Action,
    /// One line for people: `add column public.doctor.nickname (text)`.
    pub summary: String,
    /// The SQL, one statement per entry, without the trailing semicolon.
    pub statements: Vec<String>,
    pub hazards: Vec<Hazard>,
    /// The statements cannot run inside a transaction block (`CREATE INDEX CONCURRENTLY`):
    /// a migration holding this change must be `-- no-transaction`.
    pub no_transaction: bool,
}

/// Something that can go wrong, or cost, when a change runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hazard {
    pub kind: HazardKind,
    pub message: String,
}

/// The kinds of hazard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HazardKind {
    /// Data is deleted: a dropped table or column, a recreated enum's removed value.
    DataLoss,
    /// The table is rewritten under an ACCESS EXCLUSIVE lock (a column type change).
    TableRewrite,
    /// An existing table is locked against writes (or reads) while the statement scans it.
    Lock,
    /// A drop and an add that look like a rename: say so in `Options::renames` to keep the
    /// data.
    PossibleRename,
    /// The statement can fail on existing data (a new NOT NULL, unique or check).
    MayFail,
    /// The object is dropped and created again (dependants too), briefly missing.
    Recreate,
}

impl HazardKind {
    /// The kind as the header prints it.
    pub fn label(self) -> &'static str {
        match self {
            HazardKind::DataLoss => "data loss",
            HazardKind::TableRewrite => "table rewrite",
            HazardKind::Lock => "lock",
            HazardKind::PossibleRename => "possible rename",
            HazardKind::MayFail => "may fail",
            HazardKind::Recreate => "recreate",
        }
    }
}

/// The result of `diff`: the changes, in the order they must run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub changes: Vec<Change>,
}

impl Diff {
    /// True when the two catalogs are the same.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// True when some change cannot run inside a transaction block.
    pub fn no_transaction(&self) -> bool {
        self.changes.iter().any(|c| c.no_transaction)
    }

    /// Every hazard, with the change it belongs to.
    pub fn hazards(&self) -> impl Iterator<Item = (&Change, &Hazard)> {
        self.changes
            .iter()
            .flat_map(|c| c.hazards.iter().map(move |h| (c, h)))
    }

    /// The SQL of every change, in order, each statement ending with `;`. Starts with a
    /// `-- no-transaction` line when a change needs it (then each statement commits on its
    /// own). Empty for an empty diff.
    pub fn script(&self) -> String {
        let mut out = String::new();
        if self.no_transaction() {
            out.push_str("-- no-transaction\n\n");
        }
        for change in &self.changes {
            for statement in &change.statements {
                out.push_str(statement.trim_end());
                out.push_str(";\n");
            }
            if !change.statements.is_empty() {
                out.push('\n');
            }
        }
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }

    /// A `--` comment block for the top of a generated migration: one line per change, then
    /// every hazard. Empty for an empty diff.
    pub fn header(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut out = String::from("-- Changes:\n");
        for change in &self.changes {
            out.push_str(&format!("--   {}\n", one_line(&change.summary)));
        }
        let hazards: Vec<_> = self.hazards().collect();
        if hazards.is_empty() {
            out.push_str("-- Hazards: none\n");
        } else {
            out.push_str("-- Hazards:\n");
            for (change, hazard) in hazards {
                out.push_str(&format!(
                    "--   {} ({}): {}\n",
                    hazard.kind.label(),
                    change.object,
                    one_line(&hazard.message)
                ));
            }
        }
        out
    }

    /// `header()` then `script()`: a whole migration file. When the script is
    /// `-- no-transaction`, that line comes first, as the migration runner requires.
    pub fn migration(&self) -> String {
        let script = self.script();
        let header = self.header();
        match script.strip_prefix("-- no-transaction\n\n") {
            Some(rest) => format!("-- no-transaction\n{header}\n{rest}\n"),
            None if script.is_empty() => String::new(),
            None => format!("{header}\n{script}\n"),
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The changes that turn `from` into `to`, in a safe execution order. Pure: no database is
/// read; `diff(c, c, _)` is empty for any catalog `c`.
pub fn diff(from: &Catalog, to: &Catalog, options: &Options) -> Diff {
    let mut plan = plan::Plan::new(options);
    let renamed = renames::apply(from, to, &options.renames, &mut plan);
    let from = renamed.as_ref().unwrap_or(from);
    let ctx = plan::Context::new(from, to, options);
    misc::diff_schemas_and_extensions(&ctx, &mut plan);
    types::diff_types(&ctx, &mut plan);
    misc::diff_sequences(&ctx, &mut plan);
    routines::diff_functions(&ctx, &mut plan);
    tables::diff_tables(&ctx, &mut plan);
    views::diff_views(&ctx, &mut plan);
    routines::diff_triggers(&ctx, &mut plan);
    Diff {
        changes: plan.finish(),
    }
}

#[cfg(test)]
mod tests;
