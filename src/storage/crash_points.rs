//! Crash points: the moments of a write at which the crash-safety tests kill the process.
//!
//! Every step of a write that reaches the disk (a data file created, a buffer
//! written, a file synced, the manifest written, renamed and its directory synced,
//! an unreferenced file removed) calls [`step`]. When the environment variable
//! `OLAP_CRASH_AT` holds a number `n`, the `n`th such step of the process kills it
//! with SIGKILL before the step is taken, as a crash or `kill -9` at that moment
//! would: no destructor runs, no buffered byte is flushed. Without the variable a
//! step costs one relaxed load of a cached value.
//!
//! `tests/crash_safety.rs` runs each kind of write with `n` = 1, 2, 3, ... until the
//! statement completes, and checks after every kill that the database opens with
//! the state of before or after the statement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that names the step to crash at.
pub const CRASH_AT_VARIABLE: &str = "OLAP_CRASH_AT";

static STEPS_TAKEN: AtomicU64 = AtomicU64::new(0);

fn crash_at() -> Option<u64> {
    static CRASH_AT: OnceLock<Option<u64>> = OnceLock::new();
    *CRASH_AT.get_or_init(|| std::env::var(CRASH_AT_VARIABLE).ok()?.parse().ok())
}

/// A step of a write that reaches the disk is about to be taken.
#[inline]
pub fn step() {
    if let Some(n) = crash_at() {
        if STEPS_TAKEN.fetch_add(1, Ordering::SeqCst) + 1 == n {
            kill_self();
        }
    }
}

fn kill_self() -> ! {
    #[cfg(unix)]
    // SAFETY: kill(2) on the process itself; SIGKILL cannot be caught.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}
