//! What a destructive or breaking change means for the Rust code: the generated bindings'
//! struct and field for the table and column, and the workspace's Rust files (outside the
//! bindings) that name the column, the field or the table, so a finding says
//! "doctor.specialization is named by src/api/doctor.rs:42". A textual search (whole
//! identifiers), not type checking: it lists candidates for a reviewer.

use std::path::{Path, PathBuf};

use super::Finding;
use crate::config::Config;

/// Rules whose change reaches the Rust code.
const RULES: &[&str] = &[
    "ban-drop-column",
    "ban-drop-table",
    "changing-column-type",
    "adding-not-nullable-field",
    "renaming-column",
    "renaming-table",
];

/// How many places a finding lists.
const SHOWN: usize = 5;

/// Adds to each finding of `RULES` the bindings item and the Rust files that name what it
/// changes.
pub fn annotate(findings: &mut [Finding], config: &Config) {
    if !findings
        .iter()
        .any(|f| RULES.contains(&f.rule.as_str()) && f.table.is_some())
    {
        return;
    }
    let bindings = std::fs::read_to_string(&config.paths.bindings).unwrap_or_default();
    let bindings_shown = shown(&config.root, &config.paths.bindings);
    let sources = rust_sources(&config.root, &config.paths.bindings);
    for f in findings
        .iter_mut()
        .filter(|f| RULES.contains(&f.rule.as_str()))
    {
        let Some(table) = f.table.clone() else {
            continue;
        };
        let bare_table = table.rsplit('.').next().unwrap_or(&table).trim_matches('"');
        let binding = generated_item(&bindings, bare_table, f.column.as_deref());
        let mut names: Vec<String> = Vec::new();
        let what = match &f.column {
            Some(column) => {
                names.push(column.clone());
                if let Some((_, Some((field, _)))) = &binding {
                    names.push(field.clone());
                }
                format!("{bare_table}.{column}")
            }
            None => {
                names.push(bare_table.to_string());
                if let Some((struct_name, _)) = &binding {
                    names.push(struct_name.0.clone());
                }
                format!("table {bare_table}")
            }
        };
        names.dedup();
        let mut places = Vec::new();
        for (file, text) in &sources {
            for (i, line) in text.lines().enumerate() {
                if names.iter().any(|n| names_ident(line, n)) {
                    places.push(format!("{file}:{}", i + 1));
                }
            }
        }
        let mut parts = Vec::new();
        if !places.is_empty() {
            let more = places.len().saturating_sub(SHOWN);
            let mut list = places[..places.len().min(SHOWN)].join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            parts.push(format!("{what} is named by {list}"));
        }
        let becomes = match f.rule.as_str() {
            "changing-column-type" => "changes type",
            "adding-not-nullable-field" => "loses its Option",
            "renaming-column" | "renaming-table" => "is renamed",
            _ => "disappears",
        };
        match &binding {
            Some(((struct_name, _), Some((field, field_line)))) => parts.push(format!(
                "the generated field {struct_name}::{field} ({bindings_shown}:{field_line}) \
                 {becomes}"
            )),
            Some(((struct_name, struct_line), None)) if f.column.is_none() => parts.push(format!(
                "the generated struct {struct_name} ({bindings_shown}:{struct_line}) {becomes}"
            )),
            _ => {}
        }
        if !parts.is_empty() {
            f.message.push_str("; ");
            f.message.push_str(&parts.join("; "));
        }
    }
}

type Item = (String, usize);

/// The generated struct of `table` (its name and line) and the field of `column` in it.
fn generated_item(
    bindings: &str,
    table: &str,
    column: Option<&str>,
) -> Option<(Item, Option<Item>)> {
    let marker = format!("/// Table `{table}`.");
    let lines: Vec<&str> = bindings.lines().collect();
    let at = lines.iter().position(|l| l.trim() == marker)?;
    let (struct_at, struct_line) = lines
        .iter()
        .enumerate()
        .skip(at)
        .find(|(_, l)| l.trim_start().starts_with("pub struct "))?;
    let name = struct_line
        .trim_start()
        .strip_prefix("pub struct ")?
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()?
        .to_string();
    let Some(column) = column else {
        return Some(((name, struct_at + 1), None));
    };
    let mut renamed = false;
    let mut field = None;
    for (i, line) in lines.iter().enumerate().skip(struct_at + 1) {
        let t = line.trim();
        if t == "}" {
            break;
        }
        if t == format!("#[sqlx(rename = \"{column}\")]") {
            renamed = true;
            continue;
        }
        if let Some(rest) = t.strip_prefix("pub ") {
            let ident = rest
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches("r#");
            if renamed || ident == column {
                field = Some((ident.to_string(), i + 1));
                break;
            }
        }
    }
    Some(((name, struct_at + 1), field))
}

/// Whether `line` holds `ident` as a whole identifier.
fn names_ident(line: &str, ident: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(ident).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + ident.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The workspace's Rust files (shown relative to `root`) and their text, outside `target`,
/// hidden folders and the bindings file.
fn rust_sources(root: &Path, bindings: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    stack.push(path);
                }
            } else if kind.is_file() && name.ends_with(".rs") && path != bindings {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    out.push((shown(root, &path), text));
                }
            }
        }
    }
    out.sort();
    out
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_generated_items() {
        assert!(names_ident(
            "let s = doctor.specialization;",
            "specialization"
        ));
        assert!(!names_ident(
            "let s = doctor.specializations;",
            "specialization"
        ));
        let bindings = "/// Table `doctor`.\n#[derive(Debug)]\npub struct Doctor {\n    pub id: i32,\n    #[sqlx(rename = \"Type\")]\n    pub r#type: String,\n    pub specialization: Option<String>,\n}\n";
        assert_eq!(
            generated_item(bindings, "doctor", Some("specialization")),
            Some((("Doctor".into(), 3), Some(("specialization".into(), 7))))
        );
        assert_eq!(
            generated_item(bindings, "doctor", Some("Type")),
            Some((("Doctor".into(), 3), Some(("type".into(), 6))))
        );
        assert_eq!(generated_item(bindings, "visit", None), None);
    }
}
