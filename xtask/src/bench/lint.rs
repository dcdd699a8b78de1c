//! `cargo xtask bench lint`: the static lint over N realistic migrations (mixed DDL), in the
//! library and as the whole `cargo xtask lint --all` process; then `--trace` of the last 50
//! as pending, on a scratch cluster, against the replay of the history alone. (The squawk
//! comparison of issue 12 is not measured here.)

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use pgshift::lint::{self, Scope, Source};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// How many migrations.
    #[arg(long, default_value_t = 1000)]
    migrations: usize,
    /// Runs of each measurement; the best is printed.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// One realistic migration: a table, then changes to earlier tables.
fn migration(i: usize) -> String {
    let prev = i.saturating_sub(1);
    if i == 1 {
        return "CREATE TABLE t1 (id bigint PRIMARY KEY, name text NOT NULL, parent_id bigint);\n"
            .into();
    }
    let mut sql = format!(
        "-- migration {i}\nCREATE TABLE t{i} (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \
         name text NOT NULL,\n  created_at timestamptz NOT NULL DEFAULT now(),\n  parent_id bigint\n);\n"
    );
    match i % 6 {
        0 => sql.push_str(&format!("CREATE INDEX t{prev}_name ON t{prev} (name);\n")),
        1 => sql.push_str(&format!(
            "ALTER TABLE t{prev} ADD COLUMN note text DEFAULT 'none';\nALTER TABLE t{prev} ADD CONSTRAINT t{prev}_fk FOREIGN KEY (parent_id) REFERENCES t{prev} (id) NOT VALID;\n"
        )),
        2 => sql.push_str(&format!(
            "-- pgshift:allow ban-drop-column replaced by note\nALTER TABLE t{prev} DROP COLUMN parent_id;\n"
        )),
        3 => sql.push_str(&format!(
            "ALTER TABLE t{prev} ALTER COLUMN name TYPE varchar(200);\nUPDATE t{prev} SET name = lower(name) WHERE id < 100;\n"
        )),
        4 => sql.push_str(&format!(
            "ALTER TABLE t{prev} ADD CONSTRAINT t{prev}_name_ok CHECK (name <> '') NOT VALID;\nINSERT INTO t{i} (name) VALUES ('a'), ('b');\n"
        )),
        _ => sql.push_str(&format!(
            "CREATE VIEW v{i} AS SELECT id, name FROM t{prev};\nCOMMENT ON TABLE t{i} IS 'table {i}';\n"
        )),
    }
    sql
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("migrations"))?;
    std::fs::write(
        dir.path().join("pgshift.toml"),
        "[local]\nbackend = \"embedded\"\n",
    )?;
    let mut bytes = 0;
    for i in 1..=args.migrations {
        let sql = migration(i);
        bytes += sql.len();
        std::fs::write(dir.path().join(format!("migrations/{i:05}_m{i}.sql")), sql)?;
    }
    let config = pgshift::config::Config::load(dir.path())?;
    let files = pgshift::migrations::files::discover(&config.paths.migrations)?;
    let sources: Vec<Source> = files.iter().map(|f| Source::of(f, &config.root)).collect();

    let mut library = Duration::MAX;
    let mut findings = 0;
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        findings = lint::lint_static(&sources, &config, Scope::EachFile).len();
        library = library.min(start.elapsed());
    }
    let exe = std::env::current_exe()?;
    let mut process = Duration::MAX;
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        let status = Command::new(&exe)
            .args(["lint", "--all", "--json"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        process = process.min(start.elapsed());
        if status.code() != Some(0) && status.code() != Some(1) {
            bail!(
                "`xtask lint --all` failed in {} ({status})",
                dir.path().display()
            );
        }
    }
    // --trace: the history (all but the last 50) replayed, then the 50 traced.
    ctx.note("starting a scratch cluster for --trace...");
    let cluster = pgshift::local::ScratchCluster::start()?;
    let local = pgshift::target::Target {
        env: "local".into(),
        url: cluster.url("postgres"),
        source: pgshift::target::UrlSource::LocalBackend,
        protected: false,
    };
    let split = files.len().saturating_sub(50);
    let (applied, pending) = files.split_at(split);
    let mut replay = Duration::MAX;
    let mut traced = Duration::MAX;
    let mut steps = 0;
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        lint::trace::trace(&local, &config.root, applied, &[]).await?;
        replay = replay.min(start.elapsed());
        let start = Instant::now();
        steps = lint::trace::trace(&local, &config.root, applied, pending)
            .await?
            .len();
        traced = traced.min(start.elapsed());
    }
    let shown = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "lint, {} migrations ({} KB), {findings} findings, best of {}:",
        args.migrations,
        bytes / 1024,
        args.runs.max(1)
    );
    println!("  library (parse, rules, judge): {}", shown(library));
    println!(
        "  `cargo xtask lint --all` (whole process): {}",
        shown(process)
    );
    println!(
        "  --trace: replaying {} migrations {}; with {} pending traced ({steps} statements) {}: \
         {} on top of the replay",
        applied.len(),
        shown(replay),
        pending.len(),
        shown(traced),
        shown(traced.saturating_sub(replay))
    );
    Ok(ExitCode::SUCCESS)
}
