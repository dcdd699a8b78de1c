//! Backups and restore: verified pg_dump archives with a JSON manifest beside each, listed,
//! re-checked, pruned, and restored into the local database.
//!
//! A backup counts only once its manifest exists: the archive is written under a temporary
//! name, fsynced, checked (`pg_restore --list` names every table, SHA-256), renamed into
//! place, and only then is the manifest written (atomically, with `verified: true`). A dump
//! that fails or is killed leaves only temporary files, which `backups` never lists and the
//! next backup of that folder removes.

mod background;
pub(crate) mod child;
mod dump;
pub mod manifest;
mod rehearse;
pub mod restore;
pub mod retention;
pub mod schedule;
pub mod verify;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;

use crate::config::Config;
use crate::db::ConnectError;
use crate::target::Target;

pub use manifest::{Format, Manifest, TableRows};
pub use restore::{marked_target, restore, MarkedTarget, RestoreOptions, RestoreReport};
pub use verify::Verification;

use manifest::{manifest_path, MANIFEST_SUFFIX, TEMP_PREFIX};

/// What `backup` is asked for.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// A free text stored in the manifest.
    pub label: Option<String>,
    /// pg_dump jobs: more than 1 makes a directory-format archive dumped in parallel.
    pub jobs: u32,
    /// Never pruned.
    pub keep: bool,
    /// `--verify=restore`: a URL of the local server (any database) on which to restore
    /// the archive into a scratch database and compare it with what was dumped.
    pub verify_restore: Option<crate::target::DbUrl>,
}

