//! Checking an archive: its SHA-256, and that `pg_restore --list` reads it and its table
//! of contents names every table the manifest (the catalog, at dump time) had.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::child::{self, Passfile};
use super::manifest::{Manifest, TableRows};
use super::{io, BackupError};
use crate::target::redact;

/// What `backups verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    pub archive: String,
    pub sha256: String,
    pub sha256_matches: bool,
    /// Entries in the table of contents.
    pub toc_entries: usize,
    /// Tables of the manifest the table of contents does not name.
    pub missing_tables: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.sha256_matches && self.missing_tables.is_empty()
    }
}

/// The SHA-256 of an archive, and its size: of the file, or for a directory archive of
/// the lines `<sha256>  <name>\n` of its files in name order (what `sha256sum *` prints).
pub fn sha256_of(archive: &Path) -> Result<(String, u64), BackupError> {
    if archive.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(archive)
            .map_err(io("reading the archive folder", archive))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        let mut listing = String::new();
        let mut size = 0;
        for name in names {
            let (sha, bytes) = sha256_file(&archive.join(&name))?;
            size += bytes;
            listing.push_str(&format!("{sha}  {}\n", name.to_string_lossy()));
        }
        Ok((hex::encode(Sha256::digest(listing.as_bytes())), size))
    } else {
        sha256_file(archive)
    }
}

fn sha256_file(path: &Path) -> Result<(String, u64), BackupError> {
    let mut file = std::fs::File::open(path).map_err(|source| BackupError::Io {
        action: "opening the archive",
        path: path.to_path_buf(),
        error: source,
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|source| BackupError::Io {
            action: "reading the archive",
            path: path.to_path_buf(),
            error: source,
        })?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Runs `pg_restore --list` on `archive`; returns the table of contents' entries (the
/// lines that are not comments). An archive it cannot read is `NotAnArchive` or `Corrupt`.
pub async fn toc(archive: &Path) -> Result<Vec<String>, BackupError> {
    toc_with(&super::client_program("pg_restore")?, archive).await
}

/// `toc` with the `pg_restore` program already found.
pub(super) async fn toc_with(
    pg_restore: &Path,
    archive: &Path,
) -> Result<Vec<String>, BackupError> {
    let passfile = Passfile::none();
    let mut command = child::command(pg_restore, &passfile);
    command.arg("--list").arg(archive);
    list(command, archive).await
}

/// `toc` with the pg_restore of the local Docker container `container`, the archive on its
/// stdin: for an archive its pg_dump wrote, which this machine's older pg_restore may not
/// read.
pub(super) async fn toc_in_container(
    archive: &Path,
    container: &str,
) -> Result<Vec<String>, BackupError> {
    let file = std::fs::File::open(archive).map_err(|source| BackupError::Io {
        action: "opening the archive",
        path: archive.to_path_buf(),
        error: source,
    })?;
    let mut command = super::dump::docker_command();
    command
        .args(["exec", "-i", container, "pg_restore", "--list"])
        .stdin(file);
    list(command, archive).await
}

async fn list(
    mut command: tokio::process::Command,
    archive: &Path,
) -> Result<Vec<String>, BackupError> {
    let out = command.output().await.map_err(|source| BackupError::Io {
        action: "running pg_restore --list on",
        path: archive.to_path_buf(),
        error: source,
    })?;
    if !out.status.success() {
        let stderr = redact(String::from_utf8_lossy(&out.stderr).trim());
        return Err(
            if stderr.contains("input file does not appear to be a valid archive")
                || stderr.contains("input file is too short")
                || stderr.contains("did not find magic string")
            {
                BackupError::NotAnArchive {
                    path: archive.to_path_buf(),
                }
            } else {
                BackupError::Corrupt {
                    path: archive.to_path_buf(),
                    reason: stderr,
                }
            },
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// The tables of `tables` that no `TABLE` entry of `toc` names (`schema.table`).
pub fn missing_tables(toc: &[String], tables: &[TableRows]) -> Vec<String> {
    // An entry reads `ID; CATALOG OID TABLE SCHEMA NAME OWNER`; names may hold spaces, so
    // an entry is matched by its prefix after ` TABLE `.
    let entries: Vec<&str> = toc
        .iter()
        .filter_map(|line| line.split_once(" TABLE ").map(|(_, rest)| rest))
        .filter(|rest| !rest.starts_with("DATA "))
        .collect();
    tables
        .iter()
        .filter(|t| {
            let prefix = format!("{} {} ", t.schema, t.table);
            !entries.iter().any(|rest| rest.starts_with(&prefix))
        })
        .map(|t| format!("{}.{}", t.schema, t.table))
        .collect()
}

/// Re-checks a finished backup against its manifest: SHA-256 and table of contents.
pub async fn verify_backup(
    archive: &Path,
    manifest: &Manifest,
) -> Result<Verification, BackupError> {
    if !archive.exists() {
        return Err(BackupError::NoSuchBackup {
            path: archive.to_path_buf(),
        });
    }
    let (sha256, _) = sha256_of(archive)?;
    if sha256 != manifest.sha256 {
        return Err(BackupError::ChecksumMismatch {
            path: archive.to_path_buf(),
            expected: manifest.sha256.clone(),
            actual: sha256,
        });
    }
    let sha256_matches = true;
    let toc = toc(archive).await?;
    let missing = missing_tables(&toc, &manifest.tables);
    if !missing.is_empty() {
        // The archive still has its manifest's SHA-256: the manifest is what changed.
        return Err(BackupError::ArchiveLacksTables {
            path: archive.to_path_buf(),
            tables: missing,
        });
    }
    Ok(Verification {
        archive: manifest.archive.clone(),
        sha256,
        sha256_matches,
        toc_entries: toc.len(),
        missing_tables: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_found_by_their_toc_entry() {
        let toc: Vec<String> = [
            "215; 1259 16385 TABLE public doctors postgres",
            "3345; 0 16385 TABLE DATA public doctors postgres",
            "216; 1259 16390 TABLE public my table postgres",
        ]
        .map(String::from)
        .to_vec();
        let table = |schema: &str, table: &str| TableRows {
            schema: schema.into(),
            table: table.into(),
            rows: 0,
        };
        let tables = [
            table("public", "doctors"),
            table("public", "my table"),
            table("public", "overrides"),
            table("other", "doctors"),
        ];
        assert_eq!(
            missing_tables(&toc, &tables),
            ["public.overrides", "other.doctors"]
        );
    }
}
