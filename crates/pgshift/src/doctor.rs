//! `doctor`: checks the tools, versions, configuration and connectivity pgshift depends on
//! (of the local database, or with `--env NAME` of that environment's, in `remote`),
//! and says how to fix each problem. The checks never stop at the first failure (a broken
//! `pgshift.toml` is one failed check among the others), so one run shows everything.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::config::{BackendKind, Config, CONFIG_FILE};
use crate::local::docker::{self, ComposeKind, ENGINE_TIMEOUT};
use crate::local::Backend;
use crate::pgbin::{parse_major, PgBin, BINDIR_ENV};
use crate::target::{self, UrlSource};

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    /// Something optional is missing, or a check could not run because an earlier one
    /// failed; does not fail `doctor`.
    Warn,
    Fail,
}

/// One line of `doctor`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked, e.g. `pg_dump` or `local database`.
    pub check: String,
    pub status: Outcome,
    /// What was found: a version and a path, or what went wrong.
    pub detail: String,
    /// How to fix it, for warnings and failures.
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: &str, detail: impl Into<String>) -> Check {
        Check {
            check: check.to_string(),
            status: Outcome::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn problem(check: &str, status: Outcome, detail: impl Into<String>, fix: &str) -> Check {
        Check {
            check: check.to_string(),
            status,
            detail: target::redact(&one_line(&detail.into())),
            fix: Some(fix.to_string()),
        }
    }
}

/// Whether any check failed.
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|check| check.status == Outcome::Fail)
}

const CLIENT_FIX: &str = "install the PostgreSQL client programs (Debian/Ubuntu: `apt-get install postgresql-client`, macOS: `brew install libpq`)";

/// Whether the config file is not TOML at all (rather than TOML with a wrong key or value):
/// the fix is then about syntax, not keys.
fn is_toml_syntax_error(error: &crate::UsageError) -> bool {
    match error {
        crate::UsageError::Config { file, .. } => {
            std::fs::read_to_string(file).is_ok_and(|text| text.parse::<toml::Table>().is_err())
        }
        _ => false,
    }
}

mod remote;

/// Runs every check for the project found from `start` (as `Config::discover` finds it),
/// for environment `env`: the local database and what runs it for `local`, else that
/// environment's connection (see `remote`). The client programs are checked for both.
pub async fn run(start: &Path, env: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    let config = match Config::discover(start) {
        Ok(config) => {
            let file = config.root.join(CONFIG_FILE);
            let source = if file.is_file() {
                file.display().to_string()
            } else {
                format!(
                    "no {CONFIG_FILE} in {}, using the defaults",
                    config.root.display()
                )
            };
            checks.push(Check::ok(
                "config",
                format!("{source} (backend {})", config.local.backend),
            ));
            Some(config)
        }
        Err(e) => {
            checks.push(Check::problem(
                "config",
                Outcome::Fail,
                e.to_string(),
                if is_toml_syntax_error(&e) {
                    "fix the TOML syntax at the line shown in pgshift.toml"
                } else {
                    "correct the key named above in pgshift.toml (README.md lists every key)"
                },
            ));
            None
        }
    };
    // With a broken config, judge the tools as `auto` would need them.
    let backend = config
        .as_ref()
        .map_or(BackendKind::Auto, |config| config.local.backend);

    client_check(&mut checks, "psql");
    let pg_dump = client_check(&mut checks, "pg_dump");
    client_check(&mut checks, "pg_restore");

    if env != target::LOCAL_ENV {
        let server_major = remote::checks(&mut checks, config.as_ref(), env).await;
        checks.push(pg_dump_version_check(
            pg_dump,
            server_major,
            &format!("the {env} database"),
        ));
        return checks;
    }

    // Docker first: whether the engine answers decides what `auto` needs.
    let engine_answers = docker_checks(&mut checks, backend);
    let saved = config.as_ref().and_then(crate::local::saved_auto_choice);
    let effective = match backend {
        // As `db` decides: the choice of the first `db up`, else the engine.
        BackendKind::Auto => saved.unwrap_or(if engine_answers {
            BackendKind::Docker
        } else {
            BackendKind::Embedded
        }),
        kind => kind,
    };
    checks.push(server_binaries_check(backend, effective));

    let server_major = match &config {
        Some(config) => database_check(&mut checks, config, effective).await,
        None => {
            checks.push(Check::problem(
                "local database",
                Outcome::Warn,
                format!("not checked: {CONFIG_FILE} is invalid"),
                "fix the config first",
            ));
            None
        }
    };
    checks.push(pg_dump_version_check(
        pg_dump,
        server_major,
        "the local database",
    ));
    checks
}

/// A client program's path and version; returns whether it was found.
fn client_check(checks: &mut Vec<Check>, program: &str) -> bool {
    match PgBin::client(program).map(|path| (version_line(&path), path)) {
        Ok((Some(version), path)) => {
            checks.push(Check::ok(
                program,
                format!("{version} at {}", path.display()),
            ));
            true
        }
        Ok((None, path)) => {
            checks.push(Check::problem(
                program,
                Outcome::Fail,
                format!("{} does not run (`--version` failed)", path.display()),
                CLIENT_FIX,
            ));
            false
        }
        Err(_) => {
            checks.push(Check::problem(
                program,
                Outcome::Fail,
                "not found next to the server programs nor on PATH",
                CLIENT_FIX,
            ));
            false
        }
    }
}

