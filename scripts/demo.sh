#!/usr/bin/env bash
# The README's first command: install cjob-emu in ./.venv and run the main job,
# the sample 5-replica job in fixtures/jobs/distributed.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/cjob-emu ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e .
fi
JOB=fixtures/jobs/distributed.yaml

echo "== cjob-emu validate $JOB"
.venv/bin/cjob-emu validate "$JOB"
echo
echo "== cjob-emu env $JOB --replica workerpool1-1"
.venv/bin/cjob-emu env "$JOB" --replica workerpool1-1
