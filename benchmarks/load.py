"""Load on the fake Vertex API: many SDK clients at once, nothing lost, nothing doubled.

``cjob-emu serve`` (simulated mode) runs as a child process on 127.0.0.1; ``--clients``
threads in this process each hold their own ``aiplatform_v1.JobServiceClient`` (REST
transport, anonymous credentials), as separate user programs would, and for ``--seconds``
repeat: create a job, poll it until it ends (every fourth one is cancelled after its first
poll), and every fifth round list their own jobs by label. One refused create before the
clock starts warms the server up (its first-use imports). Afterwards the whole store is
listed page by page and checked:

- no call failed (any exception is counted as an error);
- every created name is unique, and the list holds exactly the created jobs;
- every job ended as asked: SUCCEEDED, or CANCELLED for the cancelled ones;
- each client's own label-filtered list returned only its jobs.

It prints throughput (calls/s, jobs/s) and latency percentiles per call type, and exits 1
when an invariant fails. Full form (the figures in the README):
``python benchmarks/load.py --clients 50 --seconds 60``; tests/fake_api/test_load.py runs a short
form (10 clients x 5 s) in CI through :func:`run`.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PROJECT, LOCATION = "load-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
POLL_LIMIT = 50  # a simulated job ends on its second poll; far more is a bug


@dataclass
class ClientLog:
    """What one client did and saw."""

    created: list[str] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)
    final: dict[str, str] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    foreign_in_list: int = 0


@dataclass
class Report:
    """The outcome of one load run; ``problems`` empty means every invariant held."""

    clients: int
    seconds: float
    creates: int
    calls: int
    errors: list[str]
    problems: list[str]
    latencies: dict[str, list[float]]

    def lines(self) -> list[str]:
        out = [
            f"{self.clients} clients for {self.seconds:.1f} s: {self.creates} jobs created, "
            f"{self.calls} calls, {self.calls / self.seconds:.0f} calls/s, "
            f"{self.creates / self.seconds:.1f} jobs/s, {len(self.errors)} errors",
            f"{'call':<8} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}",
        ]
        everything = [x for values in self.latencies.values() for x in values]
        for name, values in [*sorted(self.latencies.items()), ("all", everything)]:
            p50, p95, p99 = percentiles(values)
            out.append(
                f"{name:<8} {len(values):>7} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} "
                f"{max(values) * 1000:>8.1f}"
            )
        out += [f"error: {e}" for e in self.errors[:20]]
        out += [f"invariant broken: {p}" for p in self.problems]
        out.append("all invariants hold" if not self.problems and not self.errors else "FAILED")
        return out


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 of ``values`` (seconds) in milliseconds."""
    if len(values) < 2:
        only = values[0] * 1000 if values else 0.0
        return only, only, only
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


@contextlib.contextmanager
def served() -> Iterator[str]:
    """``cjob-emu serve`` on a free loopback port in a child process; its URL."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "cjob_emu.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first)
        if match is None:
            raise RuntimeError(f"cjob-emu serve did not start: {first!r}")
        url = match.group(1)
        warm_up(url)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def warm_up(url: str) -> None:
    """One refused create, so the server's first-use imports (the validator) are not
    counted as a client's latency; it stores nothing."""
    from google.api_core.exceptions import BadRequest
    from google.cloud import aiplatform_v1

    with contextlib.suppress(BadRequest):
        make_client(url).create_custom_job(parent=PARENT, custom_job=aiplatform_v1.CustomJob())


def make_client(url: str) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    return aiplatform_v1.JobServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=url),
    )


def new_job(client_id: int, n: int) -> Any:
    from google.cloud import aiplatform_v1

    return aiplatform_v1.CustomJob(
        display_name=f"load-{client_id}-{n}",
        labels={"client": f"c{client_id}"},
        job_spec={
            "worker_pool_specs": [
                {
                    "machine_spec": {"machine_type": "n1-standard-4"},
                    "replica_count": 1,
                    "container_spec": {"image_uri": "gcr.io/p/trainer:1", "args": [str(n)]},
                }
            ]
        },
    )


