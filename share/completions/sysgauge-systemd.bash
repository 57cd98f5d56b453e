_sysgauge__systemd() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="sysgauge__systemd"
                ;;
            sysgauge__systemd,check)
                cmd="sysgauge__systemd__subcmd__check"
                ;;
            sysgauge__systemd,help)
                cmd="sysgauge__systemd__subcmd__help"
                ;;
            sysgauge__systemd,once)
                cmd="sysgauge__systemd__subcmd__once"
                ;;
            sysgauge__systemd,serve)
                cmd="sysgauge__systemd__subcmd__serve"
                ;;
            sysgauge__systemd,textfile)
                cmd="sysgauge__systemd__subcmd__textfile"
                ;;
            sysgauge__systemd__subcmd__help,check)
                cmd="sysgauge__systemd__subcmd__help__subcmd__check"
                ;;
            sysgauge__systemd__subcmd__help,help)
                cmd="sysgauge__systemd__subcmd__help__subcmd__help"
                ;;
            sysgauge__systemd__subcmd__help,once)
                cmd="sysgauge__systemd__subcmd__help__subcmd__once"
                ;;
            sysgauge__systemd__subcmd__help,serve)
                cmd="sysgauge__systemd__subcmd__help__subcmd__serve"
                ;;
            sysgauge__systemd__subcmd__help,textfile)
                cmd="sysgauge__systemd__subcmd__help__subcmd__textfile"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        sysgauge__systemd)
            opts="-h -V --config --log.level --log.format --collector.timeout --unit-include --unit-exclude --critical-unit --cgroup-include --unit-file-include --bus-address --max-concurrent-calls --boot-slowest-units --user-manager --help --version once textfile serve check help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -W "debug info warn error" -- "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                --collector.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-exclude)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --critical-unit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cgroup-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-file-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bus-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-concurrent-calls)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --boot-slowest-units)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user-manager)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__check)
            opts="-w -c -t -v -k -h --warning --critical --timeout --verbose --kind --from --config --log.level --log.format --collector.timeout --unit-include --unit-exclude --critical-unit --cgroup-include --unit-file-include --bus-address --max-concurrent-calls --boot-slowest-units --user-manager --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --warning)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -w)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --critical)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -t)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kind)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -k)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --from)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -W "debug info warn error" -- "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                --collector.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-exclude)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --critical-unit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cgroup-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-file-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bus-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-concurrent-calls)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --boot-slowest-units)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user-manager)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__help)
            opts="once textfile serve check help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__help__subcmd__check)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__help__subcmd__once)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__help__subcmd__serve)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__help__subcmd__textfile)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__once)
            opts="-h --config --log.level --log.format --collector.timeout --unit-include --unit-exclude --critical-unit --cgroup-include --unit-file-include --bus-address --max-concurrent-calls --boot-slowest-units --user-manager --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -W "debug info warn error" -- "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                --collector.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-exclude)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --critical-unit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cgroup-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-file-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bus-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-concurrent-calls)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --boot-slowest-units)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user-manager)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__serve)
            opts="-h --web.listen-address --web.telemetry-path --web.config.file --web.systemd-socket --web.max-requests --web.max-connections --config --log.level --log.format --collector.timeout --unit-include --unit-exclude --critical-unit --cgroup-include --unit-file-include --bus-address --max-concurrent-calls --boot-slowest-units --user-manager --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --web.listen-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.telemetry-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.config.file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.max-requests)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.max-connections)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -W "debug info warn error" -- "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                --collector.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-exclude)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --critical-unit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cgroup-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-file-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bus-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-concurrent-calls)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --boot-slowest-units)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user-manager)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        sysgauge__subcmd__systemd__subcmd__textfile)
            opts="-h --directory --file --config --log.level --log.format --collector.timeout --unit-include --unit-exclude --critical-unit --cgroup-include --unit-file-include --bus-address --max-concurrent-calls --boot-slowest-units --user-manager --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --directory)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -W "debug info warn error" -- "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                --collector.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-exclude)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --critical-unit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cgroup-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --unit-file-include)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bus-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-concurrent-calls)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --boot-slowest-units)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user-manager)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _sysgauge__systemd -o nosort -o bashdefault -o default sysgauge-systemd
else
    complete -F _sysgauge__systemd -o bashdefault -o default sysgauge-systemd
fi
