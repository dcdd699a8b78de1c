//! Views and materialized views.
//!
//! A view cannot be altered in place when its query or columns change (CREATE OR REPLACE
//! VIEW only appends columns), and PostgreSQL refuses to change a column that a view
//! reads. So a changed view, and every view that reads a relation whose columns change
//! (or a view that is itself recreated, or a recreated type or function), is dropped
//! before the table changes (dependants first) and created after them (dependencies
//! first). Dependencies are found in the printed definitions, which name every relation
//! schema-qualified.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::{Context, Phase, Plan};
use super::sql::{comment_on, qualified, quote_ident, strip_semicolon};
use super::tables::{add_index_on, drop_index_on};
use super::{Action, Hazard, HazardKind, Object, ObjectKind};
use crate::catalog::View;

type Key = (String, String);

fn key(view: &View) -> Key {
    (view.schema.clone(), view.name.clone())
}

fn object(view: &View) -> Object {
    Object {
        kind: if view.materialized {
            ObjectKind::MaterializedView
        } else {
            ObjectKind::View
        },
        schema: view.schema.clone(),
        name: view.name.clone(),
        table: None,
    }
}

fn kind_sql(view: &View) -> &'static str {
    if view.materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    }
}

/// Whether `text` names `schema.name` as a whole token (quoted as PostgreSQL prints it).
pub(super) fn mentions(text: &str, schema: &str, name: &str) -> bool {
    let needle = qualified(schema, name);
    let mut from = 0;
    while let Some(at) = text[from..].find(&needle) {
        let start = from + at;
        let end = start + needle.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == '"';
        if !before.is_some_and(|c| ident(c) || c == '.') && !after.is_some_and(ident) {
            return true;
        }
        from = end;
    }
    false
}

fn reads(view: &View, relation: &Key) -> bool {
    mentions(&view.definition, &relation.0, &relation.1)
}

/// Views in an order where each comes after the views it reads (`dependants_first`
/// reverses it).
fn ordered(views: Vec<&View>, dependants_first: bool) -> Vec<&View> {
    let mut done: BTreeSet<Key> = BTreeSet::new();
    let mut out = Vec::new();
    let all: BTreeMap<Key, &View> = views.iter().map(|v| (key(v), *v)).collect();
    fn visit<'a>(
        v: &'a View,
        all: &BTreeMap<Key, &'a View>,
        done: &mut BTreeSet<Key>,
        out: &mut Vec<&'a View>,
        depth: usize,
    ) {
        if done.contains(&key(v)) || depth > all.len() {
            return;
        }
        for (k, other) in all {
            if k != &key(v) && reads(v, k) {
                visit(other, all, done, out, depth + 1);
            }
        }
        if done.insert(key(v)) {
            out.push(v);
        }
    }
    for v in &views {
        visit(v, &all, &mut done, &mut out, 0);
    }
    if dependants_first {
        out.reverse();
    }
    out
}

pub(super) fn diff_views(ctx: &Context, plan: &mut Plan) {
    let mut dropped: Vec<&View> = Vec::new();
    let mut recreated: BTreeSet<Key> = BTreeSet::new();
    for old in &ctx.from.views {
        match ctx.to.find_view(&old.schema, &old.name) {
            None => dropped.push(old),
            Some(new) => {
                let changed = old.definition != new.definition
                    || old.materialized != new.materialized
                    || old
                        .columns
                        .iter()
                        .map(|c| (&c.name, &c.ty, &c.collation))
                        .ne(new.columns.iter().map(|c| (&c.name, &c.ty, &c.collation)));
                let depends = plan.touched_relations.iter().any(|r| reads(old, r))
                    || old.columns.iter().any(|c| {
                        plan.recreated_types
                            .contains(&(c.ty.schema.clone(), c.ty.name.clone()))
                    })
                    || plan
                        .recreated_functions
                        .iter()
                        .any(|f| mentions(&old.definition, &f.0, &f.1));
                if changed || depends {
                    recreated.insert(key(old));
                }
            }
        }
    }
    // Views reading a dropped or recreated view are recreated too, to a fixpoint.
    loop {
        let before = recreated.len();
        for old in &ctx.from.views {
            if recreated.contains(&key(old)) || ctx.to.find_view(&old.schema, &old.name).is_none() {
                continue;
            }
            let gone = dropped
                .iter()
                .map(|v| key(v))
                .chain(recreated.iter().cloned())
                .any(|k| reads(old, &k));
            if gone {
                recreated.insert(key(old));
            }
        }
        if recreated.len() == before {
            break;
        }
    }
    plan.recreated_views = recreated.clone();
    for v in &dropped {
        plan.touched_relations.insert(key(v));
    }
    for k in &recreated {
        plan.touched_relations.insert(k.clone());
    }

    let to_drop: Vec<&View> = ctx
        .from
        .views
        .iter()
        .filter(|v| recreated.contains(&key(v)) || dropped.iter().any(|d| key(d) == key(v)))
        .collect();
    for view in ordered(to_drop, true) {
        let action = if recreated.contains(&key(view)) {
            Action::Recreate
        } else {
            Action::Drop
        };
        let mut hazards = Vec::new();
        if view.materialized {
            hazards.push(Hazard {
                kind: if action == Action::Drop {
                    HazardKind::DataLoss
                } else {
                    HazardKind::Recreate
                },
                message: format!(
                    "materialized view {}.{} is dropped{}",
                    view.schema,
                    view.name,
                    if action == Action::Drop {
                        ""
                    } else {
                        " and filled again by its query"
                    }
                ),
            });
        }
        plan.add(
            Phase::DropViews,
            object(view),
            action,
            format!(
                "drop {} {}.{}{}",
                object(view).kind.noun(),
                view.schema,
                view.name,
                if action == Action::Recreate {
                    " (to create it again)"
                } else {
                    ""
                }
            ),
            vec![format!(
                "DROP {} {}",
                kind_sql(view),
                qualified(&view.schema, &view.name)
            )],
            hazards,
        );
    }

    let to_create: Vec<&View> = ctx
        .to
        .views
        .iter()
        .filter(|v| recreated.contains(&key(v)) || ctx.from.find_view(&v.schema, &v.name).is_none())
        .collect();
    for view in ordered(to_create, false) {
        let existed = recreated.contains(&key(view));
        let name = qualified(&view.schema, &view.name);
        plan.add(
            Phase::CreateViews,
            object(view),
            if existed {
                Action::Recreate
            } else {
                Action::Create
            },
            format!(
                "create {} {}.{}",
                object(view).kind.noun(),
                view.schema,
                view.name
            ),
            vec![format!(
                "CREATE {} {name} AS\n{}",
                kind_sql(view),
                strip_semicolon(&view.definition)
            )],
            Vec::new(),
        );
        for index in &view.indexes {
            index_on_created(ctx, plan, view, index);
        }
        comments(plan, view, None);
    }

    // Kept views: indexes of materialized views and comments.
    for old in &ctx.from.views {
        let Some(new) = ctx.to.find_view(&old.schema, &old.name) else {
            continue;
        };
        if recreated.contains(&key(old)) {
            continue;
        }
        for index in &old.indexes {
            if !new.indexes.contains(index) {
                let action = if new.indexes.iter().any(|i| i.name == index.name) {
                    Action::Recreate
                } else {
                    Action::Drop
                };
                drop_index_on(ctx, plan, index_object(new, &index.name), index, action);
            }
        }
        for index in &new.indexes {
            if !old.indexes.contains(index) {
                let action = if old.indexes.iter().any(|i| i.name == index.name) {
                    Action::Recreate
                } else {
                    Action::Create
                };
                let relation = qualified(&new.schema, &new.name);
                add_index_on(
                    ctx,
                    plan,
                    index_object(new, &index.name),
                    &relation,
                    index,
                    false,
                    action,
                    Phase::CreateViewIndexes,
                );
            }
        }
        comments(plan, new, Some(old));
    }
}

