//! Artifact targets: the files a path or glob matches, the newest one's age and size, and
//! content checks that catch a truncated backup.
//!
//! `last_success` is the modification time of the newest matching file that passes the
//! target's checks. Files are checked newest first, at most [`MAX_CHECKED`] of them per
//! collection, and each verdict is cached by (device, inode, size, mtime), so a file is read
//! once per version, not once per scrape. Without checks, it is the newest file's mtime.
//!
//! A file whose mtime is more than [`FUTURE_TOLERANCE`] ahead of the clock is counted and
//! logged, and otherwise ignored: it would be "fresh" until that time. A file smaller than
//! `min_size_bytes` is no good backup either (logged; the next older one may be). With
//! `min_size_percent`, the second newest file's size is reported so that a rule can compare the
//! newest against it: a dump that suddenly shrinks is the classic sign of a source that was not
//! mounted.
//!
//! A gzip check reads the whole file. When it does not finish within the collection's
//! deadline it keeps running in its own thread: this collection reports the target from what
//! is already known (an older verified file, or none), and a later one uses the verdict. A
//! target whose previous check is still running is reported from the cache only.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use sysgauge_common::{
    BoxError, Collector, MetricSet,
    fs::{EXPAND_LIMIT, FileError},
    path_label,
    sync::lock,
};

use crate::{
    config::{Check, Source, Target},
    content::{Verdict, check_file},
    error::Error,
    metrics::*,
};

/// The most files checked per target and collection, newest first, when looking for the newest
/// complete one.
pub const MAX_CHECKED: usize = 3;

/// How far ahead of the clock a file's mtime may be before it counts as in the future: clocks
/// of a NAS and of this host may differ a little.
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(60);

/// Identifies one version of one file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

#[derive(Clone, Debug)]
enum Cached {
    Running,
    Done(Verdict),
}

/// One matching file.
#[derive(Clone, Debug)]
struct Found {
    path: PathBuf,
    mtime: f64,
    len: u64,
    key: FileKey,
}

/// What one evaluation of a target found.
#[derive(Debug)]
struct Report {
    files: usize,
    /// Entries of the path that are not readable regular files (dangling links, FIFOs,
    /// unreadable directories, a missing path).
    errors: Vec<FileError>,
    newest: Option<Found>,
    /// The second newest file, when the target compares sizes.
    previous: Option<Found>,
    /// Files with an mtime in the future.
    future: usize,
    /// The newest file's verdict; `None` without checks or while its check runs.
    newest_complete: Option<bool>,
    last_success: f64,
}

/// One artifact target with its verdict cache.
#[derive(Debug)]
struct ArtifactTarget {
    target: Target,
    path: String,
    checks: Vec<Check>,
    min_size: Option<u64>,
    min_percent: Option<u64>,
    cache: Mutex<HashMap<FileKey, Cached>>,
    /// A full evaluation (which may read whole files) is running.
    busy: AtomicBool,
}

/// Resets `busy` when the evaluation thread ends, even by a panic.
struct BusyGuard(Arc<ArtifactTarget>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

/// The collector of every artifact target.
#[derive(Debug)]
pub struct ArtifactsCollector {
    targets: Vec<Arc<ArtifactTarget>>,
    deadline: Duration,
}

impl ArtifactsCollector {
    /// A collector for the artifact targets among `targets`. `deadline` is how long a target's
    /// evaluation may take before the collection falls back to cached verdicts; keep it under
    /// the collector timeout.
    pub fn new(targets: &[Target], deadline: Duration) -> Option<Self> {
        let targets: Vec<_> = targets
            .iter()
            .filter_map(|t| match &t.source {
                Source::Artifact {
                    path,
                    checks,
                    min_size,
                    min_percent,
                } => Some(Arc::new(ArtifactTarget {
                    target: t.clone(),
                    path: path.clone(),
                    checks: checks.clone(),
                    min_size: *min_size,
                    min_percent: *min_percent,
                    cache: Mutex::new(HashMap::new()),
                    busy: AtomicBool::new(false),
                })),
                _ => None,
            })
            .collect();
        (!targets.is_empty()).then_some(Self { targets, deadline })
    }
}

#[async_trait]
impl Collector for ArtifactsCollector {
    fn name(&self) -> &'static str {
        "artifacts"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let tasks: Vec<_> = self
            .targets
            .iter()
            .map(|t| tokio::spawn(evaluate_within(Arc::clone(t), self.deadline)))
            .collect();
        let mut set = MetricSet::new();
        for (t, task) in self.targets.iter().zip(tasks) {
            let report = task
                .await
                .map_err(|e| Error::Internal(format!("evaluation task failed: {e}")))
                .and_then(|r| r);
            report_artifact(&mut set, t, &report);
        }
        Ok(set)
    }
}