def client_loop(url: str, client_id: int, window: list[float], start: threading.Barrier,
                log: ClientLog) -> None:
    from google.cloud.aiplatform_v1 import JobState

    client = make_client(url)
    terminal = {JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED,
                JobState.JOB_STATE_CANCELLED}

    def timed(kind: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        result = call(*args, **kwargs)
        log.latencies[kind].append(time.perf_counter() - began)
        return result

    start.wait()
    deadline = window[1]
    n = 0
    while time.monotonic() < deadline:
        try:
            job = timed("create", client.create_custom_job, parent=PARENT,
                        custom_job=new_job(client_id, n))
            log.created.append(job.name)
            cancel = n % 4 == 3
            for polls in range(POLL_LIMIT):
                job = timed("get", client.get_custom_job, name=job.name)
                if job.state in terminal:
                    break
                if cancel and polls == 0:
                    timed("cancel", client.cancel_custom_job, name=job.name)
                    log.cancelled.add(job.name)
            log.final[job.name] = JobState(job.state).name
            if n % 5 == 4:
                query = {"parent": PARENT, "filter": f'labels.client="c{client_id}"',
                         "page_size": 20}
                pager = timed("list", client.list_custom_jobs, request=query)
                first_page = next(iter(pager.pages))
                log.foreign_in_list += sum(
                    j.labels.get("client") != f"c{client_id}" for j in first_page.custom_jobs
                )
        except Exception as exc:  # every failure counts; the run goes on
            log.errors.append(f"client {client_id}: {type(exc).__name__}: {exc}")
        n += 1


def check(url: str, logs: list[ClientLog]) -> list[str]:
    """Every invariant the run must keep; the broken ones."""
    problems = []
    created = [name for log in logs for name in log.created]
    if len(set(created)) != len(created):
        problems.append(f"{len(created) - len(set(created))} duplicated job names")
    listed = [job.name for job in make_client(url).list_custom_jobs(
        request={"parent": PARENT, "page_size": 1000}
    )]
    if len(listed) != len(set(listed)):
        problems.append(f"the list repeats {len(listed) - len(set(listed))} jobs")
    if sorted(listed) != sorted(created):
        lost, extra = set(created) - set(listed), set(listed) - set(created)
        problems.append(f"list total {len(listed)} != creates {len(created)} "
                        f"(lost {len(lost)}, unknown {len(extra)})")
    for log in logs:
        for name, state in log.final.items():
            wanted = "JOB_STATE_CANCELLED" if name in log.cancelled else "JOB_STATE_SUCCEEDED"
            if state != wanted:
                problems.append(f"{name} ended {state}, expected {wanted}")
        if log.foreign_in_list:
            problems.append(f"a label-filtered list returned {log.foreign_in_list} other jobs")
    return problems


def run(clients: int = 50, seconds: float = 60.0) -> Report:
    """Start a server, load it with ``clients`` for ``seconds``, check, stop it."""
    logs = [ClientLog() for _ in range(clients)]
    window: list[float] = []  # [start, deadline], set once every client is ready
    with served() as url:
        # Clients build their SDK clients first; the clock starts when all are ready.
        start = threading.Barrier(
            clients, action=lambda: window.extend([time.monotonic(), time.monotonic() + seconds])
        )
        threads = [
            threading.Thread(target=client_loop, name=f"load-client-{i}", daemon=True,
                             args=(url, i, window, start, logs[i]))
            for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - window[0]
        problems = check(url, logs)
    latencies: dict[str, list[float]] = defaultdict(list)
    for log in logs:
        for kind, values in log.latencies.items():
            latencies[kind].extend(values)
    return Report(
        clients=clients,
        seconds=elapsed,
        creates=sum(len(log.created) for log in logs),
        calls=sum(len(v) for v in latencies.values()),
        errors=[e for log in logs for e in log.errors],
        problems=problems,
        latencies=dict(latencies),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent SDK clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they run")
    args = parser.parse_args()
    report = run(args.clients, args.seconds)
    print("\n".join(report.lines()))
    return 0 if not report.problems and not report.errors else 1


if __name__ == "__main__":
    sys.exit(main())
