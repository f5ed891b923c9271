"""``fanout package``: build the generator Lambda zip reproducibly.

The zip's bytes are a pure function of the source content: entries sorted by path, every timestamp
1980-01-01 00:00, modes normalised (files 0644, directories 0755), no ``__pycache__``/``*.pyc``/dotfiles,
DEFLATE level 9 (the same zlib gives the same bytes). A checkout in another directory, with other mtimes,
umask or file modes, gives the same zip and so the same ``source_code_hash``: no needless Lambda update.

If ``requirements.txt`` exists and names packages, they are installed (pinned ``==`` only) with
``pip install --no-compile --target`` into a temporary directory and zipped with the source.

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
from fanout_tools.paths import build_dir, lambda_dir

PACKAGER_VERSION = "1"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
DIR_MODE = 0o040755
COMPRESS_LEVEL = 9
EXCLUDED_DIRS = {"__pycache__"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
REQUIREMENTS = "requirements.txt"


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
    """Pinned requirement lines of ``requirements.txt`` (empty when absent or only comments)."""
    path = source / REQUIREMENTS
    if not path.exists():
        return []
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line]
    unpinned = [line for line in lines if "==" not in line]
    if unpinned:
        raise ConfigError(
            f"{path} has unpinned requirements: {', '.join(unpinned)}",
            "pin every package with == so builds are reproducible",
        )
    return lines


def build(source: Path, dest: Path, force: bool = False) -> BuildResult:
    """Build ``dest`` from ``source`` unless its stored content hash already matches."""
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
    with tempfile.TemporaryDirectory(prefix="fanout-pkg-") as tmp:
        pins = requirements(source)
        if pins:
            deps = Path(tmp) / "deps"
            _pip_install(pins, deps)
            entries += source_files(deps)
        data = _zip_bytes(entries)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(dest, data)
    _atomic_write(
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


def _pip_install(pins: list[str], target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "--target",
        str(target),
        *pins,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackageError(
            f"pip could not install {', '.join(pins)}: {done.stderr.strip()[-500:]}",
            "check the pins in lambda/generator/requirements.txt and that PyPI is reachable",
        )


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
