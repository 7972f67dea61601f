//! How the CLI fails: every error becomes one `Error: <message>` line on stderr,
//! and a panic inside the engine becomes such an error instead of a crash.

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Why a command did not complete.
#[derive(Debug)]
pub enum Failure {
    /// Reported as one line, `Error: <message>`.
    Message(String),
    /// Standard output was closed (`olap-cli ... | head`): stop quietly.
    OutputClosed,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure::Message(message.into())
    }

    /// Prints the one-line report of this failure on stderr (nothing for
    /// `OutputClosed`).
    pub fn report(&self) {
        if let Failure::Message(message) = self {
            let line: Vec<&str> = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let line = line.join(" ");
            // If stderr is gone too, there is no one left to tell.
            let _ = writeln!(io::stderr(), "Error: {line}");
        }
    }
}

impl From<olap::Error> for Failure {
    fn from(e: olap::Error) -> Self {
        Failure::Message(e.to_string())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::OutputClosed
        } else {
            Failure::Message(format!("writing output: {e}"))
        }
    }
}

/// Whether a `guarded` call is running: its panics are reported as errors, so
/// the default panic message is not printed.
static GUARDED: AtomicBool = AtomicBool::new(false);
/// The message and place of the last panic inside a guarded call.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Installs the panic hook that `guarded` relies on. With `OLAP_DEBUG` set in the
/// environment, the default panic report (and backtrace, per `RUST_BACKTRACE`) is
/// printed as well, for debugging the engine.
pub fn install_panic_hook() {
    let default_hook = panic::take_hook();
    let verbose = std::env::var_os("OLAP_DEBUG").is_some();
    panic::set_hook(Box::new(move |info| {
        if !GUARDED.load(Ordering::SeqCst) || verbose {
            default_hook(info);
        }
        let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        let place = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{message}{place}"));
        }
    }));
}

/// Runs an engine call, turning its error, or its panic, into a `Failure`.
pub fn guarded<T>(call: impl FnOnce() -> olap::Result<T>) -> Result<T, Failure> {
    GUARDED.store(true, Ordering::SeqCst);
    let outcome = panic::catch_unwind(AssertUnwindSafe(call));
    GUARDED.store(false, Ordering::SeqCst);
    match outcome {
        Ok(result) => result.map_err(Failure::from),
        Err(_) => {
            let message = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut last| last.take())
                .unwrap_or_else(|| "panic".to_string());
            Err(Failure::new(format!("internal error: {message}")))
        }
    }
}
