#!/usr/bin/env bash
# The README's first command: install cjob-emu in ./.venv and run the main job, the sample
# 5-replica job in fixtures/jobs/distributed.yaml (chief, 2 workers, ps, evaluator).
# Where a Docker engine answers, the replicas run as containers of the locally built test
# image (standing in for the job's registry image); elsewhere on the process backend.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -e .venv ] && [ ! -d .venv ]; then
    # A PEP 832 redirect file (tox 4.6x writes one pointing at .tox/<env>) is no venv.
    if grep -q '^\.tox/' .venv; then
        echo "demo.sh: replacing tox's .venv redirect file ($(head -1 .venv)) by a virtual environment" >&2
        rm .venv
    else
        echo "demo.sh: .venv is a file, not a virtual environment; move it away and run again" >&2
        exit 2
    fi
fi
if [ ! -x .venv/bin/cjob-emu ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e .
fi
JOB=fixtures/jobs/distributed.yaml
IMAGE=us-docker.pkg.dev/my-project/trainers/roles:1.0

echo "== cjob-emu validate $JOB"
.venv/bin/cjob-emu validate "$JOB"
echo
echo "== cjob-emu env $JOB --replica workerpool1-1"
.venv/bin/cjob-emu env "$JOB" --replica workerpool1-1
echo
if .venv/bin/python -c 'import docker; docker.from_env(timeout=3).ping()' 2>/dev/null \
    && .venv/bin/python -m cjob_emu.images build; then
    TAG=$(.venv/bin/python -m cjob_emu.images tag test)
    echo "== cjob-emu run $JOB --backend docker --image-map $IMAGE=$TAG"
    exec .venv/bin/cjob-emu run "$JOB" --backend docker --image-map "$IMAGE=$TAG"
fi
echo "== cjob-emu run $JOB --backend process (no Docker engine answers)"
exec .venv/bin/cjob-emu run "$JOB" --backend process
