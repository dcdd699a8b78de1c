//! The pg_dump child: versions checked first, a snapshot exported on a connection that
//! stays open in a REPEATABLE READ transaction, pg_dump started on that snapshot, and the
//! row counts taken in the same snapshot while it runs, so they are exactly what it dumps.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::PgConnection;
use tokio::io::AsyncReadExt;

use super::child::{self, Mode0600, Passfile};
use super::manifest::{Format, TableRows};
use super::{client_programs, BackupError, Progress};
use crate::pgbin::parse_major;
use crate::target::{redact, Target};

/// What the dump found beside the archive.
pub(super) struct Dumped {
    pub server_version: String,
    pub pg_dump_version: String,
    pub tables: Vec<TableRows>,
    pub migration_version: Option<i64>,
    pub marker: Option<String>,
    /// The schemas and catalog model in the same snapshot, when asked for
    /// (`--verify=restore` compares them with the restored copy).
    pub catalog: Option<(Vec<String>, crate::catalog::Catalog)>,
    /// The Docker container pg_dump ran in (this machine's was older than the server).
    pub container: Option<String>,
    /// This machine's pg_restore, found with pg_dump, for checking the archive.
    pub pg_restore: std::path::PathBuf,
}

/// The user tables pg_dump dumps: ordinary and partitioned, not temporary, not members of
/// an extension (pg_dump leaves those to `CREATE EXTENSION`).
pub(crate) const TABLES: &str = "\
SELECT n.nspname::text, c.relname::text, c.relkind = 'p' \
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' \
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                    AND d.objid = c.oid AND d.deptype = 'e') \
ORDER BY 1, 2";

