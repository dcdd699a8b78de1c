//! Connecting to PostgreSQL: one dedicated connection per job (never a pool: the migration
//! lock is session state), errors that name the database and never the password.

use std::time::Duration;

use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::target::{redact, DbUrl};

/// The `application_name` pgshift's sessions carry, so `pg_stat_activity` tells who holds
/// what.
pub const APPLICATION_NAME: &str = "pgshift";

/// The database could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {url}: {reason}{hint}")]
pub struct ConnectError {
    pub url: DbUrl,
    pub reason: String,
    hint: String,
    transient: bool,
    missing_database: bool,
}

impl ConnectError {
    /// Whether trying again soon may succeed: nothing listens yet, no answer in time, or the
    /// server is still starting. Not for a refused password, a missing database, TLS...
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The server said the database does not exist (SQLSTATE 3D000); not a missing role.
    pub fn is_missing_database(&self) -> bool {
        self.missing_database
    }
}

fn is_transient(error: &sqlx::Error) -> bool {
    use std::io::ErrorKind;
    match error {
        sqlx::Error::Io(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::UnexpectedEof
                | ErrorKind::BrokenPipe
                | ErrorKind::TimedOut
        ),
        sqlx::Error::PoolTimedOut => true,
        // 57P03 cannot_connect_now: "the database system is starting up".
        sqlx::Error::Database(e) => e.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// Opens one connection to `url`, giving up after 10 seconds. sqlx's slow-statement
/// warning is off: pgshift's statements are its own work (a batch of migrations, a backup's
/// row counts waiting behind a lock), which would be printed whole at WARN whenever one
/// takes more than a second; the commands say themselves what takes time.
pub async fn connect(url: &DbUrl) -> Result<PgConnection, ConnectError> {
    let options = url
        .connect_options()
        .application_name(APPLICATION_NAME)
        .log_statements(tracing::log::LevelFilter::Trace)
        .log_slow_statements(tracing::log::LevelFilter::Off, Duration::MAX);
    let connecting = options.connect();
    let result = match tokio::time::timeout(Duration::from_secs(10), connecting).await {
        Ok(result) => result.map_err(|e| {
            let missing =
                matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000"));
            (redact(&e.to_string()), is_transient(&e), missing)
        }),
        Err(_) => Err(("no answer within 10 s".to_string(), true, false)),
    };
    result.map_err(|(reason, transient, missing_database)| {
        let options = url.connect_options();
        let (host, port) = (options.get_host(), options.get_port());
        // Only a loopback host can be the local backend's database; even then the URL may
        // name another server on this machine, so the hint names the address it tried.
        // (Parsed, as `Target::is_on_this_machine` decides: `127.1` and `LOCALHOST` too.)
        let loopback = url.host().is_this_machine();
        let unreachable = reason.contains("refused")
            || reason.contains("no answer")
            || reason.contains("failed to lookup")
            || reason.contains("Name or service not known")
            || reason.contains("nodename nor servname");
        let hint = if unreachable {
            if loopback {
                format!(
                    "; is the server at {host}:{port} running? for the local database: \
                     `cargo xtask db up`"
                )
            } else {
                "; check the host and port in the URL and that this machine can reach it"
                    .to_string()
            }
        } else if reason.contains("does not exist") && loopback {
            "; `cargo xtask db up` creates the local application database".to_string()
        } else {
            tls_or_auth_hint(&reason, host)
        };
        ConnectError {
            url: url.clone(),
            reason,
            hint,
            transient,
            missing_database,
        }
    })
}

/// What to do about a refused certificate or password. rustls names the certificate
/// problem (`NotValidForName`, `UnknownIssuer`...); the hint says it in the URL's terms.
fn tls_or_auth_hint(reason: &str, host: &str) -> String {
    if reason.contains("NotValidForName") || reason.contains("not valid for name") {
        format!(
            "; the server's certificate is not valid for the host name {host}, which \
             sslmode=verify-full checks: connect with a host name the certificate names, or use \
             sslmode=verify-ca to check only that a trusted authority signed it"
        )
    } else if reason.contains("server does not support TLS") {
        "; the server does not offer TLS, which sslmode=require insists on (as do verify-ca \
         and verify-full): enable ssl on the server, or connect to the address your provider \
         gives for TLS"
            .to_string()
    } else if reason.contains("UnknownIssuer") {
        "; the server's certificate is not signed by a certificate authority this machine \
         trusts: add sslrootcert=/path/to/ca.pem (the CA certificate of the server or of your \
         database provider) to the URL"
            .to_string()
    } else if reason.contains("Expired") || reason.contains("NotValidYet") {
        "; the server's certificate is outside its validity period: check this machine's clock, \
         or renew the server's certificate"
            .to_string()
    } else if reason.contains("password authentication failed") {
        "; check the user name and password in the URL (percent-encode special characters: \
         `@` is %40, `/` is %2F)"
            .to_string()
    } else if reason.contains("certificate") && reason.contains("no pg_hba.conf entry") {
        "; the server wants a client certificate for this user: add sslcert=... and sslkey=... \
         to the URL"
            .to_string()
    } else {
        String::new()
    }
}

/// Quotes an SQL identifier: `a"b` -> `"a""b"`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal: `it's` -> `'it''s'`.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Closes a connection politely, ignoring errors: the server cleans up after a dropped
/// socket anyway, this only saves it a log line.
pub async fn close(conn: PgConnection) {
    let _ = conn.close().await;
}
