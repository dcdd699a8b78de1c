//! `DROP TABLE` loses the table's data for good, and the code still running reads it.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Cx, Risk, TableRef};

const RULE: &str = "ban-drop-table";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let NodeEnum::DropStmt(d) = node else {
        return;
    };
    if d.remove_type != ObjectType::ObjectTable as i32 {
        return;
    }
    for object in &d.objects {
        let Some(NodeEnum::List(names)) = &object.node else {
            continue;
        };
        let Some(table) = TableRef::of_names(&names.items) else {
            continue;
        };
        cx.hit(
            RULE,
            -1,
            Some(table.clone()),
            Risk::DataLoss,
            format!(
                "dropping table {} loses its data, and code that still reads it breaks",
                table.sql()
            ),
            format!(
                "export the data or take a backup first (`pg_dump --table={} ...`); deploy code \
                 that no longer uses the table before this migration",
                table.sql()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn drop_tables() {
        let hits = rule_hits(
            "ban-drop-table",
            "DROP TABLE IF EXISTS a, app.b; DROP INDEX i",
            false,
        );
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[1].contains("table app.b"), "{}", hits[1]);
    }
}
