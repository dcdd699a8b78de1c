//! The schema folder (`[paths] schema`): its `.sql` files in path order, their statements
//! (split by `sql::statements`, the engine's parser), and the `-- pgshift:renamed from=OLD`
//! comments that tell the diff a drop + add is a rename.

use std::path::{Path, PathBuf};

use pg_query::NodeEnum;

use crate::sql::{self, Statement};

/// The comment that marks a rename, followed by `from=OLD_NAME`.
pub const RENAMED: &str = "-- pgshift:renamed";

/// What every pgshift comment of a schema file starts with.
const DIRECTIVE: &str = "-- pgshift:";

/// One `.sql` file of the schema folder.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    pub path: PathBuf,
    /// The path as messages show it: relative to the project root.
    pub shown: String,
    /// The text, without a UTF-8 byte order mark. CRLF line ends are kept (the parser and
    /// the server read them as whitespace; string literals keep their bytes).
    pub sql: String,
}

impl SchemaFile {
    /// Its statements, or `file:line: message` for text the parser refuses.
    pub fn statements(&self) -> Result<Vec<Statement<'_>>, String> {
        sql::statements(&self.sql, true)
            .map_err(|e| format!("{}:{}: {}", self.shown, e.line, e.message))
    }
}

/// What a `-- pgshift:renamed from=OLD` comment says: the table (or, with `column`, its
/// column) is called `from` in the database the migrations made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameComment {
    /// `schema/doctor.sql:12`, where the comment is.
    pub at: String,
    pub schema: String,
    pub table: String,
    pub column: Option<String>,
    pub from: String,
}

impl RenameComment {
    /// The new name: the table's or the column's.
    pub fn to(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.table)
    }
}

/// The `.sql` files of `folder` and its subfolders, ordered by their path relative to it
/// (byte order: `01_types.sql` < `02_tables/doctor.sql` < `03_views.sql`).
pub fn discover(folder: &Path, root: &Path) -> Result<Vec<SchemaFile>, String> {
    let mut paths = Vec::new();
    collect(folder, &mut paths)?;
    paths.sort_by(|a, b| {
        let rel = |p: &PathBuf| p.strip_prefix(folder).unwrap_or(p).as_os_str().to_owned();
        rel(a).cmp(&rel(b))
    });
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{shown} is not UTF-8 text; save it as UTF-8"))?;
        files.push(SchemaFile {
            sql: crate::migrations::files::without_bom(text),
            path,
            shown,
        });
    }
    Ok(files)
}

