//! Which database a command talks to. Nothing else in pgshift decides that.
//!
//! `local` is the local backend's database, or `DATABASE_URL` from the project's `.env`.
//! A remote environment reads only the process variable its `url_env` names: never `.env`,
//! so a stale `.env` cannot redirect a deploy.

#[cfg(test)]
mod corpus;
mod dotenv;
mod host;
mod redact;

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use url::Url;

pub use host::Host;
pub use redact::{is_secret_key, redact};

use crate::config::Config;
use crate::UsageError;

/// The name of the local environment.
pub const LOCAL_ENV: &str = "local";

/// A PostgreSQL connection URL whose `Display` and `Debug` never show the password.
///
/// Parsed once with the `url` crate (as sqlx parses it), so every question about it (host,
/// password, parameters) is answered from the same structure, never by string surgery.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl(Box<Url>);

/// The URL parameters pgshift accepts: those sqlx 0.8 reads (`PgConnectOptions::from_str`).
/// Any other is refused, because sqlx would ignore it and log it, value included, at WARN.
const KNOWN_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// No `user:password@` in it: `redact` would take the word `password` for one.
const URL_SHAPE: &str = "write it like postgres://user@host:5432/database (a password goes \
                         after the user as user:password, percent-encoded)";
const ENCODE_HINT: &str = "percent-encode special characters of the user, password and database \
                           (`/` is %2F, `@` is %40, `#` is %23, `?` is %3F, a space is %20)";

impl DbUrl {
    /// Parses and validates a URL. The error never quotes the URL (which may hold a password
    /// that confuses parsing), only what is wrong with it.
    pub fn parse(text: &str) -> Result<DbUrl, String> {
        // Belt and braces: whatever the message says, nothing of the password shows.
        Self::parse_inner(text).map_err(|message| redact(&scrub_secrets_of(text, &message)))
    }

    fn parse_inner(text: &str) -> Result<DbUrl, String> {
        let has_scheme = text.starts_with("postgres://") || text.starts_with("postgresql://");
        if !has_scheme {
            let scheme = text.split_once(':').map(|(scheme, _)| scheme).filter(|s| {
                !s.is_empty()
                    && s.len() <= 20
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
            });
            let starts = match scheme {
                Some(scheme) => {
                    let after = &text[scheme.len() + 1..];
                    let slashes: String = after.chars().take_while(|c| *c == '/').collect();
                    format!("it starts with `{scheme}:{slashes}`")
                }
                None => "it has no scheme".to_string(),
            };
            return Err(format!(
                "it is not a PostgreSQL URL: {starts}, not postgres:// or postgresql://; {URL_SHAPE}"
            ));
        }
        let url = Url::parse(text)
            .map_err(|e| format!("it does not parse as a URL ({e}); {URL_SHAPE}; {ENCODE_HINT}"))?;
        if text_after_authority_has_at(&url) || url.fragment().is_some() {
            return Err(format!(
                "it does not parse as intended: an `@` or `#` follows the host, as when a password \
                 holds an unencoded special character; {ENCODE_HINT}"
            ));
        }
        if text[text.find("://").map_or(0, |i| i + 3)..].is_empty() {
            return Err("the URL names no host".into());
        }
        for (key, _) in url.query_pairs() {
            let known = KNOWN_PARAMS.contains(&key.as_ref())
                || (key.starts_with("options[") && key.ends_with(']'));
            if !known {
                let named = if key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-[]".contains(c))
                    && key.len() <= 40
                {
                    format!("`{key}`")
                } else {
                    "with an unusual name".to_string()
                };
                return Err(format!(
                    "the URL has a parameter {named} that pgshift's driver (sqlx) does not know; \
                     remove it (known: {})",
                    KNOWN_PARAMS.join(", ")
                ));
            }
        }
        PgConnectOptions::from_str(url.as_str()).map_err(|e| {
            format!(
                "the driver (sqlx) refuses it: {}; {ENCODE_HINT}",
                redact(&e.to_string())
            )
        })?;
        Ok(DbUrl(Box::new(url)))
    }

