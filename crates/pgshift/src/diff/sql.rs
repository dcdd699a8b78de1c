//! Quoting names and literals the way PostgreSQL's quote_ident and quote_literal do.

/// PostgreSQL's reserved and type/function-name keywords: as names they must be quoted.
/// Sorted, for a binary search (quote_ident runs for every name of every statement).
const KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// `name` as an SQL identifier: unchanged when it is a plain lower-case name that is not a
/// reserved word, otherwise double-quoted.
pub fn quote_ident(name: &str) -> String {
    // Bytes, not chars: this runs for every name of every statement, in debug builds too.
    let bytes = name.as_bytes();
    let plain = matches!(bytes.first(), Some(b'a'..=b'z' | b'_'))
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'$'))
        && KEYWORDS.binary_search(&name).is_err();
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `schema.name`, each part quoted as needed.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// `text` as a string literal (standard_conforming_strings, PostgreSQL's default).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `COMMENT ON {what} IS '...'` (or `IS NULL`).
pub(super) fn comment_on(what: &str, comment: Option<&str>) -> String {
    match comment {
        Some(text) => format!("COMMENT ON {what} IS {}", quote_literal(text)),
        None => format!("COMMENT ON {what} IS NULL"),
    }
}

/// The text without a trailing semicolon and whitespace (pg_get_viewdef ends with `;`).
#[allow(dead_code)]
pub(super) fn strip_semicolon(text: &str) -> &str {
    text.trim_end().trim_end_matches(';').trim_end()
}

/// A constraint name of at most 63 bytes built from parts.
pub(super) fn short_name(parts: &[&str], suffix: &str) -> String {
    let mut name = parts.join("_");
    let room = 63 - suffix.len() - 1;
    while name.len() > room {
        name.pop();
    }
    format!("{name}_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_sorted_for_the_binary_search() {
        assert!(KEYWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn keywords_and_odd_names_are_quoted() {
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("all"), "\"all\"");
        assert_eq!(quote_ident("with"), "\"with\"");
        assert_eq!(quote_ident("users"), "users");
        assert_eq!(quote_ident("Order"), "\"Order\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