/// `program --version`, without the program's name: "(PostgreSQL) 15.18 ...".
fn version_line(program: &Path) -> Option<String> {
    let out = crate::pgbin::clean_env(&mut Command::new(program))
        .arg("--version")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    let name = program.file_name()?.to_string_lossy();
    let version = line.strip_prefix(&*name).unwrap_or(line).trim();
    Some(
        version
            .strip_prefix("(PostgreSQL)")
            .unwrap_or(version)
            .trim()
            .to_string(),
    )
}

/// docker, compose and the engine. Returns whether the engine answers.
fn docker_checks(checks: &mut Vec<Check>, backend: BackendKind) -> bool {
    // Missing Docker fails only a project that asked for it.
    let (missing, why) = match backend {
        BackendKind::Docker => (Outcome::Fail, "backend = \"docker\" needs it"),
        BackendKind::Auto => (
            Outcome::Warn,
            "backend auto uses the embedded cluster without it",
        ),
        BackendKind::Embedded => (Outcome::Warn, "not needed: backend = \"embedded\""),
    };
    let docker_fix = "install Docker (https://docs.docker.com/engine/install/), or set `backend = \"embedded\"` in pgshift.toml";
    let installed = match docker::docker_version() {
        Ok(version) => {
            checks.push(Check::ok("docker", version));
            true
        }
        Err(_) => {
            checks.push(Check::problem(
                "docker",
                missing,
                format!("not installed ({why})"),
                docker_fix,
            ));
            false
        }
    };

    let (tools, problems) = docker::probe_compose_tools();
    if tools.is_empty() && !problems.is_empty() {
        checks.push(Check::problem(
            "docker compose",
            missing,
            format!("installed but did not answer: {}", problems.join("; ")),
            "try again when the machine is less busy, or run `docker compose version` by hand",
        ));
    } else if tools.is_empty() {
        checks.push(Check::problem(
            "docker compose",
            missing,
            format!("neither `docker compose` (v2) nor `docker-compose` (v1) is installed ({why})"),
            "install the compose plugin (https://docs.docker.com/compose/install/) or `docker-compose`",
        ));
    } else {
        let found: Vec<String> = tools
            .iter()
            .map(|tool| {
                let kind = match tool.kind {
                    ComposeKind::V2 => "v2",
                    ComposeKind::V1 => "v1",
                };
                format!("{} {kind} {}", tool.invocation(), tool.version)
            })
            .collect();
        checks.push(Check::ok(
            "docker compose",
            format!("{} (using {})", found.join(", "), tools[0].invocation()),
        ));
    }

    if !installed {
        checks.push(Check::problem(
            "docker engine",
            missing,
            "not checked: docker is not installed",
            docker_fix,
        ));
        return false;
    }
    match docker::engine_version(ENGINE_TIMEOUT) {
        Ok(version) => {
            checks.push(Check::ok(
                "docker engine",
                format!("answers, server {version}"),
            ));
            true
        }
        Err(e) => {
            checks.push(Check::problem(
                "docker engine",
                missing,
                match e {
                    docker::DockerUnavailable::NoAnswer { reason } => {
                        format!("does not answer: {reason} ({why})")
                    }
                    docker::DockerUnavailable::NotInstalled => format!("docker is not installed ({why})"),
                },
                "start it (`systemctl start docker`, or open Docker Desktop), or set `backend = \"embedded\"` in pgshift.toml",
            ));
            false
        }
    }
}

/// initdb and pg_ctl, which the embedded backend runs.
fn server_binaries_check(backend: BackendKind, effective: BackendKind) -> Check {
    const WHAT: &str = "server programs";
    match PgBin::find() {
        Ok(bin) => match bin.major_version() {
            Ok(major) => Check::ok(
                WHAT,
                format!(
                    "initdb and pg_ctl, PostgreSQL {major} ({})",
                    bin.dir.display()
                ),
            ),
            Err(e) => Check::problem(
                WHAT,
                Outcome::Fail,
                format!("{e:#}"),
                &format!(
                    "reinstall the PostgreSQL server, or set {BINDIR_ENV} to a working bin folder"
                ),
            ),
        },
        Err(missing) => {
            let status = if effective == BackendKind::Embedded {
                Outcome::Fail
            } else {
                Outcome::Warn
            };
            let needed = match (backend, effective) {
                (BackendKind::Embedded, _) => "the embedded backend needs them",
                (BackendKind::Auto, BackendKind::Embedded) => {
                    "backend auto uses the embedded cluster here (no Docker engine answers), which needs them"
                }
                _ => "not needed by the docker backend",
            };
            let fix = if missing.from_env {
                format!(
                    "{BINDIR_ENV}={} has no initdb/pg_ctl; fix it or unset it",
                    missing.looked
                )
            } else {
                format!(
                    "install the PostgreSQL server (Debian/Ubuntu: `apt-get install postgresql`, macOS: \
                     `brew install postgresql@16`), set {BINDIR_ENV} to the folder holding initdb and pg_ctl, \
                     or use `backend = \"docker\"` in pgshift.toml"
                )
            };
            Check::problem(
                WHAT,
                status,
                format!(
                    "initdb and pg_ctl not found ({needed}); looked in {}",
                    missing.looked
                ),
                &fix,
            )
        }
    }
}

