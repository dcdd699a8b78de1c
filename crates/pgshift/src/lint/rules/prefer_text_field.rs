//! `varchar(n)`: raising the limit later is a schema change under ACCESS EXCLUSIVE, lowering
//! it rewrites the table; `text` with a CHECK on the length changes with `NOT VALID`.

use pg_query::NodeEnum;

use super::{column_types, Cx, Risk};

const RULE: &str = "prefer-text-field";

pub(super) fn check(node: &NodeEnum, cx: &mut Cx<'_>) {
    for col in column_types(node) {
        if col.type_name != "varchar" || !col.has_length {
            continue;
        }
        cx.hit(
            RULE,
            col.location,
            Some(col.table.clone()),
            Risk::Advice,
            format!("{}.{} is varchar with a length limit; changing the limit later takes an ACCESS EXCLUSIVE lock (lowering it rewrites the table)", col.table.sql(), col.column),
            "use `text`, with `CHECK (char_length(col) <= n)` if the limit matters (a new CHECK can be added NOT VALID and validated without blocking)".into(),
        );
        cx.on_column(&col.column);
    }
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