    /// The full URL, password included: for connecting only, never for printing.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The options to connect with: exactly what the URL says, with libpq's defaults
    /// (not its `PG*` environment variables) for what it leaves out. See `libpq_env`.
    pub fn connect_options(&self) -> PgConnectOptions {
        // Validated in `parse`.
        let mut options = PgConnectOptions::from_str(self.0.as_str()).expect("validated URL");
        let param = |name: &str| {
            self.0
                .query_pairs()
                .filter(|(k, _)| k == name)
                .last()
                .map(|(_, v)| v.into_owned())
        };
        let port = match (self.0.port(), param("port")) {
            (_, Some(_)) | (Some(_), None) => options.get_port(),
            (None, None) => DEFAULT_PORT,
        };
        options = options.port(port);
        let host_given = self.0.host_str().is_some_and(|h| !h.is_empty())
            || param("host").is_some()
            || param("hostaddr").is_some();
        if !host_given {
            options = options.host(&default_host(port));
        }
        let user = if self.0.username().is_empty() && param("user").is_none() {
            let user = os_user();
            options = options.username(&user);
            user
        } else {
            options.get_username().to_string()
        };
        let path = self.0.path().trim_start_matches('/');
        if path.is_empty() && param("dbname").is_none() {
            options = options.database(&user);
        }
        // libpq verifies the server's certificate against `sslrootcert` under
        // `sslmode=require` too (as verify-ca); sqlx would not look at it.
        let has_root_cert = ["sslrootcert", "ssl-root-cert", "ssl-ca"]
            .iter()
            .any(|key| param(key).is_some());
        if matches!(options.get_ssl_mode(), PgSslMode::Require) && has_root_cert {
            options = options.ssl_mode(PgSslMode::VerifyCa);
        }
        options
    }

    /// The URL with another database name (keeps user, password, host, port and parameters).
    pub fn with_database(&self, database: &str) -> DbUrl {
        let mut url = self.0.clone();
        url.set_path(&format!("/{}", percent_encode(database)));
        let query: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "dbname")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        set_query(&mut url, &query);
        DbUrl(url)
    }

    /// The URL without its password (user, host, port, database and parameters kept), for a
    /// child's argv: the password goes in its environment (`PGPASSWORD`) instead.
    /// A URL that names no host gets the host pgshift connects to (`connect_options`) as a
    /// `host` parameter, so that psql goes where pgshift goes.
    pub fn without_password(&self) -> String {
        let mut url = self.0.clone();
        let _ = url.set_password(None);
        let mut query: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !redact::is_secret_key(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let host_given = url.host_str().is_some_and(|h| !h.is_empty())
            || query.iter().any(|(k, _)| k == "host" || k == "hostaddr");
        if !host_given {
            query.push(("host".into(), self.connect_options().get_host().to_string()));
        }
        set_query(&mut url, &query);
        url.to_string()
    }

    /// Host and database, for messages: `127.0.0.1:5433/app_dev`.
    pub fn host_and_database(&self) -> String {
        let options = self.connect_options();
        let host = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => options.get_host().to_string(),
        };
        format!(
            "{}:{}/{}",
            host,
            options.get_port(),
            options.get_database().unwrap_or("")
        )
    }

    /// The password, percent-decoded: for a child's environment (`PGPASSWORD`), never argv.
    /// A `password` parameter wins over the userinfo, as in sqlx and libpq.
    pub fn password(&self) -> Option<String> {
        let from_query = self
            .0
            .query_pairs()
            .filter(|(k, _)| k == "password")
            .last()
            .map(|(_, v)| v.into_owned());
        from_query.or_else(|| self.0.password().map(percent_decode))
    }

    pub fn database(&self) -> String {
        let options = self.connect_options();
        options
            .get_database()
            .unwrap_or(options.get_username())
            .to_string()
    }

    /// Where the connection goes, as a host pgshift can compare: this machine, an address,
    /// or a name.
    pub fn host(&self) -> Host {
        let options = self.connect_options();
        if options.get_socket().is_some() {
            return Host::ThisMachine;
        }
        Host::of(options.get_host())
    }

    /// Whether both URLs reach the same database of the same server, whatever the spelling:
    /// `localhost`, `LOCALHOST`, `127.1`, `[::1]` and a socket folder are all this machine;
    /// a port left out is 5432; a database left out is the user's name.
    pub fn same_database(&self, other: &DbUrl) -> bool {
        let (a, b) = (self.connect_options(), other.connect_options());
        self.host() == other.host()
            && a.get_port() == b.get_port()
            && self.database() == other.database()
    }
}

/// libpq's default port.
const DEFAULT_PORT: u16 = 5432;

/// Where libpq connects when a URL names no host: the unix socket of `port` in the usual
/// folders if it is there, else localhost (sqlx's rule, without its `PGHOST`).
fn default_host(port: u16) -> String {
    ["/var/run/postgresql", "/private/tmp", "/tmp"]
        .into_iter()
        .find(|dir| {
            std::path::Path::new(dir)
                .join(format!(".s.PGSQL.{port}"))
                .exists()
        })
        .unwrap_or("localhost")
        .to_string()
}

