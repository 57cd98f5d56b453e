//! The `repositories` collector: every configured repository, read concurrently with a bound.
//!
//! For each repository one collection runs `restic snapshots`, `restic list locks` and
//! `restic cat lock ID` for each lock, all with `--json --no-lock`, under the repository's
//! deadline; for a local repository whose `locks/` folder is empty, only `snapshots`. `stats` and `check`, when enabled, run at most once per their interval: inline in
//! `once` and `textfile` (one collection per process), and in the background under `serve`, so
//! that a 10-second scrape never waits for (or starts a second) `check`: a scrape reports the
//! last finished result with the time it was taken.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use sysgauge_common::{BoxError, Collector, MetricSet, collector::error_chain, deadline};
use tokio::time::Instant;

use crate::{
    config::{Repository, Slow},
    error::Error,
    metrics::*,
    restic,
    snapshots::{Group, GroupKey, Lock, Snapshot, Stats, find_json, group, lock_ids, unix_seconds},
};

/// restic's rule: a lock not refreshed for 30 minutes is stale (`staleLockTimeout`).
pub const STALE_LOCK_AGE: f64 = 30.0 * 60.0;

/// At most this many lock files are read per collection; each read is a restic process that
/// derives the repository key.
pub const MAX_LOCK_READS: usize = 16;

/// How `stats` and `check` are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowMode {
    /// Awaited within the collection (`once`, `textfile`).
    Inline,
    /// Started in the background; collections report the last result (`serve`).
    Background,
}

/// Reads every repository.
#[derive(Debug)]
pub struct RepositoriesCollector {
    binary: std::path::PathBuf,
    repos: Vec<Arc<RepoState>>,
    concurrency: usize,
    slow_mode: SlowMode,
}

#[derive(Debug)]
struct RepoState {
    repo: Repository,
    stats: Mutex<SlowState<Stats>>,
    check: Mutex<SlowState<()>>,
}

/// The state of one slow operation of one repository.
#[derive(Debug)]
struct SlowState<T> {
    running: bool,
    last_start: Option<Instant>,
    last: Option<Finished<T>>,
}

impl<T> Default for SlowState<T> {
    fn default() -> Self {
        Self {
            running: false,
            last_start: None,
            last: None,
        }
    }
}

#[derive(Clone, Debug)]
struct Finished<T> {
    result: Result<T, &'static str>,
    at: f64,
    duration: f64,
}

/// What one read of a repository found.
#[derive(Debug, Default)]
struct RepoData {
    snapshots: usize,
    groups: BTreeMap<GroupKey, Group>,
    locks: usize,
    exclusive: usize,
    stale: usize,
    oldest_lock: Option<f64>,
}

impl RepositoriesCollector {
    /// A collector for `repos`, reading at most `concurrency` at once.
    pub fn new(
        binary: std::path::PathBuf,
        repos: Vec<Repository>,
        concurrency: usize,
        slow_mode: SlowMode,
    ) -> Self {
        let repos = repos
            .into_iter()
            .map(|repo| {
                Arc::new(RepoState {
                    repo,
                    stats: Mutex::default(),
                    check: Mutex::default(),
                })
            })
            .collect();
        Self {
            binary,
            repos,
            concurrency: concurrency.max(1),
            slow_mode,
        }
    }
}

#[async_trait]
impl Collector for RepositoriesCollector {
    fn name(&self) -> &'static str {
        "repositories"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        // `restic version` needs no repository; it gets the shortest repository deadline, at
        // most 5s, so that it never holds up the collection.
        let version_timeout = self
            .repos
            .iter()
            .map(|r| r.repo.timeout)
            .fold(Duration::from_secs(5), Duration::min);
        let version_deadline = deadline::within(version_timeout);
        let (version, mut results) = tokio::join!(
            restic::version(&self.binary, version_deadline),
            stream::iter(self.repos.clone().into_iter().enumerate())
                .map(|(i, state)| {
                    let mode = self.slow_mode;
                    async move { (i, collect_repository(&state, mode).await) }
                })
                .buffer_unordered(self.concurrency)
                .collect::<Vec<_>>()
        );
        results.sort_by_key(|(i, _)| *i);
        let mut set = MetricSet::new();
        if let Some(version) = version {
            set.add(&VERSION, [version], 1.0);
        }
        for (_, repo_set) in results {
            set.extend(repo_set);
        }
        Ok(set)
    }
}

async fn collect_repository(state: &Arc<RepoState>, mode: SlowMode) -> MetricSet {
    let repo = &state.repo;
    let name = repo.name.as_str();
    let mut set = MetricSet::new();
    let started = Instant::now();
    let (read, ()) = tokio::join!(read_repository(repo), run_slow(state, mode));
    set.add(&READ_DURATION, [name], started.elapsed().as_secs_f64());
    match read {
        Ok(data) => {
            set.add(&UP, [name], 1.0);
            report(&mut set, name, &data);
        }
        Err(e) => {
            tracing::warn!(repository = name, reason = e.reason(), error = %error_chain(&e), "cannot read the repository");
            set.add(&UP, [name], 0.0);
            set.add(&ERROR, [name, e.reason()], 1.0);
        }
    }
    report_slow(&mut set, state);
    set
}

