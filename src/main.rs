//! Entry point: parse the configuration, set up logging on stderr, run the
//! app, and turn its outcome into an exit code. Nothing here prints directly:
//! every line goes through `logging`, which never blocks and never panics,
//! and is flushed, for a bounded time, before the process exits.

use std::process::ExitCode;

use osc_secrets_mcp::app::{self, AppError};
use osc_secrets_mcp::config::{Cli, Command, Transport};
use osc_secrets_mcp::logging;

fn main() -> ExitCode {
    logging::install_panic_hook();
    let cli = Cli::parse_all();
    logging::init(cli.serve.log_level, cli.serve.log_format);
    let result: Result<(), AppError> = match cli.command {
        Some(Command::Emulator(args)) => {
            app::runtime(true).and_then(|rt| rt.block_on(app::emulator(args)))
        }
        Some(Command::VerifyAudit(args)) => {
            app::verify_audit(&args).map(|summary| logging::say(&summary))
        }
        Some(Command::NewStateKey) => app::new_state_key(),
        Some(Command::Check(args)) => {
            let checked = app::runtime(false).and_then(|rt| rt.block_on(app::check(*args)));
            match checked {
                Ok(true) => Ok(()),
                Ok(false) => {
                    logging::flush(logging::EXIT_FLUSH);
                    return ExitCode::FAILURE;
                }
                Err(e) => Err(e),
            }
        }
        None => app::runtime(cli.serve.transport == Transport::Http)
            .and_then(|rt| rt.block_on(app::serve(cli.serve))),
    };
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            logging::say(&error.to_string());
            ExitCode::FAILURE
        }
    };
    logging::flush(logging::EXIT_FLUSH);
    code
}
