"""Starting array children's processes: the spawn helper and both thread spawners give a child the same
start as ``subprocess`` would (its own session, stdin from /dev/null, output to one descriptor, its
working directory, exactly its environment, SIGPIPE at its default action), and fail with the
program's errno."""

from __future__ import annotations

import ctypes.util
import errno
import os
import select
import signal
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fanout_tools.sandbox import host_spawn, spawn_helper

from tests.scripts.sandbox.conftest import process_running

# prints what the child was given (Python itself ignores SIGPIPE at start, so signals are read by cat)
PROBE = (
    "import json, os, sys\n"
    "print(json.dumps({'sid_is_pid': os.getsid(0) == os.getpid(), 'cwd': os.getcwd(),"
    " 'stdin': os.path.realpath('/proc/self/fd/0'), 'env': dict(os.environ), 'argv': sys.argv[1:]}),"
    " flush=True)\n"
    "print('to stderr', file=sys.stderr)\n"
)
SPAWNERS = ["helper", "libc", "portable"]


class HelperSpawner:
    """The spawn helper behind the thread spawners' interface, for the same checks: ``run`` below
    gets the exit code and output from the helper's report instead of waitpid and the descriptor."""

    def __init__(self) -> None:
        program = spawn_helper.program()
        assert program is not None, "this machine has a C compiler"
        self.helper = spawn_helper.SpawnHelper(program)

    def run(self, process: host_spawn.Process) -> tuple[int, str]:
        env = process.env
        template = self.helper.template(env, process.path, process.argv, process.cwd)
        self.helper.start(1, template, process.values, [])
        self.helper.flush()
        try:
            while True:
                for event in self.helper.events():
                    if isinstance(event, spawn_helper.Failed):
                        raise OSError(event.errno, os.strerror(event.errno), process.path)
                    if isinstance(event, spawn_helper.Ended):
                        return os.waitstatus_to_exitcode(event.wait_status), event.output.decode()
                select.select([self.helper.fd], [], [], 10)
        finally:
            self.helper.close()


def make(kind: str) -> host_spawn.Spawner | HelperSpawner:
    if kind == "helper":
        return HelperSpawner()
    if kind == "portable":
        return host_spawn.PortableSpawner()
    spawner = host_spawn.spawner()
    assert isinstance(spawner, host_spawn.LibcSpawner), (
        "this machine's libc has posix_spawn_file_actions_addchdir_np"
    )
    return spawner


def run(
    spawner: host_spawn.Spawner | HelperSpawner,
    path: str,
    argv: list[str],
    env: host_spawn.Environment,
    cwd: Path,
) -> tuple[int, str]:
    if isinstance(spawner, HelperSpawner):
        return spawner.run(host_spawn.Process(path, argv, env, ("one", "two"), -1, str(cwd)))
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
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as in every Python process
    try:
        probe = ["probe", "-c", PROBE, "an argument"]
        code, output = run(make(kind), sys.executable, probe, env, tmp_path)
        status_code, status = run(make(kind), "/bin/cat", ["cat", "/proc/self/status"], env, tmp_path)
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


def test_the_helper_kills_a_childs_whole_group_and_leaves_nothing_running(tmp_path: Path) -> None:
    """A kill reaches the child's process group (a shell and what it started); closing the helper
    kills and reaps whatever still runs, so a stopped sandbox leaves no child behind."""
    program = spawn_helper.program()
    assert program is not None
    helper = spawn_helper.SpawnHelper(program)
    env = host_spawn.Environment({"PATH": os.defpath}, ["N"])
    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $$ $! >> {pids}; wait"
    template = helper.template(env, "/bin/sh", ["sh", "-c", script], str(tmp_path))
    helper.start(1, template, ["1"], [])
    helper.start(2, template, ["2"], [])
    helper.flush()

    seen: list[spawn_helper.Event] = []

    def wait_until(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not done():
            assert time.monotonic() < deadline
            select.select([helper.fd], [], [], 0.1)
            seen.extend(helper.events())

    wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 4)
    started = {e.token: e.pid for e in seen if isinstance(e, spawn_helper.Started)}
    assert sorted(started) == [1, 2]
    groups = dict(zip(*[iter(int(p) for p in pids.read_text().split())] * 2, strict=True))  # shell -> sleep
    sleep_1, sleep_2 = groups[started[1]], groups[started[2]]
    helper.kill(1)
    helper.flush()
    wait_until(lambda: any(isinstance(e, spawn_helper.Ended) for e in seen))
    ended = [
        (e.token, os.waitstatus_to_exitcode(e.wait_status)) for e in seen if isinstance(e, spawn_helper.Ended)
    ]
    assert ended == [(1, -signal.SIGKILL)]
    wait_until(lambda: not process_running(sleep_1))  # the kill reached the shell's child too
    assert process_running(sleep_2)
    helper.close()
    assert not process_running(started[2])
    # The helper reaps only its own child; the shell's child, killed with the group, dies when the
    # kernel next runs it, which on a loaded machine can be a moment after close() returns.
    deadline = time.monotonic() + 10
    while process_running(sleep_2):
        assert time.monotonic() < deadline, "the shell's child outlived the helper's close"
        time.sleep(0.02)


