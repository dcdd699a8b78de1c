//! `char(n)` pads with spaces and compares oddly; `text` (with a CHECK on the length if one is
//! needed) or `varchar` is what is meant.

use pg_query::NodeEnum;

use super::{advise_on_column_types, Cx};

const RULE: &str = "ban-char-field";

pub(super) fn check(_: &NodeEnum, cx: &mut Cx<'_>) {
    advise_on_column_types(
        cx,
        RULE,
        |c| matches!(c.type_name.as_str(), "bpchar"),
        |column| {
            format!("{column} is char(n), which pads values with spaces; use text (a CHECK limits the length)")
        },
        "write `text` (or `varchar`); `char(n)` stores and compares blank-padded values",
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn flagged_in_create_add_and_retype() {
        let hits = rule_hits(
            "ban-char-field",
            r#"CREATE TABLE a (code char(3), flag "char"); ALTER TABLE a ADD COLUMN c character(2); ALTER TABLE a ALTER COLUMN code TYPE text"#,
            false,
        );
        assert_eq!(hits.len(), 2, "{hits:#?}");
        assert!(hits[0].contains(r#"a.code is char(n)"#), "{}", hits[0]);
        assert!(rule_hits(
            "ban-char-field",
            r#"CREATE TABLE b (code text, flag "char", v varchar(3))"#,
            false
        )
        .is_empty());
    }
}
