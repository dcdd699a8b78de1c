//! pgshiftd: watches the migrations folder and keeps the local database and the typed
//! bindings in sync. The same code runs as `cargo xtask watch` (foreground), under
//! `cargo xtask daemon start` (background) and as the `pgshiftd` binary.
//!
//! It only ever touches the local environment: the target is resolved as `local`, and a
//! database that carries a protected environment's marker is refused by the engine.

pub mod lock;
pub mod scheduled;
pub mod state;
mod sync;
pub mod watcher;

use std::time::Duration;

use anyhow::Context;
use pgshift::config::Config;
use pgshift::local::Backend;
use pgshift::target::{self, Target};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{sleep_until, Instant};

use crate::lock::ProjectLock;
use crate::scheduled::Scheduler;
use crate::state::DaemonState;
use crate::sync::{Outcome, Syncer};
use crate::watcher::{Change, Debounce, FolderWatcher};

/// How long the folder must be quiet before a change is acted on: long enough for an
/// editor's write-then-rename, short enough to feel instant.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// The local target, whatever `.env` or the command line say about other environments.
/// A `DATABASE_URL` in `.env` that names another machine is refused: the daemon applies
/// every saved file at once, which is only ever right for a database of one's own.
pub fn local_target(config: &Config) -> anyhow::Result<Target> {
    let target = pgshift::local::resolve_target(config, target::LOCAL_ENV, || {
        Backend::from_config(config).map(|(backend, _)| backend)
    })?;
    target.require_local("watch")?;
    Ok(target)
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: Config, debounce: Duration) -> anyhow::Result<()> {
    let state_dir = config.paths.state.clone();
    let _lock = ProjectLock::acquire(&state_dir)?;
    let target = local_target(&config)?;
    let mut syncer = Syncer::new(config.clone(), target);
    syncer.refuse_protected().await?;
    // `[backup] schedule`: a deadline armed for the next run only (a missed run is due now).
    let mut backups = Scheduler::start(&config)?;

    let migrations = config.paths.migrations.clone();
    let mut watcher = Some(FolderWatcher::new(&migrations, debounce)?);
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;

    // Written once the watch is in place: `daemon start` waits for this file to name the
    // new pid before it says the daemon runs.
    let mut state = DaemonState::new();
    tracing::info!("watching {} for {}", migrations.display(), syncer.target());
    if let Some(backups) = &backups {
        let status = backups.status();
        tracing::info!(
            "scheduled backups: \"{}\" ({}), next at {}",
            status.schedule,
            status.timezone,
            status.next_run.map_or_else(
                || "-".to_string(),
                |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            )
        );
        state.backup = Some(status);
    }
    state.event("started");
    save(&state, &state_dir);

    let mut debounce = Debounce::new(debounce);
    let mut backoff = Backoff::default();
    let mut last_problem: Option<String> = None;
    // The first sync runs at once: work may be pending from before the daemon started.
    let mut retry_at = Some(Instant::now());
    // While the migrations folder is gone, when to look for it again.
    let mut folder_check_at: Option<Instant> = None;

    loop {
        let backup_at = backups.as_ref().and_then(Scheduler::deadline);
        let due = [debounce.deadline(), retry_at, folder_check_at, backup_at]
            .into_iter()
            .flatten()
            .min();
        let next_change = async {
            match watcher.as_mut() {
                Some(w) => w.changes.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Signals first: a stop asked for during a sync is acted on when it ends, before
            // anything else is started.
            biased;
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            Some(change) = next_change => match change {
                Change::File(path) => debounce.push(path),
                Change::Rescan => debounce.push(migrations.clone()),
                Change::FolderGone => {
                    tracing::warn!(
                        "the migrations folder {} was removed or moved; waiting for it to come back",
                        migrations.display()
                    );
                    watcher = None;
                    debounce.take();
                    folder_check_at = Some(Instant::now() + FOLDER_CHECK);
                }
            },
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if folder_check_at.is_some_and(|at| at <= Instant::now()) {
                    folder_check_at = None;
                    match migrations.is_dir().then(|| FolderWatcher::new(&migrations, debounce.quiet())) {
                        Some(Ok(w)) => {
                            tracing::info!("watching {} again", migrations.display());
                            watcher = Some(w);
                            retry_at = Some(Instant::now());
                        }
                        Some(Err(e)) => {
                            tracing::warn!("{e:#}");
                            folder_check_at = Some(Instant::now() + FOLDER_CHECK);
                        }
                        None => folder_check_at = Some(Instant::now() + FOLDER_CHECK),
                    }
                    continue;
                }
                if let Some(scheduler) = backups.as_mut().and_then(|b| b.is_due().then_some(b)) {
                    // Like a sync, a backup runs to its end before a signal is looked at;
                    // `daemon stop` waits for it and says so.
                    scheduler.begin();
                    state.backup = Some(scheduler.status());
                    state.activity(Some("taking the scheduled backup"));
                    save(&state, &state_dir);
                    scheduler.run(&config, syncer.target()).await;
                    let status = scheduler.status();
                    match &status.last {
                        Some(last) if !last.ok => {
                            state.error(&format!(
                                "scheduled backup failed: {}",
                                last.error.as_deref().unwrap_or("-")
                            ));
                        }
                        _ => state.event("scheduled backup verified"),
                    }
                    state.backup = Some(status);
                    state.activity(None);
                    save(&state, &state_dir);
                    continue;
                }
                let Some(w) = watcher.as_ref() else { continue };
                if debounce.deadline().is_some_and(|d| d > Instant::now())
                    && retry_at.is_none_or(|r| r > Instant::now())
                {
                    continue;
                }
                debounce.take();
                retry_at = None;
                // A sync runs to its end before a signal is looked at, so a migration is
                // never cut off by a clean shutdown.
                // What the sync is doing goes to daemon.json as it happens: `daemon stop`
                // waits for a daemon finishing a long migration, and says so.
                let mut on_activity = |activity: Option<&str>| {
                    if state.activity.as_deref() != activity {
                        state.activity(activity);
                        save(&state, &state_dir);
                    }
                };
                match syncer.sync(&w.writes, &mut on_activity).await {
                    Outcome::Done(line) => {
                        backoff = Backoff::default();
                        last_problem = None;
                        if let Some(line) = line {
                            state.event(&line);
                        }
                    }
                    Outcome::Failed(error) => {
                        backoff = Backoff::default();
                        last_problem = None;
                        state.error(&error);
                    }
                    Outcome::RetryLater { error, transient } => {
                        let wait = if transient { backoff.next() } else { PERMANENT_RETRY };
                        // The same problem once at warn level, then quietly: a database
                        // that is down for an hour must not fill the log.
                        if last_problem.as_deref() != Some(error.as_str()) {
                            tracing::warn!("{error}; retrying in {:.1} s", wait.as_secs_f64());
                            last_problem = Some(error.clone());
                        } else {
                            tracing::debug!("{error}; retrying in {:.1} s", wait.as_secs_f64());
                        }
                        state.error(&error);
                        retry_at = Some(Instant::now() + wait);
                    }
                }
                // A file still being written was left for later: come back when it settles,
                // or after a quiet period when the watch no longer remembers the write (the
                // sync outlasted it) or the file changed under the sync's read.
                match w.writes.next_settle() {
                    Some(at) => debounce.recheck_at(at),
                    None if syncer.waiting_for_a_write() => {
                        debounce.recheck_at(Instant::now() + debounce.quiet())
                    }
                    None => {}
                }
                save(&state, &state_dir);
            }
        }
    }
    tracing::info!("stopped");
    state.event("stopped");
    save(&state, &state_dir);
    Ok(())
}

/// How often to look for a migrations folder that was removed.
const FOLDER_CHECK: Duration = Duration::from_secs(1);

/// How often to retry a database that refuses us for a reason waiting alone does not cure
/// (a wrong password, a missing database): someone has to act, and then it is picked up. So
/// is a migration that timed out on a table lock: each attempt leaves a `_pgshift_log` row.
const PERMANENT_RETRY: Duration = Duration::from_secs(10);

fn save(state: &DaemonState, state_dir: &std::path::Path) {
    if let Err(e) = state.save(state_dir) {
        tracing::warn!(
            "cannot write the daemon state in {}: {e}",
            state_dir.display()
        );
    }
}

/// Waits between attempts to reach a database that went away, or to take a migration lock
/// that another session held too long: 0.25 s, doubling, at most 5 s.
#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let wait = Duration::from_millis(250) * 2u32.pow(self.attempt.min(5));
        self.attempt += 1;
        wait.min(Duration::from_secs(5))
    }
}

/// Readable log lines on stderr: time, level, message. `PGSHIFT_LOG` sets the filter.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGSHIFT_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,pgshift=info,pgshift_daemon=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::ChronoLocal::new(
            "%H:%M:%S%.3f".into(),
        ))
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
}
