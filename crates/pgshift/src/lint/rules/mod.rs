//! The rules, one file each, named as squawk names them (the name is the user-facing id:
//! users look rules up by it). Each rule reads one statement's tree from `crate::sql::tree`
//! (PostgreSQL's own parser, the engine's) and reports `Hit`s; whether a hit becomes a
//! finding, and how severe, is decided in `super::judge` from the project and the target.

use std::collections::HashSet;

use pg_query::protobuf::{self, AlterTableCmd, AlterTableType, ConstrType};
use pg_query::NodeEnum;

mod adding_field_with_default;
mod adding_foreign_key_constraint;
mod adding_not_nullable_field;
mod adding_required_field;
mod adding_serial_primary_key_field;
mod ban_char_field;
mod ban_concurrent_index_creation_in_transaction;
mod ban_drop_column;
mod ban_drop_database;
mod ban_drop_not_null;
mod ban_drop_table;
mod ban_truncate_cascade;
mod changing_column_type;
mod constraint_missing_not_valid;
mod disallowed_unique_constraint;
mod prefer_bigint_over_int;
mod prefer_bigint_over_smallint;
mod prefer_identity;
mod prefer_robust_stmts;
mod prefer_text_field;
mod prefer_timestamp_tz;
mod renaming_column;
mod renaming_table;
mod require_concurrent_index_creation;
mod require_concurrent_index_deletion;
mod require_concurrent_partition_detach;
mod require_concurrent_reindex;
mod require_timeout_settings;
mod transaction_nesting;

/// A rule: its id and what it guards against, in one line.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub summary: &'static str,
    check: fn(&NodeEnum, &mut Cx<'_>),
}

