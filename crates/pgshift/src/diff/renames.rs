//! `Options::renames`: each rename becomes an `ALTER ... RENAME` and is applied to a copy of
//! the `from` catalog, so the rest of the diff compares like with like. Names inside
//! printed definitions (index and constraint definitions, foreign keys of other tables,
//! trigger definitions, defaults) are rewritten as PostgreSQL would print them after the
//! rename; views reading a renamed relation or column are recreated (PostgreSQL keeps a
//! view's column names through a rename, which the target's view may not have).
//!
//! A rename whose old name is not in `from`, or whose new name already is, is skipped: it
//! was already done.

use super::plan::{Phase, Plan};
use super::sql::{qualified, quote_ident};
use super::{Action, Object, ObjectKind, Rename};
use crate::catalog::{Catalog, ColumnType};

/// The `from` catalog with the renames applied, or None when there are none.
///
/// A renamed table's constraints, indexes and owned sequences keep their old names in
/// PostgreSQL (`doctor_pkey` stays `doctor_pkey` after `RENAME TO physician`), while a
/// schema that creates the table under its new name has `physician_pkey`. Such a pair (old
/// table's name as prefix in `from`, new table's name with the same suffix in `to`) is
/// renamed too, so the key is not dropped and rebuilt (which a referencing foreign key
/// would forbid) and nothing is dropped before the table's rename has run.
pub(super) fn apply(
    from: &Catalog,
    to: &Catalog,
    renames: &[Rename],
    plan: &mut Plan,
) -> Option<Catalog> {
    if renames.is_empty() {
        return None;
    }
    let mut catalog = from.clone();
    // Relations and types first, so a column's `table` (its new name) is found.
    let rank = |r: &Rename| match r.kind {
        ObjectKind::Column
        | ObjectKind::Index
        | ObjectKind::PrimaryKey
        | ObjectKind::Unique
        | ObjectKind::ForeignKey
        | ObjectKind::Check
        | ObjectKind::Exclusion => 1,
        _ => 0,
    };
    let mut ordered: Vec<&Rename> = renames.iter().collect();
    ordered.sort_by_key(|r| rank(r));
    let mut renamed_tables = Vec::new();
    for rename in ordered {
        if apply_one(&mut catalog, rename, plan) && rename.kind == ObjectKind::Table {
            renamed_tables.push(rename);
        }
    }
    for table in renamed_tables {
        for implied in implied_by_table_rename(&catalog, to, table) {
            apply_one(&mut catalog, &implied, plan);
        }
    }
    Some(catalog)
}

/// Applies one rename to `catalog` and plans its statement; false when there was nothing
/// to rename (already done, or the old name is unknown).
fn apply_one(catalog: &mut Catalog, rename: &Rename, plan: &mut Plan) -> bool {
    if rename.from == rename.to {
        return false;
    }
    let statement = match rename.kind {
        ObjectKind::Table => rename_table(catalog, rename, plan),
        ObjectKind::View | ObjectKind::MaterializedView => rename_view(catalog, rename, plan),
        ObjectKind::Column => rename_column(catalog, rename, plan),
        ObjectKind::Enum | ObjectKind::Domain | ObjectKind::Composite => {
            rename_type(catalog, rename)
        }
        ObjectKind::Sequence => rename_sequence(catalog, rename),
        ObjectKind::Index => rename_index(catalog, rename),
        ObjectKind::PrimaryKey
        | ObjectKind::Unique
        | ObjectKind::ForeignKey
        | ObjectKind::Check
        | ObjectKind::Exclusion => rename_constraint(catalog, rename),
        _ => None,
    };
    let Some(statement) = statement else {
        return false;
    };
    plan.add(
        Phase::Renames,
        Object {
            kind: rename.kind,
            schema: rename.schema.clone(),
            name: rename.to.clone(),
            table: rename.table.clone(),
        },
        Action::Rename,
        format!(
            "rename {} {}.{}{} to {}",
            rename.kind.noun(),
            rename.schema,
            rename
                .table
                .as_ref()
                .map(|t| format!("{t}."))
                .unwrap_or_default(),
            rename.from,
            rename.to
        ),
        vec![statement],
        Vec::new(),
    );
    true
}

