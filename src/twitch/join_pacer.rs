//! Paced, confirmed and retried chat joins (issue 19 item 2). Pure: the
//! chat listener (`twitch::irc`) feeds it the wanted channels, the JOINs the
//! server confirms and the current [`Instant`], and sends the joins and
//! parts it returns.
//!
//! - At most `JOIN_RATE` joins leave in any [`JOIN_RATE_WINDOW`] (a sliding
//!   window). twitch-irc fills one connection (90 channels) before opening
//!   the next, one at a time, so no connection gets more than that either;
//!   Twitch documents 20 joins per 10 s for an unverified account, the
//!   default.
//! - A join the server has not confirmed within [`JOIN_CONFIRM_TIMEOUT`] is
//!   sent again (ahead of first joins), counted against the same rate.
//! - Parts leave at once: they free capacity and cost no join.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::channel::ChannelLogin;
pub(crate) use crate::config::JOIN_RATE_WINDOW;

/// How long a join may wait for the server's JOIN before it is sent again.
pub(crate) const JOIN_CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);

/// Channels wanted, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JoinCounts {
    /// Wanted but not confirmed (queued or sent).
    pub(crate) pending: usize,
    /// Confirmed by the server.
    pub(crate) confirmed: usize,
}

/// The chat listener's join counts, shared with `/api/status`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct JoinStatus {
    inner: std::sync::Arc<std::sync::Mutex<JoinCounts>>,
}

impl JoinStatus {
    /// The counts now.
    pub(crate) fn counts(&self) -> JoinCounts {
        match self.inner.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// Publishes new counts (and the `kinoyubot_chat_joins` gauge).
    pub(crate) fn set(&self, counts: JoinCounts) {
        match self.inner.lock() {
            Ok(mut guard) => *guard = counts,
            Err(poisoned) => *poisoned.into_inner() = counts,
        }
        crate::metrics::set_chat_joins(counts.pending, counts.confirmed);
    }
}

/// See the module doc.
#[derive(Debug)]
pub(crate) struct JoinPacer {
    rate: usize,
    window: Duration,
    confirm_within: Duration,
    wanted: BTreeSet<ChannelLogin>,
    /// Not sent yet, or due again; retries go to the front.
    queue: VecDeque<ChannelLogin>,
    /// Sent, waiting for the server's JOIN since then.
    sent: HashMap<ChannelLogin, Instant>,
    confirmed: HashSet<ChannelLogin>,
    /// When the joins of the current window left.
    recent: VecDeque<Instant>,
}

impl JoinPacer {
    /// A pacer sending at most `rate` joins per `window`.
    pub(crate) fn new(rate: u32, window: Duration) -> Self {
        Self {
            rate: usize::try_from(rate.max(1)).unwrap_or(usize::MAX),
            window,
            confirm_within: JOIN_CONFIRM_TIMEOUT,
            wanted: BTreeSet::new(),
            queue: VecDeque::new(),
            sent: HashMap::new(),
            confirmed: HashSet::new(),
            recent: VecDeque::new(),
        }
    }

    /// Replaces the wanted channels; returns the channels to part now.
    pub(crate) fn set_wanted(&mut self, wanted: &BTreeSet<ChannelLogin>) -> Vec<ChannelLogin> {
        let parted: Vec<ChannelLogin> = self.wanted.difference(wanted).cloned().collect();
        for login in &parted {
            self.sent.remove(login);
            self.confirmed.remove(login);
        }
        self.queue.retain(|login| wanted.contains(login));
        for login in wanted.difference(&self.wanted) {
            self.queue.push_back(login.clone());
        }
        self.wanted = wanted.clone();
        parted
    }

    /// The server confirmed a join.
    pub(crate) fn confirmed(&mut self, login: &ChannelLogin) {
        if self.wanted.contains(login) {
            self.sent.remove(login);
            self.queue.retain(|queued| queued != login);
            self.confirmed.insert(login.clone());
        }
    }