pub(super) async fn dump(
    config: &crate::config::Config,
    target: &Target,
    temp: &Path,
    format: Format,
    jobs: u32,
    read_catalog: bool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Dumped, BackupError> {
    let database = target.url.host_and_database();
    // The programs (pg_config, then `pg_dump --version`) and the connection at the same
    // time: neither needs the other. A missing or unusable pg_dump is reported first.
    let programs = async {
        let [pg_dump, pg_restore] =
            tokio::task::spawn_blocking(|| client_programs(["pg_dump", "pg_restore"]))
                .await
                .map_err(|e| BackupError::ProgramMissing(format!("looking for pg_dump: {e}")))??;
        let version = program_version(&pg_dump).await?;
        Ok::<_, BackupError>((pg_dump, pg_restore, version))
    };
    let (programs, conn) = tokio::join!(programs, crate::db::connect(&target.url));
    let (pg_dump, pg_restore, pg_dump_version) = match programs {
        Ok(programs) => programs,
        Err(e) => {
            if let Ok(conn) = conn {
                crate::db::close(conn).await;
            }
            return Err(e);
        }
    };
    let mut conn = conn?;
    let db_error = |action: &'static str| {
        let database = database.clone();
        move |e: sqlx::Error| BackupError::Database {
            action,
            database,
            reason: redact(&e.to_string()),
        }
    };
    let (server_version, server_num): (String, String) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('server_version_num')",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(db_error("reading the server version of"))?;
    let server_major = server_num.parse::<u32>().unwrap_or(0) / 10000;
    let dump_major = parse_major(&pg_dump_version).unwrap_or(0);
    // This machine's pg_dump cannot dump a newer server; the local Docker container's can
    // (promise 4), writing to our file through `docker exec`'s stdout.
    let mut in_container = None;
    if dump_major < server_major {
        let Some((container, version)) = container_pg_dump(config, target, server_major).await
        else {
            crate::db::close(conn).await;
            return Err(BackupError::PgDumpTooOld {
                pg_dump: version_number(&pg_dump_version),
                server: server_version,
                server_major,
                database,
            });
        };
        if format == Format::Directory {
            crate::db::close(conn).await;
            return Err(BackupError::ContainerNeedsOneJob {
                pg_dump: version_number(&pg_dump_version),
                server: server_version,
                server_major,
                database,
            });
        }
        // Inside the container, the server is reached on its own socket and port.
        let (port, sockets): (String, String) = sqlx::query_as(
            "SELECT current_setting('port'), current_setting('unix_socket_directories')",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(db_error("reading the socket settings of"))?;
        let host = sockets
            .split(',')
            .map(str::trim)
            .find(|dir| dir.starts_with('/'))
            .unwrap_or("127.0.0.1")
            .to_string();
        tracing::info!(
            "pg_dump {} is older than the server (PostgreSQL {server_version}); dumping inside \
             the Docker container {container} (pg_dump {})",
            version_number(&pg_dump_version),
            version_number(&version)
        );
        in_container = Some((container, version, host, port));
    }
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut conn)
        .await
        .map_err(db_error("starting the snapshot transaction on"))?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_catalog.pg_export_snapshot()")
        .fetch_one(&mut conn)
        .await
        .map_err(db_error("exporting a snapshot of"))?;

    let passfile = Passfile::for_url(&target.url).map_err(|source| BackupError::Io {
        action: "writing the temporary passfile in",
        path: std::env::temp_dir(),
        error: source,
    })?;
    let mut command = match &in_container {
        None => {
            let mut command = child::command(&pg_dump, &passfile);
            if dump_major >= 10 {
                // The archive is fsynced by `make`, at the same time as it is checked.
                command.arg("--no-sync");
            }
            command
                .arg("--no-password")
                .arg(format!("--snapshot={snapshot}"))
                .arg(match format {
                    Format::Custom => "--format=custom",
                    Format::Directory => "--format=directory",
                })
                .arg("--file")
                .arg(temp)
                .stdout(std::process::Stdio::null());
            if format == Format::Directory {
                command.arg(format!("--jobs={jobs}"));
            }
            command.arg("--dbname").arg(target.url.without_password());
            command
        }
        Some((container, _, host, port)) => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode_0600()
                .open(temp)
                .map_err(|source| BackupError::Io {
                    action: "creating",
                    path: temp.to_path_buf(),
                    error: source,
                })?;
            let mut command = docker_command();
            command.arg("exec");
            // `-e NAME` without a value: docker passes the variable from its own
            // environment, so the password is in no argv, ours or the container's.
            if let Some(password) = target.url.password() {
                command
                    .env("PGPASSWORD", password)
                    .args(["-e", "PGPASSWORD"]);
            }
            let options = target.url.connect_options();
            command
                .args([
                    "-e",
                    "PGAPPNAME=pgshift",
                    container,
                    "pg_dump",
                    "--no-password",
                ])
                .arg(format!("--snapshot={snapshot}"))
                .args([
                    "--format=custom",
                    "--host",
                    host,
                    "--port",
                    port,
                    "--username",
                ])
                .arg(options.get_username())
                .arg("--dbname")
                .arg(target.url.database())
                .stdout(file);
            command
        }
    };
    let mut child = command.spawn().map_err(|source| BackupError::Io {
        action: "starting",
        path: match &in_container {
            None => pg_dump.clone(),
            Some(_) => "docker exec ... pg_dump".into(),
        },
        error: source,
    })?;
    let db_name = target.url.database();
    progress(Progress::Dumping {
        env: &target.env,
        database: &db_name,
    });
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let stderr_task = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text).await;
        text
    });

    // The counts run in the exported snapshot while pg_dump dumps it. The transaction
    // stays open until both are done (pg_dump imports the snapshot when it starts). A
    // failed pg_dump does not wait for the counts.
    let started = Instant::now();
    let status = {
        let counting = async {
            // The counts finish long before the dump: one backend, no parallel workers
            // taking cores from pg_dump and the server process feeding it.
            sqlx::raw_sql("SET LOCAL max_parallel_workers_per_gather = 0")
                .execute(&mut conn)
                .await?;
            // On a server on this machine, at the lowest CPU priority: on two cores the
            // counts otherwise take a third of the CPU from pg_dump while they run.
            super::background::lower_priority(&mut conn).await;
            let counted = counts(&mut conn).await?;
            tracing::debug!(
                "row counts read in {:.2} s (while pg_dump runs)",
                started.elapsed().as_secs_f64()
            );
            let catalog = if read_catalog {
                let schemas = schemas(&mut conn).await?;
                let catalog =
                    crate::catalog::introspect_in_transaction(&mut conn, &schemas).await?;
                Some((schemas, catalog))
            } else {
                None
            };
            Ok::<_, sqlx::Error>((counted, catalog))
        };
        tokio::pin!(counting);
        let mut counted = None;
        // What pg_dump has written is flushed to disk while it writes (one fsync at a time,
        // at most one a second), so the fsync after it, which the rename waits for, has
        // only the end of the archive left to write.
        let mut flushing: Option<tokio::task::JoinHandle<()>> = None;
        let mut flushed_at = Instant::now();
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                result = &mut counting, if counted.is_none() => counted = Some(result),
                _ = tokio::time::sleep(Duration::from_millis(250)) => {
                    progress(Progress::Written { bytes: size_of(temp), elapsed: started.elapsed() });
                    if flushing.as_ref().is_none_or(|f| f.is_finished())
                        && flushed_at.elapsed() >= Duration::from_secs(1)
                    {
                        let temp = temp.to_path_buf();
                        flushing = Some(tokio::task::spawn_blocking(move || {
                            // A failure here is found again by the fsync that counts.
                            let _ = super::sync_archive(&temp);
                        }));
                        flushed_at = Instant::now();
                    }
                }
            }
        };
        if let Some(flushing) = flushing {
            let _ = flushing.await;
        }
        match status {
            Ok(status) if status.success() => {
                let counted = match counted {
                    Some(counted) => counted,
                    None => counting.await,
                };
                Ok((status, Some(counted)))
            }
            Ok(status) => {
                // A count that failed (a table the role cannot read) ends the transaction
                // and with it the snapshot, and pg_dump then fails to import it: the count's
                // error is the one to report. It is on its way when pg_dump fails for that
                // reason; a pg_dump failing for another does not wait for long counts.
                let counted = match counted {
                    Some(counted) => Some(counted),
                    None => tokio::time::timeout(Duration::from_secs(2), &mut counting)
                        .await
                        .ok(),
                };
                Ok((status, counted.filter(|c| c.is_err())))
            }
            Err(e) => Err(e),
        }
    };
    let (status, counted) = status.map_err(|source| BackupError::Io {
        action: "waiting for",
        path: pg_dump.clone(),
        error: source,
    })?;
    if counted.is_some() {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
        crate::db::close(conn).await;
    }
    tracing::debug!("pg_dump ran {:.2} s", started.elapsed().as_secs_f64());
    let stderr = stderr_task.await.unwrap_or_default();
    if let Some(Err(e)) = counted {
        return Err(count_failed(database, e));
    }
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let status = match status.signal() {
            Some(signal) if signal == nix::sys::signal::Signal::SIGXFSZ as i32 => format!(
                "killed by signal {signal}, SIGXFSZ: the file-size limit (ulimit -f) was reached; \
                 raise it"
            ),
            Some(signal) => format!("killed by signal {signal}"),
            None => status.to_string(),
        };
        let mut stderr = redact(stderr.trim());
        if stderr.contains("No space left on device") {
            stderr.push_str(
                "; free some space, or set [backup] dir in pgshift.toml to a larger disk",
            );
        }
        if stderr.is_empty() {
            stderr = "no message".into();
        }
        return Err(BackupError::DumpFailed {
            database,
            status,
            stderr,
        });
    }
    let ((tables, migration_version, marker), catalog) = counted
        .expect("counted when pg_dump succeeded")
        .expect("a failed count is reported above");
    let (pg_dump_version, container) = match in_container {
        Some((container, version, _, _)) => (version, Some(container)),
        None => (pg_dump_version, None),
    };
    Ok(Dumped {
        server_version,
        container,
        pg_dump_version: version_number(&pg_dump_version),
        tables,
        migration_version,
        marker,
        catalog,
        pg_restore,
    })
}

