"""The base image's root filesystem: Debian by debootstrap, from the host's own mirror.

Needs root (debootstrap mounts /proc inside the tree); the tree is trimmed of what an
image does not need and packed for ``docker import``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cjob_emu.errors import EnvironmentProblem

if TYPE_CHECKING:
    from cjob_emu.images.build import BaseRecipe

Log = Callable[[str], None]


def mirror_from_sources(files: Iterable[tuple[str, str]], suite: str) -> str | None:
    """The first ``deb`` URI that serves ``suite``, from (file name, text) apt source files.

    Reads both the deb822 ``.sources`` format and the one-line ``.list`` format.
    """
    for name, text in files:
        if name.endswith(".sources"):
            for stanza in _deb822_stanzas(text):
                uris = stanza.get("uris", "").split()
                if (
                    uris
                    and stanza.get("enabled", "yes").lower() != "no"
                    and "deb" in stanza.get("types", "").split()
                    and suite in stanza.get("suites", "").split()
                ):
                    return uris[0]
        else:
            for line in text.splitlines():
                # deb [arch=amd64 signed-by=...] URI SUITE COMPONENTS...
                words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
    return None


def debian_mirror(suite: str, apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt sources use for ``suite``."""
    paths = [apt_dir / "sources.list"]
    paths += sorted((apt_dir / "sources.list.d").glob("*.sources"))
    paths += sorted((apt_dir / "sources.list.d").glob("*.list"))
    files = [(p.name, p.read_text()) for p in paths if p.is_file()]
    mirror = mirror_from_sources(files, suite)
    if mirror is None:
        raise EnvironmentProblem(
            f"no apt source under {apt_dir} serves {suite!r}; "
            "set CJOB_EMU_DEBIAN_MIRROR to a Debian mirror URL"
        )
    return mirror


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
        elif line[0].isspace() and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            stanza[key] = value.strip()
    if stanza:
        yield stanza


def unmount_below(path: Path) -> None:
    # A debootstrap that stopped half-way can leave /proc or /sys mounted in the target;
    # deleting the tree before unmounting them would reach into the host's.
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    prefix = str(path) + "/"
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"{what} needs root (debootstrap); run the image build as root")


def _debootstrap_command(log: Log) -> str:
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if found:
        return found
    log("debootstrap is missing: installing it with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "debootstrap"]
    for command in (["apt-get", "update", "-qq"], install):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EnvironmentProblem(f"{' '.join(command)} failed:\n{result.stderr.strip()}")
    found = shutil.which("debootstrap", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise EnvironmentProblem("debootstrap is still missing after apt-get install")
    return found


def debootstrap(base: BaseRecipe, rootfs: Path, mirror: str, log_path: Path, log: Log) -> None:
    _require_root(f"building {base.tag}")
    command = [
        _debootstrap_command(log),
        f"--variant={base.variant}",
        f"--include={','.join(base.packages)}",
        base.suite,
        str(rootfs),
        mirror,
    ]
    with open(log_path, "w") as output:
        result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-20:]
        raise EnvironmentProblem(
            f"debootstrap failed (exit {result.returncode}):\n" + "\n".join(tail)
        )


def trim_rootfs(rootfs: Path) -> None:
    # Package caches and device nodes have no place in an image: the engine provides /dev.
    for directory in ("var/cache/apt/archives", "var/lib/apt/lists", "dev", "tmp"):
        target = rootfs / directory
        if not target.is_dir():
            continue
        for entry in target.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def tar_rootfs(rootfs: Path, archive: Path) -> None:
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name)
