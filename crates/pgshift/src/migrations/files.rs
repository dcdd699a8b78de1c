//! The migrations folder: discovery, names, descriptions and checksums exactly as sqlx 0.8
//! derives them (`sqlx-core/src/migrate/source.rs`), plus the file-name errors sqlx ignores.
//!
//! sqlx reads `<VERSION>_<DESCRIPTION>.sql`, `.up.sql` and `.down.sql`; the description is
//! the part after the first `_` without its suffix, with `_` replaced by spaces; the
//! checksum is SHA-384 of the file's bytes as read (no line-ending normalisation); a file
//! whose text starts with `-- no-transaction` runs outside a transaction.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha384};

/// The first line that makes a migration run outside a transaction (sqlx's marker).
pub const NO_TRANSACTION: &str = "-- no-transaction";

/// One migration of the folder: a single `.sql` file, or an `.up.sql`/`.down.sql` pair.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub version: i64,
    /// As sqlx stores it in `_sqlx_migrations.description`.
    pub description: String,
    /// The file that applies it: `20261101090000_create_doctor.up.sql`.
    pub file_name: String,
    pub path: PathBuf,
    /// The `.down.sql` file of a reversible pair.
    pub down: Option<PathBuf>,
    /// The file's text, without the UTF-8 byte order mark it may start with.
    pub sql: String,
    /// SHA-384 of the file's bytes (byte order mark included), as sqlx computes it.
    pub checksum: Vec<u8>,
    /// The file starts with `-- no-transaction`.
    pub no_tx: bool,
}

impl MigrationFile {
    /// `20261101090000_create_doctor`: the name without suffix, for messages.
    pub fn name(&self) -> &str {
        self.file_name
            .strip_suffix(".up.sql")
            .or_else(|| self.file_name.strip_suffix(".sql"))
            .unwrap_or(&self.file_name)
    }

    /// `create_doctor`: the name without version and suffix, as `migrate-new` was given it.
    pub fn name_without_version(&self) -> &str {
        let name = self.name();
        name.split_once('_').map_or(name, |(_, rest)| rest)
    }
}

/// A file of the migrations folder that pgshift (and, silently, sqlx) cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub file: String,
    pub problem: String,
}

/// Everything wrong with the migrations folder, each file named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileErrors {
    pub folder: PathBuf,
    /// The folder itself cannot be read (it does not exist, is not a folder, no permission);
    /// then `problems` is empty. A whole sentence, with what to do.
    pub folder_problem: Option<String>,
    pub problems: Vec<FileProblem>,
}

impl FileErrors {
    fn folder(folder: &Path, error: &std::io::Error) -> FileErrors {
        let shown = folder.display();
        let problem = if error.kind() == std::io::ErrorKind::NotFound {
            // Not "nothing to apply": a wrong `[paths] migrations` would otherwise make every
            // deploy succeed while applying nothing.
            format!(
                "the migrations folder {shown} does not exist; create it (`cargo xtask migrate-new NAME` \
                 makes it with a first migration), or set [paths] migrations in pgshift.toml to the \
                 folder that holds the migrations"
            )
        } else {
            format!(
                "cannot read the migrations folder {shown}: {error}; check that it is a folder you \
                 can read, or set [paths] migrations in pgshift.toml"
            )
        };
        FileErrors {
            folder: folder.to_path_buf(),
            folder_problem: Some(problem),
            problems: Vec::new(),
        }
    }
}

impl std::error::Error for FileErrors {}

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(problem) = &self.folder_problem {
            return f.write_str(problem);
        }
        write!(f, "the migrations folder {} has ", self.folder.display())?;
        match self.problems.len() {
            1 => write!(f, "a file it cannot use:")?,
            n => write!(f, "{n} files it cannot use:")?,
        }
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.file, p.problem)?;
        }
        write!(
            f,
            "\nrename or remove them; migrations are named <version>_<name>.sql (or .up.sql + .down.sql), \
             e.g. `cargo xtask migrate-new add_users`"
        )
    }
}

/// SHA-384 of `bytes`: sqlx's migration checksum.
pub fn checksum(bytes: &[u8]) -> Vec<u8> {
    Sha384::digest(bytes).to_vec()
}

/// The kind a file name says, as sqlx's `MigrationType::from_filename`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Simple,
    Up,
    Down,
}

impl Kind {
    fn of(rest: &str) -> Kind {
        if rest.ends_with(".up.sql") {
            Kind::Up
        } else if rest.ends_with(".down.sql") {
            Kind::Down
        } else {
            Kind::Simple
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Kind::Simple => ".sql",
            Kind::Up => ".up.sql",
            Kind::Down => ".down.sql",
        }
    }
}

