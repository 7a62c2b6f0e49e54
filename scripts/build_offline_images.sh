#!/usr/bin/env bash
# Build the PostgreSQL, Redis and ClickHouse images without any image registry.
#
# Why: only package registries are reachable here, so `docker pull` cannot
# work. We debootstrap a minimal Debian, `docker import` it as the base, and
# build docker/postgres (15), docker/redis (7) and docker/clickhouse (18.16,
# bookworm's clickhouse-server) on it with Debian's packages.
#
# Every image is tagged with a content key (sha256 of its recipe: the base
# recipe below and every file in its docker/NAME directory), and a step is
# skipped when its keyed tag already exists, so a second run takes well under a
# second. Change a Dockerfile, an entrypoint or the base recipe and only what
# depends on it rebuilds.
#
# Output: `export POSTGRES_IMAGE=... REDIS_IMAGE=... CLICKHOUSE_IMAGE=...` on
# stdout, and the same in dotenv form in .realstack/offline-images.env.
# Tags: realstack-offline/{postgres:15,redis:7,clickhouse:18}-<key>, plus the
# unkeyed aliases realstack-offline/postgres:15, redis:7 and clickhouse:18.
#
# Usage: scripts/build_offline_images.sh [--rebuild]
#   --rebuild   build everything again even when keyed tags exist (picks up
#               new Debian package versions); tags are moved to the new images.
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              REALSTACK_DOCKER_DIR (logs/lock, default /var/tmp/realstack-docker),
#              BUILD_LOCK_TIMEOUT seconds to wait for a concurrent build (900).
# Needs a running engine: scripts/start_docker_engine.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly REPO=realstack-offline
readonly SUITE=bookworm
readonly VARIANT=minbase
readonly MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly STATE_DIR="${REALSTACK_DOCKER_DIR:-/var/tmp/realstack-docker}"
readonly LOCK_TIMEOUT_S="${BUILD_LOCK_TIMEOUT:-900}"
readonly ENV_FILE="${ROOT}/.realstack/offline-images.env"
# Legacy builder: there is no buildx/BuildKit on these machines.
export DOCKER_BUILDKIT=0

say() { printf 'build_offline_images: %s\n' "$*" >&2; }
die() { printf 'build_offline_images: error: %s\n' "$*" >&2; exit 1; }

REBUILD=false
case "${1:-}" in
    "") ;;
    --rebuild) REBUILD=true ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1 (usage: $0 [--rebuild])" ;;
esac
readonly REBUILD

# Everything that shapes the base rootfs. Editing the recipe (or the code in
# build_base that applies it) should bump RECIPE_VERSION.
base_recipe() {
    cat <<EOF
recipe-version: 1
suite: ${SUITE}
variant: ${VARIANT}
mirror: ${MIRROR}
sources: ${SUITE} ${SUITE}-updates ${SUITE}-security main
dpkg: exclude docs/man/locales; policy-rc.d 101; apt no-cache
import: LANG=C.UTF-8 CMD=bash
EOF
}

