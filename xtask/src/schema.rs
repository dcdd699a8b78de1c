//! Schema as code on the command line: `migrate-diff`, `migrate-status --drift`,
//! `migrate-dev --name` with a schema folder, `schema pull`. The work is
//! `pgshift::schema`'s; this parses, prints and picks exit codes.

use std::process::ExitCode;

use anyhow::Result;
use pgshift::diff::{Change, Diff};
use pgshift::schema::drift::{self, Drift};
use pgshift::schema::{self, Source};
use pgshift::target::Target;

use crate::context::{self, Ctx};

#[derive(clap::Args)]
#[command(after_help = "\
SOURCE: `empty`; `migrations` (the migrations folder replayed by the engine into a shadow \
database on the local server); `schema` (the [paths] schema folder loaded into a shadow \
database); `env:NAME` (the catalog of an environment, read in a read-only transaction: a \
protected one is allowed); or a postgres:// URL (read only).

Exit codes: 0 success (with --exit-code: no difference); 1 failure; 2 usage error. With \
--exit-code (as Prisma's `migrate diff --exit-code`), 2 only means the two differ: any \
error, a usage error too, exits 1.

Example: cargo xtask migrate-diff --from env:prod --to migrations --script")]
pub struct DiffArgs {
    /// The state to start from.
    #[arg(long, value_name = "SOURCE")]
    pub from: String,
    /// The state to reach.
    #[arg(long, value_name = "SOURCE")]
    pub to: String,
    /// Print the SQL that takes FROM to TO instead of the summary.
    #[arg(long)]
    pub script: bool,
    /// Exit 2 when the two differ, 0 when they are the same, 1 on any error.
    #[arg(long)]
    pub exit_code: bool,
    /// Write new indexes on existing tables as CREATE INDEX CONCURRENTLY (a `-- no-transaction` script).
    #[arg(long)]
    pub concurrently: bool,
}

/// Reads sources with this command's config; `env:NAME` and the local server resolve as
/// `--env NAME` would.
fn read_context<'a>(
    ctx: &'a Ctx,
    command: &'a str,
    resolve: &'a dyn Fn(&str) -> Result<Target>,
) -> schema::Context<'a> {
    schema::Context {
        config: &ctx.config,
        command,
        resolve,
    }
}

fn resolver(ctx: &Ctx) -> impl Fn(&str) -> Result<Target> + '_ {
    move |env: &str| pgshift::local::resolve_target(&ctx.config, env, || ctx.backend())
}

