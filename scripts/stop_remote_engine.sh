#!/usr/bin/env bash
# Stop the dockerd that scripts/start_remote_engine.sh started, and only that one: the same
# ownership proof and stop ladder as scripts/stop_docker_engine.sh (its pidfile holds "pid
# start_time"; a live process must match both, or nothing is signalled), on the remote
# engine's state dir. Its data root (images, volumes) is kept, so the next start loads nothing.
#
# Environment: REALSTACK_REMOTE_DOCKER_DIR (default /var/tmp/realstack-docker-remote).
set -euo pipefail
REALSTACK_DOCKER_DIR="${REALSTACK_REMOTE_DOCKER_DIR:-/var/tmp/realstack-docker-remote}" \
    exec bash "$(dirname "$0")/stop_docker_engine.sh"
