//! `DROP INDEX` without `CONCURRENTLY` takes an ACCESS EXCLUSIVE lock on the index's table:
//! every query on it waits behind the drop (and the drop behind every running query).

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{own_no_transaction_file, Cx, Risk};

const RULE: &str = "require-concurrent-index-deletion";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let NodeEnum::DropStmt(d) = node else {
        return;
    };
    if d.remove_type != ObjectType::ObjectIndex as i32 || d.concurrent {
        return;
    }
    for object in &d.objects {
        let Some(NodeEnum::List(names)) = &object.node else {
            continue;
        };
        let Some(index) = super::TableRef::of_names(&names.items) else {
            continue;
        };
        // An index made earlier in this run (this migration or a pending one) is no risk.
        if cx.state.created_indexes.iter().any(|i| i.same(&index)) {
            continue;
        }
        cx.hit(
            RULE,
            -1,
            None,
            Risk::Lock,
            format!(
                "DROP INDEX {} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table \
                 until the drop ends",
                index.sql()
            ),
            own_no_transaction_file(cx.state, "write `DROP INDEX CONCURRENTLY`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn drop_index() {
        let sql = "CREATE INDEX fresh ON a (x); DROP INDEX fresh; DROP INDEX old; \
                   DROP INDEX CONCURRENTLY older";
        let hits = rule_hits("require-concurrent-index-deletion", sql, false);
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert!(hits[0].contains("DROP INDEX old without"), "{}", hits[0]);
    }
}
