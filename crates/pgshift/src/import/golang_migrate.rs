//! golang-migrate's history: `<version>_<name>.up.sql` and `.down.sql` (versions are
//! numbers, not zero-padded, ordered numerically; the up and down names may differ), and
//! `schema_migrations (version bigint, dirty boolean)`, one row: every version up to it is
//! applied.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::Row;

use super::{ImportError, Recorded, Source};
use crate::migrations::Session;

pub(super) fn read_folder(from: &Path) -> Result<Vec<Source>, ImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    // version -> (up file, down file)
    let mut found: BTreeMap<i64, (Option<String>, Option<String>)> = BTreeMap::new();
    for entry in std::fs::read_dir(from).map_err(io(from))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((version, rest)) = name.split_once('_') else {
            continue;
        };
        let Ok(version) = version.parse::<i64>() else {
            continue;
        };
        let slot = found.entry(version).or_default();
        if rest.ends_with(".up.sql") {
            if slot.0.replace(name.clone()).is_some() {
                return Err(ImportError::Folder(format!(
                    "{} has two .up.sql files for version {version}; golang-migrate refuses that too: keep one",
                    from.display()
                )));
            }
        } else if rest.ends_with(".down.sql") {
            slot.1 = Some(name);
        }
    }
    let read = |name: &str| -> Result<String, ImportError> {
        let path = from.join(name);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        String::from_utf8(bytes).map_err(|_| {
            ImportError::Folder(format!(
                "{} is not UTF-8 text; save it as UTF-8",
                path.display()
            ))
        })
    };
    let mut sources = Vec::new();
    for (version, (up, down)) in found {
        let Some(up) = up else { continue };
        let name = up
            .split_once('_')
            .map_or("", |(_, rest)| rest)
            .trim_end_matches(".up.sql")
            .to_string();
        sources.push(Source {
            key: version.to_string(),
            name,
            number: Some(version),
            sql: Some(read(&up)?),
            down: down.as_deref().map(read).transpose()?,
            origin: from.join(&up),
        });
    }
    if sources.is_empty() {
        return Err(ImportError::Folder(format!(
            "{} has no golang-migrate files (N_name.up.sql); pass the folder with --from",
            from.display()
        )));
    }
    Ok(sources)
}

/// Every version up to `schema_migrations.version` is applied; a dirty state stops the
/// import (golang-migrate itself refuses to go on from one).
pub(super) async fn read_history(
    s: &mut Session,
    sources: &[Source],
) -> Result<Vec<(String, Recorded)>, Vec<String>> {
    let row = sqlx::query(
        "SELECT version::bigint AS version, dirty FROM schema_migrations ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(&mut s.conn)
    .await
    .map_err(|e| {
        vec![format!(
            "cannot read schema_migrations in {}: {}",
            s.target,
            crate::target::redact(&e.to_string())
        )]
    })?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let version: i64 = row.try_get("version").unwrap_or(0);
    let dirty: bool = row.try_get("dirty").unwrap_or(false);
    if dirty {
        return Err(vec![format!(
            "schema_migrations says version {version} is dirty (it failed part-way); repair the database by hand, then `migrate force {version}` (or the version before it) with golang-migrate, and import again"
        )]);
    }
    if !sources.iter().any(|s| s.number == Some(version)) {
        return Err(vec![format!(
            "schema_migrations is at version {version}, which has no .up.sql in the folder; restore it from version control"
        )]);
    }
    Ok(sources
        .iter()
        .filter(|s| s.number.is_some_and(|n| n <= version))
        .map(|s| (s.key.clone(), Recorded::Applied { duration_ns: 0 }))
        .collect())
}