sha12() { sha256sum | cut -c1-12; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# elapsed_since T0_NS: seconds since T0 (from `date +%s%N`), e.g. 12.345.
elapsed_since() {
    local now ms
    now="$(date +%s%N)"
    ms=$(((now - $1) / 1000000))
    printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

preflight() {
    command -v docker >/dev/null 2>&1 || die "docker CLI not found; run scripts/start_docker_engine.sh"
    timeout 10 docker info >/dev/null 2>&1 ||
        die "docker engine not answering; run scripts/start_docker_engine.sh first"
    mkdir -p "${STATE_DIR}"
    # One build at a time per machine; a concurrent run waits (bounded), then
    # finds the tags and skips.
    exec 9>"${STATE_DIR}/build.lock"
    flock -w "${LOCK_TIMEOUT_S}" 9 ||
        die "another build holds ${STATE_DIR}/build.lock for more than ${LOCK_TIMEOUT_S}s"
}

ROOTFS_DIR=""
cleanup() {
    if [[ -n ${ROOTFS_DIR} && -d ${ROOTFS_DIR} ]]; then
        rm -rf --one-file-system "${ROOTFS_DIR}"
    fi
}
trap cleanup EXIT

build_base() {
    local tag=$1 log="${STATE_DIR}/build-base.log"
    [[ ${EUID} -eq 0 ]] || die "debootstrap needs root"
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found; run scripts/start_docker_engine.sh (installs it)"
    ROOTFS_DIR="$(mktemp -d "${STATE_DIR}/rootfs.XXXXXX")"
    local rootfs="${ROOTFS_DIR}/rootfs"
    say "debootstrap ${VARIANT} ${SUITE} (log: ${log})"
    if ! debootstrap --variant="${VARIANT}" "${SUITE}" "${rootfs}" "${MIRROR}" >"${log}" 2>&1; then
        tail -n 30 "${log}" >&2 || true
        tail -n 20 "${rootfs}/debootstrap/debootstrap.log" >&2 2>/dev/null || true
        die "debootstrap failed (see ${log})"
    fi
    # Same trimming as Debian's official slim images: no docs/man/locales,
    # no daemons started by package scripts, no .deb cache kept.
    cat >"${rootfs}/etc/apt/sources.list" <<EOF
deb ${MIRROR} ${SUITE} main
deb ${MIRROR} ${SUITE}-updates main
deb ${MIRROR%/debian}/debian-security ${SUITE}-security main
EOF
    cat >"${rootfs}/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
    printf '#!/bin/sh\nexit 101\n' >"${rootfs}/usr/sbin/policy-rc.d"
    chmod 0755 "${rootfs}/usr/sbin/policy-rc.d"
    cat >"${rootfs}/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    rm -rf "${rootfs}/var/lib/apt/lists/"* "${rootfs}/var/cache/apt/"*.bin \
        "${rootfs}/var/cache/apt/archives/"*.deb "${rootfs}/usr/share/doc/"*/changelog* \
        "${rootfs}/usr/share/man/"* "${rootfs}/var/log/"*.log
    say "docker import -> ${tag}"
    tar -C "${rootfs}" --numeric-owner -c . |
        docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' \
            --message "realstack: debootstrap --variant=${VARIANT} ${SUITE}" - "${tag}" >/dev/null ||
        die "docker import of the ${SUITE} rootfs failed"
    cleanup
    ROOTFS_DIR=""
}

# image_key NAME BASE_KEY: content key of docker/NAME on that base: every
# regular file in the directory, in C-locale path order (for postgres and redis
# that is Dockerfile, docker-entrypoint.sh).
image_key() {
    local dir="${ROOT}/docker/$1" base_key=$2
    [[ -f ${dir}/Dockerfile ]] || die "${dir}/Dockerfile not found"
    {
        printf 'base %s\n' "${base_key}"
        find "${dir}" -type f -print0 | LC_ALL=C sort -z | xargs -0 cat
    } | sha12
}

# build_image NAME TAG BASE_TAG KEY: docker build docker/NAME.
build_image() {
    local name=$1 tag=$2 base=$3 key=$4 log="${STATE_DIR}/build-${1}.log"
    local -a cache=()
    [[ ${REBUILD} == false ]] || cache=(--no-cache)
    say "docker build docker/${name} -> ${tag} (log: ${log})"
    if ! docker build "${cache[@]}" --build-arg "BASE_IMAGE=${base}" \
        --label "org.realstack.content-key=${key}" \
        --label "org.realstack.base-image=${base}" \
        --tag "${tag}" "${ROOT}/docker/${name}" >"${log}" 2>&1; then
        tail -n 40 "${log}" >&2 || true
        die "docker build of docker/${name} failed (see ${log})"
    fi
}

# step LABEL TAG ALIAS FUNCTION ARGS...: run FUNCTION unless TAG exists, then
# point ALIAS at TAG. Reports the time the step took.
step() {
    local label=$1 tag=$2 alias=$3 t0
    shift 3
    t0="$(date +%s%N)"
    if [[ ${REBUILD} == false ]] && image_exists "${tag}"; then
        say "${label}: ${tag} exists, skipped"
    else
        "$@"
        image_exists "${tag}" || die "${label}: ${tag} missing after build"
        say "${label}: built ${tag} in $(elapsed_since "${t0}")s"
    fi
    docker tag "${tag}" "${alias}"
}

write_env_file() {
    local pg=$1 redis=$2 clickhouse=$3 tmp
    mkdir -p "$(dirname "${ENV_FILE}")"
    tmp="$(mktemp "${ENV_FILE}.XXXXXX")"
    {
        printf '# Written by scripts/build_offline_images.sh: locally built images (no registry).\n'
        printf 'POSTGRES_IMAGE=%s\n' "${pg}"
        printf 'REDIS_IMAGE=%s\n' "${redis}"
        printf 'CLICKHOUSE_IMAGE=%s\n' "${clickhouse}"
    } >"${tmp}"
    chmod 0644 "${tmp}"
    mv -f "${tmp}" "${ENV_FILE}"
}

main() {
    local t0
    t0="$(date +%s%N)"
    preflight

    local base_key pg_key redis_key ch_key
    base_key="$(base_recipe | sha12)"
    local base_tag="${REPO}/debian:${SUITE}-${VARIANT}-${base_key}"
    pg_key="$(image_key postgres "${base_key}")"
    redis_key="$(image_key redis "${base_key}")"
    ch_key="$(image_key clickhouse "${base_key}")"
    local pg_tag="${REPO}/postgres:15-${pg_key}" redis_tag="${REPO}/redis:7-${redis_key}"
    local ch_tag="${REPO}/clickhouse:18-${ch_key}"

    step base "${base_tag}" "${REPO}/debian:${SUITE}" build_base "${base_tag}"
    step postgres "${pg_tag}" "${REPO}/postgres:15" build_image postgres "${pg_tag}" "${base_tag}" "${pg_key}"
    step redis "${redis_tag}" "${REPO}/redis:7" build_image redis "${redis_tag}" "${base_tag}" "${redis_key}"
    step clickhouse "${ch_tag}" "${REPO}/clickhouse:18" build_image clickhouse "${ch_tag}" "${base_tag}" "${ch_key}"

    write_env_file "${pg_tag}" "${redis_tag}" "${ch_tag}"
    say "done in $(elapsed_since "${t0}")s; wrote ${ENV_FILE#"${ROOT}"/}"
    printf 'export POSTGRES_IMAGE=%s REDIS_IMAGE=%s CLICKHOUSE_IMAGE=%s\n' "${pg_tag}" "${redis_tag}" "${ch_tag}"
}

main "$@"
