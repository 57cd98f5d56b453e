//! Configuration values with stated bounds, checked where they are read.
//!
//! Every duration and count a user gives (a flag or a key of the configuration file) has a
//! range, written in its type: [`BoundedDuration`] and [`BoundedCount`] refuse a value outside
//! it while the flag or the file is parsed, so the error names the flag (clap) or the file,
//! line and key (the TOML parser's span), and the process exits 2 before anything runs. Without
//! the bound a huge duration overflows `Instant + Duration` on the first collection and a huge
//! count exceeds tokio's semaphore limit; both abort the release binary.
//!
//! The ranges are wide enough for every sensible use and narrow enough that no arithmetic the
//! exporters do with them can overflow. docs/config.md lists them ("Limits"); a test there keeps
//! the table and these types in step.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, de};

/// A duration between `MIN_MS` and `MAX_MS` milliseconds, written as humantime text ("10s",
/// "1h 30m") in flags and in the configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedDuration<const MIN_MS: u64, const MAX_MS: u64>(Duration);

impl<const MIN_MS: u64, const MAX_MS: u64> BoundedDuration<MIN_MS, MAX_MS> {
    /// The least value accepted.
    pub const MIN: Duration = Duration::from_millis(MIN_MS);
    /// The greatest value accepted.
    pub const MAX: Duration = Duration::from_millis(MAX_MS);

    /// `duration`, when it is within the range; else a message stating the range.
    pub fn new(duration: Duration) -> Result<Self, String> {
        if (Self::MIN..=Self::MAX).contains(&duration) {
            Ok(Self(duration))
        } else {
            Err(format!(
                "{} is out of range: must be between {} and {}",
                humantime::format_duration(duration),
                humantime::format_duration(Self::MIN),
                humantime::format_duration(Self::MAX)
            ))
        }
    }

    /// A default known to be in range; a default out of range is a bug, caught at compile time
    /// when used in a `const`.
    pub const fn from_const(duration: Duration) -> Self {
        assert!(
            duration.as_millis() >= MIN_MS as u128 && duration.as_millis() <= MAX_MS as u128,
            "default out of range"
        );
        Self(duration)
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl<const MIN_MS: u64, const MAX_MS: u64> FromStr for BoundedDuration<MIN_MS, MAX_MS> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let duration = humantime::parse_duration(text.trim())
            .map_err(|e| format!("{text:?} is not a duration (e.g. 10s, 1m30s, 26h): {e}"))?;
        Self::new(duration)
    }
}

impl<'de, const MIN_MS: u64, const MAX_MS: u64> Deserialize<'de>
    for BoundedDuration<MIN_MS, MAX_MS>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<const A: u64, const B: u64>;
        impl<const A: u64, const B: u64> de::Visitor<'_> for Visitor<A, B> {
            type Value = BoundedDuration<A, B>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"10s\" or \"1h 30m\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor::<MIN_MS, MAX_MS>)
    }
}

impl<const MIN_MS: u64, const MAX_MS: u64> fmt::Display for BoundedDuration<MIN_MS, MAX_MS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

/// A count between `MIN` and `MAX`, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedCount<const MIN: usize, const MAX: usize>(usize);

impl<const MIN: usize, const MAX: usize> BoundedCount<MIN, MAX> {
    /// `count`, when it is within the range; else a message stating the range.
    pub fn new(count: u64) -> Result<Self, String> {
        match usize::try_from(count) {
            Ok(n) if (MIN..=MAX).contains(&n) => Ok(Self(n)),
            _ => Err(format!(
                "{count} is out of range: must be between {MIN} and {MAX}"
            )),
        }
    }

    /// A default known to be in range, checked at compile time when used in a `const`.
    pub const fn from_const(count: usize) -> Self {
        assert!(count >= MIN && count <= MAX, "default out of range");
        Self(count)
    }

    /// The count.
    pub const fn get(self) -> usize {
        self.0
    }
}

impl<const MIN: usize, const MAX: usize> FromStr for BoundedCount<MIN, MAX> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let count: u64 = text
            .trim()
            .parse()
            .map_err(|e| format!("{text:?} is not a whole number from {MIN} to {MAX}: {e}"))?;
        Self::new(count)
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for BoundedCount<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<const A: usize, const B: usize>;
        impl<const A: usize, const B: usize> de::Visitor<'_> for Visitor<A, B> {
            type Value = BoundedCount<A, B>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from {A} to {B}")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                BoundedCount::new(n).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                let n = u64::try_from(n).map_err(|_| {
                    E::custom(format!("{n} is out of range: must be between {A} and {B}"))
                })?;
                self.visit_u64(n)
            }
        }
        deserializer.deserialize_u64(Visitor::<MIN, MAX>)
    }
}