/// Steps of a backup or restore, for progress output.
#[derive(Debug)]
pub enum Progress<'a> {
    /// pg_dump started on `database` of `env`, writing `archive` (a temporary name).
    Dumping { env: &'a str, database: &'a str },
    /// Bytes written so far.
    Written { bytes: u64, elapsed: Duration },
    /// The dump ended; checking it.
    Verifying,
    /// Retention deleted this backup.
    Pruned { archive: &'a str },
    /// pg_restore started into `database`.
    Restoring { database: &'a str },
    /// `--verify=restore` dropped `database`, the scratch database of a process that is
    /// gone (killed while it verified).
    ScratchDropped { database: &'a str },
}

/// A finished, verified backup.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub archive_path: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    /// Backups deleted by retention after this one was verified.
    pub pruned: Vec<PathBuf>,
    /// Backups of this environment dated in the future, which retention counted as newer
    /// than this one (and kept).
    pub future_dated: Vec<PathBuf>,
    /// Backups of this environment that retention found damaged (`retention::Pruning`).
    pub damaged: Vec<Entry>,
    /// Leftovers of interrupted backups removed before this one started.
    pub cleaned: Vec<PathBuf>,
}

/// Why a backup, a check or a restore failed; each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{action} {database} failed: {reason}")]
    Database {
        action: &'static str,
        database: String,
        reason: String,
    },
    #[error("{0}")]
    ProgramMissing(String),
    #[error(
        "pg_dump {pg_dump} is older than the server of {database} (PostgreSQL {server}), and \
         pg_dump cannot dump a newer server; install the PostgreSQL {server_major} client \
         (Debian/Ubuntu: `apt-get install postgresql-client-{server_major}`, macOS: `brew install \
         postgresql@{server_major}`) or set PGSHIFT_PG_BINDIR to a folder holding it; nothing was \
         written"
    )]
    PgDumpTooOld {
        pg_dump: String,
        server: String,
        server_major: u32,
        database: String,
    },
    #[error(
        "pg_dump {pg_dump} on this machine is older than the server of {database} (PostgreSQL \
         {server}), so the dump runs inside the local Docker container, which writes one file: \
         run the backup without --jobs, or install the PostgreSQL {server_major} client to dump \
         in parallel here; nothing was written"
    )]
    ContainerNeedsOneJob {
        pg_dump: String,
        server: String,
        server_major: u32,
        database: String,
    },
    #[error("counting the rows of {database} failed: {reason}{hint}; nothing was kept")]
    CountFailed {
        database: String,
        reason: String,
        hint: &'static str,
    },
    #[error("pg_dump of {database} failed ({status}): {stderr}; nothing was kept")]
    DumpFailed {
        database: String,
        status: String,
        stderr: String,
    },
    // The I/O error is in the message, not a source: a source would be printed twice.
    #[error("{action} {}: {error}{}", path.display(), disk_hint(error))]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("no such file: {}; `cargo xtask backups` lists the backups", path.display())]
    NoSuchBackup { path: PathBuf },
    #[error("[backup] dir = {:?} {}: point it at a folder (or remove the file)", dir.display().to_string(), if dir == file { "is a file, not a folder".to_string() } else { format!("cannot be made: {} is a file", file.display()) })]
    BackupDirIsAFile { dir: PathBuf, file: PathBuf },
    #[error("{} is not a pg_dump archive (pg_restore cannot read it); give an archive made by `cargo xtask backup` (`cargo xtask backups` lists them)", path.display())]
    NotAnArchive { path: PathBuf },
    #[error("{} is damaged: pg_restore cannot read it ({reason}); use another backup (`cargo xtask backups`)", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{} does not match its manifest (sha256 {actual}, manifest says {expected}): the archive is damaged or was changed; use another backup (`cargo xtask backups`)", path.display())]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("the archive of {database} does not name these tables the database had: {}; nothing was kept; check pg_dump's version and try again", tables.join(", "))]
    MissingTables {
        database: String,
        tables: Vec<String>,
    },
    #[error("{} does not name these tables its manifest lists: {}; the manifest was edited or belongs to another archive; use another backup (`cargo xtask backups`)", path.display(), tables.join(", "))]
    ArchiveLacksTables { path: PathBuf, tables: Vec<String> },
    #[error("{} is not a readable backup manifest: {reason}; give the archive or its .json manifest as `cargo xtask backups` lists them", path.display())]
    BadManifest { path: PathBuf, reason: String },
    #[error("no verified backup of `{env}` in {}; make one with `cargo xtask backup --env {env}`", dir.display())]
    NoBackup { env: String, dir: PathBuf },
    #[error("another backup of this environment is running (it holds {}); wait for it to finish", path.display())]
    Busy { path: PathBuf },
    #[error("`{env}` ({database}) is a protected environment: restoring drops and replaces what it holds; pass --yes (on a terminal you will also type the database name)")]
    Protected { env: String, database: String },
    #[error("{refusal}; restoring into it drops and replaces what it holds: to do so all the same, pass --yes (on a terminal you will also type the database name)")]
    Marked { refusal: String },
    #[error("database {database} does not exist on {host}; create it (`createdb {database}`, or `cargo xtask db up` for the local database) and run the restore again; nothing was changed")]
    MissingDatabase { database: String, host: String },
    #[error("--verify=restore: restoring the archive into a scratch database on {server} did not give back what was dumped: {reason}; nothing was kept")]
    RestoreCheck { server: String, reason: String },
    #[error(
        "{signal} during --verify=restore: the scratch database was dropped; nothing was kept"
    )]
    Interrupted { signal: &'static str },
    #[error("pg_restore into {database} failed ({status}): {stderr}; {consequence}")]
    RestoreFailed {
        database: String,
        status: String,
        stderr: String,
        consequence: &'static str,
    },
}

/// `map_err` for an I/O error while doing `action` to `path`.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io {
        action,
        path,
        error: source,
    }
}

fn disk_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc_enospc) if libc_enospc == nix::errno::Errno::ENOSPC as i32 => {
            "; free some space or set [backup] dir in pgshift.toml to a larger disk"
        }
        Some(efbig) if efbig == nix::errno::Errno::EFBIG as i32 => {
            "; the file-size limit (ulimit -f) was reached; raise it"
        }
        _ => "",
    }
}

/// Finds a PostgreSQL client program (pg_dump, pg_restore).
pub(crate) fn client_program(name: &str) -> Result<PathBuf, BackupError> {
    let [path] = client_programs([name])?;
    Ok(path)
}

/// Several client programs with one search.
pub(crate) fn client_programs<const N: usize>(
    names: [&str; N],
) -> Result<[PathBuf; N], BackupError> {
    crate::pgbin::PgBin::clients(names).map_err(|e| BackupError::ProgramMissing(format!("{e:#}")))
}