/// Evaluates `t` in its own thread, waiting at most `deadline`; after that, or when a previous
/// evaluation is still running, reports from the cache.
async fn evaluate_within(t: Arc<ArtifactTarget>, deadline: Duration) -> Result<Report, Error> {
    let cached_only = |t: Arc<ArtifactTarget>| async move {
        tokio::task::spawn_blocking(move || evaluate(&t, false))
            .await
            .map_err(|e| Error::Internal(format!("evaluation task failed: {e}")))?
    };
    // A Nagios check has seconds and no cache: content checks are read from what the timer's
    // textfile or the serve instance recorded (`check --from`), never run inline.
    if sysgauge_common::check::skip_slow_work() && !t.checks.is_empty() {
        return cached_only(t).await;
    }
    if t.busy.swap(true, Ordering::SeqCst) {
        tracing::debug!(target = %t.target.name, "a content check is still running; reporting from the cache");
        return cached_only(t).await;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let guard = BusyGuard(Arc::clone(&t));
    // A plain thread, not tokio's blocking pool: a long gzip check that outlives the deadline
    // must not hold up the runtime's shutdown (textfile mode exits after one collection).
    let spawned = std::thread::Builder::new()
        .name("artifact-check".into())
        .spawn(move || {
            let report = evaluate(&guard.0, true);
            drop(guard);
            let _ = tx.send(report);
        });
    if let Err(e) = spawned {
        t.busy.store(false, Ordering::SeqCst);
        return Err(Error::Read {
            path: PathBuf::from(&t.path),
            source: e,
        });
    }
    match tokio::time::timeout(deadline, rx).await {
        Ok(Ok(report)) => report,
        Ok(Err(_)) => Err(Error::Internal("the check thread panicked".into())),
        Err(_) => {
            tracing::warn!(target = %t.target.name, deadline = ?deadline, "content checks still running after the deadline; reporting from the cache");
            cached_only(t).await
        }
    }
}

fn report_artifact(set: &mut MetricSet, t: &ArtifactTarget, report: &Result<Report, Error>) {
    let target = &t.target;
    let name = target.name.as_str();
    report_target(set, target, report.as_ref().map(|r| r.last_success));
    if let Some(min) = t.min_size {
        set.add(&ARTIFACT_MIN_SIZE, [name], min as f64);
    }
    if let Some(percent) = t.min_percent {
        set.add(&ARTIFACT_MIN_SIZE_RATIO, [name], percent as f64 / 100.0);
    }
    let Ok(report) = report else { return };
    set.add(&ARTIFACT_FILES, [name], report.files as f64);
    set.add(&ARTIFACT_FUTURE_FILES, [name], report.future as f64);
    if let Some(previous) = &report.previous {
        set.add(&ARTIFACT_PREVIOUS_SIZE, [name], previous.len as f64);
    }
    for e in &report.errors {
        tracing::warn!(target = name, path = %path_label(&e.path), reason = e.reason(), error = %e, "backup path entry cannot be used");
        set.add(
            &ARTIFACT_FILE_ERRORS,
            [name, &path_label(&e.path), e.reason()],
            1.0,
        );
    }
    if let Some(newest) = &report.newest {
        set.add(&ARTIFACT_NEWEST_MTIME, [name], newest.mtime);
        set.add(&ARTIFACT_NEWEST_SIZE, [name], newest.len as f64);
        set.add(
            &ARTIFACT_NEWEST_INFO,
            [name, &path_label(&newest.path)],
            1.0,
        );
    }
    if let Some(complete) = report.newest_complete {
        set.add(
            &ARTIFACT_NEWEST_COMPLETE,
            [name],
            if complete { 1.0 } else { 0.0 },
        );
    }
}

/// Finds the target's files and checks the newest. With `may_read` false, content checks are
/// only looked up in the cache.
fn evaluate(t: &ArtifactTarget, may_read: bool) -> Result<Report, Error> {
    let (all, errors) = expand(&t.path)?;
    let count = all.len();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let limit = now + FUTURE_TOLERANCE.as_secs_f64();
    let (future, mut files): (Vec<Found>, Vec<Found>) =
        all.into_iter().partition(|f| f.mtime > limit);
    for f in &future {
        tracing::warn!(target = %t.target.name, path = %path_label(&f.path), mtime = f.mtime, ahead_seconds = (f.mtime - now).round(), "backup file's modification time is in the future; it does not count as fresh");
    }
    files.sort_by(|a, b| {
        b.mtime
            .total_cmp(&a.mtime)
            .then_with(|| a.path.cmp(&b.path))
    });
    let newest = files.first().cloned();
    let previous = t.min_percent.and_then(|_| files.get(1).cloned());
    if let (Some(n), Some(p), Some(percent)) = (&newest, &previous, t.min_percent)
        && (n.len as f64) < p.len as f64 * percent as f64 / 100.0
    {
        tracing::warn!(target = %t.target.name, path = %path_label(&n.path), size = n.len, previous = %path_label(&p.path), previous_size = p.len, min_size_percent = percent, "backup file shrank against the previous one");
    }
    // Too small to be a backup: logged, and the next older file may be the last good one.
    let big_enough = |f: &&Found| {
        let ok = t.min_size.is_none_or(|min| f.len >= min);
        if !ok {
            tracing::warn!(target = %t.target.name, path = %path_label(&f.path), size = f.len, min_size_bytes = t.min_size, "backup file is smaller than min_size_bytes");
        }
        ok
    };
    let mut newest_complete = None;
    let mut last_success = 0.0;
    if t.checks.is_empty() {
        last_success = files.iter().find(big_enough).map_or(0.0, |f| f.mtime);
    } else {
        for (i, file) in files
            .iter()
            .enumerate()
            .filter(|(_, f)| big_enough(f))
            .take(MAX_CHECKED)
        {
            let verdict = verdict(t, file, may_read);
            if i == 0 {
                newest_complete = verdict.as_ref().map(|v| *v == Verdict::Complete);
            }
            match verdict {
                Some(Verdict::Complete) => {
                    last_success = file.mtime;
                    break;
                }
                Some(Verdict::Incomplete(why)) => {
                    tracing::warn!(target = %t.target.name, path = %path_label(&file.path), why = %why, "backup file is incomplete");
                }
                None => {}
            }
        }
    }
    if may_read && !t.checks.is_empty() {
        // Forget the verdicts of files that are gone or changed.
        let live: std::collections::HashSet<&FileKey> = files.iter().map(|f| &f.key).collect();
        lock(&t.cache).retain(|k, v| live.contains(k) || matches!(v, Cached::Running));
    }
    Ok(Report {
        files: count,
        errors,
        newest,
        previous,
        future: future.len(),
        newest_complete,
        last_success,
    })
}

/// The verdict of one file: cached, or checked now when `may_read`; `None` while a check runs
/// elsewhere, or when it cannot be read (it was probably rotated away meanwhile).
fn verdict(t: &ArtifactTarget, file: &Found, may_read: bool) -> Option<Verdict> {
    {
        let mut cache = lock(&t.cache);
        match cache.get(&file.key) {
            Some(Cached::Done(v)) => return Some(v.clone()),
            Some(Cached::Running) => return None,
            None if !may_read => return None,
            None => {
                cache.insert(file.key.clone(), Cached::Running);
            }
        }
    }
    let result = check_file(&file.path, &t.checks);
    let mut cache = lock(&t.cache);
    match result {
        Ok(v) => {
            cache.insert(file.key.clone(), Cached::Done(v.clone()));
            Some(v)
        }
        Err(e) => {
            cache.remove(&file.key);
            tracing::warn!(target = %t.target.name, path = %path_label(&file.path), error = %e, "cannot read backup file for its content check");
            None
        }
    }
}

/// The regular files a path names, by the one rule of [`sysgauge_common::fs::expand`], and the
/// entries that could not be used. `Err` when the path itself cannot be looked at (the target
/// is then down).
fn expand(pattern: &str) -> Result<(Vec<Found>, Vec<FileError>), Error> {
    let expansion = sysgauge_common::fs::expand(pattern, EXPAND_LIMIT)?;
    let mut errors = expansion.errors;
    let found = expansion
        .files
        .into_iter()
        .filter_map(|f| {
            // Gone or replaced since the listing: reported like any other entry it cannot use.
            let meta = f.metadata().map_err(|e| errors.push(e)).ok()?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            let key = FileKey {
                dev: meta.dev(),
                ino: meta.ino(),
                len: meta.len(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            };
            Some(Found {
                path: f.path,
                mtime,
                len: meta.len(),
                key,
            })
        })
        .collect();
    Ok((found, errors))
}
