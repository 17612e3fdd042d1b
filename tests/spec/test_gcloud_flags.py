"""gcloud's flag syntax and rules for custom jobs, as ``cjob_emu.gcloud_flags`` reads them."""

from __future__ import annotations

import pytest

from cjob_emu.errors import InputError
from cjob_emu.gcloud_flags import (
    LocalPackage,
    local_run_flags,
    override_tasks,
    parse_env,
    parse_pool,
    read_pool_flags,
    split_list,
    worker_pool_specs,
)
from cjob_emu.spec import job_from_mapping, job_to_snake

# the example of `gcloud ai custom-jobs create --help`
GCLOUD_EXAMPLE = (
    "replica-count=1,machine-type=n1-highmem-2,"
    "container-image-uri=gcr.io/ucaip-test/ucaip-training-test"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # the examples of `gcloud topic escaping`
        ("^:^a,b:c,d", ["a,b", "c,d"]),
        ("^--^a-,b--c", ["a-,b", "c"]),
        ("^a,b,c", ["^a", "b", "c"]),
        ("^,^^a,b,c", ["^a", "b", "c"]),
        ("a,b,", ["a", "b"]),
        ("a,,b", ["a", "", "b"]),
        ("", []),
        ("--epochs=3", ["--epochs=3"]),
    ],
)
def test_lists_split_as_gcloud_splits_them(value: str, expected: list[str]) -> None:
    assert split_list(value) == expected


def test_gclouds_own_example_is_one_container_pool() -> None:
    flags = read_pool_flags([GCLOUD_EXAMPLE])
    assert flags.package is None
    assert worker_pool_specs(flags) == [
        {
            "machine_spec": {"machine_type": "n1-highmem-2"},
            "replica_count": 1,
            "container_spec": {"image_uri": "gcr.io/ucaip-test/ucaip-training-test"},
        }
    ]


def test_pools_keep_their_order_an_empty_one_is_skipped_and_defaults_are_gclouds() -> None:
    flags = read_pool_flags(
        [
            "machine-type=n1-standard-8,container-image-uri=gcr.io/p/t:1,"
            "accelerator-type=NVIDIA_TESLA_T4",
            "",
            "machine-type=e2-standard-4,replica-count=3,executor-image-uri=us-docker.pkg.dev/"
            "vertex-ai/training/tf-cpu.2-4:latest,python-module=trainer.task",
        ]
    )
    pools = worker_pool_specs(flags, python_package_uris=["gs://b/trainer.tar.gz"])
    assert pools[0]["replica_count"] == 1
    assert pools[0]["machine_spec"] == {
        "machine_type": "n1-standard-8",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 1,
    }
    assert pools[1] == {}
    assert pools[2]["replica_count"] == 3
    assert pools[2]["python_package_spec"] == {
        "executor_image_uri": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-4:latest",
        "package_uris": ["gs://b/trainer.tar.gz"],
        "python_module": "trainer.task",
    }
    # what the spec loader takes as it is: a CustomJob of three pools
    job = job_from_mapping({"display_name": "x", "job_spec": {"worker_pool_specs": pools}})
    assert len(job.job_spec.worker_pool_specs) == 3


def test_a_key_given_twice_keeps_the_last_value_and_lists_split_at_semicolons() -> None:
    spec = parse_pool(
        "machine-type=a,machine-type=b,local-package-path=.,requirements=numpy==1.26;pandas"
    )
    assert spec["machine-type"] == "b"
    assert spec["requirements"] == ["numpy==1.26", "pandas"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["machine-type=a,foo=1"], "unknown key [foo]"),
        (["machine-type"], "bad syntax for dict arg: [machine-type]"),
        (["machine-type=a,replica-count=two,container-image-uri=i"], "[replica-count] must be"),
        ([""], "empty value is not allowed for the first"),
        (["container-image-uri=i"], "key [machine-type] required"),
        (
            ["machine-type=a,accelerator-count=2,container-image-uri=i"],
            "[accelerator-type] required",
        ),
        (["machine-type=a"], "exactly one of keys [executor-image-uri, container-image-uri]"),
        (["machine-type=a,container-image-uri=i,executor-image-uri=e"], "exactly one of keys"),
        (
            ["machine-type=a,container-image-uri=i,python-module=m"],
            "[python-module] is not allowed",
        ),
        (["machine-type=a,executor-image-uri=e"], "key [python-module] is required"),
        (["machine-type=a,container-image-uri=i,script=t.py"], "keys [script] are not allowed"),
        (
            ["machine-type=a,local-package-path=.,script=t.py"],
            "key [executor-image-uri] is required",
        ),
        (
            ["machine-type=a,local-package-path=.,executor-image-uri=e"],
            "exactly one of keys [python",
        ),
        (
            ["machine-type=a,container-image-uri=i", "machine-type=a,local-package-path=."],
            "[local-package-path] is only allowed in the first",
        ),
        (
            [
                "machine-type=a,local-package-path=.,executor-image-uri=e,script=t.py",
                "machine-type=a,container-image-uri=i",
            ],
            "keys [container-image-uri] are not allowed: a local package",
        ),
    ],
)
def test_gclouds_rules_refuse_with_its_words(values: list[str], message: str) -> None:
    with pytest.raises(InputError, match="--worker-pool-spec") as caught:
        read_pool_flags(values)
    assert message in str(caught.value)


