//! A 16-bit integer runs out at 32,767; changing the type later rewrites the table.

use pg_query::NodeEnum;

use super::{advise_on_column_types, Cx};

const RULE: &str = "prefer-bigint-over-smallint";

pub(super) fn check(_: &NodeEnum, cx: &mut Cx<'_>) {
    advise_on_column_types(
        cx,
        RULE,
        |c| matches!(c.type_name.as_str(), "int2" | "smallserial" | "serial2"),
        |column| {
            format!("{column} is a 16-bit integer: it runs out at 32,767, and widening it later rewrites the table")
        },
        "use `bigint` (or `integer`) unless the range is certain to stay small",
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn flagged_in_create_add_and_retype() {
        let hits = rule_hits(
            "prefer-bigint-over-smallint",
            r#"CREATE TABLE a (n smallint, s smallserial); ALTER TABLE a ALTER COLUMN n TYPE int2"#,
            false,
        );
        assert_eq!(hits.len(), 3, "{hits:#?}");
        assert!(
            hits[0].contains(r#"a.n is a 16-bit integer"#),
            "{}",
            hits[0]
        );
        assert!(rule_hits(
            "prefer-bigint-over-smallint",
            r#"CREATE TABLE b (n bigint, m int)"#,
            false
        )
        .is_empty());
    }
}
