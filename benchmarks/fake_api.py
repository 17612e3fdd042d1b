"""How fast the fake Vertex API answers, side by side with moto's server.

Both servers run as child processes on 127.0.0.1 (only loopback traffic), one
measured at a time, each over one kept-alive ``requests`` session where the
server allows it. The nearest moto operations to ``customJobs.create`` and
``customJobs.get`` are SageMaker's ``CreateTrainingJob`` and
``DescribeTrainingJob``. Three views:

- raw HTTP: the bare request each official client would send;
- official clients: ``aiplatform_v1.JobServiceClient`` (REST) against boto3's
  ``sagemaker`` client, which is what user code meets;
- round trip: ``aiplatform.CustomJob(...).run(sync=True)`` with the SDK's poll
  wait at 0.05 s and a simulated job that succeeds on its second poll, against
  boto3 create + describe until ``Completed``.

Run: ``python benchmarks/fake_api.py [--requests 1000] [--runs 10]`` (needs
``moto[server]`` and boto3).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

PROJECT, LOCATION = "bench-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
VERTEX_JOB = {
    "displayName": "bench",
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "containerSpec": {"imageUri": "gcr.io/p/trainer:1", "args": ["--epochs=2"]},
            }
        ],
        "baseOutputDirectory": {"outputUriPrefix": "gs://bench/out"},
    },
}
POOLS = [
    {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {"image_uri": "gcr.io/p/trainer:1", "args": ["--epochs=2"]},
    }
]
AWS_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    # moto routes by the credential scope and does not check the signature.
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sagemaker/"
    "aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
    "X-Amz-Date": "20240101T000000Z",
}


def training_job(name: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1",
            "TrainingInputMode": "File",
        },
        "RoleArn": "arn:aws:iam::123456789012:role/sagemaker",
        "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


# -- servers -------------------------------------------------------------------------------------


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(requests.ConnectionError):
            requests.get(url, timeout=1)
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within 60 s")


@contextlib.contextmanager
def cjob_emu_server() -> Iterator[str]:
    gcs = tempfile.mkdtemp(prefix="cjob-emu-bench-")
    code = ("from cjob_emu.cli.serve import serve; "
            f"raise SystemExit(serve(port=0, gcs_root={gcs!r}))")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().rsplit(" ", 1)[-1].strip()
        _wait_until_up(f"{url}/_cjob_emu/health", process)
        yield url
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(gcs, ignore_errors=True)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{url}/moto-api/", process)
        yield url
    finally:
        process.terminate()
        process.wait(30)


# -- measuring -----------------------------------------------------------------------------------


def rate(call: Callable[[int], object], n: int) -> float:
    """Calls per second of ``call(i)`` for i in range(n), after a short warm-up."""
    for i in range(min(50, n)):
        call(-1 - i)
    started = time.perf_counter()
    for i in range(n):
        call(i)
    return n / (time.perf_counter() - started)


def checked(response: requests.Response) -> requests.Response:
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return response


def vertex_raw(url: str, n: int) -> tuple[float, float]:
    with requests.Session() as session:
        create_url = f"{url}/v1/{PARENT}/customJobs?$alt=json;enum-encoding=int"
        body = json.dumps(VERTEX_JOB)
        headers = {"Content-Type": "application/json"}
        creates = rate(lambda i: checked(session.post(create_url, data=body, headers=headers)),
                       n)
        name = checked(session.post(create_url, data=body, headers=headers)).json()["name"]
        get_url = f"{url}/v1/{name}?$alt=json;enum-encoding=int"
        gets = rate(lambda i: checked(session.get(get_url)), n)
    return creates, gets


def moto_raw(url: str, n: int) -> tuple[float, float]:
    with requests.Session() as session:
        create = {**AWS_HEADERS, "X-Amz-Target": "SageMaker.CreateTrainingJob"}
        describe = {**AWS_HEADERS, "X-Amz-Target": "SageMaker.DescribeTrainingJob"}
        creates = rate(lambda i: checked(session.post(
            url, data=json.dumps(training_job(f"raw-{i + 100}")), headers=create)), n)
        body = json.dumps({"TrainingJobName": "raw-100"})
        gets = rate(lambda i: checked(session.post(url, data=body, headers=describe)), n)
    return creates, gets


def vertex_client(url: str, n: int) -> tuple[float, float]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.JobServiceClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options={"api_endpoint": url},
    )
    job = aiplatform_v1.CustomJob(
        display_name="bench", job_spec=aiplatform_v1.CustomJobSpec(worker_pool_specs=POOLS)
    )
    creates = rate(lambda i: client.create_custom_job(parent=PARENT, custom_job=job), n)
    name = client.create_custom_job(parent=PARENT, custom_job=job).name
    gets = rate(lambda i: client.get_custom_job(name=name), n)
    return creates, gets


def _boto_sagemaker(url: str) -> Any:
    import boto3

    return boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def moto_client(url: str, n: int) -> tuple[float, float]:
    client = _boto_sagemaker(url)
    creates = rate(lambda i: client.create_training_job(**training_job(f"client-{i + 100}")), n)
    gets = rate(lambda i: client.describe_training_job(TrainingJobName="client-100"), n)
    return creates, gets


def vertex_round_trip(url: str, runs: int) -> float:
    """Median seconds of ``CustomJob.run(sync=True)``, SDK polling every 0.05 s."""
    from google.cloud import aiplatform

    from cjob_emu.fake_api.sdk import sdk_pointed_at

    times = []
    with sdk_pointed_at(url, project=PROJECT, location=LOCATION, poll_interval=0.05):
        for _ in range(runs + 1):
            started = time.perf_counter()
            job = aiplatform.CustomJob(display_name="round-trip", worker_pool_specs=POOLS)
            job.run(sync=True)
            times.append(time.perf_counter() - started)
            assert job.state == aiplatform.gapic.JobState.JOB_STATE_SUCCEEDED
    return statistics.median(times[1:])  # the first pays for lazy imports


def moto_round_trip(url: str, runs: int) -> float:
    """Median seconds of what run() does with a job that ends at its second poll:
    create, describe, wait 0.05 s, describe (moto's jobs complete at once)."""
    client = _boto_sagemaker(url)
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        client.create_training_job(**training_job(f"trip-{i}"))
        client.describe_training_job(TrainingJobName=f"trip-{i}")
        time.sleep(0.05)
        status = client.describe_training_job(TrainingJobName=f"trip-{i}")["TrainingJobStatus"]
        assert status == "Completed", status
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def mock_round_trip(runs: int) -> float:
    """Median seconds of ``CustomJob.run(sync=True)`` against the in-process responses mock."""
    from google.cloud import aiplatform

    from cjob_emu.fake_api import VertexMock
    from cjob_emu.fake_api.sdk import sdk_pointed_at

    times = []
    with VertexMock(), sdk_pointed_at(None, project=PROJECT, location=LOCATION):
        for _ in range(runs + 1):
            started = time.perf_counter()
            aiplatform.CustomJob(display_name="round-trip", worker_pool_specs=POOLS).run()
            times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def _quiet_sdk() -> None:
    """The SDK logs several lines per job at INFO on loggers of its own."""
    import logging

    from google.cloud import aiplatform  # noqa: F401 - creates the SDK's loggers

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("google.cloud.aiplatform"):
            logging.getLogger(name).setLevel(logging.WARNING)


# -- report ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--runs", type=int, default=10, help="run() round trips to time")
    args = parser.parse_args(argv)
    missing = [name for name in ("moto", "boto3") if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"benchmarks/fake_api.py: the baseline needs {' and '.join(missing)}: "
            "pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    _quiet_sdk()

    n = args.requests
    with cjob_emu_server() as url:
        v_raw = vertex_raw(url, n)
        v_client = vertex_client(url, n)
        v_trip = vertex_round_trip(url, args.runs)
    mock_trip = mock_round_trip(args.runs)
    with moto_server() as url:
        m_raw = moto_raw(url, n)
        m_client = moto_client(url, n)
        m_trip = moto_round_trip(url, args.runs)

    rows = [
        ("create, raw HTTP (req/s)", v_raw[0], m_raw[0], "CreateTrainingJob"),
        ("get, raw HTTP (req/s)", v_raw[1], m_raw[1], "DescribeTrainingJob"),
        ("create, official client (req/s)", v_client[0], m_client[0], "boto3"),
        ("get, official client (req/s)", v_client[1], m_client[1], "boto3"),
    ]
    print(f"fake Vertex API (cjob-emu, simulated) vs moto {_moto_version()} server; "
          f"{n} requests each, one client, loopback")
    print(f"{'':34}{'cjob-emu':>12}{'moto':>12}{'ratio':>9}")
    for label, ours, theirs, _ in rows:
        print(f"{label:34}{ours:12.0f}{theirs:12.0f}{ours / theirs:8.1f}x")
    print(f"{'round trip (ms, median)':34}{v_trip * 1000:12.1f}{m_trip * 1000:12.1f}"
          f"{m_trip / v_trip:8.1f}x")
    print("  cjob-emu: aiplatform.CustomJob(...).run(sync=True), poll wait 0.05 s, succeeds at "
          "poll 2;\n  moto: boto3 create, describe, wait 0.05 s, describe (the same calls)")
    print(f"{'round trip, responses mock (ms)':34}{mock_trip * 1000:12.1f}")
    faster = all(ours >= theirs for _, ours, theirs, _ in rows)
    print(f"goal: at least as fast as moto on every line: {'met' if faster else 'NOT met'}")
    print(f"goal: run() round trip under 500 ms: {'met' if v_trip < 0.5 else 'NOT met'} "
          f"({v_trip * 1000:.0f} ms)")
    return 0 if faster and v_trip < 0.5 else 1


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


if __name__ == "__main__":
    sys.exit(main())
