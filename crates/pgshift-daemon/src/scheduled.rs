//! Scheduled backups: at the times `[backup] schedule` names, the daemon takes a local
//! backup through the backup library (verified, then retention applied). The last run is
//! recorded in `<state>/backup-schedule.json`; a run missed while no daemon ran (the
//! machine was asleep or off) is taken once at start-up, never a backlog.
//!
//! The event loop sleeps until the next run (`Scheduler::deadline`): one tokio deadline,
//! no periodic wake-up in between.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use pgshift::backup::schedule::BackupSchedule;
use pgshift::backup::{BackupOptions, Progress};
use pgshift::config::Config;
use pgshift::target::{redact, Target};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The outcome of one scheduled backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduledRun {
    /// The scheduled time this run was for (in the past for a missed run).
    pub scheduled_for: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub ok: bool,
    /// The archive written, when `ok`.
    pub archive: Option<PathBuf>,
    /// Why it failed, when not `ok`.
    pub error: Option<String>,
    /// Backups retention deleted after this one was verified.
    #[serde(default)]
    pub pruned: usize,
}

/// The schedule as `daemon status` shows it (`state.backup` in its JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleStatus {
    pub schedule: String,
    pub timezone: String,
    /// The next scheduled backup; `None` once the schedule has no time left.
    pub next_run: Option<DateTime<Utc>>,
    /// Set while a scheduled backup runs.
    #[serde(default)]
    pub running_since: Option<DateTime<Utc>>,
    pub last: Option<ScheduledRun>,
}

/// `<state>/backup-schedule.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    /// When a daemon first ran with a schedule: the reference for a missed run when none
    /// was ever taken.
    since: DateTime<Utc>,
    last: Option<ScheduledRun>,
}

pub fn record_path(state_dir: &Path) -> PathBuf {
    state_dir.join("backup-schedule.json")
}

pub struct Scheduler {
    schedule: BackupSchedule,
    record: Record,
    path: PathBuf,
    /// The scheduled time of the next run and the instant to wake up for it.
    due: Option<(DateTime<Utc>, Instant)>,
    running_since: Option<DateTime<Utc>>,
}

impl Scheduler {
    /// The scheduler of `config`'s `[backup] schedule`, `None` without one. A run missed
    /// since the last one recorded (or since the schedule was first seen) is due at once.
    pub fn start(config: &Config) -> anyhow::Result<Option<Scheduler>> {
        let Some(schedule) = config.backup.schedule().map_err(anyhow::Error::msg)? else {
            return Ok(None);
        };
        let path = record_path(&config.paths.state);
        let now = Utc::now();
        let record = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(
                    "{} is not readable ({e}); starting the backup schedule afresh",
                    path.display()
                );
                Record {
                    since: now,
                    last: None,
                }
            }),
            Err(_) => Record {
                since: now,
                last: None,
            },
        };
        let mut scheduler = Scheduler {
            schedule,
            record,
            path,
            due: None,
            running_since: None,
        };
        scheduler.save();
        let reference = scheduler
            .record
            .last
            .as_ref()
            .map_or(scheduler.record.since, |last| last.started_at);
        match scheduler.schedule.previous_before(now) {
            Some(missed) if missed > reference => {
                tracing::info!(
                    "the scheduled backup of {} did not run (no daemon was running); taking it now",
                    missed.format("%Y-%m-%d %H:%M:%S UTC")
                );
                scheduler.due = Some((missed, Instant::now()));
            }
            _ => scheduler.arm(now),
        }
        Ok(Some(scheduler))
    }

    /// When the event loop must wake up for the next run.
    pub fn deadline(&self) -> Option<Instant> {
        self.due.map(|(_, at)| at)
    }

    /// Whether the run is due now by the wall clock. A timer that fired early (the clock
    /// was set back) is armed again for the remainder.
    pub fn is_due(&mut self) -> bool {
        let Some((scheduled_for, at)) = self.due else {
            return false;
        };
        if at > Instant::now() {
            return false;
        }
        let now = Utc::now();
        if scheduled_for > now {
            self.due = Some((scheduled_for, Instant::now() + until(scheduled_for, now)));
            return false;
        }
        true
    }

    pub fn status(&self) -> ScheduleStatus {
        ScheduleStatus {
            schedule: self.schedule.expression.clone(),
            timezone: self.schedule.timezone.clone(),
            next_run: self.due.map(|(at, _)| at),
            running_since: self.running_since,
            last: self.record.last.clone(),
        }
    }

    /// Marks the run as started (for `daemon status` while it runs).
    pub fn begin(&mut self) {
        self.running_since = Some(Utc::now());
    }

    /// Takes the due backup of `target`, records and logs its outcome, and arms the next
    /// run. A failure is logged with its cause; it never stops the daemon.
    pub async fn run(&mut self, config: &Config, target: &Target) {
        let Some((scheduled_for, _)) = self.due.take() else {
            return;
        };
        let started_at = self.running_since.unwrap_or_else(Utc::now);
        tracing::info!("taking the scheduled backup of {target}");
        let options = BackupOptions {
            label: Some("scheduled".into()),
            jobs: 1,
            keep: false,
            verify_restore: None,
        };
        let mut pruned_names = Vec::new();
        let result = pgshift::backup::backup(config, target, &options, &mut |progress| {
            if let Progress::Pruned { archive } = progress {
                pruned_names.push(archive.to_string());
            }
        })
        .await;
        let finished_at = Utc::now();
        self.running_since = None;
        self.arm(finished_at.max(scheduled_for));
        let next = self.next_text();
        let run = match result {
            Ok(report) => {
                let m = &report.manifest;
                let pruned = if pruned_names.is_empty() {
                    String::new()
                } else {
                    format!("; retention pruned {}", pruned_names.join(", "))
                };
                tracing::info!(
                    "scheduled backup verified: {} ({} bytes, {} tables, {:.1} s){pruned}; {next}",
                    report.archive_path.display(),
                    m.size_bytes,
                    m.tables.len(),
                    (finished_at - started_at).num_milliseconds() as f64 / 1000.0
                );
                ScheduledRun {
                    scheduled_for,
                    started_at,
                    finished_at,
                    ok: true,
                    archive: Some(report.archive_path),
                    error: None,
                    pruned: report.pruned.len(),
                }
            }
            Err(e) => {
                let error = redact(&format!("{e:#}"));
                tracing::error!("scheduled backup failed: {error}; {next}");
                ScheduledRun {
                    scheduled_for,
                    started_at,
                    finished_at,
                    ok: false,
                    archive: None,
                    error: Some(error),
                    pruned: 0,
                }
            }
        };
        self.record.last = Some(run);
        self.save();
    }

    /// Arms the first scheduled time after `after`.
    fn arm(&mut self, after: DateTime<Utc>) {
        let now = Utc::now();
        self.due = self
            .schedule
            .next_after(after)
            .map(|at| (at, Instant::now() + until(at, now)));
    }

    fn next_text(&self) -> String {
        match self.due {
            Some((at, _)) => format!("next at {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
            None => "the schedule has no time left".to_string(),
        }
    }

    fn save(&self) {
        let tmp = self.path.with_extension("json.tmp");
        let written = std::fs::create_dir_all(self.path.parent().unwrap_or(Path::new(".")))
            .and_then(|()| {
                std::fs::write(
                    &tmp,
                    serde_json::to_vec_pretty(&self.record).expect("serializable"),
                )
            })
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            tracing::warn!(
                "cannot record the backup schedule in {}: {e}",
                self.path.display()
            );
        }
    }
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> std::time::Duration {
    (at - now).to_std().unwrap_or_default()
}
