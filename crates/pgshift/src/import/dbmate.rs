//! dbmate's history: `<version>_<name>.sql` files (the version a timestamp), each with a
//! `-- migrate:up` and a `-- migrate:down` section (`transaction:false` after the marker
//! runs it outside a transaction), and `schema_migrations (version varchar)`, one row per
//! applied version.

use std::path::Path;

use super::{ImportError, Recorded, Source};
use crate::migrations::files::NO_TRANSACTION;
use crate::migrations::Session;

const UP: &str = "-- migrate:up";
const DOWN: &str = "-- migrate:down";

pub(super) fn read_folder(from: &Path) -> Result<Vec<Source>, ImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    let mut names: Vec<(i64, String)> = std::fs::read_dir(from)
        .map_err(io(from))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (version, rest) = name.split_once('_')?;
            (rest.ends_with(".sql") && !name.starts_with('.'))
                .then(|| Some((version.parse().ok()?, name.clone())))?
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(ImportError::Folder(format!(
            "{} has no dbmate migrations (<version>_<name>.sql); pass the folder with --from",
            from.display()
        )));
    }
    let mut sources = Vec::new();
    for (version, name) in names {
        let path = from.join(&name);
        let text = String::from_utf8(std::fs::read(&path).map_err(io(&path))?).map_err(|_| {
            ImportError::Folder(format!(
                "{} is not UTF-8 text; save it as UTF-8",
                path.display()
            ))
        })?;
        let (up, down) = sections(&text).ok_or_else(|| {
            ImportError::Folder(format!(
                "{} has no `{UP}` line; dbmate would refuse it too: add it above the SQL",
                path.display()
            ))
        })?;
        sources.push(Source {
            key: version.to_string(),
            name: name
                .split_once('_')
                .map_or("", |(_, rest)| rest)
                .trim_end_matches(".sql")
                .to_string(),
            number: Some(version),
            sql: Some(up),
            down: down.filter(|d| !d.trim().is_empty()),
            origin: path,
        });
    }
    Ok(sources)
}

/// The up and down SQL of a dbmate file; `transaction:false` on the up marker becomes
/// `-- no-transaction`.
fn sections(text: &str) -> Option<(String, Option<String>)> {
    let up_at = text.lines().position(|l| l.trim_start().starts_with(UP))?;
    let lines: Vec<&str> = text.lines().collect();
    let no_tx = lines[up_at].contains("transaction:false");
    let down_at = lines.iter().position(|l| l.trim_start().starts_with(DOWN));
    let up_end = down_at.filter(|&d| d > up_at).unwrap_or(lines.len());
    let mut up = lines[up_at + 1..up_end].join("\n");
    up.push('\n');
    if no_tx {
        up = format!("{NO_TRANSACTION}\n{up}");
    }
    let down = down_at.map(|d| {
        let end = if d < up_at { up_at } else { lines.len() };
        let mut down = lines[d + 1..end].join("\n");
        if lines[d].contains("transaction:false") {
            down = format!("{NO_TRANSACTION}\n{down}");
        }
        down + "\n"
    });
    Some((up, down))
}

/// Every version in `schema_migrations` is applied.
pub(super) async fn read_history(
    s: &mut Session,
    sources: &[Source],
) -> Result<Vec<(String, Recorded)>, Vec<String>> {
    let versions: Vec<String> =
        sqlx::query_scalar("SELECT version::text FROM schema_migrations ORDER BY version")
            .fetch_all(&mut s.conn)
            .await
            .map_err(|e| {
                vec![format!(
                    "cannot read schema_migrations in {}: {}",
                    s.target,
                    crate::target::redact(&e.to_string())
                )]
            })?;
    let mut problems = Vec::new();
    let mut states = Vec::new();
    for version in versions {
        let version = version.trim().to_string();
        if sources.iter().any(|s| s.key == version) {
            states.push((version, Recorded::Applied { duration_ns: 0 }));
        } else {
            problems.push(format!(
                "schema_migrations has version {version}, which has no file in the folder; restore it from version control"
            ));
        }
    }
    if problems.is_empty() {
        Ok(states)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_and_down_sections() {
        let (up, down) =
            sections("-- migrate:up\ncreate table t (id int);\n\n-- migrate:down\ndrop table t;\n")
                .unwrap();
        assert_eq!(up, "create table t (id int);\n\n");
        assert_eq!(down.as_deref(), Some("drop table t;\n"));
        let (up, down) =
            sections("-- migrate:up transaction:false\ncreate index concurrently i on t (id);\n")
                .unwrap();
        assert!(up.starts_with("-- no-transaction\ncreate index"), "{up}");
        assert_eq!(down, None);
        assert!(sections("create table t (id int);").is_none());
    }
}