/// libpq's default user: the operating system user (not `PGUSER`).
fn os_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "postgres".into())
}

fn text_after_authority_has_at(url: &Url) -> bool {
    url.path().contains('@')
        || url.query().is_some_and(|q| q.contains('@'))
        || url.fragment().is_some_and(|f| f.contains('@'))
}

/// Sets the query from pairs, keeping none when there are none (no trailing `?`).
/// Sets the query to `pairs`, percent-encoded: libpq decodes `%XX` in a URL but not `+`,
/// so a space must be `%20` (the `url` crate's form encoding would write `+`, which a
/// child's libpq would pass on as a plus sign).
fn set_query(url: &mut Url, pairs: &[(String, String)]) {
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        url.set_query(Some(&query.join("&")));
    }
}

/// `url` with its password and the values of its password parameters replaced by `***`.
fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some(redact::HIDDEN));
    }
    let text = url.to_string();
    redact(&text)
}

/// `message` without any spelling of the password that `text` (a URL that may not parse)
/// seems to hold: everything between the first `:` after the scheme and the last `@`.
fn scrub_secrets_of(text: &str, message: &str) -> String {
    let mut message = message.to_string();
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let rest = rest.trim_start_matches('/');
    if let Some((userinfo, _)) = rest.rsplit_once('@') {
        let userinfo = userinfo
            .split_once(':')
            .filter(|(scheme, _)| {
                !text.contains("://") && scheme.chars().all(|c| c.is_ascii_alphabetic())
            })
            .map_or(userinfo, |(_, rest)| rest.trim_start_matches('/'));
        if let Some((_, password)) = userinfo.split_once(':') {
            for secret in [password.to_string(), percent_decode(password)] {
                if !secret.is_empty() {
                    message = message.replace(&secret, redact::HIDDEN);
                }
            }
        }
    }
    message
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", redacted(&self.0))
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = text
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for the user, password
/// and database parts of a URL.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The environment variables libpq reads (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
/// `PGSERVICE`, `PGOPTIONS`, `PGSSLMODE`, ... every `PG*` but pgshift's own `PGSHIFT_*`).
/// pgshift's connections and children use only what `resolve` decided: see `clear_libpq_env`
/// and `pgbin::clean_env`.
pub fn is_libpq_var(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("PG") && !name.starts_with("PGSHIFT")
}

/// Removes libpq's `PG*` variables from this process's environment, so that neither sqlx
/// (whose `PgConnectOptions` fills what a URL leaves out from them) nor a child sees them.
/// Call it first thing in `main`, before any thread starts (the `cargo xtask` and `pgshiftd`
/// binaries do).
pub fn clear_libpq_env() {
    for (name, _) in std::env::vars_os() {
        if is_libpq_var(&name) {
            std::env::remove_var(&name);
        }
    }
}

/// Where a target's URL came from, for messages and `db status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// The local backend's own database.
    LocalBackend,
    /// `DATABASE_URL` in the project's `.env` (local only).
    DotEnv,
    /// A process environment variable named by `[env.NAME] url_env`.
    ProcessEnv(String),
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlSource::LocalBackend => f.write_str("the local backend"),
            UrlSource::DotEnv => f.write_str("DATABASE_URL in .env"),
            UrlSource::ProcessEnv(var) => write!(f, "${var}"),
        }
    }
}

/// A resolved database to talk to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The environment name: `local`, `staging`, `prod`...
    pub env: String,
    pub url: DbUrl,
    pub source: UrlSource,
    /// Destructive commands refuse a protected target.
    pub protected: bool,
}

impl Target {
    pub fn is_local(&self) -> bool {
        self.env == LOCAL_ENV
    }

    /// Whether the URL's host is this machine: a unix socket folder, `localhost` or a
    /// loopback address (127.0.0.0/8, `::1`), decided on the parsed address, never on a
    /// prefix of the name (`127.prod.example.com` is another machine).
    pub fn is_on_this_machine(&self) -> bool {
        self.url.host().is_this_machine()
    }

