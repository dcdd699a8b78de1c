//! What every command needs: the configuration, the chosen environment, output settings
//! (the flags a command takes, its one JSON document, colour), the hints that name other
//! commands, and how errors become exit codes.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Result;
use pgshift::config::Config;
use pgshift::local::Backend;
use pgshift::target::{self, Target, LOCAL_ENV};
use pgshift::UsageError;
use serde::Serialize;
use serde_json::Value;

/// The default environment.
pub const LOCAL: &str = LOCAL_ENV;

pub struct Ctx {
    pub config: Config,
    pub env: String,
    pub json: bool,
    #[allow(dead_code)]
    pub yes: bool,
    pub quiet: bool,
    /// Whether `--env` was given on the command line rather than defaulted to `local`.
    pub env_explicit: bool,
    /// The backend, decided once per command (`auto` may probe the Docker engine).
    backend: std::cell::OnceCell<Backend>,
    /// The migrations applied (or reverted) so far, for the failure document.
    applied: RefCell<Vec<Value>>,
}

impl Ctx {
    pub fn new(env: String, json: bool, yes: bool, quiet: bool) -> Result<Ctx> {
        let cwd = std::env::current_dir()?;
        let config = Config::discover(&cwd)?;
        Ok(Ctx {
            config,
            env,
            json,
            yes,
            quiet,
            env_explicit: false,
            backend: Default::default(),
            applied: Default::default(),
        })
    }

    /// The local backend, saying which one `auto` chose (once: it is decided once).
    pub fn backend(&self) -> Result<Backend> {
        if let Some(backend) = self.backend.get() {
            return Ok(backend.clone());
        }
        let (backend, why) = Backend::from_config(&self.config)?;
        if let Some(why) = why {
            self.note(&why);
        }
        Ok(self.backend.get_or_init(|| backend).clone())
    }

    /// The database this command talks to (`--env`). A failure to set up the local backend
    /// keeps its own error (and exit code 1): only the resolution itself is a usage error.
    /// When the shell exports a `DATABASE_URL` that names another database, says that it is
    /// ignored (it is never read) before the command does anything.
    /// The JSON document, failure included, names it from here on.
    pub fn target(&self) -> Result<Target> {
        let target = pgshift::local::resolve_target(&self.config, &self.env, || self.backend())?;
        keep("env", Value::from(target.env.clone()));
        keep("database", Value::from(target.url.host_and_database()));
        if let Some(shell) = target::ignored_shell_database_url(&target) {
            eprintln!(
                "warning: DATABASE_URL in your shell ({shell}) is ignored; this command targets {} ({}){}",
                target.env,
                target.url.host_and_database(),
                self.other_envs_hint(&target)
            );
        }
        Ok(target)
    }

    /// `target` for a command that writes where the user may have meant the shell's
    /// `DATABASE_URL`: without an explicit `--env`, such a variable is a refusal (exit 2),
    /// not a warning, because following it would have meant another database.
    pub fn target_refusing_shell_url(&self, command: &str) -> Result<Target> {
        if self.env_explicit {
            return self.target();
        }
        let target =
            match pgshift::local::resolve_target(&self.config, &self.env, || self.backend()) {
                Ok(target) => target,
                // Not "start the local database" to someone who meant another one.
                Err(e) => match target::shell_database_url() {
                    Some(shell) => {
                        return Err(UsageError::Other(format!(
                            "DATABASE_URL in your shell ({shell}) is ignored, and `{command}` \
                             without --env targets the local database, which is not usable \
                             either ({}){}",
                            target::redact(&format!("{e:#}")),
                            self.other_envs_hint_local()
                        ))
                        .into())
                    }
                    None => return Err(e),
                },
            };
        if let Some(shell) = target::ignored_shell_database_url(&target) {
            let shown = format!("{} ({})", target.env, target.url.host_and_database());
            return Err(UsageError::Other(format!(
                "DATABASE_URL in your shell ({shell}) is ignored, and `{command}` without --env \
                 would apply to {shown}{}; to use {shown} all the same, pass --env {}",
                self.other_envs_hint(&target),
                target.env
            ))
            .into());
        }
        keep("env", Value::from(target.env.clone()));
        keep("database", Value::from(target.url.host_and_database()));
        Ok(target)
    }

