"""Start an array child's host process without holding Python's GIL.

``os.posix_spawn`` keeps the GIL for the whole call, and glibc's ``posix_spawn`` returns only once the
child has exec'd (``CLONE_VFORK``): on a busy machine that is the time the scheduler takes to run the
child, during which none of the sandbox server's threads (the API the Map's children poll) can run.
libc's own ``posix_spawn`` called through :mod:`ctypes` releases the GIL for that wait. The child gets
what ``subprocess`` gives it: its own session (so a kill reaches its whole process group), stdin from
``/dev/null``, stdout and stderr to one descriptor, its working directory, no blocked signals and
SIGPIPE/SIGXFSZ back at their default action (Python ignores SIGPIPE, and an ignored signal stays
ignored across exec).

Where libc lacks ``posix_spawn_file_actions_addchdir_np`` (glibc < 2.29, musl < 1.1.24)
:func:`spawner` returns :class:`PortableSpawner`, which uses :mod:`subprocess` and holds the GIL.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

# <spawn.h> flags; the values are the same in glibc and musl (POSIX_SPAWN_SETSID is a GNU extension
# both carry: https://man7.org/linux/man-pages/man3/posix_spawn.3.html)
POSIX_SPAWN_SETSIGMASK = 0x08
POSIX_SPAWN_SETSIGDEF = 0x04
POSIX_SPAWN_SETSID = 0x80
DEFAULT_ACTION_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)  # what subprocess's restore_signals resets
OPAQUE_BYTES = 1024  # larger than posix_spawnattr_t (336), posix_spawn_file_actions_t (80), sigset_t (128)


class Environment:
    """The environment of many processes that differ only in a few variables' values (an array
    job's children: their job id, array index and attempt), encoded for ``execve`` once."""

    def __init__(self, base: Mapping[str, str], varying: Sequence[str]) -> None:
        self.varying = tuple(varying)
        self.base = {name: value for name, value in base.items() if name not in self.varying}
        self.encoded = [os.fsencode(f"{name}={value}") for name, value in self.base.items()]
        self.prefixes = [os.fsencode(f"{name}=") for name in self.varying]
        self.blocks = threading.local()  # one reusable ``char *[]`` per launching thread

    def as_dict(self, values: Sequence[str]) -> dict[str, str]:
        return {**self.base, **dict(zip(self.varying, values, strict=True))}

    def block(self, values: Sequence[str]) -> ctypes.Array[ctypes.c_char_p]:
        """``envp`` for one process: this thread's array with the varying entries filled in (execve
        copies it, so the next process on this thread may overwrite it)."""
        block = getattr(self.blocks, "array", None)
        first = len(self.encoded)
        if block is None:
            block = _strings([*self.encoded, *self.prefixes])
            self.blocks.array = block
        for offset, (prefix, value) in enumerate(zip(self.prefixes, values, strict=True)):
            block[first + offset] = prefix + os.fsencode(value)
        return block


@dataclass(frozen=True, slots=True)
class Process:
    """One process to start: ``path`` with ``argv``, exactly ``env`` with its varying variables set
    to ``values``, stdout and stderr to ``output_fd``, in ``cwd``."""

    path: str
    argv: Sequence[str]
    env: Environment
    values: Sequence[str]
    output_fd: int
    cwd: str


class Spawner(Protocol):
    def start(self, process: Process) -> int:
        """Start ``process``; return its pid (the caller reaps it). Raises OSError (errno and the
        program's path) when the program cannot be started."""


class LibcSpawner:
    """libc's ``posix_spawn`` through ctypes, which releases the GIL during the call."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self.libc = libc
        self.attr = ctypes.create_string_buffer(OPAQUE_BYTES)
        default_signals = ctypes.create_string_buffer(OPAQUE_BYTES)
        no_signals = ctypes.create_string_buffer(OPAQUE_BYTES)
        _check(libc.sigemptyset(default_signals), "sigemptyset")
        for number in DEFAULT_ACTION_SIGNALS:
            _check(libc.sigaddset(default_signals, int(number)), "sigaddset")
        _check(libc.sigemptyset(no_signals), "sigemptyset")
        _check(libc.posix_spawnattr_init(self.attr), "posix_spawnattr_init")
        _check(libc.posix_spawnattr_setsigdefault(self.attr, default_signals), "setsigdefault")
        _check(libc.posix_spawnattr_setsigmask(self.attr, no_signals), "setsigmask")
        flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        _check(libc.posix_spawnattr_setflags(self.attr, ctypes.c_short(flags)), "setflags")
        self.devnull = os.fsencode(os.devnull)

    def start(self, process: Process) -> int:
        libc = self.libc
        actions = ctypes.create_string_buffer(OPAQUE_BYTES)
        _check(libc.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init")
        try:
            _check(libc.posix_spawn_file_actions_addopen(actions, 0, self.devnull, os.O_RDONLY, 0), "addopen")
            _check(libc.posix_spawn_file_actions_adddup2(actions, process.output_fd, 1), "adddup2")
            _check(libc.posix_spawn_file_actions_adddup2(actions, process.output_fd, 2), "adddup2")
            cwd = os.fsencode(process.cwd)
            _check(libc.posix_spawn_file_actions_addchdir_np(actions, cwd), "addchdir_np")
            arguments = _strings([os.fsencode(arg) for arg in process.argv])
            environment = process.env.block(process.values)
            pid = ctypes.c_int()
            error = libc.posix_spawn(
                ctypes.byref(pid), os.fsencode(process.path), actions, self.attr, arguments, environment
            )
        finally:
            libc.posix_spawn_file_actions_destroy(actions)
        if error:
            raise OSError(error, os.strerror(error), process.path)
        return pid.value


class PortableSpawner:
    """:mod:`subprocess`, for a libc without ``posix_spawn_file_actions_addchdir_np``; holds the GIL
    while the child starts. The pid is returned and the ``Popen`` dropped: the engine reaps the child
    itself (``os.waitpid`` on its pidfd's readiness), so the ``Popen`` must never be polled."""

    def start(self, process: Process) -> int:
        started = subprocess.Popen(
            list(process.argv),
            executable=process.path,
            stdin=subprocess.DEVNULL,
            stdout=process.output_fd,
            stderr=process.output_fd,
            env=process.env.as_dict(process.values),
            cwd=process.cwd,
            start_new_session=True,
        )
        started.returncode = 0  # never waited for by Popen (its __del__ and subprocess._cleanup)
        return started.pid


@lru_cache(maxsize=1)
def spawner() -> Spawner:
    """The fastest spawner this machine's libc allows."""
    name = ctypes.util.find_library("c")
    if name is None:
        return PortableSpawner()
    libc = ctypes.CDLL(name, use_errno=True)
    if not hasattr(libc, "posix_spawn_file_actions_addchdir_np"):
        return PortableSpawner()
    libc.posix_spawn.argtypes = [
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_char_p),
    ]
    return LibcSpawner(libc)


def _strings(items: list[bytes]) -> ctypes.Array[ctypes.c_char_p]:
    """A NULL-terminated ``char *[]``."""
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)


def _check(result: int, call: str) -> None:
    if result != 0:
        raise OSError(result, f"{call} failed: {os.strerror(result)}")
