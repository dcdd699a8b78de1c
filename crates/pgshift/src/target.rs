//! Which database a command talks to. Nothing else in pgshift decides that.
//!
//! `local` is the local backend's database, or `DATABASE_URL` from the project's `.env`.
//! A remote environment reads only the process variable its `url_env` names: never `.env`,
//! so a stale `.env` cannot redirect a deploy.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::config::Config;
use crate::UsageError;

/// The name of the local environment.
pub const LOCAL_ENV: &str = "local";

/// A PostgreSQL connection URL whose `Display` and `Debug` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl(String);

impl DbUrl {
    /// Parses and validates a URL. The error never contains the password, even one that
    /// is not percent-encoded and so confuses URL parsing.
    pub fn parse(url: &str) -> Result<DbUrl, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| {
                scrub(
                    &format!(
                        "{} is not a PostgreSQL URL: expected postgres://user:password@host:port/database",
                        redact(url)
                    ),
                    url,
                )
            })?;
        if rest.is_empty() {
            return Err("the URL names no host".into());
        }
        PgConnectOptions::from_str(url).map_err(|e| {
            scrub(
                &format!(
                    "{} is not a valid PostgreSQL URL: {}; percent-encode special characters of the \
                     user, password and database (`/` is %2F, `@` is %40, `#` is %23)",
                    redact(url),
                    redact(&e.to_string())
                ),
                url,
            )
        })?;
        Ok(DbUrl(url.to_string()))
    }

    /// The full URL, password included: for connecting only, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn connect_options(&self) -> PgConnectOptions {
        // Validated in `parse`.
        let options = PgConnectOptions::from_str(&self.0).expect("validated URL");
        // libpq verifies the server's certificate against `sslrootcert` under
        // `sslmode=require` too (as verify-ca); sqlx would not look at it.
        if matches!(options.get_ssl_mode(), PgSslMode::Require) && self.query_has("sslrootcert") {
            return options.ssl_mode(PgSslMode::VerifyCa);
        }
        options
    }

    /// Whether the URL's query sets `key` (or sqlx's other spellings of it).
    fn query_has(&self, key: &str) -> bool {
        let aliases: &[&str] = match key {
            "sslrootcert" => &["sslrootcert", "ssl-root-cert", "ssl-ca"],
            _ => &[],
        };
        let Some((_, query)) = self.0.split_once('?') else {
            return false;
        };
        query
            .split('&')
            .filter_map(|pair| pair.split('=').next())
            .any(|name| aliases.contains(&name) || name == key)
    }

    /// The URL with another database name (keeps user, password, host, port and parameters).
    pub fn with_database(&self, database: &str) -> DbUrl {
        let (base, query) = match self.0.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.0.as_str(), None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let base = match base[scheme_end..].find('/') {
            Some(slash) => &base[..scheme_end + slash],
            None => base,
        };
        let mut url = format!("{base}/{}", percent_encode(database));
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        DbUrl(url)
    }

    /// The URL without its password (user, host, port, database and parameters kept), for a
    /// child's argv: the password goes in its environment (`PGPASSWORD`) instead.
    pub fn without_password(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        // Validated: the userinfo holds no unencoded '/', '?' or '#'.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                format!("{user}@{host}")
            }
            None => authority.to_string(),
        };
        let path = match path.split_once('?') {
            Some((path, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| !pair.starts_with("password="))
                    .collect();
                if kept.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}?{}", kept.join("&"))
                }
            }
            None => path.to_string(),
        };
        format!("{scheme}://{authority}{path}")
    }

    /// Host and database, for messages: `127.0.0.1:5433/app_dev`.
    pub fn host_and_database(&self) -> String {
        let options = self.connect_options();
        format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        )
    }

    /// The password, percent-decoded: for a child's environment (`PGPASSWORD`), never argv.
    pub fn password(&self) -> Option<String> {
        let rest = self.0.split_once("://")?.1;
        let authority = rest.split(['/', '?']).next()?;
        let userinfo = authority.rsplit_once('@')?.0;
        let password = userinfo.split_once(':')?.1;
        Some(percent_decode(password))
    }

    pub fn database(&self) -> String {
        let options = self.connect_options();
        options
            .get_database()
            .unwrap_or(options.get_username())
            .to_string()
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", redact(&self.0))
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

/// Removes from `message` whatever could be the password of `url` (raw or decoded), for
/// errors about a URL that does not parse.
fn scrub(message: &str, url: &str) -> String {
    let mut message = message.to_string();
    let Some(rest) = url.split_once("://").map(|(_, rest)| rest) else {
        return message;
    };
    let segment = rest.split(char::is_whitespace).next().unwrap_or("");
    if let Some((userinfo, _)) = segment.rsplit_once('@') {
        if let Some((_, password)) = userinfo.split_once(':') {
            for secret in [password.to_string(), percent_decode(password)] {
                if !secret.is_empty() {
                    message = message.replace(&secret, "***");
                }
            }
        }
    }
    message
}

/// Replaces the password of every `scheme://user:password@` in `text` with `***`, and the
/// value of every `password=` parameter. Used for URLs and for any text that might quote one
/// (driver errors, child output). It errs on the side of hiding: the userinfo is taken to
/// end at the LAST `@` before whitespace, so a password with an unencoded `/`, `?`, `#` or
/// `@` is hidden too (at the cost of also hiding the rest of a URL whose query holds `@`).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (head, tail) = rest.split_at(start + 3);
        out.push_str(head);
        let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let segment = &tail[..end];
        match segment.rfind('@') {
            Some(at) => {
                let userinfo = &segment[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                // The host part may hold another URL (`a://h/b,c://u:p@h`): keep scanning.
                rest = &tail[at..];
            }
            None => {
                out.push_str(segment);
                rest = &tail[end..];
            }
        }
    }
    out.push_str(rest);
    redact_password_params(&out)
}

