//! The Unix side of the embedded server: the account it runs as when we
//! are root, process checks through `/proc`, and the programs' environment.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::{EmbeddedError, describe};

/// The server's Unix account when we run as root (PostgreSQL refuses root).
#[derive(Debug, Clone, Copy)]
pub(super) struct RunAs {
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub(super) fn process_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        // No /proc (not Linux): fall back to signal 0.
        Err(_) if !std::path::Path::new("/proc/self").exists() => {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        }
        Err(_) => false,
    }
}

/// The dedicated account the server runs as when kinoyubot runs as root.
const SERVER_ACCOUNT: &str = "kinoyubot";

/// The account to run the server as when we are root (PostgreSQL refuses
/// root): the owner of an existing cluster; otherwise a dedicated
/// `kinoyubot` system account (created with `useradd` when missing), so
/// that no other service's processes share the server's user and can read
/// its files or `/proc/<pid>/environ`; the shared `postgres` or `nobody`
/// account only when no dedicated one can be made.
pub(super) fn server_user(pgdata: &Path) -> Result<Option<RunAs>, EmbeddedError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    if let Ok(meta) = std::fs::metadata(pgdata)
        && meta.uid() != 0
    {
        return Ok(Some(RunAs {
            uid: nix::unistd::Uid::from_raw(meta.uid()),
            gid: nix::unistd::Gid::from_raw(meta.gid()),
        }));
    }
    let account = |name: &str| {
        nix::unistd::User::from_name(name).ok().flatten().map(|user| RunAs {
            uid: user.uid,
            gid: user.gid,
        })
    };
    if let Some(run_as) = account(SERVER_ACCOUNT) {
        return Ok(Some(run_as));
    }
    // One `useradd` at a time in this process (several servers may start
    // at once); a concurrent one elsewhere makes ours fail, and the lookup
    // after it finds the account that one made.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _creating = CREATING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(run_as) = account(SERVER_ACCOUNT) {
        return Ok(Some(run_as));
    }
    let created = std::process::Command::new("useradd")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SERVER_ACCOUNT,
        ])
        .output();
    match created {
        Ok(output) if output.status.success() => {
            tracing::info!(
                account = SERVER_ACCOUNT,
                "created a system account for the embedded PostgreSQL"
            );
        }
        Ok(output) => tracing::debug!(problem = %describe(&output), "useradd failed"),
        Err(e) => tracing::debug!(error = %e, "useradd could not run"),
    }
    if let Some(run_as) = account(SERVER_ACCOUNT) {
        return Ok(Some(run_as));
    }
    for name in ["postgres", "nobody"] {
        if let Some(run_as) = account(name) {
            tracing::warn!(
                account = name,
                "running as root and no `{SERVER_ACCOUNT}` account could be created: the embedded PostgreSQL runs as the shared `{name}` account"
            );
            return Ok(Some(run_as));
        }
    }
    Err(EmbeddedError::NoServerUser)
}

/// Whether `pid` is the postmaster of `pgdata`: a live process whose working
/// directory is the cluster (the postmaster changes into its data directory
/// at start). A stale `postmaster.pid` whose PID was reused by another
/// process (even another PostgreSQL) is not ours and must never be signalled.
pub(super) fn is_postmaster_of(pid: i32, pgdata: &Path) -> bool {
    if pid <= 0 || !process_running(pid) {
        return false;
    }
    let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
        return false;
    };
    let canonical = std::fs::canonicalize(pgdata).unwrap_or_else(|_| pgdata.to_owned());
    cwd == canonical
}