    /// "; for production use --env prod with PROD_DATABASE_URL" (a protected environment
    /// first), for a local target; nothing for a remote one.
    fn other_envs_hint(&self, target: &Target) -> String {
        if !target.is_local() {
            return String::new();
        }
        self.other_envs_hint_local()
    }

    fn other_envs_hint_local(&self) -> String {
        let mut envs: Vec<_> = self.config.env.iter().collect();
        envs.sort_by_key(|(_, env)| !env.protected);
        match envs.first() {
            Some((name, env)) if env.protected => {
                format!("; for production use --env {name} with {}", env.url_env)
            }
            Some((name, env)) => format!(
                "; for another database use --env {name} with {}",
                env.url_env
            ),
            None => "; for another database add an [env.NAME] table with url_env to pgshift.toml \
                     and pass --env NAME"
                .to_string(),
        }
    }

    /// The local database as `--env local` resolves it, for commands that compare another
    /// environment with it.
    pub fn local_target(&self) -> Result<Target> {
        pgshift::local::resolve_target(&self.config, target::LOCAL_ENV, || self.backend())
    }

    /// A line for the human reader, on stderr so that stdout stays clean for --json.
    pub fn note(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// Prints the command's JSON document on stdout when --json: `document`'s fields after
    /// `"ok": true`. Called once, at the end of a command that succeeded.
    pub fn emit(&self, document: &impl Serialize) -> Result<()> {
        #[derive(Serialize)]
        struct Ok<'a, T> {
            ok: bool,
            #[serde(flatten)]
            document: &'a T,
        }
        if self.json {
            let ok = Ok { ok: true, document };
            println!("{}", serde_json::to_string_pretty(&ok)?);
        }
        Ok(())
    }

    /// Records one more applied (or reverted) migration for the failure document, so that
    /// a run that applied 13 migrations and then failed reports the 13.
    pub fn record_applied(&self, key: &'static str, migration: &impl Serialize) {
        let mut applied = self.applied.borrow_mut();
        applied.push(serde_json::to_value(migration).unwrap_or(Value::Null));
        keep(key, Value::Array(applied.clone()));
    }

    /// `cargo xtask COMMAND` as the user runs it against this command's environment.
    pub fn command(&self, command: &str) -> String {
        xtask_command(&self.env, command)
    }
}

/// Fields of the JSON document known before a command fails (its target, what it applied),
/// repeated in the failure document. One command runs per process.
static PARTIAL: Mutex<Vec<(&'static str, Value)>> = Mutex::new(Vec::new());

/// Sets (or replaces) one field of the failure document.
pub fn keep(key: &'static str, value: Value) {
    let mut partial = PARTIAL.lock().unwrap_or_else(|e| e.into_inner());
    partial.retain(|(k, _)| *k != key);
    partial.push((key, value));
}

/// Prints the failure document: `{"ok": false, "error": {"message", "exit_code"}, ...}`
/// plus the fields the command kept before it failed.
pub fn emit_error(message: &str, exit_code: u8) {
    let mut document = serde_json::Map::new();
    document.insert("ok".into(), Value::Bool(false));
    document.insert(
        "error".into(),
        serde_json::json!({ "message": message, "exit_code": exit_code }),
    );
    for (key, value) in PARTIAL.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        document.insert((*key).into(), value.clone());
    }
    // serde_json's map sorts its keys: write `ok` and `error` first by hand.
    let mut out = String::from("{\n");
    let mut first = true;
    for key in ["ok", "error"]
        .into_iter()
        .map(String::from)
        .chain(
            document
                .keys()
                .filter(|k| *k != "ok" && *k != "error")
                .cloned(),
        )
        .collect::<Vec<_>>()
    {
        let value = serde_json::to_string_pretty(&document[&key]).unwrap_or_default();
        if !first {
            out.push_str(",\n");
        }
        first = false;
        out.push_str(&format!(
            "  {}: {}",
            Value::from(key.as_str()),
            indent(&value)
        ));
    }
    out.push_str("\n}");
    println!("{out}");
}

fn indent(json: &str) -> String {
    json.replace('\n', "\n  ")
}

