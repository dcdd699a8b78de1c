//! One sync: apply what is pending to the local database through the migration engine (the
//! same code as `migrate-dev`), then regenerate the bindings if the schema changed.

use std::time::{Duration, Instant};

use pgshift::config::Config;
use pgshift::migrations::{self, MigrateError, Progress};
use pgshift::target::Target;

use crate::watcher::Writes;

/// What a sync came to.
pub enum Outcome {
    /// Up to date; the line says what was done, if anything.
    Done(Option<String>),
    /// A problem that a file change must fix (bad SQL, an edited applied file...).
    Failed(String),
    /// The database could not be reached, another session kept the migration lock past
    /// `[migrate] lock_timeout`, or a migration gave up waiting for a table lock: try again
    /// later, whether or not a file changes. `transient` (retry with the backoff) when it
    /// may clear any moment (refused, reset, starting up, the migration lock); otherwise
    /// retried every 10 s (a wrong password, a table lock held by a long transaction).
    RetryLater { error: String, transient: bool },
}

pub struct Syncer {
    config: Config,
    target: Target,
    /// The bindings may not match the database: at start (the daemon was not watching),
    /// and after migrations were applied but generation did not finish.
    bindings_due: bool,
    /// The last sync left a pending file for later because it was still being written.
    waiting_for_a_write: bool,
}

