//! A fresh mint ledger per CLI run, so tests never share one (nor touch the user's own, in the
//! data directory): a file under cargo's scratch folder for integration tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A path no other run of this test binary uses; the file does not exist yet.
pub fn fresh_ledger() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ledgers")
        .join(format!(
            "{}-{}-{n}.sqlite3",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ))
}
