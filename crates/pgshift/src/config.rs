//! `pgshift.toml`: where things live, how the local database runs, which remote environments
//! exist. Every key has a default, so a project runs with no config file at all.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::UsageError;

/// The file name looked for at the project root.
pub const CONFIG_FILE: &str = "pgshift.toml";

/// The whole configuration, with paths made absolute against the project root.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The project root: the folder holding `pgshift.toml` (or the workspace root).
    #[serde(skip)]
    pub root: PathBuf,
    pub paths: Paths,
    pub local: Local,
    pub env: BTreeMap<String, RemoteEnv>,
    pub migrate: Migrate,
    pub codegen: Codegen,
    pub backup: Backup,
    pub lint: Lint,
    pub deploy: Deploy,
}

/// `[deploy]`: the production pipeline (`cargo xtask deploy`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deploy {
    /// The application's deploy, run through `sh -c` after every migration applied and
    /// verified (`fly deploy`, `kubectl rollout restart ...`).
    pub command: Option<String>,
    /// Rehearse the pending migrations on a copy in a scratch database on the local server
    /// before production: `full` (default: the backup restored, data included), `schema`
    /// (a schema-only dump of the target, for databases too big to copy) or `off`.
    pub rehearse: Rehearse,
    /// How often a migration that failed only on `lock_timeout` is tried again.
    pub lock_retries: u32,
    /// Give the application command the target's URL (password included) as DATABASE_URL.
    pub pass_database_url: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rehearse {
    Full,
    Schema,
    Off,
}

impl Default for Deploy {
    fn default() -> Deploy {
        Deploy {
            command: None,
            rehearse: Rehearse::Full,
            lock_retries: 3,
            pass_database_url: false,
        }
    }
}

/// `[backup]`: where archives go and how many are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backup {
    /// The folder of the archives, one subfolder per environment; default
    /// `<state>/backups` (git-ignored with the rest of the state folder).
    pub dir: Option<PathBuf>,
    /// Keep at least the newest N verified backups of each environment.
    pub keep_last: Option<u32>,
    /// Keep every verified backup younger than N days.
    pub keep_days: Option<u32>,
    /// Archive or manifest file names that pruning never deletes.
    pub keep: Vec<String>,
    /// When the daemon (`watch`, `dev`, `daemon start`) takes a local backup: a cron
    /// expression, seconds first (`0 0 3 * * *`).
    pub schedule: Option<String>,
    /// The time zone of `schedule`: an IANA name, `UTC` (default) or a fixed offset.
    pub timezone: Option<String>,
}

impl Backup {
    /// Whether pruning deletes anything at all: with neither key set, every backup is kept.
    pub fn prunes(&self) -> bool {
        self.keep_last.is_some() || self.keep_days.is_some()
    }

