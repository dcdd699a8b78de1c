//! `DROP DATABASE` in a migration: every table of that database is lost, and a migration is
//! the wrong place for it.

use pg_query::NodeEnum;

use super::{Cx, Risk};

const RULE: &str = "ban-drop-database";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    let NodeEnum::DropdbStmt(d) = node else {
        return;
    };
    cx.hit(
        RULE,
        -1,
        None,
        Risk::Fails,
        format!(
            "DROP DATABASE {} deletes a whole database, every table and row of it",
            crate::db::quote_ident(&d.dbname)
        ),
        "drop databases by hand, after a backup (`cargo xtask backup`), not in a migration".into(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn drop_database() {
        let hits = rule_hits("ban-drop-database", "DROP DATABASE IF EXISTS old", true);
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert!(hits[0].contains("DROP DATABASE \"old\"") || hits[0].contains("DROP DATABASE old"));
        assert!(rule_hits("ban-drop-database", "DROP TABLE old", false).is_empty());
    }
}
