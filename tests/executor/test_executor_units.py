"""The executor's pure parts: the gs:// root, the image map, the unemulated-field summary."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.cloud.aiplatform_v1 import CustomJob
from support.executor_jobs import job, python

from cjob_emu.cluster import Replica
from cjob_emu.errors import EnvironmentProblem, GcsPathError, InputError
from cjob_emu.executor import ImageMap, RunOptions, get_backend
from cjob_emu.executor.backend import LABEL_HOST, LABEL_PID, owner_alive, owner_labels
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.executor.logs import Prefixer
from cjob_emu.executor.process import ProcessBackend, free_ports
from cjob_emu.executor.unemulated import unemulated_fields
from cjob_emu.spec import load_job


@pytest.fixture
def root(tmp_path: Path) -> GcsRoot:
    return GcsRoot.at(tmp_path / "gcs")


class TestGcsRoot:
    def test_uri_mount_and_host_path_are_one_object(self, root: GcsRoot) -> None:
        local = root.local_path("gs://bucket/a/b.txt")
        assert local == root.path / "bucket" / "a" / "b.txt"
        assert root.local_path("/gcs/bucket/a/b.txt") == local
        assert root.uri(local) == "gs://bucket/a/b.txt"
        assert root.mount_path(local) == "/gcs/bucket/a/b.txt"

    @pytest.mark.parametrize(
        "location",
        ["gs://bucket/../../etc/passwd", "/gcs/bucket/../../x", "gs://", "gs:///x", "/etc/passwd"],
    )
    def test_paths_leaving_the_root_or_naming_no_bucket_are_refused(
        self, root: GcsRoot, location: str
    ) -> None:
        with pytest.raises(GcsPathError):
            root.local_path(location)

    def test_a_symlink_pointing_out_of_the_root_is_refused(
        self, root: GcsRoot, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (root.path / "bucket").mkdir()
        os.symlink(outside, root.path / "bucket" / "link")
        with pytest.raises(GcsPathError, match="outside the gs:// root"):
            root.local_path("gs://bucket/link/secret")
        with pytest.raises(GcsPathError):
            root.uri(outside)

    def test_the_root_itself_is_no_object(self, root: GcsRoot) -> None:
        with pytest.raises(GcsPathError, match="not inside a bucket"):
            root.uri(root.path)

    def test_host_paths_rewrites_only_path_starts(self, root: GcsRoot) -> None:
        r = str(root.path)
        assert root.host_paths("/gcs/b/x") == f"{r}/b/x"
        assert root.host_paths("--out=/gcs/b/x") == f"--out={r}/b/x"
        assert root.host_paths("gs://b/model/") == f"{r}/b/model/"
        assert root.host_paths("--data=gs://b/d") == f"--data={r}/b/d"
        for untouched in ("/data/gcs/x", "/gcsfoo", "xgs://b", "plain"):
            assert root.host_paths(untouched) == untouched

    def test_package_path_maps_gs_uris_and_requires_the_file(
        self, root: GcsRoot, tmp_path: Path
    ) -> None:
        target = root.path / "b" / "pkg.tar.gz"
        target.parent.mkdir(parents=True)
        target.write_text("x")
        assert root.package_path("gs://b/pkg.tar.gz") == target
        local = tmp_path / "local.whl"
        local.write_text("x")
        assert root.package_path(str(local)) == local
        with pytest.raises(EnvironmentProblem, match="not found"):
            root.package_path("gs://b/missing.whl")

    def test_default_root_is_under_the_current_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        assert GcsRoot.at().path == (tmp_path / ".cjob-emu" / "gcs").resolve()


class TestImageMap:
    def test_pairs_files_and_prefixes(self, tmp_path: Path) -> None:
        mapping = tmp_path / "images.yaml"
        mapping.write_text(
            "images:\n"
            "  us-docker.pkg.dev/vertex-ai/training/*: cjob-emu/test:latest\n"
            "  gcr.io/p/a:1: local/a:file\n"
        )
        images = ImageMap.load(mapping, ["gcr.io/p/a:1=local/a:flag"])
        assert images.resolve("gcr.io/p/a:1") == "local/a:flag"
        assert images.resolve("us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-12:latest") == (
            "cjob-emu/test:latest"
        )
        assert images.resolve("python:3.11") == "python:3.11"

    def test_longer_prefix_and_exact_key_win(self) -> None:
        images = ImageMap({"a/*": "short", "a/b/*": "long", "a/b/c": "exact"})
        assert images.resolve("a/b/c") == "exact"
        assert images.resolve("a/b/d") == "long"
        assert images.resolve("a/x") == "short"

    @pytest.mark.parametrize("pair", ["no-equals", "=tag", "uri=", " = "])
    def test_malformed_pairs_are_input_errors(self, pair: str) -> None:
        with pytest.raises(InputError, match="URI=LOCAL_TAG"):
            ImageMap.from_pairs([pair])

    def test_a_file_that_is_no_mapping_is_an_input_error(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("- a\n- b\n")
        with pytest.raises(InputError, match="mapping"):
            ImageMap.from_file(bad)
        with pytest.raises(InputError):
            ImageMap.from_file(tmp_path / "missing.yaml")


class TestUnemulated:
    def test_a_plain_job_only_hears_about_machine_types(self) -> None:
        found = unemulated_fields(job("plain", [python("print(1)")]))
        assert [f.field for f in found] == [
            "job_spec.worker_pool_specs[0].machine_spec.machine_type"
        ]
        assert (
            unemulated_fields(job("plain", [python("print(1)")]), RunOptions(resource_limits=True))
            == []
        )

    def test_every_unemulated_field_is_named(self) -> None:
        data = {
            "displayName": "everything",
            "encryptionSpec": {"kmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"},
            "jobSpec": {
                "serviceAccount": "sa@p.iam.gserviceaccount.com",
                "network": "projects/1/global/networks/n",
                "reservedIpRanges": ["r1"],
                "tensorboard": "projects/p/locations/l/tensorboards/1",
                "enableWebAccess": True,
                "persistentResourceId": "pr",
                "scheduling": {"strategy": "SPOT", "timeout": "60s"},
                "workerPoolSpecs": [
                    {
                        "machineSpec": {
                            "machineType": "n1-standard-4",
                            "acceleratorType": "NVIDIA_TESLA_T4",
                            "acceleratorCount": 1,
                            "reservationAffinity": {"reservationAffinityType": "ANY_RESERVATION"},
                        },
                        "replicaCount": "1",
                        "diskSpec": {"bootDiskSizeGb": 200},
                        "nfsMounts": [{"server": "s", "path": "/p", "mountPoint": "m"}],
                        "containerSpec": {"imageUri": "i", "command": ["true"]},
                    }
                ],
            },
        }
        fields = {f.field for f in unemulated_fields(load_job(data))}
        pool = "job_spec.worker_pool_specs[0]"
        assert fields == {
            "encryption_spec",
            "job_spec.service_account",
            "job_spec.network",
            "job_spec.reserved_ip_ranges",
            "job_spec.tensorboard",
            "job_spec.enable_web_access",
            "job_spec.persistent_resource_id",
            "job_spec.scheduling.strategy",
            f"{pool}.machine_spec.machine_type",
            f"{pool}.machine_spec.accelerator_type",
            f"{pool}.machine_spec.reservation_affinity",
            f"{pool}.disk_spec",
            f"{pool}.nfs_mounts",
        }
        with_gpus = {f.field for f in unemulated_fields(load_job(data), RunOptions(gpus=True))}
        assert f"{pool}.machine_spec.accelerator_type" not in with_gpus

    def test_output_only_fields_are_named_as_replaced(self) -> None:
        the_job = CustomJob(display_name="x", state="JOB_STATE_SUCCEEDED")
        assert [str(f) for f in unemulated_fields(the_job)] == [
            "state: output only: set by the run, the given value is replaced"
        ]


class TestBackendPieces:
    def test_process_backend_is_chosen_by_name_and_addresses_are_stable(
        self, tmp_path: Path
    ) -> None:
        backend = get_backend("process")
        assert isinstance(backend, ProcessBackend)
        from cjob_emu.executor.backend import RunSpec

        run = RunSpec(
            run_id="r1",
            job=job("x", [python("print(1)")]),
            replicas=(Replica(0, 0), Replica(1, 0)),
            gcs=GcsRoot.at(tmp_path),
            run_dir=tmp_path,
            labels={},
        )
        first = [backend.address(run, r) for r in run.replicas]
        assert first == [backend.address(run, r) for r in run.replicas]
        assert len(set(first)) == 2 and all(a.startswith("127.0.0.1:") for a in first)

    def test_unknown_backend_is_an_input_error(self) -> None:
        with pytest.raises(InputError, match="unknown backend"):
            get_backend("kubernetes")

    def test_free_ports_are_distinct(self) -> None:
        ports = free_ports(8)
        assert len(set(ports)) == 8

    def test_owner_alive_tells_live_dead_and_foreign_owners(self) -> None:
        mine = owner_labels("r")
        assert owner_alive(mine)
        assert not owner_alive({**mine, LABEL_PID: "4194304"})  # above any pid_max
        assert owner_alive({**mine, LABEL_HOST: "another-machine", LABEL_PID: "4194304"})

    def test_prefixes_are_padded_and_coloured_only_on_terminals(self) -> None:
        replicas = [Replica(0, 0), Replica(1, 10)]
        plain = Prefixer(replicas, colour=False)
        assert plain.format(Replica(0, 0), "hi") == "workerpool0-0  | hi"
        coloured = Prefixer(replicas, colour=True).format(Replica(0, 0), "hi")
        assert coloured.startswith("\033[") and "workerpool0-0  | " in coloured
