//! The `ringwal` binary: parse, run, print a one-line error, exit with the code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match ringwal_cli::Cli::from_args(std::env::args_os()).and_then(ringwal_cli::run) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            failure.report();
            ExitCode::from(failure.code())
        }
    }
}
