"""Starting array children's processes: both spawners give a child the same start as ``subprocess``
would (its own session, stdin from /dev/null, output to one descriptor, its working directory, exactly
its environment, SIGPIPE at its default action), and fail with the program's errno."""

from __future__ import annotations

import ctypes.util
import errno
import os
import signal
import stat
import sys
from pathlib import Path

import pytest
from fanout_tools.sandbox import host_spawn

# prints what the child was given (Python itself ignores SIGPIPE at start, so signals are read by cat)
PROBE = (
    "import json, os, sys\n"
    "print(json.dumps({'sid_is_pid': os.getsid(0) == os.getpid(), 'cwd': os.getcwd(),"
    " 'stdin': os.path.realpath('/proc/self/fd/0'), 'env': dict(os.environ), 'argv': sys.argv[1:]}),"
    " flush=True)\n"
    "print('to stderr', file=sys.stderr)\n"
)
SPAWNERS = ["libc", "portable"]


def make(kind: str) -> host_spawn.Spawner:
    if kind == "portable":
        return host_spawn.PortableSpawner()
    spawner = host_spawn.spawner()
    assert isinstance(spawner, host_spawn.LibcSpawner), (
        "this machine's libc has posix_spawn_file_actions_addchdir_np"
    )
    return spawner


def run(
    spawner: host_spawn.Spawner, path: str, argv: list[str], env: host_spawn.Environment, cwd: Path
) -> tuple[int, str]:
    fd = os.memfd_create("out", os.MFD_CLOEXEC)
    try:
        pid = spawner.start(host_spawn.Process(path, argv, env, ("one", "two"), fd, str(cwd)))
        _, status = os.waitpid(pid, 0)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.waitstatus_to_exitcode(status), os.pread(fd, size, 0).decode()
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", SPAWNERS)
def test_the_child_starts_as_subprocess_would_start_it(kind: str, tmp_path: Path) -> None:
    import json

    env = host_spawn.Environment(
        {"KEEP": "kept", "FIRST": "parent's", "PATH": os.defpath}, ["FIRST", "SECOND"]
    )
    spawner = make(kind)
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in every Python process
    try:
        code, output = run(spawner, sys.executable, ["probe", "-c", PROBE, "an argument"], env, tmp_path)
        status_code, status = run(spawner, "/bin/cat", ["cat", "/proc/self/status"], env, tmp_path)
    finally:
        signal.signal(signal.SIGPIPE, previous)
    printed, stderr_line = output.splitlines()
    seen = json.loads(printed)
    assert code == 0 and stderr_line == "to stderr"
    assert seen["sid_is_pid"] and seen["cwd"] == str(tmp_path) and seen["stdin"] == os.devnull
    assert seen["argv"] == ["an argument"]
    assert seen["env"] == {
        "KEEP": "kept",
        "PATH": os.defpath,
        "LC_CTYPE": "C.UTF-8",
        "FIRST": "one",
        "SECOND": "two",
    }
    masks = dict(line.split(":\t") for line in status.splitlines() if line.startswith(("SigIgn", "SigBlk")))
    assert status_code == 0
    assert not int(masks["SigIgn"], 16) >> (signal.SIGPIPE - 1) & 1  # back at its default action
    assert int(masks["SigBlk"], 16) == 0


@pytest.mark.parametrize("kind", SPAWNERS)
def test_a_program_that_cannot_start_raises_its_errno(kind: str, tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-program"
    garbage.write_bytes(b"\x00\x01 not an executable format")
    garbage.chmod(garbage.stat().st_mode | stat.S_IXUSR)
    env = host_spawn.Environment({}, ["FIRST", "SECOND"])
    for path, number in ((str(tmp_path / "missing"), errno.ENOENT), (str(garbage), errno.ENOEXEC)):
        with pytest.raises(OSError) as raised:
            run(make(kind), path, ["x"], env, tmp_path)
        assert (raised.value.errno, raised.value.filename) == (number, path)


def test_each_thread_reuses_its_own_environment_block() -> None:
    """The encoded environment is built once per thread; only the varying entries change."""
    env = host_spawn.Environment({"A": "1", "B": "2"}, ["B"])
    first = env.block(["x"])
    assert [first[i] for i in range(len(first))] == [b"A=1", b"B=x", None]
    assert env.block(["y"]) is first and first[1] == b"B=y"
    assert env.as_dict(["z"]) == {"A": "1", "B": "z"}


def test_without_addchdir_np_the_portable_spawner_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    host_spawn.spawner.cache_clear()
    try:
        with monkeypatch.context() as patch:
            patch.setattr(ctypes.util, "find_library", lambda name: None)
            assert isinstance(host_spawn.spawner(), host_spawn.PortableSpawner)
    finally:
        host_spawn.spawner.cache_clear()
    assert isinstance(host_spawn.spawner(), host_spawn.LibcSpawner)
