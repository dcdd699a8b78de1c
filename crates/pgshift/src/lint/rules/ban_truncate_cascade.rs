//! `TRUNCATE ... CASCADE` empties, besides the tables named, every table with a foreign key to
//! them, and those tables' dependents in turn: data loss that the statement does not show.

use pg_query::protobuf::DropBehavior;
use pg_query::NodeEnum;

use super::{Cx, Risk, TableRef};

const RULE: &str = "ban-truncate-cascade";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let NodeEnum::TruncateStmt(t) = node else {
        return;
    };
    if t.behavior != DropBehavior::DropCascade as i32 {
        return;
    }
    for r in &t.relations {
        let Some(NodeEnum::RangeVar(r)) = &r.node else {
            continue;
        };
        let table = TableRef::of(r);
        cx.hit(
            RULE,
            r.location,
            Some(table.clone()),
            Risk::DataLoss,
            format!(
                "TRUNCATE {} CASCADE also empties every table with a foreign key to it, and \
                 theirs in turn",
                table.sql()
            ),
            "name every table to empty and leave out CASCADE (TRUNCATE then refuses if another \
             table still refers to them); take a backup first"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn truncate_cascade() {
        let hits = rule_hits(
            "ban-truncate-cascade",
            "TRUNCATE a, b CASCADE; TRUNCATE c",
            false,
        );
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[1].contains("TRUNCATE b CASCADE"), "{}", hits[1]);
    }
}
