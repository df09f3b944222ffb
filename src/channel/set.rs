//! The set of channels this instance serves, shared by the chat listener
//! (which joins them) and the raffle scheduler (which runs a timer for each).
//!
//! It starts as `TWITCH_CHANNELS` + `--channel` + the connected streamers in
//! the database, and grows when a streamer connects while the bot runs. A
//! `tokio::sync::watch` carries it: subscribers always see the latest set and
//! never queue stale intermediate states.

use std::collections::BTreeSet;

use tokio::sync::watch;

use crate::channel::ChannelLogin;

/// Cheap-to-clone handle to the served channel set.
#[derive(Debug, Clone)]
pub struct ChannelSet {
    sender: watch::Sender<BTreeSet<ChannelLogin>>,
}

impl ChannelSet {
    /// A set with these channels.
    pub fn new(initial: impl IntoIterator<Item = ChannelLogin>) -> Self {
        let (sender, _) = watch::channel(initial.into_iter().collect());
        Self { sender }
    }

    /// Adds a channel; returns whether it was new.
    pub fn add(&self, login: ChannelLogin) -> bool {
        self.sender.send_if_modified(|set| set.insert(login))
    }

    /// Removes a channel; returns whether it was there.
    pub fn remove(&self, login: &ChannelLogin) -> bool {
        self.sender.send_if_modified(|set| set.remove(login))
    }

    /// Replaces the whole set; returns whether it changed.
    pub(crate) fn replace(&self, channels: BTreeSet<ChannelLogin>) -> bool {
        self.sender.send_if_modified(|set| {
            if *set == channels {
                false
            } else {
                *set = channels;
                true
            }
        })
    }

    /// The channels now.
    pub(crate) fn current(&self) -> BTreeSet<ChannelLogin> {
        self.sender.borrow().clone()
    }

    /// Whether a channel is served.
    pub fn contains(&self, login: &ChannelLogin) -> bool {
        self.sender.borrow().contains(login)
    }

    /// A receiver that wakes on every change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<BTreeSet<ChannelLogin>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(s: &str) -> ChannelLogin {
        ChannelLogin::parse(s).expect("valid")
    }

    #[tokio::test]
    async fn subscribers_see_additions_and_removals() {
        let set = ChannelSet::new([login("alpha")]);
        let mut receiver = set.subscribe();
        assert!(set.add(login("beta")));
        assert!(!set.add(login("beta")), "adding twice is not a change");
        receiver.changed().await.expect("sender alive");
        assert_eq!(receiver.borrow_and_update().len(), 2);
        assert!(set.remove(&login("alpha")));
        receiver.changed().await.expect("sender alive");
        assert_eq!(
            receiver
                .borrow_and_update()
                .iter()
                .map(ChannelLogin::as_str)
                .collect::<Vec<_>>(),
            ["beta"]
        );
    }
}
