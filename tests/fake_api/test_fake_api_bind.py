"""Where the fake API listens: 127.0.0.1 unless told otherwise, and loudly when told.

Sockets are read from the kernel's table (/proc/net/tcp), not from the server's word.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import requests
from google.cloud import aiplatform, aiplatform_v1
from support.sockets import listening

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.fake_api import FakeVertexServer, sdk_pointed_at
from cjob_emu.fake_api.executor_runner import ExecutorRunner
from cjob_emu.fake_api.server import UnsafeBindWarning


def test_by_default_only_loopback_and_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsafeBindWarning)
        with FakeVertexServer() as server:
            assert server.url.startswith("http://127.0.0.1:")
            assert listening(server.port) == {"127.0.0.1"}
            assert server.addresses == [("127.0.0.1", server.port)]
    assert listening(server.port) == set()


def test_binding_all_interfaces_warns() -> None:
    with pytest.warns(UnsafeBindWarning, match=r"listens on 0\.0\.0\.0.*no authentication"):
        server = FakeVertexServer(host="0.0.0.0").start()
    try:
        assert listening(server.port) == {"0.0.0.0"}
        # Replicas need no listener of their own then: the wildcard one reaches them.
        url, release = server.listen_for_replicas("127.0.0.1")
        assert url == f"http://127.0.0.1:{server.port}"
        assert requests.get(f"{url}/_cjob_emu/health", timeout=10).json() == {"ok": True}
        release()
        assert len(server.addresses) == 1
    finally:
        server.stop()


def test_the_warning_reaches_stderr_of_a_plain_program() -> None:
    program = ("from cjob_emu.fake_api import FakeVertexServer\n"
               "FakeVertexServer(host='0.0.0.0').start().stop()\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=60, check=True)
    assert "UnsafeBindWarning: the fake Vertex API listens on 0.0.0.0" in result.stderr


def test_replicas_never_get_a_wildcard_listener() -> None:
    with FakeVertexServer() as server:
        for wildcard in ("0.0.0.0", "::", ""):
            with pytest.raises(ValueError, match="not all interfaces"):
                server.listen_for_replicas(wildcard)
        assert server.addresses == [("127.0.0.1", server.port)]


def test_a_replica_listener_serves_the_same_app_until_released() -> None:
    with FakeVertexServer() as server:
        # 127.0.0.2 is loopback too (the whole 127/8 is), standing in for a gateway here.
        url, release = server.listen_for_replicas("127.0.0.2")
        assert url == f"http://127.0.0.2:{server.port}"  # the server's port when free there
        assert listening(server.port) == {"127.0.0.1", "127.0.0.2"}
        assert requests.get(f"{url}/_cjob_emu/health", timeout=10).json() == {"ok": True}
        release()
        release()  # idempotent
        assert listening(server.port) == {"127.0.0.1"}
        _, kept = server.listen_for_replicas("127.0.0.3")
    # Stopping the server closes what was not released.
    assert listening(server.port) == set()
    kept()


def test_cli_serve_on_all_interfaces_says_so_on_both_streams(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("cjob-emu")
    process = subprocess.Popen(
        [str(cli), "serve", "--host", "0.0.0.0", "--gcs-root", str(tmp_path / "gcs")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert first.startswith("cjob-emu fake Vertex API listening on http://0.0.0.0:")
        assert "WARNING: 0.0.0.0 is not loopback" in second
        port = int(first.strip().rsplit(":", 1)[1])
        assert listening(port) == {"0.0.0.0"}
    finally:
        process.send_signal(signal.SIGTERM)
        rest, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert rest.rstrip().endswith("cjob-emu fake Vertex API stopped")
    assert "WARNING: listening on 0.0.0.0, not loopback" in err
    assert err.count("no authentication") == 1  # the banner, not the library warning again
    assert os.path.isdir(tmp_path / "gcs")


def test_an_address_not_of_this_machine_is_an_environment_problem() -> None:
    with FakeVertexServer() as server:
        # 192.0.2.1 (TEST-NET-1) is no address of this machine: binding it fails, no packet
        # is sent.
        with pytest.raises(EnvironmentProblem, match=r"on 192\.0\.2\.1"):
            server.listen_for_replicas("192.0.2.1")
        assert server.addresses == [("127.0.0.1", server.port)]


def test_jobs_still_run_when_replicas_cannot_be_given_the_api(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture
                                                               ) -> None:
    """E.g. a rootless engine whose gateway is no address of this machine."""
    gcs = tmp_path / "gcs"
    gcs.mkdir()
    runner = ExecutorRunner(backend="process", gcs_root=gcs, work_dir=tmp_path / "work")
    code = ("import os; open(os.environ['OUT'], 'w').write("
            "str('CJOB_EMU_API_ENDPOINT' in os.environ))")
    with FakeVertexServer(mode="executor", executor_runner=runner, gcs_root=gcs) as server, \
            sdk_pointed_at(server.url, staging_bucket="gs://b"):
        # As if the backend named an address the server cannot listen on.
        runner.connect(lambda _host: server.listen_for_replicas("192.0.2.1"), storage=True)
        job = aiplatform.CustomJob(display_name="no-way-home", worker_pool_specs=[{
            "machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
            "container_spec": {"image_uri": "x/y:1", "command": ["python3", "-c", code],
                               "env": [{"name": "OUT", "value": str(tmp_path / "out.txt")}]},
        }])
        job.run(sync=True)
        assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    assert (tmp_path / "out.txt").read_text() == "False"
    assert "get no CJOB_EMU_API_ENDPOINT" in caplog.text and "192.0.2.1" in caplog.text