/// The constraints, indexes and owned sequences of the table `table` renamed (already
/// applied to `catalog`) whose names start with the old table name where `to` has the
/// same object under the new table name: `doctor_pkey` -> `physician_pkey`.
fn implied_by_table_rename(catalog: &Catalog, to: &Catalog, table: &Rename) -> Vec<Rename> {
    let (Some(now), Some(target)) = (
        catalog.find_table(&table.schema, &table.to),
        to.find_table(&table.schema, &table.to),
    ) else {
        return Vec::new();
    };
    let (old_prefix, new_prefix) = (format!("{}_", table.from), format!("{}_", table.to));
    let constraints = |t: &crate::catalog::Table| -> Vec<(ObjectKind, String)> {
        let mut out: Vec<(ObjectKind, String)> = Vec::new();
        out.extend(
            t.primary_key
                .iter()
                .map(|k| (ObjectKind::PrimaryKey, k.name.clone())),
        );
        out.extend(
            t.uniques
                .iter()
                .map(|k| (ObjectKind::Unique, k.name.clone())),
        );
        out.extend(
            t.foreign_keys
                .iter()
                .map(|k| (ObjectKind::ForeignKey, k.name.clone())),
        );
        out.extend(t.checks.iter().map(|k| (ObjectKind::Check, k.name.clone())));
        out.extend(
            t.exclusions
                .iter()
                .map(|k| (ObjectKind::Exclusion, k.name.clone())),
        );
        out
    };
    // Indexes of their own: a key's or exclusion's index follows its constraint.
    let indexes = |t: &crate::catalog::Table| -> Vec<(ObjectKind, String)> {
        let owned = constraints(t);
        t.indexes
            .iter()
            .filter(|i| !owned.iter().any(|(_, name)| *name == i.name))
            .map(|i| (ObjectKind::Index, i.name.clone()))
            .collect()
    };
    let sequences = |c: &Catalog| -> Vec<(ObjectKind, String)> {
        c.sequences
            .iter()
            .filter(|s| s.schema == table.schema)
            .filter(|s| s.owned_by.as_ref().is_some_and(|(t, _)| *t == table.to))
            .map(|s| (ObjectKind::Sequence, s.name.clone()))
            .collect()
    };
    let mut theirs = constraints(target);
    theirs.extend(indexes(target));
    theirs.extend(sequences(to));
    let mut ours = constraints(now);
    ours.extend(indexes(now));
    ours.extend(sequences(catalog));
    let has = |list: &[(ObjectKind, String)], kind: ObjectKind, name: &str| {
        list.iter().any(|(k, n)| *k == kind && n == name)
    };
    ours.iter()
        .filter_map(|(kind, name)| {
            let new = format!("{new_prefix}{}", name.strip_prefix(&old_prefix)?);
            let wanted = has(&theirs, *kind, &new) && !has(&theirs, *kind, name);
            let free = !ours.iter().any(|(_, n)| *n == new);
            (wanted && free).then(|| Rename {
                kind: *kind,
                schema: table.schema.clone(),
                table: (*kind != ObjectKind::Sequence).then(|| table.to.clone()),
                from: name.clone(),
                to: new,
            })
        })
        .collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// `text` with every whole occurrence of `needle` (as printed: quoted if it must be)
/// replaced by `replacement`; a token joined to another by a dot on the side `dots`
/// forbids is left alone.
fn replace_token(text: &str, needle: &str, replacement: &str, allow_dotted: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(needle) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + needle.len()..].chars().next();
        let quoted = needle.starts_with('"');
        let boundary_before = quoted || !before.is_some_and(|c| is_ident_char(c) || c == '"');
        let boundary_after = quoted || !after.is_some_and(|c| is_ident_char(c) || c == '"');
        let dotted = before == Some('.') || after == Some('.');
        out.push_str(&rest[..at]);
        if boundary_before && boundary_after && (allow_dotted || !dotted) {
            out.push_str(replacement);
        } else {
            out.push_str(needle);
        }
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// A column name replaced in an expression of its own table.
fn replace_column(text: &str, old: &str, new: &str) -> String {
    replace_token(text, &quote_ident(old), &quote_ident(new), false)
}

fn rename_table(catalog: &mut Catalog, r: &Rename, plan: &mut Plan) -> Option<String> {
    catalog.find_table(&r.schema, &r.from)?;
    if catalog.find_table(&r.schema, &r.to).is_some() {
        return None;
    }
    let (old_q, new_q) = (qualified(&r.schema, &r.from), qualified(&r.schema, &r.to));
    for table in &mut catalog.tables {
        if table.schema == r.schema && table.name == r.from {
            table.name = r.to.clone();
            for index in &mut table.indexes {
                index.definition = replace_token(&index.definition, &old_q, &new_q, true);
            }
        }
        for fk in &mut table.foreign_keys {
            if fk.referenced_schema == r.schema && fk.referenced_table == r.from {
                fk.referenced_table = r.to.clone();
                fk.definition = replace_token(&fk.definition, &old_q, &new_q, true);
            }
        }
    }
    for trigger in &mut catalog.triggers {
        if trigger.schema == r.schema && trigger.table == r.from {
            trigger.table = r.to.clone();
            trigger.definition = replace_token(&trigger.definition, &old_q, &new_q, true);
        }
    }
    for sequence in &mut catalog.sequences {
        if sequence.schema == r.schema {
            if let Some((table, _)) = &mut sequence.owned_by {
                if *table == r.from {
                    *table = r.to.clone();
                }
            }
        }
    }
    plan.touched_relations
        .insert((r.schema.clone(), r.from.clone()));
    plan.touched_relations
        .insert((r.schema.clone(), r.to.clone()));
    Some(format!(
        "ALTER TABLE {old_q} RENAME TO {}",
        quote_ident(&r.to)
    ))
}

fn rename_view(catalog: &mut Catalog, r: &Rename, plan: &mut Plan) -> Option<String> {
    let view = catalog
        .views
        .iter_mut()
        .find(|v| v.schema == r.schema && v.name == r.from)?;
    view.name = r.to.clone();
    let what = if view.materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    };
    let (old_q, new_q) = (qualified(&r.schema, &r.from), qualified(&r.schema, &r.to));
    for index in &mut view.indexes {
        index.definition = replace_token(&index.definition, &old_q, &new_q, true);
    }
    for trigger in &mut catalog.triggers {
        if trigger.schema == r.schema && trigger.table == r.from {
            trigger.table = r.to.clone();
            trigger.definition = replace_token(&trigger.definition, &old_q, &new_q, true);
        }
    }
    plan.touched_relations
        .insert((r.schema.clone(), r.from.clone()));
    Some(format!(
        "ALTER {what} {old_q} RENAME TO {}",
        quote_ident(&r.to)
    ))
}

