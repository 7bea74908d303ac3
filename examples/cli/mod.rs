//! What every example's command line shares: parsing with `lexopt`, values
//! checked with an error that names the flag, and one way to end: help on
//! stdout (exit 0), a usage error on stderr (exit 2), a failed run on stderr
//! (exit 1).
//!
//! `lexopt` rather than `clap`: the examples have a handful of flags each,
//! and `gateway_firmware` is the program whose size the cross-compiling guide
//! reports, so the parser should add next to nothing. It is strict, which is
//! the point: `--readngs 1` is an error, not a flag silently ignored.
//!
//! This is a folder module (`examples/cli/mod.rs`) so that cargo does not
//! take it for an example of its own.

use std::ffi::OsString;
use std::process::ExitCode;
use std::str::FromStr;

use iotcs_device::Error;

/// What a command line asks for.
#[derive(Debug)]
pub(crate) enum Command<T> {
    /// Run with these options.
    Run(T),
    /// Print the help and exit.
    Help,
}

/// Parses the command line with `parse`, then runs `main` with the options.
///
/// `name` prefixes the error lines; `help` is printed for `-h`/`--help`.
pub(crate) fn run<T>(
    name: &str,
    help: &str,
    parse: impl FnOnce(&mut lexopt::Parser) -> Result<Command<T>, lexopt::Error>,
    main: impl FnOnce(T) -> Result<(), Error>,
) -> ExitCode {
    let options = match parse(&mut lexopt::Parser::from_env()) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}\n{name}: run with --help to see every flag");
            return ExitCode::from(2);
        }
    };
    match main(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The value after `flag`, parsed, and accepted by `valid`; otherwise an
/// error saying that `flag` needs `what`.
#[allow(dead_code, reason = "validate_model takes no values")]
pub(crate) fn value<T: FromStr>(
    parser: &mut lexopt::Parser,
    flag: &str,
    what: &str,
    valid: impl FnOnce(&T) -> bool,
) -> Result<T, lexopt::Error> {
    let raw = parser.value()?;
    parsed(flag, what, raw, valid)
}

/// `raw`, the value given to `flag`, parsed and accepted by `valid`.
#[allow(dead_code, reason = "validate_model takes no values")]
pub(crate) fn parsed<T: FromStr>(
    flag: &str,
    what: &str,
    raw: OsString,
    valid: impl FnOnce(&T) -> bool,
) -> Result<T, lexopt::Error> {
    raw.to_str()
        .and_then(|s| s.parse().ok())
        .filter(valid)
        .ok_or_else(|| format!("{flag} needs {what}, not {raw:?}").into())
}
