//! A migration session: one dedicated connection (never a pool: the advisory lock is session
//! state) with `lock_timeout` and `statement_timeout` set, holding the migration lock until
//! it is closed, on every path.

use std::time::Duration;

use sqlx::PgConnection;

use super::error::MigrateError;
use super::history;
use super::lock::{self, Acquired, LockHolder};
use crate::config::Config;
use crate::target::Target;

/// How many commands `Session::clean_slate` sends.
pub(crate) const CLEAN_SLATE_COMMANDS: usize = 6;

pub(crate) struct Session {
    pub conn: PgConnection,
    /// `env (host:port/database)`, for messages.
    pub target: String,
    /// `host:port/database`.
    pub database: String,
    /// The `SET` statements of the session's settings (timeouts, client_min_messages).
    pub settings: String,
    /// Where the history tables live, quoted (`history::locate`).
    pub schema: String,
    /// The session's default `standard_conforming_strings` (after `clean_slate`): how the
    /// server reads each message that carries a migration, and so how `sql::statements`
    /// must read the file.
    pub standard_strings: bool,
    lock_id: Option<i64>,
}

impl Session {
    /// Connects and sets the session's timeouts from `[migrate]`.
    pub async fn open(config: &Config, target: &Target) -> Result<Session, MigrateError> {
        let conn = crate::db::connect(&target.url).await?;
        let settings = format!(
            "SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'; SET client_min_messages = warning",
            config.migrate.session_lock_timeout.as_millis(),
            config.migrate.statement_timeout.as_millis()
        );
        let mut session = Session {
            conn,
            target: format!("{} ({})", target.env, target.url.host_and_database()),
            database: target.url.host_and_database(),
            settings,
            schema: String::new(),
            standard_strings: true,
            lock_id: None,
        };
        let result = sqlx::raw_sql(&session.settings)
            .execute(&mut session.conn)
            .await;
        session.check(result, "setting the session's timeouts")?;
        let located = history::locate(&mut session.conn).await;
        (session.schema, session.standard_strings) =
            session.check(located, "finding the migration history's schema")?;
        Ok(session)
    }

    /// Undoes whatever the previous migration changed in the session (role, session user,
    /// search_path, standard_conforming_strings, timeouts...) and sets the session's settings
    /// again: each migration starts from the same state. `CLEAN_SLATE_COMMANDS` commands.
    /// (`RESET ALL` leaves the role and the session user alone, hence the first two.)
    pub fn clean_slate(&self) -> String {
        format!(
            "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; {}",
            self.settings
        )
    }

    /// A boolean SQL expression that is true while this session holds the migration lock
    /// (`None` before it takes it).
    pub fn lock_held_sql(&self) -> Option<String> {
        self.lock_id.map(lock::held_by_this_session)
    }

    /// Maps a database error to `MigrateError::Database` naming this target.
    pub fn check<T>(
        &self,
        result: Result<T, sqlx::Error>,
        action: &str,
    ) -> Result<T, MigrateError> {
        result.map_err(|e| MigrateError::db(&self.target, action, e))
    }

    /// Opens a session and takes the migration lock, waiting at most `[migrate]
    /// lock_timeout`; on failure the session is closed before the error returns.
    pub async fn open_locked(
        config: &Config,
        target: &Target,
        progress: &mut dyn FnMut(super::Progress<'_>),
    ) -> Result<Session, MigrateError> {
        let mut session = Session::open(config, target).await?;
        let locked = session
            .lock(config.migrate.lock_timeout, &mut |holder| {
                progress(super::Progress::WaitingForLock(holder))
            })
            .await;
        match locked {
            Ok(()) => Ok(session),
            Err(e) => {
                session.close().await;
                Err(e)
            }
        }
    }

    /// Takes the migration lock (sqlx's id), waiting at most `timeout`.
    pub async fn lock(
        &mut self,
        timeout: Duration,
        on_wait: &mut dyn FnMut(Option<&LockHolder>),
    ) -> Result<(), MigrateError> {
        let name: Result<String, _> = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut self.conn)
            .await;
        let id = lock::lock_id(&self.check(name, "reading the database name")?);
        let started = std::time::Instant::now();
        let acquired = lock::acquire(&mut self.conn, id, timeout, on_wait).await;
        match self.check(acquired, "taking the migration lock")? {
            Acquired::Locked => {
                self.lock_id = Some(id);
                Ok(())
            }
            Acquired::TimedOut(holder) => Err(MigrateError::LockTimeout {
                database: self.target.clone(),
                waited: started.elapsed(),
                holder: holder.map(Box::new),
            }),
        }
    }

    /// Releases the lock (if held) and closes the connection. The server releases a session
    /// lock when the connection ends anyway; unlocking first keeps pg_locks clean at once.
    pub async fn close(mut self) {
        if let Some(id) = self.lock_id.take() {
            if let Err(e) = lock::release(&mut self.conn, id).await {
                tracing::debug!(
                    "releasing the migration lock: {e}; closing the connection releases it"
                );
            }
        }
        crate::db::close(self.conn).await;
    }
}
