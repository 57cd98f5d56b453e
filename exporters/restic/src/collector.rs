//! The `repositories` collector: every configured repository, read concurrently with a bound.
//!
//! For each repository one read runs `restic snapshots`, `restic list locks` and
//! `restic cat lock ID` for each lock, all with `--json --no-lock`, under the repository's
//! deadline; for a local repository whose `locks/` folder is empty, only `snapshots`. Under
//! `serve` a read is reused until the repository's `read_interval` has passed: a scrape in
//! between costs no restic process and reports the last read with the time it was taken
//! (`sysgauge_restic_repository_read_timestamp_seconds`); two scrapes at once share one read.
//! `stats` and `check`, when enabled, run at most once per their interval: inline in
//! `once` and `textfile` (one collection per process), and in the background under `serve`, so
//! that a 10-second scrape never waits for (or starts a second) `check`: a scrape reports the
//! last finished result with the time it was taken.
//!
//! What restic prints on stderr while it exits 0 is a warning (a corrupt snapshot file is
//! skipped with one): each is logged and counted. A lock file restic cannot read is counted on
//! its own series; the snapshots are still reported.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use sysgauge_common::{
    BoxError, Collector, MetricSet,
    collector::error_chain,
    deadline,
    fs::{FileProblem, SECRET_FILE_LIMIT, check_regular},
    sync::lock,
};
use tokio::time::Instant;

use crate::{
    config::{Repository, Slow},
    error::Error,
    metrics::*,
    repo_check::{self, CheckReport},
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
    /// Never run (`check`: a plugin has seconds; it reads the results that the timer's
    /// textfile or the serve instance recorded, with `--from`).
    Skip,
}

/// Reads every repository.
#[derive(Debug)]
pub struct RepositoriesCollector {
    binary: std::path::PathBuf,
    repos: Vec<Arc<RepoState>>,
    concurrency: usize,
    slow_mode: SlowMode,
    /// Under `serve`, the version of the restic binary and when it was asked, asked again
    /// after the shortest `read_interval`.
    version: tokio::sync::Mutex<Option<(Instant, Option<String>)>>,
}

#[derive(Debug)]
struct RepoState {
    repo: Repository,
    /// The last read of snapshots and locks, as reported; reused under `serve` until
    /// `read_interval` has passed. The async lock makes a second scrape wait for a read in
    /// flight rather than start another restic.
    last_read: tokio::sync::Mutex<Option<LastRead>>,
    stats: Mutex<SlowState<Stats>>,
    check: Mutex<SlowState<CheckOutcome>>,
}

/// A `restic check` that ran to its end: what it found, and the part of the data it read.
#[derive(Clone, Debug)]
struct CheckOutcome {
    report: CheckReport,
    /// `(n, N)` of `--read-data-subset n/N`.
    part: Option<(usize, usize)>,
}

/// One read of a repository's snapshots and locks and the series it gave.
#[derive(Debug)]
struct LastRead {
    taken: Instant,
    set: MetricSet,
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

/// A lock file restic read, with the warnings it printed while reading it.
type ReadLock = (Lock, Vec<String>);

/// What one read of a repository found.
#[derive(Debug, Default)]
struct RepoData {
    snapshots: usize,
    groups: BTreeMap<GroupKey, Group>,
    locks: usize,
    exclusive: usize,
    stale: usize,
    unreadable_locks: usize,
    oldest_lock: Option<f64>,
    warnings: usize,
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
                    last_read: tokio::sync::Mutex::default(),
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
            version: tokio::sync::Mutex::default(),
        }
    }

    /// `restic version`: under `serve` reused for the shortest `read_interval`, so that a
    /// scrape with nothing new to read starts no restic.
    async fn version(&self) -> Option<String> {
        // `restic version` needs no repository; it gets the shortest repository deadline, at
        // most 5s, so that it never holds up the collection.
        let version_timeout = self
            .repos
            .iter()
            .map(|r| r.repo.timeout)
            .fold(Duration::from_secs(5), Duration::min);
        let mut cached = self.version.lock().await;
        let interval = self.repos.iter().map(|r| r.repo.read_interval).min();
        if self.slow_mode == SlowMode::Background
            && let (Some((taken, version)), Some(interval)) = (&*cached, interval)
            && taken.elapsed() < interval
        {
            return version.clone();
        }
        let taken = Instant::now();
        let version = restic::version(&self.binary, deadline::within(version_timeout)).await;
        *cached = Some((taken, version.clone()));
        version
    }
}