/// Dumps `target` into `config`'s backup folder for its environment, verifies the archive,
/// writes the manifest, then applies retention. Nothing is left that counts as a backup
/// unless every step succeeded.
pub async fn backup(
    config: &Config,
    target: &Target,
    options: &BackupOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<BackupReport, BackupError> {
    let dir = backup_folder(config, &target.env)?;
    let _lock = lock_folder(&dir)?;
    let cleaned = clean_leftovers(&dir, &target.env);
    let started_at = Utc::now();
    let format = if options.jobs > 1 {
        Format::Directory
    } else {
        Format::Custom
    };
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        started_at.format("%Y%m%dT%H%M%S%.3fZ")
    ));
    let result = make(
        config, target, &dir, &temp, started_at, format, options, progress,
    )
    .await;
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(e) => {
            remove_any(&temp);
            return Err(e);
        }
    };
    let archive_path = dir.join(&manifest.archive);
    let manifest_path = manifest.write(&dir)?;
    let mut pruned = Vec::new();
    let mut future_dated = Vec::new();
    let mut damaged = Vec::new();
    if config.backup.prunes() {
        let pruning = retention::prune(config, Some(&target.env), false, Some(&archive_path))?;
        for entry in pruning.pruned {
            progress(Progress::Pruned {
                archive: &entry.manifest.archive,
            });
            pruned.push(entry.archive_path);
        }
        future_dated = pruning.future_dated;
        damaged = pruning.damaged;
    }
    Ok(BackupReport {
        archive_path,
        manifest_path,
        manifest,
        pruned,
        future_dated,
        damaged,
        cleaned,
    })
}

/// Makes `env`'s backup folder ready: `[backup] dir` with a `.gitignore` that ignores
/// everything in it (a backup holds the database's data, which must not reach a
/// repository), and the environment's folder, both 0700 when pgshift makes them (the
/// environment's folder always).
fn backup_folder(config: &Config, env: &str) -> Result<PathBuf, BackupError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let root = config.backup_root();
    let dir = config.backup_dir(env);
    // The nearest of it and its parents that exists must be a folder.
    if let Some(file) = root
        .ancestors()
        .find(|a| a.exists())
        .filter(|a| !a.is_dir())
    {
        return Err(BackupError::BackupDirIsAFile {
            file: file.to_path_buf(),
            dir: root,
        });
    }
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("creating the backup folder", parent))?;
    }
    for folder in [&root, &dir] {
        match std::fs::DirBuilder::new().mode(0o700).create(folder) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && folder.is_dir() => {}
            created => created.map_err(io("creating the backup folder", folder))?,
        }
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("making private", &dir))?;
    let ignore = root.join(".gitignore");
    if !ignore.exists() {
        manifest::write_atomic(
            &ignore,
            b"# pgshift's backups hold the database's data\n*\n",
        )?;
    }
    Ok(dir)
}