fn report(set: &mut MetricSet, name: &str, data: &RepoData) {
    set.add(&SNAPSHOTS, [name], data.snapshots as f64);
    for (key, g) in &data.groups {
        let labels = || {
            [
                name.to_owned(),
                key.hostname.clone(),
                key.paths.clone(),
                key.tags.clone(),
            ]
        };
        set.add(&GROUP_SNAPSHOTS, labels(), g.count as f64);
        set.add(&GROUP_LATEST, labels(), g.latest_time);
        if let Some(v) = &g.latest.program_version {
            let [r, h, p, t] = labels();
            set.add(&GROUP_LATEST_PROGRAM, [r, h, p, t, v.clone()], 1.0);
        }
        if let Some(s) = &g.latest.summary {
            let fields = [
                (&GROUP_LATEST_FILES_NEW, s.files_new),
                (&GROUP_LATEST_FILES_CHANGED, s.files_changed),
                (&GROUP_LATEST_ADDED_BYTES, s.data_added),
                (&GROUP_LATEST_ADDED_PACKED_BYTES, s.data_added_packed),
                (&GROUP_LATEST_PROCESSED_FILES, s.total_files_processed),
                (&GROUP_LATEST_PROCESSED_BYTES, s.total_bytes_processed),
            ];
            for (desc, value) in fields {
                if let Some(v) = value {
                    set.add(desc, labels(), v as f64);
                }
            }
            let start = s.backup_start.as_deref().and_then(unix_seconds);
            let end = s.backup_end.as_deref().and_then(unix_seconds);
            if let (Some(start), Some(end)) = (start, end) {
                set.add(&GROUP_LATEST_DURATION, labels(), end - start);
            }
        }
    }
    set.add(&LOCKS, [name], data.locks as f64);
    set.add(&LOCKS_EXCLUSIVE, [name], data.exclusive as f64);
    set.add(&LOCKS_STALE, [name], data.stale as f64);
    if let Some(t) = data.oldest_lock {
        set.add(&LOCK_OLDEST, [name], t);
    }
}

/// Whether `folder` can be listed and has no entries.
fn folder_is_empty(folder: &std::path::Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_none())
}

async fn read_repository(repo: &Repository) -> Result<RepoData, Error> {
    // The repository's own timeout, cut to what the collection has left.
    let (deadline, timeout) = deadline::within_described(repo.timeout);
    let r = &repo.restic;

    let out = r.run("snapshots", &[], deadline, &timeout).await?;
    let snapshots: Vec<Snapshot> =
        find_json(&out.stdout).map_err(|message| Error::InvalidOutput {
            command: "snapshots",
            message,
        })?;
    let count = snapshots.len();
    let (groups, _) = group(snapshots);

    // A local repository without locks, the usual case, needs no restic for them: each
    // restic process derives the repository key (~0.4 s of CPU). When locks/ has anything in
    // it, or cannot be listed, restic lists and reads them.
    let ids: Vec<String> = if repo
        .local_path
        .as_ref()
        .is_some_and(|p| folder_is_empty(&p.join("locks")))
    {
        Vec::new()
    } else {
        let out = r.run("list", &["locks"], deadline, &timeout).await?;
        lock_ids(&out.stdout)
    };
    if ids.len() > MAX_LOCK_READS {
        tracing::warn!(
            repository = %repo.name,
            locks = ids.len(),
            "more locks than are read per collection; stale and exclusive counts cover the first {MAX_LOCK_READS}"
        );
    }
    let locks: Vec<Result<Option<Lock>, Error>> =
        stream::iter(ids.iter().take(MAX_LOCK_READS).cloned())
            .map(|id: String| {
                let timeout = timeout.clone();
                async move {
                    match r.run("cat", &["lock", &id], deadline, &timeout).await {
                        Ok(out) => find_json::<Lock>(&out.stdout).map(Some).map_err(|message| {
                            Error::InvalidOutput {
                                command: "cat lock",
                                message,
                            }
                        }),
                        // The restic that held it finished between `list` and `cat`.
                        Err(Error::Failed { message, .. })
                            if message.contains("no such file")
                                || message.contains("not exist") =>
                        {
                            Ok(None)
                        }
                        Err(e) => Err(e),
                    }
                }
            })
            .buffered(4)
            .collect()
            .await;

    let now = unix_now();
    let mut data = RepoData {
        snapshots: count,
        groups,
        ..RepoData::default()
    };
    data.locks = ids.len();
    for lock in locks {
        let Some(lock) = lock? else {
            data.locks -= 1;
            continue;
        };
        if lock.exclusive {
            data.exclusive += 1;
        }
        match unix_seconds(&lock.time) {
            Some(t) => {
                if now - t > STALE_LOCK_AGE {
                    data.stale += 1;
                }
                data.oldest_lock = Some(data.oldest_lock.map_or(t, |o: f64| o.min(t)));
            }
            None => {
                tracing::warn!(repository = %repo.name, time = %lock.time, "lock time is not RFC 3339")
            }
        }
    }
    Ok(data)
}

