//! The metric families of sysgauge-systemd. See docs/metrics.md for the reference.

sysgauge_common::metric_families! {
    pub const UNIT_STATE: Desc<3> = Desc::gauge(
        "sysgauge_systemd_unit_state",
        "Whether the unit's active state is this state (1) or not (0); one series per state",
        ["name", "type", "state"],
    );
    pub const UNIT_INFO: Desc<3> = Desc::info(
        "sysgauge_systemd_unit_info",
        "The unit's load state, always 1; units that failed to load are included (the active state is in sysgauge_systemd_unit_state)",
        ["name", "type", "load_state"],
    );
    pub const UNIT_CRITICAL: Desc<1> = Desc::gauge(
        "sysgauge_systemd_unit_critical",
        "1 for each unit configured as critical, whether or not it exists",
        ["name"],
    );
    pub const UNITS: Desc<2> = Desc::gauge(
        "sysgauge_systemd_units",
        "Number of reported units by load and active state",
        ["load_state", "active_state"],
    );
    pub const SYSTEM_STATE: Desc<1> = Desc::gauge(
        "sysgauge_systemd_system_state",
        "Whether the manager's SystemState is this state (1) or not (0)",
        ["state"],
    );
    pub const FAILED_UNITS: Desc<0> = Desc::gauge(
        "sysgauge_systemd_failed_units",
        "Number of failed units the manager counts (NFailedUnits), before include and exclude patterns",
        [],
    );
    pub const MANAGER_INFO: Desc<2> = Desc::info(
        "sysgauge_systemd_manager_info",
        "The manager's version and detected virtualization, always 1",
        ["version", "virtualization"],
    );
    pub const SERVICE_RESULT: Desc<2> = Desc::gauge(
        "sysgauge_systemd_service_result",
        "Whether the service's Result is this value (1) or not (0); one series per common value, a rare one only while it is the result",
        ["name", "result"],
    );
    pub const SERVICE_EXIT_STATUS: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_exit_status",
        "Exit status of the service's main process at its last exit (ExecMainStatus; the signal number if it was killed)",
        ["name"],
    );
    pub const SERVICE_RESTARTS: Desc<1> = Desc::counter(
        "sysgauge_systemd_service_restarts_total",
        "Automatic restarts of the service since it was last started by hand (NRestarts)",
        ["name"],
    );
    pub const SERVICE_LAST_START: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_last_start_timestamp_seconds",
        "When the service's main process last started (ExecMainStartTimestamp)",
        ["name"],
    );
    pub const SERVICE_LAST_EXIT: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_last_exit_timestamp_seconds",
        "When the service's main process last exited (ExecMainExitTimestamp)",
        ["name"],
    );
    pub const SERVICE_TASKS: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_tasks",
        "Tasks (processes and threads) in the service's cgroup (TasksCurrent)",
        ["name"],
    );
    pub const SERVICE_CPU: Desc<1> = Desc::counter(
        "sysgauge_systemd_service_cpu_seconds_total",
        "CPU time used by the service's cgroup, as systemd accounts it (CPUUsageNSec)",
        ["name"],
    );
    pub const SERVICE_MEMORY: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_memory_bytes",
        "Memory used by the service's cgroup, as systemd accounts it (MemoryCurrent)",
        ["name"],
    );
    pub const SERVICE_IO_READ: Desc<1> = Desc::counter(
        "sysgauge_systemd_service_io_read_bytes_total",
        "Bytes the service's cgroup read from block devices (IOReadBytes; cgroup v2 with IOAccounting)",
        ["name"],
    );
    pub const SERVICE_IO_WRITE: Desc<1> = Desc::counter(
        "sysgauge_systemd_service_io_write_bytes_total",
        "Bytes the service's cgroup wrote to block devices (IOWriteBytes; cgroup v2 with IOAccounting)",
        ["name"],
    );
    pub const SERVICE_IP_INGRESS_BYTES: Desc<1> = Desc::counter(
        "sysgauge_systemd_service_ip_ingress_bytes_total",
        "IP bytes the service received (IPIngressBytes; IPAccounting)",
        ["name"],
    );
    pub const SERVICE_IP_EGRESS_BYTES: Desc<1> = Desc::counter(
        "sysgauge_systemd_service_ip_egress_bytes_total",
        "IP bytes the service sent (IPEgressBytes; IPAccounting)",
        ["name"],
    );
    pub const SERVICE_IP_INGRESS_PACKETS: Desc<1> = Desc::counter(
        "sysgauge_systemd_service_ip_ingress_packets_total",
        "IP packets the service received (IPIngressPackets; IPAccounting)",
        ["name"],
    );
    pub const SERVICE_IP_EGRESS_PACKETS: Desc<1> = Desc::counter(
        "sysgauge_systemd_service_ip_egress_packets_total",
        "IP packets the service sent (IPEgressPackets; IPAccounting)",
        ["name"],
    );
    pub const SERVICE_MEMORY_PEAK: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_memory_peak_bytes",
        "Highest memory use of the service's cgroup since it started (MemoryPeak; systemd 255 or later)",
        ["name"],
    );
    pub const SERVICE_MEMORY_MAX: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_memory_max_bytes",
        "The service's hard memory limit, above which the kernel OOM-kills in its cgroup (MemoryMax); none for infinity",
        ["name"],
    );
    pub const SERVICE_MEMORY_HIGH: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_memory_high_bytes",
        "The service's memory throttling limit (MemoryHigh); none for infinity",
        ["name"],
    );
    pub const SERVICE_MEMORY_LOW: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_memory_low_bytes",
        "Memory of the service protected from reclaim (MemoryLow); none when 0",
        ["name"],
    );
    pub const SERVICE_TASKS_MAX: Desc<1> = Desc::gauge(
        "sysgauge_systemd_service_tasks_max",
        "The service's limit on tasks (TasksMax); none for infinity",
        ["name"],
    );
    pub const CGROUP_TASKS: Desc<2> = Desc::gauge(
        "sysgauge_systemd_cgroup_tasks",
        "Tasks in the cgroup of a slice or scope that --cgroup-include selects (TasksCurrent)",
        ["name", "type"],
    );
    pub const CGROUP_CPU: Desc<2> = Desc::counter(
        "sysgauge_systemd_cgroup_cpu_seconds_total",
        "CPU time used by the cgroup of a slice or scope (CPUUsageNSec)",
        ["name", "type"],
    );
    pub const CGROUP_MEMORY: Desc<2> = Desc::gauge(
        "sysgauge_systemd_cgroup_memory_bytes",
        "Memory used by the cgroup of a slice or scope (MemoryCurrent)",
        ["name", "type"],
    );
    pub const CGROUP_IO_READ: Desc<2> = Desc::counter(
        "sysgauge_systemd_cgroup_io_read_bytes_total",
        "Bytes the cgroup of a slice or scope read from block devices (IOReadBytes; cgroup v2)",
        ["name", "type"],
    );
    pub const CGROUP_IO_WRITE: Desc<2> = Desc::counter(
        "sysgauge_systemd_cgroup_io_write_bytes_total",
        "Bytes the cgroup of a slice or scope wrote to block devices (IOWriteBytes; cgroup v2)",
        ["name", "type"],
    );
    pub const TIMER_LAST_TRIGGER: Desc<1> = Desc::gauge(
        "sysgauge_systemd_timer_last_trigger_timestamp_seconds",
        "When the timer last triggered its unit (LastTriggerUSec)",
        ["name"],
    );
    pub const TIMER_NEXT_ELAPSE: Desc<1> = Desc::gauge(
        "sysgauge_systemd_timer_next_elapse_timestamp_seconds",
        "When the timer will next trigger, calendar and monotonic timers alike, as a Unix timestamp",
        ["name"],
    );
    pub const TIMER_UNIT_RESULT: Desc<3> = Desc::gauge(
        "sysgauge_systemd_timer_unit_result",
        "Whether the Result of the unit the timer triggers is this value (1) or not (0), as sysgauge_systemd_service_result",
        ["name", "unit", "result"],
    );
    pub const SOCKET_ACCEPTED: Desc<1> = Desc::counter(
        "sysgauge_systemd_socket_accepted_connections_total",
        "Connections the socket accepted (NAccepted)",
        ["name"],
    );
    pub const SOCKET_CONNECTIONS: Desc<1> = Desc::gauge(
        "sysgauge_systemd_socket_connections",
        "Connections of the socket currently open (NConnections)",
        ["name"],
    );
    pub const SOCKET_REFUSED: Desc<1> = Desc::counter(
        "sysgauge_systemd_socket_refused_connections_total",
        "Connections the socket refused (NRefused)",
        ["name"],
    );
    pub const PROPERTY_ERRORS: Desc<0> = Desc::gauge(
        "sysgauge_systemd_property_errors",
        "Units whose properties could not be read in this collection (each is logged)",
        [],
    );
    pub const BOOT_STAGE: Desc<1> = Desc::gauge(
        "sysgauge_systemd_boot_stage_seconds",
        "How long each stage of the last boot took (firmware, loader, kernel, initrd, userspace), as systemd-analyze time prints it; stages that did not happen are absent",
        ["stage"],
    );
    pub const BOOT_UNIT_ACTIVATION: Desc<1> = Desc::gauge(
        "sysgauge_systemd_boot_unit_activation_seconds",
        "How long the slowest units of the last boot took to activate, as systemd-analyze blame ranks them (--boot-slowest-units of them)",
        ["name"],
    );
    pub const UNIT_ACTIVE_ENTER: Desc<2> = Desc::gauge(
        "sysgauge_systemd_unit_active_enter_timestamp_seconds",
        "When the unit last entered the active state (ActiveEnterTimestamp); absent if never",
        ["name", "type"],
    );
    pub const UNIT_ACTIVE_EXIT: Desc<2> = Desc::gauge(
        "sysgauge_systemd_unit_active_exit_timestamp_seconds",
        "When the unit last left the active state (ActiveExitTimestamp); absent if never",
        ["name", "type"],
    );
    pub const UNIT_INACTIVE_ENTER: Desc<2> = Desc::gauge(
        "sysgauge_systemd_unit_inactive_enter_timestamp_seconds",
        "When the unit last entered the inactive or failed state (InactiveEnterTimestamp); absent if never",
        ["name", "type"],
    );
    pub const UNIT_INACTIVE_EXIT: Desc<2> = Desc::gauge(
        "sysgauge_systemd_unit_inactive_exit_timestamp_seconds",
        "When the unit last left the inactive or failed state, i.e. began activating (InactiveExitTimestamp); absent if never",
        ["name", "type"],
    );
    pub const UNIT_FILE_INFO: Desc<3> = Desc::info(
        "sysgauge_systemd_unit_file_info",
        "The unit's unit-file state (UnitFileState: enabled, disabled, static, masked, ...) for the units --unit-file-include selects and the critical units, always 1",
        ["name", "type", "file_state"],
    );
    pub const STATE_PROPERTY_ERRORS: Desc<0> = Desc::gauge(
        "sysgauge_systemd_state_property_errors",
        "Units whose state-change times could not be read in this collection (each is logged)",
        [],
    );
    pub const USER_MANAGER_UP: Desc<1> = Desc::gauge(
        "sysgauge_systemd_user_manager_up",
        "Whether the configured user's systemd manager answered (1) or not (0)",
        ["uid"],
    );
    pub const USER_SYSTEM_STATE: Desc<2> = Desc::gauge(
        "sysgauge_systemd_user_system_state",
        "Whether the user manager's SystemState is this state (1) or not (0)",
        ["uid", "state"],
    );
    pub const USER_FAILED_UNITS: Desc<1> = Desc::gauge(
        "sysgauge_systemd_user_failed_units",
        "Number of failed units the user manager counts (NFailedUnits)",
        ["uid"],
    );
    pub const USER_UNIT_STATE: Desc<4> = Desc::gauge(
        "sysgauge_systemd_user_unit_state",
        "Whether the user unit's active state is this state (1) or not (0); one series per state",
        ["uid", "name", "type", "state"],
    );
}
