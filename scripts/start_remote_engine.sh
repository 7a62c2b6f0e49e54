#!/usr/bin/env bash
# Bring up a second Docker engine reachable only over TCP, idempotently: the
# "remote" engine realstack's docker provider is tested against (issue #14).
#
# Why: a provider that only ever met /var/run/docker.sock can hide local
# assumptions (host pids, local paths, "localhost"). This engine shares nothing
# with the default one: its own data root (image store, volumes), exec root,
# pidfile and containerd, no unix socket (-H tcp://127.0.0.1:PORT only).
#
# Networking: a second dockerd must not fight the default one over the host's
# network setup, so this one runs with
#   --bridge=rsremote0     a default bridge of its own, made here (10.213.255.1/24).
#                          Never --bridge=none: a dockerd with its bridge disabled
#                          DELETES the host's docker0 at startup (removeDefaultBridge-
#                          Interface), which breaks the default engine's containers.
#   --iptables=false       no rules in the shared DOCKER/DOCKER-ISOLATION chains
#                          (both engines would rewrite them); published ports go
#                          through docker-proxy, which is all 127.0.0.1 needs
#   --ip-masq=false --ip-forward=false   containers need no route out here
#   --default-address-pool 10.213.0.0/16 subnets the default engine never picks
# Containers reach each other on their project network as usual; they cannot
# reach the internet (nothing here pulls: images come from load_remote_images.sh).
#
# The dockerd started here is recorded in $STATE_DIR/dockerd.pid (pid + start
# time) so scripts/stop_remote_engine.sh stops only that one. Prints the
# DOCKER_HOST to use on stdout (`export DOCKER_HOST=tcp://127.0.0.1:23750`).
#
# Environment:
#   REALSTACK_REMOTE_DOCKER_PORT  TCP port on 127.0.0.1   (default 23750)
#   REALSTACK_REMOTE_DOCKER_DIR   state/data/log dir      (default /var/tmp/realstack-docker-remote)
#   REALSTACK_REMOTE_DOCKER_RUN   exec root (short path)  (default /run/realstack-docker-remote)
#   DOCKERD_START_TIMEOUT         seconds to wait         (default 60)
# Needs dockerd installed (scripts/start_docker_engine.sh installs it), iproute2 and root.
set -euo pipefail

readonly PORT="${REALSTACK_REMOTE_DOCKER_PORT:-23750}"
readonly STATE_DIR="${REALSTACK_REMOTE_DOCKER_DIR:-/var/tmp/realstack-docker-remote}"
readonly EXEC_ROOT="${REALSTACK_REMOTE_DOCKER_RUN:-/run/realstack-docker-remote}"
readonly LOG_FILE="${STATE_DIR}/dockerd.log"
readonly PID_FILE="${STATE_DIR}/dockerd.pid"
readonly TIMEOUT_S="${DOCKERD_START_TIMEOUT:-60}"
readonly HOST="tcp://127.0.0.1:${PORT}"
readonly BRIDGE=rsremote0 BRIDGE_ADDR=10.213.255.1/24
readonly SCRIPT=start_remote_engine
# shellcheck source-path=SCRIPTDIR source=_engine_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_engine_common.sh"

engine_answers() { DOCKER_HOST="${HOST}" timeout 10 docker info >/dev/null 2>&1; }

# The pid recorded by an earlier run, if that very process still runs.
recorded_pid() {
    local pid start
    [[ -f ${PID_FILE} ]] || return 1
    read -r pid start <"${PID_FILE}" || return 1
    [[ ${pid} =~ ^[0-9]+$ && $(proc_start_time "${pid}" || true) == "${start}" ]] || return 1
    printf '%s\n' "${pid}"
}

start_dockerd() {
    [[ ${EUID} -eq 0 ]] || die "starting dockerd needs root"
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found: run scripts/start_docker_engine.sh (installs docker.io)"
    [[ ${PORT} =~ ^[0-9]+$ ]] || die "REALSTACK_REMOTE_DOCKER_PORT must be a port number, not '${PORT}'"
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; then
        die "127.0.0.1:${PORT} is taken by something that is not a Docker engine; set REALSTACK_REMOTE_DOCKER_PORT"
    fi
    if ! ip link show "${BRIDGE}" >/dev/null 2>&1; then
        ip link add "${BRIDGE}" type bridge || die "could not create bridge ${BRIDGE}"
        ip addr add "${BRIDGE_ADDR}" dev "${BRIDGE}" || die "could not address bridge ${BRIDGE}"
    fi
    ip link set "${BRIDGE}" up || die "could not bring bridge ${BRIDGE} up"
    mkdir -p "${STATE_DIR}/data" "${EXEC_ROOT}"
    # This engine's network store from its last run makes dockerd (20.10), when it starts
    # again, delete the host engine's docker0 bridge: dropped, so every start builds its
    # networks afresh (nothing of ours needs them kept: no container outlives a run).
    rm -f "${STATE_DIR}/data/network/files/local-kv.db"
    chmod 0700 "${STATE_DIR}" "${EXEC_ROOT}"
    say "starting dockerd on ${HOST} (data: ${STATE_DIR}/data, log: ${LOG_FILE})"
    launch_dockerd -H "${HOST}" \
        --data-root "${STATE_DIR}/data" --exec-root "${EXEC_ROOT}" \
        --pidfile "${EXEC_ROOT}/dockerd.pid" \
        --bridge="${BRIDGE}" --iptables=false --ip-masq=false --ip-forward=false \
        --default-address-pool base=10.213.0.0/16,size=24 \
        --cgroup-parent=/realstack-remote-docker
}

wait_for_engine() {
    local pid=$1 deadline=$((SECONDS + TIMEOUT_S))
    until engine_answers; do
        if ! kill -0 "${pid}" 2>/dev/null; then
            tail -n 30 "${LOG_FILE}" >&2 || true
            die "dockerd (pid ${pid}) died during startup (log above)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "${LOG_FILE}" >&2 || true
            die "engine on ${HOST} not answering after ${TIMEOUT_S}s (dockerd pid ${pid} still running)"
        fi
        sleep 0.2 # poll interval inside a bounded wait loop
    done
}

main() {
    command -v docker >/dev/null 2>&1 || die "docker CLI not on PATH: run scripts/start_docker_engine.sh"
    if engine_answers; then
        say "engine on ${HOST} already answering"
    else
        local pid host_bridge=no
        [[ -e /sys/class/net/docker0 ]] && host_bridge=yes  # the default engine's: not ours
        pid="$(recorded_pid || true)"
        if [[ -n ${pid} ]]; then
            say "dockerd (pid ${pid}) is running but not answering yet; waiting for it"
        else
            pid="$(start_dockerd)"
        fi
        wait_for_engine "${pid}"
        if [[ ${host_bridge} == yes && ! -e /sys/class/net/docker0 ]]; then
            die "the default engine's docker0 bridge disappeared while this engine started" \
                "(dockerd pid ${pid}); stop it (bash scripts/stop_remote_engine.sh) and restart" \
                "the default engine (bash scripts/stop_docker_engine.sh; bash scripts/start_docker_engine.sh)"
        fi
        say "engine ready on ${HOST} (dockerd pid ${pid})"
    fi
    printf 'export DOCKER_HOST=%s\n' "${HOST}"
}

main "$@"
