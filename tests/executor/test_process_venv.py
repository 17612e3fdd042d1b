"""The process backend's per-run virtual environment: ``pip`` in a replica installs into the
run, ``python3`` there still sees the packages of the Python running cjob-emu."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import zipfile
from pathlib import Path

from cjob_emu.executor import run_job

IMAGE = "registry.example.com/team/trainer:1"


def make_wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel with a module ``name`` (pip installs it offline)."""
    dist = f"{name}-{version}"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_pip_in_a_replica_installs_into_the_run(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "cjobemu_probe", "1.0")
    assert importlib.util.find_spec("cjobemu_probe") is None
    script = (
        f"set -e; pip install --no-index --quiet {wheel}; "
        "python3 -c 'import cjobemu_probe, sys, google.cloud.aiplatform; "
        "print(cjobemu_probe.__file__); print(sys.prefix)'"
    )
    job = {"display_name": "pip", "job_spec": {"worker_pool_specs": [{
        "machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
        "container_spec": {"image_uri": IMAGE, "command": ["sh", "-c", script]}}]}}
    result = run_job(job, backend="process", gcs_root=tmp_path / "gcs", run_dir=tmp_path / "run")
    log = result.log_paths()["workerpool0-0"].read_text()
    assert result.exit_codes == {"workerpool0-0": 0}, log
    module, prefix = log.split()[-2:]
    assert Path(module).is_relative_to(tmp_path / "run" / "venv"), log
    assert Path(prefix) == tmp_path / "run" / "venv"
    # Installed for the run only: the Python running the tests still does not have it.
    assert importlib.util.find_spec("cjobemu_probe") is None
