//! Which language a channel speaks: the one place that decides it.
//!
//! Everything that writes for a channel (Discord announcements and
//! notices, the dashboard, chat lines, Discord bot replies) asks
//! [`ChannelLanguages::language_for`]: the channel's own `LANGUAGE` from
//! the control room (`channel_settings.language`), else the environment's.
//!
//! Speakers ask synchronously, while rendering, so the channels' own
//! choices are kept in memory: one shared map per process (every clone of
//! a `ChannelLanguages` sees the same), loaded at start, updated at once
//! when this instance stores a change, and reloaded by
//! `channel_language_refresher` so a change made on another instance
//! reaches this one within [`LANGUAGE_REFRESH`].

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::Language;
use crate::store::Store;

/// How often the channels' own languages are reloaded from the database
/// (a change on another instance shows here within this).
pub(crate) const LANGUAGE_REFRESH: Duration = Duration::from_secs(10);

/// Resolves a channel's language. Cheap to clone; clones share the
/// channels' own choices.
#[derive(Debug, Clone, Default)]
pub struct ChannelLanguages {
    /// `LANGUAGE`: the language of channels without their own.
    default: Language,
    /// The channels' own, by login.
    own: Arc<RwLock<HashMap<String, Language>>>,
}

impl ChannelLanguages {
    /// Every channel speaks `default` unless it has its own language.
    pub fn new(default: Language) -> Self {
        Self {
            default,
            own: Arc::default(),
        }
    }

    /// `LANGUAGE`, for what belongs to no channel (the first-run help, the
    /// command line).
    pub fn default_language(&self) -> Language {
        self.default
    }

    /// The language of the channel with this login (any case).
    pub fn language_for(&self, channel_login: &str) -> Language {
        let own = self.own.read().unwrap_or_else(PoisonError::into_inner);
        match own.get(channel_login) {
            Some(language) => *language,
            None if channel_login.bytes().any(|b| b.is_ascii_uppercase()) => own
                .get(&channel_login.to_ascii_lowercase())
                .copied()
                .unwrap_or(self.default),
            None => self.default,
        }
    }

    /// Records a channel's own language (`None`: back to the default).
    pub(crate) fn set_own(&self, channel_login: &str, language: Option<Language>) {
        let mut own = self.own.write().unwrap_or_else(PoisonError::into_inner);
        match language {
            Some(language) => own.insert(channel_login.to_ascii_lowercase(), language),
            None => own.remove(&channel_login.to_ascii_lowercase()),
        };
    }

    /// Replaces every channel's own language with what the database holds.
    pub(crate) fn replace_own(&self, languages: impl IntoIterator<Item = (String, Language)>) {
        let fresh: HashMap<String, Language> = languages
            .into_iter()
            .map(|(login, language)| (login.to_ascii_lowercase(), language))
            .collect();
        *self.own.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// Loads the channels' own languages from `store`.
    ///
    /// # Errors
    ///
    /// Database errors; the languages known before are kept.
    pub(crate) async fn load(&self, store: &Store) -> Result<(), crate::store::Error> {
        let languages = store.channel_languages().await?;
        self.replace_own(languages);
        Ok(())
    }
}

/// Keeps `languages` in step with the database: reloads every
/// [`LANGUAGE_REFRESH`] and at once after this instance changes a
/// channel's settings (`settings_changed`). A failed reload is logged and
/// tried again at the next turn; what was known stays in use.
///
/// It waits on tokio's clock, as the lease task does, not on the raffle
/// clock: it has no slot to keep, and timer tests that drive the raffle
/// clock count only the timers waiting on it.
pub(crate) async fn channel_language_refresher(
    languages: ChannelLanguages,
    store: Store,
    mut settings_changed: watch::Receiver<()>,
    shutdown: CancellationToken,
) {
    // The start loaded them already (`App::build`): wait first.
    loop {
        let changed = async {
            if settings_changed.changed().await.is_err() {
                // The engine is gone: only the timer wakes us.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(LANGUAGE_REFRESH) => {}
            () = changed => {}
        }
        if let Err(e) = languages.load(&store).await {
            tracing::warn!(error = %e, "could not reload the channels' languages; keeping the ones known");
        }
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

    #[test]
    fn a_channels_own_language_is_seen_by_every_clone_until_it_is_reset() {
        let languages = ChannelLanguages::new(Language::En);
        let speaker = languages.clone();
        languages.set_own("Brasileira", Some(Language::PtBr));
        assert_eq!(speaker.language_for("brasileira"), Language::PtBr);
        assert_eq!(speaker.language_for("BRASILEIRA"), Language::PtBr, "any case");
        assert_eq!(speaker.language_for("other"), Language::En);
        languages.set_own("brasileira", None);
        assert_eq!(speaker.language_for("brasileira"), Language::En);
    }

    #[test]
    fn a_reload_replaces_every_channels_choice() {
        let languages = ChannelLanguages::new(Language::PtBr);
        languages.set_own("gone", Some(Language::En));
        languages.replace_own([("kept".to_owned(), Language::En)]);
        assert_eq!(languages.language_for("gone"), Language::PtBr, "no longer stored");
        assert_eq!(languages.language_for("kept"), Language::En);
    }
}
