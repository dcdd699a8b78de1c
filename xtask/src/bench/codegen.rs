//! `cargo xtask bench codegen`: introspect + generate for a large schema (1,000 tables by
//! default, a few columns each, some foreign keys and enums) on a scratch cluster, and
//! `diesel print-schema` on the same database when diesel_cli is installed.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pgshift::codegen;
use pgshift::config::Config;
use pgshift::local::ScratchCluster;
use sqlx::{ConnectOptions, Connection};

use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// How many tables the schema has.
    #[arg(long, default_value_t = 1000)]
    tables: usize,
    /// How many times to run introspect + generate; the figures are the median run's.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// One run's figures.
#[derive(Clone, Copy)]
struct Run {
    introspect: Duration,
    render: Duration,
    write: Duration,
    total: Duration,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let runs = args.runs.max(1);
    ctx.note("starting a scratch cluster");
    let cluster = tokio::task::spawn_blocking(ScratchCluster::start).await??;
    let admin = cluster.url("postgres");
    let mut conn = pgshift::db::connect(&admin).await?;
    sqlx::raw_sql("CREATE DATABASE bench_codegen")
        .execute(&mut conn)
        .await?;
    pgshift::db::close(conn).await;
    let url = cluster.url("bench_codegen");

    ctx.note(&format!("creating {} tables", args.tables));
    let started = Instant::now();
    // Not through db::connect: its slow-statement warning would print the whole script.
    let mut setup = url
        .connect_options()
        .log_slow_statements(tracing::log::LevelFilter::Off, Duration::ZERO)
        .connect()
        .await?;
    sqlx::raw_sql(&schema_sql(args.tables))
        .execute(&mut setup)
        .await
        .context("creating the benchmark schema")?;
    setup.close().await?;
    ctx.note(&format!("created in {} ms", started.elapsed().as_millis()));

    let out = tempfile::tempdir()?;
    let mut config = Config {
        root: out.path().to_path_buf(),
        ..Config::default()
    };
    config.paths.bindings = out.path().join("generated.rs");

    let mut figures = Vec::new();
    let mut size = 0;
    for i in 0..runs {
        // Each run is what `cargo xtask generate` does: connect, introspect, render, write
        // (the file is removed first so that the write happens).
        let _ = std::fs::remove_file(&config.paths.bindings);
        let started = Instant::now();
        let outcome = codegen::generate(&config, &url).await?;
        let total = started.elapsed();
        anyhow::ensure!(
            outcome.changed && outcome.tables == args.tables,
            "run {i}: generate wrote {} tables, expected {}",
            outcome.tables,
            args.tables
        );
        size = std::fs::metadata(&outcome.path)?.len();
        figures.push(Run {
            introspect: outcome.introspect_time,
            render: outcome.render_time,
            // Connecting and writing the file.
            write: total.saturating_sub(outcome.introspect_time + outcome.render_time),
            total,
        });
    }
    figures.sort_by_key(|r| r.total);
    let median = figures[figures.len() / 2];
    let fastest = figures[0];

    let diesel = run_diesel(&url).await;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if ctx.json {
        let json = serde_json::json!({
            "tables": args.tables,
            "runs": runs,
            "bindings_bytes": size,
            "introspect_ms": ms(median.introspect),
            "render_ms": ms(median.render),
            "connect_and_write_ms": ms(median.write),
            "total_ms": ms(median.total),
            "fastest_total_ms": ms(fastest.total),
            "diesel_print_schema_ms": diesel.as_ref().ok().map(|d| ms(*d)),
            "ratio_to_diesel": diesel.as_ref().ok().map(|d| median.total.as_secs_f64() / d.as_secs_f64()),
        });
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut report = String::new();
    let _ = writeln!(
        report,
        "codegen, {} tables, median of {runs} runs ({} build), bindings {} KiB:",
        args.tables,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        size / 1024
    );
    let _ = writeln!(report, "  introspect  {:>8.1} ms", ms(median.introspect));
    let _ = writeln!(report, "  render      {:>8.1} ms", ms(median.render));
    let _ = writeln!(report, "  connect+write {:>6.1} ms", ms(median.write));
    let _ = writeln!(
        report,
        "  total       {:>8.1} ms   (fastest {:.1} ms; target < 1000 ms)",
        ms(median.total),
        ms(fastest.total)
    );
    match diesel {
        Ok(d) => {
            let _ = writeln!(
                report,
                "  diesel print-schema {:.1} ms on the same database: pgshift takes {:.3} of \
                 diesel's time ({:.1}x faster)",
                ms(d),
                median.total.as_secs_f64() / d.as_secs_f64(),
                d.as_secs_f64() / median.total.as_secs_f64()
            );
        }
        Err(why) => {
            let _ = writeln!(report, "  diesel print-schema: skipped ({why})");
        }
    }
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// Times `diesel print-schema` on the same database, if diesel_cli is installed.
async fn run_diesel(url: &pgshift::target::DbUrl) -> Result<Duration, String> {
    let Some(diesel) = pgshift::pgbin::which("diesel") else {
        return Err("diesel is not installed; `cargo install diesel_cli \
                    --no-default-features --features postgres` (needs libpq-dev) to compare"
            .into());
    };
    let started = Instant::now();
    let out = tokio::process::Command::new(diesel)
        .arg("print-schema")
        .arg("--database-url")
        // The scratch cluster trusts loopback connections: this URL has no password.
        .arg(url.expose())
        .output()
        .await
        .map_err(|e| format!("cannot run diesel: {e}"))?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "diesel print-schema failed: {}",
            pgshift::target::redact(String::from_utf8_lossy(&out.stderr).trim())
        ));
    }
    Ok(elapsed)
}

/// The benchmark schema: 4 enums; `tables` tables with 6 to 8 columns: an identity key,
/// text, timestamptz with a default, numeric, a text array, an enum on every 5th table and
/// a foreign key to the previous table on every 3rd; comments on every 10th.
fn schema_sql(tables: usize) -> String {
    let mut sql = String::from("BEGIN;\n");
    for e in 0..4 {
        let _ = writeln!(
            sql,
            "CREATE TYPE status_{e} AS ENUM ('draft', 'active', 'archived', 'deleted_{e}');"
        );
    }
    for t in 0..tables {
        let _ = write!(
            sql,
            "CREATE TABLE t{t:04} (\n  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n  \
             name text NOT NULL,\n  created_at timestamptz NOT NULL DEFAULT now(),\n  \
             amount numeric(12, 2),\n  tags text[] NOT NULL DEFAULT '{{}}'"
        );
        if t % 5 == 0 {
            let _ = write!(sql, ",\n  status status_{} NOT NULL DEFAULT 'draft'", t % 4);
        }
        if t % 3 == 0 && t > 0 {
            let _ = write!(
                sql,
                ",\n  parent_id bigint REFERENCES t{:04} (id) ON DELETE CASCADE",
                t - 1
            );
        }
        sql.push_str("\n);\n");
        if t % 10 == 0 {
            let _ = writeln!(
                sql,
                "COMMENT ON TABLE t{t:04} IS 'Benchmark table {t}';\n\
                 COMMENT ON COLUMN t{t:04}.name IS 'What it is called';"
            );
        }
    }
    sql.push_str("COMMIT;\n");
    sql
}
