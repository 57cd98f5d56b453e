//! The metric families of sysgauge-backup. See docs/metrics.md for the reference.
//!
//! Every target has `max_age_seconds`, `last_success_timestamp_seconds` and `target_up` with
//! the one label `target`, so that one rule, `time() - last_success > max_age`, serves them all.

sysgauge_common::metric_families! {
    pub const MAX_AGE: Desc<1> = Desc::gauge(
        "sysgauge_backup_max_age_seconds",
        "The target's configured maximum age: alert when time() - last_success_timestamp_seconds exceeds it",
        ["target"],
    );
    pub const LAST_SUCCESS: Desc<1> = Desc::gauge(
        "sysgauge_backup_last_success_timestamp_seconds",
        "When the target's newest good backup was made (artifact: newest good file's mtime; job: end of the last successful run; zfs: oldest of the datasets' newest snapshots; zfs with snapshot types: the earliest time a dataset's type goes stale less max_age), as a Unix timestamp; 0 when none is known",
        ["target"],
    );
    pub const TARGET_UP: Desc<1> = Desc::gauge(
        "sysgauge_backup_target_up",
        "Whether the target could be read (1) or not (0); when 0, last_success is not reported and the log says why",
        ["target"],
    );
    pub const TARGET_INFO: Desc<3> = Desc::info(
        "sysgauge_backup_target_info",
        "The target's kind and what it watches (glob, unit or datasets), always 1",
        ["target", "kind", "source"],
    );
    pub const TARGET_ERROR: Desc<2> = Desc::gauge(
        "sysgauge_backup_target_error",
        "Why the target could not be read, by reason (not_found, permission_denied, read_failed, dbus, unit_not_loaded, zfs_failed, deadline, output_too_large, signal); only present when it could not",
        ["target", "reason"],
    );

    // Artifacts.
    pub const ARTIFACT_FILES: Desc<1> = Desc::gauge(
        "sysgauge_backup_artifact_files",
        "Number of files the target's path or glob matches",
        ["target"],
    );
    pub const ARTIFACT_NEWEST_MTIME: Desc<1> = Desc::gauge(
        "sysgauge_backup_artifact_newest_modified_timestamp_seconds",
        "Modification time of the newest matching file, complete or not (files dated in the future aside), as a Unix timestamp",
        ["target"],
    );
    pub const ARTIFACT_NEWEST_SIZE: Desc<1> = Desc::gauge(
        "sysgauge_backup_artifact_newest_size_bytes",
        "Size of the newest matching file, in bytes",
        ["target"],
    );
    pub const ARTIFACT_NEWEST_COMPLETE: Desc<1> = Desc::gauge(
        "sysgauge_backup_artifact_newest_complete",
        "Whether the newest matching file passes the target's content checks (1) or not (0); absent without checks or while a check is still running",
        ["target"],
    );
    pub const ARTIFACT_FILE_ERRORS: Desc<3> = Desc::gauge(
        "sysgauge_backup_artifact_file_errors",
        "An entry of the target's path that cannot be used, set to 1, by reason (not_found, broken_symlink, not_regular_file, permission_denied, read_failed, too_many_entries); the target's other files are still reported",
        ["target", "path", "reason"],
    );
    pub const ARTIFACT_FUTURE_FILES: Desc<1> = Desc::gauge(
        "sysgauge_backup_artifact_future_files",
        "Number of matching files whose modification time is more than a minute in the future; they never count as the newest or as fresh",
        ["target"],
    );
    pub const ARTIFACT_MIN_SIZE: Desc<1> = Desc::gauge(
        "sysgauge_backup_artifact_min_size_bytes",
        "The target's configured min_size_bytes: a smaller file is no good backup; only with the setting",
        ["target"],
    );
    pub const ARTIFACT_PREVIOUS_SIZE: Desc<1> = Desc::gauge(
        "sysgauge_backup_artifact_previous_size_bytes",
        "Size of the second newest matching file, the newest one's predecessor, in bytes; only with min_size_percent and two files",
        ["target"],
    );
    pub const ARTIFACT_MIN_SIZE_RATIO: Desc<1> = Desc::gauge(
        "sysgauge_backup_artifact_min_size_ratio",
        "The target's configured min_size_percent as a ratio: alert when the newest file is smaller than this times the previous one",
        ["target"],
    );
    pub const ARTIFACT_NEWEST_INFO: Desc<2> = Desc::info(
        "sysgauge_backup_artifact_newest_info",
        "The path of the newest matching file, always 1",
        ["target", "path"],
    );

    // Jobs.
    pub const JOB_INFO: Desc<3> = Desc::info(
        "sysgauge_backup_job_info",
        "The configured unit and the service whose runs are reported (the timer's unit for a timer), always 1",
        ["target", "unit", "service"],
    );
    pub const JOB_RESULT: Desc<2> = Desc::gauge(
        "sysgauge_backup_job_result",
        "The service's Result after its last run (success, exit-code, signal, timeout, core-dump, ...), always 1",
        ["target", "result"],
    );
    pub const JOB_EXIT_STATUS: Desc<1> = Desc::gauge(
        "sysgauge_backup_job_exit_status",
        "ExecMainStatus of the last run: the exit code, or the signal number when it was killed",
        ["target"],
    );
    pub const JOB_LAST_RUN_START: Desc<1> = Desc::gauge(
        "sysgauge_backup_job_last_run_start_timestamp_seconds",
        "When the main process of the last run started (ExecMainStartTimestamp), as a Unix timestamp",
        ["target"],
    );
    pub const JOB_LAST_RUN_END: Desc<1> = Desc::gauge(
        "sysgauge_backup_job_last_run_end_timestamp_seconds",
        "When the main process of the last run exited (ExecMainExitTimestamp), as a Unix timestamp",
        ["target"],
    );
    pub const JOB_RUNNING: Desc<1> = Desc::gauge(
        "sysgauge_backup_job_running",
        "Whether a run is in progress now (1) or not (0)",
        ["target"],
    );
    pub const JOB_TIMER_LAST_TRIGGER: Desc<1> = Desc::gauge(
        "sysgauge_backup_job_timer_last_trigger_timestamp_seconds",
        "When the timer last fired (LastTriggerUSec), as a Unix timestamp; timer targets only",
        ["target"],
    );
    pub const JOB_TIMER_NEXT_ELAPSE: Desc<1> = Desc::gauge(
        "sysgauge_backup_job_timer_next_elapse_timestamp_seconds",
        "When the timer fires next (NextElapseUSecRealtime), as a Unix timestamp; timer targets only",
        ["target"],
    );

    // ZFS.
    pub const ZFS_NEWEST_SNAPSHOT: Desc<2> = Desc::gauge(
        "sysgauge_backup_zfs_newest_snapshot_timestamp_seconds",
        "Creation time of the dataset's newest snapshot, as a Unix timestamp; 0 when it has none",
        ["target", "dataset"],
    );
    pub const ZFS_SNAPSHOTS: Desc<2> = Desc::gauge(
        "sysgauge_backup_zfs_snapshots",
        "Number of snapshots of the dataset",
        ["target", "dataset"],
    );
    pub const ZFS_OLDEST_SNAPSHOT: Desc<2> = Desc::gauge(
        "sysgauge_backup_zfs_oldest_snapshot_timestamp_seconds",
        "Creation time of the dataset's oldest snapshot, as a Unix timestamp; 0 when it has none",
        ["target", "dataset"],
    );
    pub const ZFS_SNAPSHOTS_USED: Desc<2> = Desc::gauge(
        "sysgauge_backup_zfs_snapshots_used_bytes",
        "Space used by the dataset's snapshots (its usedbysnapshots property), in bytes",
        ["target", "dataset"],
    );
    pub const ZFS_TYPE_MAX_AGE: Desc<2> = Desc::gauge(
        "sysgauge_backup_zfs_type_max_age_seconds",
        "The configured maximum age of a snapshot type (snapshot_max_age)",
        ["target", "type"],
    );
    pub const ZFS_TYPE_NEWEST_SNAPSHOT: Desc<3> = Desc::gauge(
        "sysgauge_backup_zfs_type_newest_snapshot_timestamp_seconds",
        "Creation time of the dataset's newest snapshot of the type (named by snapshot_pattern), as a Unix timestamp; 0 when it has none",
        ["target", "dataset", "type"],
    );
    pub const ZFS_TYPE_SNAPSHOTS: Desc<3> = Desc::gauge(
        "sysgauge_backup_zfs_type_snapshots",
        "Number of snapshots of the dataset of the type (named by snapshot_pattern)",
        ["target", "dataset", "type"],
    );
}

/// The metrics every target has: its maximum age, info, whether it could be read, and its last
/// success (when it could be read) or why not (when it could not, with a log line).
pub fn report_target(
    set: &mut sysgauge_common::MetricSet,
    target: &crate::config::Target,
    last_success: Result<f64, &crate::error::Error>,
) {
    let name = target.name.as_str();
    set.add(
        &TARGET_INFO,
        [name, target.kind().as_str(), &target.describe()],
        1.0,
    );
    set.add(&MAX_AGE, [name], target.max_age.as_secs_f64());
    match last_success {
        Ok(ts) => {
            set.add(&TARGET_UP, [name], 1.0);
            set.add(&LAST_SUCCESS, [name], ts);
        }
        Err(e) => {
            tracing::warn!(target = name, source = %target.describe(), reason = e.reason(), error = %sysgauge_common::collector::error_chain(e), "backup target cannot be read");
            set.add(&TARGET_UP, [name], 0.0);
            set.add(&TARGET_ERROR, [name, e.reason()], 1.0);
        }
    }
}
