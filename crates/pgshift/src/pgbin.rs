//! The PostgreSQL programs installed on this machine (initdb, pg_ctl, psql, pg_dump...), and
//! running the server's programs as the `postgres` system user when we are root.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};

/// Overrides where the PostgreSQL programs are looked for.
pub const BINDIR_ENV: &str = "PGSHIFT_PG_BINDIR";

/// A folder holding PostgreSQL's programs.
#[derive(Debug, Clone)]
pub struct PgBin {
    pub dir: PathBuf,
}

/// The PostgreSQL programs could not be found.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL server programs (initdb, pg_ctl) not found; {}", self.advice())]
pub struct MissingBinaries {
    pub looked: String,
    /// Whether `$PGSHIFT_PG_BINDIR` chose the (only) folder looked in.
    pub from_env: bool,
}

impl MissingBinaries {
    /// What to do: a wrong `$PGSHIFT_PG_BINDIR` is fixed there, not by installing anything.
    pub fn advice(&self) -> String {
        if self.from_env {
            format!(
                "{BINDIR_ENV}={} has no initdb/pg_ctl; fix it or unset it",
                self.looked
            )
        } else {
            format!(
                "looked in {}; install them (Debian/Ubuntu: `apt-get install postgresql`, macOS: \
                 `brew install postgresql@16`), set {BINDIR_ENV} to their folder, or use \
                 `backend = \"docker\"` in pgshift.toml",
                self.looked
            )
        }
    }
}

impl PgBin {
    /// Finds the server programs: `$PGSHIFT_PG_BINDIR`, then `pg_config --bindir`, then the
    /// usual Debian and Homebrew folders (the newest version first).
    pub fn find() -> Result<PgBin, MissingBinaries> {
        let candidates = candidate_dirs();
        for dir in &candidates {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(PgBin { dir: dir.clone() });
            }
        }
        Err(MissingBinaries {
            looked: candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            from_env: std::env::var_os(BINDIR_ENV).is_some(),
        })
    }

    /// Finds the server programs for the cluster in `data_dir`: those of the major version
    /// in its `PG_VERSION` (a cluster only runs under its own major version; another would
    /// refuse it, or a newer default would make a cluster that the old one cannot read).
    /// For a folder that holds no cluster yet, the same as `find`.
    pub fn find_for_cluster(data_dir: &Path) -> anyhow::Result<PgBin> {
        let major = std::fs::read_to_string(data_dir.join("PG_VERSION"))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        let Some(major) = major else {
            return Ok(PgBin::find()?);
        };
        let candidates = candidate_dirs();
        let mut found = Vec::new();
        for dir in &candidates {
            if !(dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()) {
                continue;
            }
            let bin = PgBin { dir: dir.clone() };
            match bin.major_version() {
                Ok(version) if version == major => return Ok(bin),
                Ok(version) => found.push(format!("{version} in {}", dir.display())),
                Err(_) => {}
            }
        }
        bail!(
            "the cluster in {} was made by PostgreSQL {major}, but no PostgreSQL {major} server \
             programs were found (looked in {}; found {}); install them (Debian/Ubuntu: \
             `apt-get install postgresql-{major}`, macOS: `brew install postgresql@{major}`) or set \
             {BINDIR_ENV} to their folder",
            data_dir.display(),
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        )
    }

    /// Finds a client program (psql, pg_dump...): next to the server programs if there are
    /// any, else on PATH.
    pub fn client(program: &str) -> anyhow::Result<PathBuf> {
        let [path] = Self::clients([program])?;
        Ok(path)
    }

    /// Several client programs with one search (`pg_config` runs once), as `client` finds
    /// each.
    pub fn clients<const N: usize>(programs: [&str; N]) -> anyhow::Result<[PathBuf; N]> {
        let bin = PgBin::find().ok();
        let mut found = Vec::with_capacity(N);
        for program in programs {
            let beside = bin
                .as_ref()
                .map(|bin| bin.dir.join(program))
                .filter(|path| path.is_file());
            match beside.or_else(|| which(program)) {
                Some(path) => found.push(path),
                None => bail!("`{program}` not found; install the PostgreSQL client (Debian/Ubuntu: `apt-get install postgresql-client`, macOS: `brew install libpq`)"),
            }
        }
        Ok(found.try_into().expect("one path per program"))
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The major version of these programs, from `pg_ctl --version`.
    pub fn major_version(&self) -> anyhow::Result<u32> {
        let out = clean_env(&mut Command::new(self.program("pg_ctl")))
            .arg("--version")
            .output()
            .context("running pg_ctl --version")?;
        parse_major(&String::from_utf8_lossy(&out.stdout))
            .with_context(|| format!("cannot read the version of {}", self.dir.display()))
    }
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(BINDIR_ENV) {
        // An explicit choice is the only place looked at: a test or a user who names a
        // folder wants to know when it is wrong, not to silently get another version.
        dirs.push(PathBuf::from(dir));
        return dirs;
    }
    if let Ok(out) = clean_env(&mut Command::new("pg_config"))
        .arg("--bindir")
        .output()
    {
        if out.status.success() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !dir.is_empty() {
                dirs.push(PathBuf::from(dir));
            }
        }
    }
    for pattern_root in ["/usr/lib/postgresql", "/opt/homebrew/opt", "/usr/local/opt"] {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(pattern_root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().to_string();
                let version = name
                    .strip_prefix("postgresql@")
                    .or(Some(name.as_str()).filter(|_| pattern_root == "/usr/lib/postgresql"))?
                    .parse::<u32>()
                    .ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    }
    dirs.push("/usr/local/pgsql/bin".into());
    if let Some(initdb) = which("initdb") {
        dirs.extend(initdb.parent().map(Path::to_path_buf));
    }
    dirs.dedup();
    dirs
}

pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// "pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> 15
pub fn parse_major(version_line: &str) -> Option<u32> {
    version_line
        .split_whitespace()
        .find_map(|word| word.split('.').next()?.parse::<u32>().ok())
}

/// The system user the server runs as: ourselves, or `postgres` when we are root (the
/// server refuses to run as root).
#[derive(Debug, Clone)]
pub struct ServerUser {
    /// `None` when we run the server as ourselves.
    pub switch_to: Option<(nix::unistd::Uid, nix::unistd::Gid, String)>,
}

impl ServerUser {
    pub fn current() -> anyhow::Result<ServerUser> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(ServerUser { switch_to: None });
        }
        let user = nix::unistd::User::from_name("postgres")
            .context("looking up the postgres system user")?
            .context(
                "running as root, and the PostgreSQL server refuses to run as root, but there is no \
                 `postgres` system user to run it as; create one (`useradd --system --user-group postgres`) \
                 or run pgshift as an ordinary user",
            )?;
        Ok(ServerUser {
            switch_to: Some((user.uid, user.gid, user.name)),
        })
    }

    pub fn name(&self) -> String {
        match &self.switch_to {
            Some((_, _, name)) => name.clone(),
            None => nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map_or_else(|| "the current user".to_string(), |u| u.name),
        }
    }

    /// A command that runs `program` as this user, without libpq's variables (`clean_env`).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        clean_env(&mut command);
        if let Some((uid, gid, _)) = &self.switch_to {
            use std::os::unix::process::CommandExt;
            // std drops the supplementary groups when it switches the uid.
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command
    }

    /// Makes `path` owned by this user (no-op unless we switch users).
    pub fn chown(&self, path: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid, _)) = &self.switch_to {
            nix::unistd::chown(path, Some(*uid), Some(*gid))
                .with_context(|| format!("chown {} to postgres", path.display()))?;
        }
        Ok(())
    }

    /// Checks that the server user can reach `dir`: every folder above it must be
    /// searchable, which a 0700 folder owned by root is not.
    pub fn check_reachable(&self, dir: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if self.switch_to.is_none() {
            return Ok(());
        }
        for ancestor in dir.ancestors().skip(1) {
            let Ok(meta) = std::fs::metadata(ancestor) else {
                continue;
            };
            if meta.permissions().mode() & 0o001 == 0 {
                bail!(
                    "the server runs as the `postgres` user, which cannot reach {} because {} is not \
                     searchable by other users (mode {:o}); `chmod o+x {}`, or set [paths] state in \
                     pgshift.toml to a folder the postgres user can reach",
                    dir.display(),
                    ancestor.display(),
                    meta.permissions().mode() & 0o777,
                    ancestor.display()
                );
            }
        }
        Ok(())
    }
}

/// Removes libpq's `PG*` variables (`target::is_libpq_var`) from a child's environment, so
/// that a PostgreSQL program (psql, pg_dump, pg_restore, initdb, pg_ctl, the server) sees
/// only what pgshift sets on it: an exported `PGHOST`, `PGPORT`, `PGSERVICE` or `PGOPTIONS`
/// must not send it elsewhere. Every PostgreSQL program pgshift runs goes through this.
pub fn clean_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if crate::target::is_libpq_var(&name) {
            command.env_remove(name);
        }
    }
    command
}

/// Runs a command, failing with its stderr when it exits non-zero.
pub fn run(command: &mut Command, what: &str) -> anyhow::Result<Output> {
    let out = command
        .output()
        .with_context(|| format!("{what}: cannot run {:?}", command.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            crate::target::redact(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_versions() {
        assert_eq!(
            super::parse_major("pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(super::parse_major("pg_dump (PostgreSQL) 16.2"), Some(16));
        assert_eq!(super::parse_major("PostgreSQL 9.6.1"), Some(9));
    }
}
