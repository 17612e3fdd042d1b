"""KFP components and pipelines for the local runner's tests.

No ``from __future__ import annotations``: KFP reads the annotations as types.
"""

import warnings

from kfp import dsl

from cjob_emu.converter import create_custom_training_job_from_component
from support.pipeline_checks import fixture_module

BASE_IMAGE = "python:3.11"


@dsl.component(base_image=BASE_IMAGE)
def flip() -> str:
    return "heads"


@dsl.pipeline(name="branchy")
def branchy() -> None:
    coin = flip()
    with dsl.If(coin.output == "heads"):
        flip()


@dsl.component(base_image=BASE_IMAGE)
def crash(message: str) -> str:
    """Fails on the chief, so the CustomJob fails (the worker succeeds)."""
    import json
    import os

    task = json.loads(os.environ.get("CLUSTER_SPEC", "{}")).get("task", {})
    if task.get("type") == "workerpool0":
        raise RuntimeError(message)
    return "worker done"


crash_job = create_custom_training_job_from_component(crash, replica_count=2)


@dsl.pipeline(name="crashing")
def crashing(message: str = "boom") -> str:
    return crash_job(message=message).outputs["Output"]


@dsl.component(base_image=BASE_IMAGE)
def nap(seconds: int) -> int:
    import time

    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="napping")
def napping(seconds: int = 300) -> int:
    return nap(seconds=seconds).output


@dsl.component(base_image=BASE_IMAGE)
def shout(text: str, data: dsl.Input[dsl.Dataset], out: dsl.Output[dsl.Artifact]) -> str:
    """Reads its input artifact on every replica; the chief writes the output artifact."""
    import json
    import os

    task = json.loads(os.environ.get("CLUSTER_SPEC", "{}")).get("task", {})
    with open(data.path) as f:
        content = f.read()
    if task.get("type", "workerpool0") == "workerpool0":
        with open(out.path, "w") as f:
            f.write(content.upper() + text)
        out.metadata["chars"] = len(content)
    return f"{task.get('type')}-{task.get('index')}"


shout_job = create_custom_training_job_from_component(shout, replica_count=2)


@dsl.component(base_image=BASE_IMAGE)
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name="inner")
def inner(a: int, b: int) -> int:
    return add(a=add(a=a, b=b).output, b=b).output


@dsl.pipeline(name="nested")
def nested(a: int = 1) -> int:
    return add(a=inner(a=a, b=10).output, b=100).output


@dsl.component(base_image=BASE_IMAGE)
def fail(reason: str) -> str:
    raise ValueError(reason)


@dsl.pipeline(name="failing")
def failing() -> str:
    first = add(a=1, b=2)
    return fail(reason=f"no luck {first.output}").output


@dsl.container_component
def echo_text(text: str):
    return dsl.ContainerSpec(image="alpine:3", command=["echo"], args=[text])


@dsl.pipeline(name="plain-container")
def plain_container() -> None:
    echo_text(text="hi")


nap_job = create_custom_training_job_from_component(nap, replica_count=2)


@dsl.pipeline(name="napping-job")
def napping_job(seconds: int = 300) -> int:
    return nap_job(seconds=seconds).outputs["Output"]


@dsl.component(base_image=BASE_IMAGE)
def whoami() -> str:
    import json
    import os

    task = json.loads(os.environ["CLUSTER_SPEC"])["task"]
    return f"{task['type']}-{task['index']}"


whoami_job = create_custom_training_job_from_component(whoami)


@dsl.pipeline(name="escaped")
def escaped(name: str = "tab\\there") -> str:
    return whoami_job(display_name=name).outputs["Output"]


@dsl.component(base_image=BASE_IMAGE)
def echo(text: str) -> str:
    return text


@dsl.component(base_image=BASE_IMAGE)
def half(x: float) -> float:
    return x / 2


