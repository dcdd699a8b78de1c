//! Rust identifiers for SQL names: PascalCase types and variants, snake_case fields,
//! SCREAMING_SNAKE_CASE constants, with keywords, invalid characters and collisions
//! turned into valid, distinct names.

use std::collections::BTreeSet;

/// Rust's strict and reserved keywords (2021 and 2024 editions). A field named after one
/// gets a trailing underscore (`type` -> `type_`), as diesel does.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Type names the generated code refers to unqualified; a table may not take them.
const RESERVED_TYPES: &[&str] = &["Option", "String", "Vec", "Self"];

/// PostgreSQL's keywords that an identifier must quote (every category but unreserved,
/// from `pg_get_keywords()` of PostgreSQL 15, plus those later versions added). Quoting
/// one more than needed is harmless: `"order"` and `order` name the same object.
const SQL_KEYWORDS: &str = "all analyse analyze and any array as asc asymmetric authorization \
    between bigint binary bit boolean both case cast char character check coalesce collate \
    collation column concurrently constraint create cross current_catalog current_date \
    current_role current_schema current_time current_timestamp current_user dec decimal \
    default deferrable desc distinct do else end except exists extract false fetch float for \
    foreign freeze from full grant greatest group grouping having ilike in initially inner \
    inout int integer intersect interval into is isnull join json json_array json_arrayagg \
    json_exists json_object json_objectagg json_query json_scalar json_serialize json_table \
    json_value lateral leading least left like limit localtime localtimestamp merge_action \
    national natural nchar none normalize not notnull null nullif numeric offset on only or \
    order out outer overlaps overlay placing position precision primary real references \
    returning right row select session_user setof similar smallint some substring symmetric \
    system_user table tablesample then time timestamp to trailing treat trim true union \
    unique user using values varchar variadic verbose when where window with xmlattributes \
    xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot \
    xmlserialize xmltable";

/// An SQL identifier as PostgreSQL's `quote_ident` writes it: quoted unless it is all
/// ASCII lowercase letters, digits and underscores, does not start with a digit, and is
/// not a keyword. `$` is legal in an unquoted identifier but quote_ident still quotes it,
/// and so must we. sqlx resolves `type_name`s with `::regtype`, which needs exactly this.
pub fn sql_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !SQL_KEYWORDS.split_ascii_whitespace().any(|k| k == name);
    if plain {
        name.to_string()
    } else {
        crate::db::quote_ident(name)
    }
}

/// Splits an SQL name into lowercase words: at anything that is not an ASCII letter or
/// digit, and at case changes (`createdAt` -> created, at; `HTTPServer` -> http, server).
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !word.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut word));
            }
        }
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `availability_override` -> `AvailabilityOverride`; `None` when nothing usable is left.
pub fn pascal_case(name: &str) -> Option<String> {
    let mut out = String::new();
    for word in words(name) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'N');
    }
    Some(out)
}

/// `createdAt` -> `created_at`, `type` -> `type_`; `None` when nothing usable is left.
pub fn snake_case(name: &str) -> Option<String> {
    let mut out = words(name).join("_");
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    Some(out)
}

/// The constant for a field: `created_at` -> `CREATED_AT`, `type_` -> `TYPE`.
pub fn screaming_case(field: &str) -> String {
    let base = field
        .strip_suffix('_')
        .filter(|b| KEYWORDS.contains(b))
        .unwrap_or(field);
    base.to_ascii_uppercase()
}

/// Hands out names that are unique within one scope, in the order they are asked for:
/// the second `created_at` becomes `created_at_2`.
pub struct Scope {
    taken: BTreeSet<String>,
    /// Between a name and its number: `_` for snake_case, nothing for PascalCase.
    separator: &'static str,
}

impl Scope {
    /// A scope for type names, where the prelude types the generated code uses are taken.
    pub fn for_types() -> Scope {
        Scope {
            taken: RESERVED_TYPES.iter().map(|s| s.to_string()).collect(),
            separator: "",
        }
    }

    /// A scope for snake_case or SCREAMING_CASE names, with `reserved` already taken.
    pub fn for_values(reserved: &[&str]) -> Scope {
        Scope {
            taken: reserved.iter().map(|s| s.to_string()).collect(),
            separator: "_",
        }
    }

    /// Takes `wanted`, or `wanted` + `suffix`, or that with a number, whichever is free.
    pub fn take(&mut self, wanted: &str, suffix: &str) -> String {
        let mut candidate = wanted.to_string();
        if self.taken.contains(&candidate) && !suffix.is_empty() {
            candidate = format!("{wanted}{suffix}");
        }
        let base = candidate.clone();
        let mut n = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{base}{}{n}", self.separator);
            n += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(
            pascal_case("availability_override").unwrap(),
            "AvailabilityOverride"
        );
        assert_eq!(pascal_case("Order Items").unwrap(), "OrderItems");
        assert_eq!(pascal_case("HTTPServer").unwrap(), "HttpServer");
        assert_eq!(pascal_case("2fa codes").unwrap(), "N2faCodes");
        assert_eq!(pascal_case("«»"), None);
        assert_eq!(snake_case("createdAt").unwrap(), "created_at");
        assert_eq!(snake_case("UserID").unwrap(), "user_id");
        assert_eq!(snake_case("first name").unwrap(), "first_name");
        assert_eq!(snake_case("type").unwrap(), "type_");
        assert_eq!(snake_case("self").unwrap(), "self_");
        assert_eq!(snake_case("1st").unwrap(), "_1st");
        assert_eq!(screaming_case("type_"), "TYPE");
        assert_eq!(screaming_case("created_at"), "CREATED_AT");
        assert_eq!(screaming_case("_1st"), "_1ST");
    }

    #[test]
    fn sql_identifiers() {
        assert_eq!(sql_ident("consultation_type"), "consultation_type");
        assert_eq!(sql_ident("order"), "\"order\"");
        assert_eq!(sql_ident("int"), "\"int\"");
        assert_eq!(sql_ident("Priority"), "\"Priority\"");
        assert_eq!(sql_ident("2fa"), "\"2fa\"");
        assert_eq!(sql_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(sql_ident("price$usd"), "\"price$usd\"");
        assert_eq!(sql_ident("café"), "\"café\"");
    }

    #[test]
    fn scopes_number_collisions() {
        let mut scope = Scope::for_types();
        assert_eq!(scope.take("Mood", "Table"), "Mood");
        assert_eq!(scope.take("Mood", "Table"), "MoodTable");
        assert_eq!(scope.take("Mood", "Table"), "MoodTable2");
        assert_eq!(scope.take("Option", "Table"), "OptionTable");
        let mut fields = Scope::for_values(&[]);
        assert_eq!(fields.take("a", ""), "a");
        assert_eq!(fields.take("a", ""), "a_2");
        let mut consts = Scope::for_values(&["TABLE"]);
        assert_eq!(consts.take("TABLE", "_COLUMN"), "TABLE_COLUMN");
    }
}
