"""The array child's item, read inside the sandbox server instead of by a fresh ``python3`` per child.

The job definition's default array command is the standard-library reader carried inline
(``python3 -I -S -c <item_reader> Ref::items_uri -- CMD [ARGS...]``, ``terraform/main.tf``): in AWS
each child starts that interpreter, which reads the child's line with two ranged GETs (16 bytes of
the batch's offset index, then the line) and replaces itself with ``CMD ARGS... ITEM``.

A fresh interpreter costs a child ~15-40 ms of CPU, which is the whole budget of a million-item run
on a laptop. So when a child's command is exactly that reader (the program text Terraform deploys,
``python3 -I -S -c``, an ``s3://`` URI, ``--`` and a command), the sandbox does the reader's part
itself: the same :func:`fanout_item.read_item` code, with the same two ranges, served from moto's
S3 store in memory instead of over HTTP with SigV4; then it starts only ``CMD ARGS... ITEM``, a real
process with the child's environment, whose exit code is the child's. Errors map to the reader's own
exit codes and messages (66 no such line or object, 75 S3 unavailable, 127 command not found).

What is skipped is the interpreter start, the credential chain, SigV4 and the HTTP round trips;
``tests/scripts/sandbox/test_job_command.py`` runs the real reader end to end against the sandbox's
S3, and ``test_item_shortcut.py`` checks that this path yields the same item and command line.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from fanout_tools.paths import lambda_dir

READER_FLAGS = ["python3", "-I", "-S", "-c"]
ELIDED = "<item_reader>"
SHORTCUT_NOTE = " (the sandbox read the item in process and ran the command after --)"


def _job_module(name: str) -> Any:
    """A module of ``lambda/job/`` (imported from the repository, as the job image would hold it)."""
    folder = str(lambda_dir() / "job")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


@cache
def reader_module() -> Any:
    """``lambda/job/fanout_item.py`` (the reader itself)."""
    return _job_module("fanout_item")


@cache
def _inline() -> Any:
    return _job_module("inline")


def reader_command(then: list[str]) -> list[str]:
    """The default array-mode job command (terraform/main.tf), running ``then`` with the item appended."""
    return [*READER_FLAGS, _inline().terraform_program(), "Ref::items_uri", "--", *then]


@cache
def reader_programs() -> frozenset[str]:
    """Program texts recognised as the reader: the one in terraform/main.tf and the one built from
    fanout_item.py (equal when main.tf is up to date; tests/lambda/test_inline_reader.py checks it)."""
    found = set()
    inline = _inline()
    for build in (inline.terraform_program, inline.program):
        try:
            found.add(build())
        except (OSError, ValueError):
            continue
    return frozenset(found)


def is_reader_command(command: list[str]) -> bool:
    """``python3 -I -S -c <item_reader> s3://... -- CMD ...`` with the deployed reader program."""
    return (
        len(command) >= 8
        and command[:4] == READER_FLAGS
        and command[4] in reader_programs()
        and command[5].startswith("s3://")
        and command[6] == "--"
    )


def display(command: list[str]) -> str:
    """The command for a log line, the ~6.7 KB reader program shown as ``<item_reader>``."""
    return str([ELIDED if arg in reader_programs() else arg for arg in command])


class MemoryS3:
    """``fanout_item.S3``'s interface (``get_range``, ``lines``) over moto's S3 store, in process.

    Objects are read once per array job and kept (a batch and its index are written before the
    array job is submitted and never change); ranges behave as S3's: shorter at the end, HTTP 416
    (``ItemNotFoundError``) when the first byte is past it, ``NotFound`` for a missing object.
    """

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.requests = 0
        self.bytes_read = 0
        self._objects: dict[tuple[str, str], bytes | None] = {}
        self._lock = threading.Lock()

    def _object(self, bucket: str, key: str) -> bytes:
        value = self._objects.get((bucket, key), b"")  # once loaded, read without the lock
        if value == b"":
            with self._lock:
                if (bucket, key) not in self._objects:
                    self._objects[bucket, key] = _load(self.account_id, bucket, key)
                value = self._objects[bucket, key]
        if value is None:
            raise reader_module().NotFound(f"s3://{bucket}/{key}")
        return value

    def get_range(self, bucket: str, key: str, first: int, last: int) -> bytes:
        value = self._object(bucket, key)
        self.requests += 1
        if first >= len(value):
            raise reader_module().ItemNotFoundError("range not satisfiable")
        body = value[first : last + 1]
        self.bytes_read += len(body)
        return body

    def lines(self, bucket: str, key: str) -> Any:
        value = self._object(bucket, key)
        self.requests += 1
        for line in value.splitlines(keepends=True):
            self.bytes_read += len(line)
            yield line


def _load(account_id: str, bucket: str, key: str) -> bytes | None:
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends

    try:
        found = s3_backends[account_id]["aws"].get_object(bucket, key)
    except MissingBucket:
        return None
    return None if found is None else bytes(found.value)


def batch_lines(account_id: str, bucket: str, key: str) -> int | None:
    """Lines in the batch ``key``, from the size of its offset index (n + 1 eight-byte entries,
    lambda/generator/batches.py); None when the index is missing or malformed."""
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends

    try:
        found = s3_backends[account_id]["aws"].get_object(bucket, reader_module().index_key(key))
    except MissingBucket:
        return None
    if found is None or found.size < 8 or found.size % 8:
        return None
    return int(found.size // 8 - 1)


@dataclass(frozen=True)
class Resolved:
    """What the reader would have done for one child: exec ``argv`` (``path`` resolved on the child's
    PATH), or exit with ``exit_code`` after writing ``message`` to the child's output."""

    argv: list[str] | None
    path: str | None
    exit_code: int | None = None
    message: str = ""


class CommandPaths:
    """``execvp``'s lookup of a command on the child's PATH, remembered per (name, PATH)."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], str | None] = {}

    def __call__(self, name: str, path: str) -> str | None:
        if "/" in name:
            return name if os.access(name, os.X_OK) else None
        if (name, path) not in self._found:
            self._found[name, path] = shutil.which(name, path=path)
        return self._found[name, path]


def resolve(
    command: list[str], index: int, s3: MemoryS3, env: dict[str, str], paths: CommandPaths
) -> Resolved:
    """The reader's ``main`` for child ``index`` of a reader command (see :func:`is_reader_command`)."""
    reader = reader_module()
    uri, user = command[5], command[7:]
    try:
        item = reader.read_item(uri, index, s3)
    except (reader.ItemNotFoundError, reader.NotFound, ValueError, OSError) as err:
        return Resolved(None, None, 66, f"fanout_item: {err}\n")
    except reader.ReadError as err:
        return Resolved(None, None, 75, f"fanout_item: {err}\n")
    path = paths(user[0], env.get("PATH", os.defpath))
    if path is None:
        return Resolved(None, None, 127, f"fanout_item: command not found: {user[0]}\n")
    return Resolved([*user, item], path)


def interpreter_available(env: dict[str, str], paths: CommandPaths) -> bool:
    """The child could start ``python3`` at all (else the real command runs, and fails as in AWS)."""
    return paths("python3", env.get("PATH", os.defpath)) is not None
