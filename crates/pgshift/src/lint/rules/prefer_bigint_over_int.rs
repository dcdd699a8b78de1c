//! A 32-bit key runs out at 2,147,483,647; changing the type later rewrites the table.

use pg_query::NodeEnum;

use super::{advise_on_column_types, Cx};

const RULE: &str = "prefer-bigint-over-int";

pub(super) fn check(_: &NodeEnum, cx: &mut Cx<'_>) {
    advise_on_column_types(
        cx,
        RULE,
        |c| matches!(c.type_name.as_str(), "int4" | "serial" | "serial4"),
        |column| {
            format!("{column} is a 32-bit integer: a key or counter can run out at 2,147,483,647, and widening it later rewrites the table")
        },
        "use `bigint` (or `bigint GENERATED ... AS IDENTITY` for a key)",
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn flagged_in_create_add_and_retype() {
        let hits = rule_hits(
            "prefer-bigint-over-int",
            r#"CREATE TABLE a (id serial PRIMARY KEY, n integer, m int4, b bigint); ALTER TABLE a ADD COLUMN c int"#,
            false,
        );
        assert_eq!(hits.len(), 4, "{hits:#?}");
        assert!(
            hits[0].contains(r#"a.id is a 32-bit integer"#),
            "{}",
            hits[0]
        );
        assert!(rule_hits(
            "prefer-bigint-over-int",
            r#"CREATE TABLE b (id bigint, n int8, s smallint)"#,
            false
        )
        .is_empty());
    }
}