/// Every rule, in the order they are checked.
pub const RULES: &[Rule] = &[
    Rule {
        name: "adding-field-with-default",
        summary: "ADD COLUMN with a volatile default (or any default before PostgreSQL 11) rewrites the table",
        check: adding_field_with_default::check,
    },
    Rule {
        name: "adding-foreign-key-constraint",
        summary: "a foreign key without NOT VALID scans the table under a lock that blocks writes to both tables",
        check: adding_foreign_key_constraint::check,
    },
    Rule {
        name: "adding-not-nullable-field",
        summary: "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE",
        check: adding_not_nullable_field::check,
    },
    Rule {
        name: "adding-required-field",
        summary: "ADD COLUMN ... NOT NULL without a default fails on a table that has rows",
        check: adding_required_field::check,
    },
    Rule {
        name: "adding-serial-primary-key-field",
        summary: "ADD PRIMARY KEY (or a new PRIMARY KEY column) builds the index under ACCESS EXCLUSIVE",
        check: adding_serial_primary_key_field::check,
    },
    Rule {
        name: "ban-char-field",
        summary: "char(n) pads values with spaces; use text",
        check: ban_char_field::check,
    },
    Rule {
        name: "ban-concurrent-index-creation-in-transaction",
        summary: "CREATE/DROP INDEX CONCURRENTLY cannot run in the migration's transaction: it fails",
        check: ban_concurrent_index_creation_in_transaction::check,
    },
    Rule {
        name: "ban-drop-column",
        summary: "dropping a column loses its data and breaks code that reads it",
        check: ban_drop_column::check,
    },
    Rule {
        name: "ban-drop-database",
        summary: "DROP DATABASE deletes a whole database",
        check: ban_drop_database::check,
    },
    Rule {
        name: "ban-drop-not-null",
        summary: "DROP NOT NULL lets a column hold NULL that code reads as always present",
        check: ban_drop_not_null::check,
    },
    Rule {
        name: "ban-drop-table",
        summary: "dropping a table loses its data and breaks code that reads it",
        check: ban_drop_table::check,
    },
    Rule {
        name: "ban-truncate-cascade",
        summary: "TRUNCATE ... CASCADE empties every table that refers to the ones named",
        check: ban_truncate_cascade::check,
    },
    Rule {
        name: "changing-column-type",
        summary: "ALTER COLUMN ... TYPE rewrites the table and its indexes under ACCESS EXCLUSIVE",
        check: changing_column_type::check,
    },
    Rule {
        name: "constraint-missing-not-valid",
        summary: "a CHECK constraint without NOT VALID (or validated in the same transaction) scans the table under ACCESS EXCLUSIVE",
        check: constraint_missing_not_valid::check,
    },
    Rule {
        name: "disallowed-unique-constraint",
        summary: "a UNIQUE constraint without USING INDEX builds its index under ACCESS EXCLUSIVE",
        check: disallowed_unique_constraint::check,
    },
    Rule {
        name: "prefer-bigint-over-int",
        summary: "a 32-bit integer column can run out; widening it later rewrites the table",
        check: prefer_bigint_over_int::check,
    },
    Rule {
        name: "prefer-bigint-over-smallint",
        summary: "a 16-bit integer column can run out; widening it later rewrites the table",
        check: prefer_bigint_over_smallint::check,
    },
    Rule {
        name: "prefer-identity",
        summary: "serial columns: identity columns replace them",
        check: prefer_identity::check,
    },
    Rule {
        name: "prefer-robust-stmts",
        summary: "in a -- no-transaction migration, statements should survive a retry (IF [NOT] EXISTS)",
        check: prefer_robust_stmts::check,
    },
    Rule {
        name: "prefer-text-field",
        summary: "varchar(n): changing the limit later takes ACCESS EXCLUSIVE; text with a CHECK does not",
        check: prefer_text_field::check,
    },
    Rule {
        name: "prefer-timestamp-tz",
        summary: "timestamp without time zone depends on the writer's time zone; use timestamptz",
        check: prefer_timestamp_tz::check,
    },
    Rule {
        name: "renaming-column",
        summary: "renaming a column breaks the code still running against the old name",
        check: renaming_column::check,
    },
    Rule {
        name: "renaming-table",
        summary: "renaming a table breaks the code still running against the old name",
        check: renaming_table::check,
    },
    Rule {
        name: "require-concurrent-index-creation",
        summary: "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds",
        check: require_concurrent_index_creation::check,
    },
    Rule {
        name: "require-concurrent-index-deletion",
        summary: "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table",
        check: require_concurrent_index_deletion::check,
    },
    Rule {
        name: "require-concurrent-partition-detach",
        summary: "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the parent (PostgreSQL 14+)",
        check: require_concurrent_partition_detach::check,
    },
    Rule {
        name: "require-concurrent-reindex",
        summary: "REINDEX without CONCURRENTLY blocks writes while it rebuilds",
        check: require_concurrent_reindex::check,
    },
    Rule {
        name: "require-timeout-settings",
        summary: "a lock-taking statement without lock_timeout queues every query behind it",
        check: require_timeout_settings::check,
    },
    Rule {
        name: "transaction-nesting",
        summary: "BEGIN/COMMIT in a migration pgshift runs in a transaction: refused",
        check: transaction_nesting::check,
    },
];

/// Whether `name` is a rule's id.
pub fn is_rule(name: &str) -> bool {
    let name = canonical(name);
    RULES.iter().any(|r| r.name == name)
}

/// A rule's id from a name squawk also accepts for it (`prefer-timestamptz`).
pub fn canonical(name: &str) -> &str {
    match name {
        "prefer-timestamptz" => "prefer-timestamp-tz",
        name => name,
    }
}

/// Runs every rule on one statement.
pub(crate) fn check_statement(node: &NodeEnum, cx: &mut Cx<'_>) {
    // Read once for the six column-type rules.
    cx.column_types = column_types(node);
    for rule in RULES {
        (rule.check)(node, cx);
    }
}

/// What a statement risks, which decides its severity once the table is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Risk {
    /// Holds a lock for as long as the table takes to scan, rewrite or index: nothing on an
    /// empty table, blocking on a large one.
    Lock,
    /// Loses data: blocking when the table has rows.
    DataLoss,
    /// Fails outright when the table has rows.
    FailsIfPopulated,
    /// Breaks code that runs while (or after) the migration deploys; not about size.
    Breaking,
    /// Advice about the file itself.
    Advice,
    /// Fails, or does what a migration must never do, whatever the table: always blocking.
    Fails,
}

/// A table as a statement names it (names as the parser folded them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRef {
    pub schema: Option<String>,
    pub name: String,
}

impl TableRef {
    pub(crate) fn of(r: &protobuf::RangeVar) -> TableRef {
        TableRef {
            schema: (!r.schemaname.is_empty()).then(|| r.schemaname.clone()),
            name: r.relname.clone(),
        }
    }

