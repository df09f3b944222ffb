//! One supervisor for every background task (SPEC §16): the chat listener,
//! the presence tracker, the delivery worker, the token manager, the chat
//! command handler, the raffle scheduler and every channel's raffle timer.
//!
//! A task is given to [`Supervisor::spawn`] as a *factory*: a closure that
//! builds a fresh run of the task from a stop token. Each run is its own
//! tokio task, so a panic is caught where it happens. A run that returns an
//! error, panics, or simply ends while its stop token is not cancelled has
//! *failed*: the supervisor logs it once with its cause and builds a new run
//! after a backoff ([`RESTART_BACKOFF`], waited on the injected [`Clock`]).
//!
//! # The failure budget
//!
//! A task that fails [`RestartBudget::max_failures`] times within
//! [`RestartBudget::window`] (5 failures within 10 minutes by default) is not
//! restarted again: the supervisor records the fatal failure
//! ([`Supervisor::fatal`]) and cancels the process's shutdown token, so the
//! process stops in order and `kinoyubot run` exits with code 1 for systemd
//! or Kubernetes to restart it. With the default backoff (0.5 s doubling) a
//! task that fails at once every time ends the process about 7.5 s after its
//! first failure; a task that fails once an hour is restarted forever.
//!
//! The pure part ([`FailureHistory`]) decides; the runner only waits, logs
//! and spawns. What each task is doing right now ([`TaskState`]) is what
//! `/readyz` reports under `tasks`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::retry::RetryPolicy;

/// Waits before restarting a failed task: 0.5 s after the first failure
/// within the budget window, doubling up to 30 s.
pub const RESTART_BACKOFF: RetryPolicy = RetryPolicy::exponential(Duration::from_millis(500), Duration::from_secs(30));

/// How many failures a task may have before the process gives up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartBudget {
    /// Failures within [`RestartBudget::window`] that end the process (the
    /// last one is not restarted).
    pub max_failures: usize,
    /// How long a failure counts against the budget.
    pub window: Duration,
}

/// 5 failures within 10 minutes end the process.
pub const RESTART_BUDGET: RestartBudget = RestartBudget {
    max_failures: 5,
    window: Duration::from_secs(600),
};

/// What the supervisor does after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start the task again after this wait.
    Restart {
        /// The backoff.
        after: Duration,
        /// Failures now counted within the window (this one included).
        failures: usize,
    },
    /// The budget is spent: stop the process.
    GiveUp {
        /// Failures within the window.
        failures: usize,
    },
}

/// The failures of one task within the budget window. Pure: it is told
/// when each failure happened.
#[derive(Debug, Clone, Default)]
pub struct FailureHistory {
    failures: VecDeque<SystemTime>,
}

impl FailureHistory {
    /// Records a failure at `now` and decides what to do about it.
    pub fn record(&mut self, now: SystemTime, budget: RestartBudget, backoff: RetryPolicy) -> Decision {
        // Failures older than the window no longer count (a clock set back
        // keeps them: they are not older than now).
        while let Some(&oldest) = self.failures.front() {
            let expired = now.duration_since(oldest).is_ok_and(|age| age >= budget.window);
            if !expired {
                break;
            }
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        let failures = self.failures.len();
        if failures >= budget.max_failures {
            Decision::GiveUp { failures }
        } else {
            let counted = u32::try_from(failures).unwrap_or(u32::MAX);
            Decision::Restart {
                after: backoff.delay_after(counted),
                failures,
            }
        }
    }
}

/// Why a run of a task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It returned an error.
    Error(String),
    /// It panicked, with this message.
    Panic(String),
    /// It ended although it was not asked to stop.
    Ended,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(cause) => write!(f, "failed: {cause}"),
            Self::Panic(message) => write!(f, "panicked: {message}"),
            Self::Ended => f.write_str("ended unexpectedly"),
        }
    }
}

/// What a run of a task returns: nothing, or a result whose error is the
/// failure's cause.
pub trait TaskOutput: Send + 'static {
    /// The cause, when the run failed.
    fn into_failure(self) -> Option<String>;
}

impl TaskOutput for () {
    fn into_failure(self) -> Option<String> {
        None
    }
}

impl<E: std::error::Error + Send + 'static> TaskOutput for Result<(), E> {
    fn into_failure(self) -> Option<String> {
        self.err().map(|e| {
            // The whole chain: the top error alone often says too little.
            let mut cause = e.to_string();
            let mut source = e.source();
            while let Some(inner) = source {
                cause.push_str(": ");
                cause.push_str(&inner.to_string());
                source = inner.source();
            }
            cause
        })
    }
}

/// What one task is doing, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// A run is in progress.
    Running,
    /// The last run failed; the next starts after the backoff.
    Restarting {
        /// The last run's failure.
        failure: Failure,
        /// Failures within the budget window.
        failures: usize,
        /// When the last run failed.
        since: SystemTime,
    },
    /// The budget is spent; the process is stopping.
    GaveUp {
        /// The last run's failure.
        failure: Failure,
    },
}

