//! pgshiftd: the pgshift watcher daemon, standalone. `cargo xtask watch` runs the same code.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any thread starts: only the resolved URL decides where connections go.
    pgshift::target::clear_libpq_env();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "pgshiftd: watches the migrations folder of the pgshift project in the current \
             folder (or above it) and keeps the local database and the typed bindings in sync.\n\n\
             Usage: pgshiftd\n\nStops on SIGINT or SIGTERM. Logs go to stderr; PGSHIFT_LOG \
             sets the filter (e.g. PGSHIFT_LOG=debug)."
        );
        return ExitCode::SUCCESS;
    }
    if let Some(arg) = args.first() {
        eprintln!("error: unexpected argument `{arg}`; see `pgshiftd --help`");
        return ExitCode::from(2);
    }
    pgshift_daemon::init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let config = pgshift::config::Config::discover(&std::env::current_dir()?)?;
        pgshift_daemon::run(config, pgshift_daemon::DEFAULT_DEBOUNCE).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", pgshift::target::redact(&format!("{e:#}")));
            ExitCode::from(if e.chain().any(|c| c.is::<pgshift::UsageError>()) {
                2
            } else {
                1
            })
        }
    }
}