@dsl.pipeline(name="branching")
def branching(side: str = "heads", n: int = 3, x: float = 1.0) -> str:
    """If/Elif/Else on a task output, an int and a double; OneOf collects the branch."""
    coin = echo(text=side)
    with dsl.If(coin.output == "heads"):
        first = echo(text="heads won")
    with dsl.Elif(n > 3):
        second = echo(text="big n")
    with dsl.Elif(half(x=x).output <= 2.0):
        third = echo(text="small x")
    with dsl.Else():
        fourth = echo(text="else")
    return echo(text=dsl.OneOf(first.output, second.output, third.output, fourth.output)).output


@dsl.pipeline(name="flagged")
def flagged(flag: bool = True) -> None:
    """The legacy dsl.Condition on a boolean parameter, and its negation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # what this pipeline tests
        with dsl.Condition(flag == True):  # noqa: E712 (a KFP condition, not a test)
            echo(text="on")
    with dsl.If(flag != True):  # noqa: E712
        echo(text="off")


@dsl.component(base_image=BASE_IMAGE)
def total(numbers: list) -> int:
    return int(sum(numbers))


@dsl.pipeline(name="summing")
def summing(extra: list = [5, 6]) -> int:  # noqa: B006 (a pipeline default, never mutated)
    """A loop over static items collected into a sum, and a loop over an input list."""
    with dsl.ParallelFor([1, 2, 3], parallelism=2) as item:
        plus = add(a=item, b=10)
    with dsl.ParallelFor(extra) as value:
        add(a=value, b=0)
    with dsl.ParallelFor([{"a": 1, "b": 2}, {"a": 3, "b": 4}]) as pair:
        add(a=pair.a, b=pair.b)
    return total(numbers=dsl.Collected(plus.output)).output


@dsl.pipeline(name="guarded")
def guarded(reason: str = "in the group") -> None:
    """An exit handler around a failing task."""
    goodbye = echo(text="cleaned up")
    with dsl.ExitHandler(goodbye):
        fail(reason=reason)


@dsl.pipeline(name="guarded-ok")
def guarded_ok() -> None:
    goodbye = echo(text="cleaned up")
    with dsl.ExitHandler(goodbye):
        add(a=1, b=2)


@dsl.component(base_image=BASE_IMAGE)
def measure(data: dsl.Input[dsl.Dataset]) -> int:
    with open(data.path) as f:
        return len(f.read())


@dsl.pipeline(name="importing")
def importing() -> None:
    data = dsl.importer(artifact_uri="gs://b/data.csv", artifact_class=dsl.Dataset)
    measure(data=data.output)


@dsl.pipeline(name="measuring")
def measuring(data: dsl.Input[dsl.Dataset]) -> int:
    return measure(data=data).output


@dsl.component(base_image=BASE_IMAGE)
def numbers(count: int) -> list:
    return list(range(1, count + 1))


@dsl.pipeline(name="counting")
def counting(count: int = 3) -> int:
    """A loop over a task's output list; the iteration whose sum is 4 runs a CustomJob."""
    with dsl.ParallelFor(numbers(count=count).output) as item:
        doubled = add(a=item, b=item)
        with dsl.If(doubled.output == 4):
            whoami_job()
    return total(numbers=dsl.Collected(doubled.output)).output


@dsl.pipeline(name="guarded-bye-fails")
def guarded_bye_fails() -> None:
    """An exit handler whose own task fails after its group succeeded."""
    goodbye = fail(reason="goodbye failed")
    with dsl.ExitHandler(goodbye):
        add(a=1, b=2)


@dsl.component(base_image=BASE_IMAGE)
def write(text: str, out: dsl.Output[dsl.Dataset]) -> None:
    with open(out.path, "w") as f:
        f.write(text)


@dsl.component(base_image=BASE_IMAGE)
def count_files(data: dsl.Input[list[dsl.Dataset]]) -> int:
    return len(data)