def test_a_local_package_runs_in_every_non_empty_pool() -> None:
    flags = read_pool_flags(
        [
            "machine-type=e2-standard-4,executor-image-uri=base:1,local-package-path=/src,"
            "python-module=trainer.task,requirements=a;b,extra-dirs=data",
            "",
            "machine-type=e2-standard-4,replica-count=2",
        ]
    )
    assert flags.package == LocalPackage(
        path="/src",
        executor_image_uri="base:1",
        python_module="trainer.task",
        requirements=("a", "b"),
        extra_dirs=("data",),
    )
    pools = worker_pool_specs(flags, package_task={"image_uri": "built:1"})
    assert pools[0]["container_spec"] == pools[2]["container_spec"] == {"image_uri": "built:1"}
    assert pools[1] == {}
    # to validate: the image Vertex would be given
    assert worker_pool_specs(flags)[0]["container_spec"] == {"image_uri": "base:1"}
    with pytest.raises(InputError, match="--python-package-uris"):
        worker_pool_specs(flags, python_package_uris=["gs://b/p.tar.gz"])


@pytest.mark.parametrize(
    ("package", "entrypoint", "dirs"),
    [
        (LocalPackage(".", "b", script="task.py"), ["python3", "task.py"], ["."]),
        (LocalPackage(".", "b", script="./bin/run.sh"), ["/bin/bash", "bin/run.sh"], ["bin"]),
        (
            LocalPackage(".", "b", python_module="trainer.task", extra_dirs=("data", "trainer")),
            ["python3", "-m", "trainer.task"],
            ["trainer", "data"],
        ),
    ],
)
def test_a_package_runs_its_script_or_module_from_its_directories(
    package: LocalPackage, entrypoint: list[str], dirs: list[str]
) -> None:
    assert package.entrypoint() == entrypoint
    assert package.copied_dirs() == dirs
    task = package.host_task("/abs/src")
    assert task["command"][:5] == [
        "/bin/sh",
        "-c",
        'cd "$1" && shift && exec "$@"',
        "sh",
        "/abs/src",
    ]
    assert task["command"][5:] == entrypoint


def test_local_run_is_the_package_in_the_primary_pool_and_workers_beside_it() -> None:
    flags = local_run_flags("base:1", local_package_path="src", script="task.py", replica_count=3)
    assert flags.package is not None and flags.package.name == "task"
    pools = worker_pool_specs(flags, package_task={"image_uri": "built:1"})
    assert [p["replica_count"] for p in pools] == [1, 2]
    assert all(p["container_spec"] == {"image_uri": "built:1"} for p in pools)
    alone = local_run_flags("base:1")
    assert alone.package is None
    assert worker_pool_specs(alone)[0]["container_spec"] == {"image_uri": "base:1"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"requirements": ["numpy"]}, "--script or --python-module is required"),
        ({"script": "a.py", "python_module": "a"}, "give one of them"),
        ({"script": "a.py", "replica_count": 0}, "at least 1"),
    ],
)
def test_local_run_refuses_what_gcloud_refuses(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        local_run_flags("base:1", **kwargs)


def test_args_command_and_env_override_every_pool_as_gcloud_does() -> None:
    pools = worker_pool_specs(
        read_pool_flags(
            [
                "machine-type=a,container-image-uri=i",
                "",
                "machine-type=a,executor-image-uri=e,python-module=m",
            ]
        )
    )
    pools[0]["container_spec"]["env"] = [
        {"name": "KEEP", "value": "1"},
        {"name": "X", "value": "0"},
    ]
    job = job_from_mapping({"display_name": "x", "job_spec": {"worker_pool_specs": pools}})
    override_tasks(
        job, args=["--lr", "0.1"], command=["python3", "-m", "t"], env=parse_env(["X=1", "Y=a=b"])
    )
    container, skipped, package = job_to_snake(job)["job_spec"]["worker_pool_specs"]
    assert container["container_spec"]["args"] == ["--lr", "0.1"]
    assert container["container_spec"]["command"] == ["python3", "-m", "t"]
    assert container["container_spec"]["env"] == [
        {"name": "KEEP", "value": "1"},
        {"name": "X", "value": "1"},
        {"name": "Y", "value": "a=b"},
    ]
    assert skipped == {}
    assert package["python_package_spec"]["args"] == ["--lr", "0.1"]
    assert "command" not in package["python_package_spec"]
    # empty lists change nothing (gcloud's `if args:`)
    override_tasks(job)
    assert job_to_snake(job)["job_spec"]["worker_pool_specs"][0]["container_spec"]["args"] == [
        "--lr",
        "0.1",
    ]


@pytest.mark.parametrize("pair", ["NOVALUE", "=1", " =x"])
def test_env_without_a_name_is_refused(pair: str) -> None:
    with pytest.raises(InputError, match="--env"):
        parse_env([pair])