fn index_object(view: &View, name: &str) -> Object {
    Object {
        kind: ObjectKind::Index,
        schema: view.schema.clone(),
        name: name.to_string(),
        table: Some(view.name.clone()),
    }
}

fn index_on_created(ctx: &Context, plan: &mut Plan, view: &View, index: &crate::catalog::Index) {
    let relation = qualified(&view.schema, &view.name);
    add_index_on(
        ctx,
        plan,
        index_object(view, &index.name),
        &relation,
        index,
        true,
        Action::Create,
        Phase::CreateViewIndexes,
    );
    if index.comment.is_some() {
        plan.add(
            Phase::Comments,
            index_object(view, &index.name),
            Action::Alter,
            format!("comment on index {}.{}", view.schema, index.name),
            vec![comment_on(
                &format!("INDEX {}", qualified(&view.schema, &index.name)),
                index.comment.as_deref(),
            )],
            Vec::new(),
        );
    }
}

/// Comments of a created view (`old` None) or the changed comments of a kept one.
fn comments(plan: &mut Plan, view: &View, old: Option<&View>) {
    let name = qualified(&view.schema, &view.name);
    if old.map_or(view.comment.is_some(), |o| o.comment != view.comment) {
        plan.add(
            Phase::Comments,
            object(view),
            Action::Alter,
            format!(
                "comment on {} {}.{}",
                object(view).kind.noun(),
                view.schema,
                view.name
            ),
            vec![comment_on(
                &format!("{} {name}", kind_sql(view)),
                view.comment.as_deref(),
            )],
            Vec::new(),
        );
    }
    for column in &view.columns {
        let before = old.and_then(|o| o.columns.iter().find(|c| c.name == column.name));
        let changed = match old {
            None => column.comment.is_some(),
            Some(_) => before.map(|b| &b.comment) != Some(&column.comment),
        };
        if changed {
            plan.add(
                Phase::Comments,
                Object {
                    kind: ObjectKind::Column,
                    schema: view.schema.clone(),
                    name: column.name.clone(),
                    table: Some(view.name.clone()),
                },
                Action::Alter,
                format!(
                    "comment on column {}.{}.{}",
                    view.schema, view.name, column.name
                ),
                vec![comment_on(
                    &format!("COLUMN {name}.{}", quote_ident(&column.name)),
                    column.comment.as_deref(),
                )],
                Vec::new(),
            );
        }
    }
    if let Some(old) = old {
        // Index comments of kept materialized views.
        for index in &view.indexes {
            let before = old.indexes.iter().find(|i| i.name == index.name);
            if before.is_some_and(|b| b.comment != index.comment) {
                plan.add(
                    Phase::Comments,
                    index_object(view, &index.name),
                    Action::Alter,
                    format!("comment on index {}.{}", view.schema, index.name),
                    vec![comment_on(
                        &format!("INDEX {}", qualified(&view.schema, &index.name)),
                        index.comment.as_deref(),
                    )],
                    Vec::new(),
                );
            }
        }
    }
}