/// `--env NAME`, for the commands that talk to any environment.
#[derive(clap::Args, Clone, Default)]
pub struct EnvFlag {
    /// The environment to talk to: `local` (the default), or an [env.NAME] of pgshift.toml.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

/// `--env` for the commands that only work on the local database: accepted, so that
/// `--env local` works and another environment gets a refusal that says why, but not
/// offered in `--help`.
#[derive(clap::Args, Clone, Default)]
pub struct LocalEnvFlag {
    #[arg(long, value_name = "NAME", hide = true)]
    pub env: Option<String>,
}

/// `--json`.
#[derive(clap::Args, Clone, Default)]
pub struct JsonFlag {
    /// Print one JSON document on stdout, also on failure (human text goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// `--yes`.
#[derive(clap::Args, Clone, Default)]
pub struct YesFlag {
    /// Answer yes to the confirmation (non-interactive consent).
    #[arg(long)]
    pub yes: bool,
}

/// What a command takes of `--env`, `--json` and `--yes` (None: it does not take the flag),
/// with the values given after the command.
#[derive(Default)]
pub struct Flags {
    pub env: Option<Option<String>>,
    pub json: Option<bool>,
    pub yes: Option<bool>,
}

impl Flags {
    pub fn env(mut self, flag: &EnvFlag) -> Flags {
        self.env = Some(flag.env.clone());
        self
    }
    pub fn local_env(mut self, flag: &LocalEnvFlag) -> Flags {
        self.env = Some(flag.env.clone());
        self
    }
    pub fn json(mut self, flag: &JsonFlag) -> Flags {
        self.json = Some(flag.json);
        self
    }
    pub fn yes(mut self, flag: &YesFlag) -> Flags {
        self.yes = Some(flag.yes);
        self
    }
}

/// The flags as given before the command (`cargo xtask --json migrate-status`).
pub struct Before {
    pub env: Option<String>,
    pub json: bool,
    pub yes: bool,
}

/// The command's `--env`, `--json` and `--yes`, from before or after its name; `--env` or
/// `--json` given before a command that does not take it is a usage error.
pub fn merge(command: &str, before: Before, after: Flags) -> Result<(String, bool, bool)> {
    let refuse = |flag: &str| -> anyhow::Error {
        UsageError::Other(format!("`{command}` does not take {flag}; drop it")).into()
    };
    let env = match (before.env, after.env) {
        (_, Some(Some(env))) => env,
        (Some(env), Some(None)) => env,
        (None, _) => LOCAL_ENV.to_string(),
        (Some(_), None) => return Err(refuse("--env")),
    };
    let json = match after.json {
        Some(json) => json || before.json,
        None if before.json => return Err(refuse("--json")),
        None => false,
    };
    // Consent a command does not ask for is harmless (scripts pass --yes to every
    // command), so an unneeded --yes before the command is ignored rather than refused.
    let yes = after.yes.unwrap_or(false) || before.yes;
    Ok((env, json, yes))
}

/// The commands that take `--env` and work on any environment.
const ANY_ENV_COMMANDS: &[&str] = &[
    "migrate-status",
    "migrate-deploy",
    "migrate-resolve",
    "generate",
    "db psql",
    "doctor",
];

/// `cargo xtask COMMAND`, with `--env ENV` after the command's name when `env` is not
/// local and the command takes it: a hint must run against the environment the user was
/// working on, not fall back to local.
pub fn xtask_command(env: &str, command: &str) -> String {
    let name = ANY_ENV_COMMANDS
        .iter()
        .find(|name| command == **name || command.starts_with(&format!("{name} ")));
    let has_env = command
        .split_whitespace()
        .any(|word| word.starts_with("--env"));
    match name {
        Some(name) if env != LOCAL_ENV && !has_env => {
            format!("cargo xtask {name} --env {env}{}", &command[name.len()..])
        }
        _ => format!("cargo xtask {command}"),
    }
}

/// A message (an error, usually from the library, which does not know the command's
/// `--env`) with its hints rewritten for environment `env`: every `` `cargo xtask ...` ``
/// that takes `--env` gets it, and a hint to start the local database is dropped for
/// another environment.
pub fn with_env_hints(message: &str, env: &str) -> String {
    if env == LOCAL_ENV {
        return message.to_string();
    }
    let mut message = message
        .replace(
            " for the local database: `cargo xtask db up`",
            &format!(" check the URL of environment `{env}`"),
        )
        .replace(
            "`cargo xtask db up` creates the local application database",
            &format!("create the database on that server, or fix the URL of environment `{env}`"),
        );
    const MARK: &str = "`cargo xtask ";
    let mut out = String::new();
    while let Some(start) = message.find(MARK) {
        out.push_str(&message[..start + 1]);
        let rest = &message[start + 1..];
        let end = rest.find('`').unwrap_or(rest.len());
        let command = rest[..end].trim_start_matches("cargo xtask ");
        out.push_str(&xtask_command(env, command));
        message = rest[end..].to_string();
    }
    out.push_str(&message);
    out
}

/// Whether to colour what goes to `stream`: only on a terminal, and never with NO_COLOR
/// set (https://no-color.org: to anything but the empty string).
pub fn colour(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `text` in an ANSI colour (31 red, 32 green, 33 yellow) when `on`.
pub fn paint(on: bool, code: u8, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub fn init_tracing(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,pgshift=info",
        (false, 1) => "info,pgshift=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGSHIFT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}

/// Prints an error (redacted, whatever it quotes, with its hints for `env`) and picks the
/// exit code: 2 for usage and configuration errors, 1 for everything else. With --json the
/// failure document goes to stdout as well.
pub fn report(error: &anyhow::Error, env: &str, json: bool) -> ExitCode {
    let message = with_env_hints(&target::redact(&format!("{error:#}")), env);
    eprintln!("error: {message}");
    let code = if error.chain().any(|cause| cause.is::<UsageError>()) {
        2
    } else {
        1
    };
    if json {
        emit_error(&message, code);
    }
    ExitCode::from(code)
}

/// Asks on the terminal for `database` to be typed back, after `question` (what is about to
/// happen, and to what). The consent of `migrate-deploy`, `deploy` and `restore` to a
/// protected environment; true when the name typed is the database's.
pub fn database_name_typed_back(question: &str, database: &str, to: &str) -> Result<bool> {
    eprint!("{question}\nType the database name `{database}` to {to}: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim() == database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_carry_the_environment() {
        assert_eq!(
            xtask_command("prod", "migrate-resolve --applied 3"),
            "cargo xtask migrate-resolve --env prod --applied 3"
        );
        assert_eq!(
            xtask_command("prod", "generate"),
            "cargo xtask generate --env prod"
        );
        assert_eq!(xtask_command("local", "generate"), "cargo xtask generate");
        // Local-only commands and commands that already name an environment stay as they are.
        assert_eq!(
            xtask_command("prod", "migrate-reset"),
            "cargo xtask migrate-reset"
        );
        assert_eq!(
            xtask_command("prod", "generate --env staging"),
            "cargo xtask generate --env staging"
        );
        assert_eq!(
            with_env_hints(
                "3_c.sql failed; record it with `cargo xtask migrate-resolve --rolled-back 3` \
                 or `cargo xtask migrate-resolve --applied 3`; see `cargo xtask migrate-status`",
                "prod"
            ),
            "3_c.sql failed; record it with `cargo xtask migrate-resolve --env prod --rolled-back 3` \
             or `cargo xtask migrate-resolve --env prod --applied 3`; see `cargo xtask migrate-status --env prod`"
        );
        let missing = "cannot connect to ...: database \"app\" does not exist; \
                       `cargo xtask db up` creates the local application database";
        assert_eq!(with_env_hints(missing, "local"), missing);
        let remote = with_env_hints(missing, "prod");
        assert!(!remote.contains("db up"), "{remote}");
        assert!(remote.contains("environment `prod`"), "{remote}");
    }

    #[test]
    fn flags_come_from_before_or_after_the_command() {
        let before = |env: Option<&str>, json, yes| Before {
            env: env.map(String::from),
            json,
            yes,
        };
        let takes_all = || Flags {
            env: Some(None),
            json: Some(false),
            yes: Some(false),
        };
        assert_eq!(
            merge(
                "migrate-deploy",
                before(Some("prod"), true, true),
                takes_all()
            )
            .unwrap(),
            ("prod".to_string(), true, true)
        );
        let after = Flags {
            env: Some(Some("staging".into())),
            ..takes_all()
        };
        assert_eq!(
            merge("migrate-deploy", before(None, false, false), after).unwrap(),
            ("staging".to_string(), false, false)
        );
        let takes_nothing = Flags::default;
        assert!(merge("bench migrate", before(None, true, false), takes_nothing()).is_err());
        assert!(merge(
            "migrate-new",
            before(Some("prod"), false, false),
            takes_nothing()
        )
        .is_err());
        // Unneeded consent is ignored.
        assert_eq!(
            merge("migrate-status", before(None, false, true), takes_nothing()).unwrap(),
            ("local".to_string(), false, true)
        );
    }
}
