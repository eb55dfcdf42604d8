//! The `authd` binary: parse the command line, start logging, run the command.

use std::process::ExitCode;

use clap::Parser;

use authd::cli::{Cli, run};

fn main() -> ExitCode {
    authd::allocator::limit_malloc_arenas();
    actix_web::rt::System::new().block_on(run_cli())
}

async fn run_cli() -> ExitCode {
    let cli = Cli::parse();
    authd::log_output::init();
    let result = run(cli).await;
    // Before the error line, which must come last.
    authd::log_output::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the error and its causes, outermost first.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