/// Dump, fsync, check, rename: the manifest of the archive now in place.
#[allow(clippy::too_many_arguments)]
async fn make(
    config: &Config,
    target: &Target,
    dir: &Path,
    temp: &Path,
    started_at: DateTime<Utc>,
    format: Format,
    options: &BackupOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Manifest, BackupError> {
    let database = target.url.database();
    let dumped = dump::dump(
        config,
        target,
        temp,
        format,
        options.jobs,
        options.verify_restore.is_some(),
        progress,
    )
    .await?;
    progress(Progress::Verifying);
    let verifying = std::time::Instant::now();
    // The fsync (pg_dump ran with --no-sync: its own fsync would come first, alone), the
    // SHA-256 (reading the whole archive) and `pg_restore --list` (reading its table of
    // contents) at the same time: all three are on the critical path of every backup, and
    // the rename below waits for all three.
    let toc = async {
        match &dumped.container {
            Some(container) => verify::toc_in_container(temp, container).await,
            None => verify::toc_with(&dumped.pg_restore, temp).await,
        }
    };
    let (synced, hashed, toc) = tokio::join!(
        on_thread("syncing", temp, sync_archive),
        on_thread("hashing", temp, verify::sha256_of),
        toc
    );
    synced?;
    let (sha256, size_bytes) = hashed?;
    let toc = toc?;
    tracing::debug!(
        "fsync, SHA-256 and pg_restore --list (at the same time) took {:.2} s",
        verifying.elapsed().as_secs_f64()
    );
    let missing = verify::missing_tables(&toc, &dumped.tables);
    if !missing.is_empty() {
        return Err(BackupError::MissingTables {
            database: target.url.host_and_database(),
            tables: missing,
        });
    }
    if let Some(local) = &options.verify_restore {
        rehearse::check(temp, &dumped, local, options.jobs, progress).await?;
    }
    let archive = archive_name(
        &target.env,
        &database,
        started_at,
        dumped.migration_version,
        format,
    );
    let archive_path = dir.join(&archive);
    if archive_path.exists() {
        return Err(BackupError::Io {
            action: "naming the archive",
            path: archive_path,
            error: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    std::fs::rename(temp, &archive_path).map_err(|source| BackupError::Io {
        action: "renaming the archive into place",
        path: archive_path.clone(),
        error: source,
    })?;
    manifest::sync_dir(dir)?;
    Ok(Manifest {
        manifest_version: manifest::MANIFEST_VERSION,
        archive,
        env: target.env.clone(),
        host: {
            let options = target.url.connect_options();
            format!("{}:{}", options.get_host(), options.get_port())
        },
        database,
        server_version: dumped.server_version,
        pg_dump_version: dumped.pg_dump_version,
        format,
        started_at,
        finished_at: Utc::now(),
        size_bytes,
        sha256,
        migration_version: dumped.migration_version,
        marker: dumped.marker,
        label: options.label.clone(),
        keep: options.keep,
        verified: true,
        restore_verified: options.verify_restore.is_some(),
        tables: dumped.tables,
    })
}

/// `<env>-<database>-<UTC time>-v<migration>` plus `.dump` for a custom-format file.
fn archive_name(
    env: &str,
    database: &str,
    at: DateTime<Utc>,
    version: Option<i64>,
    format: Format,
) -> String {
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let name = format!(
        "{}-{}-{}-v{}",
        safe(env),
        safe(database),
        at.format("%Y%m%dT%H%M%S%3fZ"),
        version.unwrap_or(0)
    );
    match format {
        Format::Custom => format!("{name}.dump"),
        Format::Directory => name,
    }
}

/// `work` on `path` on a thread of its own, so that the runtime goes on with the rest.
async fn on_thread<T: Send + 'static>(
    action: &'static str,
    path: &Path,
    work: fn(&Path) -> Result<T, BackupError>,
) -> Result<T, BackupError> {
    let path = path.to_path_buf();
    let shown = path.clone();
    tokio::task::spawn_blocking(move || work(&path))
        .await
        .map_err(|e| BackupError::Io {
            action,
            path: shown,
            error: std::io::Error::other(e.to_string()),
        })?
}

/// fsync of every file of the archive (and of a directory archive's folder), each made
/// private (0600, the folder 0700: pg_dump creates them with the umask's mode).
fn sync_archive(path: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt;
    let sync = |p: &Path| {
        let mode = if p.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .and_then(|()| File::open(p))
            .and_then(|f| f.sync_all())
            .map_err(|source| BackupError::Io {
                action: "syncing",
                path: p.to_path_buf(),
                error: source,
            })
    };
    if path.is_dir() {
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            sync(&entry.path())?;
        }
    }
    sync(path)
}

/// One backup at a time per folder: an exclusive `flock` on `<dir>/.lock`, dropped by the
/// kernel however the process ends.
fn lock_folder(dir: &Path) -> Result<Flock<File>, BackupError> {
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| BackupError::Io {
            action: "opening the lock file",
            path: path.clone(),
            error: source,
        })?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| BackupError::Busy { path })
}

/// Removes what interrupted backups left (under the folder lock, so none is running):
/// temporary files, and archives of this environment whose manifest was never written.
fn clean_leftovers(dir: &Path, env: &str) -> Vec<PathBuf> {
    let mut cleaned = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        let orphan = name.starts_with(&format!("{env}-"))
            && !name.ends_with(MANIFEST_SUFFIX)
            && !manifest_path(&path).exists();
        if name.starts_with(TEMP_PREFIX) || orphan {
            remove_any(&path);
            tracing::info!("removed {}, left by an interrupted backup", path.display());
            cleaned.push(path);
        }
    }
    cleaned
}

fn remove_any(path: &Path) {
    let _ = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

/// A backup as `backups` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub manifest_path: PathBuf,
    pub archive_path: PathBuf,
    /// The archive exists with the size the manifest gives, and the manifest says verified.
    pub good: bool,
    /// Why it is not good.
    pub problem: Option<String>,
    /// Listed in `[backup] keep` or made with `--keep`.
    pub kept: bool,
    pub manifest: Manifest,
}