#[async_trait]
impl Collector for RepositoriesCollector {
    fn name(&self) -> &'static str {
        "repositories"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let (version, mut results) = tokio::join!(
            self.version(),
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
    let (mut set, ()) = tokio::join!(last_or_new_read(state, mode), run_slow(state, mode));
    report_slow(&mut set, state);
    set
}

/// The series of the last read when it is recent enough (`serve` only), else of a new read.
async fn last_or_new_read(state: &RepoState, mode: SlowMode) -> MetricSet {
    let mut last = state.last_read.lock().await;
    if mode == SlowMode::Background
        && let Some(l) = &*last
        && l.taken.elapsed() < state.repo.read_interval
    {
        return l.set.clone();
    }
    let taken = Instant::now();
    let set = read_and_report(&state.repo).await;
    *last = Some(LastRead {
        taken,
        set: set.clone(),
    });
    set
}

/// Reads the repository's snapshots and locks now; the series, with the read's time.
async fn read_and_report(repo: &Repository) -> MetricSet {
    let name = repo.name.as_str();
    let mut set = MetricSet::new();
    let at = unix_now();
    let started = Instant::now();
    if let Some(loose) = password_file_loose(repo) {
        set.add(&PASSWORD_FILE_LOOSE, [name], f64::from(u8::from(loose)));
    }
    let read = read_repository(repo).await;
    set.add(&READ_DURATION, [name], started.elapsed().as_secs_f64());
    set.add(&READ_TIMESTAMP, [name], at);
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
    set
}

/// Whether the repository's password file can be read by its group or others (`None`: no
/// password file, or none to look at). restic accepts such a file silently; it is a warning
/// here, logged on each read. A systemd credential is always private.
fn password_file_loose(repo: &Repository) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt;
    let (_, path) = repo
        .restic
        .env
        .iter()
        .find(|(k, _)| k == "RESTIC_PASSWORD_FILE")?;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    let loose = mode & 0o077 != 0;
    if loose {
        tracing::warn!(
            repository = %repo.name,
            path = %std::path::Path::new(path).display(),
            mode = format_args!("{:04o}", mode & 0o7777),
            "the password file can be read by its group or others; chmod 600 it"
        );
    }
    Some(loose)
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
                (&GROUP_LATEST_FILES_UNMODIFIED, s.files_unmodified),
                (&GROUP_LATEST_DIRS_NEW, s.dirs_new),
                (&GROUP_LATEST_DIRS_CHANGED, s.dirs_changed),
                (&GROUP_LATEST_DIRS_UNMODIFIED, s.dirs_unmodified),
                (&GROUP_LATEST_DATA_BLOBS, s.data_blobs),
                (&GROUP_LATEST_TREE_BLOBS, s.tree_blobs),
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
    set.add(&LOCKS_UNREADABLE, [name], data.unreadable_locks as f64);
    set.add(&WARNINGS, [name], data.warnings as f64);
    if let Some(t) = data.oldest_lock {
        set.add(&LOCK_OLDEST, [name], t);
    }
}

/// Whether `folder` can be listed and has no entries.
fn folder_is_empty(folder: &std::path::Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_none())
}

/// Checks the files restic will read for the password and the repository location before
/// restic is started: a FIFO there would hold restic until its deadline, a device or a huge file
/// would be read whole. Each must be a regular file of at most [`SECRET_FILE_LIMIT`] bytes.
fn check_input_files(restic: &restic::Restic) -> Result<(), Error> {
    for (key, value) in &restic.env {
        let password = match key.as_str() {
            "RESTIC_PASSWORD_FILE" => true,
            "RESTIC_REPOSITORY_FILE" => false,
            _ => continue,
        };
        match check_regular(std::path::Path::new(value), Some(SECRET_FILE_LIMIT)) {
            // A missing file is left to restic, which reports it in its own words.
            Err(e) if !matches!(e.problem, FileProblem::NotFound) => {
                return Err(if password {
                    Error::PasswordUnavailable {
                        message: format!("password file {e}"),
                    }
                } else {
                    Error::RepositoryMissing {
                        message: format!("repository file {e}"),
                    }
                });
            }
            _ => {}
        }
    }
    Ok(())
}

