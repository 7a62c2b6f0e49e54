#!/usr/bin/env bash
# Stop the dockerd that scripts/start_remote_engine.sh started, and only that one.
#
# Ownership: $STATE_DIR/dockerd.pid holds "pid start_time"; a live process must
# match both, otherwise the record is stale and is removed without signalling
# anything (the default engine, or any dockerd someone else started, is never
# touched). SIGTERM -> bounded wait -> SIGKILL. Its data root (images, volumes)
# is kept, so the next start needs no image load.
#
# Environment: REALSTACK_REMOTE_DOCKER_DIR (default /var/tmp/realstack-docker-remote),
#              DOCKERD_STOP_TIMEOUT seconds before SIGKILL (default 30).
set -euo pipefail

readonly STATE_DIR="${REALSTACK_REMOTE_DOCKER_DIR:-/var/tmp/realstack-docker-remote}"
readonly PID_FILE="${STATE_DIR}/dockerd.pid"
readonly TIMEOUT_S="${DOCKERD_STOP_TIMEOUT:-30}"

say() { printf 'stop_remote_engine: %s\n' "$*" >&2; }
die() { printf 'stop_remote_engine: error: %s\n' "$*" >&2; exit 1; }

proc_start_time() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    # shellcheck disable=SC2086 # deliberate word splitting of the stat fields
    set -- ${stat}
    printf '%s\n' "${20}"
}

wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "${pid}" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1 # poll interval inside a bounded wait loop
    done
}

main() {
    [[ ${EUID} -eq 0 ]] || die "stopping dockerd needs root"
    if [[ ! -f ${PID_FILE} ]]; then
        say "no dockerd recorded in ${PID_FILE}; nothing of ours to stop"
        return 0
    fi
    local pid recorded_start actual_start
    read -r pid recorded_start <"${PID_FILE}" || die "unreadable pidfile ${PID_FILE}"
    [[ ${pid} =~ ^[0-9]+$ && ${recorded_start} =~ ^[0-9]+$ ]] || die "malformed pidfile ${PID_FILE}"
    actual_start="$(proc_start_time "${pid}" || true)"
    if [[ ${actual_start} != "${recorded_start}" ]]; then
        say "recorded dockerd (pid ${pid}) is gone; removing stale ${PID_FILE}"
        rm -f "${PID_FILE}"
        return 0
    fi
    say "stopping dockerd (pid ${pid})"
    kill -TERM "${pid}"
    if ! wait_gone "${pid}" "${TIMEOUT_S}"; then
        say "dockerd (pid ${pid}) still running after ${TIMEOUT_S}s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        wait_gone "${pid}" 10 || die "dockerd (pid ${pid}) survived SIGKILL"
    fi
    rm -f "${PID_FILE}"
    say "dockerd stopped"
}

main "$@"
