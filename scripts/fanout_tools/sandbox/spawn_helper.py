"""The array children's process starter (``spawn_helper.c``), compiled on first use and driven over two
pipes.

Python pays ~0.3 ms of CPU per child to start, watch and reap a process (a ``posix_spawn`` through
ctypes, a pidfd, epoll, ``waitpid``, a memfd, and the GIL handed between the threads doing it), which
with a ~0.85 ms ``true`` is a quarter of a laptop's capacity in a million-child run. The helper does
all of that in C, one message per child each way, batched: the engine writes the starts of one step in
one write and reads every end since its last step in one read.

The program is built with the machine's C compiler (``$CC``, else ``cc``) into the runtime build
folder, named by the digest of its source, so an edited source is rebuilt and two servers share one
build. Without a compiler, or when ``FANOUT_SANDBOX_SPAWN_HELPER=0``, :func:`program` returns None and
the engine starts children from launcher threads (:mod:`fanout_tools.sandbox.host_spawn`) instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import NamedTuple

from fanout_tools.paths import build_dir
from fanout_tools.sandbox import host_spawn

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("spawn_helper.c")
DISABLE_VARIABLE = "FANOUT_SANDBOX_SPAWN_HELPER"
HEAD = struct.Struct("=IB")  # every message: the length of what follows the u32, then its type
STARTED = struct.Struct("=Qiq")  # 'R': token, pid, start ms
FAILED = struct.Struct("=Qi")  # 'F': token, errno
ENDED = struct.Struct("=Qiq")  # 'E': token, wait status, end ms (then the output)
START = struct.Struct("=QI")  # 'S': token, template id (then the strings)
READ_BYTES = 1 << 20
FS_ENCODING, FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
# Helpers side by side: each waits in vfork until its child has exec'd, and one alone left a quarter
# of a 2-core machine idle in that wait (1.69 cores busy; 1.97 with two).
HELPERS = max(1, min(4, os.cpu_count() or 1))


class Started(NamedTuple):
    token: int
    pid: int
    started_ms: int


class Failed(NamedTuple):
    token: int
    errno: int


class Ended(NamedTuple):
    token: int
    wait_status: int
    ended_ms: int
    output: bytes


Event = Started | Failed | Ended


@cache
def _built(digest: str, build: Path, compiler: str) -> Path | None:
    target = build / f"spawn-helper-{digest}"
    if os.access(target, os.X_OK):
        return target
    partial = build / f".spawn-helper-{digest}.{os.getpid()}.{threading.get_ident()}"
    command = [compiler, "-O2", "-Wall", "-o", str(partial), str(SOURCE)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("sandbox: cannot build the spawn helper (%s); array children start from threads", err)
        return None
    if done.returncode != 0:
        log.warning(
            "sandbox: `%s` failed (%s); array children start from threads",
            " ".join(command),
            done.stderr.strip(),
        )
        partial.unlink(missing_ok=True)
        return None
    os.replace(partial, target)  # atomic: a concurrent build of the same source writes the same program
    for stale in build.glob("spawn-helper-*"):  # builds of earlier sources (a running one keeps its copy)
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


def program() -> Path | None:
    """The helper built for this machine, or None (no C compiler, or disabled)."""
    if os.environ.get(DISABLE_VARIABLE, "1") == "0":
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    return _built(digest, build_dir(), compiler)


def _strings(values: Sequence[str]) -> bytes:
    """NUL-terminated strings, encoded as ``os.fsencode`` encodes them; ValueError for a string with a
    NUL in it (no argument or variable of a process can hold one)."""
    joined = "".join(f"{value}\0" for value in values)
    if joined.count("\0") != len(values):
        raise ValueError("embedded null byte in a command argument or environment value")
    return joined.encode(FS_ENCODING, FS_ERRORS)


class SpawnHelper:
    """One running helper. Not thread-safe: the engine thread alone writes to it and reads from it."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.to_helper = self.process.stdin.fileno()
        self.fd = self.process.stdout.fileno()  # readable when a child has started or ended
        os.set_blocking(self.fd, False)
        self.outgoing: list[bytes] = []
        self.received = b""
        self.templates: dict[tuple[int, str, tuple[str, ...]], int] = {}  # (id(env), path, argv) -> id
        self.next_template = 0
        self.outstanding = 0  # children handed to it and not ended (kept by the engine)
        self.closed = False  # its output reached its end: it has exited

    def template(self, env: host_spawn.Environment, path: str, argv: Sequence[str], cwd: str) -> int:
        """The id of the template for processes running ``path`` with ``argv`` (then per-child
        arguments) in ``cwd``, with ``env`` (its varying variables set per child)."""
        key = (id(env), path, tuple(argv))
        found = self.templates.get(key)
        if found is not None:
            return found
        number = self.next_template
        self.next_template += 1
        body = _strings([path, cwd, str(len(argv)), *argv, str(len(env.encoded))])
        if any(b"\0" in entry for entry in env.encoded):
            raise ValueError("embedded null byte in an environment variable")
        body += b"".join(entry + b"\0" for entry in env.encoded)
        body += _strings([str(len(env.varying)), *(f"{name}=" for name in env.varying)])
        self._send(b"T", struct.pack("=I", number) + body)
        self.templates[key] = number
        return number

    def forget(self, env: host_spawn.Environment) -> None:
        """Drop the templates of ``env`` (its array job has ended)."""
        for key in [k for k in self.templates if k[0] == id(env)]:
            self._send(b"D", struct.pack("=I", self.templates.pop(key)))

    def start(self, token: int, template: int, values: Sequence[str], extra: Sequence[str]) -> None:
        self._send(b"S", START.pack(token, template) + _strings([*values, *extra]))

    def kill(self, token: int) -> None:
        self._send(b"K", struct.pack("=Q", token))

    def _send(self, kind: bytes, body: bytes) -> None:
        self.outgoing.append(HEAD.pack(len(body) + 1, kind[0]) + body)

    def flush(self) -> None:
        """Send what was queued since the last flush, in one write."""
        if not self.outgoing:
            return
        data = b"".join(self.outgoing)
        self.outgoing.clear()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.to_helper, view) :]
            except BrokenPipeError:
                raise OSError(f"the sandbox spawn helper exited (code {self.process.poll()})") from None

    def events(self) -> list[Event]:
        """Everything the helper reported since the last call (without blocking); OSError once it has
        closed its output (it exited: what it reported before is returned first)."""
        if self.closed:
            raise OSError(f"the sandbox spawn helper exited (code {self.process.poll()})")
        chunks = [self.received]
        while True:
            try:
                chunk = os.read(self.fd, READ_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                self.closed = True
                if len(chunks) == 1:  # nothing new to report first
                    raise OSError(f"the sandbox spawn helper exited (code {self.process.poll()})")
                break
            chunks.append(chunk)
            if len(chunk) < READ_BYTES:
                break
        data = b"".join(chunks)
        found: list[Event] = []
        at, size = 0, len(data)
        while size - at >= HEAD.size:
            length, kind = HEAD.unpack_from(data, at)
            end = at + 4 + length
            if end > size:
                break
            body = at + HEAD.size
            if kind == 0x45:  # 'E'
                token, status, ended = ENDED.unpack_from(data, body)
                found.append(Ended(token, status, ended, data[body + ENDED.size : end]))
            elif kind == 0x52:  # 'R'
                found.append(Started(*STARTED.unpack_from(data, body)))
            elif kind == 0x46:  # 'F'
                found.append(Failed(*FAILED.unpack_from(data, body)))
            at = end
        self.received = data[at:]
        return found

    def close(self) -> None:
        """End the helper: it kills every child still running, reaps them and exits."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
