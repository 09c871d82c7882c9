//! Exit codes and the one-line failure every command reports instead of panicking.

use std::fmt;

/// Nothing wrong.
pub const EXIT_OK: u8 = 0;
/// The log ends in a torn tail and nothing worse.
pub const EXIT_TORN: u8 = 1;
/// The log is corrupt (or a repair refused to touch corruption).
pub const EXIT_CORRUPT: u8 = 2;
/// Bad usage, or an I/O error, or a directory that is not a log.
pub const EXIT_ERROR: u8 = 3;

/// Why a command stopped: an exit code and, unless it was already printed, one line.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: Option<String>,
}

impl Failure {
    /// A usage or I/O failure (exit 3).
    pub fn error(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_ERROR,
            message: Some(message.into()),
        }
    }

    /// A failure with an explicit exit code.
    pub fn with_code(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: Some(message.into()),
        }
    }

    /// An exit whose output was already written (e.g. clap's help text).
    pub fn printed(code: u8) -> Self {
        Failure {
            code,
            message: None,
        }
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// Prints the message, if any, as one line on stderr.
    pub fn report(&self) {
        if let Some(message) = &self.message {
            // One line: a multi-line OS message must not break it.
            eprintln!("ringwal: {}", message.replace('\n', " "));
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message.as_deref().unwrap_or(""))
    }
}

impl From<ringwal::Error> for Failure {
    fn from(e: ringwal::Error) -> Self {
        let code = if e.is_corrupt() {
            EXIT_CORRUPT
        } else {
            EXIT_ERROR
        };
        // The whole chain: `Display` of an error leaves its source to `source()`.
        Failure::with_code(code, e.chain())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::error(e.to_string())
    }
}