/// Whether an account may enter (search) a directory with these
/// permission bits and owner: the owner's, the group's or the others' `x`
/// bit, whichever class the account falls in (supplementary groups and
/// ACLs are not considered; the dedicated account has neither).
fn may_enter(mode: u32, owner: (u32, u32), account: (u32, u32)) -> bool {
    let bit = if owner.0 == account.0 {
        0o100
    } else if owner.1 == account.1 {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

/// The first directory from `/` down to `path` (itself included) that
/// `account` (uid, gid) cannot enter, with its permission bits.
fn blocked_ancestor(path: &Path, account: (u32, u32)) -> Option<(PathBuf, u32)> {
    let absolute = std::fs::canonicalize(path).ok()?;
    let mut ancestors: Vec<&Path> = absolute.ancestors().collect();
    ancestors.reverse();
    ancestors.into_iter().find_map(|dir| {
        let meta = std::fs::metadata(dir).ok()?;
        let mode = meta.mode() & 0o7777;
        (!may_enter(mode, (meta.uid(), meta.gid()), account)).then(|| (dir.to_owned(), mode))
    })
}

/// Fails, naming the directory and the fixes, when the server's account
/// (we run as root) cannot reach `data_dir`.
pub(super) fn check_reachable(data_dir: &Path, run_as: Option<RunAs>) -> Result<(), EmbeddedError> {
    let Some(run_as) = run_as else {
        return Ok(());
    };
    let Some((blocked, mode)) = blocked_ancestor(data_dir, (run_as.uid.as_raw(), run_as.gid.as_raw())) else {
        return Ok(());
    };
    let account = nix::unistd::User::from_uid(run_as.uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {}", run_as.uid), |user| user.name);
    Err(EmbeddedError::Unreachable {
        data_dir: data_dir.to_owned(),
        blocked,
        mode,
        account,
    })
}

/// Hands `path` to the server's account (when we run as root).
pub(super) fn give_to(path: &Path, run_as: Option<RunAs>) -> Result<(), EmbeddedError> {
    if let Some(run_as) = run_as {
        nix::unistd::chown(path, Some(run_as.uid), Some(run_as.gid)).map_err(|e| EmbeddedError::DataDir {
            path: path.to_owned(),
            source: e.into(),
        })?;
    }
    Ok(())
}

/// Runs `command` as the server's account (when we run as root).
pub(super) fn run_as_account(command: &mut std::process::Command, run_as: Option<RunAs>) {
    use std::os::unix::process::CommandExt as _;
    if let Some(run_as) = run_as {
        command.uid(run_as.uid.as_raw()).gid(run_as.gid.as_raw());
    }
}

/// Where system packages install PostgreSQL (`/usr/lib/postgresql/*/bin`
/// holds one directory per major version).
pub(super) const SYSTEM_ROOTS: &[&str] = &["/usr/lib/postgresql"];
/// Single-version installs (`make install`'s default).
pub(super) const SYSTEM_BIN_DIRS: &[&str] = &["/usr/local/pgsql/bin"];

/// What PostgreSQL's programs get of the environment besides `PATH`.
pub(super) const KEPT_VARIABLES: &[&str] = &[];

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_class_of_the_account_decides_which_x_bit_counts() {
        assert!(may_enter(0o700, (5, 5), (5, 9)));
        assert!(!may_enter(0o700, (0, 0), (5, 5)));
        assert!(may_enter(0o710, (0, 5), (7, 5)));
        assert!(!may_enter(0o770, (0, 0), (7, 5)));
        assert!(may_enter(0o701, (0, 0), (7, 5)));
        assert!(may_enter(0o755, (0, 0), (7, 5)));
    }

    #[test]
    fn a_0700_parent_is_named_and_an_open_path_passes() {
        let root = tempfile::tempdir().expect("tempdir");
        let parent = root.path().join("home");
        let data_dir = parent.join("bot").join("data");
        std::fs::create_dir_all(&data_dir).expect("dirs");
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let meta = std::fs::metadata(&parent).expect("meta");
        // Another account than the directory's owner and group.
        let other = (meta.uid().wrapping_add(4242), meta.gid().wrapping_add(4242));
        let canonical_parent = std::fs::canonicalize(&parent).expect("canonical");
        let (blocked, mode) = blocked_ancestor(&data_dir, other).expect("blocked");
        // The temp dir itself may sit under a closed directory too; ours is
        // the first closed one below it.
        assert!(canonical_parent.starts_with(&blocked), "{blocked:?}");
        if blocked == canonical_parent {
            assert_eq!(mode, 0o700);
        }
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        let still = blocked_ancestor(&data_dir, other);
        assert!(
            still
                .as_ref()
                .is_none_or(|(dir, _)| !dir.starts_with(&canonical_parent)),
            "{still:?}"
        );
        // The owner always passes its own 0700 directory.
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let owner = (meta.uid(), meta.gid());
        let own = blocked_ancestor(&data_dir, owner);
        assert!(
            own.as_ref().is_none_or(|(dir, _)| !dir.starts_with(&canonical_parent)),
            "{own:?}"
        );
    }

    #[test]
    fn the_error_names_the_directory_and_the_fixes() {
        let error = EmbeddedError::Unreachable {
            data_dir: "/root/bot/data".into(),
            blocked: "/root".into(),
            mode: 0o700,
            account: "kinoyubot".into(),
        }
        .to_string();
        assert!(error.contains("cannot enter /root (mode 700)"), "{error}");
        assert!(error.contains("`kinoyubot` account"), "{error}");
        assert!(error.contains("DATA_DIR=/var/lib/kinoyubot"), "{error}");
        assert!(error.contains("chmod o+x /root"), "{error}");
        assert!(error.contains("DATABASE_URL"), "{error}");
    }
}
