//! `cargo xtask migrate-*`: parse, call `pgshift::migrations`, print. Human lines go to
//! stderr (through `ctx.note`) except a command's own result (the status table, the new
//! file's path), which goes to stdout; `--json` puts the JSON document on stdout instead.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use pgshift::migrations::{self, ApplyOptions, ApplyReport, Mode, Progress, State, Status};

use crate::context::{self, Ctx};

#[derive(clap::Args)]
pub struct NewArgs {
    /// The migration's name: lowercase words joined by underscores (add_doctor_fields).
    pub name: String,
    /// Create an .up.sql/.down.sql pair (the default when the newest migration is a pair).
    #[arg(long, conflicts_with = "simple")]
    pub reversible: bool,
    /// Create a single .sql file even when the newest migration is a pair.
    #[arg(long)]
    pub simple: bool,
}

pub async fn new(ctx: &Ctx, args: NewArgs) -> Result<ExitCode> {
    let (files, reversible) = create(ctx, &args)?;
    if ctx.json {
        ctx.emit(&serde_json::json!({ "files": files, "reversible": reversible }))?;
    } else {
        for file in &files {
            println!("{file}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the migration file(s) and returns their paths (relative to the project) and
/// whether they are a pair.
fn create(ctx: &Ctx, args: &NewArgs) -> Result<(Vec<String>, bool)> {
    let folder = &ctx.config.paths.migrations;
    let reversible =
        args.reversible || (!args.simple && migrations::new::folder_is_reversible(folder));
    let created = migrations::new::create(folder, &args.name, reversible).map_err(lift)?;
    let files: Vec<String> = created
        .paths
        .iter()
        .map(|path| {
            let shown = path.strip_prefix(&ctx.config.root).unwrap_or(path);
            shown.display().to_string()
        })
        .collect();
    if reversible && !args.reversible {
        ctx.note(
            "made an .up.sql/.down.sql pair like the newest migration (--simple for one file)",
        );
    }
    Ok((files, reversible))
}

#[derive(clap::Args)]
pub struct DevArgs {
    /// Create a migration with this name first (see migrate-new); with a schema folder
    /// ([paths] schema), it holds what takes the migrations to the folder's schema.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// With --name: create the migration without applying anything.
    #[arg(long, requires = "name")]
    pub create_only: bool,
    /// With --name and a schema folder: write new indexes on existing tables as CREATE INDEX
    /// CONCURRENTLY (the migration is then `-- no-transaction`).
    #[arg(long, requires = "name")]
    pub concurrently: bool,
    /// Apply pending migrations older than the newest applied one (after a branch merge).
    #[arg(long)]
    pub allow_out_of_order: bool,
}

pub async fn dev(ctx: &Ctx, args: DevArgs) -> Result<ExitCode> {
    let target = ctx.target()?;
    target.require_local("migrate-dev")?;
    let mut created = Vec::new();
    let mut changes = None;
    let mut rehearsal_failed = None;
    if let Some(name) = &args.name {
        if ctx.config.paths.schema.is_some() {
            // Schema as code: the migration is what takes the migrations to the schema folder.
            let generated = crate::schema::generate_migration(
                ctx,
                &target,
                name,
                args.concurrently,
                args.create_only,
            )
            .await?;
            created.extend(generated.files.clone());
            changes = Some(generated.diff.changes);
            rehearsal_failed = generated.rehearsal_failed;
        } else {
            let new_args = NewArgs {
                name: name.clone(),
                reversible: false,
                simple: false,
            };
            created = create(ctx, &new_args)?.0;
        }
        context::keep("created", serde_json::json!(created));
        if !ctx.json {
            for file in &created {
                println!("{file}");
            }
        }
        if args.create_only {
            let lint = match (&changes, created.first()) {
                (Some(_), Some(file)) => crate::schema::lint_generated(ctx, file),
                _ => Vec::new(),
            };
            let mut document = serde_json::json!({ "created": created });
            if let Some(changes) = &changes {
                document["changes"] = serde_json::json!(changes);
                document["lint"] = serde_json::json!(lint);
                document["rehearsal_failed"] = serde_json::json!(rehearsal_failed);
            }
            ctx.emit(&document)?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let options = ApplyOptions {
        mode: Mode::Dev,
        allow_out_of_order: args.allow_out_of_order,
        dry_run: false,
        files: None,
        lint: true,
    };
    let report = migrations::apply_pending(&ctx.config, &target, &options, &mut progress(ctx))
        .await
        .map_err(lift)?;
    summarise(ctx, &report);
    // A change made by hand would go into the bindings unseen: say so first.
    let drift = crate::schema::warn_local_drift(ctx, &target).await;
    let outcome = crate::generate::regenerate(ctx, &target).await?;
    ctx.emit(&Applied {
        created,
        changes,
        report: &report,
        bindings: crate::generate::bindings(ctx, &outcome),
        drift,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The JSON document of `migrate-dev` and `migrate-reset`: the apply report, the files
/// `--name` created, the bindings.
#[derive(serde::Serialize)]
struct Applied<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    created: Vec<String>,
    /// `migrate-dev --name` with a schema folder: the changes of the migration it wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Vec<pgshift::diff::Change>>,
    #[serde(flatten)]
    report: &'a ApplyReport,
    bindings: serde_json::Value,
    /// `migrate-dev`: the local database compared with its migrations before the bindings
    /// were regenerated (absent when the check could not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<pgshift::schema::drift::Drift>,
}

#[derive(clap::Args)]
#[command(
    after_help = "Exit codes with --exit-code: 0 everything applied; 3 pending (or \
                        out-of-order) migrations; 4 failed, modified or missing migrations; 5 \
                        drift (with --drift). \
                        Without --exit-code: 0 whatever the state; 1 when status cannot be read.\n\
                        Example: cargo xtask migrate-status --env staging --exit-code"
)]
pub struct StatusArgs {
    /// Exit 3 when migrations are pending, 4 when any is failed, modified or missing, 5 when
    /// --drift finds drift.
    #[arg(long)]
    pub exit_code: bool,
    /// Also compare the database's schema with its applied migrations replayed in a shadow
    /// database on the local server, and name every object that differs (read-only on the
    /// target, so a protected environment is allowed).
    #[arg(long)]
    pub drift: bool,
}

pub async fn status(ctx: &Ctx, args: StatusArgs) -> Result<ExitCode> {
    let target = ctx.target()?;
    let status = migrations::read_status(&ctx.config, &target).await?;
    let drift = if args.drift {
        Some(crate::schema::drift(ctx, &target).await?)
    } else {
        None
    };
    if ctx.json {
        #[derive(serde::Serialize)]
        struct WithDrift<'a> {
            #[serde(flatten)]
            status: &'a Status,
            #[serde(skip_serializing_if = "Option::is_none")]
            drift: Option<&'a pgshift::schema::drift::Drift>,
        }
        ctx.emit(&WithDrift {
            status: &status,
            drift: drift.as_ref(),
        })?;
    } else {
        print!(
            "{}",
            status_table(&status, context::colour(&std::io::stdout()))
        );
        if let Some(drift) = &drift {
            print!("{}", crate::schema::drift_report(drift));
        }
    }
    let summary = &status.summary;
    Ok(if !args.exit_code {
        ExitCode::SUCCESS
    } else if summary.has_problems() {
        ExitCode::from(4)
    } else if summary.pending + summary.out_of_order > 0 {
        ExitCode::from(3)
    } else if drift.as_ref().is_some_and(|d| !d.is_clean()) {
        ExitCode::from(5)
    } else {
        ExitCode::SUCCESS
    })
}

/// The human `migrate-status` output: a header, one row per migration, a summary; with
/// `colour`, the state in green (applied), yellow (pending, out-of-order) or red.
pub fn status_table(status: &Status, colour: bool) -> String {
    let mut out = format!("{} ({})", status.env, status.database);
    if let Some(marker) = &status.marker {
        out.push_str(&format!(", marked as environment `{marker}`"));
    }
    out.push('\n');
    let width = status
        .migrations
        .iter()
        .map(|r| r.name().len())
        .max()
        .unwrap_or(0);
    for row in &status.migrations {
        let name = row.name();
        let code = match row.state {
            State::Applied => 32,
            State::Pending | State::OutOfOrder => 33,
            State::Failed | State::Modified | State::Missing => 31,
        };
        let label = format!("{:<12}", row.state.label());
        let mut line = format!("  {}  {name:<width$}", context::paint(colour, code, &label));
        match row.state {
            State::Applied | State::Missing | State::Modified => {
                if let Some(at) = row.installed_on {
                    // By hand: chrono's strftime parses its pattern on every call, which
                    // shows over 1,000 rows in a debug build.
                    use chrono::{Datelike, Timelike};
                    line.push_str(&format!(
                        "  {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                        at.year(),
                        at.month(),
                        at.day(),
                        at.hour(),
                        at.minute(),
                        at.second()
                    ));
                }
                if let Some(ms) = row.execution_ms.filter(|ms| *ms >= 0.0) {
                    line.push_str(&format!("  {}", millis(ms)));
                }
                if row.state == State::Modified {
                    line.push_str(if row.line_endings_only {
                        "  only line endings changed (CRLF vs LF)"
                    } else {
                        "  edited after it was applied"
                    });
                }
                if row.state == State::Missing {
                    line.push_str("  file gone");
                }
            }
            State::Failed => {
                if let Some(e) = &row.error {
                    if let Some(l) = e.line {
                        line.push_str(&format!("  line {l}:"));
                    }
                    line.push_str(&format!(
                        "  {}",
                        pgshift::migrations::lock::one_line(&e.message, 100)
                    ));
                    if e.partial {
                        line.push_str("  (possibly partial)");
                    }
                }
            }
            State::Pending | State::OutOfOrder => {}
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{}\n", status.summary.line()));
    out
}

/// Usage errors of the engine (a bad name, a command pointed at the wrong environment) exit
/// with code 2 like every other usage error.
pub(crate) fn lift(e: migrations::MigrateError) -> anyhow::Error {
    match e {
        migrations::MigrateError::NotLocal(e) => e.into(),
        migrations::MigrateError::Usage(_) => pgshift::UsageError::Other(e.to_string()).into(),
        e => e.into(),
    }
}

fn millis(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn duration(d: Duration) -> String {
    millis(d.as_secs_f64() * 1000.0)
}

/// One line per event, on stderr.
fn progress(ctx: &Ctx) -> impl FnMut(Progress<'_>) + '_ {
    move |event| match event {
        Progress::WaitingForLock(holder) => ctx.note(&match holder {
            Some(h) => format!("waiting for the migration lock, held by {h}"),
            None => "waiting for the migration lock".to_string(),
        }),
        Progress::Applying(_) => {}
        Progress::Applied(m) => {
            ctx.record_applied("applied", m);
            ctx.note(&format!(
                "applied {} ({})",
                m.file.trim_end_matches(".up.sql").trim_end_matches(".sql"),
                duration(m.duration)
            ))
        }
    }
}

/// The lint's findings on the migrations applied (or to apply), on stderr.
fn print_lint(ctx: &Ctx, report: &ApplyReport) {
    if ctx.quiet || report.lint.is_empty() {
        return;
    }
    for finding in &report.lint {
        eprint!("{}", pgshift::lint::render::finding(finding));
    }
}

fn summarise(ctx: &Ctx, report: &ApplyReport) {
    print_lint(ctx, report);
    let target = format!("{} ({})", report.env, report.database);
    if report.applied.is_empty() {
        ctx.note(&format!(
            "nothing to apply to {target}: {} migration{} already applied",
            report.already_applied,
            if report.already_applied == 1 { "" } else { "s" }
        ));
    } else {
        let total: Duration = report.applied.iter().map(|m| m.duration).sum();
        ctx.note(&format!(
            "applied {} migration{} to {target} in {}",
            report.applied.len(),
            if report.applied.len() == 1 { "" } else { "s" },
            duration(total)
        ));
    }
    if let Some(waiting) = &report.waiting {
        ctx.note(&format!("{waiting}; write it and run migrate-dev again"));
    }
}

#[derive(clap::Args)]
#[command(after_help = "\
Consent: a `protected = true` environment asks for the database name to be typed back on a \
terminal; off a terminal it needs --yes, else it exits 2 before connecting. Before asking, \
it lists the migrations to apply and names any that the local database has not applied \
(test migrations locally first), or says that the local database could not be checked.

DATABASE_URL: pgshift never reads DATABASE_URL from the process environment (only from \
.env, for local work). When your shell exports one that names another database, \
migrate-deploy without --env refuses (exit 2) rather than deploy to the local database; \
for production pass --env prod (its URL comes from the variable [env.prod] url_env names).

Exit codes: 0 applied (or nothing to apply); 1 a failure, a refusal, or consent not given \
on the terminal; 2 usage: no consent off a terminal, DATABASE_URL without --env, an \
unknown environment or an unset URL variable.

Example: PROD_DATABASE_URL='postgres://app:...@db.example.com/app?sslmode=verify-full' \
cargo xtask migrate-deploy --env prod")]
pub struct DeployArgs {
    /// Apply pending migrations older than the newest applied one (after a branch merge).
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Print what would be applied, in order, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn deploy(ctx: &Ctx, args: DeployArgs) -> Result<ExitCode> {
    let target = ctx.target_refusing_shell_url("migrate-deploy")?;
    let shown = format!("{} ({})", target.env, target.url.host_and_database());
    let options = ApplyOptions {
        mode: Mode::Deploy,
        allow_out_of_order: args.allow_out_of_order,
        dry_run: args.dry_run,
        files: None,
        lint: true,
    };
    let mut local_check = None;
    let mut planned = None;
    if target.protected {
        // Decided before any connection: off a terminal, consent is --yes or nothing.
        if !args.dry_run && !ctx.yes && !std::io::stdin().is_terminal() {
            return Err(pgshift::UsageError::Other(format!(
                "`migrate-deploy` to {shown}, a protected environment, needs consent: run it on a \
                 terminal to type the database name, or pass --yes"
            ))
            .into());
        }
        let dry = ApplyOptions {
            dry_run: true,
            ..options.clone()
        };
        let plan = migrations::apply_pending(&ctx.config, &target, &dry, &mut progress(ctx))
            .await
            .map_err(lift)?;
        let check = migrations::tested::check_tested_locally(
            &ctx.config,
            ctx.local_target(),
            &plan.would_apply,
        )
        .await;
        report_local_check(ctx, &target.env, &check, plan.would_apply.len());
        // Refused before consent is asked: the deploy would refuse them anyway.
        if !args.dry_run && pgshift::lint::any_blocking(&plan.lint) {
            return Err(lift(migrations::MigrateError::LintBlocked {
                target: shown.clone(),
                findings: plan.lint,
            }));
        }
        // Nothing to apply to a database already marked: nothing would be written.
        let no_writes =
            plan.would_apply.is_empty() && plan.marker.as_deref() == Some(target.env.as_str());
        let asked = args.dry_run || ctx.yes || no_writes;
        if !asked {
            let database = target.url.database();
            let mut question = format!(
                "{} migration{} to apply to {shown}, a protected environment:",
                plan.would_apply.len(),
                if plan.would_apply.len() == 1 { "" } else { "s" }
            );
            for m in &plan.would_apply {
                question.push_str(&format!("\n  {}", m.file));
            }
            if !context::database_name_typed_back(&question, &database, "apply them")? {
                // An error, so that --json still prints its one document.
                anyhow::bail!("nothing was applied: the name typed is not `{database}`");
            }
        }
        local_check = Some(check);
        if args.dry_run {
            planned = Some(plan);
        }
    }
    let report = match planned {
        Some(plan) => plan,
        None => migrations::apply_pending(&ctx.config, &target, &options, &mut progress(ctx))
            .await
            .map_err(lift)?,
    };
    if ctx.json {
        let mut json = serde_json::to_value(&report)?;
        if let Some(check) = &local_check {
            json["local_check"] = serde_json::to_value(check)?;
        }
        ctx.emit(&json)?;
    }
    if args.dry_run {
        print_lint(ctx, &report);
        let target = format!("{} ({})", report.env, report.database);
        if report.would_apply.is_empty() {
            ctx.note(&format!("dry run: nothing to apply to {target}"));
        } else {
            ctx.note(&format!(
                "dry run: would apply {} migration(s) to {target}, in this order:",
                report.would_apply.len()
            ));
            for m in &report.would_apply {
                let how = if m.no_transaction {
                    "  (-- no-transaction)"
                } else {
                    ""
                };
                if !ctx.json {
                    println!("{}{how}", m.file);
                }
            }
        }
    } else {
        summarise(ctx, &report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Says which migrations about to be deployed to `env` the local database has not applied
/// ("test migrations locally first"), or that it could not be checked.
fn report_local_check(
    ctx: &Ctx,
    env: &str,
    check: &migrations::tested::LocalCheck,
    planned: usize,
) {
    if planned == 0 {
        return;
    }
    let local = check.database.as_deref().unwrap_or("the local database");
    if !check.reachable {
        eprintln!(
            "note: cannot tell whether the migrations to deploy were tested locally: the local \
             database ({local}) could not be read: {}",
            check.error.as_deref().unwrap_or("unknown error")
        );
    } else if check.not_applied_locally.is_empty() {
        ctx.note(&format!(
            "every migration to deploy was applied to the local database ({local}) first"
        ));
    } else {
        let n = check.not_applied_locally.len();
        eprintln!(
            "warning: {n} migration{} about to be deployed to {env} {} never applied to the local \
             database ({local}) as {} now: {}; test migrations locally first (`cargo xtask \
             migrate-dev`)",
            if n == 1 { "" } else { "s" },
            if n == 1 { "was" } else { "were" },
            if n == 1 { "it is" } else { "they are" },
            check.not_applied_locally.join(", ")
        );
    }
}

#[derive(clap::Args)]
pub struct ResetArgs {
    /// Do not ask for confirmation (needed when not on a terminal; --yes works too).
    #[arg(long)]
    pub force: bool,
}

pub async fn reset(ctx: &Ctx, args: ResetArgs) -> Result<ExitCode> {
    let target = ctx.target()?;
    target.require_local("migrate-reset")?;
    // Every check before the question and the announcement: a refusal comes before
    // "dropping and recreating", never after it.
    migrations::reset::check(&ctx.config, &target)
        .await
        .map_err(lift)?;
    let what = format!(
        "drop the database {} and reapply every migration",
        target.url.host_and_database()
    );
    if !(args.force || ctx.yes) {
        if !std::io::stdin().is_terminal() {
            return Err(pgshift::UsageError::Other(format!(
                "migrate-reset would {what}; pass --force (or --yes) to confirm when not on a terminal"
            ))
            .into());
        }
        eprint!("This will {what}; all its data is lost. Continue? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            // An error (exit 1), so that --json still prints its one document.
            anyhow::bail!(
                "nothing was changed: the answer was not yes; {} was not dropped",
                target.url.host_and_database()
            );
        }
    }
    // Said before the work starts: the progress events print each `applied` line as it
    // happens, which is after the drop.
    ctx.note(&format!(
        "dropping and recreating {}",
        target.url.host_and_database()
    ));
    let report = migrations::reset::reset(&ctx.config, &target, &mut progress(ctx))
        .await
        .map_err(lift)?;
    summarise(ctx, &report);
    let outcome = crate::generate::regenerate(ctx, &target).await?;
    ctx.emit(&Applied {
        created: Vec::new(),
        changes: None,
        report: &report,
        bindings: crate::generate::bindings(ctx, &outcome),
        drift: None,
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("outcome").required(true)))]
pub struct ResolveArgs {
    /// The failed migration's changes are now in the database (applied by hand). MIGRATION
    /// is its version or its name as migrate-status prints it (20261125103000_add_doctor_fields,
    /// .sql and .up.sql accepted).
    #[arg(long, value_name = "MIGRATION", group = "outcome")]
    pub applied: Option<String>,
    /// The failed migration's changes are not in the database; retry it on the next deploy.
    #[arg(long, value_name = "MIGRATION", group = "outcome")]
    pub rolled_back: Option<String>,
}

/// The version in `20261125103000`, `20261125103000_add_doctor_fields` or that name with
/// `.sql`/`.up.sql`, and the name part when one was given.
fn migration_version(given: &str) -> Result<(i64, Option<&str>)> {
    let stem = given
        .strip_suffix(".up.sql")
        .or_else(|| given.strip_suffix(".sql"))
        .unwrap_or(given);
    let (digits, name) = match stem.split_once('_') {
        Some((digits, name)) => (digits, Some(name)),
        None => (stem, None),
    };
    match digits.parse::<i64>() {
        Ok(version) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Ok((version, name))
        }
        _ => Err(pgshift::UsageError::Other(format!(
            "`{given}` is not a migration: give its version (20261125103000) or its name as \
             migrate-status prints it (20261125103000_add_doctor_fields)"
        ))
        .into()),
    }
}

pub async fn resolve(ctx: &Ctx, args: ResolveArgs) -> Result<ExitCode> {
    use migrations::resolve::Resolution;
    let (given, resolution) = match (&args.applied, &args.rolled_back) {
        (Some(v), _) => (v.as_str(), Resolution::Applied),
        (_, Some(v)) => (v.as_str(), Resolution::RolledBack),
        _ => unreachable!("clap requires one of them"),
    };
    let (version, name) = migration_version(given)?;
    let files =
        migrations::files::discover(&ctx.config.paths.migrations).map_err(|e| lift(e.into()))?;
    let file = files.iter().find(|f| f.version == version);
    if let (Some(name), Some(file)) = (name, file) {
        let stem = file
            .file_name
            .trim_end_matches(".up.sql")
            .trim_end_matches(".sql");
        if stem != format!("{version}_{name}") {
            return Err(pgshift::UsageError::Other(format!(
                "`{given}` names no migration: the migration with version {version} is {}; \
                 check the name in migrate-status",
                file.file_name
            ))
            .into());
        }
    }
    let target = ctx.target()?;
    // Recording `--applied` claims the file's changes are in the database; a file whose
    // SQL does not even run on the local database is probably not what was applied.
    let rehearsal = match (resolution, file) {
        (Resolution::Applied, Some(file)) => Some(rehearse(ctx, &target, file).await),
        _ => None,
    };
    if let Some(rehearsal) = &rehearsal {
        context::keep("rehearsal", serde_json::to_value(rehearsal)?);
    }
    migrations::resolve::resolve(
        &ctx.config,
        &target,
        version,
        resolution,
        &mut progress(ctx),
    )
    .await
    .map_err(lift)?;
    ctx.note(&match resolution {
        Resolution::Applied => format!(
            "recorded migration {version} as applied on {} ({})",
            target.env,
            target.url.host_and_database()
        ),
        Resolution::RolledBack => format!(
            "recorded migration {version} as rolled back on {} ({}); it is pending again",
            target.env,
            target.url.host_and_database()
        ),
    });
    ctx.emit(&serde_json::json!({
        "env": target.env,
        "database": target.url.host_and_database(),
        "version": version,
        "file": file.map(|f| f.file_name.clone()),
        "resolution": match resolution {
            Resolution::Applied => "applied",
            Resolution::RolledBack => "rolled_back",
        },
        "rehearsal": rehearsal,
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// Tries `file`'s SQL on the local database in a transaction that is rolled back, and
/// warns when it fails or cannot be tried.
async fn rehearse(
    ctx: &Ctx,
    target: &pgshift::target::Target,
    file: &migrations::files::MigrationFile,
) -> migrations::rehearse::Rehearsal {
    use migrations::rehearse::Rehearsal;
    let rehearsal = if target.is_local() && target.env == pgshift::target::LOCAL_ENV {
        Rehearsal::Skipped {
            reason: "the target is the local database itself".into(),
        }
    } else {
        match pgshift::local::resolve_target(&ctx.config, pgshift::target::LOCAL_ENV, || {
            ctx.backend()
        }) {
            Ok(local) => migrations::rehearse::rehearse(&ctx.config, &local, file).await,
            Err(e) => Rehearsal::Skipped {
                reason: format!("the local database is not configured: {e:#}"),
            },
        }
    };
    match &rehearsal {
        Rehearsal::Ran { .. } | Rehearsal::AlreadyApplied { .. } => {}
        Rehearsal::Failed { database, error } => ctx.note(&format!(
            "warning: {} does not run on the local database {database}: {error}; the changes \
             applied by hand are probably not this file's: check them, or fix the file before \
             recording it",
            file.file_name
        )),
        Rehearsal::Skipped { reason } => ctx.note(&format!(
            "warning: {} was not tried on the local database ({reason}); make sure the \
             changes applied by hand are this file's",
            file.file_name
        )),
    }
    rehearsal
}

#[derive(clap::Args)]
pub struct DownArgs {
    /// Revert the newest N applied migrations (default 1).
    #[arg(long, value_name = "N", conflicts_with = "to",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub steps: Option<usize>,
    /// Revert every applied migration newer than VERSION (0 reverts all).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<i64>,
}

pub async fn down(ctx: &Ctx, args: DownArgs) -> Result<ExitCode> {
    use migrations::revert::DownTo;
    let target = ctx.target()?;
    target.require_local("migrate-down")?;
    let to = match args.to {
        Some(v) => DownTo::Version(v),
        None => DownTo::Steps(args.steps.unwrap_or(1)),
    };
    let mut events = |event: Progress<'_>| match event {
        Progress::Applied(m) => {
            ctx.record_applied("reverted", m);
            ctx.note(&format!(
                "reverted {} ({})",
                m.file.trim_end_matches(".down.sql"),
                duration(m.duration)
            ))
        }
        other => progress(ctx)(other),
    };
    let report = migrations::revert::revert(&ctx.config, &target, to, &mut events)
        .await
        .map_err(lift)?;
    let shown = format!("{} ({})", report.env, report.database);
    if report.reverted.is_empty() {
        ctx.note(&format!("nothing to revert on {shown}"));
    } else {
        ctx.note(&format!(
            "reverted {} migration{} on {shown}",
            report.reverted.len(),
            if report.reverted.len() == 1 { "" } else { "s" }
        ));
    }
    let outcome = crate::generate::regenerate(ctx, &target).await?;
    ctx.emit(&serde_json::json!({
        "env": report.env,
        "database": report.database,
        "reverted": report.reverted,
        "bindings": crate::generate::bindings(ctx, &outcome),
    }))?;
    Ok(ExitCode::SUCCESS)
}
