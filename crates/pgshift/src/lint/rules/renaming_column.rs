//! Renaming a column breaks every query of the code still running with the old name (the
//! code deployed before the migration, or the other replicas during a rolling deploy).

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Cx, Risk, TableRef};

const RULE: &str = "renaming-column";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let NodeEnum::RenameStmt(r) = node else {
        return;
    };
    if r.rename_type != ObjectType::ObjectColumn as i32
        || r.relation_type != ObjectType::ObjectTable as i32
    {
        return;
    }
    let Some(table) = r.relation.as_ref().map(TableRef::of) else {
        return;
    };
    cx.hit(
        RULE,
        -1,
        Some(table.clone()),
        Risk::Breaking,
        format!(
            "renaming {}.{} to {} breaks the code still running that uses the old name",
            table.sql(),
            r.subname,
            r.newname
        ),
        "add the new column, write both, backfill, switch reads, then drop the old one (or \
         deploy code that uses neither name first)"
            .into(),
    );
    cx.on_column(&r.subname);
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn rename_column() {
        assert_eq!(
            rule_hits(
                "renaming-column",
                "ALTER TABLE doctor RENAME COLUMN name TO full_name",
                false
            ),
            [
                "renaming-column: renaming doctor.name to full_name breaks the code still running \
              that uses the old name"
            ]
        );
    }
}
