//! The Windows side of the embedded server. PostgreSQL runs as the current
//! user (it refuses only an Administrator's elevated token, which a
//! streamer's normal session is not); `pg_ctl` signals the postmaster
//! through a named pipe that only a real postmaster creates, so a reused
//! PID is never disturbed.

use std::path::Path;

use super::EmbeddedError;

/// No other account on Windows: this type has no values.
#[derive(Debug, Clone, Copy)]
pub(super) enum RunAs {}

/// The server runs as the current user.
pub(super) fn server_user(_pgdata: &Path) -> Result<Option<RunAs>, EmbeddedError> {
    Ok(None)
}

/// Whether `pid` may still be running. Windows has no `/proc`; `pg_ctl`
/// waits for the postmaster itself, so nothing waits on this.
pub(super) fn process_running(_pid: i32) -> bool {
    false
}

/// Whether `pid` is this cluster's postmaster. Windows cannot tell cheaply,
/// so `pg_ctl stop` is tried (harmless for another process: it signals
/// through the postmaster's own named pipe) and a failure means stale.
pub(super) fn is_postmaster_of(_pid: i32, _pgdata: &Path) -> bool {
    true
}

/// Nothing to check: one account.
pub(super) fn check_reachable(_data_dir: &Path, _run_as: Option<RunAs>) -> Result<(), EmbeddedError> {
    Ok(())
}

/// Nothing to hand over: one account.
pub(super) fn give_to(_path: &Path, _run_as: Option<RunAs>) -> Result<(), EmbeddedError> {
    Ok(())
}

/// Nothing to switch: one account.
pub(super) fn run_as_account(_command: &mut std::process::Command, _run_as: Option<RunAs>) {}

/// No system-wide install location is assumed on Windows.
pub(super) const SYSTEM_ROOTS: &[&str] = &[];
/// See [`SYSTEM_ROOTS`].
pub(super) const SYSTEM_BIN_DIRS: &[&str] = &[];

/// What Windows programs need of the environment to start at all.
pub(super) const KEPT_VARIABLES: &[&str] = &["SystemRoot", "SystemDrive", "WINDIR", "TEMP", "TMP"];
