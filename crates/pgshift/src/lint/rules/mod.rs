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
mod ban_drop_column;
mod ban_drop_table;
mod changing_column_type;
mod constraint_missing_not_valid;
mod disallowed_unique_constraint;
mod prefer_robust_stmts;
mod renaming_column;
mod renaming_table;
mod require_concurrent_index_creation;
mod require_timeout_settings;

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
        name: "ban-drop-column",
        summary: "dropping a column loses its data and breaks code that reads it",
        check: ban_drop_column::check,
    },
    Rule {
        name: "ban-drop-table",
        summary: "dropping a table loses its data and breaks code that reads it",
        check: ban_drop_table::check,
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
        name: "prefer-robust-stmts",
        summary: "in a -- no-transaction migration, statements should survive a retry (IF [NOT] EXISTS)",
        check: prefer_robust_stmts::check,
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
        name: "require-timeout-settings",
        summary: "a lock-taking statement without lock_timeout queues every query behind it",
        check: require_timeout_settings::check,
    },
];

/// Whether `name` is a rule's id.
pub fn is_rule(name: &str) -> bool {
    RULES.iter().any(|r| r.name == name)
}

/// Runs every rule on one statement.
pub(crate) fn check_statement(node: &NodeEnum, cx: &mut Cx<'_>) {
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
