//! `cargo xtask watch | dev | daemon`: the watcher daemon in the foreground, after `db up`,
//! or in the background.

use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use pgshift::target::LOCAL_ENV;
use pgshift::UsageError;
use pgshift_daemon::{lock, state};

use crate::context::{Ctx, Flags, JsonFlag, LocalEnvFlag};

#[derive(clap::Args, Clone)]
pub struct WatchArgs {
    /// How long the migrations folder must be quiet before a change is applied.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = pgshift_daemon::DEFAULT_DEBOUNCE.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(0..=60_000)
    )]
    debounce_ms: u64,
}

#[derive(Subcommand)]
pub enum DaemonCommand {
    /// Start the daemon in the background; its log goes to .pgshift/daemon.log.
    #[command(after_help = "Example: cargo xtask daemon start")]
    Start {
        #[command(flatten)]
        args: WatchArgs,
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
    /// Stop the background daemon (SIGTERM; an in-flight migration finishes first, and
    /// this waits for it, saying what it is finishing).
    #[command(after_help = "Example: cargo xtask daemon stop")]
    Stop {
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
    /// Pid, uptime, last event and last error of the background daemon; with
    /// `[backup] schedule`, the next scheduled backup and the last one's result.
    #[command(after_help = "Example: cargo xtask daemon status --json")]
    Status {
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        env: LocalEnvFlag,
    },
}

impl DaemonCommand {
    /// The `--env`, `--json` and `--yes` this command takes.
    pub fn flags(&self) -> Flags {
        match self {
            DaemonCommand::Start { json, env, .. }
            | DaemonCommand::Stop { json, env }
            | DaemonCommand::Status { json, env } => Flags::default().local_env(env).json(json),
        }
    }
}

fn require_local(ctx: &Ctx, command: &str) -> Result<()> {
    if ctx.env != LOCAL_ENV {
        return Err(UsageError::Other(format!(
            "`{command}` only ever works on the local database, but --env {} was given; \
             use migrate-deploy --env {} for remote databases",
            ctx.env, ctx.env
        ))
        .into());
    }
    Ok(())
}

pub async fn watch(ctx: &Ctx, args: WatchArgs) -> Result<ExitCode> {
    require_local(ctx, "watch")?;
    pgshift_daemon::run(ctx.config.clone(), Duration::from_millis(args.debounce_ms)).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn dev(ctx: &Ctx, args: WatchArgs) -> Result<ExitCode> {
    require_local(ctx, "dev")?;
    let backend = ctx.backend()?;
    // `.env` may point the local environment at another database; then there is nothing of
    // ours to start. The checks name `dev`, not the `watch` it runs.
    let target = ctx.target()?;
    target.require_local("dev")?;
    if target.source == pgshift::target::UrlSource::LocalBackend {
        backend.up(&ctx.config).await?;
        // The daemon's log filter shows info for pgshift's own targets only, not `xtask`.
        tracing::info!(
            target: "pgshift_daemon::dev",
            "local database ({}) is up: {}",
            backend.name(),
            target.url
        );
    }
    pgshift::migrations::check_local_marker(&ctx.config, &target, "dev")
        .await
        .map_err(crate::migrate::lift)?;
    // The daemon's first sync is migrate-dev: it applies what is pending and regenerates the
    // bindings, then it watches.
    watch(ctx, args).await
}

pub async fn daemon(ctx: &Ctx, command: DaemonCommand) -> Result<ExitCode> {
    require_local(ctx, "daemon")?;
    let state_dir = &ctx.config.paths.state;
    match command {
        DaemonCommand::Start { args, .. } => start(ctx, args),
        DaemonCommand::Stop { .. } => {
            let Some(pid) = lock::holder_pid(state_dir) else {
                ctx.note("no daemon is running for this project");
                ctx.emit(&serde_json::json!({ "stopped": false, "pid": null }))?;
                return Ok(ExitCode::SUCCESS);
            };
            let raw: i32 = pid
                .parse()
                .with_context(|| format!("bad pid {pid:?} in the daemon lock file"))?;
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(raw),
                nix::sys::signal::Signal::SIGTERM,
            )
            .with_context(|| format!("sending SIGTERM to the daemon (pid {pid})"))?;
            wait_for_stop(ctx, &pid)?;
            ctx.note(&format!("daemon (pid {pid}) stopped"));
            ctx.emit(&serde_json::json!({ "stopped": true, "pid": raw }))?;
            Ok(ExitCode::SUCCESS)
        }
        DaemonCommand::Status { .. } => status(ctx),
    }
}

/// How long a daemon that reports no work in progress may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// How often `daemon stop` repeats what the daemon is still finishing.
const STILL_FINISHING_EVERY: Duration = Duration::from_secs(10);

/// Waits until the daemon `pid` has exited. A daemon finishing a migration (as SIGTERM
/// promises) is waited for as long as it takes, saying what it is finishing; one that
/// reports nothing in progress and still runs after `STOP_TIMEOUT` is a failure.
fn wait_for_stop(ctx: &Ctx, pid: &str) -> Result<()> {
    let state_dir = &ctx.config.paths.state;
    let mut idle_since = Instant::now();
    let mut told: Option<Instant> = None;
    while lock::holder_pid(state_dir).is_some() {
        let busy = state::DaemonState::load(state_dir)
            .filter(|s| s.pid.to_string() == pid)
            .and_then(|s| Some((s.activity?, s.activity_since)));
        match busy {
            Some((activity, since)) => {
                idle_since = Instant::now();
                // One line at first, then one every 10 s: a backlog of many quick migrations
                // must not print a line for each.
                let repeat = told
                    .as_ref()
                    .is_none_or(|at| at.elapsed() >= STILL_FINISHING_EVERY);
                if repeat {
                    let started = since
                        .map(|at| format!(" (started {} ago)", human(chrono::Utc::now() - at)))
                        .unwrap_or_default();
                    let line = match &told {
                        Some(_) => format!("still finishing: {activity}{started}"),
                        None => format!(
                            "the daemon (pid {pid}) is finishing its work before it stops: \
                             {activity}{started}; waiting (Ctrl-C stops the waiting, not the \
                             daemon, which exits once done)"
                        ),
                    };
                    ctx.note(&line);
                    told = Some(Instant::now());
                }
            }
            None if idle_since.elapsed() > STOP_TIMEOUT => {
                bail!(
                    "the daemon (pid {pid}) did not stop within {} s of SIGTERM and reports no \
                     work in progress; see {}; if it is hung, `kill -9 {pid}`",
                    STOP_TIMEOUT.as_secs(),
                    state::log_path(state_dir).display()
                );
            }
            None => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn start(ctx: &Ctx, args: WatchArgs) -> Result<ExitCode> {
    let state_dir = &ctx.config.paths.state;
    if let Some(pid) = lock::holder_pid(state_dir) {
        ctx.note(&format!("the daemon is already running (pid {pid})"));
        ctx.emit(&serde_json::json!({
            "started": false,
            "pid": pid.parse::<u32>().ok(),
            "log": state::log_path(state_dir),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(state_dir)?;
    let log_path = state::log_path(state_dir);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args(["watch", "--debounce-ms", &args.debounce_ms.to_string()])
        .current_dir(&ctx.config.root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own session: closing the terminal or a Ctrl-C there does not stop it.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().context("starting the daemon")?;
    let pid = child.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the daemon exited at once ({status}); last lines of {}:\n{}",
                log_path.display(),
                pgshift::local::embedded::tail(&log_path, 10)
            );
        }
        // The daemon writes its state once it watches the folder: only then is it running.
        if state::DaemonState::load(state_dir).is_some_and(|s| s.pid.to_string() == pid) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the daemon (pid {pid}) did not start watching within 30 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.note(&format!(
        "daemon started (pid {pid}); log: {}",
        log_path.display()
    ));
    ctx.emit(&serde_json::json!({ "started": true, "pid": child.id(), "log": log_path }))?;
    Ok(ExitCode::SUCCESS)
}

fn status(ctx: &Ctx) -> Result<ExitCode> {
    let state_dir = &ctx.config.paths.state;
    let pid = lock::holder_pid(state_dir);
    let saved = state::DaemonState::load(state_dir).filter(|s| Some(s.pid.to_string()) == pid);
    let now = chrono::Utc::now();
    if ctx.json {
        let value = serde_json::json!({
            "running": pid.is_some(),
            // A number, as in `state.pid`, not the lock file's text.
            "pid": pid.as_deref().and_then(|pid| pid.parse::<u32>().ok()),
            "uptime_seconds": saved.as_ref().map(|s| (now - s.started_at).num_seconds()),
            "state": saved,
        });
        ctx.emit(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    match (pid, saved) {
        (None, _) => println!("daemon: not running"),
        (Some(pid), None) => println!("daemon: running (pid {pid}), starting up"),
        (Some(pid), Some(s)) => {
            println!("daemon:     running (pid {pid})");
            println!("uptime:     {}", human(now - s.started_at));
            let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map(|at| format!(" ({} ago)", human(now - at)))
                    .unwrap_or_default()
            };
            println!(
                "last event: {}{}",
                s.last_event.as_deref().unwrap_or("-"),
                when(s.last_event_at)
            );
            println!(
                "last error: {}{}",
                s.last_error.as_deref().unwrap_or("-"),
                when(s.last_error_at)
            );
            let since = s
                .activity_since
                .map(|at| format!(" (for {})", human(now - at)))
                .unwrap_or_default();
            println!(
                "activity:   {}",
                s.activity
                    .map_or_else(|| "idle".to_string(), |a| a + &since)
            );
            if let Some(backup) = &s.backup {
                let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC");
                println!(
                    "backups:    \"{}\" ({}), next {}",
                    backup.schedule,
                    backup.timezone,
                    backup.next_run.map_or_else(
                        || "- (the schedule has no time left)".to_string(),
                        |next| format!("{} (in {})", at(next), human(next - now))
                    )
                );
                let last = match (&backup.running_since, &backup.last) {
                    (Some(since), _) => format!("running (for {})", human(now - *since)),
                    (None, None) => "-".to_string(),
                    (None, Some(run)) if run.ok => format!(
                        "ok, {} ({} ago)",
                        run.archive
                            .as_ref()
                            .map_or_else(String::new, |a| a.display().to_string()),
                        human(now - run.finished_at)
                    ),
                    (None, Some(run)) => format!(
                        "failed ({} ago): {}",
                        human(now - run.finished_at),
                        run.error.as_deref().unwrap_or("-")
                    ),
                };
                println!("last backup: {last}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}
