//! The correctness corpus of the diff: pairs of schemas (A, B), each given as the SQL that
//! builds it from an empty database. For every pair, `check` loads A and B into two scratch
//! databases on a server, applies `diff(A, B).script()` to A's and requires its catalog to
//! equal B's (and the diff of the result to B to be empty), and requires `diff(B, B)` to be
//! empty. The catalog model is the judge, with one allowance: the order of a table's
//! columns (an added column goes last; see ARCHITECTURE.md).
//!
//! The pairs: consecutive states of a migrations folder (both directions), the codegen
//! fixture from and to empty, random edits of a small SaaS schema (`edits.rs`, seeded), and
//! a large generated schema with scattered changes (`saas.rs`).

pub mod edits;
mod rng;
pub mod saas;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub use super::check::{apply, normalized};
use super::{diff, Options, Rename};
use crate::catalog;
use crate::local::shadow::ShadowDatabase;
use crate::target::DbUrl;

/// Two schemas to diff.
#[derive(Debug, Clone)]
pub struct Pair {
    pub name: String,
    /// The schemas to introspect.
    pub schemas: Vec<String>,
    pub from_sql: String,
    pub to_sql: String,
    /// Renames between the two, passed to the diff.
    pub renames: Vec<Rename>,
    /// For a random pair: (seed, index, next attempt), to draw a replacement when its SQL
    /// does not load.
    pub regenerate: Option<(u64, usize, usize)>,
}

/// The outcome of one pair.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub pair: String,
    /// None when the pair passed.
    pub failure: Option<String>,
    pub changes: usize,
    /// The diff's script, for a failed pair.
    pub script: Option<String>,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Consecutive states of the migrations in `dir` (`*.up.sql`, or plain `*.sql`), in both
/// directions: state k is migrations 1..=k applied to an empty database.
pub fn migration_pairs(dir: &Path) -> anyhow::Result<Vec<Pair>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the migrations folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".sql") && !name.ends_with(".down.sql")
        })
        .collect();
    files.sort();
    let mut states = vec![String::new()];
    for file in &files {
        let sql = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let mut next = states.last().cloned().unwrap_or_default();
        next.push_str(&sql);
        next.push('\n');
        states.push(next);
    }
    let mut pairs = Vec::new();
    for k in 1..states.len() {
        let name = files[k - 1]
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (from, to, arrow) in [(k - 1, k, "up"), (k, k - 1, "down")] {
            pairs.push(Pair {
                name: format!("migrations {arrow} {name}"),
                schemas: vec!["public".to_string()],
                from_sql: states[from].clone(),
                to_sql: states[to].clone(),
                renames: Vec::new(),
                regenerate: None,
            });
        }
    }
    Ok(pairs)
}

/// A schema from and to empty.
pub fn from_and_to_empty(name: &str, schemas: &[&str], sql: &str) -> Vec<Pair> {
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    let create = |from: &str, to: &str, what: &str| Pair {
        name: format!("{name}: {what}"),
        schemas: schemas.clone(),
        from_sql: from.to_string(),
        to_sql: to.to_string(),
        renames: Vec::new(),
        regenerate: None,
    };
    vec![create("", sql, "from empty"), create(sql, "", "to empty")]
}

/// The large generated schema (`tables` tables): from empty, with `changes` scattered
/// changes and back.
pub fn large_pairs(tables: usize, changes: usize, seed: u64) -> Vec<Pair> {
    let base = saas::schema(tables);
    let mut changed = base.clone();
    changed.push_str(&saas::scattered_changes(tables, changes, seed));
    let schemas = vec!["app".to_string()];
    let pair = |name: String, from: &str, to: &str| Pair {
        name,
        schemas: schemas.clone(),
        from_sql: from.to_string(),
        to_sql: to.to_string(),
        renames: Vec::new(),
        regenerate: None,
    };
    vec![
        pair(format!("saas {tables} tables: from empty"), "", &base),
        pair(
            format!("saas {tables} tables: {changes} scattered changes"),
            &base,
            &changed,
        ),
        pair(
            format!("saas {tables} tables: {changes} scattered changes undone"),
            &changed,
            &base,
        ),
    ]
}

/// Loads `sql` into a new scratch database; the caller drops it.
async fn load(server: &DbUrl, sql: &str) -> anyhow::Result<ShadowDatabase> {
    let db = ShadowDatabase::create(server, "corpus").await?;
    if !sql.trim().is_empty() {
        let mut conn = crate::db::connect(db.url()).await?;
        let result = sqlx::raw_sql(sql).execute(&mut conn).await;
        crate::db::close(conn).await;
        if let Err(e) = result {
            db.drop().await;
            return Err(anyhow::anyhow!("{e}"));
        }
    }
    Ok(db)
}

