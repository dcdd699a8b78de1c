//! `cargo xtask bench import`: a 1,000-folder Prisma history with its `_prisma_migrations`
//! table, imported into a scratch cluster's database by the real command; prints the
//! process's wall and CPU time (the target: under 2 s of process time).

use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{ensure, Result};
use pgshift::local::ScratchCluster;
use sha2::{Digest, Sha256};

use super::migrate::children_cpu;
use crate::context::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// How many Prisma migration folders.
    #[arg(long, default_value_t = 1000)]
    pub folders: usize,
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    ensure!(args.folders > 0, "--folders must be at least 1");
    ctx.note("starting a scratch cluster...");
    let cluster = ScratchCluster::start()?;
    let project = tempfile::Builder::new()
        .prefix("pgshift-bench-import-")
        .tempdir()?;
    let prisma = project.path().join("prisma/migrations");
    let mut rows = String::from(
        "CREATE TABLE \"_prisma_migrations\" (\"id\" VARCHAR(36) PRIMARY KEY NOT NULL, \
         \"checksum\" VARCHAR(64) NOT NULL, \"finished_at\" TIMESTAMPTZ, \
         \"migration_name\" VARCHAR(255) NOT NULL, \"logs\" TEXT, \"rolled_back_at\" TIMESTAMPTZ, \
         \"started_at\" TIMESTAMPTZ NOT NULL DEFAULT now(), \"applied_steps_count\" INTEGER NOT NULL DEFAULT 0);\n",
    );
    for i in 0..args.folders {
        let folder = format!("{}_create_table_{i}", 20210101000000u64 + i as u64);
        let sql = format!(
            "-- CreateTable\nCREATE TABLE \"Table{i}\" (\n    \"id\" SERIAL NOT NULL,\n    CONSTRAINT \"Table{i}_pkey\" PRIMARY KEY (\"id\")\n);\n"
        );
        std::fs::create_dir_all(prisma.join(&folder))?;
        std::fs::write(prisma.join(&folder).join("migration.sql"), &sql)?;
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        rows.push_str(&format!(
            "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ('{i}', '{checksum}', now(), '{folder}', 1);\n"
        ));
    }
    std::fs::create_dir_all(project.path().join("migrations"))?;
    std::fs::write(project.path().join("pgshift.toml"), "")?;
    let mut admin = pgshift::db::connect(&cluster.url("postgres")).await?;
    sqlx::raw_sql("CREATE DATABASE imported")
        .execute(&mut admin)
        .await?;
    pgshift::db::close(admin).await;
    let mut conn = pgshift::db::connect(&cluster.url("imported")).await?;
    sqlx::raw_sql(&rows).execute(&mut conn).await?;
    pgshift::db::close(conn).await;
    std::fs::write(
        project.path().join(".env"),
        format!(
            "DATABASE_URL=postgres://postgres@127.0.0.1:{}/imported\n",
            cluster.port()
        ),
    )?;
    let exe = std::env::current_exe()?;
    let cpu_before = children_cpu();
    let started = Instant::now();
    let out = Command::new(exe)
        .args(["import", "prisma", "--env", "local", "-q"])
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()?;
    let wall = started.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    ensure!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_dir(project.path().join("migrations"))?.count();
    ensure!(written == args.folders, "{written} files written");
    println!(
        "bench import: {} Prisma folders with _prisma_migrations, {} build",
        args.folders,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "  `import prisma --env local` (whole process): wall {:.0} ms, CPU (user+sys) {:.0} ms (target: under 2,000 ms)",
        wall.as_secs_f64() * 1000.0,
        cpu.as_secs_f64() * 1000.0
    );
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}
