#!/usr/bin/env bash
# Copy the offline images into the remote engine (scripts/start_remote_engine.sh).
#
# Why: that engine has its own image store and there is no registry to pull
# from. The images are built once on the default engine
# (scripts/build_offline_images.sh, which writes .realstack/offline-images.env);
# here `docker save` on the default engine streams into `docker load` on the
# remote one. Tags are content-keyed, so an image the remote engine already has
# is skipped: a second run costs two `image inspect`s per image (~0.1 s).
#
# Usage: scripts/load_remote_images.sh [postgres redis clickhouse ...]
#   default: postgres redis (what the docker e2e stack runs)
# Environment: REALSTACK_REMOTE_DOCKER_PORT (default 23750): the remote engine;
#   the source is the default engine (DOCKER_HOST unset, or SOURCE_DOCKER_HOST).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly ENV_FILE="${ROOT}/.realstack/offline-images.env"
readonly REMOTE="tcp://127.0.0.1:${REALSTACK_REMOTE_DOCKER_PORT:-23750}"
readonly SOURCE="${SOURCE_DOCKER_HOST:-}"

say() { printf 'load_remote_images: %s\n' "$*" >&2; }
die() { printf 'load_remote_images: error: %s\n' "$*" >&2; exit 1; }

on_source() { if [[ -n ${SOURCE} ]]; then DOCKER_HOST="${SOURCE}" "$@"; else env -u DOCKER_HOST "$@"; fi; }
on_remote() { DOCKER_HOST="${REMOTE}" "$@"; }

main() {
    local names=("$@")
    [[ ${#names[@]} -gt 0 ]] || names=(postgres redis)
    [[ -f ${ENV_FILE} ]] || die "${ENV_FILE} not found: run scripts/build_offline_images.sh first"
    on_remote timeout 10 docker info >/dev/null 2>&1 ||
        die "no engine answers at ${REMOTE}: run scripts/start_remote_engine.sh first"
    local name var image missing=()
    for name in "${names[@]}"; do
        var="$(printf '%s_IMAGE' "${name}" | tr '[:lower:]' '[:upper:]')"
        image="$(sed -n "s/^${var}=//p" "${ENV_FILE}")"
        [[ -n ${image} ]] || die "${var} not in ${ENV_FILE} (known: postgres redis clickhouse)"
        if on_remote docker image inspect "${image}" >/dev/null 2>&1; then
            say "${image}: already in ${REMOTE}, skipped"
            continue
        fi
        on_source docker image inspect "${image}" >/dev/null 2>&1 ||
            die "${image} is not in the default engine: run scripts/build_offline_images.sh"
        missing+=("${image}")
    done
    [[ ${#missing[@]} -gt 0 ]] || return 0
    say "docker save ${missing[*]} | load into ${REMOTE}"
    # One stream for all: layers they share (the debootstrap base) travel once.
    on_source docker save "${missing[@]}" | on_remote docker load >/dev/null ||
        die "copying ${missing[*]} into ${REMOTE} failed"
    for image in "${missing[@]}"; do
        on_remote docker image inspect "${image}" >/dev/null 2>&1 || die "${image} missing after load"
    done
    say "loaded ${missing[*]}"
}

main "$@"