/// Starts or runs `stats` and `check` when they are due.
async fn run_slow(state: &Arc<RepoState>, mode: SlowMode) {
    let stats = state
        .repo
        .stats
        .filter(|s| claim(&state.stats, s))
        .map(|slow| {
            let state = Arc::clone(state);
            async move {
                let result = run_stats(&state.repo, slow).await;
                finish(&state.stats, result);
            }
        });
    let check = state
        .repo
        .check
        .filter(|s| claim(&state.check, s))
        .map(|slow| {
            let state = Arc::clone(state);
            async move {
                let result = run_check(&state.repo, slow).await;
                finish(&state.check, result);
            }
        });
    match mode {
        SlowMode::Inline => {
            let (_, _) = tokio::join!(
                async {
                    if let Some(f) = stats {
                        f.await
                    }
                },
                async {
                    if let Some(f) = check {
                        f.await
                    }
                }
            );
        }
        SlowMode::Background => {
            if let Some(f) = stats {
                tokio::spawn(f);
            }
            if let Some(f) = check {
                tokio::spawn(f);
            }
        }
    }
}

/// The state of a slow operation, locked; a panic elsewhere leaves it valid.
fn lock<T>(state: &Mutex<SlowState<T>>) -> std::sync::MutexGuard<'_, SlowState<T>> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Marks the operation as running if it is due and not running; true when the caller runs it.
fn claim<T>(state: &Mutex<SlowState<T>>, slow: &Slow) -> bool {
    let mut s = lock(state);
    let due = s.last_start.is_none_or(|t| t.elapsed() >= slow.interval);
    if s.running || !due {
        return false;
    }
    s.running = true;
    s.last_start = Some(Instant::now());
    true
}

fn finish<T>(state: &Mutex<SlowState<T>>, result: Finished<T>) {
    let mut s = lock(state);
    s.running = false;
    s.last = Some(result);
}

async fn run_stats(repo: &Repository, slow: Slow) -> Finished<Stats> {
    let started = Instant::now();
    let (until, timeout) = deadline::within_described(slow.timeout);
    let result = repo
        .restic
        .run("stats", &["--mode", "raw-data"], until, &timeout)
        .await
        .and_then(|out| {
            find_json::<Stats>(&out.stdout).map_err(|message| Error::InvalidOutput {
                command: "stats",
                message,
            })
        });
    finished(repo, "stats", started, result)
}

async fn run_check(repo: &Repository, slow: Slow) -> Finished<()> {
    let started = Instant::now();
    let (until, timeout) = deadline::within_described(slow.timeout);
    let result = repo
        .restic
        .run("check", &[], until, &timeout)
        .await
        .map(|_| ());
    finished(repo, "check", started, result)
}

/// What a slow operation that began at `started` came to; a failure is logged with its reason.
fn finished<T>(
    repo: &Repository,
    command: &str,
    started: Instant,
    result: Result<T, Error>,
) -> Finished<T> {
    let result = result.map_err(|e| {
        tracing::warn!(repository = %repo.name, reason = e.reason(), error = %error_chain(&e), "restic {command} failed");
        e.reason()
    });
    Finished {
        result,
        at: unix_now(),
        duration: started.elapsed().as_secs_f64(),
    }
}

fn report_slow(set: &mut MetricSet, state: &RepoState) {
    let name = state.repo.name.as_str();
    let stats = lock(&state.stats).last.clone();
    if let Some(f) = stats {
        set.add(
            &STATS_SUCCESS,
            [name],
            f64::from(u8::from(f.result.is_ok())),
        );
        set.add(&STATS_TIMESTAMP, [name], f.at);
        if let Ok(s) = f.result {
            set.add(&SIZE, [name], s.total_size as f64);
            if let Some(v) = s.total_uncompressed_size {
                set.add(&UNCOMPRESSED_SIZE, [name], v as f64);
            }
            if let Some(v) = s.total_blob_count {
                set.add(&BLOBS, [name], v as f64);
            }
        }
    }
    let check = lock(&state.check).last.clone();
    if let Some(f) = check {
        set.add(
            &CHECK_SUCCESS,
            [name],
            f64::from(u8::from(f.result.is_ok())),
        );
        set.add(&CHECK_TIMESTAMP, [name], f.at);
        set.add(&CHECK_DURATION, [name], f.duration);
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
