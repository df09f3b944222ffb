//! The key that encrypts Twitch tokens at rest: `TOKEN_KEY`, or else
//! `DATA_DIR/token.key`, generated on first use.
//!
//! The file holds 32 random bytes in base64 and is private to the bot's account (mode 0600 on Unix). It is created
//! atomically: written to a private temporary file, then hard-linked into
//! place, which fails if another process created the key first; the loser
//! reads the winner's key, so two instances sharing `DATA_DIR` never end up
//! with different keys.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::Rng as _;

use crate::config::{TokenKey, parse_token_key};

/// File name of the generated key inside `DATA_DIR`.
pub(crate) const KEY_FILE: &str = "token.key";

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenKeyError {
    /// The key file exists but does not hold a valid key.
    #[error("{path}: {reason}; fix or delete the file (connected streamers must then reconnect), or set TOKEN_KEY")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never the key).
        reason: String,
    },
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TokenKeyError + '_ {
    move |source| TokenKeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `TOKEN_KEY` when set, else the key in `data_dir/token.key`, created if missing.
///
/// # Errors
///
/// [`TokenKeyError::Malformed`] naming the file when it holds no valid key;
/// [`TokenKeyError::Io`] when it cannot be read or created.
pub(crate) fn load_or_create(configured: Option<&TokenKey>, data_dir: &Path) -> Result<TokenKey, TokenKeyError> {
    if let Some(key) = configured {
        return Ok(key.clone());
    }
    let path = data_dir.join(KEY_FILE);
    match read(&path)? {
        Some(key) => Ok(key),
        None => create(&path),
    }
}

fn read(path: &Path) -> Result<Option<TokenKey>, TokenKeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_token_key("TOKEN_KEY", &text)
            .map(Some)
            .map_err(|e| TokenKeyError::Malformed {
                path: path.to_owned(),
                reason: e.reason,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn create(path: &Path) -> Result<TokenKey, TokenKeyError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    let suffix: u64 = rand::rng().random();
    let temporary = dir.join(format!(".{KEY_FILE}.{suffix:016x}.tmp"));
    let written = (|| {
        let mut file = crate::private_file::create_new(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a new token key");
            Ok(TokenKey::new(key))
        }
        // Another process created it between our read and our link: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(path)?.ok_or_else(|| TokenKeyError::Malformed {
                path: path.to_owned(),
                reason: "vanished while being created".into(),
            })
        }
        Err(e) => Err(io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_key_is_generated_with_mode_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(None, dir.path()).expect("created");
        let path = dir.path().join(KEY_FILE);
        let mode = std::fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = load_or_create(None, dir.path()).expect("read back");
        assert_eq!(first.expose_secret(), second.expose_secret());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left");
    }

    #[test]
    fn configured_key_wins_and_no_file_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = load_or_create(Some(&TokenKey::new([3u8; 32])), dir.path()).expect("key");
        assert_eq!(key.expose_secret(), &[3u8; 32]);
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn malformed_key_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, "not a key").expect("write");
        let error = load_or_create(None, dir.path()).expect_err("malformed");
        let message = error.to_string();
        assert!(message.starts_with(&path.display().to_string()), "{message}");
        assert!(message.contains("base64"), "{message}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("kept"),
            "not a key",
            "never overwritten"
        );
    }
}