async fn read_repository(repo: &Repository) -> Result<RepoData, Error> {
    // The repository's own timeout, cut to what the collection has left.
    let (deadline, timeout) = deadline::within_described(repo.timeout);
    let r = &repo.restic;
    check_input_files(r)?;

    let mut warnings = 0;
    let mut warn = |command: &str, lines: &[String]| {
        for line in lines {
            tracing::warn!(repository = %repo.name, command, warning = %line, "restic warned");
        }
        warnings += lines.len();
    };
    let out = r.run("snapshots", &[], deadline, &timeout).await?;
    warn("snapshots", &out.warnings);
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
        warn("list locks", &out.warnings);
        lock_ids(&out.stdout)
    };
    if ids.len() > MAX_LOCK_READS {
        tracing::warn!(
            repository = %repo.name,
            locks = ids.len(),
            "more locks than are read per collection; stale and exclusive counts cover the first {MAX_LOCK_READS}"
        );
    }
    let locks: Vec<Result<Option<ReadLock>, Error>> =
        stream::iter(ids.iter().take(MAX_LOCK_READS).cloned())
            .map(|id: String| {
                let timeout = timeout.clone();
                async move {
                    match r.run("cat", &["lock", &id], deadline, &timeout).await {
                        Ok(out) => find_json::<Lock>(&out.stdout)
                            .map(|lock| Some((lock, out.warnings)))
                            .map_err(|message| Error::InvalidOutput {
                                command: "cat lock",
                                message,
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
    for (lock, id) in locks.into_iter().zip(&ids) {
        let lock = match lock {
            Ok(Some((lock, lines))) => {
                warn("cat lock", &lines);
                lock
            }
            Ok(None) => {
                data.locks -= 1;
                continue;
            }
            // A lock file restic cannot decrypt or parse (corrupt, half-written by a restic
            // that was killed) is counted on its own; the snapshots are still good.
            Err(e @ (Error::Failed { .. } | Error::InvalidOutput { .. })) => {
                tracing::warn!(repository = %repo.name, lock = %id, error = %error_chain(&e), "cannot read a lock file");
                data.unreadable_locks += 1;
                continue;
            }
            Err(e) => return Err(e),
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
    data.warnings = warnings;
    Ok(data)
}

/// Starts or runs `stats` and `check` when they are due.
async fn run_slow(state: &Arc<RepoState>, mode: SlowMode) {
    if mode == SlowMode::Skip {
        return;
    }
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
        SlowMode::Skip => {}
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
    let result = match check_input_files(&repo.restic) {
        Err(e) => Err(e),
        Ok(()) => repo
            .restic
            .run("stats", &["--mode", "raw-data"], until, &timeout)
            .await
            .and_then(|out| {
                find_json::<Stats>(&out.stdout).map_err(|message| Error::InvalidOutput {
                    command: "stats",
                    message,
                })
            }),
    };
    finished(repo, "stats", started, result)
}

async fn run_check(repo: &Repository, slow: Slow) -> Finished<CheckOutcome> {
    let started = Instant::now();
    let (until, timeout) = deadline::within_described(slow.timeout);
    let part = repo.check_subset.as_ref().map(|s| (s.next(), s.parts));
    let subset = part.map(|(n, total)| format!("{n}/{total}"));
    let args: Vec<&str> = match &subset {
        Some(subset) => vec!["--read-data-subset", subset],
        None => vec![],
    };
    let result = match check_input_files(&repo.restic) {
        Err(e) => Err(e),
        Ok(()) => repo
            .restic
            .run_raw("check", &args, until, &timeout)
            .await
            .and_then(|out| {
                let ok = out.code == Some(0);
                match repo_check::parse(ok, &out.stdout, &out.stderr) {
                    Some(report) => Ok(CheckOutcome { report, part }),
                    None => Err(restic::classify("check", out.code, &out.stderr)),
                }
            }),
    };
    if let Ok(outcome) = &result {
        // The part was read to its end, errors or not: the next run reads the next one.
        if let (Some(subset), Some((n, _))) = (&repo.check_subset, outcome.part) {
            subset.advance(n);
        }
        let r = &outcome.report;
        if r.errors > 0 {
            tracing::warn!(repository = %repo.name, errors = r.errors, suggest_repair_index = r.suggest_repair_index, suggest_prune = r.suggest_prune, "restic check failed: the repository contains errors");
        }
    }
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
        let passed = f.result.as_ref().is_ok_and(|o| o.report.errors == 0);
        set.add(&CHECK_SUCCESS, [name], f64::from(u8::from(passed)));
        set.add(&CHECK_TIMESTAMP, [name], f.at);
        set.add(&CHECK_DURATION, [name], f.duration);
        if let Ok(o) = &f.result {
            let flag = |b: bool| f64::from(u8::from(b));
            set.add(&CHECK_ERRORS, [name], o.report.errors as f64);
            set.add(
                &CHECK_SUGGEST_REPAIR_INDEX,
                [name],
                flag(o.report.suggest_repair_index),
            );
            set.add(&CHECK_SUGGEST_PRUNE, [name], flag(o.report.suggest_prune));
            if let Some((n, total)) = o.part {
                set.add(&CHECK_READ_DATA_PART, [name], n as f64);
                set.add(&CHECK_READ_DATA_PARTS, [name], total as f64);
            }
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
