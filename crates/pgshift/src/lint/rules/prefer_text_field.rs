//! `varchar(n)`: raising the limit later is a schema change under ACCESS EXCLUSIVE, lowering
//! it rewrites the table; `text` with a CHECK on the length changes with `NOT VALID`.

use pg_query::NodeEnum;

use super::{advise_on_column_types, Cx};

const RULE: &str = "prefer-text-field";

pub(super) fn check(_: &NodeEnum, cx: &mut Cx<'_>) {
    advise_on_column_types(
        cx,
        RULE,
        |c| c.type_name == "varchar" && c.has_length,
        |column| format!("{column} is varchar with a length limit; changing the limit later takes an ACCESS EXCLUSIVE lock (lowering it rewrites the table)"),
        "use `text`, with `CHECK (char_length(col) <= n)` if the limit matters (a new CHECK can be added NOT VALID and validated without blocking)",
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn flagged_in_create_add_and_retype() {
        let hits = rule_hits(
            "prefer-text-field",
            r#"CREATE TABLE a (name varchar(100), other character varying(5)); ALTER TABLE a ADD COLUMN n varchar(3)"#,
            false,
        );
        assert_eq!(hits.len(), 3, "{hits:#?}");
        assert!(hits[0].contains(r#"a.name is varchar"#), "{}", hits[0]);
        assert!(rule_hits(
            "prefer-text-field",
            r#"CREATE TABLE b (name text, v varchar)"#,
            false
        )
        .is_empty());
    }
}
