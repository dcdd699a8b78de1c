//! Shadow databases: scratch databases on the local server, made for one job (loading the
//! schema folder, replaying the migrations, a trace, a rehearsal) and dropped after it.
//!
//! A shadow database is named `pgshift_<purpose>_<pid>_<nanos>`: the pid of the process
//! that made it and the time it was made. It is dropped `WITH (FORCE)` when its job ends,
//! however it ends (`ShadowDatabase::drop` on the normal path; the `Drop` impl on an early
//! return or a panic). A process that was killed leaves its database behind; the next
//! `create` on the same server drops every such leftover whose pid is no longer alive on
//! this machine (the local server is on this machine, so the pid is ours to judge).

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::target::DbUrl;

/// Every shadow database's name starts with this.
pub const PREFIX: &str = "pgshift_";

/// A database of its own on the local server, dropped when done.
#[derive(Debug)]
pub struct ShadowDatabase {
    /// A URL of the server it lives on (any database there), to connect for the drop.
    server: DbUrl,
    name: String,
    url: DbUrl,
    dropped: bool,
    /// Leftovers of dead processes that `create` dropped.
    leftovers: Vec<String>,
}

impl ShadowDatabase {
    /// Creates an empty shadow database for `purpose` (lowercase letters, e.g. `schema`,
    /// `migrations`) on the server of `server`, after dropping the leftovers of dead
    /// processes there.
    pub async fn create(server: &DbUrl, purpose: &str) -> anyhow::Result<ShadowDatabase> {
        assert!(
            !purpose.is_empty() && purpose.bytes().all(|b| b.is_ascii_lowercase()),
            "a shadow database's purpose is lowercase letters"
        );
        let shown = server.host_and_database();
        let hint = "is the local database up (`cargo xtask db up`) and may its user create \
                    databases?";
        let mut admin = crate::db::connect(server).await.with_context(|| {
            format!("connecting to the local server ({shown}) for a shadow database; {hint}")
        })?;
        let leftovers = drop_leftovers(&mut admin).await;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("{PREFIX}{purpose}_{}_{nanos}", std::process::id());
        let created = sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await;
        crate::db::close(admin).await;
        created.map_err(|e| {
            anyhow::anyhow!(
                "cannot create the shadow database {name} on the local server ({shown}): {}; {hint}",
                crate::target::redact(&e.to_string())
            )
        })?;
        Ok(ShadowDatabase {
            server: server.clone(),
            url: server.with_database(&name),
            name,
            dropped: false,
            leftovers,
        })
    }

    /// The shadow databases of dead processes that `create` dropped first.
    pub fn leftovers_dropped(&self) -> &[String] {
        &self.leftovers
    }

    /// Its URL (the server's, with this database).
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops it (`WITH (FORCE)`: sessions still connected are ended). A failure is a
    /// warning: the next `create` on this server drops it once this process is gone.
    pub async fn drop(mut self) {
        self.dropped = true;
        if let Err(e) = drop_database(&self.server, &self.name).await {
            tracing::warn!("could not drop the shadow database {}: {e:#}", self.name);
        }
    }
}

impl Drop for ShadowDatabase {
    /// The path for an early return or a panic: the drop runs on a thread of its own with a
    /// runtime of its own (a `Drop` cannot await, and this may run inside a runtime).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let server = self.server.clone();
        let name = self.name.clone();
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(drop_database(&server, &name))
        })
        .join();
        if !matches!(joined, Ok(Ok(()))) {
            tracing::warn!("could not drop the shadow database {}", self.name);
        }
    }
}

/// Runs `job` with the URL of a new shadow database for `purpose` on `server`'s server,
/// then drops the database, whatever `job` returned.
pub async fn with_shadow<T, F, Fut>(server: &DbUrl, purpose: &str, job: F) -> anyhow::Result<T>
where
    F: FnOnce(DbUrl) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let shadow = ShadowDatabase::create(server, purpose).await?;
    let result = job(shadow.url().clone()).await;
    shadow.drop().await;
    result
}

async fn drop_database(server: &DbUrl, name: &str) -> anyhow::Result<()> {
    let mut admin = crate::db::connect(server).await?;
    let result = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    crate::db::close(admin).await;
    result?;
    Ok(())
}

/// Drops the shadow databases on this server whose process is gone; returns their names.
/// Best effort: a leftover that cannot be dropped (another user's) is left alone.
async fn drop_leftovers(admin: &mut sqlx::PgConnection) -> Vec<String> {
    let mut dropped = Vec::new();
    let names: Vec<String> = match sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'pgshift\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    {
        Ok(names) => names,
        Err(_) => return dropped,
    };
    for name in names {
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid_is_alive(pid) {
            continue;
        }
        match sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut *admin)
            .await
        {
            Ok(_) => {
                tracing::info!("dropped {name}, a shadow database left by process {pid}");
                dropped.push(name);
            }
            Err(e) => tracing::debug!("could not drop the leftover {name}: {e}"),
        }
    }
    dropped
}

/// The pid in a shadow database's name `pgshift_<purpose>_<pid>_<nanos>` (also the names the
/// trace and the rehearsal gave their scratch databases), or `None` for any other name.
fn owner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.rsplitn(3, '_');
    let stamp = parts.next()?;
    let pid = parts.next()?;
    let purpose = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(stamp) || !digits(pid) || purpose.is_empty() {
        return None;
    }
    if !purpose.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    pid.parse().ok().filter(|pid| *pid > 0)
}

fn pid_is_alive(pid: i32) -> bool {
    // Signal 0 checks existence only; EPERM means it exists under another user.
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(errno) => errno != nix::errno::Errno::ESRCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            owner_pid("pgshift_schema_123_1700000000000000000"),
            Some(123)
        );
        assert_eq!(owner_pid("pgshift_trace_42_999"), Some(42));
        assert_eq!(owner_pid("pgshift_rehearsal_42_20261203120000"), Some(42));
        assert_eq!(owner_pid("pgshift_schema_x_1"), None);
        assert_eq!(owner_pid("pgshift_123_1"), None);
        assert_eq!(owner_pid("pgshift_Schema_1_1"), None);
        assert_eq!(owner_pid("app_dev"), None);
    }

    #[test]
    fn liveness() {
        assert!(pid_is_alive(std::process::id() as i32));
        // Above the kernel's pid_max ceiling (4194304): never a live process.
        assert!(!pid_is_alive(4_194_305));
    }
}