/// Checks one pair on `server` (a URL of a server where scratch databases may be created).
/// `Ok(None)` when its SQL does not load (a random pair with conflicting edits).
pub async fn check_pair(server: &DbUrl, pair: &Pair) -> anyhow::Result<Option<Outcome>> {
    let started = Instant::now();
    let a = match load(server, &pair.from_sql).await {
        Ok(db) => db,
        Err(e) if pair.regenerate.is_some() => {
            tracing::debug!("{}: A does not load: {e}", pair.name);
            return Ok(None);
        }
        Err(e) => anyhow::bail!("{}: state A does not load: {e}", pair.name),
    };
    let b = match load(server, &pair.to_sql).await {
        Ok(db) => db,
        Err(e) => {
            a.drop().await;
            if pair.regenerate.is_some() {
                return Ok(None);
            }
            anyhow::bail!("{}: state B does not load: {e}", pair.name);
        }
    };
    let result = judge(a.url(), b.url(), pair).await;
    a.drop().await;
    b.drop().await;
    let (failure, changes, script) = result?;
    Ok(Some(Outcome {
        pair: pair.name.clone(),
        failure,
        changes,
        script,
        elapsed: started.elapsed(),
    }))
}

async fn judge(
    a: &DbUrl,
    b: &DbUrl,
    pair: &Pair,
) -> anyhow::Result<(Option<String>, usize, Option<String>)> {
    let catalog_a = catalog::read(a, &pair.schemas).await?;
    let catalog_b = catalog::read(b, &pair.schemas).await?;
    let options = Options {
        concurrently: false,
        renames: pair.renames.clone(),
    };
    let d = diff(&catalog_a, &catalog_b, &options);
    let same = diff(&catalog_b, &catalog_b, &Options::default());
    if !same.is_empty() {
        return Ok((
            Some(format!("diff(B, B) is not empty:\n{}", same.header())),
            d.changes.len(),
            None,
        ));
    }
    match super::check::rehearse(a, &d, &catalog_b, &pair.schemas).await? {
        Some(failure) => Ok((Some(failure), d.changes.len(), Some(d.script()))),
        None => Ok((None, d.changes.len(), None)),
    }
}

/// Checks `pairs`, `jobs` at a time, drawing replacements for random pairs that do not
/// load; `progress` is told each outcome as it comes. The outcomes are in `pairs` order.
pub async fn check(
    server: &DbUrl,
    pairs: Vec<Pair>,
    jobs: usize,
    mut progress: impl FnMut(&Outcome),
) -> anyhow::Result<Vec<Outcome>> {
    let mut set = tokio::task::JoinSet::new();
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    let mut queue = pairs.into_iter().enumerate();
    loop {
        while set.len() < jobs.max(1) {
            let Some((i, pair)) = queue.next() else { break };
            let server = server.clone();
            // A runtime per job on a blocking thread: sqlx's futures are not Send enough
            // for tokio::spawn here.
            set.spawn_blocking(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let result = match runtime {
                    Ok(runtime) => runtime.block_on(check_until_loaded(&server, pair)),
                    Err(e) => Err(e.into()),
                };
                (i, result)
            });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (i, result) = joined?;
        if let Some(outcome) = result? {
            progress(&outcome);
            outcomes.push((i, outcome));
        }
    }
    outcomes.sort_by_key(|(i, _)| *i);
    Ok(outcomes.into_iter().map(|(_, o)| o).collect())
}

async fn check_until_loaded(server: &DbUrl, mut pair: Pair) -> anyhow::Result<Option<Outcome>> {
    for _ in 0..50 {
        if let Some(outcome) = check_pair(server, &pair).await? {
            return Ok(Some(outcome));
        }
        let Some((seed, index, attempt)) = pair.regenerate else {
            return Ok(None);
        };
        pair = edits::random_pair(seed, index, attempt);
    }
    anyhow::bail!("{}: 50 draws in a row do not load", pair.name)
}

/// The whole corpus: the migrations of `migrations` (if given), the codegen fixture (if
/// given), `random` random pairs from `seed`, and the large schema of `large_tables` tables
/// (0: none).
pub fn corpus(
    migrations: Option<&Path>,
    fixture: Option<(&str, &[&str])>,
    seed: u64,
    random: usize,
    large_tables: usize,
) -> anyhow::Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    if let Some(dir) = migrations {
        pairs.extend(migration_pairs(dir)?);
    }
    if let Some((sql, schemas)) = fixture {
        pairs.extend(from_and_to_empty("codegen fixture", schemas, sql));
    }
    pairs.extend(from_and_to_empty(
        "random base",
        edits::SCHEMAS,
        edits::BASE,
    ));
    pairs.extend(edits::random_pairs(seed, random));
    if large_tables > 0 {
        pairs.extend(large_pairs(large_tables, 100, seed));
    }
    Ok(pairs)
}
