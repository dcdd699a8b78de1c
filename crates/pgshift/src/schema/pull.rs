//! `schema pull`: a database's schema written as a schema folder, from the diff of the
//! empty schema to its catalog, grouped by object: `01_types.sql` (schemas, extensions,
//! enums, domains, composite types, sequences), `02_functions.sql`, one file per table in
//! `03_tables/` (its columns, constraints, indexes, triggers), `04_views.sql`. The loader
//! retries a statement whose dependency comes later, so a foreign key may point at a table
//! of a later file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::diff::{self, ObjectKind};
use crate::UsageError;

/// The files of the schema folder for `catalog`: relative path -> text, in path order.
pub fn files(catalog: &Catalog) -> BTreeMap<PathBuf, String> {
    let empty = Catalog {
        schemas: catalog.schemas.clone(),
        ..Catalog::default()
    };
    let diff = diff::diff(&empty, catalog, &diff::Options::default());
    let mut files: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for change in diff.changes {
        let object = &change.object;
        let path = match (object.kind, &object.table) {
            (_, Some(table)) => table_file(&object.schema, table),
            (ObjectKind::Table, None) => table_file(&object.schema, &object.name),
            (ObjectKind::Function | ObjectKind::Procedure, None) => "02_functions.sql".into(),
            (ObjectKind::View | ObjectKind::MaterializedView, None) => "04_views.sql".into(),
            _ => "01_types.sql".into(),
        };
        let statements = files.entry(path).or_default();
        statements.extend(
            change
                .statements
                .iter()
                .map(|s| format!("{};\n", s.trim_end())),
        );
    }
    files
        .into_iter()
        .map(|(path, statements)| (path, statements.join("\n")))
        .collect()
}

/// `03_tables/doctor.sql`; `03_tables/billing.invoice.sql` outside `public`.
fn table_file(schema: &str, table: &str) -> PathBuf {
    let name = match schema {
        "" | "public" => table.to_string(),
        schema => format!("{schema}.{table}"),
    };
    // A file name cannot hold `/`; NUL cannot be in an identifier. The loader skips hidden
    // files, so a name starting with `.` (`.hidden`, `../x`) starts with `_` instead.
    let name = name.replace('/', "_");
    let name = match name.starts_with('.') {
        true => format!("_{name}"),
        false => name,
    };
    Path::new("03_tables").join(format!("{name}.sql"))
}

/// Writes `files` into `folder`. A folder that holds anything is refused unless `force`,
/// which first removes its `.sql` files (the objects they described may be gone).
pub fn write(
    folder: &Path,
    files: &BTreeMap<PathBuf, String>,
    force: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let occupied = std::fs::read_dir(folder)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if occupied {
        if !force {
            return Err(UsageError::Other(format!(
                "the schema folder {} is not empty; pass --force to replace its .sql files",
                folder.display()
            ))
            .into());
        }
        remove_sql_files(folder)?;
    }
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = folder.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        let temporary = path.with_extension("sql.tmp");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    if files.is_empty() {
        std::fs::create_dir_all(folder)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", folder.display()))?;
    }
    Ok(written)
}

fn remove_sql_files(folder: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(folder)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", folder.display()))?
    {
        let entry = entry?;
        let path = entry.path();
        // A link is never followed: it may lead out of the folder.
        let kind = entry.file_type()?;
        if kind.is_dir() {
            remove_sql_files(&path)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "sql") {
            std::fs::remove_file(&path)
                .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}
