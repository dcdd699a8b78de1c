//! `[backup] schedule` and `[backup] timezone`: when the daemon takes a local backup. The
//! expression is read by the `cron` crate (six or seven fields, seconds first); the time
//! zone is an IANA name (`Europe/Paris`, through `chrono-tz`), `UTC`, or a fixed offset
//! (`+02:00`). Both are checked when the config loads, so the daemon never meets a bad one.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// A parsed `[backup] schedule` in its time zone.
#[derive(Debug, Clone)]
pub struct BackupSchedule {
    cron: cron::Schedule,
    zone: Zone,
    /// The expression as written.
    pub expression: String,
    /// The time zone as written, `UTC` by default.
    pub timezone: String,
}

#[derive(Debug, Clone, Copy)]
enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

impl BackupSchedule {
    /// Parses the two keys; the error names the key and says what to write instead.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<BackupSchedule, String> {
        let cron = cron::Schedule::from_str(expression).map_err(|e| {
            format!(
                "[backup] schedule = {expression:?} is not a cron expression ({e}): write six \
                 fields, seconds first (sec min hour day-of-month month day-of-week, an optional \
                 year last), e.g. \"0 0 3 * * *\" for 03:00 every day or \"0 30 2 * * Mon-Fri\""
            )
        })?;
        let timezone = timezone.unwrap_or("UTC").trim().to_string();
        let zone = match chrono_tz::Tz::from_str(&timezone) {
            Ok(tz) => Zone::Named(tz),
            Err(_) => match FixedOffset::from_str(&timezone) {
                Ok(offset) if timezone.starts_with(['+', '-']) => Zone::Fixed(offset),
                _ => {
                    return Err(format!(
                        "[backup] timezone = {timezone:?} is not a time zone: use an IANA name \
                         such as \"Europe/Paris\" or \"America/New_York\", \"UTC\" (the default), \
                         or a fixed offset such as \"+02:00\""
                    ))
                }
            },
        };
        let schedule = BackupSchedule {
            cron,
            zone,
            expression: expression.to_string(),
            timezone,
        };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(format!(
                "[backup] schedule = {expression:?} has no time left to run at (its years are \
                 past); change the year field or leave it out"
            ));
        }
        Ok(schedule)
    }

    /// The first scheduled time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        fn next<Z: TimeZone>(
            cron: &cron::Schedule,
            after: DateTime<Utc>,
            zone: Z,
        ) -> Option<DateTime<Utc>> {
            cron.after(&after.with_timezone(&zone))
                .next()
                .map(|at| at.with_timezone(&Utc))
        }
        match self.zone {
            Zone::Named(tz) => next(&self.cron, after, tz),
            Zone::Fixed(offset) => next(&self.cron, after, offset),
        }
    }

    /// The last scheduled time strictly before `before`.
    pub fn previous_before(&self, before: DateTime<Utc>) -> Option<DateTime<Utc>> {
        fn previous<Z: TimeZone>(
            cron: &cron::Schedule,
            before: DateTime<Utc>,
            zone: Z,
        ) -> Option<DateTime<Utc>> {
            cron.after(&before.with_timezone(&zone))
                .next_back()
                .map(|at| at.with_timezone(&Utc))
        }
        match self.zone {
            Zone::Named(tz) => previous(&self.cron, before, tz),
            Zone::Fixed(offset) => previous(&self.cron, before, offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn daily_at_three_in_utc_and_in_a_named_zone() {
        let utc = BackupSchedule::parse("0 0 3 * * *", None).unwrap();
        assert_eq!(utc.timezone, "UTC");
        let now = at("2026-12-03T12:00:00Z");
        assert_eq!(utc.next_after(now), Some(at("2026-12-04T03:00:00Z")));
        assert_eq!(utc.previous_before(now), Some(at("2026-12-03T03:00:00Z")));
        // Paris is UTC+1 in December, UTC+2 in July.
        let paris = BackupSchedule::parse("0 0 3 * * *", Some("Europe/Paris")).unwrap();
        assert_eq!(paris.next_after(now), Some(at("2026-12-04T02:00:00Z")));
        assert_eq!(
            paris.next_after(at("2026-07-01T12:00:00Z")),
            Some(at("2026-07-02T01:00:00Z"))
        );
        let fixed = BackupSchedule::parse("0 0 3 * * *", Some("-05:00")).unwrap();
        assert_eq!(fixed.next_after(now), Some(at("2026-12-04T08:00:00Z")));
    }

    #[test]
    fn bad_keys_are_named() {
        let e = BackupSchedule::parse("0 3 * *", None).unwrap_err();
        assert!(
            e.starts_with("[backup] schedule = \"0 3 * *\" is not a cron"),
            "{e}"
        );
        let e = BackupSchedule::parse("0 0 3 * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(e.starts_with("[backup] timezone = \"Mars/Olympus\""), "{e}");
        let e = BackupSchedule::parse("0 0 3 1 1 * 2001", None).unwrap_err();
        assert!(e.contains("no time left"), "{e}");
    }
}