/// A parsed file name: version, description and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParsedName {
    version: i64,
    description: String,
    kind: Kind,
}

/// Parses a `.sql` file name the way sqlx does, but says what is wrong instead of skipping.
fn parse_name(file_name: &str) -> Result<ParsedName, String> {
    let Some((version, rest)) = file_name.split_once('_') else {
        return Err(
            "no `_` between version and name; expected <version>_<name>.sql (sqlx skips it silently)"
                .into(),
        );
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{version}` is not a version: expected digits such as a UTC timestamp YYYYMMDDHHMMSS"
        ));
    }
    let version: i64 = version
        .parse()
        .map_err(|_| format!("version `{version}` does not fit a 64-bit integer"))?;
    if version <= 0 {
        return Err("the version must be greater than zero".into());
    }
    let kind = Kind::of(rest);
    // Exactly sqlx's derivation, `trim_end_matches` included.
    let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
    Ok(ParsedName {
        version,
        description,
        kind,
    })
}

/// Whether a file name is an editor's temporary or hidden file, which is never a migration.
fn is_hidden(file_name: &str) -> bool {
    file_name.starts_with('.') || file_name.starts_with('#') || file_name.ends_with('~')
}

/// Reads the folder: every migration in version order, or every file problem at once.
/// A folder that does not exist is an error (only `migrate-new` creates it).
pub fn discover(folder: &Path) -> Result<Vec<MigrationFile>, FileErrors> {
    let mut problems = Vec::new();
    let mut problem = |file: &str, text: String| {
        problems.push(FileProblem {
            file: file.to_string(),
            problem: text,
        })
    };
    let entries = std::fs::read_dir(folder).map_err(|e| FileErrors::folder(folder, &e))?;
    // version -> (the .sql or .up.sql files, the .down.sql files)
    type Slot = (Vec<(String, ParsedName)>, Vec<String>);
    let mut by_version: BTreeMap<i64, Slot> = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    for entry in entries.flatten() {
        let raw_name = entry.file_name();
        let file_name = raw_name.to_string_lossy().into_owned();
        if !file_name.ends_with(".sql") || is_hidden(&file_name) {
            continue;
        }
        if raw_name.to_str().is_none() {
            problem(
                &file_name,
                "the file name is not valid UTF-8 (shown with \u{fffd} for the bytes that are not); \
                 rename it to a UTF-8 name such as <version>_<name>.sql"
                    .into(),
            );
            continue;
        }
        // The directory entry's own type spares a stat per file; a symlink is followed, and
        // one that leads nowhere is an error (sqlx fails on it), not a file to skip.
        let is_file = match entry.file_type() {
            Ok(t) if t.is_symlink() => match std::fs::metadata(entry.path()) {
                Ok(meta) => meta.is_file(),
                Err(e) => {
                    let target = std::fs::read_link(entry.path())
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|_| "?".into());
                    problem(
                        &file_name,
                        format!(
                            "a symbolic link to {target}, which cannot be read ({e}); point the link \
                             at the migration file, or remove it"
                        ),
                    );
                    continue;
                }
            },
            Ok(t) => t.is_file(),
            Err(_) => false,
        };
        if !is_file {
            continue;
        }
        names.push(file_name);
    }
    names.sort();
    for file_name in names {
        match parse_name(&file_name) {
            Err(text) => problem(&file_name, text),
            Ok(parsed) => {
                let slot = by_version.entry(parsed.version).or_default();
                if parsed.kind == Kind::Down {
                    slot.1.push(file_name);
                } else {
                    slot.0.push((file_name, parsed));
                }
            }
        }
    }
    let mut migrations = Vec::new();
    for (version, (ups, downs)) in by_version {
        if ups.len() > 1 || downs.len() > 1 {
            let all: Vec<&str> = ups
                .iter()
                .map(|(n, _)| n.as_str())
                .chain(downs.iter().map(String::as_str))
                .collect();
            problem(
                &all.join(", "),
                format!(
                    "{} files share version {version}; each migration needs its own version",
                    all.len()
                ),
            );
            continue;
        }
        let Some((file_name, parsed)) = ups.into_iter().next() else {
            problem(
                &downs[0],
                "a .down.sql without its .up.sql; add the .up.sql or remove this file".into(),
            );
            continue;
        };
        let down = downs.into_iter().next();
        match (parsed.kind, &down) {
            (Kind::Up, None) => {
                problem(
                    &file_name,
                    format!(
                        "an .up.sql without its .down.sql; add {} (or rename this file to {}_{}.sql)",
                        file_name.replace(".up.sql", ".down.sql"),
                        version,
                        file_name
                            .split_once('_')
                            .map_or("", |(_, rest)| rest)
                            .trim_end_matches(".up.sql")
                    ),
                );
                continue;
            }
            (Kind::Simple, Some(down)) => {
                problem(
                    down,
                    format!("a .down.sql next to the plain {file_name}; name the pair .up.sql and .down.sql"),
                );
                continue;
            }
            _ => {}
        }
        let path = folder.join(&file_name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                problem(&file_name, format!("cannot read it: {e}"));
                continue;
            }
        };
        let sql = match String::from_utf8(bytes) {
            Ok(sql) => sql,
            Err(_) => {
                problem(&file_name, "not UTF-8 text; save it as UTF-8".into());
                continue;
            }
        };
        // The checksum is of the file's bytes (sqlx's); what is sent, and read for
        // `-- no-transaction`, is the text after a UTF-8 byte order mark, as psql reads it.
        let checksum = checksum(sql.as_bytes());
        let sql = without_bom(sql);
        migrations.push(MigrationFile {
            version,
            description: parsed.description,
            checksum,
            no_tx: sql.starts_with(NO_TRANSACTION),
            sql,
            down: down.map(|d| folder.join(d)),
            path,
            file_name,
        });
    }
    if problems.is_empty() {
        Ok(migrations)
    } else {
        Err(FileErrors {
            folder: folder.to_path_buf(),
            folder_problem: None,
            problems,
        })
    }
}

/// The text after a UTF-8 byte order mark, as psql reads a file that starts with one.
pub fn without_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Whether `name` can name a new migration: lowercase words of letters and digits joined by
/// single underscores.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('_').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Whether the checksums differ only because of line endings: the file with CRLF turned
/// into LF, or LF into CRLF, has the applied checksum.
pub fn differs_only_in_line_endings(sql: &str, applied_checksum: &[u8]) -> bool {
    let lf = sql.replace("\r\n", "\n");
    if checksum(lf.as_bytes()) == applied_checksum {
        return true;
    }
    let crlf = lf.replace('\n', "\r\n");
    checksum(crlf.as_bytes()) == applied_checksum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn names_and_descriptions_as_sqlx() {
        let p = parse_name("20261101090000_create_doctor.up.sql").unwrap();
        assert_eq!(
            (p.version, p.description.as_str(), p.kind),
            (20261101090000, "create doctor", Kind::Up)
        );
        let p = parse_name("1_a_b.sql").unwrap();
        assert_eq!(
            (p.version, p.description.as_str(), p.kind),
            (1, "a b", Kind::Simple)
        );
        // sqlx trims the suffix repeatedly.
        assert_eq!(parse_name("2_x.sql.sql").unwrap().description, "x");
        assert!(parse_name("create.sql").is_err());
        assert!(parse_name("v1_create.sql").is_err());
        assert!(parse_name("0_zero.sql").is_err());
        assert!(parse_name("99999999999999999999_big.sql").is_err());
    }

    #[test]
    fn discovers_in_version_order_and_reports_every_bad_file() {
        let dir = folder(&[
            ("2_second.up.sql", "create table b();"),
            ("2_second.down.sql", "drop table b;"),
            ("1_first.sql", "-- no-transaction\ncreate table a();"),
            ("README.md", "not a migration"),
            (".#1_first.sql", "editor lock"),
        ]);
        let found = discover(dir.path()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].file_name, "1_first.sql");
        assert!(found[0].no_tx);
        assert_eq!(found[1].name(), "2_second");
        assert!(found[1].down.is_some());
        assert_eq!(found[1].checksum, checksum(b"create table b();"));

        let dir = folder(&[
            ("1_a.sql", ""),
            ("1_b.sql", ""),
            ("2_up.up.sql", ""),
            ("3_down.down.sql", ""),
            ("oops.sql", ""),
        ]);
        let err = discover(dir.path()).unwrap_err();
        let files: Vec<&str> = err.problems.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "oops.sql",
                "1_a.sql, 1_b.sql",
                "2_up.up.sql",
                "3_down.down.sql"
            ]
        );
    }

    #[test]
    fn migration_names() {
        assert!(valid_name("add_users"));
        assert!(valid_name("v2_index"));
        assert!(!valid_name("Add_users"));
        assert!(!valid_name("add__users"));
        assert!(!valid_name("add-users"));
        assert!(!valid_name("_x"));
        assert!(!valid_name(""));
    }

    #[test]
    fn line_ending_only_edits() {
        let applied = checksum(b"a;\nb;\n");
        assert!(differs_only_in_line_endings("a;\r\nb;\r\n", &applied));
        assert!(!differs_only_in_line_endings("a;\r\nc;\r\n", &applied));
        let applied = checksum(b"a;\r\nb;\r\n");
        assert!(differs_only_in_line_endings("a;\nb;\n", &applied));
    }
}
