# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sysgauge_certs_global_optspecs
    string join \n config= log.level= log.format= collector.timeout= path= endpoint= h/help V/version
end

function __fish_sysgauge_certs_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sysgauge_certs_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sysgauge_certs_using_subcommand
    set -l cmd (__fish_sysgauge_certs_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer [default: 10s]' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -l path -d 'Certificate file, directory or glob (`**` recurses); repeatable. Replaces the [[files]] sources of the configuration file' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -l endpoint -d 'Endpoint to probe, repeatable: tls://, smtp://, imap://, pop3:// or postgres:// HOST[:PORT], with ?server_name=NAME for SNI (and ?sslnegotiation=direct for PostgreSQL 17). Replaces the [[endpoints]] of the configuration file' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -s V -l version -d 'Print version'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -f -a "once" -d 'Collect once and print the metrics to stdout; exit 1 if a collector failed'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -f -a "textfile" -d 'Collect once and atomically write node_exporter\'s textfile; exit 0 once it is written'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -f -a "serve" -d 'Serve metrics over HTTP until SIGTERM'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand once" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand once" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand once" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand once" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer [default: 10s]' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand once" -l path -d 'Certificate file, directory or glob (`**` recurses); repeatable. Replaces the [[files]] sources of the configuration file' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand once" -l endpoint -d 'Endpoint to probe, repeatable: tls://, smtp://, imap://, pop3:// or postgres:// HOST[:PORT], with ?server_name=NAME for SNI (and ?sslnegotiation=direct for PostgreSQL 17). Replaces the [[endpoints]] of the configuration file' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand once" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -l directory -d 'node_exporter\'s textfile directory (--collector.textfile.directory)' -r -F
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -l file -d 'File name in that directory; must end in .prom for node_exporter to read it [default: <binary>.prom]' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer [default: 10s]' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -l path -d 'Certificate file, directory or glob (`**` recurses); repeatable. Replaces the [[files]] sources of the configuration file' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -l endpoint -d 'Endpoint to probe, repeatable: tls://, smtp://, imap://, pop3:// or postgres:// HOST[:PORT], with ?server_name=NAME for SNI (and ?sslnegotiation=direct for PostgreSQL 17). Replaces the [[endpoints]] of the configuration file' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand textfile" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l web.listen-address -d 'Address to listen on, repeatable; ":PORT" listens on every interface [default: :<exporter\'s port>]' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l web.telemetry-path -d 'Path under which metrics are served [default: /metrics]' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l web.config.file -d 'Web configuration file in the exporter-toolkit format: TLS and basic auth' -r -F
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l web.max-requests -d 'Most requests served at once; one over the limit waits up to 1s for a slot, then gets 503; 0 means no limit [default: 40]' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l config -d 'TOML configuration file' -r -F
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l log.level -d 'Only log messages of this level or more severe [default: info]' -r -f -a "debug\t'Everything, including per-object detail'
info\t'Start, stop and configuration'
warn\t'Problems with individual objects (a broken certificate file)'
error\t'Failed collections'"
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l log.format -d 'Log format on stderr; when stderr is the systemd journal, native journal fields are used instead [default: logfmt]' -r -f -a "logfmt\t'`time=... level=info msg="..." key=value`'
json\t'One JSON object per line'"
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l collector.timeout -d 'Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as failed and the others still answer [default: 10s]' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l path -d 'Certificate file, directory or glob (`**` recurses); repeatable. Replaces the [[files]] sources of the configuration file' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l endpoint -d 'Endpoint to probe, repeatable: tls://, smtp://, imap://, pop3:// or postgres:// HOST[:PORT], with ?server_name=NAME for SNI (and ?sslnegotiation=direct for PostgreSQL 17). Replaces the [[endpoints]] of the configuration file' -r
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -l web.systemd-socket -d 'Use the listening sockets passed by systemd socket activation instead of --web.listen-address'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve help" -f -a "once" -d 'Collect once and print the metrics to stdout; exit 1 if a collector failed'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve help" -f -a "textfile" -d 'Collect once and atomically write node_exporter\'s textfile; exit 0 once it is written'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve help" -f -a "serve" -d 'Serve metrics over HTTP until SIGTERM'
complete -c sysgauge-certs -n "__fish_sysgauge_certs_using_subcommand help; and not __fish_seen_subcommand_from once textfile serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
