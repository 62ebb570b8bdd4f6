use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use nugate::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = nugate::cli::Cli::parse();
    // The format comes from the configuration; a configuration that does not load is reported by `run`.
    let format = Config::load(cli.config.as_deref(), &cli.flags)
        .map(|c| c.log_format)
        .unwrap_or_default();
    let log_guard = nugate::logging::init(format);
    let outcome = nugate::cli::run(cli).await;
    // Everything logged is written before the error line and the exit.
    drop(log_guard);
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
