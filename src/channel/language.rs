//! Which language a channel speaks: the one place that decides it.
//!
//! Everything that writes for a channel (Discord announcements and
//! notices, the dashboard, chat lines, Discord bot replies) asks
//! [`ChannelLanguages::language_for`]. Today the answer is `LANGUAGE`; the
//! per-channel override of `channel_settings` (issue 16) plugs in here, and
//! no caller changes.

use crate::catalog::Language;

/// Resolves a channel's language. Cheap to clone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelLanguages {
    /// `LANGUAGE`: the language of channels without their own.
    default: Language,
}

impl ChannelLanguages {
    /// Every channel speaks `default` unless it has its own language.
    pub fn new(default: Language) -> Self {
        Self { default }
    }

    /// `LANGUAGE`, for what belongs to no channel (the first-run help, the
    /// command line).
    pub fn default_language(&self) -> Language {
        self.default
    }

    /// The language of the channel with this login (any case).
    pub fn language_for(&self, _channel_login: &str) -> Language {
        self.default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_overrides_every_channel_speaks_the_default() {
        let languages = ChannelLanguages::new(Language::PtBr);
        assert_eq!(languages.language_for("somestreamer"), Language::PtBr);
        assert_eq!(languages.default_language(), Language::PtBr);
        assert_eq!(ChannelLanguages::default().language_for("x"), Language::En);
    }
}
