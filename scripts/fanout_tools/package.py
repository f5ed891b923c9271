"""``fanout package``: build the generator Lambda zip reproducibly.

The zip's bytes are a pure function of the source content: entries sorted by path, every timestamp
1980-01-01 00:00, modes normalised (files 0644, directories 0755), no ``__pycache__``/``*.pyc``/dotfiles,
DEFLATE level 9 (the same zlib gives the same bytes). A checkout in another directory, with other mtimes,
umask or file modes, gives the same zip and so the same ``source_code_hash``: no needless Lambda update.

If ``requirements.txt`` exists and names packages, every one pinned with ``==`` and ``--hash``, exactly
those are installed for the Lambda runtime (python3.12, x86_64: ``pip install --no-deps --require-hashes
--no-compile --target`` with ``--platform manylinux2014_x86_64 --only-binary=:all:``) and zipped at the
root beside the source. The file lists the whole closure (``--no-deps``), so pip resolves nothing. The
install is cached under ``.fanout/build/deps/<key>``, the key a sha256 of the requirements file and the
install options, so a rebuild with unchanged requirements never reaches PyPI. Only the wheels' own files
are zipped: console scripts (``bin/``, whose shebang names the building interpreter) and the files pip
writes about the installation (``*.dist-info/RECORD``, ``INSTALLER``, ``REQUESTED``, ``direct_url.json``)
are left out, so the dependencies' bytes, like the source's, depend on content only.
https://docs.aws.amazon.com/lambda/latest/dg/python-package.html

A content hash (sha256 over relative paths + bytes + :data:`PACKAGER_VERSION`) is stored beside the zip
(``generator.zip.sha256``); when it matches and the zip is intact, the build is a no-op (the zip is not
rewritten). Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fanout_tools.errors import ConfigError, FanoutError
from fanout_tools.paths import atomic_write, build_dir, lambda_dir

PACKAGER_VERSION = "2"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
DIR_MODE = 0o040755
COMPRESS_LEVEL = 9
EXCLUDED_DIRS = {"__pycache__"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
REQUIREMENTS = "requirements.txt"
# The function's runtime and architecture (terraform/modules/generator: python3.12, x86_64).
# https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-native-libraries
PIP_TARGET_OPTIONS = (
    "--platform",
    "manylinux2014_x86_64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
)
PIP_OPTIONS = ("--no-deps", "--require-hashes", "--no-compile", *PIP_TARGET_OPTIONS)
DEPS_CACHE = "deps"
# Written by pip at install time, not part of the wheel (https://packaging.python.org/en/latest/specifications/recording-installed-packages/).
INSTALL_RECORDS = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


class PackageError(FanoutError):
    """The package could not be built."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    size: int
    base64_sha256: str  # what Terraform's filebase64sha256() returns
    content_hash: str
    changed: bool
    seconds: float


def source_files(source: Path) -> list[tuple[str, Path]]:
    """(relative posix path, absolute path) of every file to package, sorted."""
    if not source.is_dir():
        raise ConfigError(f"Lambda source folder {source} does not exist", "check --source")
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith("."))
        for name in files:
            if name.startswith(".") or name.endswith(EXCLUDED_SUFFIXES):
                continue
            path = Path(root) / name
            found.append((path.relative_to(source).as_posix(), path))
    return sorted(found)


