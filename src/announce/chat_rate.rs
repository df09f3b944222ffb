//! Twitch's chat rate limit, kept on our side so lines are spaced out
//! instead of refused (SPEC §11): per channel, at most 20 messages in any
//! 30 s window when the sender is neither the broadcaster nor a moderator,
//! 100 when it is. Pure: it reckons on the milliseconds it is given.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Twitch's window.
pub(crate) const WINDOW: Duration = Duration::from_secs(30);
/// Messages per window from a plain sender.
pub(crate) const PLAIN_LIMIT: u32 = 20;
/// Messages per window from the broadcaster or a moderator.
pub(crate) const MODERATOR_LIMIT: u32 = 100;

/// A sliding-window limiter per channel.
#[derive(Debug)]
pub(crate) struct ChatRateLimiter {
    window_millis: u64,
    sends: HashMap<String, VecDeque<u64>>,
}

impl ChatRateLimiter {
    /// A limiter over `window` (Twitch's is [`WINDOW`]; tests shorten it).
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window_millis: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            sends: HashMap::new(),
        }
    }

    /// Takes one send in `channel` at `now_millis` within `limit` per
    /// window, or says how long until one is free.
    pub(crate) fn try_take(&mut self, channel: &str, limit: u32, now_millis: u64) -> Result<(), Duration> {
        let window = self.window_millis;
        let sends = self.sends.entry(channel.to_owned()).or_default();
        while sends.front().is_some_and(|&at| now_millis.saturating_sub(at) >= window) {
            sends.pop_front();
        }
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        if sends.len() >= limit {
            // The oldest send in the window frees its place first.
            let oldest = sends.front().copied().unwrap_or(now_millis);
            let free_at = oldest.saturating_add(window);
            return Err(Duration::from_millis(free_at.saturating_sub(now_millis).max(1)));
        }
        sends.push_back(now_millis);
        Ok(())
    }

    /// Gives back the last send taken in `channel` (it was not made).
    pub(crate) fn give_back(&mut self, channel: &str) {
        if let Some(sends) = self.sends.get_mut(channel) {
            sends.pop_back();
        }
    }

    /// Pushes the channel's window forward: Twitch said it is full until
    /// `until_millis` (a 429 despite our count, e.g. another client of the
    /// same account).
    pub(crate) fn full_until(&mut self, channel: &str, limit: u32, until_millis: u64) {
        let window = self.window_millis;
        let sends = self.sends.entry(channel.to_owned()).or_default();
        sends.clear();
        let at = until_millis.saturating_sub(window);
        for _ in 0..limit.max(1) {
            sends.push_back(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_lines_per_thirty_seconds_then_a_wait_until_the_oldest_leaves() {
        let mut limiter = ChatRateLimiter::new(WINDOW);
        for i in 0..20 {
            assert_eq!(limiter.try_take("chan", PLAIN_LIMIT, 1_000 + i * 100), Ok(()));
        }
        assert_eq!(
            limiter.try_take("chan", PLAIN_LIMIT, 5_000),
            Err(Duration::from_millis(26_000))
        );
        // Another channel has its own window.
        assert_eq!(limiter.try_take("other", PLAIN_LIMIT, 5_000), Ok(()));
        // Once the first send is 30 s old, one more goes.
        assert_eq!(limiter.try_take("chan", PLAIN_LIMIT, 31_000), Ok(()));
        assert!(limiter.try_take("chan", PLAIN_LIMIT, 31_001).is_err());
    }

    #[test]
    fn moderators_get_a_hundred_and_nothing_is_taken_when_refused() {
        let mut limiter = ChatRateLimiter::new(WINDOW);
        for i in 0..100 {
            assert_eq!(limiter.try_take("chan", MODERATOR_LIMIT, i), Ok(()));
        }
        assert!(limiter.try_take("chan", MODERATOR_LIMIT, 200).is_err());
        assert!(limiter.try_take("chan", MODERATOR_LIMIT, 200).is_err());
        assert_eq!(limiter.try_take("chan", MODERATOR_LIMIT, 30_000), Ok(()));
    }

    #[test]
    fn any_window_of_thirty_seconds_holds_at_most_twenty() {
        let mut limiter = ChatRateLimiter::new(WINDOW);
        let mut sent = Vec::new();
        let mut now = 0u64;
        while sent.len() < 100 {
            match limiter.try_take("chan", PLAIN_LIMIT, now) {
                Ok(()) => sent.push(now),
                Err(wait) => now += u64::try_from(wait.as_millis()).unwrap_or(1),
            }
            now += 7;
        }
        for (i, &start) in sent.iter().enumerate() {
            let within = sent[i..].iter().take_while(|&&t| t < start + 30_000).count();
            assert!(within <= 20, "{within} sends in the 30 s from {start}");
        }
    }

    #[test]
    fn a_refusal_from_twitch_fills_the_window_until_its_reset() {
        let mut limiter = ChatRateLimiter::new(WINDOW);
        limiter.full_until("chan", PLAIN_LIMIT, 40_000);
        assert_eq!(
            limiter.try_take("chan", PLAIN_LIMIT, 10_000),
            Err(Duration::from_millis(30_000))
        );
        assert_eq!(limiter.try_take("chan", PLAIN_LIMIT, 40_000), Ok(()));
        limiter.give_back("chan");
        assert_eq!(limiter.try_take("chan", PLAIN_LIMIT, 40_000), Ok(()));
    }
}
