//! The order changes run in: every change is filed under a phase, phases run in order, and
//! changes keep their filing order within a phase.
//!
//! Drops of dependants come first (triggers, views, foreign keys, constraints, indexes),
//! then dropped tables (so a created table may reuse their index and constraint names),
//! renames, creations in dependency order (schemas, extensions, types, sequences,
//! functions, tables, columns, keys, indexes, foreign keys, views, triggers, comments),
//! and the drops of what others depended on last (functions, sequences, types,
//! extensions, schemas).

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change, Hazard, Object, Options};
use crate::catalog::Catalog;

// Some phases are filled as object families land.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    DropTriggers,
    /// Functions whose signature uses a view's row type: before that view can go.
    DropViewRowFunctions,
    DropViews,
    /// Functions whose signature uses a table's row type: before that table can go.
    DropTableRowFunctions,
    DropForeignKeys,
    DropConstraints,
    DropIndexes,
    /// Generated columns recreated (expression or type changed): before the columns they
    /// read change.
    DropGeneratedColumns,
    ReleaseSequences,
    DropTables,
    Renames,
    CreateSchemas,
    CreateExtensions,
    CreateTypes,
    CreateSequences,
    CreateFunctions,
    CreateTables,
    AlterColumns,
    /// Functions whose signature uses a table's row type: once the table is there.
    CreateTableRowFunctions,
    DropOldTypes,
    CreateConstraints,
    CreateIndexes,
    CreateForeignKeys,
    SequenceOwners,
    CreateViews,
    /// Functions whose signature uses a view's row type: once the view is there.
    CreateViewRowFunctions,
    CreateViewIndexes,
    CreateTriggers,
    Comments,
    DropFunctions,
    DropSequences,
    DropTypes,
    DropExtensions,
    DropSchemas,
}

/// The two catalogs and the options, shared by every object family's diff.
pub(super) struct Context<'a> {
    pub from: &'a Catalog,
    pub to: &'a Catalog,
    pub options: &'a Options,
}

impl<'a> Context<'a> {
    pub fn new(from: &'a Catalog, to: &'a Catalog, options: &'a Options) -> Self {
        Context { from, to, options }
    }
}

/// The changes filed so far, and what earlier families tell later ones.
#[allow(dead_code)]
pub(super) struct Plan {
    phases: BTreeMap<Phase, Vec<Change>>,
    /// Relations (schema, name) whose columns change, or that are dropped or recreated:
    /// views reading them are dropped before and created after.
    pub touched_relations: BTreeSet<(String, String)>,
    /// Types (schema, name) dropped and created again (enums that lose or reorder values):
    /// columns of these types are converted, views over them recreated.
    pub recreated_types: BTreeSet<(String, String)>,
    /// Functions (schema, name) dropped and created again: triggers calling them too.
    pub recreated_functions: BTreeSet<(String, String)>,
    /// Tables (schema, name) dropped: their triggers, indexes and constraints go with them.
    pub dropped_tables: BTreeSet<(String, String)>,
    /// Sequences (schema, name) that a dropped table or column owns, so go with it.
    pub implicitly_dropped_sequences: BTreeSet<(String, String)>,
    /// Views (schema, name) dropped and created again: their triggers too.
    pub recreated_views: BTreeSet<(String, String)>,
}

impl Plan {
    pub fn new(_options: &Options) -> Self {
        Plan {
            phases: BTreeMap::new(),
            touched_relations: BTreeSet::new(),
            recreated_types: BTreeSet::new(),
            recreated_functions: BTreeSet::new(),
            dropped_tables: BTreeSet::new(),
            implicitly_dropped_sequences: BTreeSet::new(),
            recreated_views: BTreeSet::new(),
        }
    }

    /// Files a change under `phase`.
    pub fn push(&mut self, phase: Phase, change: Change) {
        self.phases.entry(phase).or_default().push(change);
    }

    /// Files a change built from its parts.
    pub fn add(
        &mut self,
        phase: Phase,
        object: Object,
        action: Action,
        summary: String,
        statements: Vec<String>,
        hazards: Vec<Hazard>,
    ) {
        self.push(
            phase,
            Change {
                object,
                action,
                summary,
                statements,
                hazards,
                no_transaction: false,
            },
        );
    }

    /// The changes in execution order.
    pub fn finish(self) -> Vec<Change> {
        self.phases.into_values().flatten().collect()
    }
}
