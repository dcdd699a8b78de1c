//! Prisma Migrate's history: one folder per migration under `prisma/migrations`, applied in
//! the order of the folder names, each with a `migration.sql` (or none: a folder of
//! TypeScript data migration), and the `_prisma_migrations` table.

use std::path::Path;

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{ImportError, Recorded, Source};
use crate::migrations::Session;

pub(super) fn read_folder(from: &Path) -> Result<Vec<Source>, ImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    let mut folders: Vec<String> = std::fs::read_dir(from)
        .map_err(io(from))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // Prisma applies them in the order of their names.
    folders.sort();
    if folders.is_empty() {
        return Err(ImportError::Folder(format!(
            "{} has no migration folders; pass Prisma's migrations folder with --from (usually prisma/migrations)",
            from.display()
        )));
    }
    let mut sources = Vec::new();
    for folder in folders {
        let path = from.join(&folder).join("migration.sql");
        let sql = match std::fs::read(&path) {
            Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
                ImportError::Folder(format!(
                    "{} is not UTF-8 text; save it as UTF-8 and run the import again",
                    path.display()
                ))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ImportError::Io { path, source }),
        };
        // `20210101120000_add_users`: the timestamp, then the name Prisma was given.
        let digits = folder.bytes().take_while(u8::is_ascii_digit).count();
        let (number, name) = if digits >= 14 {
            (
                folder[..14].parse().ok(),
                folder[digits..]
                    .trim_start_matches(['_', '-', ' '])
                    .to_string(),
            )
        } else {
            // `01_init`: a number of the author's own; the order is the folder names'.
            let name = folder[digits..].trim_start_matches(['_', '-', ' ']);
            (
                None,
                if name.is_empty() {
                    folder.clone()
                } else {
                    name.to_string()
                },
            )
        };
        sources.push(Source {
            key: folder,
            name,
            number,
            sql,
            down: None,
            origin: path,
        });
    }
    Ok(sources)
}

/// The state of each migration `_prisma_migrations` knows, checked against the folders: a
/// row without a folder, or whose checksum (SHA-256 of migration.sql, which Prisma accepts
/// with either line ending) matches no form of the file, is a problem.
pub(super) async fn read_history(
    s: &mut Session,
    sources: &[Source],
) -> Result<Vec<(String, Recorded)>, Vec<String>> {
    let exists: Result<bool, _> =
        sqlx::query_scalar("SELECT pg_catalog.to_regclass('_prisma_migrations') IS NOT NULL")
            .fetch_one(&mut s.conn)
            .await;
    match exists {
        Ok(true) => {}
        Ok(false) => {
            return Err(vec![format!(
                "{} has no _prisma_migrations table (in its search_path); import without --env, or connect to the database Prisma migrated",
                s.target
            )])
        }
        Err(e) => return Err(vec![crate::target::redact(&e.to_string())]),
    }
    let rows = sqlx::query(
        "SELECT migration_name::text, checksum::text, finished_at IS NOT NULL AS finished, \
                rolled_back_at IS NOT NULL AS rolled_back, coalesce(logs, '') AS logs, \
                coalesce((extract(epoch FROM finished_at - started_at) * 1e9)::bigint, 0) AS ns \
         FROM _prisma_migrations ORDER BY started_at, migration_name",
    )
    .fetch_all(&mut s.conn)
    .await
    .map_err(|e| vec![crate::target::redact(&e.to_string())])?;
    let mut states: Vec<(String, Recorded)> = Vec::new();
    let mut problems = Vec::new();
    for row in rows {
        let get = |name: &str| row.try_get::<String, _>(name).unwrap_or_default();
        let name = get("migration_name");
        let finished: bool = row.try_get("finished").unwrap_or(false);
        let rolled_back: bool = row.try_get("rolled_back").unwrap_or(false);
        let Some(source) = sources.iter().find(|s| s.key == name) else {
            problems.push(format!(
                "_prisma_migrations has {name}, which has no folder in the migrations folder; restore the folder from version control (or pass the right --from)"
            ));
            continue;
        };
        let Some(sql) = &source.sql else {
            problems.push(format!(
                "_prisma_migrations has {name}, whose folder has no migration.sql; restore the file from version control"
            ));
            continue;
        };
        let state = if rolled_back {
            Recorded::RolledBack {
                error: format!("rolled back in Prisma: {}", get("logs").trim()),
            }
        } else if finished {
            if !checksum_matches(sql, &get("checksum")) {
                problems.push(format!(
                    "{} was edited after Prisma applied it (its SHA-256 is not the checksum in _prisma_migrations); restore the applied version from version control",
                    source.origin.display()
                ));
                continue;
            }
            Recorded::Applied {
                duration_ns: row.try_get("ns").unwrap_or(0),
            }
        } else {
            Recorded::Failed {
                error: format!("failed in Prisma: {}", get("logs").trim()),
            }
        };
        // A later row for the same migration (a retry after a rollback) decides.
        states
            .retain(|(key, previous)| key != &name || matches!(previous, Recorded::Applied { .. }));
        if !states.iter().any(|(key, _)| key == &name) {
            states.push((name, state));
        }
    }
    if problems.is_empty() {
        Ok(states)
    } else {
        Err(problems)
    }
}

/// Prisma's checksum is the SHA-256 of the file; it accepts a file whose line endings were
/// converted since (git's autocrlf), so both forms are tried.
fn checksum_matches(sql: &str, recorded: &str) -> bool {
    let sha = |text: &str| hex::encode(Sha256::digest(text.as_bytes()));
    let lf = sql.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    let recorded = recorded.trim().to_ascii_lowercase();
    [sha(sql), sha(&lf), sha(&crlf)].contains(&recorded)
}