fn rename_column(catalog: &mut Catalog, r: &Rename, plan: &mut Plan) -> Option<String> {
    let table_name = r.table.as_ref()?;
    let table = catalog
        .tables
        .iter_mut()
        .find(|t| t.schema == r.schema && &t.name == table_name)?;
    if !table.columns.iter().any(|c| c.name == r.from)
        || table.columns.iter().any(|c| c.name == r.to)
    {
        return None;
    }
    let table_q = qualified(&table.schema, &table.name);
    let (old, new) = (r.from.as_str(), r.to.as_str());
    for column in &mut table.columns {
        if column.name == old {
            column.name = new.to_string();
        }
        if let Some(g) = &mut column.generated {
            *g = replace_column(g, old, new);
        }
    }
    let rename_list = |list: &mut Vec<String>| {
        for c in list.iter_mut() {
            if c == old {
                *c = new.to_string();
            }
        }
    };
    for key in table.primary_key.iter_mut().chain(table.uniques.iter_mut()) {
        rename_list(&mut key.columns);
        key.definition = replace_column(&key.definition, old, new);
    }
    for check in table.checks.iter_mut().chain(table.exclusions.iter_mut()) {
        check.definition = replace_column(&check.definition, old, new);
    }
    for index in &mut table.indexes {
        rename_list(&mut index.columns);
        for c in index.columns.iter_mut() {
            *c = replace_column(c, old, new);
        }
        index.predicate = index
            .predicate
            .as_ref()
            .map(|p| replace_column(p, old, new));
        index.definition = replace_column(&index.definition, old, new);
    }
    for fk in &mut table.foreign_keys {
        rename_list(&mut fk.columns);
        // Only the referencing side: the referenced list is another table's columns
        // (unless the key references its own table).
        let self_reference = fk.referenced_schema == r.schema && &fk.referenced_table == table_name;
        if let Some(at) = fk.definition.find(" REFERENCES ") {
            let (head, tail) = fk.definition.split_at(at);
            let tail = if self_reference {
                replace_column(tail, old, new)
            } else {
                tail.to_string()
            };
            fk.definition = format!("{}{tail}", replace_column(head, old, new));
        }
        if self_reference {
            rename_list(&mut fk.referenced_columns);
        }
    }
    let (schema, name) = (table.schema.clone(), table.name.clone());
    // Foreign keys of other tables that reference the column.
    for other in &mut catalog.tables {
        if other.schema == schema && other.name == name {
            continue;
        }
        for fk in &mut other.foreign_keys {
            if fk.referenced_schema == schema && fk.referenced_table == name {
                rename_list(&mut fk.referenced_columns);
                if let Some(at) = fk.definition.find(" REFERENCES ") {
                    let (head, tail) = fk.definition.split_at(at);
                    fk.definition = format!("{head}{}", replace_column(tail, old, new));
                }
            }
        }
    }
    for trigger in &mut catalog.triggers {
        if trigger.schema == schema && trigger.table == name {
            trigger.definition = replace_column(&trigger.definition, old, new);
        }
    }
    for sequence in &mut catalog.sequences {
        if sequence.schema == schema {
            if let Some((t, c)) = &mut sequence.owned_by {
                if *t == name && c == old {
                    *c = new.to_string();
                }
            }
        }
    }
    plan.touched_relations.insert((schema, name));
    Some(format!(
        "ALTER TABLE {table_q} RENAME COLUMN {} TO {}",
        quote_ident(old),
        quote_ident(new)
    ))
}

