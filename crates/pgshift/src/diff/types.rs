//! Enums, domains and composite types.
//!
//! An enum that only gains values gets `ADD VALUE ... BEFORE/AFTER` in the right place; one
//! that loses or reorders values, a domain whose base type changes and a composite whose
//! attributes cannot be altered in place are recreated: the old type is renamed out of the
//! way, the new one created, the columns converted (through text, in `tables.rs`) and the
//! old type dropped.

use std::collections::BTreeSet;

use super::plan::{Context, Phase, Plan};
use super::sql::{comment_on, qualified, quote_ident, quote_literal, short_name};
use super::{Action, Hazard, HazardKind, Object, ObjectKind};
use crate::catalog::{Catalog, ColumnType, Composite, Domain, Enum};

type Key = (String, String);

/// A user-defined type of the catalog, whatever its kind.
#[derive(Clone, Copy)]
enum UserType<'a> {
    Enum(&'a Enum),
    Domain(&'a Domain),
    Composite(&'a Composite),
}

impl<'a> UserType<'a> {
    fn key(self) -> Key {
        match self {
            UserType::Enum(e) => (e.schema.clone(), e.name.clone()),
            UserType::Domain(d) => (d.schema.clone(), d.name.clone()),
            UserType::Composite(c) => (c.schema.clone(), c.name.clone()),
        }
    }

    fn kind(self) -> ObjectKind {
        match self {
            UserType::Enum(_) => ObjectKind::Enum,
            UserType::Domain(_) => ObjectKind::Domain,
            UserType::Composite(_) => ObjectKind::Composite,
        }
    }

    fn object(self) -> Object {
        let (schema, name) = self.key();
        Object {
            kind: self.kind(),
            schema,
            name,
            table: None,
        }
    }

    /// The user types this one is built on.
    fn uses(self) -> Vec<Key> {
        let key = |t: &ColumnType| (t.schema.clone(), t.name.clone());
        match self {
            UserType::Enum(_) => Vec::new(),
            UserType::Domain(d) => vec![key(&d.base)],
            UserType::Composite(c) => c.attributes.iter().map(|a| key(&a.ty)).collect(),
        }
    }

    fn comment(self) -> Option<&'a str> {
        match self {
            UserType::Enum(e) => e.comment.as_deref(),
            UserType::Domain(d) => d.comment.as_deref(),
            UserType::Composite(c) => c.comment.as_deref(),
        }
    }

    fn drop_sql(self) -> String {
        let (schema, name) = self.key();
        match self {
            UserType::Domain(_) => format!("DROP DOMAIN {}", qualified(&schema, &name)),
            _ => format!("DROP TYPE {}", qualified(&schema, &name)),
        }
    }

    fn comment_target(self) -> String {
        let (schema, name) = self.key();
        match self {
            UserType::Domain(_) => format!("DOMAIN {}", qualified(&schema, &name)),
            _ => format!("TYPE {}", qualified(&schema, &name)),
        }
    }

    fn same(self, other: UserType) -> bool {
        match (self, other) {
            (UserType::Enum(a), UserType::Enum(b)) => a == b,
            (UserType::Domain(a), UserType::Domain(b)) => a == b,
            (UserType::Composite(a), UserType::Composite(b)) => a == b,
            _ => false,
        }
    }
}

fn user_types(catalog: &Catalog) -> Vec<UserType<'_>> {
    catalog
        .enums
        .iter()
        .map(UserType::Enum)
        .chain(catalog.domains.iter().map(UserType::Domain))
        .chain(catalog.composites.iter().map(UserType::Composite))
        .collect()
}

fn find<'a>(types: &[UserType<'a>], key: &Key) -> Option<UserType<'a>> {
    types.iter().copied().find(|t| &t.key() == key)
}

/// `types` with each after the types it uses (`reverse`: before).
fn ordered<'a>(types: Vec<UserType<'a>>, reverse: bool) -> Vec<UserType<'a>> {
    let keys: BTreeSet<Key> = types.iter().map(|t| t.key()).collect();
    let mut done: BTreeSet<Key> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < types.len() {
        let before = out.len();
        for t in &types {
            if done.contains(&t.key()) {
                continue;
            }
            if t.uses()
                .iter()
                .all(|u| !keys.contains(u) || done.contains(u) || u == &t.key())
            {
                done.insert(t.key());
                out.push(*t);
            }
        }
        if out.len() == before {
            // A cycle cannot be built in PostgreSQL; keep the rest in catalog order.
            out.extend(types.iter().filter(|t| !done.contains(&t.key())).copied());
            break;
        }
    }
    if reverse {
        out.reverse();
    }
    out
}

