#!/usr/bin/env bash
# The project's test command: `bash scripts/test.sh [pytest arguments]`.
#
# Makes sure a Docker engine answers (starting one when root), installs tox if it is missing,
# then runs every tox env (aip1, aip2, lint); the test envs build the local images first
# (minutes once, cached afterwards). Arguments go to pytest, e.g. `-k smoke`; TOXENV=aip1
# picks envs. Exits non-zero when any env fails, and under CI=true when no engine answers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}

docker_status=0
bash scripts/ensure-docker.sh || docker_status=$?
if ((docker_status != 0)); then
    if [[ "${CI:-}" == true ]]; then
        echo "test.sh: CI=true and no Docker engine answers; the Docker tests cannot run" >&2
        exit "$docker_status"
    fi
    echo "test.sh: going on without Docker: tests marked docker will be skipped" >&2
fi

if ! "$PYTHON" -m tox --version >/dev/null 2>&1; then
    echo "test.sh: installing tox" >&2
    "$PYTHON" -m pip install --quiet 'tox>=4.11'
fi

if (($# > 0)); then
    exec "$PYTHON" -m tox run -- "$@"
fi
exec "$PYTHON" -m tox run
