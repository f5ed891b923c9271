"""Where things live in the repository and in the ignored runtime folder ``.fanout/``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def repo_root() -> Path:
    """The checkout this package was installed from (editable install), or $FANOUT_REPO_ROOT."""
    override = os.environ.get("FANOUT_REPO_ROOT")
    if override:
        return Path(override).resolve()
    return Path(__file__).resolve().parents[2]


def terraform_dir() -> Path:
    return repo_root() / "terraform"


def templates_dir() -> Path:
    return repo_root() / "templates"


def lambda_dir() -> Path:
    return repo_root() / "lambda"


def runtime_dir() -> Path:
    """Ignored folder for everything the tools create at run time (sandbox pid/port/log, state, zips)."""
    path = Path(os.environ.get("FANOUT_RUNTIME_DIR", repo_root() / ".fanout"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_dir() -> Path:
    path = runtime_dir() / "build"
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file of this call's own, then rename it: a
    concurrent reader sees the old file or the new one, never half of one, and two threads or processes
    writing the same path never share a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
