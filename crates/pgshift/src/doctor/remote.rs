//! `doctor --env NAME`: the checks of a remote environment's connection, instead of the
//! local database's: its URL variable, the connection (reachability, TLS handshake,
//! authentication), whether TLS is in use and verified, and the server's version.

use sqlx::postgres::PgSslMode;

use super::{Check, Outcome};
use crate::config::Config;
use crate::target::{self, Target};
use crate::UsageError;

/// Runs the checks of environment `env`; returns the server's major version when it
/// answered.
pub async fn checks(checks: &mut Vec<Check>, config: Option<&Config>, env: &str) -> Option<u32> {
    let url_check = format!("{env} url");
    let db_check = format!("{env} database");
    let tls_check = format!("{env} tls");
    let not_checked = |checks: &mut Vec<Check>, why: &str, fix: &str| {
        for what in [&db_check, &tls_check] {
            checks.push(Check::problem(
                what,
                Outcome::Warn,
                format!("not checked: {why}"),
                fix,
            ));
        }
    };
    let Some(config) = config else {
        checks.push(Check::problem(
            &url_check,
            Outcome::Fail,
            format!("not checked: {} is invalid", crate::config::CONFIG_FILE),
            "fix the config first",
        ));
        not_checked(checks, "the URL is unknown", "fix the config first");
        return None;
    };
    let target = match target::resolve(config, env, || {
        unreachable!("a remote environment never asks for the local URL")
    }) {
        Ok(target) => target,
        Err(e) => {
            let fix = match &e {
                UsageError::UnknownEnv { .. } => format!(
                    "add an [env.{env}] table with url_env = \"...\" to pgshift.toml, or pass the \
                     name of a configured environment"
                ),
                UsageError::UnsetUrlEnv { var, .. } => format!(
                    "export {var}='postgres://user:password@host:5432/database?sslmode=verify-full&sslrootcert=/path/to/ca.pem' \
                     in this shell (it is never read from .env)"
                ),
                _ => "correct the URL in the variable named above".to_string(),
            };
            checks.push(Check::problem(
                &url_check,
                Outcome::Fail,
                e.to_string(),
                &fix,
            ));
            not_checked(checks, "no usable URL", "fix the URL first");
            return None;
        }
    };
    let var = match &target.source {
        target::UrlSource::ProcessEnv(var) => var.clone(),
        other => other.to_string(),
    };
    checks.push(Check::ok(
        &url_check,
        format!(
            "${var} is set: {}{}",
            target.url,
            if target.protected { " (protected)" } else { "" }
        ),
    ));

    let mode = sslmode(&target);
    match session_facts(&target).await {
        Ok(facts) => {
            checks.push(Check::ok(
                &db_check,
                format!(
                    "{} answers: PostgreSQL {}, logged in as `{}`",
                    target.url.host_and_database(),
                    facts.version,
                    facts.user
                ),
            ));
            checks.push(tls(&tls_check, &target, &var, mode, facts.tls.as_deref()));
            crate::pgbin::parse_major(&facts.version)
        }
        Err(e) => {
            let reason = target::redact(&e.to_string());
            let fix = connect_fix(&reason, &var);
            checks.push(Check::problem(&db_check, Outcome::Fail, reason, &fix));
            checks.push(Check::problem(
                &tls_check,
                Outcome::Warn,
                format!("not checked: no connection (sslmode={mode})"),
                "fix the connection first",
            ));
            None
        }
    }
}

/// What the server says about our session.
struct SessionFacts {
    version: String,
    user: String,
    /// The TLS protocol version when the session is encrypted.
    tls: Option<String>,
}

async fn session_facts(target: &Target) -> anyhow::Result<SessionFacts> {
    let mut conn = crate::db::connect(&target.url).await?;
    let (version, user, tls): (String, String, Option<String>) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_user::text, \
         (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl)",
    )
    .fetch_one(&mut conn)
    .await?;
    crate::db::close(conn).await;
    Ok(SessionFacts { version, user, tls })
}

/// The `sslmode` the URL asks for, as libpq spells it (after `DbUrl::connect_options`).
fn sslmode(target: &Target) -> &'static str {
    match target.url.connect_options().get_ssl_mode() {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// Whether the session is encrypted and what was verified. Plain text to a protected
/// environment fails; anywhere else it is a warning.
fn tls(what: &str, target: &Target, var: &str, mode: &str, tls: Option<&str>) -> Check {
    let verify_fix = format!(
        "add sslmode=verify-full&sslrootcert=/path/to/ca.pem (the server's or your provider's CA \
         certificate) to ${var}"
    );
    match (tls, mode) {
        (Some(version), "verify-full") => Check::ok(
            what,
            format!(
                "{version}; the server's certificate and host name are verified (sslmode=verify-full)"
            ),
        ),
        (Some(version), "verify-ca") => Check::ok(
            what,
            format!(
                "{version}; the server's certificate is verified, its host name is not \
                 (sslmode=verify-ca)"
            ),
        ),
        (Some(version), _) => Check::problem(
            what,
            Outcome::Warn,
            format!(
                "{version}, but the server's certificate is not verified (sslmode={mode}): a \
                 server impersonating it would be accepted"
            ),
            &verify_fix,
        ),
        (None, _) => Check::problem(
            what,
            if target.protected {
                Outcome::Fail
            } else {
                Outcome::Warn
            },
            match mode {
                "disable" => "not encrypted: sslmode=disable".to_string(),
                _ => format!(
                    "not encrypted: the server offered no TLS and sslmode={mode} fell back to \
                     plain text"
                ),
            },
            &format!("enable TLS on the server, and {verify_fix}"),
        ),
    }
}

/// How to fix a failed connection, by what went wrong.
fn connect_fix(reason: &str, var: &str) -> String {
    if reason.contains("password authentication failed") || reason.contains("28P01") {
        format!(
            "check the user name and password in ${var} (percent-encode special characters: `@` \
             is %40, `/` is %2F)"
        )
    } else if reason.contains("NotValidForName")
        || reason.contains("UnknownIssuer")
        || reason.contains("certificate")
    {
        format!("fix the TLS parameters in ${var} as the message says (README: TLS)")
    } else if reason.contains("does not exist") {
        format!("create the database on the server, or correct its name in ${var}")
    } else if reason.contains("no pg_hba.conf entry") {
        format!(
            "the server does not accept this user from this machine: ask its administrator, or \
             check the user and sslmode in ${var}"
        )
    } else {
        format!("check the host and port in ${var} and that this machine can reach the server")
    }
}