fn redact_password_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("password=") {
        let (head, tail) = rest.split_at(i + "password=".len());
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '&' || c.is_whitespace())
            .unwrap_or(tail.len());
        out.push_str("***");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
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

    /// Whether the URL's host is this machine: localhost, a loopback address or a unix
    /// socket folder.
    pub fn is_on_this_machine(&self) -> bool {
        let host = self.url.connect_options().get_host().to_string();
        ["localhost", "::1", "[::1]"].contains(&host.as_str())
            || host.starts_with('/')
            || host.starts_with("127.")
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
/// local work. For the same reason the value may not use `$` (dotenvy would expand
/// `${PROD_DATABASE_URL}` from the process environment), nor name a database that a
/// configured remote environment names.
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
    let origin = format!("DATABASE_URL in {}", path.display());
    if raw_database_url_lines(&raw).any(|value| value.contains('$')) {
        return Err(UsageError::BadUrl {
            origin,
            message: "the value contains `$`; pgshift does not expand variables there, because \
                      `${PROD_DATABASE_URL}` would point local work at another database; write the \
                      URL out (a `$` in a password is written %24)"
                .into(),
        });
    }
    let parse_error = |e: dotenvy::Error| UsageError::BadUrl {
        origin: path.display().to_string(),
        // Never the line itself: it may hold another secret.
        message: match &e {
            dotenvy::Error::LineParse(line, _) => format!(
                "cannot parse line {}; fix its syntax (KEY=value)",
                line_number(&raw, line)
            ),
            _ => "cannot parse it; fix its syntax (KEY=value)".into(),
        },
    };
    let iter = dotenvy::from_read_iter(raw.as_bytes());
    let mut found = None;
    for item in iter {
        let (key, value) = item.map_err(parse_error)?;
        // The first definition wins, as when dotenvy loads a file into the environment.
        if key == "DATABASE_URL" && found.is_none() {
            found = Some(value);
        }
    }
    let Some(value) = found else { return Ok(None) };
    let url = DbUrl::parse(&value).map_err(|message| UsageError::BadUrl {
        origin: origin.clone(),
        message,
    })?;
    let same = |other: &DbUrl| {
        let (a, b) = (url.connect_options(), other.connect_options());
        a.get_host().eq_ignore_ascii_case(b.get_host())
            && a.get_port() == b.get_port()
            && url.database() == other.database()
    };
    for (name, remote) in &config.env {
        let Ok(value) = std::env::var(&remote.url_env) else {
            continue;
        };
        if DbUrl::parse(value.trim()).is_ok_and(|remote_url| same(&remote_url)) {
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

/// The raw (unexpanded) values of the `DATABASE_URL=` lines of a `.env` text.
fn raw_database_url_lines(raw: &str) -> impl Iterator<Item = &str> {
    raw.lines().filter_map(|line| {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let rest = line.strip_prefix("DATABASE_URL")?.trim_start();
        rest.strip_prefix('=')
    })
}

/// The 1-based line of `raw` where `fragment` (a line dotenvy could not parse) starts.
fn line_number(raw: &str, fragment: &str) -> usize {
    let first = fragment.lines().next().unwrap_or("").trim();
    raw.lines()
        .position(|line| !first.is_empty() && line.trim() == first)
        .or_else(|| raw.find(fragment).map(|at| raw[..at].lines().count()))
        .map_or(0, |index| index + 1)
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
/// (host, port and database compared). Commands say that it is ignored: someone who
/// exported it expects it to be used, and following sqlx's habit (`DATABASE_URL=... cargo
/// xtask migrate-deploy`) must not quietly deploy to the local database instead.
pub fn ignored_shell_database_url(target: &Target) -> Option<ShellDatabaseUrl> {
    let shell = shell_database_url()?;
    let ShellDatabaseUrl::Url(url) = &shell else {
        return Some(shell);
    };
    let (a, b) = (url.connect_options(), target.url.connect_options());
    let loopback = |host: &str| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    let same_host = a.get_host().eq_ignore_ascii_case(b.get_host())
        || (loopback(a.get_host()) && loopback(b.get_host()));
    let same = same_host && a.get_port() == b.get_port() && url.database() == target.url.database();
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
