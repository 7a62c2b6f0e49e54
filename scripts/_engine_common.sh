# shellcheck shell=bash
# What the engine scripts share, sourced by start_docker_engine.sh,
# start_remote_engine.sh and stop_docker_engine.sh (functions only: sourcing runs
# nothing): their messages, the start time that proves a pid is still the
# dockerd a start script launched, and that launch with its "pid start_time"
# record, which the stop script signals nothing without.
#
# The sourcing script sets first:
#   SCRIPT              its name, the prefix of every message
#   LOG_FILE, PID_FILE  where launch_dockerd appends dockerd's output / records it

say() { printf '%s: %s\n' "${SCRIPT}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${SCRIPT}" "$*" >&2; exit 1; }

# Start time of a pid in clock ticks since boot (field 22 of /proc/PID/stat):
# pid + start time identifies a process; a recycled pid will not match.
proc_start_time() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    # Drop "pid (comm) " first: comm may contain spaces.
    stat="${stat##*) }"
    # shellcheck disable=SC2086 # deliberate word splitting of the stat fields
    set -- ${stat}
    printf '%s\n' "${20}"
}

# Start dockerd with the given arguments, record "pid start_time" in PID_FILE and
# print the pid. setsid: own session, so the daemon outlives this shell and its
# terminal.
launch_dockerd() {
    printf '\n==== %s %s: starting dockerd ====\n' "$(date -Is)" "${SCRIPT}" >>"${LOG_FILE}"
    setsid dockerd "$@" </dev/null >>"${LOG_FILE}" 2>&1 &
    local pid=$! start_time
    start_time="$(proc_start_time "${pid}")" || {
        tail -n 30 "${LOG_FILE}" >&2 || true
        die "dockerd exited immediately"
    }
    printf '%s %s\n' "${pid}" "${start_time}" >"${PID_FILE}.tmp"
    mv -f "${PID_FILE}.tmp" "${PID_FILE}"
    printf '%s\n' "${pid}"
}
