//! What `cargo xtask daemon status` shows: written by the daemon to `<state>/daemon.json`
//! after every event, atomically.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonState {
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub last_event: Option<String>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// What a sync is doing right now, for `daemon stop` and `daemon status`: "waiting for
    /// the migration lock", "applying <file>", "regenerating the bindings". `None` when idle.
    #[serde(default)]
    pub activity: Option<String>,
    #[serde(default)]
    pub activity_since: Option<DateTime<Utc>>,
    /// The `[backup] schedule`: next run and last result. `None` without a schedule.
    #[serde(default)]
    pub backup: Option<crate::scheduled::ScheduleStatus>,
}

pub fn state_path(state_dir: &Path) -> PathBuf {
    state_dir.join("daemon.json")
}

/// The daemon's log file when it runs in the background.
pub fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("daemon.log")
}

impl DaemonState {
    pub fn new() -> DaemonState {
        DaemonState {
            pid: std::process::id(),
            started_at: Utc::now(),
            last_event: None,
            last_event_at: None,
            last_error: None,
            last_error_at: None,
            activity: None,
            activity_since: None,
            backup: None,
        }
    }

    /// Sets (or with `None` clears) what the daemon is doing.
    pub fn activity(&mut self, text: Option<&str>) {
        self.activity = text.map(str::to_string);
        self.activity_since = text.map(|_| Utc::now());
    }

    pub fn event(&mut self, text: &str) {
        self.last_event = Some(text.to_string());
        self.last_event_at = Some(Utc::now());
    }

    pub fn error(&mut self, text: &str) {
        self.last_error = Some(text.to_string());
        self.last_error_at = Some(Utc::now());
    }

    /// Writes the state file (temp file + rename, so a reader never sees half of it).
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let path = state_path(state_dir);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).expect("serializable"))?;
        std::fs::rename(tmp, path)
    }

    pub fn load(state_dir: &Path) -> Option<DaemonState> {
        let text = std::fs::read_to_string(state_path(state_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

impl Default for DaemonState {
    fn default() -> Self {
        DaemonState::new()
    }
}