fn collect(folder: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "the schema folder {} does not exist; create it, or write it from a database with \
                 `cargo xtask schema pull`",
                folder.display()
            )
        } else {
            format!("cannot read the schema folder {}: {e}", folder.display())
        }
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", folder.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Editors' and the system's hidden files (`.doctor.sql.swp`, `.#doctor.sql`).
        if name.starts_with('.') {
            continue;
        }
        let kind =
            std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if kind.is_dir() {
            collect(&path, out)?;
        } else if name.ends_with(".sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// The rename comments of `file`, whose statements are `statements`. A comment that is not
/// on the line before a `CREATE TABLE` or before a column definition inside one is an error
/// naming its line.
pub fn renames(
    file: &SchemaFile,
    statements: &[Statement<'_>],
) -> Result<Vec<RenameComment>, String> {
    if !file.sql.contains(DIRECTIVE) {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    let lines: Vec<(usize, &str)> = line_starts(&file.sql);
    for (i, &(_, line)) in lines.iter().enumerate() {
        let text = line.trim();
        let at = format!("{}:{}", file.shown, i + 1);
        let bad = |why: &str| format!("{at}: {why}");
        let Some(rest) = text.strip_prefix(RENAMED) else {
            // A misspelt directive would otherwise be a plain comment, and the rename a drop.
            if let Some(word) = text.strip_prefix(DIRECTIVE) {
                let word = word.split_whitespace().next().unwrap_or("");
                return Err(bad(&format!(
                    "`-- pgshift:{word}` is not a pgshift comment; the schema folder knows \
                     `-- pgshift:renamed from=old_name`"
                )));
            }
            continue;
        };
        let from = rest
            .trim()
            .strip_prefix("from=")
            .and_then(identifier)
            .ok_or_else(|| {
                bad("write the old name as `-- pgshift:renamed from=old_name` (or from=\"Old Name\")")
            })?;
        // The next line that holds code.
        let Some(&(offset, code)) = lines[i + 1..].iter().find(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("--")
        }) else {
            return Err(bad("nothing follows this `-- pgshift:renamed` comment"));
        };
        let offset = offset + (code.len() - code.trim_start().len());
        let misplaced =
            "`-- pgshift:renamed` must be on the line before a CREATE TABLE or before a \
                         column definition inside one";
        let statement = statements
            .iter()
            .find(|s| s.start <= offset && offset < s.start + s.sql.len().max(1))
            .ok_or_else(|| bad(misplaced))?;
        let Some(NodeEnum::CreateStmt(create)) = sql::tree(statement) else {
            return Err(bad(misplaced));
        };
        let relation = create.relation.as_ref().ok_or_else(|| bad(misplaced))?;
        let schema = if relation.schemaname.is_empty() {
            "public".to_string()
        } else {
            relation.schemaname.clone()
        };
        if statement.start == offset {
            found.push(RenameComment {
                at,
                schema,
                table: relation.relname.clone(),
                column: None,
                from,
            });
            continue;
        }
        let line_end = offset + code.trim_start().len();
        let column = create.table_elts.iter().find_map(|node| match &node.node {
            Some(NodeEnum::ColumnDef(def)) => {
                let at = statement.start + def.location.max(0) as usize;
                (offset <= at && at < line_end).then(|| def.colname.clone())
            }
            _ => None,
        });
        let column = column.ok_or_else(|| bad(misplaced))?;
        found.push(RenameComment {
            at,
            schema,
            table: relation.relname.clone(),
            column: Some(column),
            from,
        });
    }
    Ok(found)
}

/// Each line with the byte offset where it starts (without its `\n` and `\r`).
fn line_starts(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split('\n') {
        out.push((start, line.trim_end_matches('\r')));
        start += line.len() + 1;
    }
    out
}

/// The identifier at the start of `text`, as the server folds it: `"Old Name"` keeps its
/// case and spaces (`""` is a quote), `Old` is `old`. `None` when there is none, or when
/// something other than a comment follows it.
fn identifier(text: &str) -> Option<String> {
    let (name, rest) = match text.strip_prefix('"') {
        Some(quoted) => {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            loop {
                match chars.next()? {
                    (i, '"') if quoted[i + 1..].starts_with('"') => {
                        name.push('"');
                        chars.next();
                    }
                    (i, '"') => break (name, &quoted[i + 1..]),
                    (_, c) => name.push(c),
                }
            }
        }
        None => {
            let end = text.find(char::is_whitespace).unwrap_or(text.len());
            (text[..end].to_lowercase(), &text[end..])
        }
    };
    let rest = rest.trim_start();
    (!name.is_empty() && (rest.is_empty() || rest.starts_with("--"))).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(sql: &str) -> SchemaFile {
        SchemaFile {
            path: "schema/doctor.sql".into(),
            shown: "schema/doctor.sql".into(),
            sql: sql.into(),
        }
    }

    fn renames_of(sql: &str) -> Result<Vec<RenameComment>, String> {
        let f = file(sql);
        let statements = f.statements()?;
        renames(&f, &statements)
    }

    #[test]
    fn a_column_and_a_table() {
        let found = renames_of(
            "-- pgshift:renamed from=physician\r\n\
             CREATE TABLE billing.doctor (\r\n  id int,\r\n  -- pgshift:renamed from=Nick\r\n  \
             nickname text\r\n);\r\n",
        )
        .unwrap();
        assert_eq!(
            found,
            vec![
                RenameComment {
                    at: "schema/doctor.sql:1".into(),
                    schema: "billing".into(),
                    table: "doctor".into(),
                    column: None,
                    from: "physician".into(),
                },
                RenameComment {
                    at: "schema/doctor.sql:4".into(),
                    schema: "billing".into(),
                    table: "doctor".into(),
                    column: Some("nickname".into()),
                    from: "nick".into(),
                },
            ]
        );
    }

    #[test]
    fn old_names_fold_as_the_server_folds_them() {
        assert_eq!(identifier("Mixed").as_deref(), Some("mixed"));
        assert_eq!(identifier("\"Mixed\"").as_deref(), Some("Mixed"));
        assert_eq!(
            identifier("\"Tàble Ñame\" -- was").as_deref(),
            Some("Tàble Ñame")
        );
        assert_eq!(identifier("\"a\"\"b\"").as_deref(), Some("a\"b"));
        assert_eq!(identifier("two words"), None);
        assert_eq!(identifier("\"open"), None);
        assert_eq!(identifier(""), None);
    }

    #[test]
    fn misplaced_comments_name_their_line() {
        let e = renames_of(
            "CREATE TABLE a (id int);\n-- pgshift:renamed from=x\nCREATE VIEW v AS SELECT 1;\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("schema/doctor.sql:2: `-- pgshift:renamed` must be"),
            "{e}"
        );
        let e = renames_of("CREATE TABLE a (id int);\n-- pgshift:renamed\n").unwrap_err();
        assert!(
            e.starts_with("schema/doctor.sql:2: write the old name"),
            "{e}"
        );
        let e = renames_of(
            "CREATE TABLE a (\n  id int,\n  -- pgshift:renamed from=x\n  PRIMARY KEY (id)\n);\n",
        )
        .unwrap_err();
        assert!(e.starts_with("schema/doctor.sql:3:"), "{e}");
    }
}
