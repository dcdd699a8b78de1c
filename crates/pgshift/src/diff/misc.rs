//! Schemas, extensions and sequences.

use super::plan::{Context, Phase, Plan};
use super::sql::{comment_on, qualified, quote_ident};
use super::{Action, Hazard, HazardKind, Object, ObjectKind};
use crate::catalog::{Catalog, Schema, Sequence};

fn object(kind: ObjectKind, schema: &str, name: &str) -> Object {
    Object {
        kind,
        schema: schema.to_string(),
        name: name.to_string(),
        table: None,
    }
}

/// The schemas of a catalog as objects. A catalog listing none (built by hand, like the
/// `empty` source) stands for an empty database, which has `public`.
fn namespaces(catalog: &Catalog) -> Vec<Schema> {
    if catalog.namespaces.is_empty() {
        vec![Schema {
            name: "public".to_string(),
            comment: Some("standard public schema".to_string()),
        }]
    } else {
        catalog.namespaces.clone()
    }
}

pub(super) fn diff_schemas_and_extensions(ctx: &Context, plan: &mut Plan) {
    let (from_namespaces, to_namespaces) = (namespaces(ctx.from), namespaces(ctx.to));
    for new in &to_namespaces {
        let old = from_namespaces.iter().find(|s| s.name == new.name);
        if old.is_none() {
            plan.add(
                Phase::CreateSchemas,
                object(ObjectKind::Schema, "", &new.name),
                Action::Create,
                format!("create schema {}", new.name),
                vec![format!("CREATE SCHEMA {}", quote_ident(&new.name))],
                Vec::new(),
            );
        }
        if old.map_or(new.comment.is_some(), |o| o.comment != new.comment) {
            plan.add(
                Phase::Comments,
                object(ObjectKind::Schema, "", &new.name),
                Action::Alter,
                format!("comment on schema {}", new.name),
                vec![comment_on(
                    &format!("SCHEMA {}", quote_ident(&new.name)),
                    new.comment.as_deref(),
                )],
                Vec::new(),
            );
        }
    }
    for old in &from_namespaces {
        if !to_namespaces.iter().any(|s| s.name == old.name) {
            plan.add(
                Phase::DropSchemas,
                object(ObjectKind::Schema, "", &old.name),
                Action::Drop,
                format!("drop schema {}", old.name),
                vec![format!("DROP SCHEMA {}", quote_ident(&old.name))],
                Vec::new(),
            );
        }
    }
    for new in &ctx.to.extensions {
        match ctx.from.extensions.iter().find(|e| e.name == new.name) {
            None => plan.add(
                Phase::CreateExtensions,
                object(ObjectKind::Extension, "", &new.name),
                Action::Create,
                format!("create extension {} in schema {}", new.name, new.schema),
                vec![format!(
                    "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                    quote_ident(&new.name),
                    quote_ident(&new.schema)
                )],
                Vec::new(),
            ),
            Some(old) if old.schema != new.schema => plan.add(
                Phase::CreateExtensions,
                object(ObjectKind::Extension, "", &new.name),
                Action::Alter,
                format!("move extension {} to schema {}", new.name, new.schema),
                vec![format!(
                    "ALTER EXTENSION {} SET SCHEMA {}",
                    quote_ident(&new.name),
                    quote_ident(&new.schema)
                )],
                Vec::new(),
            ),
            Some(_) => {}
        }
    }
    for old in &ctx.from.extensions {
        if !ctx.to.extensions.iter().any(|e| e.name == old.name) {
            plan.add(
                Phase::DropExtensions,
                object(ObjectKind::Extension, "", &old.name),
                Action::Drop,
                format!("drop extension {}", old.name),
                vec![format!("DROP EXTENSION {}", quote_ident(&old.name))],
                vec![Hazard {
                    kind: HazardKind::DataLoss,
                    message: format!("extension {} and its objects are dropped", old.name),
                }],
            );
        }
    }
}

fn sequence_options(s: &Sequence) -> String {
    format!(
        "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
        s.data_type,
        s.increment,
        s.min_value,
        s.max_value,
        s.start,
        s.cache,
        if s.cycle { "CYCLE" } else { "NO CYCLE" }
    )
}

