"""``CustomJob.from_local_script`` with a custom image on the process backend: the SDK's
``pip install --upgrade pip && pip3 install --user PACKAGE`` runs in the run's virtual
environment, and the Python running the tests is left exactly as it was."""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path

from google.cloud import aiplatform, aiplatform_v1

from cjob_emu.executor.process_venv import USER_BASE
from cjob_emu.fake_api import FakeVertexServer, sdk_pointed_at
from cjob_emu.fake_api.executor_runner import ExecutorRunner

CUSTOM_IMAGE = "registry.example.com/team/trainer:1"  # not prebuilt: the SDK runs pip itself

TRAIN = """\
import os, pathlib, sys
import aiplatform_custom_trainer_script
out = pathlib.Path(os.environ["AIP_MODEL_DIR"])
out.mkdir(parents=True, exist_ok=True)
(out / "where.txt").write_text(aiplatform_custom_trainer_script.__file__ + "\\n" + sys.prefix)
"""


def _snapshot() -> dict[str, tuple[int, int]]:
    """Every file of the host's site-packages (and user site) with its size and mtime."""
    roots = {*site.getsitepackages(), site.getusersitepackages(), sysconfig.get_path("purelib")}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    roots.add(str(Path(sys.base_prefix) / "lib" / version / "site-packages"))
    files: dict[str, tuple[int, int]] = {}
    for root in sorted(roots):
        for directory, _, names in os.walk(root):
            if "__pycache__" in directory:
                continue
            for name in names:
                path = os.path.join(directory, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                files[path] = (stat.st_size, stat.st_mtime_ns)
    return files


def test_replica_pip_installs_land_in_the_run_not_on_the_host(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    root = tmp_path / "gcs"
    (root / "staging").mkdir(parents=True)
    work = tmp_path / "work"
    before = _snapshot()
    runner = ExecutorRunner(backend="process", gcs_root=root, work_dir=work)
    with FakeVertexServer(mode="executor", executor_runner=runner, gcs_root=root) as server, \
            sdk_pointed_at(server.url, staging_bucket="gs://staging", storage_host=server.url):
        job = aiplatform.CustomJob.from_local_script(
            display_name="custom-image-script",
            script_path=str(script),
            container_uri=CUSTOM_IMAGE,
            base_output_dir="gs://staging/out",
            # Offline: pip finds its own upgrade "already satisfied", and builds the SDK's
            # source package with the setuptools it already has.
            environment_variables={"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"},
        )
        command = job.job_spec.worker_pool_specs[0].container_spec.command
        assert "pip install --upgrade pip" in command[-1] and "--user" in command[-1]
        job.run(sync=True)
        assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED, job.error
        job_id = job.name
    (run_dir,) = (work / "runs").iterdir()
    assert run_dir.name == job_id
    module_file, prefix = (root / "staging/out/model/where.txt").read_text().splitlines()
    # The --user install went to the run's user base, and ran with the run's venv.
    assert Path(module_file).is_relative_to(run_dir / USER_BASE), module_file
    assert Path(prefix) == run_dir / "venv"
    assert _snapshot() == before