def content_hash(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256(f"fanout-packager {PACKAGER_VERSION}\0".encode())
    for rel, path in files:
        data = path.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def requirements(source: Path) -> list[str]:
    """The ``name==version`` of every requirement in ``requirements.txt`` (empty when absent or only
    comments). Each must be pinned with ``==`` and carry at least one ``--hash``."""
    path = source / REQUIREMENTS
    if not path.exists():
        return []
    text = path.read_text().replace("\\\n", " ")  # join continuation lines
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    specs = [line.split()[0] for line in lines if line]
    unpinned = [spec for spec in specs if "==" not in spec]
    if unpinned:
        raise ConfigError(
            f"{path} has unpinned requirements: {', '.join(unpinned)}",
            "pin every package with == so builds are reproducible",
        )
    unhashed = [line.split()[0] for line in lines if line and "--hash=" not in line]
    if unhashed:
        raise ConfigError(
            f"{path} has requirements without --hash: {', '.join(unhashed)}",
            "add the wheel's hash (`pip download --no-deps` with the packager's --platform options, "
            "then `pip hash`), so pip installs exactly that file",
        )
    return specs


def build(source: Path, dest: Path, force: bool = False, deps_cache: Path | None = None) -> BuildResult:
    """Build ``dest`` from ``source`` unless its stored content hash already matches.

    ``deps_cache``: where installed requirements are kept between builds (default ``.fanout/build/deps``).
    """
    started = time.perf_counter()
    files = source_files(source)
    wanted = content_hash(files)
    stamp = dest.with_name(dest.name + ".sha256")
    if not force and dest.exists() and stamp.exists():
        recorded = json.loads(stamp.read_text())
        data = dest.read_bytes()
        if (
            recorded.get("content_hash") == wanted
            and recorded.get("zip_sha256") == hashlib.sha256(data).hexdigest()
        ):
            return BuildResult(
                dest, len(data), _b64(data), wanted, changed=False, seconds=time.perf_counter() - started
            )
    entries = [(rel, path) for rel, path in files if rel != REQUIREMENTS]
    if requirements(source):
        deps = installed_requirements(source / REQUIREMENTS, deps_cache or build_dir() / DEPS_CACHE)
        entries += dependency_files(deps)
    data = _zip_bytes(entries)
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, data)
    atomic_write(
        stamp,
        (
            json.dumps({"content_hash": wanted, "zip_sha256": hashlib.sha256(data).hexdigest()}) + "\n"
        ).encode(),
    )
    return BuildResult(
        dest, len(data), _b64(data), wanted, changed=True, seconds=time.perf_counter() - started
    )


def _zip_bytes(entries: list[tuple[str, Path]]) -> bytes:
    names: dict[str, Path | None] = {}
    for rel, path in entries:
        if rel in names:
            raise PackageError(f"{rel} appears twice (source and a dependency)", "rename the source file")
        names[rel] = path
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            names.setdefault("/".join(parts[:i]) + "/", None)
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in sorted(names):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
                info.create_system = 3  # unix, so the modes below are honoured everywhere
                path = names[name]
                if path is None:
                    info.external_attr = (DIR_MODE << 16) | 0x10
                    archive.writestr(info, b"")
                else:
                    info.external_attr = FILE_MODE << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(
                        info,
                        path.read_bytes(),
                        compress_type=zipfile.ZIP_DEFLATED,
                        compresslevel=COMPRESS_LEVEL,
                    )
        buffer.seek(0)
        return buffer.read()


def installed_requirements(requirements_file: Path, cache: Path) -> Path:
    """The folder the requirements are installed in, reused while the file and the options are unchanged.

    A new key is installed into a temporary folder beside the cache entry and renamed into place, so a
    cache entry is always complete, and two builds at once at worst both install it.
    """
    key = hashlib.sha256(
        "\0".join([PACKAGER_VERSION, *PIP_OPTIONS, ""]).encode() + requirements_file.read_bytes()
    ).hexdigest()[:32]
    target = cache / key
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{key}.", dir=cache) as tmp:
        staged = Path(tmp) / "site"
        _pip_install(requirements_file, staged)
        try:
            staged.rename(target)
        except OSError:
            if not target.is_dir():  # not a concurrent build that finished first
                raise
    return target


def dependency_files(deps: Path) -> list[tuple[str, Path]]:
    """The installed requirements' files to zip: the wheels' files, without console scripts and pip's
    installation records."""
    return [(rel, path) for rel, path in source_files(deps) if not _install_artifact(rel)]


def _install_artifact(rel: str) -> bool:
    parts = rel.split("/")
    if parts[0] == "bin":
        return True
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in INSTALL_RECORDS


def _pip_install(requirements_file: Path, target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-cache-dir",
        *PIP_OPTIONS,
        "--target",
        str(target),
        "--requirement",
        str(requirements_file),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackageError(
            f"pip could not install {requirements_file}: {done.stderr.strip()[-800:]}",
            "check the pins and hashes in lambda/generator/requirements.txt and that PyPI is reachable",
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, help="Lambda source folder (default lambda/generator)")
    parser.add_argument("--out", type=Path, help="zip path (default .fanout/build/generator.zip)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the content is unchanged")


def run(args: argparse.Namespace) -> int:
    source = args.source or lambda_dir() / "generator"
    dest = args.out or build_dir() / "generator.zip"
    result = build(source.resolve(), dest.resolve(), force=args.force)
    state = "built" if result.changed else "unchanged"
    print(f"{state}: {result.path}")
    print(f"  size: {result.size} bytes")
    print(f"  base64 sha256: {result.base64_sha256}")
    print(f"  time: {result.seconds:.3f} s")
    return 0