    /// The daemon's backup schedule, if `schedule` is set (checked when the config loaded).
    pub fn schedule(&self) -> Result<Option<crate::backup::schedule::BackupSchedule>, String> {
        self.schedule
            .as_deref()
            .map(|expression| {
                crate::backup::schedule::BackupSchedule::parse(expression, self.timezone.as_deref())
            })
            .transpose()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    /// The migrations folder.
    pub migrations: PathBuf,
    /// The generated bindings file.
    pub bindings: PathBuf,
    /// pgshift's own state: the embedded cluster, the daemon's lock and log. Git-ignored.
    pub state: PathBuf,
    /// The schema folder (schema as code): `.sql` files holding the desired schema, from
    /// which `migrate-dev --name` writes migrations. Optional: without it nothing changes.
    pub schema: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Auto,
    Docker,
    Embedded,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Auto => "auto",
            BackendKind::Docker => "docker",
            BackendKind::Embedded => "embedded",
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Local {
    /// `docker`, `embedded`, or `auto` (docker when an engine answers, else embedded).
    pub backend: BackendKind,
    /// The application database, created on first `db up`.
    pub database: String,
    /// The TCP port on 127.0.0.1, for both backends.
    #[serde(deserialize_with = "port")]
    pub port: u16,
    /// The database user; the superuser of the local cluster.
    pub user: String,
    /// The password for the docker backend (the embedded one trusts loopback connections).
    pub password: Secret,
    /// The compose file of the docker backend.
    pub compose_file: PathBuf,
    /// The compose service that runs PostgreSQL.
    pub compose_service: String,
    /// How long `db up` waits for the server to accept connections.
    #[serde(deserialize_with = "duration")]
    pub start_timeout: Duration,
}

/// A password from the config: `Debug` shows `***`, so printing a `Config` cannot leak it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself: for a child's environment or a connection, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A remote environment such as staging or prod.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteEnv {
    /// The process environment variable that holds the URL; never read from `.env`.
    pub url_env: String,
    /// Destructive commands refuse it; deploy asks for typed confirmation.
    #[serde(default)]
    pub protected: bool,
    /// `deploy` requires `sslmode=require` or stronger for a protected environment on
    /// another machine; `false` opts out explicitly.
    #[serde(default = "yes")]
    pub require_tls: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Migrate {
    /// How long to wait for the migration advisory lock held by another session.
    #[serde(deserialize_with = "duration")]
    pub lock_timeout: Duration,
    /// PostgreSQL `lock_timeout` in every migration session: a migration blocked on a table
    /// lock fails after this long instead of queueing every other query behind it.
    #[serde(deserialize_with = "duration")]
    pub session_lock_timeout: Duration,
    /// PostgreSQL `statement_timeout` in every migration session; 0 means none.
    #[serde(deserialize_with = "duration")]
    pub statement_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateTimeCrate {
    Chrono,
    Time,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Codegen {
    /// Schemas to generate bindings for.
    pub schemas: Vec<String>,
    /// Add serde derives to the generated types.
    pub serde: bool,
    /// The date-time crate of the generated types.
    pub datetime: DateTimeCrate,
    /// PostgreSQL type name -> Rust path overrides.
    pub types: BTreeMap<String, String>,
    /// Generate `Vec<Option<T>>` for arrays, whose elements PostgreSQL cannot declare NOT
    /// NULL; `Vec<T>` (the default) fails to read an array holding a NULL.
    pub nullable_array_elements: bool,
    /// A column whose type has no Rust mapping fails `generate`; by default it is left out
    /// of its struct (named in the struct's docs and in a warning).
    pub strict: bool,
    /// A struct per partition of a partitioned table too (by default only the parent's).
    pub partitions: bool,
}

/// `[lint]`: how the migration lint judges (see `crate::lint`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lint {
    /// A table with at least this many rows is large: a lock held for the time it takes to
    /// scan, rewrite or index it is a blocking finding.
    pub large_table_rows: u64,
    /// The PostgreSQL major version assumed when no target database is asked.
    pub postgres_version: u32,
    /// Rule id -> `off`, `warning` or `error` (blocking), overriding how the lint judges it.
    pub rules: BTreeMap<String, RuleLevel>,
}

/// A rule's level in `[lint.rules]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    /// Never reported.
    Off,
    /// Reported, never blocking.
    Warning,
    /// Reported as blocking whenever the statement takes a risk on the target.
    Error,
}

impl Default for Lint {
    fn default() -> Lint {
        Lint {
            large_table_rows: 100_000,
            postgres_version: 15,
            rules: BTreeMap::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            root: PathBuf::new(),
            paths: Paths::default(),
            local: Local::default(),
            env: BTreeMap::new(),
            migrate: Migrate::default(),
            codegen: Codegen::default(),
            backup: Backup::default(),
            lint: Lint::default(),
            deploy: Deploy::default(),
        }
    }
}

impl Default for Paths {
    fn default() -> Paths {
        Paths {
            migrations: "migrations".into(),
            bindings: "crates/db-schema/src/generated.rs".into(),
            state: ".pgshift".into(),
            schema: None,
        }
    }
}

impl Default for Local {
    fn default() -> Local {
        Local {
            backend: BackendKind::Auto,
            database: "app_dev".into(),
            port: 5433,
            user: "postgres".into(),
            password: Secret::new("postgres"),
            compose_file: "docker/docker-compose.yml".into(),
            compose_service: "db".into(),
            start_timeout: Duration::from_secs(60),
        }
    }
}

impl Default for Migrate {
    fn default() -> Migrate {
        Migrate {
            lock_timeout: Duration::from_secs(60),
            session_lock_timeout: Duration::from_secs(10),
            statement_timeout: Duration::ZERO,
        }
    }
}

impl Default for Codegen {
    fn default() -> Codegen {
        Codegen {
            schemas: vec!["public".into()],
            serde: false,
            datetime: DateTimeCrate::Chrono,
            types: BTreeMap::new(),
            nullable_array_elements: false,
            strict: false,
            partitions: false,
        }
    }
}

impl Config {
    /// Finds the project root from `start` and loads its `pgshift.toml`, if any.
    ///
    /// The root is the nearest folder holding `pgshift.toml`; failing that, the nearest cargo
    /// workspace root; failing that, `start` itself.
    pub fn discover(start: &Path) -> Result<Config, UsageError> {
        let root = find_root(start);
        Config::load(&root)
    }

    /// Loads `root/pgshift.toml`, or the defaults when there is none.
    pub fn load(root: &Path) -> Result<Config, UsageError> {
        let file = root.join(CONFIG_FILE);
        let mut config = match std::fs::read_to_string(&file) {
            Ok(text) => Config::parse(&text).map_err(|message| UsageError::Config {
                file: file.clone(),
                message,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => {
                return Err(UsageError::Config {
                    file,
                    message: format!("cannot read it: {e}"),
                })
            }
        };
        config.root = root.to_path_buf();
        config.validate().map_err(|message| UsageError::Config {
            file: root.join(CONFIG_FILE),
            message,
        })?;
        for path in [
            &mut config.paths.migrations,
            &mut config.paths.bindings,
            &mut config.paths.state,
            &mut config.local.compose_file,
        ] {
            *path = root.join(&*path);
        }
        if let Some(dir) = &mut config.backup.dir {
            *dir = root.join(&*dir);
        }
        if let Some(dir) = &mut config.paths.schema {
            *dir = root.join(&*dir);
        }
        config
            .check_schema_folder()
            .map_err(|message| UsageError::Config {
                file: root.join(CONFIG_FILE),
                message,
            })?;
        Ok(config)
    }

    /// The schema folder is a folder of its own: `schema pull --force` replaces its `.sql`
    /// files and the loader reads every one, so it may not be the project folder, nor hold
    /// or sit in the migrations or state folders.
    fn check_schema_folder(&self) -> Result<(), String> {
        let Some(schema) = &self.paths.schema else {
            return Ok(());
        };
        let schema_shown = schema.strip_prefix(&self.root).unwrap_or(schema).display();
        let schema = lexical(schema);
        let root = lexical(&self.root);
        if root.starts_with(&schema) {
            return Err(format!(
                "[paths] schema = \"{schema_shown}\" is the project folder or above it; the schema \
                 folder holds only the schema's .sql files: use a folder of its own, such as \
                 \"schema\""
            ));
        }
        for (key, other) in [
            ("[paths] migrations", &self.paths.migrations),
            ("[paths] state", &self.paths.state),
        ] {
            let other = lexical(other);
            if other.starts_with(&schema) || schema.starts_with(&other) {
                return Err(format!(
                    "[paths] schema = \"{schema_shown}\" overlaps {key} ({}); the schema folder \
                     holds only the schema's .sql files: use a folder of its own, such as \
                     \"schema\"",
                    other.strip_prefix(&root).unwrap_or(&other).display()
                ));
            }
        }
        Ok(())
    }

    fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| {
            // toml's message already names the key and shows the line; make it one block
            // that reads well after "invalid pgshift.toml: ".
            e.to_string().trim_end().to_string()
        })
    }

    fn validate(&self) -> Result<(), String> {
        if self.local.database.is_empty() {
            return Err("[local] database must not be empty".into());
        }
        // Ranges, checked here rather than by the server: a value PostgreSQL refuses would
        // otherwise break every command with a server error that names no key.
        let day = Duration::from_secs(24 * 3600);
        for (key, value, min, max, why) in [
            (
                "[local] start_timeout",
                self.local.start_timeout,
                Duration::from_secs(1),
                day,
                "how long `db up` waits for the server",
            ),
            (
                "[migrate] lock_timeout",
                self.migrate.lock_timeout,
                Duration::ZERO,
                day,
                "how long to wait for another session's migration lock",
            ),
            (
                "[migrate] session_lock_timeout",
                self.migrate.session_lock_timeout,
                Duration::ZERO,
                PG_TIMEOUT_MAX,
                "PostgreSQL's limit for lock_timeout, about 24.8 days; 0 means none",
            ),
            (
                "[migrate] statement_timeout",
                self.migrate.statement_timeout,
                Duration::ZERO,
                PG_TIMEOUT_MAX,
                "PostgreSQL's limit for statement_timeout, about 24.8 days; 0 means none",
            ),
        ] {
            if value < min || value > max {
                return Err(format!(
                    "{key} = \"{}\" is out of range: use a value from \"{}\" to \"{}\" ({why})",
                    show_duration(value),
                    show_duration(min),
                    show_duration(max)
                ));
            }
        }
        for (name, env) in &self.env {
            // The name is a folder under [backup] dir: it must not climb out of it.
            let safe = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                && !name.is_empty()
                && !name.starts_with('.');
            if !safe {
                return Err(format!(
                    "[env.{name:?}] is not an environment name: use letters, digits, `_`, `-` \
                     and `.`, not starting with `.` (it names the environment's backup folder)"
                ));
            }
            if name == crate::target::LOCAL_ENV {
                return Err(format!(
                    "[env.{name}] is reserved: the local environment is configured under [local]"
                ));
            }
            if env.url_env.is_empty() {
                return Err(format!(
                    "[env.{name}] url_env must name an environment variable"
                ));
            }
        }
        if self.backup.keep_last == Some(0) {
            return Err(
                "[backup] keep_last = 0 is out of range: use 1 or more (the newest verified \
                 backup is always kept), or leave it out to keep every backup"
                    .into(),
            );
        }
        if self.backup.keep_days == Some(0) {
            return Err(
                "[backup] keep_days = 0 is out of range: use 1 or more, or leave it out".into(),
            );
        }
        if let Some(name) = self
            .backup
            .keep
            .iter()
            .find(|n| n.is_empty() || n.contains('/'))
        {
            return Err(format!(
                "[backup] keep lists {name:?}, which is not a file name: list archive names as \
                 `cargo xtask backups` shows them"
            ));
        }
        if let (None, Some(timezone)) = (&self.backup.schedule, &self.backup.timezone) {
            return Err(format!(
                "[backup] timezone = {timezone:?} is set without [backup] schedule; add a \
                 schedule (e.g. schedule = \"0 0 3 * * *\") or remove the timezone"
            ));
        }
        self.backup.schedule()?;
        if self.codegen.schemas.is_empty() {
            return Err("[codegen] schemas must list at least one schema".into());
        }
        if self.lint.large_table_rows == 0 {
            return Err(
                "[lint] large_table_rows = 0 is out of range: use a row count of 1 or more".into(),
            );
        }
        if !(10..=99).contains(&self.lint.postgres_version) {
            return Err(format!(
                "[lint] postgres_version = {} is not a PostgreSQL major version: use e.g. 15",
                self.lint.postgres_version
            ));
        }
        for rule in self.lint.rules.keys() {
            if !crate::lint::rules::is_rule(rule) {
                let known: Vec<&str> = crate::lint::rules::RULES.iter().map(|r| r.name).collect();
                return Err(format!(
                    "[lint.rules] names an unknown rule `{rule}`; the rules are: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The project's folder for the embedded cluster's data and log; `local::embedded_dir`
    /// says where the cluster really lives (it moves when the server user cannot reach this).
    pub fn embedded_dir(&self) -> PathBuf {
        self.paths.state.join("embedded")
    }

    /// The folder of `env`'s backups: `[backup] dir` (default `<state>/backups`) / env.
    pub fn backup_dir(&self, env: &str) -> PathBuf {
        self.backup_root().join(env)
    }

    /// `[backup] dir`, default `<state>/backups`.
    pub fn backup_root(&self) -> PathBuf {
        self.backup
            .dir
            .clone()
            .unwrap_or_else(|| self.paths.state.join("backups"))
    }
}

/// `path` with `.` and `name/..` taken out, without asking the file system (the folders
/// may not exist yet).
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn find_root(start: &Path) -> PathBuf {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
    if let Some(dir) = start
        .ancestors()
        .find(|dir| dir.join(CONFIG_FILE).is_file())
    {
        return dir.to_path_buf();
    }
    let is_workspace = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
    };
    if let Some(dir) = start.ancestors().find(|dir| is_workspace(dir)) {
        return dir.to_path_buf();
    }
    start
}

/// The largest `statement_timeout` and `lock_timeout` PostgreSQL accepts: INT_MAX
/// milliseconds.
pub const PG_TIMEOUT_MAX: Duration = Duration::from_millis(i32::MAX as u64);

/// A duration as it can be written in pgshift.toml, in the largest unit that divides it:
/// `"2min"`, `"1500ms"`.
fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0".into();
    }
    for (unit, scale) in [("h", 3_600_000), ("min", 60_000), ("s", 1000)] {
        if ms % scale == 0 {
            return format!("{}{unit}", ms / scale);
        }
    }
    format!("{ms}ms")
}

/// A TCP port, with a message that says the range (serde's own says "u16").
fn port<'de, D: Deserializer<'de>>(de: D) -> Result<u16, D::Error> {
    struct Port;
    impl serde::de::Visitor<'_> for Port {
        type Value = u16;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a TCP port from 1 to 65535")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u16, E> {
            u16::try_from(v)
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| {
                    E::custom(format!(
                        "port {v} is out of range: use a TCP port from 1 to 65535"
                    ))
                })
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u16, E> {
            self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
        }
    }
    de.deserialize_any(Port)
}

/// Parses durations written as `"500ms"`, `"10s"`, `"2min"`, `"1h"`, or a bare number of
/// seconds.
fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(
                "a duration: a whole number with a unit, \"500ms\", \"10s\", \"2min\", \"1h\"",
            )
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v).map(Duration::from_secs).map_err(|_| {
                E::custom(format!(
                    "invalid duration {v}: a duration cannot be negative"
                ))
            })
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
            parse_duration(text).ok_or_else(|| {
                E::custom(format!(
                    "invalid duration {text:?}, expected a whole number with a unit: \"500ms\", \"10s\", \"2min\", \"1h\""
                ))
            })
        }
    }
    de.deserialize_any(Text)
}

pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "min" | "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    // An absurd number is an error, not an overflow panic (debug) or a wrap (release).
    let millis = number.checked_mul(scale)?;
    Some(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(config.local.port, 5433);
        assert_eq!(config.paths.migrations, dir.path().join("migrations"));
    }

    #[test]
    fn debug_of_config_hides_the_local_password() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[local]\npassword = \"hunter2-pa/ss\"\n",
        )
        .unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(config.local.password.expose(), "hunter2-pa/ss");
        let debug = format!("{config:?} {config:#?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("Secret(***)"), "{debug}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("ten"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("18446744073709551615h"), None);
        assert_eq!(parse_duration("99999999999999999999s"), None);
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "[local]\nprot = 5\n").unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("pgshift.toml"), "{err}");
        assert!(err.contains("unknown field `prot`"), "{err}");
        assert!(err.contains("port"), "{err}");
    }

    #[test]
    fn lint_table_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| {
            std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
            Config::load(dir.path())
        };
        let config = load("[lint]\nlarge_table_rows = 50\n[lint.rules]\nrenaming-table = \"off\"\nban-drop-column = \"error\"\n").unwrap();
        assert_eq!(config.lint.large_table_rows, 50);
        assert_eq!(config.lint.rules["renaming-table"], RuleLevel::Off);
        let err = load("[lint.rules]\nban-drop-colum = \"off\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown rule `ban-drop-colum`; the rules are: adding-field-with-default"),
            "{err}"
        );
        let err = load("[lint.rules]\nban-drop-column = \"blocking\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("off`, `warning`"), "{err}");
        let err = load("[lint]\nlarge_table_rows = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("large_table_rows = 0 is out of range"),
            "{err}"
        );
    }

    #[test]
    fn backup_schedule_and_timezone_are_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| {
            std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
            Config::load(dir.path()).map_err(|e| e.to_string())
        };
        let config =
            load("[backup]\nschedule = \"0 0 3 * * *\"\ntimezone = \"Europe/Paris\"\n").unwrap();
        let schedule = config.backup.schedule().unwrap().unwrap();
        assert_eq!(schedule.timezone, "Europe/Paris");
        let err = load("[backup]\nschedule = \"every night\"\n").unwrap_err();
        assert!(err.contains("pgshift.toml"), "{err}");
        assert!(err.contains("[backup] schedule = \"every night\""), "{err}");
        let err = load("[backup]\nschedule = \"0 0 3 * * *\"\ntimezone = \"Paris\"\n").unwrap_err();
        assert!(
            err.contains("[backup] timezone = \"Paris\" is not a time zone"),
            "{err}"
        );
        let err = load("[backup]\ntimezone = \"UTC\"\n").unwrap_err();
        assert!(err.contains("without [backup] schedule"), "{err}");
    }

    #[test]
    fn wrong_type_names_expectation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "[local]\nport = \"five\"\n").unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("port"), "{err}");
        assert!(err.contains("a TCP port from 1 to 65535"), "{err}");
    }
}