/// The counts' error, with what to do when the role may not read a table or schema.
fn count_failed(database: String, e: sqlx::Error) -> BackupError {
    let denied = e
        .as_database_error()
        .is_some_and(|e| e.code().as_deref() == Some("42501"));
    let reason = match e.as_database_error() {
        Some(e) => e.message().to_string(),
        None => e.to_string(),
    };
    BackupError::CountFailed {
        database,
        reason: redact(&reason),
        hint: if denied {
            "; the backup's role cannot read everything pg_dump dumps: grant it read access \
             (USAGE on every schema, SELECT on every table), or back up as the owner"
        } else {
            ""
        },
    }
}

/// The schemas pg_dump dumps: all but PostgreSQL's own.
pub(crate) async fn schemas(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT nspname::text FROM pg_catalog.pg_namespace \
         WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY 1",
    )
    .fetch_all(conn)
    .await
}

/// Exact row counts of every table, the newest applied migration and the marker, in the
/// connection's current transaction. Turns JIT off for the session (the connection is the
/// caller's own): compiling a count over 200 tables costs more than it saves.
pub(crate) async fn counts(
    conn: &mut PgConnection,
) -> Result<(Vec<TableRows>, Option<i64>, Option<String>), sqlx::Error> {
    sqlx::raw_sql("SET jit = off").execute(&mut *conn).await?;
    let listed: Vec<(String, String, bool)> = sqlx::query_as(TABLES).fetch_all(&mut *conn).await?;
    let mut tables: Vec<TableRows> = listed
        .iter()
        .map(|(schema, table, _)| TableRows {
            schema: schema.clone(),
            table: table.clone(),
            rows: 0,
        })
        .collect();
    // One statement per 200 tables rather than one per table: a thousand round trips
    // would cost more than the counting of small tables.
    let countable: Vec<usize> = (0..listed.len()).filter(|&i| !listed[i].2).collect();
    for chunk in countable.chunks(200) {
        let sql = chunk
            .iter()
            .map(|&i| {
                format!(
                    "SELECT {i}::int4, count(*) FROM ONLY {}.{}",
                    crate::db::quote_ident(&listed[i].0),
                    crate::db::quote_ident(&listed[i].1)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows: Vec<(i32, i64)> = sqlx::query_as(&sql).fetch_all(&mut *conn).await?;
        for (i, count) in rows {
            tables[i as usize].rows = count;
        }
    }
    let (version, marker) = version_and_marker(conn).await?;
    Ok((tables, version, marker))
}

/// The newest applied migration version and the environment marker, if the tables exist.
pub(crate) async fn version_and_marker(
    conn: &mut PgConnection,
) -> Result<(Option<i64>, Option<String>), sqlx::Error> {
    let (history, marker): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT pg_catalog.to_regclass('_sqlx_migrations')::text, \
                pg_catalog.to_regclass('_pgshift_marker')::text",
    )
    .fetch_one(&mut *conn)
    .await?;
    let version = match history {
        Some(table) => {
            sqlx::query_scalar(&format!("SELECT max(version) FROM {table} WHERE success"))
                .fetch_one(&mut *conn)
                .await?
        }
        None => None,
    };
    let marker = match marker {
        Some(table) => {
            sqlx::query_scalar(&format!("SELECT env FROM {table}"))
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    Ok((version, marker))
}

/// The local Docker container's pg_dump, when `target` is the local backend's database on
/// the docker backend, its container runs, and its pg_dump is at least `server_major`:
/// the container's id and `pg_dump --version`.
async fn container_pg_dump(
    config: &crate::config::Config,
    target: &Target,
    server_major: u32,
) -> Option<(String, String)> {
    if target.env != crate::target::LOCAL_ENV
        || target.source != crate::target::UrlSource::LocalBackend
    {
        return None;
    }
    let Ok((crate::local::Backend::Docker(compose), _)) =
        crate::local::Backend::from_config(config)
    else {
        return None;
    };
    let container = compose.running_container()?;
    let out = docker_command()
        .args(["exec", &container, "pg_dump", "--version"])
        .output()
        .await
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && parse_major(&version).unwrap_or(0) >= server_major)
        .then_some((container, version))
}

/// The `docker` command line tool with a child's cleaned environment (see `child`), plus
/// the variables that say which engine to talk to.
pub(super) fn docker_command() -> tokio::process::Command {
    let mut command = child::command(Path::new("docker"), &Passfile::none());
    for name in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_CONFIG",
        "DOCKER_CERT_PATH",
        "DOCKER_TLS_VERIFY",
    ] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
}

/// `pg_dump --version`, as printed.
async fn program_version(program: &Path) -> Result<String, BackupError> {
    let out = tokio::process::Command::new(program)
        .arg("--version")
        .env_clear()
        .output()
        .await
        .map_err(|source| BackupError::Io {
            action: "running",
            path: program.to_path_buf(),
            error: source,
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// "pg_dump (PostgreSQL) 15.18 (Debian ...)" -> "15.18".
fn version_number(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or(line)
        .to_string()
}

/// Bytes written so far: the file, or a directory archive's files.
fn size_of(path: &Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum(),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}