/// The backups of `env` (every environment when `None`), newest first. Temporary files and
/// archives without a manifest are not backups and are not listed.
pub fn list(config: &Config, env: Option<&str>) -> Result<Vec<Entry>, BackupError> {
    let root = config.backup_root();
    let dirs: Vec<PathBuf> = match env {
        Some(env) => vec![root.join(env)],
        None => std::fs::read_dir(&root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
    };
    let mut entries = Vec::new();
    for dir in dirs {
        for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = file.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || !name.ends_with(MANIFEST_SUFFIX) {
                continue;
            }
            let manifest_path = file.path();
            let manifest = match Manifest::read(&manifest_path) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("{e}");
                    continue;
                }
            };
            entries.push(entry(config, manifest_path, manifest));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.manifest.started_at));
    Ok(entries)
}

fn entry(config: &Config, manifest_path: PathBuf, manifest: Manifest) -> Entry {
    // The archive is the manifest's name without `.json`, whatever the manifest's
    // `archive` field says: a copied or edited manifest must not point elsewhere.
    let archive_path = {
        let name = manifest_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        manifest_path.with_file_name(name.strip_suffix(MANIFEST_SUFFIX).unwrap_or(&name))
    };
    let size = match manifest.format {
        Format::Custom => std::fs::metadata(&archive_path).ok().map(|m| m.len()),
        Format::Directory => archive_path.is_dir().then(|| {
            std::fs::read_dir(&archive_path)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        }),
    };
    let problem = match size {
        None => Some("the archive is missing".to_string()),
        Some(size) if size != manifest.size_bytes => Some(format!(
            "the archive has {size} bytes, the manifest says {}",
            manifest.size_bytes
        )),
        Some(_) if !manifest.verified => Some("not verified".to_string()),
        Some(_) => None,
    };
    let file_name = manifest_path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let kept = manifest.keep
        || config
            .backup
            .keep
            .iter()
            .any(|k| *k == manifest.archive || *k == file_name);
    Entry {
        good: problem.is_none(),
        problem,
        kept,
        archive_path,
        manifest_path,
        manifest,
    }
}

/// Finds a backup by path: the archive (file or folder) or its `.json` manifest.
pub fn open(config: &Config, path: &Path) -> Result<Entry, BackupError> {
    let manifest_path = if path.to_string_lossy().ends_with(MANIFEST_SUFFIX) {
        path.to_path_buf()
    } else {
        manifest_path(path)
    };
    if !manifest_path.exists() {
        if !path.exists() {
            return Err(BackupError::NoSuchBackup {
                path: path.to_path_buf(),
            });
        }
        return Err(BackupError::BadManifest {
            path: manifest_path,
            reason: "it does not exist (an archive without its manifest is not a finished backup)"
                .into(),
        });
    }
    let manifest = Manifest::read(&manifest_path)?;
    Ok(entry(config, manifest_path, manifest))
}

/// The newest good backup of `env` whose archive still has its manifest's SHA-256, and the
/// newer ones skipped because theirs does not (marked not good, with the problem).
pub fn latest(config: &Config, env: &str) -> Result<(Entry, Vec<Entry>), BackupError> {
    let mut skipped = Vec::new();
    for mut entry in list(config, Some(env))?.into_iter().filter(|e| e.good) {
        if recheck(&mut entry) {
            return Ok((entry, skipped));
        }
        skipped.push(entry);
    }
    Err(BackupError::NoBackup {
        env: env.to_string(),
        dir: config.backup_dir(env),
    })
}

/// Re-hashes a good entry's archive: one that no longer has its manifest's SHA-256 (or
/// cannot be read) is no longer good, and says why. The size check of `list` does not see a
/// byte changed in place.
pub(crate) fn recheck(entry: &mut Entry) -> bool {
    let problem = match verify::sha256_of(&entry.archive_path) {
        Ok((sha256, _)) if sha256 == entry.manifest.sha256 => return true,
        Ok((sha256, _)) => format!(
            "the archive does not match its manifest (sha256 {sha256}, manifest says {}): damaged or changed",
            entry.manifest.sha256
        ),
        Err(e) => e.to_string(),
    };
    entry.good = false;
    entry.problem = Some(problem);
    false
}

/// `backups verify FILE`: the SHA-256 and table of contents of a backup against its
/// manifest.
pub async fn verify(config: &Config, path: &Path) -> Result<Verification, BackupError> {
    let entry = match open(config, path) {
        Ok(entry) => entry,
        Err(e @ BackupError::BadManifest { .. }) => {
            // "Not an archive" rather than "no manifest" for a file pg_restore refuses.
            if path.exists() && !path.to_string_lossy().ends_with(MANIFEST_SUFFIX) {
                verify::toc(path).await?;
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    verify::verify_backup(&entry.archive_path, &entry.manifest).await
}