pub async fn migrate_diff(ctx: &Ctx, args: DiffArgs) -> Result<ExitCode> {
    let from = Source::parse(&args.from)?;
    let to = Source::parse(&args.to)?;
    from.check(&ctx.config)?;
    to.check(&ctx.config)?;
    context::keep("from", from.to_string().into());
    context::keep("to", to.to_string().into());
    let resolve = resolver(ctx);
    let cx = read_context(ctx, "migrate-diff", &resolve);
    // At the same time: each may be a shadow database to make and fill.
    let (from_state, to_state) = tokio::join!(schema::read(&cx, &from), schema::read(&cx, &to));
    let (from_state, to_state) = (from_state?, to_state?);
    // Rename comments are the schema folder's: they say what the folder's objects were
    // called before, so they apply when the folder is the state to reach.
    let renames = if to == Source::Schema {
        schema::plan::renames(&to_state.renames, &from_state.catalog, &to_state.catalog)?
    } else {
        Vec::new()
    };
    let options = pgshift::diff::Options {
        concurrently: args.concurrently,
        renames,
    };
    let diff = pgshift::diff::diff(&from_state.catalog, &to_state.catalog, &options);
    let script = diff.script();
    if ctx.json {
        ctx.emit(&serde_json::json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "differs": !diff.is_empty(),
            "changes": diff.changes,
            "script": script,
        }))?;
    } else if args.script {
        if diff.is_empty() {
            ctx.note(&format!("no difference between {from} and {to}"));
        } else {
            println!("{script}");
        }
    } else {
        print!("{}", summary(&diff, &from.to_string(), &to.to_string()));
    }
    Ok(if args.exit_code && !diff.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The human summary: one line per change, its hazards under it.
pub fn summary(diff: &Diff, from: &str, to: &str) -> String {
    if diff.is_empty() {
        return format!("no difference between {from} and {to}\n");
    }
    let n = diff.changes.len();
    let mut out = format!(
        "{from} -> {to}: {n} change{}\n",
        if n == 1 { "" } else { "s" }
    );
    for change in &diff.changes {
        out.push_str(&change_lines(change));
    }
    out
}

fn change_lines(change: &Change) -> String {
    let mut out = format!("  {}\n", one_line(&change.summary));
    for hazard in &change.hazards {
        out.push_str(&format!(
            "    hazard ({}): {}\n",
            hazard.kind.label(),
            one_line(&hazard.message)
        ));
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `migrate-status --drift`: the target compared with its applied migrations replayed in
/// a shadow database on the local server.
pub async fn drift(ctx: &Ctx, target: &Target) -> Result<Drift> {
    let local = ctx.local_target()?;
    local.require_local("migrate-status --drift")?;
    let drift = drift::check(&ctx.config, target, &local).await?;
    context::keep(
        "drift",
        serde_json::to_value(&drift).unwrap_or(serde_json::Value::Null),
    );
    Ok(drift)
}

/// The human drift report.
pub fn drift_report(drift: &Drift) -> String {
    let mut out = String::new();
    for caveat in &drift.caveats {
        out.push_str(&format!("note: {caveat}\n"));
    }
    if drift.is_clean() {
        out.push_str(&format!(
            "no drift: {} ({}) matches its {} applied migration{}\n",
            drift.env,
            drift.database,
            drift.migrations,
            if drift.migrations == 1 { "" } else { "s" }
        ));
        return out;
    }
    let n = drift.differences.len();
    out.push_str(&format!(
        "drift: {} ({}) differs from its {} applied migration{} in {n} object{}:\n",
        drift.env,
        drift.database,
        drift.migrations,
        if drift.migrations == 1 { "" } else { "s" },
        if n == 1 { "" } else { "s" }
    ));
    for d in &drift.differences {
        out.push_str(&format!("  {}\n", d.message));
    }
    out
}

/// Before bindings are regenerated from the local database: warns (stderr) when it has
/// drifted from its migrations. Never fails the command: a drift check that cannot run is
/// a warning too.
pub async fn warn_local_drift(ctx: &Ctx, target: &Target) -> Option<Drift> {
    match drift::check(&ctx.config, target, target).await {
        Ok(drift) => {
            for line in drift::warning(&drift) {
                eprintln!("warning: {line}");
            }
            Some(drift)
        }
        Err(e) => {
            eprintln!(
                "warning: could not check the local database for drift: {}",
                pgshift::target::redact(&format!("{e:#}"))
            );
            None
        }
    }
}

/// What `migrate-dev --name` wrote from the schema folder.
pub struct Generated {
    /// The new migration's files (relative to the project): the file, or the up and down
    /// pair; none when there was no difference.
    pub files: Vec<String>,
    pub diff: Diff,
    /// Why the written draft does not apply as it is (`--create-only` only: without it,
    /// nothing is written then).
    pub rehearsal_failed: Option<String>,
}

/// `migrate-dev --name NAME` with a schema folder: the migration from the migrations' state
/// to the schema folder's, written to the migrations folder (nothing when they are equal).
/// It is rehearsed first on the migrations replayed in a shadow database: one that fails
/// there, or does not reach the folder's state, is not written (with `create_only`, it is
/// written as a draft that says so, to be finished by hand).
pub async fn generate_migration(
    ctx: &Ctx,
    target: &Target,
    name: &str,
    concurrently: bool,
    create_only: bool,
) -> Result<Generated> {
    let folder = &ctx.config.paths.migrations;
    // A folder of up/down pairs gets a pair, as `migrate-new` makes.
    let reversible = pgshift::migrations::new::folder_is_reversible(folder);
    let schema::plan::Next {
        diff,
        down,
        rehearsal_failed,
    } = schema::plan::next_migration(&ctx.config, target, concurrently, reversible).await?;
    if diff.is_empty() {
        ctx.note(
            "no difference between the schema folder and the migrations: no migration written",
        );
        return Ok(Generated {
            files: Vec::new(),
            diff,
            rehearsal_failed,
        });
    }
    if let (Some(why), false) = (&rehearsal_failed, create_only) {
        return Err(anyhow::anyhow!(
            "the migration made from the schema folder does not work on the migrations' state \
             (rehearsed on a shadow database), so nothing was written or applied:\n{}\n\
             pgshift's diff does not get this change right yet: `cargo xtask migrate-dev --name \
             {name} --create-only` writes the draft for you to finish by hand",
            indent(why)
        ));
    }
    let created =
        pgshift::migrations::new::create(folder, name, reversible).map_err(crate::migrate::lift)?;
    if let (Some(down), Some(path)) = (&down, created.paths.get(1)) {
        std::fs::write(path, down.migration())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let path = &created.paths[0];
    let mut text = diff.migration();
    if let Some(why) = &rehearsal_failed {
        let warning: String = format!(
            "pgshift: DRAFT: rehearsed on the migrations' state, this does not work as \
             written; finish it by hand:\n{why}"
        )
        .lines()
        .map(|line| format!("-- {line}\n"))
        .collect();
        text = match text.strip_prefix("-- no-transaction\n") {
            Some(rest) => format!("-- no-transaction\n{warning}{rest}"),
            None => format!("{warning}{text}"),
        };
    }
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let files: Vec<String> = created
        .paths
        .iter()
        .map(|path| {
            path.strip_prefix(&ctx.config.root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    let shown = files[0].clone();
    ctx.note(&format!(
        "wrote {} from the schema folder ({} change{}):",
        files.join(" and "),
        diff.changes.len(),
        if diff.changes.len() == 1 { "" } else { "s" }
    ));
    if !ctx.quiet {
        for change in &diff.changes {
            eprint!("{}", change_lines(change));
        }
    }
    if let Some(why) = &rehearsal_failed {
        eprintln!(
            "warning: {shown} is a draft: rehearsed on the migrations' state, it does not work as \
             written; finish it by hand:\n{}",
            indent(why)
        );
    }
    Ok(Generated {
        files,
        diff,
        rehearsal_failed,
    })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lint's findings on a migration `migrate-dev --create-only` wrote, printed (never
/// blocking locally).
pub fn lint_generated(ctx: &Ctx, file: &str) -> Vec<pgshift::lint::Finding> {
    let path = ctx.config.root.join(file);
    let Ok(source) = pgshift::lint::Source::read(&path, file) else {
        return Vec::new();
    };
    let findings = pgshift::lint::lint_static(&[source], &ctx.config, pgshift::lint::Scope::Run);
    if !ctx.quiet {
        for finding in &findings {
            eprint!("{}", pgshift::lint::render::finding(finding));
        }
    }
    findings
}

#[derive(clap::Subcommand)]
pub enum SchemaCommand {
    /// Write the schema folder from a database (the local one unless --env): one file per
    /// table, plus types, functions and views files.
    #[command(after_help = "Example: cargo xtask schema pull --env prod")]
    Pull {
        #[command(flatten)]
        args: PullArgs,
        #[command(flatten)]
        env: context::EnvFlag,
        #[command(flatten)]
        json: context::JsonFlag,
    },
}

impl SchemaCommand {
    pub fn flags(&self) -> context::Flags {
        match self {
            SchemaCommand::Pull { env, json, .. } => context::Flags::default().env(env).json(json),
        }
    }
}

#[derive(clap::Args)]
pub struct PullArgs {
    /// Replace the files of a schema folder that is not empty.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(ctx: &Ctx, command: SchemaCommand) -> Result<ExitCode> {
    match command {
        SchemaCommand::Pull { args, .. } => pull(ctx, args).await,
    }
}

async fn pull(ctx: &Ctx, args: PullArgs) -> Result<ExitCode> {
    let folder = schema::source::schema_folder(&ctx.config)?.to_path_buf();
    let target = ctx.target()?;
    let catalog = pgshift::catalog::read(&target.url, &ctx.config.codegen.schemas).await?;
    let files = schema::pull::files(&catalog);
    let written = schema::pull::write(&folder, &files, args.force)?;
    let shown: Vec<String> = written
        .iter()
        .map(|p| {
            p.strip_prefix(&ctx.config.root)
                .unwrap_or(p)
                .display()
                .to_string()
        })
        .collect();
    if ctx.json {
        ctx.emit(&serde_json::json!({
            "env": target.env,
            "database": target.url.host_and_database(),
            "files": shown,
        }))?;
    } else {
        for file in &shown {
            println!("{file}");
        }
        ctx.note(&format!(
            "wrote {} file{} from {} ({})",
            shown.len(),
            if shown.len() == 1 { "" } else { "s" },
            target.env,
            target.url.host_and_database()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
