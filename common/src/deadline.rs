//! Deadlines: one rule for how a collector's time is split among its sub-tasks, and instant
//! arithmetic that cannot overflow.
//!
//! A collector runs under `--collector.timeout`. Sub-tasks (a probe per endpoint, a restic
//! process per repository, a `zfs list`, a D-Bus call) get their own, shorter deadline, so that a
//! hung sub-task is reported as such (a metric with a reason, a log line naming the object) while
//! the collection as a whole still answers. The rule, used by every exporter:
//!
//! - a sub-task may use [`share`] of the collector's timeout: the timeout less a margin of 10%,
//!   at most one second (10s leaves 9s; 2s leaves 1.8s);
//! - inside a running collection, [`within`] gives a sub-task its own timeout, cut to the
//!   collection's deadline less that margin.
//!
//! `Instant + Duration` panics when the sum does not fit, which a duration such as
//! `"100000000 years"` from a configuration file would do. Every deadline here is computed with
//! [`after`], which caps the duration at [`FAR_FUTURE`] instead.

use std::time::Duration;

use tokio::time::Instant;

/// The longest wait a deadline stands for: about 30 years, as in tokio's own timers. Any longer
/// duration is treated as this one, i.e. as "no deadline in practice".
pub const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The most a collector keeps back from its sub-tasks: one second.
pub const MAX_MARGIN: Duration = Duration::from_secs(1);

/// The instant `timeout` from now; a `timeout` longer than [`FAR_FUTURE`] counts as
/// [`FAR_FUTURE`], so this never overflows.
pub fn after(timeout: Duration) -> Instant {
    add(Instant::now(), timeout)
}

/// `start + timeout`, capped like [`after`].
pub fn add(start: Instant, timeout: Duration) -> Instant {
    // 30 years always fit in the monotonic clock; the fallbacks only keep this free of panics.
    start
        .checked_add(timeout.min(FAR_FUTURE))
        .or_else(|| start.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(start)
}

/// The part of a collector's `timeout` that its sub-tasks may use: the timeout less 10%, at most
/// [`MAX_MARGIN`].
pub fn share(timeout: Duration) -> Duration {
    timeout.saturating_sub((timeout / 10).min(MAX_MARGIN))
}

/// The deadline of a sub-task that may take `own`, starting now: `own` from now, but inside a
/// collection never later than the collection's deadline less the margin [`share`] keeps back.
///
/// Outside a collection (a background task, which does not inherit the collection's
/// task-local deadline) it is `own` from now.
pub fn within(own: Duration) -> Instant {
    Limit::current().within(own)
}

/// The latest a sub-task of the running collection may end, captured so that it can be taken
/// into spawned tasks (a task-local deadline does not follow `tokio::spawn`).
#[derive(Clone, Copy, Debug)]
pub struct Limit(Option<Instant>);

impl Limit {
    /// The running collection's limit; none outside a collection.
    pub fn current() -> Self {
        Self(crate::collector::sub_task_deadline())
    }

    /// Like [`within`], under this limit.
    pub fn within(self, own: Duration) -> Instant {
        let mine = after(own);
        match self.0 {
            Some(limit) => mine.min(limit),
            None => mine,
        }
    }
}

/// The deadline of a sub-task that may take `own` ([`within`]), and how to describe it in an
/// error message: `own` itself (e.g. `3s 600ms`), or, where the collection's deadline cut it
/// short by more than scheduling delays (100ms), what was left (`1s 200ms (the rest of the
/// collector's timeout)`).
pub fn within_described(own: Duration) -> (Instant, String) {
    let at = within(own);
    let left = at.saturating_duration_since(Instant::now());
    let text = if left + Duration::from_millis(100) >= own.min(FAR_FUTURE) {
        format(own)
    } else {
        format!("{} (the rest of the collector's timeout)", format(left))
    };
    (at, text)
}

/// `timeout` as text for a log line or an error message, e.g. `1s 800ms` (rounded up to
/// milliseconds, so that the time left until a deadline set a moment ago reads as set).
pub fn format(timeout: Duration) -> String {
    let millis = timeout.as_nanos().div_ceil(1_000_000);
    let millis = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
    humantime::format_duration(millis).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(add(now, Duration::MAX), add(now, FAR_FUTURE));
        assert!(after(Duration::MAX) > now + Duration::from_secs(86_400 * 365));
        assert_eq!(add(now, Duration::ZERO), now);
        // `within` outside a collection is `after`.
        assert!(within(Duration::MAX) > now + Duration::from_secs(86_400 * 365));
        assert_eq!(within_described(Duration::from_secs(3)).1, "3s");
        assert_eq!(within_described(Duration::MAX).1, format(Duration::MAX));
    }

    #[test]
    fn share_keeps_back_ten_percent_at_most_a_second() {
        assert_eq!(share(Duration::from_secs(10)), Duration::from_secs(9));
        assert_eq!(share(Duration::from_secs(2)), Duration::from_millis(1800));
        assert_eq!(share(Duration::from_secs(60)), Duration::from_secs(59));
        assert_eq!(share(Duration::ZERO), Duration::ZERO);
        assert_eq!(share(Duration::MAX), Duration::MAX - MAX_MARGIN);
    }

    #[test]
    fn durations_print_to_the_millisecond() {
        assert_eq!(format(Duration::from_nanos(1_799_999_123)), "1s 800ms");
        assert_eq!(format(Duration::from_millis(1800)), "1s 800ms");
        assert_eq!(
            format(Duration::MAX),
            format(Duration::from_millis(u64::MAX))
        );
    }
}