impl Syncer {
    pub fn new(config: Config, target: Target) -> Syncer {
        Syncer {
            config,
            target,
            bindings_due: true,
            waiting_for_a_write: false,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Refuses, before watching anything, a database that carries a protected
    /// environment's marker. An unreachable database is not refused here: every sync checks
    /// the marker again before it applies anything.
    pub async fn refuse_protected(&self) -> anyhow::Result<()> {
        match migrations::check_local_marker(&self.config, &self.target, "watch").await {
            Ok(()) | Err(MigrateError::Connect(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies what is pending and settled (see `Writes`), then regenerates the bindings
    /// if anything was applied or they may be stale. `activity` hears what takes time (the
    /// lock wait, each migration, the bindings) and `None` once the sync is over.
    pub async fn sync(
        &mut self,
        writes: &Writes,
        activity: &mut dyn FnMut(Option<&str>),
    ) -> Outcome {
        self.waiting_for_a_write = false;
        let outcome = self.sync_steps(writes, activity).await;
        activity(None);
        outcome
    }

    /// Whether the last sync left a file for later because it was being written. The
    /// daemon comes back for it even when the watch has forgotten the write by then (a sync
    /// slower than the watch's memory of it), or the file changed under the sync's read.
    pub fn waiting_for_a_write(&self) -> bool {
        self.waiting_for_a_write
    }

    async fn sync_steps(
        &mut self,
        writes: &Writes,
        activity: &mut dyn FnMut(Option<&str>),
    ) -> Outcome {
        let started = Instant::now();
        // Several migrations can be sent in one message: each is announced, then each is
        // reported applied, so the one running is the oldest announced and not yet applied.
        let mut announced = std::collections::VecDeque::new();
        let mut on_progress = |event: Progress<'_>| match event {
            Progress::Applied(m) => {
                tracing::info!("applied {} ({})", m.file, ms(m.duration));
                announced.pop_front();
                if let Some(next) = announced.front() {
                    activity(Some(&format!("applying {next}")));
                }
            }
            Progress::WaitingForLock(holder) => {
                if let Some(holder) = holder {
                    tracing::info!("waiting for the migration lock, held by {holder}");
                }
                activity(Some("waiting for the migration lock"));
            }
            Progress::Applying(file) => {
                if announced.is_empty() {
                    activity(Some(&format!("applying {}", file.file_name)));
                }
                announced.push_back(file.file_name.clone());
            }
        };
        let settled = |path: &std::path::Path| writes.settled(path);
        let applying =
            migrations::migrate_dev_settled(&self.config, &self.target, &settled, &mut on_progress);
        let report = match applying.await {
            Ok(report) => report,
            // Another migration (a `migrate-dev`, an application's `sqlx::migrate!`) holds
            // the lock: it ends some time, and nothing in the folder has to change for the
            // pending work to be applied then.
            Err(e) if e.is_unreachable() || matches!(e, MigrateError::LockTimeout { .. }) => {
                let transient = match &e {
                    MigrateError::Connect(c) => c.is_transient(),
                    _ => true,
                };
                return Outcome::RetryLater {
                    error: e.to_string(),
                    transient,
                };
            }
            // A migration that waited too long for a table lock another session holds (a
            // long transaction in psql, say) failed for a reason that goes away on its own;
            // its file is fine. Retried, slowly: each attempt is one more `_pgshift_log` row.
            Err(MigrateError::Failed(f)) if f.lock_wait && !f.partial => {
                // The failure's own last line says to fix the file and run again; neither
                // is needed here.
                let full = f.to_string();
                let cause = full
                    .rsplit_once('\n')
                    .map_or(full.as_str(), |(cause, _)| cause);
                let text = pgshift::target::redact(&format!(
                    "{cause}\nnothing of it was applied; it is tried again once that session lets go \
                     (end its transaction, or find it in pg_stat_activity)"
                ));
                return Outcome::RetryLater {
                    error: text,
                    transient: false,
                };
            }
            Err(e) => {
                let text = pgshift::target::redact(&e.to_string());
                tracing::error!("{text}");
                return Outcome::Failed(text);
            }
        };
        // The lint's findings on what was applied: printed, never blocking locally.
        for finding in &report.lint {
            tracing::warn!("{}", pgshift::lint::render::finding(finding).trim_end());
        }
        if let Some(waiting) = &report.waiting {
            tracing::info!("{waiting}");
            self.waiting_for_a_write = waiting.reason != migrations::WaitReason::NoSql;
        }
        let applied = report.applied.len();
        self.bindings_due |= applied > 0;
        if !self.bindings_due {
            return Outcome::Done(None);
        }
        // Before the bindings follow the database: a change made there by hand (not by a
        // migration) would go into them unseen. Checked only now, when they are about to
        // be regenerated, never while idle.
        activity(Some("checking the local database for drift"));
        match pgshift::schema::drift::check(&self.config, &self.target, &self.target).await {
            Ok(drift) => {
                for line in pgshift::schema::drift::warning(&drift) {
                    tracing::warn!("{line}");
                }
            }
            Err(e) => tracing::warn!(
                "{}",
                pgshift::target::redact(&format!(
                    "could not check the local database for drift: {e:#}"
                ))
            ),
        }
        let generating = Instant::now();
        activity(Some("regenerating the bindings"));
        match pgshift::codegen::generate(&self.config, &self.target.url).await {
            Ok(outcome) => {
                self.bindings_due = false;
                for skipped in &outcome.skipped {
                    tracing::warn!(
                        "column {} (`{}`) left out of the bindings: {}",
                        skipped.column,
                        skipped.sql_type,
                        skipped.reason
                    );
                }
                let bindings = if outcome.changed {
                    "bindings updated"
                } else {
                    "bindings unchanged"
                };
                tracing::info!("{bindings} ({})", ms(generating.elapsed()));
                let total = ms(started.elapsed());
                let summary = match applied {
                    0 => bindings.to_string(),
                    1 => format!("synced 1 migration, {bindings}, in {total}"),
                    n => format!("synced {n} migrations, {bindings}, in {total}"),
                };
                if applied > 0 {
                    tracing::info!("{summary}");
                }
                Outcome::Done(Some(summary))
            }
            Err(e) if e.chain().any(|c| c.is::<pgshift::db::ConnectError>()) => {
                Outcome::RetryLater {
                    error: format!("{e:#}"),
                    transient: true,
                }
            }
            Err(e) => {
                let text = pgshift::target::redact(&format!("bindings not regenerated: {e:#}"));
                tracing::error!("{text}");
                Outcome::Failed(text)
            }
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}
