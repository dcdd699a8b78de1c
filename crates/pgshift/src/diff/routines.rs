//! Functions, procedures and triggers.
//!
//! Functions are created (`CREATE OR REPLACE`) before tables, whose defaults and checks may
//! call them, with `check_function_bodies` off so a SQL function may read a table created
//! later in the script (as pg_dump does). A function whose result type or kind changes is
//! dropped and created again, and the triggers calling it with it. Dropped functions go
//! after the tables and views that used them.

use super::plan::{Context, Phase, Plan};
use super::sql::{comment_on, qualified, quote_ident};
use super::views::mentions;
use super::{Action, Hazard, HazardKind, Object, ObjectKind};
use crate::catalog::{Function, RowTypeUse, Trigger};

fn object(f: &Function) -> Object {
    Object {
        kind: if f.procedure {
            ObjectKind::Procedure
        } else {
            ObjectKind::Function
        },
        schema: f.schema.clone(),
        name: format!("{}({})", f.name, f.identity_arguments),
        table: None,
    }
}

fn signature(f: &Function) -> String {
    format!(
        "{} {}({})",
        if f.procedure { "PROCEDURE" } else { "FUNCTION" },
        qualified(&f.schema, &f.name),
        f.identity_arguments
    )
}

fn same_identity(a: &Function, b: &Function) -> bool {
    a.schema == b.schema && a.name == b.name && a.identity_arguments == b.identity_arguments
}

fn is_sql(f: &Function) -> bool {
    f.definition.contains("\n LANGUAGE sql")
}

/// Where a function is created: after the relation whose row type its signature uses.
fn create_phase(f: &Function) -> Phase {
    match f.row_type {
        RowTypeUse::None => Phase::CreateFunctions,
        RowTypeUse::Table => Phase::CreateTableRowFunctions,
        RowTypeUse::View => Phase::CreateViewRowFunctions,
    }
}

/// Where a function is dropped: before the relation whose row type its signature uses.
fn drop_phase(f: &Function) -> Phase {
    match f.row_type {
        RowTypeUse::None => Phase::DropFunctions,
        RowTypeUse::Table => Phase::DropTableRowFunctions,
        RowTypeUse::View => Phase::DropViewRowFunctions,
    }
}

pub(super) fn diff_functions(ctx: &Context, plan: &mut Plan) {
    // The phases whose first SQL function turns body checks off for the rest of the script.
    let mut bodies_unchecked: Vec<Phase> = Vec::new();
    for new in &ctx.to.functions {
        let old = ctx.from.functions.iter().find(|f| same_identity(f, new));
        let display = format!("{}.{}({})", new.schema, new.name, new.identity_arguments);
        let noun = object(new).kind.noun();
        let phase = create_phase(new);
        let mut statements = Vec::new();
        if is_sql(new) && !bodies_unchecked.contains(&phase) && old.is_none_or(|o| o != new) {
            statements.push("SET check_function_bodies = off".to_string());
            bodies_unchecked.push(phase);
        }
        match old {
            None => {
                statements.push(new.definition.trim_end().to_string());
                plan.add(
                    phase,
                    object(new),
                    Action::Create,
                    format!("create {noun} {display}"),
                    statements,
                    Vec::new(),
                );
            }
            Some(old) if old.definition != new.definition => {
                let recreate = old.result != new.result || old.procedure != new.procedure;
                let mut hazards = Vec::new();
                if recreate {
                    plan.recreated_functions
                        .insert((new.schema.clone(), new.name.clone()));
                    statements.push(format!("DROP {}", signature(old)));
                    hazards.push(Hazard {
                        kind: HazardKind::Recreate,
                        message: format!(
                            "{noun} {display} changes its result type, so it is dropped and created again; triggers and views calling it are recreated, other callers fail until then"
                        ),
                    });
                }
                statements.push(new.definition.trim_end().to_string());
                plan.add(
                    phase,
                    object(new),
                    if recreate {
                        Action::Recreate
                    } else {
                        Action::Alter
                    },
                    format!(
                        "{} {noun} {display}",
                        if recreate { "recreate" } else { "replace" }
                    ),
                    statements,
                    hazards,
                );
            }
            Some(_) => {}
        }
        let old_comment = old.and_then(|o| o.comment.as_deref());
        let recreated = plan
            .recreated_functions
            .contains(&(new.schema.clone(), new.name.clone()));
        if old_comment != new.comment.as_deref() || (recreated && new.comment.is_some()) {
            plan.add(
                Phase::Comments,
                object(new),
                Action::Alter,
                format!("comment on {noun} {display}"),
                vec![comment_on(&signature(new), new.comment.as_deref())],
                Vec::new(),
            );
        }
    }
    for old in &ctx.from.functions {
        if !ctx.to.functions.iter().any(|f| same_identity(f, old)) {
            plan.add(
                drop_phase(old),
                object(old),
                Action::Drop,
                format!(
                    "drop {} {}.{}({})",
                    object(old).kind.noun(),
                    old.schema,
                    old.name,
                    old.identity_arguments
                ),
                vec![format!("DROP {}", signature(old))],
                Vec::new(),
            );
        }
    }
}

