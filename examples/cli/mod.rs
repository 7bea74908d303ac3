//! What every example's command line shares: parsing with `lexopt`, values
//! checked with an error that names the flag, and one way to end: help on
//! stdout (exit 0), a usage error on stderr (exit 2), a failed run on stderr
//! (exit 1), as `Display` with its chain of causes (`Error::report`), never
//! `Debug`.
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
            // `error: …` and one `  caused by: …` line per further cause.
            eprintln!("{name}: {}", e.report());
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

/// SIGTERM and Ctrl-C (SIGINT), caught so that a program closes its device
/// (queued messages delivered or persisted) instead of dying with them.
/// A second signal while the first is being handled ends the program at
/// once (exit 130), as a user pressing Ctrl-C twice expects.
///
/// No thread: the signal handler sets a flag and, on Unix, writes a byte to
/// a socket pair that [`Stop::wait`] reads with a timeout, so the main loop
/// wakes at once.
#[derive(Debug)]
#[allow(dead_code, reason = "only the gateway examples stop on signals")]
pub(crate) struct Stop {
    requested: std::sync::Arc<std::sync::atomic::AtomicBool>,
    #[cfg(unix)]
    wake: std::os::unix::net::UnixStream,
}

#[allow(dead_code, reason = "only the gateway examples stop on signals")]
impl Stop {
    /// Catches SIGTERM and SIGINT from now on.
    pub(crate) fn on_signals() -> Result<Stop, Error> {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;

        use signal_hook::consts::{SIGINT, SIGTERM};

        let failed = |e| Error::io("<signal handler>", e);
        let requested = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        let (wake, ring) = std::os::unix::net::UnixStream::pair().map_err(failed)?;
        for signal in [SIGINT, SIGTERM] {
            // Order matters: the exit is armed before the flag is set, so it
            // fires on the second signal only.
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&requested))
                .map_err(failed)?;
            signal_hook::flag::register(signal, Arc::clone(&requested)).map_err(failed)?;
            #[cfg(unix)]
            signal_hook::low_level::pipe::register(signal, ring.try_clone().map_err(failed)?)
                .map_err(failed)?;
        }
        Ok(Stop {
            requested,
            #[cfg(unix)]
            wake,
        })
    }

    /// Whether a signal asked the program to stop.
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits up to `timeout` for a signal; returns whether one asked the
    /// program to stop.
    pub(crate) fn wait(&self, timeout: std::time::Duration) -> bool {
        if self.requested() {
            return true;
        }
        #[cfg(unix)]
        {
            use std::io::Read;
            if self
                .wake
                .set_read_timeout(Some(timeout.max(std::time::Duration::from_millis(1))))
                .is_ok()
            {
                // A byte, a timeout or an interrupted read: the flag decides.
                let _ = (&self.wake).read(&mut [0u8; 16]);
                return self.requested();
            }
        }
        std::thread::sleep(timeout);
        self.requested()
    }
}
