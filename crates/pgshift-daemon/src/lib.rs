//! pgshiftd: watches the migrations folder and keeps the local database and the typed
//! bindings in sync. The same code runs as `cargo xtask watch` (foreground), under
//! `cargo xtask daemon start` (background) and as the `pgshiftd` binary.
//!
//! It only ever touches the local environment: the target is resolved as `local`, and a
//! database that carries a protected environment's marker is refused by the engine.

pub mod lock;
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
use crate::state::DaemonState;
use crate::sync::{Outcome, Syncer};
use crate::watcher::{Debounce, FolderWatcher};

/// How long the folder must be quiet before a change is acted on: long enough for an
/// editor's write-then-rename, short enough to feel instant.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

/// The local target, whatever `.env` or the command line say about other environments.
pub fn local_target(config: &Config) -> anyhow::Result<Target> {
    Ok(target::resolve(config, target::LOCAL_ENV, || {
        let (backend, _) = Backend::from_config(config)
            .map_err(|e| pgshift::UsageError::Other(format!("{e:#}")))?;
        Ok(backend.url(config))
    })?)
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: Config, debounce: Duration) -> anyhow::Result<()> {
    let state_dir = config.paths.state.clone();
    let _lock = ProjectLock::acquire(&state_dir)?;
    let target = local_target(&config)?;
    let mut syncer = Syncer::new(config.clone(), target);
    syncer.refuse_protected().await?;

    let migrations = config.paths.migrations.clone();
    let mut watcher = FolderWatcher::new(&migrations)?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;

    let mut state = DaemonState::new();
    tracing::info!("watching {} for {}", migrations.display(), syncer.target());
    state.event("started");
    save(&state, &state_dir);

    let mut debounce = Debounce::new(debounce);
    let mut backoff = Backoff::default();
    // The first sync runs at once: work may be pending from before the daemon started.
    let mut retry_at = Some(Instant::now());

    loop {
        let due = [debounce.deadline(), retry_at].into_iter().flatten().min();
        tokio::select! {
            Some(path) = watcher.changes.recv() => debounce.push(path),
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                debounce.take();
                retry_at = None;
                // A sync runs to its end before a signal is looked at, so a migration is
                // never cut off by a clean shutdown.
                match syncer.sync().await {
                    Outcome::Done(line) => {
                        backoff = Backoff::default();
                        if let Some(line) = line {
                            state.event(&line);
                        }
                    }
                    Outcome::Failed(error) => {
                        backoff = Backoff::default();
                        state.error(&error);
                    }
                    Outcome::Unreachable(error) => {
                        let wait = backoff.next();
                        tracing::warn!("{error}; retrying in {:.1} s", wait.as_secs_f64());
                        state.error(&error);
                        retry_at = Some(Instant::now() + wait);
                    }
                }
                save(&state, &state_dir);
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    tracing::info!("stopped");
    state.event("stopped");
    save(&state, &state_dir);
    Ok(())
}

fn save(state: &DaemonState, state_dir: &std::path::Path) {
    if let Err(e) = state.save(state_dir) {
        tracing::warn!(
            "cannot write the daemon state in {}: {e}",
            state_dir.display()
        );
    }
}

/// Waits between attempts to reach a database that went away: 0.25 s, doubling, at most 5 s.
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