/// The task that made the process give up, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "background task \"{task}\" failed {failures} times within {window:?} and was not restarted again; last: {failure}"
)]
pub struct Fatal {
    /// The task's name.
    pub task: String,
    /// Failures within the window.
    pub failures: usize,
    /// The budget's window.
    pub window: Duration,
    /// The last failure.
    pub failure: Failure,
}

struct Shared {
    clock: Clock,
    budget: RestartBudget,
    backoff: RetryPolicy,
    /// Cancelled when a task gives up, so that the whole process stops.
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// Every task that has not ended, by name.
    tasks: Mutex<BTreeMap<String, TaskState>>,
    /// Bumped whenever `tasks` changes, for [`Supervisor::wait_for`].
    changes: watch::Sender<u64>,
    fatal: Mutex<Option<Fatal>>,
}

/// Runs tasks and restarts them; cheap to clone. See the module doc.
#[derive(Clone)]
pub struct Supervisor {
    shared: Arc<Shared>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("tasks", &self.tasks())
            .field("fatal", &self.fatal())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor with the default backoff and budget that cancels
    /// `shutdown` when a task gives up.
    pub fn new(clock: Clock, shutdown: CancellationToken) -> Self {
        Self::with_policy(clock, shutdown, RESTART_BACKOFF, RESTART_BUDGET)
    }

    /// [`Supervisor::new`] with another backoff and budget (tests).
    pub fn with_policy(clock: Clock, shutdown: CancellationToken, backoff: RetryPolicy, budget: RestartBudget) -> Self {
        Self {
            shared: Arc::new(Shared {
                clock,
                budget,
                backoff,
                shutdown,
                tracker: TaskTracker::new(),
                tasks: Mutex::new(BTreeMap::new()),
                changes: watch::Sender::new(0),
                fatal: Mutex::new(None),
            }),
        }
    }

    /// Runs `factory(stop)` as the task `name` until `stop` is cancelled,
    /// building a new run after each failure (module doc). Once `stop` is
    /// cancelled the run in progress finishes and the task ends. A name
    /// already in use gets a numbered suffix.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, stop: CancellationToken, factory: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput,
    {
        let name = self.register(name.into());
        let supervisor = self.clone();
        self.shared
            .tracker
            .spawn(async move { supervisor.supervise(name, stop, factory).await });
    }

    /// Adds `name` (made unique) to the registry as running.
    fn register(&self, name: String) -> String {
        let mut tasks = self.shared.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let mut unique = name.clone();
        let mut n = 1u32;
        while tasks.contains_key(&unique) {
            n = n.saturating_add(1);
            unique = format!("{name} ({n})");
        }
        tasks.insert(unique.clone(), TaskState::Running);
        unique
    }