fn create_sql(t: UserType) -> Vec<String> {
    let (schema, name) = t.key();
    let name = qualified(&schema, &name);
    match t {
        UserType::Enum(e) => {
            let labels: Vec<String> = e.labels.iter().map(|l| quote_literal(l)).collect();
            vec![format!(
                "CREATE TYPE {name} AS ENUM ({})",
                labels.join(", ")
            )]
        }
        UserType::Domain(d) => {
            let mut sql = format!("CREATE DOMAIN {name} AS {}", d.base.sql);
            if let Some(default) = &d.default {
                sql.push_str(&format!(" DEFAULT {default}"));
            }
            if !d.nullable {
                sql.push_str(" NOT NULL");
            }
            for check in &d.checks {
                sql.push_str(&format!(
                    " CONSTRAINT {} {}",
                    quote_ident(&check.name),
                    check.definition
                ));
            }
            vec![sql]
        }
        UserType::Composite(c) => {
            let attributes: Vec<String> = c
                .attributes
                .iter()
                .map(|a| format!("    {} {}", quote_ident(&a.name), a.ty.sql))
                .collect();
            vec![format!(
                "CREATE TYPE {name} AS (\n{}\n)",
                attributes.join(",\n")
            )]
        }
    }
}

pub(super) fn diff_types(ctx: &Context, plan: &mut Plan) {
    let from = user_types(ctx.from);
    let to = user_types(ctx.to);
    let mut created = Vec::new();
    let mut recreated: Vec<(UserType, UserType)> = Vec::new();
    let mut altered: Vec<(UserType, UserType)> = Vec::new();
    for new in &to {
        match find(&from, &new.key()) {
            None => created.push(*new),
            Some(old) if old.same(*new) => {}
            Some(old) if old.kind() != new.kind() => recreated.push((old, *new)),
            Some(old) => {
                if alterable(old, *new) {
                    altered.push((old, *new));
                } else {
                    recreated.push((old, *new));
                }
            }
        }
    }
    let dropped: Vec<UserType> = from
        .iter()
        .copied()
        .filter(|t| find(&to, &t.key()).is_none())
        .collect();
    for (old, _) in &recreated {
        plan.recreated_types.insert(old.key());
    }

    // Recreated types: the old one is renamed away first, so the new one (and the types
    // built on it) can be created under the name.
    for (old, new) in &recreated {
        let (schema, name) = old.key();
        let old_name = short_name(&[&name], "pgshift_old");
        let kind = if matches!(old, UserType::Domain(_)) {
            "DOMAIN"
        } else {
            "TYPE"
        };
        let mut hazards = vec![Hazard {
            kind: HazardKind::Recreate,
            message: format!(
                "{} {schema}.{name} is created again and every column of that type converted through text, which rewrites their tables",
                new.kind().noun()
            ),
        }];
        if let (UserType::Enum(a), UserType::Enum(b)) = (old, new) {
            let removed: Vec<&String> = a.labels.iter().filter(|l| !b.labels.contains(l)).collect();
            if !removed.is_empty() {
                hazards.push(Hazard {
                    kind: HazardKind::DataLoss,
                    message: format!(
                        "enum {schema}.{name} loses {}: rows holding them make the conversion fail; update them first",
                        removed.iter().map(|l| quote_literal(l)).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        plan.add(
            Phase::CreateTypes,
            new.object(),
            Action::Recreate,
            format!("recreate {} {schema}.{name} (renamed to {old_name} until its columns are converted)", new.kind().noun()),
            vec![format!(
                "ALTER {kind} {} RENAME TO {}",
                qualified(&schema, &name),
                quote_ident(&old_name)
            )],
            hazards,
        );
        plan.add(
            Phase::DropOldTypes,
            new.object(),
            Action::Recreate,
            format!("drop the old {} {schema}.{old_name}", new.kind().noun()),
            vec![format!("DROP {kind} {}", qualified(&schema, &old_name))],
            Vec::new(),
        );
    }
    let mut to_create: Vec<UserType> = created.clone();
    to_create.extend(recreated.iter().map(|(_, n)| *n));
    for t in ordered(to_create, false) {
        let (schema, name) = t.key();
        let existed = recreated.iter().any(|(o, _)| o.key() == t.key());
        plan.add(
            Phase::CreateTypes,
            t.object(),
            if existed {
                Action::Recreate
            } else {
                Action::Create
            },
            format!("create {} {schema}.{name}", t.kind().noun()),
            create_sql(t),
            Vec::new(),
        );
        if t.comment().is_some() {
            comment(plan, t);
        }
        if let UserType::Composite(c) = t {
            for a in c.attributes.iter().filter(|a| a.comment.is_some()) {
                attribute_comment(plan, c, &a.name, a.comment.as_deref());
            }
        }
    }
    for (old, new) in &altered {
        alter(ctx, plan, *old, *new);
    }
    for t in ordered(dropped, true) {
        let (schema, name) = t.key();
        plan.add(
            Phase::DropTypes,
            t.object(),
            Action::Drop,
            format!("drop {} {schema}.{name}", t.kind().noun()),
            vec![t.drop_sql()],
            Vec::new(),
        );
    }
}

/// Whether `old` can become `new` with ALTER statements.
fn alterable(old: UserType, new: UserType) -> bool {
    match (old, new) {
        (UserType::Enum(a), UserType::Enum(b)) => {
            // Every old label kept, in the same relative order.
            let kept: Vec<&String> = b.labels.iter().filter(|l| a.labels.contains(l)).collect();
            kept.len() == a.labels.len() && kept.iter().zip(&a.labels).all(|(x, y)| *x == y)
        }
        (UserType::Domain(a), UserType::Domain(b)) => a.base == b.base,
        (UserType::Composite(a), UserType::Composite(b)) => {
            // Kept attributes in the same order, new ones at the end.
            let kept: Vec<&str> = a
                .attributes
                .iter()
                .filter(|x| b.attributes.iter().any(|y| y.name == x.name))
                .map(|x| x.name.as_str())
                .collect();
            let prefix: Vec<&str> = b
                .attributes
                .iter()
                .take(kept.len())
                .map(|y| y.name.as_str())
                .collect();
            kept == prefix
        }
        _ => false,
    }
}

fn comment(plan: &mut Plan, t: UserType) {
    let (schema, name) = t.key();
    plan.add(
        Phase::Comments,
        t.object(),
        Action::Alter,
        format!("comment on {} {schema}.{name}", t.kind().noun()),
        vec![comment_on(&t.comment_target(), t.comment())],
        Vec::new(),
    );
}

fn attribute_comment(plan: &mut Plan, c: &Composite, attribute: &str, text: Option<&str>) {
    plan.add(
        Phase::Comments,
        Object {
            kind: ObjectKind::Column,
            schema: c.schema.clone(),
            name: attribute.to_string(),
            table: Some(c.name.clone()),
        },
        Action::Alter,
        format!("comment on attribute {}.{}.{attribute}", c.schema, c.name),
        vec![comment_on(
            &format!(
                "COLUMN {}.{}",
                qualified(&c.schema, &c.name),
                quote_ident(attribute)
            ),
            text,
        )],
        Vec::new(),
    );
}

fn alter(ctx: &Context, plan: &mut Plan, old: UserType, new: UserType) {
    let (schema, name) = new.key();
    let qname = qualified(&schema, &name);
    let mut statements = Vec::new();
    let mut hazards = Vec::new();
    let mut no_transaction = false;
    match (old, new) {
        (UserType::Enum(a), UserType::Enum(b)) => {
            for (i, label) in b.labels.iter().enumerate() {
                if a.labels.contains(label) {
                    continue;
                }
                let position = if i > 0 {
                    format!(" AFTER {}", quote_literal(&b.labels[i - 1]))
                } else if let Some(first) = a.labels.first() {
                    format!(" BEFORE {}", quote_literal(first))
                } else {
                    String::new()
                };
                statements.push(format!(
                    "ALTER TYPE {qname} ADD VALUE {}{position}",
                    quote_literal(label)
                ));
                // A value added in a transaction cannot be used before it commits.
                if uses_label(ctx.to, &qname, label) {
                    no_transaction = true;
                }
            }
            if no_transaction {
                hazards.push(Hazard {
                    kind: HazardKind::Lock,
                    message: format!(
                        "a new value of {schema}.{name} is used by this diff, and a value added in a transaction cannot be used before it commits: the migration runs without a transaction"
                    ),
                });
            }
        }
        (UserType::Domain(a), UserType::Domain(b)) => {
            if a.default != b.default {
                statements.push(match &b.default {
                    Some(d) => format!("ALTER DOMAIN {qname} SET DEFAULT {d}"),
                    None => format!("ALTER DOMAIN {qname} DROP DEFAULT"),
                });
            }
            if a.nullable != b.nullable {
                statements.push(if b.nullable {
                    format!("ALTER DOMAIN {qname} DROP NOT NULL")
                } else {
                    hazards.push(Hazard {
                        kind: HazardKind::MayFail,
                        message: format!(
                            "NOT NULL on domain {schema}.{name} fails if a column of it holds NULL"
                        ),
                    });
                    format!("ALTER DOMAIN {qname} SET NOT NULL")
                });
            }
            for check in &a.checks {
                if !b
                    .checks
                    .iter()
                    .any(|c| c.name == check.name && c.definition == check.definition)
                {
                    statements.push(format!(
                        "ALTER DOMAIN {qname} DROP CONSTRAINT {}",
                        quote_ident(&check.name)
                    ));
                }
            }
            for check in &b.checks {
                if !a
                    .checks
                    .iter()
                    .any(|c| c.name == check.name && c.definition == check.definition)
                {
                    if check.definition.ends_with("NOT VALID") {
                        statements.push(format!(
                            "ALTER DOMAIN {qname} ADD CONSTRAINT {} {}",
                            quote_ident(&check.name),
                            check.definition
                        ));
                    } else {
                        statements.push(format!(
                            "ALTER DOMAIN {qname} ADD CONSTRAINT {} {} NOT VALID",
                            quote_ident(&check.name),
                            check.definition
                        ));
                        statements.push(format!(
                            "ALTER DOMAIN {qname} VALIDATE CONSTRAINT {}",
                            quote_ident(&check.name)
                        ));
                    }
                    hazards.push(Hazard {
                        kind: HazardKind::MayFail,
                        message: format!(
                            "check {} fails if a value of domain {schema}.{name} violates it",
                            check.name
                        ),
                    });
                }
            }
        }
        (UserType::Composite(a), UserType::Composite(b)) => {
            let mut parts = Vec::new();
            for x in &a.attributes {
                match b.attributes.iter().find(|y| y.name == x.name) {
                    None => {
                        parts.push(format!("DROP ATTRIBUTE {}", quote_ident(&x.name)));
                        hazards.push(Hazard {
                            kind: HazardKind::DataLoss,
                            message: format!(
                                "attribute {} of composite type {schema}.{name} is dropped, and \
                                 with it its value in every column of that type",
                                x.name
                            ),
                        });
                    }
                    Some(y) if y.ty != x.ty => parts.push(format!(
                        "ALTER ATTRIBUTE {} TYPE {}",
                        quote_ident(&y.name),
                        y.ty.sql
                    )),
                    _ => {}
                }
            }
            for y in &b.attributes {
                if !a.attributes.iter().any(|x| x.name == y.name) {
                    parts.push(format!(
                        "ADD ATTRIBUTE {} {}",
                        quote_ident(&y.name),
                        y.ty.sql
                    ));
                }
            }
            if !parts.is_empty() {
                statements.push(format!("ALTER TYPE {qname} {}", parts.join(", ")));
            }
            for y in &b.attributes {
                let before = a.attributes.iter().find(|x| x.name == y.name);
                if before.map_or(y.comment.is_some(), |x| x.comment != y.comment) {
                    attribute_comment(plan, b, &y.name, y.comment.as_deref());
                }
            }
        }
        _ => {}
    }
    if !statements.is_empty() {
        plan.push(
            Phase::CreateTypes,
            super::Change {
                object: new.object(),
                action: Action::Alter,
                summary: format!("alter {} {schema}.{name}", new.kind().noun()),
                statements,
                hazards,
                no_transaction,
            },
        );
    }
    if old.comment() != new.comment() {
        comment(plan, new);
    }
}

/// Whether some expression of `catalog` uses `'label'::type`.
fn uses_label(catalog: &Catalog, qualified_type: &str, label: &str) -> bool {
    let needle = format!("{}::{qualified_type}", quote_literal(label));
    let texts = catalog
        .tables
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .filter_map(|c| c.default.as_deref().or(c.generated.as_deref()))
                .chain(t.checks.iter().map(|c| c.definition.as_str()))
                .chain(t.indexes.iter().map(|i| i.definition.as_str()))
        })
        .chain(catalog.views.iter().map(|v| v.definition.as_str()))
        .chain(catalog.functions.iter().map(|f| f.definition.as_str()))
        .chain(catalog.domains.iter().filter_map(|d| d.default.as_deref()));
    for text in texts {
        if text.contains(&needle) {
            return true;
        }
    }
    false
}
