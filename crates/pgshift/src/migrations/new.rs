//! `migrate-new`: a new migration file (or `.up.sql`/`.down.sql` pair) named
//! `<UTC YYYYMMDDHHMMSS>_<name>`, with a version newer than every existing one, so two calls
//! in the same second (or two developers' clocks) never collide.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDateTime, Timelike, Utc};

use super::error::MigrateError;
use super::files;

const VERSION_FORMAT: &str = "%Y%m%d%H%M%S";
const CREATED_FORMAT: &str = "%Y-%m-%d %H:%M:%S UTC";
/// What follows the first line of a new migration.
const TEMPLATE_TAIL: &str =
    "-- Runs in one transaction; to opt out, make `-- no-transaction` the first line.\n\
     -- `cargo xtask lint` reviews it; acknowledge a finding with `-- pgshift:allow RULE reason`\n\
     -- on the line before the statement.\n\n";

/// Whether `text` is still exactly what `create` wrote into the migration `name` (its first
/// line's time aside): a file its author has not written yet. `migrate-dev` and the daemon
/// wait for it; any other file without SQL is applied and recorded, as sqlx does.
pub fn is_untouched_template(name: &str, text: &str) -> bool {
    let Some(rest) = text.strip_prefix(&format!("-- {name}: created ")) else {
        return false;
    };
    let Some((created, tail)) = rest.split_once(".\n") else {
        return false;
    };
    tail == TEMPLATE_TAIL && NaiveDateTime::parse_from_str(created, CREATED_FORMAT).is_ok()
}

/// What `create` made.
#[derive(Debug, Clone)]
pub struct Created {
    pub version: i64,
    /// The new files: the migration, then its `.down.sql` for a pair.
    pub paths: Vec<PathBuf>,
}

/// Whether the folder's newest migration is a reversible pair (sqlx-cli makes new migrations
/// of the same kind as the existing ones).
pub fn folder_is_reversible(folder: &Path) -> bool {
    files::discover(folder)
        .ok()
        .and_then(|found| found.last().map(|m| m.down.is_some()))
        .unwrap_or(false)
}

/// Creates the migration `name` in `folder` (made if missing).
pub fn create(folder: &Path, name: &str, reversible: bool) -> Result<Created, MigrateError> {
    if !files::valid_name(name) {
        return Err(MigrateError::Usage(format!(
            "`{name}` is not a migration name: use lowercase words joined by underscores, e.g. add_doctor_fields"
        )));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MigrateError::Io { path, source }
    };
    std::fs::create_dir_all(folder).map_err(io(folder))?;
    // Two processes creating migrations at once take turns: the version is chosen and the
    // file created under an exclusive lock on the folder.
    let dir = File::open(folder).map_err(io(folder))?;
    let _guard = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| io(folder)(std::io::Error::from(errno)))?;
    let newest = std::fs::read_dir(folder)
        .map_err(io(folder))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (version, _) = name.split_once('_')?;
            version.parse::<i64>().ok()
        })
        .max();
    // Whole seconds: the version's resolution.
    let now = Utc::now()
        .naive_utc()
        .with_nanosecond(0)
        .expect("0 is a valid nanosecond");
    let version = match newest
        .and_then(|v| NaiveDateTime::parse_from_str(&v.to_string(), VERSION_FORMAT).ok())
    {
        Some(newest) if newest >= now => newest + chrono::Duration::seconds(1),
        _ => now,
    };
    // One second after 9999-12-31 23:59:59 is year 10000, which no 14-digit version
    // holds (chrono writes `+100000101000000`, which is no version at all).
    if version.year() > 9999 {
        return Err(MigrateError::Usage(format!(
            "the newest migration's version {} is the last UTC timestamp a version can hold \
             (9999-12-31 23:59:59); no newer one exists, so no migration was created; name the \
             file by hand with a larger number as version, e.g. {}_{name}.sql",
            newest.unwrap_or_default(),
            newest.unwrap_or_default() + 1
        )));
    }
    let version_text = version.format(VERSION_FORMAT).to_string();
    let version_number: i64 = version_text.parse().expect("digits");
    if newest.is_some_and(|n| n >= version_number) {
        return Err(MigrateError::Usage(format!(
            "the newest migration's version {} is not a UTC timestamp and is newer than now ({version_text}); \
             name the file by hand with a larger version",
            newest.unwrap_or_default()
        )));
    }
    let created = Utc::now().format(CREATED_FORMAT);
    let mut paths = Vec::new();
    let up_suffix = if reversible { "up.sql" } else { "sql" };
    let header = format!("-- {name}: created {created}.\n{TEMPLATE_TAIL}");
    let mut write = |suffix: &str, text: &str| -> Result<(), MigrateError> {
        let path = folder.join(format!("{version_text}_{name}.{suffix}"));
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(text.as_bytes()).map_err(io(&path))?;
        paths.push(path);
        Ok(())
    };
    write(up_suffix, &header)?;
    if reversible {
        write(
            "down.sql",
            &format!("-- Revert {name}: undo what {version_text}_{name}.up.sql does.\n\n"),
        )?;
    }
    Ok(Created {
        version: version_number,
        paths,
    })
}