def test_without_a_c_compiler_there_is_no_helper(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The engine then starts children from launcher threads; a compiler that fails is the same."""
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))  # nothing built there yet
    monkeypatch.setenv("CC", "/bin/false")
    assert spawn_helper.program() is None
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert spawn_helper.program() is None
    monkeypatch.delenv("CC")
    monkeypatch.setenv(spawn_helper.DISABLE_VARIABLE, "0")
    assert spawn_helper.program() is None


def test_a_new_build_of_the_helper_replaces_the_earlier_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    stale = tmp_path / "build" / "spawn-helper-0123456789abcdef"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier source's build")
    built = spawn_helper.program()
    assert built is not None and built.parent == stale.parent and os.access(built, os.X_OK)
    assert sorted(stale.parent.iterdir()) == [built]


def test_the_helper_refuses_a_nul_inside_an_argument_or_variable(tmp_path: Path) -> None:
    """Its messages are NUL-separated strings: a NUL inside one is refused, never sent shifted."""
    program = spawn_helper.program()
    assert program is not None
    helper = spawn_helper.SpawnHelper(program)
    try:
        env = host_spawn.Environment({"PATH": os.defpath}, ["N"])
        template = helper.template(env, "/bin/true", ["true"], str(tmp_path))
        with pytest.raises(ValueError, match="embedded null byte"):
            helper.start(1, template, ["1"], ["an\0item"])
        bad = host_spawn.Environment({"PATH": os.defpath, "X": "a\0b"}, ["N"])
        with pytest.raises(ValueError, match="embedded null byte"):
            helper.template(bad, "/bin/true", ["true"], str(tmp_path))
    finally:
        helper.close()


def test_children_die_with_the_server_that_started_them(tmp_path: Path) -> None:
    """A server killed outright (SIGKILL: no clean-up of its own) closes its helpers' input; they kill
    and reap every child still running, so no array child outlives the sandbox."""
    import subprocess

    pids = tmp_path / "pids"
    owner = (
        "import sys, time\n"
        "from fanout_tools.sandbox import host_spawn, spawn_helper\n"
        "helper = spawn_helper.SpawnHelper(spawn_helper.program())\n"
        "env = host_spawn.Environment({'PATH': '/usr/bin:/bin'}, ['N'])\n"
        f"argv = ['sh', '-c', 'echo $$ >> {pids}; sleep 60']\n"
        f"template = helper.template(env, '/bin/sh', argv, {str(tmp_path)!r})\n"
        "helper.start(1, template, ['1'], []); helper.start(2, template, ['2'], []); helper.flush()\n"
        "time.sleep(60)\n"
    )
    assert spawn_helper.program() is not None
    server = subprocess.Popen([sys.executable, "-c", owner])
    try:
        deadline = time.monotonic() + 20
        while not (pids.exists() and len(pids.read_text().split()) == 2):
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.05)
        children = [int(pid) for pid in pids.read_text().split()]
        assert all(process_running(pid) for pid in children)
    finally:
        server.kill()
        server.wait()
    deadline = time.monotonic() + 10
    while any(process_running(pid) for pid in children):
        assert time.monotonic() < deadline, "a child outlived the server that started it"
        time.sleep(0.05)