    fn set_state(&self, name: &str, state: Option<TaskState>) {
        {
            let mut tasks = self.shared.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            match state {
                Some(state) => {
                    tasks.insert(name.to_owned(), state);
                }
                None => {
                    tasks.remove(name);
                }
            }
        }
        self.shared
            .changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    async fn supervise<F, Fut>(self, name: String, stop: CancellationToken, mut factory: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput,
    {
        let mut history = FailureHistory::default();
        loop {
            self.set_state(&name, Some(TaskState::Running));
            let run = tokio::spawn(factory(stop.clone()));
            let failure = match run.await {
                Ok(output) => match output.into_failure() {
                    Some(cause) => Failure::Error(cause),
                    None if stop.is_cancelled() => break,
                    None => Failure::Ended,
                },
                Err(e) if e.is_panic() => Failure::Panic(panic_message(e.into_panic())),
                // Aborted from outside (the runtime is shutting down).
                Err(_) => break,
            };
            if stop.is_cancelled() {
                // Asked to stop anyway: say how it ended, do not restart.
                tracing::warn!(task = %name, failure = %failure, "background task ended badly while stopping");
                break;
            }
            let now = self.shared.clock.now();
            match history.record(now, self.shared.budget, self.shared.backoff) {
                Decision::Restart { after, failures } => {
                    tracing::error!(
                        task = %name,
                        failure = %failure,
                        failures,
                        budget = self.shared.budget.max_failures,
                        restart_in = ?after,
                        "background task failed; restarting it"
                    );
                    self.set_state(
                        &name,
                        Some(TaskState::Restarting {
                            failure,
                            failures,
                            since: now,
                        }),
                    );
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = self.shared.clock.sleep(after) => {}
                    }
                }
                Decision::GiveUp { failures } => {
                    tracing::error!(
                        task = %name,
                        failure = %failure,
                        failures,
                        window = ?self.shared.budget.window,
                        "background task keeps failing; stopping the process"
                    );
                    let fatal = Fatal {
                        task: name.clone(),
                        failures,
                        window: self.shared.budget.window,
                        failure: failure.clone(),
                    };
                    self.set_state(&name, Some(TaskState::GaveUp { failure }));
                    {
                        let mut slot = self.shared.fatal.lock().unwrap_or_else(PoisonError::into_inner);
                        slot.get_or_insert(fatal);
                    }
                    self.shared.shutdown.cancel();
                    return;
                }
            }
        }
        self.set_state(&name, None);
    }

    /// Every task that has not ended, by name, with what it is doing.
    pub fn tasks(&self) -> BTreeMap<String, TaskState> {
        self.shared.tasks.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The first task that gave up, if one did.
    pub fn fatal(&self) -> Option<Fatal> {
        self.shared.fatal.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits until the tasks named `names` have ended (their stop tokens
    /// were cancelled and their runs finished, or they gave up), at most
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// The names of those still running after `timeout`.
    pub async fn wait_for(&self, names: &[&str], timeout: Duration) -> Result<(), Vec<String>> {
        let remaining = || -> Vec<String> {
            let tasks = self.shared.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            // A task that gave up has ended (its entry stays for `/readyz`).
            names
                .iter()
                .filter(|name| {
                    tasks
                        .get(**name)
                        .is_some_and(|state| !matches!(state, TaskState::GaveUp { .. }))
                })
                .map(|name| (*name).to_owned())
                .collect()
        };
        let mut changes = self.shared.changes.subscribe();
        let ended = async {
            // Checked after subscribing, so no change is missed.
            while !remaining().is_empty() {
                if changes.changed().await.is_err() {
                    break;
                }
            }
        };
        match tokio::time::timeout(timeout, ended).await {
            Ok(()) => Ok(()),
            Err(_) => Err(remaining()),
        }
    }

    /// Waits until every task has ended (their stop tokens were cancelled
    /// and their runs finished), at most `timeout`.
    ///
    /// # Errors
    ///
    /// The names of the tasks still running after `timeout`.
    pub async fn wait(&self, timeout: Duration) -> Result<(), Vec<String>> {
        self.shared.tracker.close();
        match tokio::time::timeout(timeout, self.shared.tracker.wait()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.tasks().into_keys().collect()),
        }
    }
}

/// The text of a panic's payload (`panic!("…")` gives a `&str` or a `String`).
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "a panic without a message".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::clock::DrivenClock;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const BUDGET: RestartBudget = RestartBudget {
        max_failures: 3,
        window: Duration::from_secs(60),
    };
    const BACKOFF: RetryPolicy = RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(4));

    #[test]
    fn failures_back_off_exponentially_until_the_budget_is_spent() {
        let mut history = FailureHistory::default();
        assert_eq!(
            history.record(at(0), BUDGET, BACKOFF),
            Decision::Restart {
                after: Duration::from_secs(1),
                failures: 1
            }
        );
        assert_eq!(
            history.record(at(2), BUDGET, BACKOFF),
            Decision::Restart {
                after: Duration::from_secs(2),
                failures: 2
            }
        );
        assert_eq!(history.record(at(5), BUDGET, BACKOFF), Decision::GiveUp { failures: 3 });
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let mut history = FailureHistory::default();
        history.record(at(0), BUDGET, BACKOFF);
        history.record(at(30), BUDGET, BACKOFF);
        // The one at 0 s is 60 s old: only two count, so it restarts.
        assert_eq!(
            history.record(at(60), BUDGET, BACKOFF),
            Decision::Restart {
                after: Duration::from_secs(2),
                failures: 2
            }
        );
        // Rare failures never spend the budget.
        let mut rare = FailureHistory::default();
        for hour in 0..100 {
            assert!(matches!(
                rare.record(at(hour * 3600), BUDGET, BACKOFF),
                Decision::Restart { failures: 1, .. }
            ));
        }
    }

    #[test]
    fn the_default_budget_gives_up_after_five_quick_failures_about_seven_seconds_in() {
        let mut history = FailureHistory::default();
        let mut waited = Duration::ZERO;
        for _ in 0..4 {
            match history.record(at(waited.as_secs()), RESTART_BUDGET, RESTART_BACKOFF) {
                Decision::Restart { after, .. } => waited += after,
                other => panic!("gave up early: {other:?}"),
            }
        }
        assert_eq!(waited, Duration::from_millis(7500));
        assert_eq!(
            history.record(at(8), RESTART_BUDGET, RESTART_BACKOFF),
            Decision::GiveUp { failures: 5 }
        );
    }

    #[test]
    fn causes_name_the_whole_error_chain_and_panic_messages_are_read() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let result: Result<(), Outer> = Err(Outer(std::io::Error::other("inner")));
        assert_eq!(result.into_failure().as_deref(), Some("outer: inner"));
        assert_eq!(panic_message(Box::new("static")), "static");
        assert_eq!(panic_message(Box::new(String::from("owned"))), "owned");
        assert_eq!(panic_message(Box::new(7u8)), "a panic without a message");
    }

