//! Trying again after a failure: one policy type and one retry loop for
//! every place that does it.
//!
//! A [`RetryPolicy`] is a named constant at its call site: the first delay,
//! the growth factor, the cap, the jitter and the attempt limit. The delays
//! themselves come from the `backon` crate's exponential backoff. A policy
//! is used in one of three ways:
//!
//! - `RetryPolicy::retry` runs an operation until it succeeds, waiting on a
//!   [`Clock`] between attempts, with an optional deadline (no attempt that
//!   would start after it) and stop token (ends the wait, never an attempt in
//!   flight). Every caller passes a "should retry?" predicate; today they all
//!   pass `any_error`, and telling transient from permanent errors
//!   (`store::Error::is_transient`) is a change of that one argument.
//! - `RetryPolicy::delays`: the sequence of delays, for a task whose
//!   retries are interleaved with other work in a `select!` loop.
//! - `RetryPolicy::delay_after`: the delay after the n-th consecutive
//!   failure, for failure counts kept elsewhere (an outbox row's attempts).
//!
//! The loop is ours rather than backon's `Retryable` because two call sites
//! need what that cannot give: a stop that ends the wait but lets an attempt
//! in flight finish (a raffle round is one transaction), and a deadline that
//! counts the attempts' own time, not only the sleeps (`with_total_delay`),
//! read from the caller's clock (a timer slot's end on the domain clock).

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

use crate::clock::{self, Clock};

/// The delays of a policy, in order ([`RetryPolicy::delays`]).
pub(crate) type Delays = ExponentialBackoff;

/// How delays are spread so that instances retrying the same outage do not
/// retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the computed delay.
    None,
    /// Uniformly in the upper half of the computed delay, `[d/2, d)`: spread
    /// out, and still growing from one failure to the next.
    UpperHalf,
}

/// When and how often to try again; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    first: Duration,
    factor: f32,
    cap: Duration,
    jitter: Jitter,
    /// Attempts in all, the first included; `None`: no limit.
    max_attempts: Option<usize>,
}

impl RetryPolicy {
    /// Waits `first`, then twice as long after each further failure, at most
    /// `cap`; no jitter, no attempt limit.
    pub const fn exponential(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            factor: 2.0,
            cap,
            jitter: Jitter::None,
            max_attempts: None,
        }
    }

    /// Waits `delay` after every failure; no jitter, no attempt limit.
    pub const fn constant(delay: Duration) -> Self {
        Self {
            first: delay,
            factor: 1.0,
            cap: delay,
            jitter: Jitter::None,
            max_attempts: None,
        }
    }

    /// This policy with `jitter`.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// This policy giving up after `attempts` attempts, the first included.
    #[must_use]
    pub const fn with_max_attempts(mut self, attempts: usize) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The delay after the first failure, before jitter.
    pub const fn first(&self) -> Duration {
        self.first
    }

    /// The longest delay, before jitter.
    pub const fn cap(&self) -> Duration {
        self.cap
    }

    fn builder(&self) -> ExponentialBuilder {
        let (first, cap) = match self.jitter {
            Jitter::None => (self.first, self.cap),
            // backon's jitter adds up to 100 % of the delay: halve it first.
            Jitter::UpperHalf => (self.first / 2, self.cap / 2),
        };
        let builder = ExponentialBuilder::new()
            .with_factor(self.factor)
            .with_min_delay(first.min(cap))
            .with_max_delay(cap);
        let builder = match self.max_attempts {
            // backon counts the retries, not the attempts.
            Some(attempts) => builder.with_max_times(attempts.saturating_sub(1)),
            None => builder.without_max_times(),
        };
        match self.jitter {
            Jitter::None => builder,
            Jitter::UpperHalf => builder.with_jitter(),
        }
    }

    /// The delays before the second, third, … attempt; ends when the attempt
    /// limit is reached.
    pub(crate) fn delays(&self) -> Delays {
        self.builder().build()
    }

    /// The delay after the `failures`-th consecutive failure (1-based; 0 is
    /// taken as 1), ignoring the attempt limit.
    pub(crate) fn delay_after(&self, failures: u32) -> Duration {
        // After 64 doublings every policy is at its cap, and a count read
        // from a row may be far larger than that.
        let skip = usize::try_from(failures.clamp(1, 64) - 1).unwrap_or(0);
        let mut delays = self.builder().without_max_times().build();
        delays.nth(skip).unwrap_or(self.cap)
    }

    /// Retries an operation with this policy, waiting on `clock`; see
    /// [`Retry::run`].
    pub(crate) fn retry<'a>(&self, clock: &'a Clock) -> Retry<'a> {
        Retry {
            policy: *self,
            clock,
            deadline: None,
            stop: None,
        }
    }
}