fn rename_type(catalog: &mut Catalog, r: &Rename) -> Option<String> {
    let (old_q, new_q) = (qualified(&r.schema, &r.from), qualified(&r.schema, &r.to));
    let keyword = match r.kind {
        ObjectKind::Domain => "DOMAIN",
        _ => "TYPE",
    };
    let found = match r.kind {
        ObjectKind::Enum => catalog
            .enums
            .iter_mut()
            .find(|e| e.schema == r.schema && e.name == r.from)
            .map(|e| e.name = r.to.clone())
            .is_some(),
        ObjectKind::Domain => catalog
            .domains
            .iter_mut()
            .find(|e| e.schema == r.schema && e.name == r.from)
            .map(|e| e.name = r.to.clone())
            .is_some(),
        _ => catalog
            .composites
            .iter_mut()
            .find(|e| e.schema == r.schema && e.name == r.from)
            .map(|e| e.name = r.to.clone())
            .is_some(),
    };
    if !found {
        return None;
    }
    let retype = |ty: &mut ColumnType| {
        if ty.schema == r.schema && ty.name == r.from {
            ty.name = r.to.clone();
            ty.sql = replace_token(&ty.sql, &old_q, &new_q, true);
        }
    };
    for table in &mut catalog.tables {
        for column in &mut table.columns {
            retype(&mut column.ty);
            column.default = column
                .default
                .as_ref()
                .map(|d| replace_token(d, &old_q, &new_q, true));
        }
        for check in &mut table.checks {
            check.definition = replace_token(&check.definition, &old_q, &new_q, true);
        }
    }
    for view in &mut catalog.views {
        for column in &mut view.columns {
            retype(&mut column.ty);
        }
    }
    for domain in &mut catalog.domains {
        retype(&mut domain.base);
    }
    for composite in &mut catalog.composites {
        for attribute in &mut composite.attributes {
            retype(&mut attribute.ty);
        }
    }
    Some(format!(
        "ALTER {keyword} {old_q} RENAME TO {}",
        quote_ident(&r.to)
    ))
}