    /// Waits (yielding) until `condition` holds; the runner's tasks run meanwhile.
    async fn until(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_panicking_task_is_restarted_after_its_backoff_and_goes_on_working() {
        let driven = DrivenClock::starting_at(at(1000));
        let shutdown = CancellationToken::new();
        let supervisor = Supervisor::with_policy(driven.clock(), shutdown.clone(), BACKOFF, BUDGET);
        let runs = Arc::new(AtomicUsize::new(0));
        let work = Arc::new(AtomicUsize::new(0));
        let (runs_seen, work_done) = (Arc::clone(&runs), Arc::clone(&work));
        supervisor.spawn("worker", shutdown.child_token(), move |stop| {
            let run = runs_seen.fetch_add(1, Ordering::SeqCst);
            let work = Arc::clone(&work_done);
            async move {
                assert!(run != 0, "first run breaks");
                work.fetch_add(1, Ordering::SeqCst);
                stop.cancelled().await;
            }
        });
        // The first run panicked: the restart waits 1 s of the clock.
        assert_eq!(driven.wait_for_sleepers(1).await, vec![at(1001)]);
        let state = supervisor.tasks().remove("worker");
        assert!(
            matches!(&state, Some(TaskState::Restarting { failure: Failure::Panic(message), failures: 1, .. }) if message == "first run breaks"),
            "{state:?}"
        );
        assert_eq!(work.load(Ordering::SeqCst), 0);
        driven.advance(Duration::from_secs(1));
        until("the second run to work", || work.load(Ordering::SeqCst) == 1).await;
        assert_eq!(supervisor.tasks().get("worker"), Some(&TaskState::Running));
        assert!(!shutdown.is_cancelled());
        shutdown.cancel();
        supervisor.wait(Duration::from_secs(5)).await.expect("stops");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(supervisor.tasks().is_empty());
        assert_eq!(supervisor.fatal(), None);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the table is gone")]
    struct Broken;

    #[tokio::test]
    async fn a_task_that_keeps_failing_stops_the_process_with_a_fatal_failure() {
        let driven = DrivenClock::starting_at(at(0));
        let shutdown = CancellationToken::new();
        let supervisor = Supervisor::with_policy(driven.clock(), shutdown.clone(), BACKOFF, BUDGET);
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        supervisor.spawn("delivery", shutdown.child_token(), move |_stop| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(Broken) }
        });
        // Two restarts, after 1 s and 2 s; the third failure gives up.
        for delay in [1, 2] {
            let sleepers = driven.wait_for_sleepers(1).await;
            assert_eq!(sleepers.len(), 1);
            assert_eq!(
                sleepers[0].duration_since(driven.now()).ok(),
                Some(Duration::from_secs(delay))
            );
            driven.advance(Duration::from_secs(delay));
        }
        tokio::time::timeout(Duration::from_secs(10), shutdown.cancelled())
            .await
            .expect("the supervisor stops the process");
        let fatal = supervisor.fatal().expect("a fatal failure");
        assert_eq!(fatal.task, "delivery");
        assert_eq!(fatal.failures, 3);
        assert_eq!(fatal.failure, Failure::Error("the table is gone".to_owned()));
        assert!(fatal.to_string().contains("the table is gone"), "{fatal}");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        supervisor.wait(Duration::from_secs(5)).await.expect("ends");
    }

    #[tokio::test]
    async fn a_task_that_ends_by_itself_has_failed_but_one_asked_to_stop_has_not() {
        let driven = DrivenClock::starting_at(at(0));
        let shutdown = CancellationToken::new();
        let supervisor = Supervisor::with_policy(driven.clock(), shutdown.clone(), BACKOFF, BUDGET);
        let timer_stop = shutdown.child_token();
        supervisor.spawn(
            "timer",
            timer_stop.clone(),
            |stop| async move { stop.cancelled().await },
        );
        supervisor.spawn("quitter", shutdown.child_token(), |_| async {});
        driven.wait_for_sleepers(1).await;
        assert!(matches!(
            supervisor.tasks().get("quitter"),
            Some(TaskState::Restarting {
                failure: Failure::Ended,
                ..
            })
        ));
        // A channel leaves: its timer is stopped, not restarted.
        timer_stop.cancel();
        until("the timer to end", || !supervisor.tasks().contains_key("timer")).await;
        assert!(!shutdown.is_cancelled());
        shutdown.cancel();
        supervisor.wait(Duration::from_secs(5)).await.expect("stops");
        assert_eq!(supervisor.fatal(), None);
    }
}