    /// From a qualified name given as a list of `String` nodes (`DROP TABLE a.b`).
    pub(crate) fn of_names(names: &[pg_query::protobuf::Node]) -> Option<TableRef> {
        let parts: Vec<&str> = names
            .iter()
            .filter_map(|n| match &n.node {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        match parts.as_slice() {
            [name] => Some(TableRef {
                schema: None,
                name: name.to_string(),
            }),
            [.., schema, name] => Some(TableRef {
                schema: Some(schema.to_string()),
                name: name.to_string(),
            }),
            [] => None,
        }
    }

    /// The name as SQL would write it (quoted only when it must be), for messages and for
    /// `to_regclass`.
    pub fn sql(&self) -> String {
        let quote = |n: &str| {
            let plain = n
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if plain {
                n.to_string()
            } else {
                crate::db::quote_ident(n)
            }
        };
        match &self.schema {
            Some(s) => format!("{}.{}", quote(s), quote(&self.name)),
            None => quote(&self.name),
        }
    }

    /// The same table, as far as names tell: an unqualified name matches any schema.
    pub(crate) fn same(&self, other: &TableRef) -> bool {
        self.name == other.name
            && match (&self.schema, &other.schema) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// What a rule found in a statement.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub rule: &'static str,
    /// Byte offset in the statement of what is flagged, when the tree says.
    pub location: Option<usize>,
    pub table: Option<TableRef>,
    /// The column, for statements on one (what the Rust-code check looks for).
    pub column: Option<String>,
    pub risk: Risk,
    pub message: String,
    pub help: String,
}

/// What the lint knows while it reads a run of migrations in order.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Tables created earlier in this run (this migration or an earlier pending one).
    pub created: Vec<TableRef>,
    /// The current file is a `-- no-transaction` migration.
    pub no_transaction: bool,
    /// The current file set `lock_timeout` itself.
    pub lock_timeout_set: bool,
    /// require-timeout-settings already reported in the current file.
    pub timeout_reported: bool,
    /// Indexes created earlier in this run.
    pub created_indexes: Vec<TableRef>,
    /// Constraints added NOT VALID earlier in the current file: (table, constraint).
    pub not_valid: HashSet<(String, String)>,
}

impl State {
    pub(crate) fn is_new(&self, table: &TableRef) -> bool {
        self.created.iter().any(|t| t.same(table))
    }

    /// Starts a new file (what is created stays known: a pending migration's tables).
    pub(crate) fn next_file(&mut self, no_transaction: bool) {
        self.no_transaction = no_transaction;
        self.lock_timeout_set = false;
        self.timeout_reported = false;
        self.not_valid.clear();
    }

    /// Learns from a statement once the rules have seen it (and reported `hits`).
    pub(crate) fn observe(&mut self, node: &NodeEnum, hits: &[Hit]) {
        if hits.iter().any(|h| h.rule == "require-timeout-settings") {
            self.timeout_reported = true;
        }
        match node {
            NodeEnum::CreateStmt(c) => {
                if let Some(r) = &c.relation {
                    self.created.push(TableRef::of(r));
                }
            }
            NodeEnum::IndexStmt(i) if !i.idxname.is_empty() => {
                self.created_indexes.push(TableRef {
                    schema: i
                        .relation
                        .as_ref()
                        .filter(|r| !r.schemaname.is_empty())
                        .map(|r| r.schemaname.clone()),
                    name: i.idxname.clone(),
                });
            }
            NodeEnum::CreateTableAsStmt(c) => {
                if let Some(r) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                    self.created.push(TableRef::of(r));
                }
            }
            NodeEnum::VariableSetStmt(v) if v.name.eq_ignore_ascii_case("lock_timeout") => {
                self.lock_timeout_set = true;
            }
            NodeEnum::AlterTableStmt(a) => {
                let table = a.relation.as_ref().map(TableRef::of);
                for cmd in alter_cmds(a) {
                    if let Some(c) = added_constraint(cmd) {
                        if c.skip_validation {
                            if let Some(t) = &table {
                                self.not_valid.insert((t.name.clone(), c.conname.clone()));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// What the rules may read: the run's state and the settings.
pub(crate) struct Cx<'a> {
    pub state: &'a State,
    /// The PostgreSQL major version the migration will run on.
    pub postgres_version: u32,
    /// pgshift's session sets a `lock_timeout` (`[migrate] session_lock_timeout` > 0).
    pub session_lock_timeout: bool,
    pub hits: Vec<Hit>,
    /// The statement's `column_types`, set by `check_statement`.
    pub column_types: Vec<ColumnType>,
}

impl Cx<'_> {
    pub(crate) fn hit(
        &mut self,
        rule: &'static str,
        location: i32,
        table: Option<TableRef>,
        risk: Risk,
        message: String,
        help: String,
    ) {
        self.hits.push(Hit {
            rule,
            location: usize::try_from(location).ok(),
            table,
            column: None,
            risk,
            message,
            help,
        });
    }

    /// Names the column of the hit just reported.
    pub(crate) fn on_column(&mut self, column: &str) {
        if let Some(hit) = self.hits.last_mut() {
            hit.column = Some(column.to_string());
        }
    }
}

/// The commands of an `ALTER TABLE`.
pub(crate) fn alter_cmds(a: &protobuf::AlterTableStmt) -> impl Iterator<Item = &AlterTableCmd> {
    a.cmds.iter().filter_map(|c| match &c.node {
        Some(NodeEnum::AlterTableCmd(cmd)) => Some(cmd.as_ref()),
        _ => None,
    })
}

/// The `ALTER TABLE` of a statement on a table (not an index, view or sequence), with its
/// table.
pub(crate) fn alter_table(node: &NodeEnum) -> Option<(&protobuf::AlterTableStmt, TableRef)> {
    match node {
        NodeEnum::AlterTableStmt(a) if a.objtype == protobuf::ObjectType::ObjectTable as i32 => {
            Some((a, TableRef::of(a.relation.as_ref()?)))
        }
        _ => None,
    }
}

pub(crate) fn is(cmd: &AlterTableCmd, t: AlterTableType) -> bool {
    cmd.subtype == t as i32
}

/// The constraint an `ADD CONSTRAINT` adds.
pub(crate) fn added_constraint(cmd: &AlterTableCmd) -> Option<&protobuf::Constraint> {
    if !is(cmd, AlterTableType::AtAddConstraint) {
        return None;
    }
    match cmd.def.as_ref()?.node.as_ref()? {
        NodeEnum::Constraint(c) => Some(c.as_ref()),
        _ => None,
    }
}

/// The column an `ADD COLUMN` adds.
pub(crate) fn added_column(cmd: &AlterTableCmd) -> Option<&protobuf::ColumnDef> {
    if !is(cmd, AlterTableType::AtAddColumn) {
        return None;
    }
    match cmd.def.as_ref()?.node.as_ref()? {
        NodeEnum::ColumnDef(c) => Some(c.as_ref()),
        _ => None,
    }
}

/// The constraints written on a column definition.
pub(crate) fn column_constraints(
    col: &protobuf::ColumnDef,
) -> impl Iterator<Item = &protobuf::Constraint> {
    col.constraints.iter().filter_map(|c| match &c.node {
        Some(NodeEnum::Constraint(c)) => Some(c.as_ref()),
        _ => None,
    })
}

pub(crate) fn constr(c: &protobuf::Constraint, t: ConstrType) -> bool {
    c.contype == t as i32
}

/// A column's type as a statement writes it: a column of `CREATE TABLE`, `ADD COLUMN`, or
/// the new type of `ALTER COLUMN ... TYPE`.
pub(crate) struct ColumnType {
    pub table: TableRef,
    pub column: String,
    /// The type's own name as the parser resolves it, without `pg_catalog.`: `int4` for
    /// `integer`, `bpchar` for `char(n)`, `varchar`, `timestamp`, `serial`.
    pub type_name: String,
    /// A length or precision was written (`varchar(20)`).
    pub has_length: bool,
    pub location: i32,
}

/// Advice on every column the statement declares or retypes (`Cx::column_types`) whose
/// type `matches`: the type rules (`ban-char-field`, `prefer-bigint-over-int`, ...) differ
/// only in the types they flag and their words.
pub(super) fn advise_on_column_types(
    cx: &mut Cx<'_>,
    rule: &'static str,
    matches: impl Fn(&ColumnType) -> bool,
    message: impl Fn(&str) -> String,
    help: &str,
) {
    let columns = std::mem::take(&mut cx.column_types);
    for col in columns.iter().filter(|c| matches(c)) {
        let column = format!("{}.{}", col.table.sql(), col.column);
        cx.hit(
            rule,
            col.location,
            Some(col.table.clone()),
            Risk::Advice,
            message(&column),
            help.into(),
        );
        cx.on_column(&col.column);
    }
    cx.column_types = columns;
}

/// The column types a statement writes.
pub(crate) fn column_types(node: &NodeEnum) -> Vec<ColumnType> {
    let of = |table: &TableRef, column: &str, t: Option<&protobuf::TypeName>, location: i32| {
        let t = t?;
        let names: Vec<&str> = t
            .names
            .iter()
            .filter_map(|n| match &n.node {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        // `"char"` (one byte) is spelled `char` unqualified; SQL's `char(n)` is pg_catalog's
        // `bpchar`. Only pg_catalog's or unqualified names are the built-in types.
        let name = match names.as_slice() {
            [name] | ["pg_catalog", name] => name.to_string(),
            _ => return None,
        };
        Some(ColumnType {
            table: table.clone(),
            column: column.to_string(),
            type_name: name,
            has_length: !t.typmods.is_empty(),
            location,
        })
    };
    let mut out = Vec::new();
    match node {
        NodeEnum::CreateStmt(c) => {
            let Some(table) = c.relation.as_ref().map(TableRef::of) else {
                return out;
            };
            for e in &c.table_elts {
                if let Some(NodeEnum::ColumnDef(col)) = &e.node {
                    out.extend(of(
                        &table,
                        &col.colname,
                        col.type_name.as_ref(),
                        col.location,
                    ));
                }
            }
        }
        _ => {
            let Some((a, table)) = alter_table(node) else {
                return out;
            };
            for cmd in alter_cmds(a) {
                if let Some(col) = added_column(cmd) {
                    out.extend(of(
                        &table,
                        &col.colname,
                        col.type_name.as_ref(),
                        col.location,
                    ));
                } else if is(cmd, AlterTableType::AtAlterColumnType) {
                    if let Some(NodeEnum::ColumnDef(col)) =
                        cmd.def.as_ref().and_then(|d| d.node.as_ref())
                    {
                        out.extend(of(&table, &cmd.name, col.type_name.as_ref(), col.location));
                    }
                }
            }
        }
    }
    out
}

/// How a help text points at a `-- no-transaction` migration for a statement that needs
/// one (`CONCURRENTLY`).
pub(crate) fn own_no_transaction_file(state: &State, what: &str) -> String {
    if state.no_transaction {
        what.to_string()
    } else {
        format!(
            "{what}, in a migration of its own whose first line is `-- no-transaction` \
             (CONCURRENTLY cannot run inside a transaction)"
        )
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The hits of every rule on `sql` (read as one migration), as `rule: message` lines.
    pub fn hits(sql: &str, no_transaction: bool) -> Vec<String> {
        hits_with(sql, no_transaction, 15, true)
    }

    pub fn hits_with(
        sql: &str,
        no_transaction: bool,
        postgres_version: u32,
        session_lock_timeout: bool,
    ) -> Vec<String> {
        let mut state = State::default();
        state.next_file(no_transaction);
        let mut out = Vec::new();
        for statement in crate::sql::statements(sql, true).unwrap() {
            let node = crate::sql::tree(&statement).unwrap();
            let mut cx = Cx {
                state: &state,
                postgres_version,
                session_lock_timeout,
                hits: Vec::new(),
                column_types: Vec::new(),
            };
            check_statement(&node, &mut cx);
            let hits = cx.hits;
            state.observe(&node, &hits);
            out.extend(
                hits.into_iter()
                    .map(|h| format!("{}: {}", h.rule, h.message)),
            );
        }
        out
    }

    /// The hits of one rule.
    pub fn rule_hits(rule: &str, sql: &str, no_transaction: bool) -> Vec<String> {
        hits(sql, no_transaction)
            .into_iter()
            .filter(|h| h.starts_with(&format!("{rule}: ")))
            .collect()
    }
}
