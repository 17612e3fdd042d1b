"""The pytest plugin as its users see it: suites run by ``pytester`` in a fresh directory,
with the plugin loaded through its entry point (``-p no:cacheprovider`` only keeps them
tidy). Covers ``local_executor``, ``gcs_root``, ``--cjob-backend``, cleanup after a
test, and pytest-xdist workers side by side."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import docker
import pytest

from cjob_emu.executor.backend import LABEL_RUN
from cjob_emu.executor.process import run_processes

# A job as users write it: a container pool whose command is a Python program.
JOB = '''
IMAGE = "us-docker.pkg.dev/my-project/training/trainer:1"


def job(code, name="plugin-job"):
    return {
        "display_name": name,
        "job_spec": {
            "worker_pool_specs": [{
                "machine_spec": {"machine_type": "n1-standard-4"},
                "replica_count": 1,
                "container_spec": {"image_uri": IMAGE, "command": ["python3", "-c", code]},
            }],
            "base_output_directory": {"output_uri_prefix": "gs://bucket/out"},
        },
    }


WRITE_MODEL = (
    "import os, pathlib\\n"
    "out = pathlib.Path(os.environ['AIP_MODEL_DIR'].replace('gs://', '/gcs/'))\\n"
    "out.mkdir(parents=True, exist_ok=True)\\n"
    "(out / 'model.txt').write_text('trained')\\n"
)
'''


def test_option_is_listed_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--cjob-backend=*auto*docker*process*"])


def test_bad_backend_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--cjob-backend", "kubernetes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cjob-backend*invalid choice*kubernetes*"])


def test_local_executor_runs_jobs_into_the_tests_own_gcs_root(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(jobs=JOB)
    pytester.makepyfile(test_train=textwrap.dedent('''
        from jobs import WRITE_MODEL, job


        def test_backend_option(cjob_backend, local_executor):
            assert cjob_backend == "process"
            assert local_executor.backend.name == "process"


        def test_model_lands_in_gcs_root(local_executor, gcs_root):
            result = local_executor.run(job(WRITE_MODEL))
            result.raise_for_state()
            assert result.exit_codes == {"workerpool0-0": 0}
            assert (gcs_root / "bucket" / "out" / "model" / "model.txt").read_text() == "trained"
            assert local_executor.path("gs://bucket/out/model/model.txt").read_text() == "trained"
            assert local_executor.gcs_root == gcs_root


        def test_each_test_has_its_own_root(gcs_root):
            assert list(gcs_root.iterdir()) == []


        def test_failure_is_a_result(local_executor):
            result = local_executor.run(job("raise SystemExit(3)"))
            assert result.state.name == "JOB_STATE_FAILED"
            assert result.exit_codes == {"workerpool0-0": 3}
    '''))
    result = pytester.runpytest_subprocess("--cjob-backend", "process", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_jobs_left_running_are_ended_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(jobs=JOB)
    pytester.makepyfile(test_leave=textwrap.dedent('''
        import pathlib
        import time

        from jobs import job


        def test_leaves_a_job_running(local_executor):
            running = local_executor.submit(job("import time; time.sleep(600)", "sleeper"))
            deadline = time.monotonic() + 60
            while running.state.name != "JOB_STATE_RUNNING" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert running.state.name == "JOB_STATE_RUNNING"
            pathlib.Path("run-id.txt").write_text(running.run.run_id)
    '''))
    result = pytester.runpytest_subprocess("--cjob-backend", "process", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    run_id = (pytester.path / "run-id.txt").read_text()
    assert run_processes(run_id) == []


XDIST_SUITE = '''
import json
import os
import pathlib

import pytest
from google.cloud import aiplatform

from jobs import WRITE_MODEL, job


@pytest.mark.parametrize("n", range(4))
def test_side_by_side(n, local_executor, gcs_root, fake_vertex):
    result = local_executor.run(job(WRITE_MODEL, f"job-{{n}}"))
    result.raise_for_state()
    assert (gcs_root / "bucket/out/model/model.txt").read_text() == "trained"
    # fake_vertex in executor mode, on the same backend.
    api_job = aiplatform.CustomJob(
        display_name=f"api-{{n}}",
        worker_pool_specs=job(WRITE_MODEL)["job_spec"]["worker_pool_specs"],
        base_output_dir=f"gs://cjob-emu-staging/api-{{n}}",
        labels={{"cjob-emu-mode": "executor"}},
    )
    api_job.run(sync=True)
    assert api_job.state.name == "JOB_STATE_SUCCEEDED"
    model = fake_vertex.gcs_root / f"cjob-emu-staging/api-{{n}}/model/model.txt"
    assert model.read_text() == "trained"
    record = {{"worker": os.environ.get("PYTEST_XDIST_WORKER"), "url": fake_vertex.url,
              "root": str(gcs_root), "runs": [j.run.run_id for j in local_executor.jobs]}}
    pathlib.Path("{records}", f"{{n}}.json").write_text(json.dumps(record))
'''


def _records(directory: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def test_xdist_workers_each_have_their_own_server_and_roots(pytester: pytest.Pytester,
                                                             tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    pytester.makepyfile(jobs=JOB)
    pytester.makepyfile(test_parallel=XDIST_SUITE.format(records=records))
    result = pytester.runpytest_subprocess("-n", "2", "--cjob-backend", "process",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    seen = _records(records)
    assert len(seen) == 4
    workers = {r["worker"] for r in seen}
    assert workers == {"gw0", "gw1"}
    urls = {w: {r["url"] for r in seen if r["worker"] == w} for w in workers}
    assert all(len(u) == 1 for u in urls.values())  # one server per worker...
    assert urls["gw0"] != urls["gw1"]  # ...and not shared
    assert len({r["root"] for r in seen}) == 4
    for record in seen:
        for run_id in record["runs"]:  # type: ignore[union-attr]
            assert run_processes(run_id) == []


@pytest.mark.docker
def test_docker_backend_under_xdist_leaves_nothing(pytester: pytest.Pytester, tmp_path: Path,
                                                   cjob_test_image: str) -> None:
    records = tmp_path / "records"
    records.mkdir()
    pytester.makepyfile(jobs=JOB)
    pytester.makeconftest(textwrap.dedent(f'''
        import pytest
        from jobs import IMAGE


        @pytest.fixture(scope="session")
        def cjob_image_map():
            return {{IMAGE: {cjob_test_image!r}}}
    '''))
    pytester.makepyfile(test_parallel=XDIST_SUITE.format(records=records))
    result = pytester.runpytest_subprocess("-n", "2", "--cjob-backend", "docker",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    seen = _records(records)
    assert {r["worker"] for r in seen} == {"gw0", "gw1"}
    run_ids = [run_id for r in seen for run_id in r["runs"]]  # type: ignore[attr-defined]
    assert len(run_ids) == 4
    engine = docker.from_env()
    try:
        for run_id in run_ids:
            selector = {"label": [f"{LABEL_RUN}={run_id}"]}
            assert engine.api.containers(all=True, filters=selector) == []
            assert engine.api.networks(filters=selector) == []
    finally:
        engine.close()


MODES_SUITE = '''
from google.cloud import aiplatform

from jobs import WRITE_MODEL, job


def api_job(name):
    return aiplatform.CustomJob(
        display_name=name,
        worker_pool_specs=job(WRITE_MODEL)["job_spec"]["worker_pool_specs"],
        base_output_dir=f"gs://cjob-emu-staging/{name}",
    )


def test_fake_vertex_runs_nothing_and_says_so(fake_vertex):
    assert "mode=simulated: jobs run nothing" in repr(fake_vertex)
    simulated = api_job("simulated")
    simulated.run(sync=True)
    assert simulated.state.name == "JOB_STATE_SUCCEEDED"
    assert not (fake_vertex.gcs_root / "cjob-emu-staging/simulated/model").exists()


def test_fake_vertex_executor_runs_the_replicas(fake_vertex_executor):
    assert "mode=executor: jobs run their replicas" in repr(fake_vertex_executor)
    real = api_job("real")
    real.run(sync=True)
    assert real.state.name == "JOB_STATE_SUCCEEDED"
    model = fake_vertex_executor.gcs_root / "cjob-emu-staging/real/model/model.txt"
    assert model.read_text() == "trained"


def test_the_next_test_is_simulated_again(fake_vertex):
    assert "mode=simulated" in repr(fake_vertex)
'''


def test_fake_vertex_is_simulated_and_fake_vertex_executor_runs_jobs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(jobs=JOB)
    pytester.makepyfile(test_modes=MODES_SUITE)
    result = pytester.runpytest_subprocess("--cjob-backend", "process", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


MISSING_IMAGE_SUITE = '''
import pytest
from google.cloud import aiplatform

from cjob_emu.errors import EnvironmentProblem
from jobs import IMAGE, job

HINT = f"a cjob_image_map fixture (in conftest.py) mapping {IMAGE} to a local tag"


def test_local_executor(local_executor):
    with pytest.raises(EnvironmentProblem) as caught:
        local_executor.run(job("print(1)"))
    assert HINT in str(caught.value) and "--image-map" not in str(caught.value)


def test_fake_vertex_executor(fake_vertex_executor):
    api_job = aiplatform.CustomJob(
        display_name="missing", worker_pool_specs=job("print(1)")["job_spec"]["worker_pool_specs"]
    )
    with pytest.raises(Exception) as caught:
        api_job.run(sync=True)
    assert HINT in str(caught.value) and "--image-map" not in str(caught.value)
'''


@pytest.mark.docker
def test_a_missing_image_names_the_cjob_image_map_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(jobs=JOB)
    pytester.makepyfile(test_missing=MISSING_IMAGE_SUITE)
    result = pytester.runpytest_subprocess("--cjob-backend", "docker", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
