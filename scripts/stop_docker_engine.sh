#!/usr/bin/env bash
# Stop the dockerd that scripts/start_docker_engine.sh started, and only that one.
#
# Ownership: the pidfile holds "pid start_time"; a live process must match
# both, otherwise the record is stale and is removed without signalling
# anything (a dockerd someone else started is never touched).
# Stop ladder: SIGTERM -> wait (bounded) -> SIGKILL. Afterwards the nsfs mount
# dockerd leaves at /var/run/docker/netns/default is unmounted when no dockerd
# runs any more. Images and volumes are kept.
#
# Environment: REALSTACK_DOCKER_DIR (default /var/tmp/realstack-docker),
#              DOCKERD_STOP_TIMEOUT seconds before SIGKILL (default 30).
set -euo pipefail

readonly STATE_DIR="${REALSTACK_DOCKER_DIR:-/var/tmp/realstack-docker}"
readonly PID_FILE="${STATE_DIR}/dockerd.pid"
readonly TIMEOUT_S="${DOCKERD_STOP_TIMEOUT:-30}"
readonly NETNS_MOUNT=/var/run/docker/netns/default
readonly SCRIPT=stop_docker_engine
# shellcheck source-path=SCRIPTDIR source=_engine_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_engine_common.sh"

wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "${pid}" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1 # poll interval inside a bounded wait loop
    done
}

cleanup_netns_mount() {
    pgrep -x dockerd >/dev/null 2>&1 && return 0
    if mountpoint -q "${NETNS_MOUNT}" 2>/dev/null; then
        umount "${NETNS_MOUNT}" || die "could not unmount ${NETNS_MOUNT}"
        say "unmounted ${NETNS_MOUNT}"
    fi
}

main() {
    [[ ${EUID} -eq 0 ]] || die "stopping dockerd needs root"
    if [[ ! -f ${PID_FILE} ]]; then
        say "no dockerd recorded in ${PID_FILE}; nothing of ours to stop"
        cleanup_netns_mount
        return 0
    fi
    local pid recorded_start actual_start
    read -r pid recorded_start <"${PID_FILE}" || die "unreadable pidfile ${PID_FILE}"
    [[ ${pid} =~ ^[0-9]+$ && ${recorded_start} =~ ^[0-9]+$ ]] || die "malformed pidfile ${PID_FILE}"
    actual_start="$(proc_start_time "${pid}" || true)"
    if [[ ${actual_start} != "${recorded_start}" ]]; then
        say "recorded dockerd (pid ${pid}) is gone; removing stale ${PID_FILE}"
        rm -f "${PID_FILE}"
        cleanup_netns_mount
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
    cleanup_netns_mount
    say "dockerd stopped"
}

main "$@"
