"""Local image recipes: what decides a rebuild, where the mirror comes from, and the cache."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from cjob_emu import images
from cjob_emu.errors import EnvironmentProblem

TEST_RECIPE = images.RECIPES_DIR / "test"


@pytest.fixture
def recipe_copy(tmp_path: Path) -> images.ImageRecipe:
    """A private copy of the test image's recipe, free to change."""
    directory = tmp_path / "test"
    shutil.copytree(TEST_RECIPE, directory)
    return images.ImageRecipe(directory)


def test_digest_ignores_file_order_but_not_names_contents_or_parent() -> None:
    files = {"Dockerfile": b"FROM x\n", "requirements.txt": b"six\n"}
    digest = images.recipe_digest(files, parent="p")

    assert images.recipe_digest(dict(reversed(files.items())), parent="p") == digest
    assert images.recipe_digest({**files, "requirements.txt": b"six==1\n"}, parent="p") != digest
    assert images.recipe_digest({"Dockerfile": b"FROM x\n", "req.txt": b"six\n"}, "p") != digest
    assert images.recipe_digest(files, parent="q") != digest
    # Name and content boundaries are part of the hash: moving bytes between them changes it.
    assert images.recipe_digest({"ab": b"c"}) != images.recipe_digest({"a": b"bc"})


def test_a_changed_recipe_gets_a_new_tag(recipe_copy: images.ImageRecipe) -> None:
    before = recipe_copy.tag
    assert before == images.recipe("test").tag
    assert before.startswith("cjob-emu/test:")

    (recipe_copy.directory / "requirements.txt").write_text("six==1.16.0\n")

    assert recipe_copy.tag != before
    assert recipe_copy.requirements() == ["six==1.16.0"]


def test_a_changed_base_recipe_changes_every_image_tag(recipe_copy: images.ImageRecipe) -> None:
    base = images.BaseRecipe()
    more = images.BaseRecipe(packages=(*base.packages, "git"))
    assert more.digest() != base.digest()
    assert more.tag == base.tag == "cjob-emu/base:bookworm"
    assert images.ImageRecipe(recipe_copy.directory, base=more).tag != recipe_copy.tag


def test_requirements_drop_comments_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "requirements.txt").write_text(
        "# wheels\n\nkfp==2.17.3  # pipelines\n  google-cloud-storage>=2\n"
    )
    assert images.ImageRecipe(tmp_path).requirements() == ["kfp==2.17.3", "google-cloud-storage>=2"]


def test_the_committed_test_recipe_lists_only_pinnable_requirements() -> None:
    for line in images.recipe("test").requirements():
        assert not line.startswith("-"), f"pip options do not belong in requirements.txt: {line}"


def test_unknown_recipe_is_an_environment_problem(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="no image recipe 'nope'"):
        images.recipe("nope", tmp_path)


DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_from_deb822_sources() -> None:
    files = [("debian.sources", DEB822)]
    assert images.mirror_from_sources(files, "bookworm") == "http://deb.debian.org/debian"
    assert (
        images.mirror_from_sources(files, "bookworm-security")
        == "http://deb.debian.org/debian-security"
    )
    assert images.mirror_from_sources(files, "trixie") is None


def test_mirror_skips_disabled_and_source_only_stanzas() -> None:
    text = (
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n\n"
        "Types: deb deb-src\nURIs: http://on.example/debian\n  http://spare.example/debian\n"
        "Suites: bookworm\n"
    )
    assert images.mirror_from_sources([("x.sources", text)], "bookworm") == (
        "http://on.example/debian"
    )


def test_mirror_from_one_line_sources_with_options() -> None:
    text = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
    )
    assert images.mirror_from_sources([("sources.list", text)], "bookworm") == (
        "http://mirror.example/debian"
    )


def test_debian_mirror_reads_the_apt_directory(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert images.debian_mirror("bookworm", tmp_path) == "http://deb.debian.org/debian"
    with pytest.raises(EnvironmentProblem, match="CJOB_EMU_DEBIAN_MIRROR"):
        images.debian_mirror("trixie", tmp_path)


def test_manylinux_platforms_cover_bookworm_glibc_and_older() -> None:
    tags = images.manylinux_platforms(36, "x86_64")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in tags
    assert "manylinux_2_37_x86_64" not in tags
    assert tags[-3:] == ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    assert images.manylinux_platforms(36, "aarch64")[-1] == "manylinux2014_aarch64"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    engine = docker.from_env()
    yield engine
    engine.close()


@pytest.mark.docker
def test_second_build_is_a_fast_no_op(client: Any, cjob_test_image: str) -> None:
    recipe = images.recipe("test")

    first = images.ensure_image(client, recipe)
    second = images.ensure_image(client, recipe)

    assert first.tag == second.tag == cjob_test_image
    assert second.built is False
    assert second.image_id == first.image_id
    assert second.seconds < 5
    labels = client.images.get(second.tag).labels
    assert labels[images.RECIPE_LABEL] == recipe.digest()
    assert labels[images.NAME_LABEL] == "test"


@pytest.mark.docker
def test_changed_recipe_builds_a_new_image_with_its_wheels_offline(
    client: Any, cjob_test_image: str, recipe_copy: images.ImageRecipe
) -> None:
    (recipe_copy.directory / "requirements.txt").write_text("six==1.16.0\n")
    tag = recipe_copy.tag
    try:
        outcome = images.ensure_image(client, recipe_copy)

        assert outcome.built is True
        assert outcome.tag == tag != cjob_test_image
        out = client.containers.run(
            tag,
            ["python3", "-c", "import six; print(six.__version__)"],
            network_disabled=True,
            labels={"cjob-emu.test": "images"},
            remove=True,
        )
        assert out.decode().strip() == "1.16.0"
        assert images.ensure_image(client, recipe_copy).built is False
    finally:
        images_with_tag = client.images.list(name=tag)
        if images_with_tag:
            client.images.remove(tag)


@pytest.mark.docker
def test_build_command_reports_cached_images(
    cjob_test_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert images.main(["build"]) == 0
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "base: cached cjob-emu/base:bookworm" in err
    assert f"test: cached {cjob_test_image}" in err


@pytest.mark.parametrize(("ci", "code"), [("", 0), ("true", 3)])
def test_build_without_engine_skips_outside_ci_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ci: str,
    code: int,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("CI", ci)

    assert images.main(["build", "--skip-without-engine"]) == code
    assert "no Docker engine answers" in capsys.readouterr().err
