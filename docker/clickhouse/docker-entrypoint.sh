#!/usr/bin/env bash
# Entrypoint for the offline ClickHouse 18.16 image, following the official
# `clickhouse/clickhouse-server` image's environment contract so compose files
# work with either image:
#   CLICKHOUSE_USER / CLICKHOUSE_PASSWORD  replace the `default` user with this
#       one (any network), unless CLICKHOUSE_SKIP_USER_SETUP=1; written to
#       users.d/default-user.xml (password as SHA-256, never in plain text).
#   CLICKHOUSE_DB  created on first start (empty data directory).
#   CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT  accepted and ignored: 18.16 has no
#       SQL access management.
#   /docker-entrypoint-initdb.d  not supported: the entrypoint stops with an
#       error when it holds files rather than start without running them.
# Arguments starting with `-` go to clickhouse-server; anything else is exec'd.
#
# No temporary server on first start: the database is created the way
# ClickHouse 18.16 stores one, a metadata/<db>.sql file holding its ATTACH
# statement plus the metadata/<db>/ and data/<db>/ directories, which the
# server attaches while loading metadata at startup. So the first start costs
# no more than any other, and /ping cannot answer before the database exists.
#
# The server runs in the foreground as the clickhouse user (uid 101), exec'd so
# it receives docker's SIGTERM, and logs to stderr (config.d/docker_related_config.xml).
set -Eeuo pipefail

readonly CONFIG_FILE=/etc/clickhouse-server/config.xml
readonly USERS_D=/etc/clickhouse-server/users.d
readonly USER_FILE="${USERS_D}/default-user.xml"
readonly INITDB_D=/docker-entrypoint-initdb.d
# <path> in the package's config.xml.
readonly DATA_DIR=/var/lib/clickhouse

say() { printf 'docker-entrypoint: %s\n' "$*" >&2; }
die() { printf 'docker-entrypoint: error: %s\n' "$*" >&2; exit 1; }

setup_env() {
    : "${CLICKHOUSE_USER:=default}"
    : "${CLICKHOUSE_PASSWORD:=}"
    : "${CLICKHOUSE_DB:=}"
    : "${CLICKHOUSE_SKIP_USER_SETUP:=0}"
    # Names go into XML element names and SQL unquoted: keep them plain.
    [[ ${CLICKHOUSE_USER} =~ ^[A-Za-z_][A-Za-z0-9_.-]*$ ]] ||
        die "CLICKHOUSE_USER='${CLICKHOUSE_USER}' is not a plain name ([A-Za-z_][A-Za-z0-9_.-]*)"
    if [[ -n ${CLICKHOUSE_DB} ]]; then
        [[ ${CLICKHOUSE_DB} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
            die "CLICKHOUSE_DB='${CLICKHOUSE_DB}' is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"
    fi
}

check_initdb_dir() {
    local -a files=()
    if [[ -d ${INITDB_D} ]]; then
        shopt -s nullglob dotglob
        files=("${INITDB_D}"/*)
        shopt -u nullglob dotglob
    fi
    if ((${#files[@]} > 0)); then
        die "${INITDB_D} is not supported by this offline image (found: ${files[*]}); create schema from the client instead"
    fi
}

user_setup_wanted() {
    [[ ${CLICKHOUSE_SKIP_USER_SETUP} != 1 ]] &&
        [[ ${CLICKHOUSE_USER} != default || -n ${CLICKHOUSE_PASSWORD} ]]
}

# Replace the package's password-less `default` user by CLICKHOUSE_USER, as
# the official image does (users.d is merged over users.xml).
manage_user() {
    if ! user_setup_wanted; then
        rm -f "${USER_FILE}"
        return 0
    fi
    local password_xml hash
    if [[ -n ${CLICKHOUSE_PASSWORD} ]]; then
        hash="$(printf '%s' "${CLICKHOUSE_PASSWORD}" | sha256sum | cut -d' ' -f1)"
        password_xml="<password_sha256_hex>${hash}</password_sha256_hex>"
    else
        password_xml="<password></password>"
    fi
    local tmp
    tmp="$(mktemp "${USER_FILE}.XXXXXX")"
    cat >"${tmp}" <<EOF
<?xml version="1.0"?>
<!-- Written by docker-entrypoint.sh from CLICKHOUSE_USER / CLICKHOUSE_PASSWORD. -->
<yandex>
    <users>
        <default remove="remove"></default>
        <${CLICKHOUSE_USER}>
            <profile>default</profile>
            <networks>
                <ip>::/0</ip>
            </networks>
            ${password_xml}
            <quota>default</quota>
        </${CLICKHOUSE_USER}>
    </users>
</yandex>
EOF
    chmod 0644 "${tmp}"
    mv -f "${tmp}" "${USER_FILE}"
    say "user '${CLICKHOUSE_USER}' set up in ${USER_FILE} (replaces the package's password-less 'default')"
}

# Directories the server writes, owned by the user it runs as.
create_dirs() {
    mkdir -p "${DATA_DIR}"
    find "${DATA_DIR}" \! -user clickhouse -exec chown clickhouse:clickhouse '{}' +
}

# First start = no data/ directory yet (as the official image decides).
# ATTACH DATABASE with the Ordinary engine is exactly what 18.16's own
# CREATE DATABASE leaves in metadata/<db>.sql.
create_database() {
    local db=${CLICKHOUSE_DB}
    [[ -n ${db} && ${db} != default && ${db} != system ]] || return 0
    [[ ! -e ${DATA_DIR}/metadata/${db} ]] || return 0
    mkdir -p "${DATA_DIR}/metadata/${db}" "${DATA_DIR}/data/${db}"
    printf 'ATTACH DATABASE %s\nENGINE = Ordinary\n' "${db}" >"${DATA_DIR}/metadata/${db}.sql.tmp"
    mv -f "${DATA_DIR}/metadata/${db}.sql.tmp" "${DATA_DIR}/metadata/${db}.sql"
    say "database '${db}' will be attached at startup"
}

main() {
    # `docker run IMAGE --http_port=8124` means `clickhouse-server --http_port=8124`.
    if [[ ${1:-} == -* ]]; then
        set -- clickhouse-server "$@"
    fi
    if [[ ${1:-} != clickhouse-server ]]; then
        exec "$@"
    fi

    setup_env
    check_initdb_dir
    if [[ $(id -u) == 0 ]]; then
        manage_user
        create_dirs
        export HOME="${DATA_DIR}"
        exec setpriv --reuid=clickhouse --regid=clickhouse --init-groups "${BASH_SOURCE[0]}" "$@"
    fi

    # Started as another user (docker run --user): users.d may not be ours.
    if [[ -w ${USERS_D} ]]; then
        manage_user
    elif user_setup_wanted && [[ ! -f ${USER_FILE} ]]; then
        say "warning: cannot write ${USER_FILE} as uid $(id -u); CLICKHOUSE_USER/CLICKHOUSE_PASSWORD not applied"
    fi
    # The server's own umask (027), so files look as if it had made them.
    umask 0027
    if [[ ! -d ${DATA_DIR}/data ]]; then
        create_database
    else
        say "data directory ${DATA_DIR} already initialised; skipping database creation"
    fi
    shift
    exec clickhouse-server --config-file="${CONFIG_FILE}" "$@"
}

main "$@"