impl<const MIN: usize, const MAX: usize> fmt::Display for BoundedCount<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

const SECOND: u64 = 1000;
const HOUR: u64 = 3600 * SECOND;
const DAY: u64 = 24 * HOUR;

/// The deadline of a collector or of one operation in it (a probe, a restic command, a D-Bus
/// call): 1ms to 24h. A day covers `restic check` of a large repository run inline by
/// `textfile`.
pub type Timeout = BoundedDuration<1, DAY>;

/// The bound of a whole `check` run (`-t`, `[check] timeout`): 1s to 1h.
pub type CheckTimeout = BoundedDuration<SECOND, HOUR>;

/// How often a slow operation runs (restic `stats_interval`, `check_interval`): 1s to 366d.
pub type Interval = BoundedDuration<SECOND, { 366 * DAY }>;

/// The most a backup may age before it is stale (sysgauge-backup `max_age`): 1s to 3660d
/// (ten years), so that `now - max_age` stays a valid time.
pub type MaxAge = BoundedDuration<SECOND, { 3660 * DAY }>;

/// A size in bytes (sysgauge-backup `min_size_bytes`): 1 B to 1 PiB.
pub type SizeBytes = BoundedCount<1, { 1 << 50 }>;

/// A share in percent (sysgauge-backup `min_size_percent`): 1 to 100.
pub type Percent = BoundedCount<1, 100>;

/// `--web.max-requests`: 0 (no limit) to 10000 requests served at once.
pub type MaxRequests = BoundedCount<0, 10_000>;

/// `--web.max-connections`: 1 to 65536 connections open at once.
pub type MaxConnections = BoundedCount<1, 65_536>;

/// How many operations run at once against one peer (D-Bus calls of sysgauge-systemd,
/// restic processes): 1 to 1024, far below tokio's semaphore limit.
pub type Concurrency = BoundedCount<1, 1024>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_out_of_range_are_refused_with_the_range() {
        assert_eq!(
            "10s".parse::<Timeout>().unwrap().get(),
            Duration::from_secs(10)
        );
        let err = "100000000h".parse::<Timeout>().unwrap_err();
        assert!(
            err.contains("out of range") && err.contains("1day"),
            "{err}"
        );
        let err = "0s".parse::<Timeout>().unwrap_err();
        assert!(err.contains("1ms"), "{err}");
        let err = "99999999999999999999999s".parse::<Timeout>().unwrap_err();
        assert!(err.contains("not a duration"), "{err}");
        assert!("500ms".parse::<Interval>().is_err());
        assert_eq!(Timeout::MAX, Duration::from_secs(86_400));
    }

    #[test]
    fn counts_out_of_range_are_refused_with_the_range() {
        assert_eq!("64".parse::<Concurrency>().unwrap().get(), 64);
        assert!(
            "0".parse::<Concurrency>()
                .unwrap_err()
                .contains("between 1 and 1024")
        );
        assert!("18446744073709551615".parse::<Concurrency>().is_err());
        assert!("-1".parse::<MaxRequests>().is_err());
        assert_eq!("0".parse::<MaxRequests>().unwrap().get(), 0);
    }

    #[test]
    fn serde_errors_carry_the_toml_span() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            timeout: Option<Timeout>,
            n: Option<Concurrency>,
        }
        let e = toml::from_str::<T>("n = 3\ntimeout = \"9999999h\"\n").unwrap_err();
        assert_eq!(e.span().map(|s| s.start), Some(16), "{e}");
        let e = toml::from_str::<T>("n = -5\n").unwrap_err();
        assert!(e.message().contains("out of range"), "{e}");
        let e = toml::from_str::<T>("n = 99999999\n").unwrap_err();
        assert!(e.message().contains("between 1 and 1024"), "{e}");
        let ok = toml::from_str::<T>("n = 3\ntimeout = \"2s\"\n").unwrap();
        assert_eq!(ok.timeout.map(Timeout::get), Some(Duration::from_secs(2)));
    }
}