    /// Refuses, for commands meant for local work (migrate-dev, -reset, -down, the daemon),
    /// a target that is not the local environment, and a `DATABASE_URL` from `.env` that
    /// names another machine: these commands drop, revert or apply without asking, which is
    /// only ever right for a database of one's own. Decided before any connection.
    pub fn require_local(&self, command: &str) -> Result<(), UsageError> {
        if !self.is_local() || self.protected {
            return Err(UsageError::NotLocal {
                command: command.to_string(),
                env: self.env.clone(),
                database: self.url.host_and_database(),
            });
        }
        if self.source == UrlSource::DotEnv && !self.is_on_this_machine() {
            return Err(UsageError::Other(format!(
                "`{command}` only works on a database on this machine, but DATABASE_URL in .env \
                 points at {}, which is not on this machine; point DATABASE_URL at localhost (or a \
                 unix socket), or remove it to use the local backend; for another machine's \
                 database use migrate-deploy --env NAME",
                self.url.host_and_database()
            )));
        }
        Ok(())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.env, self.url)
    }
}

/// Resolves `env` to a target. `local_url` is the local backend's URL; it is only asked for
/// when the local environment is resolved and `.env` does not set `DATABASE_URL`.
pub fn resolve(
    config: &Config,
    env: &str,
    local_url: impl FnOnce() -> Result<DbUrl, UsageError>,
) -> Result<Target, UsageError> {
    if env == LOCAL_ENV {
        if let Some(url) = dotenv_database_url(config)? {
            return Ok(Target {
                env: env.to_string(),
                url,
                source: UrlSource::DotEnv,
                protected: false,
            });
        }
        return Ok(Target {
            env: env.to_string(),
            url: local_url()?,
            source: UrlSource::LocalBackend,
            protected: false,
        });
    }
    let remote = config.env.get(env).ok_or_else(|| UsageError::UnknownEnv {
        env: env.to_string(),
        known: std::iter::once(LOCAL_ENV.to_string())
            .chain(config.env.keys().cloned())
            .collect(),
    })?;
    let value = std::env::var(&remote.url_env).map_err(|_| UsageError::UnsetUrlEnv {
        env: env.to_string(),
        var: remote.url_env.clone(),
    })?;
    let url = DbUrl::parse(value.trim()).map_err(|message| UsageError::BadUrl {
        origin: format!("${}", remote.url_env),
        message,
    })?;
    Ok(Target {
        env: env.to_string(),
        url,
        source: UrlSource::ProcessEnv(remote.url_env.clone()),
        protected: remote.protected,
    })
}

/// `DATABASE_URL` from `<root>/.env`, if the file sets it. The process environment is not
/// consulted: an exported `DATABASE_URL` left over from another shell must not redirect
/// local work. For the same reason the value may not expand variables (dotenvy would expand
/// `${PROD_DATABASE_URL}` from the process environment), decided on the parsed value
/// whatever the syntax (`dotenv::parse`), nor name a database that a configured remote
/// environment names, however spelled (`DbUrl::same_database`).
fn dotenv_database_url(config: &Config) -> Result<Option<DbUrl>, UsageError> {
    let path = config.root.join(".env");
    let raw = match std::fs::read_to_string(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(UsageError::BadUrl {
                origin: path.display().to_string(),
                message: format!("cannot read it: {e}"),
            })
        }
    };
    let entries = dotenv::parse(&raw).map_err(|e| UsageError::BadUrl {
        origin: path.display().to_string(),
        // Never the line itself: it may hold another secret.
        message: format!("cannot parse line {}; fix its syntax (KEY=value)", e.line),
    })?;
    // The first definition wins, as when dotenvy loads a file into the environment.
    let Some(entry) = entries.into_iter().find(|e| e.key == "DATABASE_URL") else {
        return Ok(None);
    };
    let origin = format!("DATABASE_URL in {} (line {})", path.display(), entry.line);
    if entry.expands {
        return Err(UsageError::BadUrl {
            origin,
            message: "the value contains `$`; pgshift does not expand variables there, because \
                      `${PROD_DATABASE_URL}` would point local work at another database; write the \
                      URL out (a `$` in a password is written %24)"
                .into(),
        });
    }
    let url = DbUrl::parse(&entry.value).map_err(|message| UsageError::BadUrl {
        origin: origin.clone(),
        message,
    })?;
    for (name, remote) in &config.env {
        let Ok(value) = std::env::var(&remote.url_env) else {
            continue;
        };
        if DbUrl::parse(value.trim()).is_ok_and(|remote_url| url.same_database(&remote_url)) {
            return Err(UsageError::BadUrl {
                origin,
                message: format!(
                    "it names {}, the database of environment `{name}` (${}); local commands must \
                     not run against it; point DATABASE_URL at a local database, or drop it to use \
                     the local backend",
                    url.host_and_database(),
                    remote.url_env
                ),
            });
        }
    }
    Ok(Some(url))
}