/// The "should retry?" of a call site that tries again whatever failed.
pub(crate) fn any_error<E>(_: &E) -> bool {
    true
}

/// One operation to retry; built by [`RetryPolicy::retry`], run by [`Retry::run`].
#[must_use]
pub(crate) struct Retry<'a> {
    policy: RetryPolicy,
    clock: &'a Clock,
    deadline: Option<SystemTime>,
    stop: Option<&'a CancellationToken>,
}

/// The retry about to be waited for, as [`Retry::run`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextAttempt {
    /// Attempts made so far (all failed).
    pub(crate) failed: u32,
    /// The wait before the next one.
    pub(crate) delay: Duration,
}

/// Why [`Retry::run`] ended without a success.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RetryError<E> {
    /// The last error: the attempts ran out, the next one would have started
    /// after the deadline, or the predicate said this error is not retried.
    GaveUp {
        /// The last attempt's error.
        error: E,
        /// Attempts made.
        attempts: u32,
    },
    /// The stop token fired while waiting for the next attempt.
    Stopped {
        /// The last attempt's error.
        error: E,
    },
}

impl<E> RetryError<E> {
    /// The last attempt's error.
    pub(crate) fn into_error(self) -> E {
        match self {
            Self::GaveUp { error, .. } | Self::Stopped { error } => error,
        }
    }
}

