//! What every command needs: the configuration, the chosen environment, output settings,
//! and how errors become exit codes.

use std::process::ExitCode;

use anyhow::Result;
use pgshift::config::Config;
use pgshift::local::Backend;
use pgshift::target::{self, Target};
use pgshift::UsageError;

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
    #[allow(dead_code)]
    pub fn target(&self) -> Result<Target> {
        let target = pgshift::local::resolve_target(&self.config, &self.env, || self.backend())?;
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
        .with_target(false)
        .without_time()
        .init();
}

/// Prints an error (redacted, whatever it quotes) and picks the exit code: 2 for usage and
/// configuration errors, 1 for everything else.
pub fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", target::redact(&format!("{error:#}")));
    if error.chain().any(|cause| cause.is::<UsageError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
