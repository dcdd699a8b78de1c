//! Drift: a database's schema compared with the schema its applied migrations make
//! (replayed into a shadow database), every object that differs named. The guide's
//! "database out of sync", detected instead of guessed: a column added by hand with
//! `ALTER TABLE` shows up here before it goes into the bindings.

use std::collections::BTreeSet;

use serde::Serialize;

use super::source;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::diff::{self, Action, Object, ObjectKind};
use crate::migrations::{self, State};
use crate::target::Target;

/// What `migrate-status --drift` found.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub env: String,
    /// `host:port/database`.
    pub database: String,
    /// How many applied migrations were replayed to compare with.
    pub migrations: usize,
    /// Every object that differs; empty: no drift.
    pub differences: Vec<Difference>,
    /// Applied migrations that could not be replayed as applied (their file is gone or was
    /// edited since): the comparison used what the folder holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caveats: Vec<String>,
}

/// One object that differs.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub object: Object,
    /// `create`: in the database only; `drop`: in the migrations only; `alter`/`recreate`:
    /// in both, different.
    pub action: Action,
    /// `column doctor.nickname exists in prod but not in the migrations`.
    pub message: String,
    /// The SQL that would take the migrations' state to the database's.
    pub statements: Vec<String>,
}

impl Drift {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Compares `target` with its applied migrations replayed in a shadow database on the
/// server of `local`. Reads `target` only (its history and its catalog).
pub async fn check(config: &Config, target: &Target, local: &Target) -> anyhow::Result<Drift> {
    let status = migrations::read_status(config, target).await?;
    let mut applied = BTreeSet::new();
    let mut caveats: Vec<String> = Vec::new();
    for row in &status.migrations {
        match row.state {
            State::Applied => {
                applied.insert(row.version);
            }
            State::Modified => {
                applied.insert(row.version);
                caveats.push(format!(
                    "{} was edited after it was applied: compared with the file as it is now",
                    row.name()
                ));
            }
            State::Missing => caveats.push(format!(
                "{} was applied but its file is gone: compared without it",
                row.name()
            )),
            State::Pending | State::OutOfOrder | State::Failed => {}
        }
    }
    let (actual, expected) = tokio::join!(
        crate::catalog::read(&target.url, &config.codegen.schemas),
        source::applied_migrations_catalog(config, local, &applied)
    );
    let (actual, expected) = (actual?, expected?);
    // A file edited while it was being replayed (an editor saving an applied migration)
    // was compared as it is now: said, like an edit made before.
    if caveats.is_empty() {
        let again = migrations::read_status(config, target).await?;
        caveats.extend(
            again
                .migrations
                .iter()
                .filter(|row| matches!(row.state, State::Modified | State::Missing))
                .map(|row| format!("{} changed while it was compared", row.name())),
        );
    }
    Ok(Drift {
        env: target.env.clone(),
        database: status.database,
        migrations: applied.len(),
        differences: compare(&target.env, "the migrations", &expected, &actual),
        caveats,
    })
}

/// The differences between `expected` (the state `reference` makes: "the migrations", or
/// deploy's "the rehearsal") and `actual` (the database of environment `env`), each in
/// words.
pub fn compare(
    env: &str,
    reference: &str,
    expected: &Catalog,
    actual: &Catalog,
) -> Vec<Difference> {
    // The usual answer, without planning a diff (80 ms for 1,000 tables in a debug build):
    // the diff of equal catalogs is empty.
    if expected == actual {
        return Vec::new();
    }
    diff::diff(expected, actual, &diff::Options::default())
        .changes
        .into_iter()
        .map(|change| {
            let object = shown(&change.object);
            let message = match change.action {
                Action::Create => format!("{object} exists in {env} but not in {reference}"),
                Action::Drop => format!("{object} is in {reference} but not in {env}"),
                Action::Alter | Action::Recreate | Action::Rename => format!(
                    "{object} differs between {env} and {reference} ({} would make \
                     {reference} match)",
                    one_line(&change.summary)
                ),
            };
            Difference {
                object: change.object,
                action: change.action,
                message,
                statements: change.statements,
            }
        })
        .collect()
}

/// `column doctor.nickname`, `table billing.invoice`: the schema is left out when it is
/// `public`.
pub fn shown(object: &Object) -> String {
    let schema = match object.schema.as_str() {
        "" | "public" => String::new(),
        schema => format!("{schema}."),
    };
    let noun = object.kind.noun();
    match (&object.table, object.kind) {
        (Some(table), ObjectKind::Column) => format!("{noun} {schema}{table}.{}", object.name),
        (Some(table), _) => format!("{noun} {} on {schema}{table}", object.name),
        (None, _) => format!("{noun} {schema}{}", object.name),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The lines that warn about a drifted local database before bindings are regenerated
/// from it (`migrate-dev`, the daemon): what differs, and what to do. Nothing when an
/// applied migration was edited or removed: the engine reports that already, and what
/// differs is then mostly the edit itself.
pub fn warning(drift: &Drift) -> Vec<String> {
    if drift.is_clean() || !drift.caveats.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "the {} database ({}) has drifted from its migrations; the bindings are generated from \
         it, so these differences go into them:",
        drift.env, drift.database
    )];
    lines.extend(drift.differences.iter().map(|d| format!("  {}", d.message)));
    lines.push(
        "  write the change as a migration (or put it in the schema folder and run \
         `cargo xtask migrate-dev --name NAME`), or undo it by hand; `cargo xtask migrate-reset` \
         rebuilds the local database from the migrations"
            .to_string(),
    );
    lines
}