fn owned_by(s: &Sequence) -> String {
    match &s.owned_by {
        Some((table, column)) => format!(
            "OWNED BY {}.{}",
            qualified(&s.schema, table),
            quote_ident(column)
        ),
        None => "OWNED BY NONE".to_string(),
    }
}

/// Whether the owner of `s` (in `from`) is gone in `to`, which drops `s` with it.
fn owner_dropped(ctx: &Context, s: &Sequence) -> bool {
    let Some((table, column)) = &s.owned_by else {
        return false;
    };
    match ctx.to.find_table(&s.schema, table) {
        None => true,
        Some(t) => !t.columns.iter().any(|c| &c.name == column),
    }
}

pub(super) fn diff_sequences(ctx: &Context, plan: &mut Plan) {
    for new in &ctx.to.sequences {
        let name = qualified(&new.schema, &new.name);
        let obj = object(ObjectKind::Sequence, &new.schema, &new.name);
        let old = ctx
            .from
            .sequences
            .iter()
            .find(|s| s.schema == new.schema && s.name == new.name);
        match old {
            None => {
                plan.add(
                    Phase::CreateSequences,
                    obj.clone(),
                    Action::Create,
                    format!("create sequence {}.{}", new.schema, new.name),
                    vec![format!("CREATE SEQUENCE {name} {}", sequence_options(new))],
                    Vec::new(),
                );
                if new.owned_by.is_some() {
                    plan.add(
                        Phase::SequenceOwners,
                        obj.clone(),
                        Action::Alter,
                        format!("sequence {}.{} owned by its column", new.schema, new.name),
                        vec![format!("ALTER SEQUENCE {name} {}", owned_by(new))],
                        Vec::new(),
                    );
                }
            }
            Some(old) => {
                let same_options = (
                    &old.data_type,
                    old.start,
                    old.increment,
                    old.min_value,
                    old.max_value,
                    old.cache,
                    old.cycle,
                ) == (
                    &new.data_type,
                    new.start,
                    new.increment,
                    new.min_value,
                    new.max_value,
                    new.cache,
                    new.cycle,
                );
                if !same_options {
                    plan.add(
                        Phase::CreateSequences,
                        obj.clone(),
                        Action::Alter,
                        format!("alter sequence {}.{}", new.schema, new.name),
                        vec![format!("ALTER SEQUENCE {name} {}", sequence_options(new))],
                        Vec::new(),
                    );
                }
                if old.owned_by != new.owned_by {
                    // Released before columns change (dropping the old owner would drop
                    // the sequence), taken by the new owner after.
                    if old.owned_by.is_some() {
                        plan.add(
                            Phase::ReleaseSequences,
                            obj.clone(),
                            Action::Alter,
                            format!(
                                "sequence {}.{} released by its column",
                                new.schema, new.name
                            ),
                            vec![format!("ALTER SEQUENCE {name} OWNED BY NONE")],
                            Vec::new(),
                        );
                    }
                    if new.owned_by.is_some() {
                        plan.add(
                            Phase::SequenceOwners,
                            obj.clone(),
                            Action::Alter,
                            format!("sequence {}.{} owned by its column", new.schema, new.name),
                            vec![format!("ALTER SEQUENCE {name} {}", owned_by(new))],
                            Vec::new(),
                        );
                    }
                }
            }
        }
        if old.map_or(new.comment.is_some(), |o| o.comment != new.comment) {
            plan.add(
                Phase::Comments,
                obj,
                Action::Alter,
                format!("comment on sequence {}.{}", new.schema, new.name),
                vec![comment_on(
                    &format!("SEQUENCE {name}"),
                    new.comment.as_deref(),
                )],
                Vec::new(),
            );
        }
    }
    for old in &ctx.from.sequences {
        if ctx
            .to
            .sequences
            .iter()
            .any(|s| s.schema == old.schema && s.name == old.name)
        {
            continue;
        }
        if owner_dropped(ctx, old) {
            plan.implicitly_dropped_sequences
                .insert((old.schema.clone(), old.name.clone()));
            continue;
        }
        plan.add(
            Phase::DropSequences,
            object(ObjectKind::Sequence, &old.schema, &old.name),
            Action::Drop,
            format!("drop sequence {}.{}", old.schema, old.name),
            vec![format!(
                "DROP SEQUENCE {}",
                qualified(&old.schema, &old.name)
            )],
            Vec::new(),
        );
    }
}