@dsl.pipeline(name="collecting-artifacts")
def collecting_artifacts() -> int:
    with dsl.ParallelFor(["a", "b"]) as text:
        written = write(text=text)
    return count_files(data=dsl.Collected(written.outputs["out"])).output


@dsl.component(base_image=BASE_IMAGE)
def prep_rows(rows: int, write_data: bool, data: dsl.Output[dsl.Dataset]) -> None:
    """Writes ``rows`` lines of y = 2x + 1 to its output artifact, or nothing at all."""
    if write_data:
        with open(data.path, "w") as f:
            f.writelines(f"{x},{2 * x + 1}\n" for x in range(rows))


@dsl.component(base_image=BASE_IMAGE)
def mae(model: dsl.Input[dsl.Model]) -> float:
    import json

    with open(model.path) as f:
        params = json.load(f)
    return sum(abs(params["a"] * x + params["b"] - (2 * x + 1)) for x in range(10)) / 10


# the container component of fixtures/pipelines/container_steps.py, converted
container_train_job = create_custom_training_job_from_component(
    fixture_module("container_steps").train, replica_count=3
)


@dsl.pipeline(name="mixed-steps")
def mixed_steps(write_data: bool = True) -> float:
    """What the process backend can run of the container-steps pipeline: Python steps
    around the converted container component, which writes only its artifact file."""
    data = prep_rows(rows=12, write_data=write_data)
    trained = container_train_job(data=data.outputs["data"])
    return mae(model=trained.outputs["model"]).output


@dsl.pipeline(name="fail-slow")
def fail_slow() -> None:
    """``fail`` fails; ``echo`` takes its output; ``add-2`` is independent of it and is
    ordered after it (it waits for ``add``)."""
    broken = fail(reason="broken")
    echo(text=broken.output)
    first = add(a=1, b=2)
    add(a=first.output, b=1)


@dsl.component(base_image=BASE_IMAGE)
def stamp(seconds: float) -> str:
    """Sleeps; its output is when it started and ended (for overlap checks)."""
    import json
    import time

    start = time.time()
    time.sleep(seconds)
    return json.dumps([start, time.time()])


stamp_job = create_custom_training_job_from_component(stamp)


@dsl.pipeline(name="side-by-side")
def side_by_side(seconds: float = 1.0) -> None:
    """Three CustomJob tasks that depend on nothing: Vertex runs them at once."""
    for _ in range(3):
        stamp_job(seconds=seconds)


@dsl.pipeline(name="bounded-loop")
def bounded_loop(seconds: float = 1.0) -> None:
    with dsl.ParallelFor([1, 2, 3, 4], parallelism=2):
        stamp_job(seconds=seconds)


@dsl.component(base_image=BASE_IMAGE)
def flaky(marker: str, fail_times: int) -> int:
    """Fails its first ``fail_times`` attempts (counted in the file ``marker``)."""
    import os

    count = 0
    if os.path.exists(marker):
        with open(marker) as f:
            count = int(f.read())
    with open(marker, "w") as f:
        f.write(str(count + 1))
    if count < fail_times:
        raise RuntimeError(f"attempt {count + 1} fails")
    return count + 1


@dsl.pipeline(name="retrying")
def retrying(marker: str, fail_times: int = 1) -> int:
    task = flaky(marker=marker, fail_times=fail_times)
    task.set_retry(num_retries=2, backoff_duration="0s")
    return task.output


@dsl.component(base_image=BASE_IMAGE)
def linger() -> str:
    """The chief ends at once; the worker waits until the job's end stops it."""
    import json
    import os
    import time

    task = json.loads(os.environ.get("CLUSTER_SPEC", "{}")).get("task", {})
    if task.get("type") != "workerpool0":
        print("worker waiting", flush=True)
        time.sleep(120)
    return "chief done"


linger_job = create_custom_training_job_from_component(linger, replica_count=2)


@dsl.pipeline(name="lingering")
def lingering() -> str:
    return linger_job().outputs["Output"]
