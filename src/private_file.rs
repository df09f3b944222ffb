//! Files only the bot's own account may read (passwords, the token key).
//!
//! On Unix they are created with mode 0600 (and kept at 0600 whatever the
//! umask). On Windows a new file inherits the access list of its folder;
//! `DATA_DIR` under the user's own profile is readable by that user (and
//! administrators) only, which is what the README asks for.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
}

/// Makes sure an open private file is 0600 (the umask may have narrowed
/// the mode further; never widen it beyond the owner).
fn restrict(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Creates `path`, failing if it exists.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    let file = options().create_new(true).open(path)?;
    restrict(&file)?;
    Ok(file)
}

/// Creates or truncates `path`.
pub(crate) fn create_or_truncate(path: &Path) -> io::Result<File> {
    let file = options().create(true).truncate(true).open(path)?;
    restrict(&file)?;
    Ok(file)
}

/// Makes a directory private to its owner (0700 on Unix; on Windows the
/// folder's inherited access list applies).
pub(crate) fn restrict_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
