//! Twitch channel and user logins.
//!
//! [`ChannelLogin`] is the one way a login enters the program: settings,
//! `--channel` flags, API paths and chat all go through [`ChannelLogin::parse`],
//! which follows the rules twitch-irc's `validate_login` applies (1 to 25
//! characters of `a-z`, `0-9` and `_`). Input is trimmed, a leading `#` is
//! dropped and letters are lowercased, because Twitch logins are
//! case-insensitive and people paste `#SomeStreamer`.

use std::fmt;

/// Longest login Twitch allows.
pub(crate) const MAX_LOGIN_LENGTH: usize = 25;

/// A valid, lowercase Twitch login (channel or user).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelLogin(String);

/// Why a login was rejected; each variant keeps the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelLoginError {
    /// Nothing left after trimming and dropping `#`.
    #[error("login is empty")]
    Empty,
    /// More than `MAX_LOGIN_LENGTH` characters.
    #[error("login {login:?} is {length} characters long, at most {MAX_LOGIN_LENGTH} are allowed")]
    TooLong {
        /// The rejected input.
        login: String,
        /// Its length in characters.
        length: usize,
    },
    /// A character outside `a-z`, `0-9`, `_`.
    #[error("login {login:?} has {character:?} at position {position}; only letters, digits and _ are allowed")]
    InvalidCharacter {
        /// The rejected input.
        login: String,
        /// 1-based character position.
        position: usize,
        /// The character at fault.
        character: char,
    },
}

impl ChannelLogin {
    /// Parses a login, normalising case and a leading `#`.
    ///
    /// # Errors
    ///
    /// Returns [`ChannelLoginError`] naming the input and what is wrong.
    pub fn parse(input: &str) -> Result<Self, ChannelLoginError> {
        let trimmed = input.trim();
        let trimmed = trimmed.strip_prefix('#').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(ChannelLoginError::Empty);
        }
        let length = trimmed.chars().count();
        if length > MAX_LOGIN_LENGTH {
            return Err(ChannelLoginError::TooLong {
                login: trimmed.to_owned(),
                length,
            });
        }
        let lower = trimmed.to_ascii_lowercase();
        if let Some((index, character)) = lower
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            return Err(ChannelLoginError::InvalidCharacter {
                login: trimmed.to_owned(),
                position: index + 1,
                character,
            });
        }
        Ok(Self(lower))
    }

    /// The login as a string slice (lowercase, no `#`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ChannelLogin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_prefix_and_case_are_normalised() {
        let login = ChannelLogin::parse("  #SomeStreamer_42 ").expect("valid login");
        assert_eq!(login.as_str(), "somestreamer_42");
    }

    #[test]
    fn invalid_character_is_named_with_its_position() {
        assert_eq!(
            ChannelLogin::parse("foo!bar"),
            Err(ChannelLoginError::InvalidCharacter {
                login: "foo!bar".into(),
                position: 4,
                character: '!'
            })
        );
    }

    #[test]
    fn empty_and_too_long_logins_are_rejected() {
        assert_eq!(ChannelLogin::parse("#"), Err(ChannelLoginError::Empty));
        let long = "a".repeat(26);
        assert_eq!(
            ChannelLogin::parse(&long),
            Err(ChannelLoginError::TooLong {
                login: long.clone(),
                length: 26
            })
        );
        assert!(ChannelLogin::parse(&"a".repeat(25)).is_ok());
    }

    #[test]
    fn unicode_is_rejected_without_panicking() {
        assert!(matches!(
            ChannelLogin::parse("ストリーマー"),
            Err(ChannelLoginError::InvalidCharacter { position: 1, .. })
        ));
    }
}
