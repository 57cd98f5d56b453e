# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sysgauge_systemd_global_optspecs
    string join \n config= log.level= log.format= collector.timeout= unit-include= unit-exclude= critical-unit= cgroup-include= unit-file-include= bus-address= max-concurrent-calls= boot-slowest-units= user-manager= h/help V/version
end

function __fish_sysgauge_systemd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sysgauge_systemd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sysgauge_systemd_using_subcommand
    set -l cmd (__fish_sysgauge_systemd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer; 1ms to 1day [default: 10s]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l unit-include -d 'Report units whose whole name matches this regular expression; repeatable [default: all]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l unit-exclude -d 'Leave out units whose whole name matches this regular expression; repeatable [default: .+\\.(automount|device|mount|scope|slice|swap)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l critical-unit -d 'A unit that alerts and dashboards should single out; always reported, even when the patterns leave it out or it does not exist. Repeatable' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l cgroup-include -d 'Report the accounting (CPU, memory, IO, tasks) of the slices and scopes whose whole name matches this regular expression; repeatable [default: (system|user|machine)\\.slice]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l unit-file-include -d 'Report the unit-file state (enabled, disabled, masked, ...) of the reported units whose whole name matches this regular expression, and of the critical units; repeatable [default: .+\\.(timer|socket|path)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l bus-address -d 'D-Bus address to use, e.g. unix:path=/run/user/1000/bus for a user\'s manager [default: systemd\'s private socket /run/systemd/private when running as root, else the system bus]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l max-concurrent-calls -d 'Most D-Bus calls in flight at once [default: 64]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l boot-slowest-units -d 'How many of the units that took longest to activate during the last boot to report, 0 (none) to 100 [default: 10]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -l user-manager -d 'The uid of a user whose systemd manager to report as well (read on /run/user/UID/systemd/private as root, else on /run/user/UID/bus); repeatable, at most 256 [default: none]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -s V -l version -d 'Print version'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -f -a "once" -d 'Collect once and print the metrics to stdout; exit 1 if a collector failed'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -f -a "textfile" -d 'Collect once and atomically write node_exporter\'s textfile; exit 0 once it is written'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -f -a "serve" -d 'Serve metrics over HTTP until SIGTERM'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -f -a "check" -d 'Nagios/Icinga plugin: check the metrics against thresholds; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer; 1ms to 1day [default: 10s]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l unit-include -d 'Report units whose whole name matches this regular expression; repeatable [default: all]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l unit-exclude -d 'Leave out units whose whole name matches this regular expression; repeatable [default: .+\\.(automount|device|mount|scope|slice|swap)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l critical-unit -d 'A unit that alerts and dashboards should single out; always reported, even when the patterns leave it out or it does not exist. Repeatable' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l cgroup-include -d 'Report the accounting (CPU, memory, IO, tasks) of the slices and scopes whose whole name matches this regular expression; repeatable [default: (system|user|machine)\\.slice]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l unit-file-include -d 'Report the unit-file state (enabled, disabled, masked, ...) of the reported units whose whole name matches this regular expression, and of the critical units; repeatable [default: .+\\.(timer|socket|path)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l bus-address -d 'D-Bus address to use, e.g. unix:path=/run/user/1000/bus for a user\'s manager [default: systemd\'s private socket /run/systemd/private when running as root, else the system bus]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l max-concurrent-calls -d 'Most D-Bus calls in flight at once [default: 64]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l boot-slowest-units -d 'How many of the units that took longest to activate during the last boot to report, 0 (none) to 100 [default: 10]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -l user-manager -d 'The uid of a user whose systemd manager to report as well (read on /run/user/UID/systemd/private as root, else on /run/user/UID/bus); repeatable, at most 256 [default: none]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand once" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l directory -d 'node_exporter\'s textfile directory (--collector.textfile.directory)' -r -F
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l file -d 'File name in that directory; must end in .prom for node_exporter to read it [default: <binary>.prom]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer; 1ms to 1day [default: 10s]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l unit-include -d 'Report units whose whole name matches this regular expression; repeatable [default: all]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l unit-exclude -d 'Leave out units whose whole name matches this regular expression; repeatable [default: .+\\.(automount|device|mount|scope|slice|swap)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l critical-unit -d 'A unit that alerts and dashboards should single out; always reported, even when the patterns leave it out or it does not exist. Repeatable' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l cgroup-include -d 'Report the accounting (CPU, memory, IO, tasks) of the slices and scopes whose whole name matches this regular expression; repeatable [default: (system|user|machine)\\.slice]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l unit-file-include -d 'Report the unit-file state (enabled, disabled, masked, ...) of the reported units whose whole name matches this regular expression, and of the critical units; repeatable [default: .+\\.(timer|socket|path)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l bus-address -d 'D-Bus address to use, e.g. unix:path=/run/user/1000/bus for a user\'s manager [default: systemd\'s private socket /run/systemd/private when running as root, else the system bus]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l max-concurrent-calls -d 'Most D-Bus calls in flight at once [default: 64]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l boot-slowest-units -d 'How many of the units that took longest to activate during the last boot to report, 0 (none) to 100 [default: 10]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -l user-manager -d 'The uid of a user whose systemd manager to report as well (read on /run/user/UID/systemd/private as root, else on /run/user/UID/bus); repeatable, at most 256 [default: none]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand textfile" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l web.listen-address -d 'Address to listen on, repeatable; ":PORT" listens on every interface [default: :<exporter\'s port>]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l web.telemetry-path -d 'Path under which metrics are served [default: /metrics]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l web.config.file -d 'Web configuration file in the exporter-toolkit format: TLS and basic auth' -r -F
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l web.max-requests -d 'Most requests served at once; one over the limit waits up to 1s for a slot, then gets 503; 0 means no limit; at most 10000 [default: 40]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l web.max-connections -d 'Most connections open at once, 1 to 65536; at the limit the connection idle longest is closed to make room, and it is lowered to fit the descriptor limit [default: 512]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer; 1ms to 1day [default: 10s]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l unit-include -d 'Report units whose whole name matches this regular expression; repeatable [default: all]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l unit-exclude -d 'Leave out units whose whole name matches this regular expression; repeatable [default: .+\\.(automount|device|mount|scope|slice|swap)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l critical-unit -d 'A unit that alerts and dashboards should single out; always reported, even when the patterns leave it out or it does not exist. Repeatable' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l cgroup-include -d 'Report the accounting (CPU, memory, IO, tasks) of the slices and scopes whose whole name matches this regular expression; repeatable [default: (system|user|machine)\\.slice]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l unit-file-include -d 'Report the unit-file state (enabled, disabled, masked, ...) of the reported units whose whole name matches this regular expression, and of the critical units; repeatable [default: .+\\.(timer|socket|path)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l bus-address -d 'D-Bus address to use, e.g. unix:path=/run/user/1000/bus for a user\'s manager [default: systemd\'s private socket /run/systemd/private when running as root, else the system bus]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l max-concurrent-calls -d 'Most D-Bus calls in flight at once [default: 64]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l boot-slowest-units -d 'How many of the units that took longest to activate during the last boot to report, 0 (none) to 100 [default: 10]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l user-manager -d 'The uid of a user whose systemd manager to report as well (read on /run/user/UID/systemd/private as root, else on /run/user/UID/bus); repeatable, at most 256 [default: none]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -l web.systemd-socket -d 'Use the listening sockets passed by systemd socket activation instead of --web.listen-address'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -s w -l warning -d 'Warning threshold as [KIND=]RANGE, repeatable; a RANGE without KIND applies to the exporter\'s first check kind. Ranges: 10, 10:, ~:10, 10:20, @10:20; durations may carry s, m, h, d or w (21d:)' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -s c -l critical -d 'Critical threshold as [KIND=]RANGE, repeatable' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -s t -l timeout -d 'Bound of the whole run, in seconds or as a duration (10, 30s, 1m); past it the answer is UNKNOWN [default: 10s]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -s k -l kind -d 'Only these check kinds, repeatable [default: all]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l from -d 'Read the samples instead of collecting: http://HOST:PORT/metrics of a running serve instance, or the path of a textfile a timer wrote (its age is reported)' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer; 1ms to 1day [default: 10s]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l unit-include -d 'Report units whose whole name matches this regular expression; repeatable [default: all]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l unit-exclude -d 'Leave out units whose whole name matches this regular expression; repeatable [default: .+\\.(automount|device|mount|scope|slice|swap)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l critical-unit -d 'A unit that alerts and dashboards should single out; always reported, even when the patterns leave it out or it does not exist. Repeatable' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l cgroup-include -d 'Report the accounting (CPU, memory, IO, tasks) of the slices and scopes whose whole name matches this regular expression; repeatable [default: (system|user|machine)\\.slice]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l unit-file-include -d 'Report the unit-file state (enabled, disabled, masked, ...) of the reported units whose whole name matches this regular expression, and of the critical units; repeatable [default: .+\\.(timer|socket|path)]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l bus-address -d 'D-Bus address to use, e.g. unix:path=/run/user/1000/bus for a user\'s manager [default: systemd\'s private socket /run/systemd/private when running as root, else the system bus]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l max-concurrent-calls -d 'Most D-Bus calls in flight at once [default: 64]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l boot-slowest-units -d 'How many of the units that took longest to activate during the last boot to report, 0 (none) to 100 [default: 10]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -l user-manager -d 'The uid of a user whose systemd manager to report as well (read on /run/user/UID/systemd/private as root, else on /run/user/UID/bus); repeatable, at most 256 [default: none]' -r
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -s v -l verbose -d 'List every object, not only those that are not OK'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve check help" -f -a "once" -d 'Collect once and print the metrics to stdout; exit 1 if a collector failed'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve check help" -f -a "textfile" -d 'Collect once and atomically write node_exporter\'s textfile; exit 0 once it is written'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve check help" -f -a "serve" -d 'Serve metrics over HTTP until SIGTERM'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve check help" -f -a "check" -d 'Nagios/Icinga plugin: check the metrics against thresholds; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN'
complete -c sysgauge-systemd -n "__fish_sysgauge_systemd_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