    /// The joins to send now, oldest first; unconfirmed ones past their
    /// deadline are queued again first.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<ChannelLogin> {
        let expired: Vec<ChannelLogin> = self
            .sent
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) >= self.confirm_within)
            .map(|(login, _)| login.clone())
            .collect();
        for login in expired {
            self.sent.remove(&login);
            self.queue.push_front(login);
        }
        while self
            .recent
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= self.window)
        {
            self.recent.pop_front();
        }
        let room = self.rate.saturating_sub(self.recent.len());
        let mut out = Vec::with_capacity(room.min(self.queue.len()));
        while out.len() < room {
            let Some(login) = self.queue.pop_front() else { break };
            self.sent.insert(login.clone(), now);
            self.recent.push_back(now);
            out.push(login);
        }
        out
    }

    /// When [`JoinPacer::due`] may next return something (`None`: nothing
    /// waits).
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        let retry = self.sent.values().min().map(|at| *at + self.confirm_within);
        let send = if self.queue.is_empty() {
            None
        } else if self.recent.len() < self.rate {
            Some(Instant::now())
        } else {
            self.recent.front().map(|at| *at + self.window)
        };
        match (retry, send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wanted channels by state.
    pub(crate) fn counts(&self) -> JoinCounts {
        JoinCounts {
            pending: self.wanted.len().saturating_sub(self.confirmed.len()),
            confirmed: self.confirmed.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logins(names: &[&str]) -> BTreeSet<ChannelLogin> {
        names.iter().map(|name| ChannelLogin::parse(name).unwrap()).collect()
    }

    fn names(logins: &[ChannelLogin]) -> Vec<&str> {
        logins.iter().map(ChannelLogin::as_str).collect()
    }

    #[test]
    fn joins_leave_at_the_rate_and_the_window_slides() {
        let start = Instant::now();
        let mut pacer = JoinPacer::new(2, Duration::from_secs(10));
        assert!(pacer.set_wanted(&logins(&["a", "b", "c", "d", "e"])).is_empty());
        assert_eq!(names(&pacer.due(start)), ["a", "b"]);
        assert!(pacer.due(start + Duration::from_secs(9)).is_empty());
        assert_eq!(pacer.next_wake(), Some(start + Duration::from_secs(10)));
        assert_eq!(names(&pacer.due(start + Duration::from_secs(10))), ["c", "d"]);
        assert_eq!(
            pacer.counts(),
            JoinCounts {
                pending: 5,
                confirmed: 0
            }
        );
    }

    #[test]
    fn confirmed_joins_count_and_unconfirmed_ones_are_sent_again_first() {
        let start = Instant::now();
        let mut pacer = JoinPacer::new(2, Duration::from_secs(1));
        pacer.set_wanted(&logins(&["a", "b", "c"]));
        assert_eq!(names(&pacer.due(start)), ["a", "b"]);
        pacer.confirmed(&ChannelLogin::parse("a").unwrap());
        assert_eq!(
            pacer.counts(),
            JoinCounts {
                pending: 2,
                confirmed: 1
            }
        );
        // b was never confirmed: after the timeout it goes before c.
        let later = start + JOIN_CONFIRM_TIMEOUT;
        assert_eq!(names(&pacer.due(later)), ["b", "c"]);
    }

    #[test]
    fn channels_no_longer_wanted_are_parted_at_once_and_leave_the_queue() {
        let start = Instant::now();
        let mut pacer = JoinPacer::new(1, Duration::from_secs(10));
        pacer.set_wanted(&logins(&["a", "b", "c"]));
        assert_eq!(names(&pacer.due(start)), ["a"]);
        pacer.confirmed(&ChannelLogin::parse("a").unwrap());
        let parted = pacer.set_wanted(&logins(&["c"]));
        assert_eq!(names(&parted), ["a", "b"]);
        assert_eq!(
            pacer.counts(),
            JoinCounts {
                pending: 1,
                confirmed: 0
            }
        );
        assert_eq!(names(&pacer.due(start + Duration::from_secs(10))), ["c"]);
        // A confirmation for a channel no longer wanted is ignored.
        pacer.confirmed(&ChannelLogin::parse("a").unwrap());
        assert_eq!(
            pacer.counts(),
            JoinCounts {
                pending: 1,
                confirmed: 0
            }
        );
    }
}
