//! The metric families of sysgauge-restic. See docs/metrics.md for the reference.

/// The labels of a group of snapshots.
pub const GROUP_LABELS: [&str; 4] = ["repository", "hostname", "paths", "tags"];

sysgauge_common::metric_families! {
    pub const UP: Desc<1> = Desc::gauge(
        "sysgauge_restic_repository_up",
        "Whether the repository's snapshots and locks could be read (1) or not (0)",
        ["repository"],
    );
    pub const ERROR: Desc<2> = Desc::gauge(
        "sysgauge_restic_repository_error",
        "Set to 1 with the reason when the repository could not be read: wrong_password, repository_missing, unreachable, locked, password_unavailable, timeout, restic_missing, restic_unusable, interrupted, output_too_large, read_failed, invalid_output, error",
        ["repository", "reason"],
    );
    pub const READ_DURATION: Desc<1> = Desc::gauge(
        "sysgauge_restic_repository_read_duration_seconds",
        "How long reading the repository's snapshots and locks took",
        ["repository"],
    );
    pub const READ_TIMESTAMP: Desc<1> = Desc::gauge(
        "sysgauge_restic_repository_read_timestamp_seconds",
        "When the reported read of the repository's snapshots and locks began, as a Unix timestamp (under serve, reads are reused for read_interval)",
        ["repository"],
    );
    pub const WARNINGS: Desc<1> = Desc::gauge(
        "sysgauge_restic_repository_warnings",
        "Warnings restic printed while it still succeeded, in the reported read (e.g. a snapshot file it could not load and left out); each is logged",
        ["repository"],
    );
    pub const PASSWORD_FILE_LOOSE: Desc<1> = Desc::gauge(
        "sysgauge_restic_password_file_loose",
        "Whether the repository's password file can be read by its group or others (1) or not (0); absent without a password file",
        ["repository"],
    );
    pub const SNAPSHOTS: Desc<1> = Desc::gauge(
        "sysgauge_restic_snapshots",
        "Number of snapshots in the repository",
        ["repository"],
    );
    pub const GROUP_SNAPSHOTS: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_snapshots",
        "Number of snapshots in the group (same host, paths and tags)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_snapshot_timestamp_seconds",
        "Time of the group's latest snapshot, as a Unix timestamp (its time-zone offset applied)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_FILES_NEW: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_files_new",
        "Files new in the group's latest snapshot (from its summary, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_FILES_CHANGED: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_files_changed",
        "Files changed in the group's latest snapshot (from its summary, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_FILES_UNMODIFIED: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_files_unmodified",
        "Files unchanged in the group's latest snapshot (from its summary, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_DIRS_NEW: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_dirs_new",
        "Directories new in the group's latest snapshot (from its summary, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_DIRS_CHANGED: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_dirs_changed",
        "Directories changed in the group's latest snapshot (from its summary, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_DIRS_UNMODIFIED: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_dirs_unmodified",
        "Directories unchanged in the group's latest snapshot (from its summary, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_DATA_BLOBS: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_data_blobs",
        "Data blobs the group's latest backup added (summary data_blobs, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_TREE_BLOBS: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_tree_blobs",
        "Tree blobs the group's latest backup added (summary tree_blobs, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_ADDED_BYTES: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_added_bytes",
        "Bytes the group's latest backup added to the repository, before compression (summary data_added, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_ADDED_PACKED_BYTES: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_added_packed_bytes",
        "Bytes the group's latest backup added to the repository, as stored (summary data_added_packed, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_PROCESSED_FILES: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_processed_files",
        "Files the group's latest backup read (summary total_files_processed, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_PROCESSED_BYTES: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_processed_bytes",
        "Bytes the group's latest backup read (summary total_bytes_processed, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_DURATION: Desc<4> = Desc::gauge(
        "sysgauge_restic_group_latest_backup_duration_seconds",
        "How long the group's latest backup took (summary backup_end - backup_start, restic >= 0.17)",
        GROUP_LABELS,
    );
    pub const GROUP_LATEST_PROGRAM: Desc<5> = Desc::info(
        "sysgauge_restic_group_latest_program_info",
        "The restic version that made the group's latest snapshot (restic >= 0.16 records it), always 1",
        ["repository", "hostname", "paths", "tags", "program_version"],
    );
    pub const LOCKS: Desc<1> = Desc::gauge(
        "sysgauge_restic_locks",
        "Number of lock files in the repository",
        ["repository"],
    );
    pub const LOCKS_EXCLUSIVE: Desc<1> = Desc::gauge(
        "sysgauge_restic_locks_exclusive",
        "Number of exclusive locks (prune, check) in the repository",
        ["repository"],
    );
    pub const LOCKS_STALE: Desc<1> = Desc::gauge(
        "sysgauge_restic_locks_stale",
        "Number of locks older than 30 minutes, restic's staleness rule (a live restic refreshes its locks every 5 minutes)",
        ["repository"],
    );
    pub const LOCKS_UNREADABLE: Desc<1> = Desc::gauge(
        "sysgauge_restic_locks_unreadable",
        "Number of lock files restic could not read (corrupt or half-written); the snapshots are still reported",
        ["repository"],
    );
    pub const LOCK_OLDEST: Desc<1> = Desc::gauge(
        "sysgauge_restic_lock_oldest_timestamp_seconds",
        "Time of the oldest lock, as a Unix timestamp; absent when there is none",
        ["repository"],
    );
    pub const SIZE: Desc<1> = Desc::gauge(
        "sysgauge_restic_repository_size_bytes",
        "Bytes stored in the repository (restic stats --mode raw-data), as of sysgauge_restic_stats_timestamp_seconds",
        ["repository"],
    );
    pub const UNCOMPRESSED_SIZE: Desc<1> = Desc::gauge(
        "sysgauge_restic_repository_uncompressed_size_bytes",
        "Bytes in the repository before compression (repository format 2), as of sysgauge_restic_stats_timestamp_seconds",
        ["repository"],
    );
    pub const BLOBS: Desc<1> = Desc::gauge(
        "sysgauge_restic_repository_blobs",
        "Number of blobs in the repository, as of sysgauge_restic_stats_timestamp_seconds",
        ["repository"],
    );
    pub const STATS_SUCCESS: Desc<1> = Desc::gauge(
        "sysgauge_restic_stats_success",
        "Whether the last restic stats succeeded (1) or not (0)",
        ["repository"],
    );
    pub const STATS_TIMESTAMP: Desc<1> = Desc::gauge(
        "sysgauge_restic_stats_timestamp_seconds",
        "When the last restic stats finished, as a Unix timestamp",
        ["repository"],
    );
    pub const CHECK_SUCCESS: Desc<1> = Desc::gauge(
        "sysgauge_restic_check_success",
        "Whether the last restic check found no errors (1) or failed (0)",
        ["repository"],
    );
    pub const CHECK_TIMESTAMP: Desc<1> = Desc::gauge(
        "sysgauge_restic_check_timestamp_seconds",
        "When the last restic check finished, as a Unix timestamp",
        ["repository"],
    );
    pub const CHECK_DURATION: Desc<1> = Desc::gauge(
        "sysgauge_restic_check_duration_seconds",
        "How long the last restic check took",
        ["repository"],
    );
    pub const CHECK_ERRORS: Desc<1> = Desc::gauge(
        "sysgauge_restic_check_errors",
        "Errors the last restic check found (restic >= 0.18: num_errors of check --json; before: its error lines); absent when check could not run",
        ["repository"],
    );
    pub const CHECK_SUGGEST_REPAIR_INDEX: Desc<1> = Desc::gauge(
        "sysgauge_restic_check_suggest_repair_index",
        "Whether the last restic check suggested restic repair index (rebuild-index before 0.15) (1) or not (0)",
        ["repository"],
    );
    pub const CHECK_SUGGEST_PRUNE: Desc<1> = Desc::gauge(
        "sysgauge_restic_check_suggest_prune",
        "Whether the last restic check suggested restic prune (1) or not (0)",
        ["repository"],
    );
    pub const CHECK_READ_DATA_PART: Desc<1> = Desc::gauge(
        "sysgauge_restic_check_read_data_part",
        "The part n of --read-data-subset n/N the last restic check read (with check_read_data_parts)",
        ["repository"],
    );
    pub const CHECK_READ_DATA_PARTS: Desc<1> = Desc::gauge(
        "sysgauge_restic_check_read_data_parts",
        "The number of parts N the rolling --read-data-subset n/N reads the data in",
        ["repository"],
    );
    pub const VERSION: Desc<1> = Desc::info(
        "sysgauge_restic_version_info",
        "The version of the restic binary the exporter runs, always 1",
        ["version"],
    );
}
