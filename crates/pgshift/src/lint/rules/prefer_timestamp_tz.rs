//! `timestamp` (without time zone) stores wall-clock time whose meaning depends on the
//! session's time zone; `timestamptz` stores an instant.

use pg_query::NodeEnum;

use super::{advise_on_column_types, Cx};

const RULE: &str = "prefer-timestamp-tz";

pub(super) fn check(_: &NodeEnum, cx: &mut Cx<'_>) {
    advise_on_column_types(
        cx,
        RULE,
        |c| matches!(c.type_name.as_str(), "timestamp"),
        |column| {
            format!("{column} is timestamp without time zone: its meaning depends on the time zone of whoever wrote it")
        },
        "use `timestamptz` (`timestamp with time zone`)",
    );
}

#[cfg(test)]
mod tests {
    use super::super::test_support::rule_hits;

    #[test]
    fn flagged_in_create_add_and_retype() {
        let hits = rule_hits(
            "prefer-timestamp-tz",
            r#"CREATE TABLE a (at timestamp, b timestamp(3) without time zone); ALTER TABLE a ADD COLUMN c timestamp"#,
            false,
        );
        assert_eq!(hits.len(), 3, "{hits:#?}");
        assert!(
            hits[0].contains(r#"a.at is timestamp without time zone"#),
            "{}",
            hits[0]
        );
        assert!(rule_hits(
            "prefer-timestamp-tz",
            r#"CREATE TABLE b (at timestamptz, c timestamp with time zone, d date)"#,
            false
        )
        .is_empty());
    }
}