impl<'a> Retry<'a> {
    /// Makes no attempt that would start at or after `deadline` (on the
    /// retry's clock).
    pub(crate) fn before(mut self, deadline: SystemTime) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Ends the wait between attempts when `stop` fires. An attempt already
    /// running is never cut short.
    pub(crate) fn stop_on(mut self, stop: &'a CancellationToken) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Runs `attempt` until it succeeds. After a failure for which
    /// `should_retry` holds, `before_retry` is told (to log it) and the next
    /// attempt comes after the policy's delay.
    ///
    /// # Errors
    ///
    /// [`RetryError`], with the last attempt's error.
    pub(crate) async fn run<T, E, Fut>(
        self,
        mut attempt: impl FnMut() -> Fut,
        mut should_retry: impl FnMut(&E) -> bool,
        mut before_retry: impl FnMut(&E, NextAttempt),
    ) -> Result<T, RetryError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delays = self.policy.delays();
        let mut failed = 0u32;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            failed = failed.saturating_add(1);
            let gave_up = |error| RetryError::GaveUp {
                error,
                attempts: failed,
            };
            if !should_retry(&error) {
                return Err(gave_up(error));
            }
            let Some(delay) = delays.next() else {
                return Err(gave_up(error));
            };
            if self
                .deadline
                .is_some_and(|deadline| clock::after(self.clock.now(), delay) >= deadline)
            {
                return Err(gave_up(error));
            }
            before_retry(&error, NextAttempt { failed, delay });
            match self.stop {
                Some(stop) => tokio::select! {
                    () = stop.cancelled() => return Err(RetryError::Stopped { error }),
                    () = self.clock.sleep(delay) => {}
                },
                None => self.clock.sleep(delay).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::clock::DrivenClock;

    const MS: Duration = Duration::from_millis(1);

    fn millis(delays: impl Iterator<Item = Duration>) -> Vec<u128> {
        delays.map(|d| d.as_millis()).collect()
    }

    #[test]
    fn exponential_delays_double_up_to_the_cap() {
        let policy = RetryPolicy::exponential(250 * MS, 2000 * MS);
        assert_eq!(millis(policy.delays().take(6)), [250, 500, 1000, 2000, 2000, 2000]);
    }

    #[test]
    fn the_attempt_limit_counts_the_first_attempt() {
        let policy = RetryPolicy::exponential(250 * MS, 2000 * MS).with_max_attempts(3);
        assert_eq!(millis(policy.delays()), [250, 500]);
    }

    #[test]
    fn constant_delays_never_change() {
        let policy = RetryPolicy::constant(5000 * MS);
        assert_eq!(millis(policy.delays().take(4)), [5000, 5000, 5000, 5000]);
    }

    #[test]
    fn upper_half_jitter_stays_within_half_and_whole_of_each_delay() {
        let policy = RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(300))
            .with_jitter(Jitter::UpperHalf)
            .with_max_attempts(2);
        for failures in 1..=40u32 {
            let full = Duration::from_secs(1u64 << (failures - 1).min(20)).min(policy.cap());
            for _ in 0..20 {
                let wait = policy.delay_after(failures);
                assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?} vs {full:?}");
            }
        }
        assert!(policy.delay_after(u32::MAX) <= policy.cap());
        assert!(policy.delay_after(0) <= policy.first());
    }

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    /// An operation that fails `failures` times, then succeeds; counts calls.
    fn flaky(failures: u32, calls: &AtomicU32) -> impl FnMut() -> std::future::Ready<Result<u32, String>> + '_ {
        move || {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            std::future::ready(if call > failures {
                Ok(call)
            } else {
                Err(format!("failure {call}"))
            })
        }
    }

    #[tokio::test]
    async fn each_retry_comes_at_the_policy_delay_on_the_clock() {
        let driven = DrivenClock::starting_at(at(0));
        let clock = driven.clock();
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy::exponential(250 * MS, 10_000 * MS);
        let mut told = Vec::new();
        let run = policy
            .retry(&clock)
            .run(flaky(2, &calls), any_error, |e: &String, next| {
                told.push((e.clone(), next))
            });
        let running = async {
            assert_eq!(driven.wait_for_sleepers(1).await, [at(250)]);
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            driven.advance(250 * MS);
            assert_eq!(driven.wait_for_sleepers(1).await, [at(750)]);
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            driven.advance(500 * MS);
        };
        let (result, ()) = tokio::join!(run, running);
        assert_eq!(result, Ok(3));
        assert_eq!(
            told,
            [
                (
                    "failure 1".to_owned(),
                    NextAttempt {
                        failed: 1,
                        delay: 250 * MS
                    }
                ),
                (
                    "failure 2".to_owned(),
                    NextAttempt {
                        failed: 2,
                        delay: 500 * MS
                    }
                ),
            ]
        );
    }

    #[tokio::test]
    async fn no_attempt_starts_at_or_after_the_deadline() {
        let driven = DrivenClock::starting_at(at(0));
        let clock = driven.clock();
        let calls = AtomicU32::new(0);
        // 250 ms fits before 300 ms; the next wait (500 ms) would end after it.
        let run = RetryPolicy::exponential(250 * MS, 10_000 * MS)
            .retry(&clock)
            .before(at(300))
            .run(flaky(5, &calls), any_error, |_, _| {});
        let running = async {
            driven.wait_for_sleepers(1).await;
            driven.advance(250 * MS);
        };
        let (result, ()) = tokio::join!(run, running);
        assert_eq!(
            result,
            Err(RetryError::GaveUp {
                error: "failure 2".to_owned(),
                attempts: 2
            })
        );
    }

    #[tokio::test]
    async fn the_attempt_limit_and_the_predicate_end_the_retries() {
        let clock = DrivenClock::starting_at(at(0)).clock();
        let calls = AtomicU32::new(0);
        let never = |_: &String| false;
        let result = RetryPolicy::constant(MS)
            .retry(&clock)
            .run(flaky(5, &calls), never, |_, _| {})
            .await;
        assert_eq!(
            result,
            Err(RetryError::GaveUp {
                error: "failure 1".to_owned(),
                attempts: 1
            })
        );

        let limited = RetryPolicy::constant(Duration::ZERO).with_max_attempts(3);
        let result = limited
            .retry(&Clock::system())
            .run(flaky(5, &calls), any_error, |_, _| {})
            .await;
        assert!(
            matches!(result, Err(RetryError::GaveUp { attempts: 3, .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn stopping_ends_the_wait_but_not_an_attempt() {
        let driven = DrivenClock::starting_at(at(0));
        let clock = driven.clock();
        let stop = CancellationToken::new();
        let calls = AtomicU32::new(0);
        let run = RetryPolicy::constant(Duration::from_secs(60))
            .retry(&clock)
            .stop_on(&stop)
            .run(flaky(5, &calls), any_error, |_, _| {});
        let stopping = async {
            driven.wait_for_sleepers(1).await;
            stop.cancel();
        };
        let (result, ()) = tokio::join!(run, stopping);
        assert_eq!(
            result,
            Err(RetryError::Stopped {
                error: "failure 1".to_owned()
            })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // A stop during an attempt lets it finish and keeps its result.
        let stop = CancellationToken::new();
        let result = RetryPolicy::constant(Duration::from_secs(60))
            .retry(&clock)
            .stop_on(&stop)
            .run(
                || async {
                    stop.cancel();
                    tokio::task::yield_now().await;
                    Ok::<_, String>(7)
                },
                any_error,
                |_, _| {},
            )
            .await;
        assert_eq!(result, Ok(7));
    }
}
