//! Retention: `[backup] keep_last` and `keep_days`, per environment. A backup is kept when
//! either rule keeps it; the newest good backup of each environment is never deleted,
//! whatever the settings, and neither is the backup just made, one made with `--keep` or
//! one listed in `[backup] keep`. Only good (verified, complete) backups are considered:
//! retention never deletes a backup it cannot replace. Backups are ordered by their
//! manifest's time, even one dated in the future (a wrong clock, an edited manifest): that
//! one counts as the newest, and is reported. Before anything is deleted, the newest good
//! backup of each environment that loses one, which the deletion relies on, is re-hashed
//! (unless it is the one just made): a damaged one is not good and does not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{list, BackupError, Entry};
use crate::config::{Backup, Config};

/// How far ahead of this machine's clock a backup's time may be before it is future-dated:
/// another machine's clock may be a little ahead.
const CLOCK_SLACK: chrono::Duration = chrono::Duration::minutes(5);

/// What a prune did, or would do.
#[derive(Debug, Clone, Serialize)]
pub struct Pruning {
    /// The backups deleted (or that would be, on a dry run).
    pub pruned: Vec<Entry>,
    /// The archives of the environments looked at whose manifest is dated in the future:
    /// they count as the newest, so they are kept and push older ones out.
    pub future_dated: Vec<PathBuf>,
    /// Newest backups whose archive no longer has their manifest's SHA-256: not counted as
    /// good, so not what the others were deleted for (and never deleted themselves).
    pub damaged: Vec<Entry>,
}

/// Whether `entry` is dated later than `now` (beyond a little clock skew).
pub fn is_future_dated(entry: &Entry, now: DateTime<Utc>) -> bool {
    entry.manifest.started_at > now + CLOCK_SLACK
}

/// The entries retention deletes, from a list of entries (any order, any environments);
/// `made` is the archive of the backup just made, which is never deleted.
pub fn plan<'a>(
    entries: &'a [Entry],
    policy: &Backup,
    now: DateTime<Utc>,
    made: Option<&Path>,
) -> Vec<&'a Entry> {
    if !policy.prunes() {
        return Vec::new();
    }
    let mut by_env: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.good) {
        by_env.entry(&entry.manifest.env).or_default().push(entry);
    }
    let mut doomed = Vec::new();
    for (_, mut env_entries) in by_env {
        env_entries.sort_by_key(|e| std::cmp::Reverse(e.manifest.started_at));
        for (index, entry) in env_entries.into_iter().enumerate() {
            let newest = index == 0;
            let by_count = policy.keep_last.is_some_and(|n| index < n as usize);
            let by_age = policy.keep_days.is_some_and(|days| {
                now - entry.manifest.started_at < chrono::Duration::days(days as i64)
            });
            let just_made = made == Some(entry.archive_path.as_path());
            if !(newest || just_made || entry.kept || by_count || by_age) {
                doomed.push(entry);
            }
        }
    }
    doomed
}

/// Re-hashes the newest good backup of each environment that the plan deletes from, until
/// each such one is intact; returns the damaged ones (now not good in `entries`). The
/// backup just made was hashed a moment ago and is trusted.
fn recheck_relied_on(
    entries: &mut [Entry],
    policy: &Backup,
    now: DateTime<Utc>,
    made: Option<&Path>,
) -> Vec<Entry> {
    let mut damaged = Vec::new();
    let mut checked: Vec<PathBuf> = made.into_iter().map(Path::to_path_buf).collect();
    loop {
        let envs: BTreeSet<String> = plan(entries, policy, now, made)
            .iter()
            .map(|e| e.manifest.env.clone())
            .collect();
        let relied: Vec<usize> = envs
            .iter()
            .filter_map(|env| {
                (0..entries.len())
                    .filter(|&i| entries[i].good && entries[i].manifest.env == *env)
                    // The first of equals, as plan's stable sort has it.
                    .min_by_key(|&i| std::cmp::Reverse(entries[i].manifest.started_at))
            })
            .filter(|&i| !checked.contains(&entries[i].archive_path))
            .collect();
        if relied.is_empty() {
            return damaged;
        }
        for i in relied {
            checked.push(entries[i].archive_path.clone());
            if !super::recheck(&mut entries[i]) {
                damaged.push(entries[i].clone());
            }
        }
    }
}

