//! Encryption of Twitch tokens at rest (SPEC §7): ChaCha20-Poly1305.
//!
//! A stored token is `nonce (12 bytes) || ciphertext || tag (16 bytes)`,
//! with a fresh random nonce per encryption. The associated data binds the
//! ciphertext to its row and column (channel id + token kind), so a
//! ciphertext copied into another channel's row, or from the refresh-token
//! column into the access-token column, fails to decrypt instead of handing
//! one streamer's token to another.
//!
//! This module does no I/O: the key comes from `TOKEN_KEY` or the key file
//! (see `twitch::auth::token_key`).

use std::fmt;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};

use crate::config::TokenKey;

/// Bytes of the random nonce at the start of a stored token.
pub(crate) const NONCE_LEN: usize = 12;
/// Bytes of the Poly1305 tag at the end of a stored token.
pub(crate) const TAG_LEN: usize = 16;

/// Versioned prefix of the associated data; changing the layout means a new
/// version, never a silent reinterpretation of old rows.
const AD_PREFIX: &[u8] = b"kinoyubot/twitch-token/v1";

/// The "channel id" the bot account's tokens are encrypted under (SPEC
/// §11): channel ids start at 1, so a bot token cannot be moved into a
/// channel's row (or back) and still decrypt.
pub const BOT_TOKEN_OWNER: i64 = 0;

/// Which of a channel's two tokens a ciphertext holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The user access token.
    Access,
    /// The refresh token.
    Refresh,
}

impl TokenKind {
    fn tag(self) -> u8 {
        match self {
            TokenKind::Access => b'a',
            TokenKind::Refresh => b'r',
        }
    }
}

/// Why a stored token could not be decrypted (or encrypted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// Shorter than a nonce and a tag: not something we wrote.
    #[error("stored token is truncated ({len} bytes); reconnect the channel")]
    Truncated {
        /// Length found.
        len: usize,
    },
    /// Authentication failed: another key, another row, or altered bytes.
    #[error(
        "stored token cannot be decrypted: tokens were encrypted with another TOKEN_KEY \
         (or the row was altered); reconnect the channel"
    )]
    WrongKeyOrTampered,
    /// Decrypted bytes are not UTF-8 (cannot happen for rows we wrote).
    #[error("stored token is not valid text; reconnect the channel")]
    NotText,
    /// The cipher refused to encrypt (only for absurd lengths).
    #[error("token could not be encrypted")]
    Encrypt,
}

/// Encrypts and decrypts tokens with one key. Cheap to clone.
#[derive(Clone)]
pub struct TokenCipher {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCipher([redacted])")
    }
}

fn associated_data(channel_id: i64, kind: TokenKind) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_PREFIX.len() + 10);
    ad.extend_from_slice(AD_PREFIX);
    ad.push(0);
    ad.extend_from_slice(&channel_id.to_be_bytes());
    ad.push(kind.tag());
    ad
}

impl TokenCipher {
    /// A cipher for this key.
    pub fn new(key: &TokenKey) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(*key.expose_secret())),
        }
    }

    /// Encrypts a token for `channel_id`'s `kind` column.
    ///
    /// # Errors
    ///
    /// [`CipherError::Encrypt`] only for inputs larger than the cipher allows.
    pub fn encrypt(&self, channel_id: i64, kind: TokenKind, token: &SecretString) -> Result<Vec<u8>, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        let ad = associated_data(channel_id, kind);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: token.expose_secret().as_bytes(),
                    aad: &ad,
                },
            )
            .map_err(|_| CipherError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what `TokenCipher::encrypt` wrote for the same channel and kind.
    ///
    /// # Errors
    ///
    /// [`CipherError::WrongKeyOrTampered`] for another key, another row or
    /// column, or altered bytes; [`CipherError::Truncated`] for short input.
    pub fn decrypt(&self, channel_id: i64, kind: TokenKind, stored: &[u8]) -> Result<SecretString, CipherError> {
        if stored.len() < NONCE_LEN + TAG_LEN {
            return Err(CipherError::Truncated { len: stored.len() });
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);
        let ad = associated_data(channel_id, kind);
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce_bytes), Payload { msg: sealed, aad: &ad })
            .map_err(|_| CipherError::WrongKeyOrTampered)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CipherError::NotText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenKey;

    fn cipher(byte: u8) -> TokenCipher {
        TokenCipher::new(&TokenKey::new([byte; 32]))
    }

    fn token(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn round_trip_gives_the_token_back_and_hides_it() {
        let c = cipher(1);
        let stored = c
            .encrypt(7, TokenKind::Access, &token("abc123secret"))
            .expect("encrypts");
        assert_eq!(stored.len(), NONCE_LEN + "abc123secret".len() + TAG_LEN);
        assert!(!stored.windows(6).any(|w| w == b"abc123"), "plaintext visible");
        let back = c.decrypt(7, TokenKind::Access, &stored).expect("decrypts");
        assert_eq!(back.expose_secret(), "abc123secret");
    }

    #[test]
    fn each_encryption_uses_a_fresh_nonce() {
        let c = cipher(1);
        let a = c.encrypt(7, TokenKind::Access, &token("same")).expect("encrypts");
        let b = c.encrypt(7, TokenKind::Access, &token("same")).expect("encrypts");
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn tampered_bytes_are_rejected() {
        let c = cipher(1);
        let stored = c.encrypt(7, TokenKind::Access, &token("abc")).expect("encrypts");
        for index in [0, NONCE_LEN, stored.len() - 1] {
            let mut altered = stored.clone();
            altered[index] ^= 0x01;
            assert_eq!(
                c.decrypt(7, TokenKind::Access, &altered).err(),
                Some(CipherError::WrongKeyOrTampered),
                "byte {index}"
            );
        }
        assert_eq!(
            c.decrypt(7, TokenKind::Access, &stored[..10]).err(),
            Some(CipherError::Truncated { len: 10 })
        );
    }

    #[test]
    fn wrong_key_gives_a_clear_error_not_garbage() {
        let stored = cipher(1)
            .encrypt(7, TokenKind::Refresh, &token("abc"))
            .expect("encrypts");
        let error = cipher(2)
            .decrypt(7, TokenKind::Refresh, &stored)
            .expect_err("another key must fail");
        assert_eq!(error, CipherError::WrongKeyOrTampered);
        assert!(error.to_string().contains("another TOKEN_KEY"), "{error}");
        assert!(error.to_string().contains("reconnect"), "{error}");
    }

    #[test]
    fn ciphertext_cannot_move_to_another_channel_or_column() {
        let c = cipher(1);
        let stored = c.encrypt(7, TokenKind::Access, &token("abc")).expect("encrypts");
        assert_eq!(
            c.decrypt(8, TokenKind::Access, &stored).err(),
            Some(CipherError::WrongKeyOrTampered)
        );
        assert_eq!(
            c.decrypt(7, TokenKind::Refresh, &stored).err(),
            Some(CipherError::WrongKeyOrTampered)
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        assert_eq!(format!("{:?}", cipher(1)), "TokenCipher([redacted])");
    }
}