/// `DATABASE_URL` exported in the process environment, which `resolve` never reads.
#[derive(Debug, Clone)]
pub enum ShellDatabaseUrl {
    Url(DbUrl),
    /// Set, but not a PostgreSQL URL (never shown: it may hold a secret).
    Invalid,
}

impl fmt::Display for ShellDatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShellDatabaseUrl::Url(url) => write!(f, "{url}"),
            ShellDatabaseUrl::Invalid => f.write_str("not a valid PostgreSQL URL"),
        }
    }
}

/// The process's `DATABASE_URL` when it is set and names another database than `target`
/// (`DbUrl::same_database`: host, port and database, however spelled). Commands say that it is ignored: someone who
/// exported it expects it to be used, and following sqlx's habit (`DATABASE_URL=... cargo
/// xtask migrate-deploy`) must not quietly deploy to the local database instead.
pub fn ignored_shell_database_url(target: &Target) -> Option<ShellDatabaseUrl> {
    let shell = shell_database_url()?;
    let ShellDatabaseUrl::Url(url) = &shell else {
        return Some(shell);
    };
    let same = url.same_database(&target.url);
    (!same).then_some(shell)
}

/// The process's `DATABASE_URL`, if it is set (and not empty).
pub fn shell_database_url() -> Option<ShellDatabaseUrl> {
    let value = std::env::var("DATABASE_URL").ok()?;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some(match DbUrl::parse(value) {
        Ok(url) => ShellDatabaseUrl::Url(url),
        Err(_) => ShellDatabaseUrl::Invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let url = DbUrl::parse("postgres://app:s3cret@db.example.com:5432/prod").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://app:***@db.example.com:5432/prod"
        );
        assert_eq!(
            format!("{url:?}"),
            "DbUrl(postgres://app:***@db.example.com:5432/prod)"
        );
        assert!(!format!("{url:?} {url}").contains("s3cret"));
        assert_eq!(
            redact("error connecting to postgresql://u:p%40ss@h/db?password=x&sslmode=require now"),
            "error connecting to postgresql://u:***@h/db?password=***&sslmode=require now"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn redacts_unencoded_special_characters() {
        for password in ["pa/ss", "p?w", "p#w", "p@w", "a/b@c?d#e"] {
            let text = format!("failed: postgres://app:{password}@db.example.com:5432/prod now");
            let redacted = redact(&text);
            assert_eq!(
                redacted, "failed: postgres://app:***@db.example.com:5432/prod now",
                "{password}"
            );
            let err = DbUrl::parse(&format!("postgres://app:{password}@db:5432/prod"))
                .err()
                .unwrap_or_default();
            assert!(!err.contains(password), "{err}");
        }
    }

    #[test]
    fn percent_encodes_url_parts() {
        let password = "p@ss/w?rd#1 ü";
        let url = DbUrl::parse(&format!(
            "postgres://u:{}@h:1/{}",
            percent_encode(password),
            percent_encode("my db")
        ))
        .unwrap();
        assert_eq!(url.password().as_deref(), Some(password));
        assert_eq!(url.database(), "my db");
        assert!(!url.to_string().contains("ss"), "{url}");
    }

    #[test]
    fn rejects_non_postgres_urls_without_echoing_secrets() {
        let err = DbUrl::parse("mysql://root:hunter2@h/db").unwrap_err();
        assert!(err.contains("not a PostgreSQL URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn swaps_database() {
        let url = DbUrl::parse("postgres://a:b@h:1/one?sslmode=disable").unwrap();
        assert_eq!(
            url.with_database("two").expose(),
            "postgres://a:b@h:1/two?sslmode=disable"
        );
        assert_eq!(url.password().as_deref(), Some("b"));
        assert_eq!(
            url.without_password(),
            "postgres://a@h:1/one?sslmode=disable"
        );
        let url = DbUrl::parse("postgres://a:b@h:1/one?password=c&sslmode=require").unwrap();
        assert_eq!(
            url.without_password(),
            "postgres://a@h:1/one?sslmode=require"
        );
        let url = DbUrl::parse("postgres://a:p%40ss@h:1/db").unwrap();
        assert_eq!(url.password().as_deref(), Some("p@ss"));
        let url = DbUrl::parse("postgres://a@h:1").unwrap();
        assert_eq!(url.password(), None);
        assert_eq!(url.with_database("two").expose(), "postgres://a@h:1/two");
    }
}
