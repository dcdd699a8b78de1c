//! The JSON manifest written beside every archive, once the archive is complete and
//! verified: its presence is what makes a backup count. Written atomically (temporary name
//! in the same folder, fsync, rename, fsync of the folder).

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::child::Mode0600;
use super::{io, BackupError};

/// The manifest's format version; bumped when a field changes meaning.
pub const MANIFEST_VERSION: u32 = 1;

/// Manifests end with this; the archive's name is the manifest's without it.
pub const MANIFEST_SUFFIX: &str = ".json";

/// Temporary files (an archive being written, a manifest being renamed) start with this;
/// `backups` never lists them and the next backup of the folder removes them.
pub const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `pg_dump -Fc`: one file.
    Custom,
    /// `pg_dump -Fd --jobs N`: a folder.
    Directory,
}

/// The row count of one table, exact, taken in the snapshot pg_dump dumped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub schema: String,
    pub table: String,
    pub rows: i64,
}

/// What a backup holds and how it was made. Never holds a password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    /// The archive's file (or folder) name, in the manifest's folder.
    pub archive: String,
    pub env: String,
    /// `host:port` of the server (no user, no password).
    pub host: String,
    pub database: String,
    /// `SHOW server_version` of the dumped server.
    pub server_version: String,
    /// `pg_dump --version`.
    pub pg_dump_version: String,
    pub format: Format,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Bytes of the archive (all files of a directory archive).
    pub size_bytes: u64,
    /// SHA-256 of the archive file; for a directory archive, of the list of its files'
    /// names and SHA-256s (see `verify::sha256_of`).
    pub sha256: String,
    /// The newest successfully applied version in `_sqlx_migrations`; null when the
    /// database has no migration history.
    pub migration_version: Option<i64>,
    /// The environment marker of the dumped database (`_pgshift_marker`), if any.
    pub marker: Option<String>,
    pub label: Option<String>,
    /// `backup --keep`: pruning never deletes it.
    pub keep: bool,
    /// `pg_restore --list` read the archive, it names every table, and the SHA-256 was
    /// computed from the file as renamed into place.
    pub verified: bool,
    /// `--verify=restore`: the archive was also restored into a scratch database whose
    /// catalog model and row counts equal what was dumped.
    #[serde(default)]
    pub restore_verified: bool,
    pub tables: Vec<TableRows>,
}

impl Manifest {
    pub fn total_rows(&self) -> i64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// Reads a manifest file.
    pub fn read(path: &Path) -> Result<Manifest, BackupError> {
        let text = std::fs::read_to_string(path).map_err(|source| BackupError::Io {
            action: "reading the manifest",
            path: path.to_path_buf(),
            error: source,
        })?;
        serde_json::from_str(&text).map_err(|e| BackupError::BadManifest {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Writes the manifest atomically as `dir/<archive>.json`; returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, BackupError> {
        let path = dir.join(format!("{}{MANIFEST_SUFFIX}", self.archive));
        let text = serde_json::to_string_pretty(self).expect("a manifest serializes");
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }
}

/// The manifest path of an archive, and the archive of a manifest.
pub fn manifest_path(archive: &Path) -> PathBuf {
    let mut name = archive.file_name().unwrap_or_default().to_os_string();
    name.push(MANIFEST_SUFFIX);
    archive.with_file_name(name)
}

/// Writes `bytes` to `path` so that a reader sees either the old file or the whole new one:
/// a temporary name in the same folder, fsync, rename, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!("{TEMP_PREFIX}{}-{name}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode_0600()
        .open(&temp)
        .map_err(io("creating", &temp))?;
    file.write_all(bytes).map_err(io("writing", &temp))?;
    file.sync_all().map_err(io("syncing", &temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io("renaming into place", path))?;
    sync_dir(dir)
}

/// fsync of a folder, so that a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|source| BackupError::Io {
            action: "syncing the folder",
            path: dir.to_path_buf(),
            error: source,
        })
}
