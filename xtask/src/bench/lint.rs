//! `cargo xtask bench lint`: the static lint over N realistic migrations (mixed DDL), in the
//! library and as the whole `cargo xtask lint --all` process; then `--trace` of the last 50
//! as pending, on a scratch cluster, against the replay of the history alone. When squawk's
//! command line is installed (`$SQUAWK`, else `squawk` on PATH), it lints the same files in
//! the same run and the ratio is printed.

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
    let mut process_cpu = Duration::MAX;
    for _ in 0..args.runs.max(1) {
        let cpu = super::migrate::children_cpu();
        let start = Instant::now();
        let status = Command::new(&exe)
            .args(["lint", "--all", "--json"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        process = process.min(start.elapsed());
        process_cpu = process_cpu.min(super::migrate::children_cpu().saturating_sub(cpu));
        if status.code() != Some(0) && status.code() != Some(1) {
            bail!(
                "`xtask lint --all` failed in {} ({status})",
                dir.path().display()
            );
        }
    }
    let squawk = run_squawk(dir.path(), &files, args.runs.max(1));
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
    let mut whole = Duration::MAX;
    let mut steps = 0;
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        let timed = lint::trace::trace_timed(&local, &config.root, applied, pending).await?;
        whole = whole.min(start.elapsed());
        replay = replay.min(timed.replay);
        traced = traced.min(timed.traced);
        steps = timed.steps.len();
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
        "  `cargo xtask lint --all` (whole process): {} ({} CPU)",
        shown(process),
        shown(process_cpu)
    );
    match &squawk {
        Ok((version, binary, elapsed, cpu)) => println!(
            "  {version} ({}) on the same files: {} ({} CPU); pgshift `lint --all` / squawk = \
             {:.2} in time, {:.2} in CPU (goal <= 1.2)",
            binary.display(),
            shown(*elapsed),
            shown(*cpu),
            process.as_secs_f64() / elapsed.as_secs_f64(),
            process_cpu.as_secs_f64() / cpu.as_secs_f64()
        ),
        Err(why) => println!("  squawk: skipped ({why})"),
    }
    println!(
        "  --trace: {} in all: creating the scratch database and replaying {} migrations {}, \
         then tracing {} pending ({steps} statements) {} on top of the replay (goal < 2 s)",
        shown(whole),
        applied.len(),
        shown(replay),
        pending.len(),
        shown(traced),
    );
    Ok(ExitCode::SUCCESS)
}

/// Times squawk's command line over the same files (best of `runs`): `$SQUAWK`, else
/// `squawk` on PATH. npm's `squawk` is a node script that starts the native binary of the
/// platform package beside it; that binary is what is timed, so node's start-up is not
/// counted against squawk.
fn run_squawk(
    dir: &std::path::Path,
    files: &[pgshift::migrations::files::MigrationFile],
    runs: usize,
) -> Result<(String, std::path::PathBuf, Duration, Duration), String> {
    let found = match std::env::var_os("SQUAWK") {
        Some(path) => std::path::PathBuf::from(path),
        None => pgshift::pgbin::which("squawk").ok_or(
            "squawk is not installed; `npm install -g squawk-cli` (or point $SQUAWK at its \
             binary) to compare",
        )?,
    };
    let binary = native_squawk(&found).unwrap_or(found);
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let paths: Vec<&std::path::Path> = files
        .iter()
        .map(|f| f.path.strip_prefix(dir).unwrap_or(&f.path))
        .collect();
    let mut best = Duration::MAX;
    let mut best_cpu = Duration::MAX;
    for _ in 0..runs {
        let cpu = super::migrate::children_cpu();
        let start = Instant::now();
        let out = Command::new(&binary)
            .args(["--reporter", "json"])
            .args(&paths)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        best = best.min(start.elapsed());
        best_cpu = best_cpu.min(super::migrate::children_cpu().saturating_sub(cpu));
        // squawk exits 1 when it reports something; anything else is a failure.
        if out.status.code() != Some(0) && out.status.code() != Some(1) {
            return Err(format!(
                "{} failed ({}): {}",
                binary.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok((version, binary, best, best_cpu))
}

/// The native binary behind npm's `squawk` wrapper (`js/bin/squawk` in the `squawk-cli`
/// package, which runs `@squawk-cli/<platform>/bin/squawk`), if `path` is that wrapper.
fn native_squawk(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let real = std::fs::canonicalize(path).ok()?;
    let head = std::fs::read(&real).ok()?;
    if !head.starts_with(b"#!") || !head.windows(4).any(|w| w == b"node") {
        return None;
    }
    let index = real.parent()?.parent()?.join("index.js");
    let out = Command::new("node")
        .arg("-e")
        .arg("process.stdout.write(require(process.argv[1]).getBinaryPath())")
        .arg(&index)
        .output()
        .ok()?;
    let binary = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?);
    binary.is_file().then_some(binary)
}
