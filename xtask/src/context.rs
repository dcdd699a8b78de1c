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
    #[allow(dead_code)]
    pub fn target(&self) -> Result<Target> {
        pgshift::local::resolve_target(&self.config, &self.env, || self.backend())
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
