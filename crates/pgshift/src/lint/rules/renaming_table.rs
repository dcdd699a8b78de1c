//! Renaming a table breaks every query of the code still running with the old name.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Cx, Risk, TableRef};

const RULE: &str = "renaming-table";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let NodeEnum::RenameStmt(r) = node else {
        return;
    };
    if r.rename_type != ObjectType::ObjectTable as i32 {
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
            "renaming table {} to {} breaks the code still running that uses the old name",
            table.sql(),
            r.newname
        ),
        "create the new table (or a view with the new name) and move the code over before \
         dropping the old name"
            .into(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn rename_table() {
        let hits = rule_hits(
            "renaming-table",
            "ALTER TABLE doctor RENAME TO physician",
            false,
        );
        assert_eq!(hits.len(), 1, "{hits:#?}");
    }
}
