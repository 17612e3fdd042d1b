#!/usr/bin/env bash
# Make sure a Docker engine answers, starting one if this machine can.
#
# Exit codes: 0 an engine answers; 3 none answers and this script cannot start one
# (not root, DOCKER_HOST points elsewhere, or dockerd did not come up in time).
set -euo pipefail

LOG=${CJOB_EMU_DOCKERD_LOG:-/var/log/cjob-emu-dockerd.log}
WAIT_SECONDS=${CJOB_EMU_DOCKERD_WAIT:-60}

say() { echo "ensure-docker: $*" >&2; }
fail() { say "$*"; exit 3; }

engine_answers() {
    # `docker info` exits non-zero when the client reaches no server.
    if command -v docker >/dev/null 2>&1; then
        timeout 15 docker info >/dev/null 2>&1
    else
        timeout 15 python3 -c 'import docker; docker.from_env(timeout=10).ping()' >/dev/null 2>&1
    fi
}

if engine_answers; then
    say "a Docker engine answers${DOCKER_HOST:+ at $DOCKER_HOST}"
    exit 0
fi

if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != unix:///var/run/docker.sock ]]; then
    fail "DOCKER_HOST=$DOCKER_HOST is set but no engine answers there; start it or unset DOCKER_HOST"
fi

if [[ $(id -u) -ne 0 ]]; then
    fail "no Docker engine answers and starting one needs root; start dockerd (or run as root)"
fi

if ! command -v dockerd >/dev/null 2>&1; then
    say "dockerd is missing: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null \
        || fail "apt-get install docker.io failed"
fi

# A dockerd killed with its session leaves its pid file; if that pid now belongs to another
# process, a new dockerd refuses to start.
PIDFILE=/var/run/docker.pid
if [[ -f $PIDFILE ]]; then
    old_pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if [[ -z "$old_pid" || "$(cat "/proc/$old_pid/comm" 2>/dev/null || true)" != dockerd ]]; then
        say "removing stale $PIDFILE (pid ${old_pid:-none} is not a dockerd)"
        rm -f "$PIDFILE"
    else
        fail "dockerd (pid $old_pid) runs but does not answer; see $LOG or restart it"
    fi
fi

say "starting dockerd in the background (log: $LOG)"
mkdir -p "$(dirname "$LOG")"
# setsid: the engine outlives this script and the shell that ran it.
setsid dockerd >>"$LOG" 2>&1 </dev/null &
DOCKERD_PID=$!

for ((waited = 0; waited < WAIT_SECONDS; waited++)); do
    if engine_answers; then
        say "dockerd (pid $DOCKERD_PID) answers after ${waited}s"
        exit 0
    fi
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
        tail -n 20 "$LOG" >&2 || true
        fail "dockerd exited during start-up; see $LOG"
    fi
    sleep 1
done
tail -n 20 "$LOG" >&2 || true
fail "dockerd (pid $DOCKERD_PID) started but did not answer within ${WAIT_SECONDS}s; see $LOG"
