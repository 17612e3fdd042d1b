"""KFP components the converter tests wrap (lightweight ones need a source file of their own).

No ``from __future__ import annotations`` here: KFP reads the parameters' annotations
as types, and postponed (string) annotations break its component decorators.
"""

from typing import Optional

from kfp import components, dsl

from support import paths

FIXTURES = paths.FIXTURES / "components"
IMAGE = "us-docker.pkg.dev/proj/repo/trainer:1"


@dsl.container_component
def train_container(lr: float, epochs: int, out: dsl.OutputPath(str)):  # type: ignore[valid-type]
    """Trains a model from the command line."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["python", "-m", "trainer.task"],
        args=["--lr", lr, "--epochs", epochs, "--out", out],
    )


@dsl.container_component
def artifact_container(
    data: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    metrics_path: dsl.OutputPath(str),  # type: ignore[valid-type]
    note: str = "plain",
):
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["python", "-m", "trainer.task"],
        args=[
            "--data",
            data.path,
            "--data-uri",
            data.uri,
            "--model",
            model.path,
            "--metrics",
            metrics_path,
            "--note",
            note,
        ],
    )


@dsl.container_component
def structured_container(
    name: str,
    tag: str = "v1",
    extra: Optional[str] = None,  # noqa: UP045 - kfp does not read X | None
):
    """Concat and IfPresent; ``extra`` is only ever used inside IfPresent's Else."""
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["sh", "-c", dsl.ConcatPlaceholder(["echo ", name, " && exec python -m t"])],
        args=[
            dsl.ConcatPlaceholder(["--name=", name, "-", tag]),
            dsl.IfPresentPlaceholder(input_name="tag", then=["--tag", tag], else_=["--no-tag"]),
            dsl.IfPresentPlaceholder(input_name="name", then=dsl.ConcatPlaceholder(["--n=", name])),
        ],
    )


@dsl.container_component
def optional_if_present(
    extra: Optional[str] = None,  # noqa: UP045 - kfp does not read X | None
):
    return dsl.ContainerSpec(
        image=IMAGE,
        args=[dsl.IfPresentPlaceholder(input_name="extra", then=["--extra", extra])],
    )


@dsl.container_component
def quoted_default(msg: str = 'say "hi"'):
    return dsl.ContainerSpec(image=IMAGE, args=["--msg", msg])


@dsl.container_component
def timeout_clash(timeout: str):
    return dsl.ContainerSpec(image=IMAGE, args=["--timeout", timeout])


@dsl.container_component
def output_clash(gcp_resources: dsl.OutputPath(str)):  # type: ignore[valid-type]
    return dsl.ContainerSpec(image=IMAGE, args=["--out", gcp_resources])


@dsl.component(base_image="python:3.11")
def train_python(
    data: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    epochs: int = 2,
    lr: float = 0.01,
    tags: list = ["a"],  # noqa: B006 - KFP component default
) -> str:
    """Trains on the data set and writes the model."""
    with open(model.path, "w") as f:
        f.write(f"{data.path} {epochs} {lr} {tags}")
    return "done"


@dsl.component(base_image="python:3.11")
def make_data(rows: int, data: dsl.Output[dsl.Dataset]) -> int:
    with open(data.path, "w") as f:
        f.write("x\n" * rows)
    return rows


@dsl.component(base_image="python:3.11")
def evaluate(model: dsl.Input[dsl.Model]) -> float:
    return float(len(open(model.path).read()))


@dsl.component(base_image="python:3.11")
def write_path(out: dsl.OutputPath(str), text: str = "x") -> None:  # type: ignore[valid-type]
    with open(out, "w") as f:
        f.write(text)


def v1_component() -> dsl.base_component.BaseComponent:
    """A KFP v1 component YAML, with a v1 concat."""
    return components.load_component_from_file(str(FIXTURES / "echo_v1.yaml"))


def compiled_component() -> dsl.base_component.BaseComponent:
    """A container component compiled to pipeline-spec YAML by kfp."""
    return components.load_component_from_file(str(FIXTURES / "train_container.yaml"))
