"""KFP components and pipelines for the local runner's tests.

No ``from __future__ import annotations``: KFP reads the annotations as types.
"""

from kfp import dsl

from cjob_emu.convert import create_custom_training_job_from_component

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