fn trigger_object(t: &Trigger) -> Object {
    Object {
        kind: ObjectKind::Trigger,
        schema: t.schema.clone(),
        name: t.name.clone(),
        table: Some(t.table.clone()),
    }
}

fn same_trigger(a: &Trigger, b: &Trigger) -> bool {
    a.schema == b.schema && a.table == b.table && a.name == b.name
}

fn on(t: &Trigger) -> String {
    format!(
        "{} ON {}",
        quote_ident(&t.name),
        qualified(&t.schema, &t.table)
    )
}

pub(super) fn diff_triggers(ctx: &Context, plan: &mut Plan) {
    let relation_gone = |plan: &Plan, t: &Trigger| {
        let key = (t.schema.clone(), t.table.clone());
        plan.dropped_tables.contains(&key)
            || plan.recreated_views.contains(&key)
            || (ctx.from.find_view(&t.schema, &t.table).is_some()
                && ctx.to.find_view(&t.schema, &t.table).is_none())
    };
    let calls_recreated = |plan: &Plan, t: &Trigger| {
        plan.recreated_functions
            .iter()
            .any(|(schema, name)| mentions(&t.definition, schema, name))
    };
    for old in &ctx.from.triggers {
        let new = ctx.to.triggers.iter().find(|t| same_trigger(t, old));
        let changed =
            new.is_none_or(|n| n.definition != old.definition) || calls_recreated(plan, old);
        if changed && !relation_gone(plan, old) {
            plan.add(
                Phase::DropTriggers,
                trigger_object(old),
                if new.is_some() {
                    Action::Recreate
                } else {
                    Action::Drop
                },
                format!("drop trigger {} on {}.{}", old.name, old.schema, old.table),
                vec![format!("DROP TRIGGER {}", on(old))],
                Vec::new(),
            );
        }
    }
    for new in &ctx.to.triggers {
        let old = ctx.from.triggers.iter().find(|t| same_trigger(t, new));
        let recreate = old.is_none_or(|o| o.definition != new.definition)
            || calls_recreated(plan, new)
            || old.is_some_and(|o| relation_gone(plan, o));
        let table = qualified(&new.schema, &new.table);
        if recreate {
            let mut statements = vec![new.definition.clone()];
            if new.enabled != "O" {
                statements.push(enable(new, &table));
            }
            plan.add(
                Phase::CreateTriggers,
                trigger_object(new),
                if old.is_some() {
                    Action::Recreate
                } else {
                    Action::Create
                },
                format!(
                    "create trigger {} on {}.{}",
                    new.name, new.schema, new.table
                ),
                statements,
                Vec::new(),
            );
        } else if old.is_some_and(|o| o.enabled != new.enabled) {
            plan.add(
                Phase::CreateTriggers,
                trigger_object(new),
                Action::Alter,
                format!(
                    "enable/disable trigger {} on {}.{}",
                    new.name, new.schema, new.table
                ),
                vec![enable(new, &table)],
                Vec::new(),
            );
        }
        let old_comment = if recreate {
            None
        } else {
            old.and_then(|o| o.comment.as_deref())
        };
        if old_comment != new.comment.as_deref() {
            plan.add(
                Phase::Comments,
                trigger_object(new),
                Action::Alter,
                format!(
                    "comment on trigger {} on {}.{}",
                    new.name, new.schema, new.table
                ),
                vec![comment_on(
                    &format!("TRIGGER {}", on(new)),
                    new.comment.as_deref(),
                )],
                Vec::new(),
            );
        }
    }
}

fn enable(t: &Trigger, table: &str) -> String {
    let what = match t.enabled.as_str() {
        "D" => "DISABLE TRIGGER",
        "R" => "ENABLE REPLICA TRIGGER",
        "A" => "ENABLE ALWAYS TRIGGER",
        _ => "ENABLE TRIGGER",
    };
    format!("ALTER TABLE {table} {what} {}", quote_ident(&t.name))
}