/// Applies retention to `env` (every environment when `None`), never deleting `made` (the
/// archive of the backup just made); returns what was deleted (or would be, with
/// `dry_run`). The manifest goes first, so an interrupted prune leaves an archive without
/// manifest (cleaned by the next backup), never a manifest that lies.
pub fn prune(
    config: &Config,
    env: Option<&str>,
    dry_run: bool,
    made: Option<&Path>,
) -> Result<Pruning, BackupError> {
    let mut entries = list(config, env)?;
    let now = Utc::now();
    let damaged = recheck_relied_on(&mut entries, &config.backup, now, made);
    let doomed: Vec<Entry> = plan(&entries, &config.backup, now, made)
        .into_iter()
        .cloned()
        .collect();
    let future_dated = entries
        .iter()
        .filter(|e| is_future_dated(e, now))
        .map(|e| e.archive_path.clone())
        .collect();
    let pruning = Pruning {
        pruned: doomed,
        future_dated,
        damaged,
    };
    if dry_run {
        return Ok(pruning);
    }
    let doomed = &pruning.pruned;
    for entry in doomed {
        std::fs::remove_file(&entry.manifest_path).map_err(|source| BackupError::Io {
            action: "deleting",
            path: entry.manifest_path.clone(),
            error: source,
        })?;
        let removed = if entry.archive_path.is_dir() {
            std::fs::remove_dir_all(&entry.archive_path)
        } else {
            std::fs::remove_file(&entry.archive_path)
        };
        removed.map_err(|source| BackupError::Io {
            action: "deleting",
            path: entry.archive_path.clone(),
            error: source,
        })?;
        if let Some(dir) = entry.manifest_path.parent() {
            super::manifest::sync_dir(dir)?;
        }
    }
    Ok(pruning)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::{Format, Manifest};

    fn entry(env: &str, days_old: i64, good: bool, kept: bool, now: DateTime<Utc>) -> Entry {
        let at = now - chrono::Duration::days(days_old);
        Entry {
            manifest_path: format!("/b/{env}-{days_old}.dump.json").into(),
            archive_path: format!("/b/{env}-{days_old}.dump").into(),
            good,
            problem: None,
            kept,
            manifest: Manifest {
                manifest_version: 1,
                archive: format!("{env}-{days_old}.dump"),
                env: env.into(),
                host: "h:5432".into(),
                database: "d".into(),
                server_version: "15".into(),
                pg_dump_version: "15".into(),
                format: Format::Custom,
                started_at: at,
                finished_at: at,
                size_bytes: 1,
                sha256: String::new(),
                migration_version: None,
                marker: None,
                label: None,
                keep: kept,
                verified: good,
                restore_verified: false,
                tables: vec![],
            },
        }
    }

    fn names(doomed: Vec<&Entry>) -> Vec<String> {
        doomed.iter().map(|e| e.manifest.archive.clone()).collect()
    }

    #[test]
    fn keep_last_keeps_the_newest_and_kept_ones() {
        let now = Utc::now();
        let entries = vec![
            entry("prod", 1, true, false, now),
            entry("prod", 2, true, false, now),
            entry("prod", 3, true, true, now),
            entry("prod", 4, true, false, now),
            entry("local", 9, true, false, now),
        ];
        let policy = Backup {
            keep_last: Some(2),
            ..Backup::default()
        };
        assert_eq!(names(plan(&entries, &policy, now, None)), ["prod-4.dump"]);
    }

    #[test]
    fn the_backup_just_made_stays_when_another_is_dated_in_the_future() {
        let now = Utc::now();
        let entries = vec![
            entry("prod", -1500, true, false, now),
            entry("prod", 0, true, false, now),
            entry("prod", 3, true, false, now),
        ];
        let policy = Backup {
            keep_last: Some(1),
            ..Backup::default()
        };
        let made = Path::new("/b/prod-0.dump");
        assert_eq!(
            names(plan(&entries, &policy, now, Some(made))),
            ["prod-3.dump"]
        );
        assert!(is_future_dated(&entries[0], now) && !is_future_dated(&entries[1], now));
    }

    #[test]
    fn either_rule_keeps_and_the_newest_good_one_always_stays() {
        let now = Utc::now();
        let entries = vec![
            // Not good: never the "newest good" and never deleted.
            entry("prod", 0, false, false, now),
            entry("prod", 20, true, false, now),
            entry("prod", 30, true, false, now),
        ];
        let policy = Backup {
            keep_days: Some(7),
            ..Backup::default()
        };
        assert_eq!(names(plan(&entries, &policy, now, None)), ["prod-30.dump"]);
        let policy = Backup {
            keep_days: Some(25),
            keep_last: Some(1),
            ..Backup::default()
        };
        assert_eq!(names(plan(&entries, &policy, now, None)), ["prod-30.dump"]);
        assert!(plan(&entries, &Backup::default(), now, None).is_empty());
    }
}
