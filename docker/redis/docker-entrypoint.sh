#!/usr/bin/env bash
# Entrypoint for the offline Redis image, following the official `redis`
# image: options-only arguments go to redis-server, the server runs as the
# redis user, and protected mode is off unless the arguments or the config
# file say otherwise (upstream compiles that default in; Debian's binary keeps
# protected mode on, which refuses clients coming through a published port).
set -euo pipefail

main() {
    # `IMAGE --appendonly yes` or `IMAGE /path/redis.conf` means redis-server.
    if [[ ${1:-} == -* || ${1:-} == *.conf ]]; then
        set -- redis-server "$@"
    fi
    if [[ ${1:-} != redis-server ]]; then
        exec "$@"
    fi

    if [[ $(id -u) == 0 ]]; then
        find . \! -user redis -exec chown redis '{}' +
        export HOME=/data
        exec setpriv --reuid=redis --regid=redis --init-groups "${BASH_SOURCE[0]}" "$@"
    fi

    local arg conf="" mentions_protected_mode=false
    for arg in "${@:2}"; do
        [[ ${arg} != *protected-mode* ]] || mentions_protected_mode=true
    done
    if [[ ${2:-} == *.conf ]]; then
        conf=$2
    fi
    if [[ -n ${conf} && -r ${conf} ]] && grep -Eq '^[[:space:]]*protected-mode' "${conf}"; then
        mentions_protected_mode=true
    fi
    if [[ ${mentions_protected_mode} == false ]]; then
        set -- "$@" --protected-mode no
    fi

    # Data files readable by the redis user only (as upstream).
    if [[ $(umask) == 0022 ]]; then
        umask 0077
    fi
    exec "$@"
}

main "$@"