/// Connects to the local database; returns the server's major version.
async fn database_check(
    checks: &mut Vec<Check>,
    config: &Config,
    effective: BackendKind,
) -> Option<u32> {
    const WHAT: &str = "local database";
    let backend = match Backend::of_kind(config, effective) {
        Ok(backend) => backend,
        Err(e) => {
            checks.push(Check::problem(
                WHAT,
                Outcome::Fail,
                format!("{e:#}"),
                "see the message for what to change",
            ));
            return None;
        }
    };
    // The same check as the migrate commands' (`local::resolve_target`): a server on our
    // port that is not this project's own (another checkout's) is not our database.
    let mut not_ours = false;
    let resolved = target::resolve(config, target::LOCAL_ENV, || {
        backend.serving_url(config).map_err(|e| {
            not_ours = true;
            crate::UsageError::Other(format!("{e:#}"))
        })
    });
    let target = match resolved {
        Ok(target) => target,
        Err(e) => {
            checks.push(Check::problem(
                WHAT,
                Outcome::Fail,
                e.to_string(),
                if not_ours {
                    "stop the server on that port, or give this project its own [local] port in \
                     pgshift.toml, then `cargo xtask db up`"
                } else {
                    "correct DATABASE_URL in .env, or remove it to use the local backend"
                },
            ));
            return None;
        }
    };
    let origin = match &target.source {
        UrlSource::LocalBackend => format!("the {} backend", backend.name()),
        source => source.to_string(),
    };
    match crate::local::server_version(&target.url).await {
        Ok(version) => {
            checks.push(Check::ok(
                WHAT,
                format!("{} ({origin}) answers: PostgreSQL {version}", target.url),
            ));
            parse_major(&version)
        }
        Err(e) => {
            // The fix below replaces the connection error's own hint.
            let reason = match e.downcast_ref::<crate::db::ConnectError>() {
                Some(connect) => format!("cannot connect to {}: {}", connect.url, connect.reason),
                None => format!("{e:#}"),
            };
            let fix = match target.source {
                UrlSource::LocalBackend => {
                    "start it with `cargo xtask db up` (it also creates the database)"
                }
                _ => "check DATABASE_URL in .env, or start that server",
            };
            checks.push(Check::problem(
                WHAT,
                Outcome::Fail,
                format!("{reason} (URL from {origin})"),
                fix,
            ));
            None
        }
    }
}

/// pg_dump refuses to dump a server newer than itself.
fn pg_dump_version_check(pg_dump: bool, server_major: Option<u32>, database: &str) -> Check {
    const WHAT: &str = "pg_dump version";
    let dump_major = pg_dump
        .then(|| PgBin::client("pg_dump").ok())
        .flatten()
        .and_then(|path| version_line(&path))
        .and_then(|line| parse_major(&line));
    match (dump_major, server_major) {
        (Some(dump), Some(server)) if dump >= server => Check::ok(
            WHAT,
            format!("pg_dump {dump} can dump the PostgreSQL {server} server"),
        ),
        (Some(dump), Some(server)) => Check::problem(
            WHAT,
            Outcome::Fail,
            format!("pg_dump {dump} is older than the PostgreSQL {server} server and refuses to dump it"),
            &format!(
                "install the PostgreSQL {server} client (Debian/Ubuntu: `apt-get install postgresql-client-{server}`, \
                 macOS: `brew install libpq`) and put it first on PATH, or set {BINDIR_ENV}"
            ),
        ),
        (None, _) => Check::problem(
            WHAT,
            Outcome::Warn,
            "not checked: no working pg_dump",
            CLIENT_FIX,
        ),
        (_, None) => Check::problem(
            WHAT,
            Outcome::Warn,
            format!("not checked: {database} does not answer"),
            &format!("fix the check of {database} first"),
        ),
    }
}

/// Joins a multi-line message (toml's errors quote the line with a gutter and carets) into
/// one line, so that each check stays on one line.
fn one_line(text: &str) -> String {
    let is_decoration = |line: &str| {
        let rest = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        rest.starts_with('|')
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_decoration(line))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn multi_line_messages_become_one_line() {
        let toml = "invalid pgshift.toml: TOML parse error at line 2, column 1\n  |\n2 | prot = 5\n  | ^^^^\nunknown field `prot`\n";
        assert_eq!(
            super::one_line(toml),
            "invalid pgshift.toml: TOML parse error at line 2, column 1; unknown field `prot`"
        );
    }
}