fn rename_sequence(catalog: &mut Catalog, r: &Rename) -> Option<String> {
    let sequence = catalog
        .sequences
        .iter_mut()
        .find(|s| s.schema == r.schema && s.name == r.from)?;
    sequence.name = r.to.clone();
    let (old_q, new_q) = (qualified(&r.schema, &r.from), qualified(&r.schema, &r.to));
    // Defaults print the sequence as a regclass literal: nextval('public.s'::regclass).
    let (old_lit, new_lit) = (
        format!("'{old_q}'::regclass"),
        format!("'{new_q}'::regclass"),
    );
    for table in &mut catalog.tables {
        for column in &mut table.columns {
            if let Some(d) = &mut column.default {
                *d = d.replace(&old_lit, &new_lit);
            }
        }
    }
    Some(format!(
        "ALTER SEQUENCE {old_q} RENAME TO {}",
        quote_ident(&r.to)
    ))
}

fn rename_index(catalog: &mut Catalog, r: &Rename) -> Option<String> {
    let indexes = catalog
        .tables
        .iter_mut()
        .filter(|t| t.schema == r.schema)
        .flat_map(|t| t.indexes.iter_mut())
        .chain(
            catalog
                .views
                .iter_mut()
                .filter(|v| v.schema == r.schema)
                .flat_map(|v| v.indexes.iter_mut()),
        );
    let mut found = false;
    for index in indexes {
        if index.name == r.from {
            index.name = r.to.clone();
            index.definition = replace_token(
                &index.definition,
                &quote_ident(&r.from),
                &quote_ident(&r.to),
                false,
            );
            found = true;
        }
    }
    found.then(|| {
        format!(
            "ALTER INDEX {} RENAME TO {}",
            qualified(&r.schema, &r.from),
            quote_ident(&r.to)
        )
    })
}

fn rename_constraint(catalog: &mut Catalog, r: &Rename) -> Option<String> {
    let table_name = r.table.as_ref()?;
    let table = catalog
        .tables
        .iter_mut()
        .find(|t| t.schema == r.schema && &t.name == table_name)?;
    let mut found = false;
    for key in table.primary_key.iter_mut().chain(table.uniques.iter_mut()) {
        if key.name == r.from {
            key.name = r.to.clone();
            found = true;
        }
    }
    for check in table.checks.iter_mut().chain(table.exclusions.iter_mut()) {
        if check.name == r.from {
            check.name = r.to.clone();
            found = true;
        }
    }
    for fk in &mut table.foreign_keys {
        if fk.name == r.from {
            fk.name = r.to.clone();
            found = true;
        }
    }
    if !found {
        return None;
    }
    // A key's or exclusion's index takes the constraint's new name.
    for index in &mut table.indexes {
        if index.name == r.from {
            index.name = r.to.clone();
            index.definition = replace_token(
                &index.definition,
                &quote_ident(&r.from),
                &quote_ident(&r.to),
                false,
            );
        }
    }
    Some(format!(
        "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
        qualified(&r.schema, table_name),
        quote_ident(&r.from),
        quote_ident(&r.to)
    ))
}

#[cfg(test)]
mod tests {
    use super::replace_token;

    #[test]
    fn tokens_are_whole() {
        assert_eq!(
            replace_token("CHECK ((age >= 0) AND (age_x > 1))", "age", "years", false),
            "CHECK ((years >= 0) AND (age_x > 1))"
        );
        assert_eq!(
            replace_token("ON public.age USING btree (age)", "age", "years", false),
            "ON public.age USING btree (years)"
        );
        assert_eq!(
            replace_token("REFERENCES public.t(id)", "public.t", "public.u", true),
            "REFERENCES public.u(id)"
        );
    }
}
