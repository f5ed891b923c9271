"""One command at a time per target and checkout: a file lock the kernel releases when the holder dies.

``fanout plan|apply|run|destroy|unlock`` take ``<runtime dir>/locks/<target>.lock`` (``.fanout/locks/``,
so per checkout) before they touch the target or the files generated for it (the generator zip,
Terraform's data dir), and hold it until they exit. A second command on the same checkout and
target is refused at once with the holder's pid and command, which the holder writes into the file.

The lock is ``flock(2)``: it belongs to the open file, so a killed holder (even ``kill -9``) leaves
nothing to clean up; the file itself may stay and is harmless. Terraform's own state lock (the S3
lock file of the backend) remains the guard between machines and checkouts.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from fanout_tools.errors import FanoutError
from fanout_tools.paths import runtime_dir

_HELD: dict[Path, IO[str]] = {}
"""Locks this process holds, by lock file (kept open for the process's lifetime; re-entrant). Keyed by
the file, not the target: one process may work in several runtime folders (checkouts) in turn."""


class TargetBusyError(FanoutError):
    """Another fanout command on this checkout is changing the same target."""


def lock_path(target: str) -> Path:
    folder = runtime_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{target}.lock"


def holder(target: str) -> tuple[int | None, str]:
    """(pid, command) written by the lock's current or last holder; (None, "") when unknown."""
    try:
        text = lock_path(target).read_text().strip()
    except OSError:
        return None, ""
    pid, _, command = text.partition(" ")
    return (int(pid) if pid.isdigit() else None), command


def acquire(target: str, command: str) -> None:
    """Take the target's lock for this process (until it exits or :func:`release`); never waits.

    Raises :class:`TargetBusyError` naming the holder when another process has it.
    """
    path = lock_path(target)
    if path in _HELD:
        return
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        pid, other = None, ""
        for _ in range(20):  # the holder writes its name right after it locks: give it a moment
            pid, other = holder(target)
            if pid is not None:
                break
            time.sleep(0.01)
        who = f"another fanout {other or 'command'} is running (pid {pid if pid is not None else '?'})"
        raise TargetBusyError(
            f"{who} on TARGET={target} in this checkout",
            "wait for it to finish (or stop it), then run the command again; "
            f"two commands on one target would rewrite each other's files ({path})",
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()} {command}\n")
    handle.flush()
    _HELD[path] = handle


def release(target: str) -> None:
    """Give the lock back before the process exits (tests; long-lived callers)."""
    handle = _HELD.pop(lock_path(target), None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
