#!/usr/bin/env bash
# Entrypoint for the offline PostgreSQL image, following the official
# `postgres` image's contract so compose files work with either image.
#
# First start (empty $PGDATA): initdb -> temporary server on the unix socket
# only (no TCP, so a TCP health check cannot pass during init) -> create
# POSTGRES_DB -> run /docker-entrypoint-initdb.d/* -> stop the temporary
# server. Then exec the real server, which listens on all interfaces inside
# the container (listen_addresses='*' from the config sample).
set -Eeuo pipefail

say() { printf 'docker-entrypoint: %s\n' "$*"; }
die() { printf 'docker-entrypoint: error: %s\n' "$*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR may be given directly or as VAR_FILE (a path
# whose contents are the value, e.g. a docker secret); not both.
file_env() {
    local var=$1 def=${2:-}
    local file_var="${var}_FILE"
    local val=${def}
    if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
        die "both ${var} and ${file_var} are set (they are exclusive)"
    fi
    if [[ -n ${!var:-} ]]; then
        val=${!var}
    elif [[ -n ${!file_var:-} ]]; then
        val="$(<"${!file_var}")"
    fi
    export "${var}=${val}"
    unset "${file_var}"
}

setup_env() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "${POSTGRES_USER}"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
    export POSTGRES_HOST_AUTH_METHOD
}

# Directories the server needs, owned by the user it runs as.
create_dirs() {
    mkdir -p "${PGDATA}" /var/run/postgresql
    chmod 0700 "${PGDATA}" || true
    chmod 3777 /var/run/postgresql || true
    if [[ $(id -u) == 0 ]]; then
        find "${PGDATA}" \! -user postgres -exec chown postgres:postgres '{}' +
        chown postgres:postgres /var/run/postgresql
    fi
}

check_password_policy() {
    if [[ -z ${POSTGRES_PASSWORD} && ${POSTGRES_HOST_AUTH_METHOD} != trust ]]; then
        cat >&2 <<'MSG'
docker-entrypoint: error: the database is uninitialized and no superuser password is set.
  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value, or
  POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without a password
  (never for anything reachable from outside).
MSG
        exit 1
    fi
}

init_database_dir() {
    # POSTGRES_INITDB_ARGS is a space-separated option string, as upstream.
    local -a initdb_args=()
    read -r -a initdb_args <<<"${POSTGRES_INITDB_ARGS}"
    if [[ -n ${POSTGRES_PASSWORD} ]]; then
        # The password never appears on a command line or in a file on disk.
        initdb --username="${POSTGRES_USER}" \
            --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD}") "${initdb_args[@]}"
    else
        initdb --username="${POSTGRES_USER}" "${initdb_args[@]}"
    fi
}

setup_hba() {
    local method=${POSTGRES_HOST_AUTH_METHOD}
    [[ -n ${method} ]] || method=scram-sha-256
    {
        printf '\n'
        if [[ ${method} == trust ]]; then
            printf '# warning: trust is enabled for all connections\n'
        fi
        printf 'host all all all %s\n' "${method}"
    } >>"${PGDATA}/pg_hba.conf"
}

# Temporary server: unix socket only, so nothing outside can connect (and no
# TCP health check can pass) while initialisation runs.
temp_server_start() {
    PGUSER="${POSTGRES_USER}" pg_ctl -D "${PGDATA}" -w -t 60 \
        -o "-c listen_addresses='' -p ${PGPORT:-5432}" start
}

temp_server_stop() {
    PGUSER="${POSTGRES_USER}" pg_ctl -D "${PGDATA}" -m fast -w -t 60 stop
}

psql_init() {
    # Unix socket; local connections are trusted by initdb's default pg_hba.
    env -u PGHOST -u PGHOSTADDR \
        psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --no-password --no-psqlrc "$@"
}

setup_db() {
    [[ ${POSTGRES_DB} != postgres ]] || return 0
    local exists
    exists="$(psql_init --dbname postgres --set db="${POSTGRES_DB}" --tuples-only --no-align \
        <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")"
    if [[ -z ${exists} ]]; then
        psql_init --dbname postgres --set db="${POSTGRES_DB}" <<<'CREATE DATABASE :"db";'
        say "created database ${POSTGRES_DB}"
    fi
}

process_init_files() {
    local f
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case "${f}" in
            *.sh)
                if [[ -x ${f} ]]; then
                    say "running ${f}"
                    "${f}"
                else
                    say "sourcing ${f}"
                    # shellcheck disable=SC1090 # init scripts are user-provided
                    . "${f}"
                fi
                ;;
            *.sql)
                say "running ${f}"
                psql_init --dbname "${POSTGRES_DB}" -f "${f}"
                ;;
            *.sql.gz)
                say "running ${f}"
                gunzip -c "${f}" | psql_init --dbname "${POSTGRES_DB}"
                ;;
            *) say "ignoring ${f}" ;;
        esac
    done
    shopt -u nullglob
}

main() {
    # `docker run IMAGE -c foo=bar` means `postgres -c foo=bar`.
    if [[ ${1:-} == -* ]]; then
        set -- postgres "$@"
    fi
    if [[ ${1:-} != postgres ]]; then
        exec "$@"
    fi

    setup_env
    create_dirs
    # PostgreSQL refuses to run as root: drop to the postgres user and re-enter.
    if [[ $(id -u) == 0 ]]; then
        export HOME=/var/lib/postgresql
        exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi

    if [[ ! -s ${PGDATA}/PG_VERSION ]]; then
        check_password_policy
        init_database_dir
        setup_hba
        # Init scripts may rely on PGPASSWORD, as with the official image.
        export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD}}"
        temp_server_start
        setup_db
        process_init_files
        temp_server_stop
        unset PGPASSWORD
        say "PostgreSQL init process complete; ready for start up"
    else
        say "PostgreSQL database directory appears to contain a database; skipping initialization"
    fi
    exec "$@"
}

main "$@"
