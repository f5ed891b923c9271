"""Concurrent commands on one checkout: one command per target at a time, one sandbox server at most.

Commands run as real subprocesses (started together) with a private FANOUT_RUNTIME_DIR, so they share
that runtime folder (the "checkout") and nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fanout_tools import locks
from fanout_tools.cli import main
from fanout_tools.sandbox import control

pytestmark = pytest.mark.xdist_group("locks")

HOLD = """
import sys, time
from fanout_tools import locks
locks.acquire(sys.argv[1], sys.argv[2])
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("FANOUT_SANDBOX_PORT", raising=False)
    monkeypatch.delenv("TARGET", raising=False)
    yield tmp_path
    for target in ("sandbox", "aws"):
        locks.release(target)
    control.down()
    assert control.servers() == []


def env() -> dict[str, str]:
    return {**os.environ}


def hold(target: str, command: str, seconds: float = 60.0) -> subprocess.Popen[str]:
    """A fake long-running command holding the target's lock (as `fanout apply` does while it runs)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, target, command, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=10)


@pytest.mark.parametrize(
    "argv",
    [["apply"], ["plan"], ["destroy"], ["unlock", "--lock-id", "x"], ["sandbox", "down"]],
    ids=lambda argv: argv[0],
)
def test_a_command_on_a_busy_target_is_refused_naming_the_holder(
    runtime: Path, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # destroy first asks whether anything is deployed: say yes without starting a server
    monkeypatch.setattr("fanout_tools.targets.sandbox.SandboxTarget.nothing_deployed", lambda self: None)
    holder = hold("sandbox", "apply")
    try:
        assert main([*argv, "--target", "sandbox"] if argv[0] != "sandbox" else argv) == 2
        err = capsys.readouterr().err
        assert f"another fanout apply is running (pid {holder.pid}) on TARGET=sandbox" in err, err
        assert "what to do: wait for it to finish" in err
        assert "Traceback" not in err
    finally:
        stop(holder)
    assert not (runtime / "build" / "generator.zip").exists(), "refused before anything was built"


def test_run_is_refused_too_and_the_lock_is_per_target(
    runtime: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = hold("aws", "destroy")
    try:
        monkeypatch.setattr("fanout_tools.targets.aws.AwsTarget.nothing_deployed", lambda self: None)
        assert main(["run", "--target", "aws", "--items", "1", "--no-progress"]) == 2
        assert (
            f"another fanout destroy is running (pid {holder.pid}) on TARGET=aws" in capsys.readouterr().err
        )
        locks.acquire("sandbox", "plan")  # another target: free
    finally:
        stop(holder)


def test_a_killed_holder_frees_the_lock(runtime: Path) -> None:
    holder = hold("sandbox", "apply")
    with pytest.raises(locks.TargetBusyError):
        locks.acquire("sandbox", "destroy")
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    locks.acquire("sandbox", "destroy")  # no stale lock to clean up
    assert locks.holder("sandbox") == (os.getpid(), "destroy")


def test_of_commands_started_together_exactly_one_holds_the_lock(runtime: Path) -> None:
    script = HOLD
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, "sandbox", f"apply-{i}", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        for i in range(4)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    held = [out for out, _ in results if out.strip() == "held"]
    refused = [err for _, err in results if "another fanout apply-" in err and "is running (pid" in err]
    assert len(held) == 1 and len(refused) == 3, results


def _fanout(*argv: str) -> subprocess.Popen[str]:
    fanout = Path(sys.executable).with_name("fanout")
    return subprocess.Popen(
        [str(fanout), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()
    )


@pytest.mark.slow
def test_parallel_sandbox_ups_start_one_server_and_down_stops_all(runtime: Path) -> None:
    procs = [_fanout("sandbox", "up") for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    info = control.current()
    assert info is not None
    assert control.servers() == [info.pid]
    assert all(f"(pid {info.pid})" in out for out, _ in outputs)
    # with a sandbox down racing two more ups, every order ends with one or zero servers, all recorded
    procs = [_fanout("sandbox", "down"), _fanout("sandbox", "up"), _fanout("sandbox", "up")]
    for p in procs:
        p.communicate(timeout=120)
    running = control.current()
    assert control.servers() == ([running.pid] if running else [])
    control.down()
    assert control.servers() == []


@pytest.mark.slow
def test_a_stray_server_is_listed_by_status_and_stopped_by_down(
    runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info, _ = control.up()
    # lose the record of the server (as a start that raced an old, unlocked `up` did)
    control.layout.pid_file().unlink()
    control.layout.port_file().unlink()
    assert control.current() is None and control.strays() == [info.pid]
    assert main(["sandbox", "status"]) == 2
    captured = capsys.readouterr()
    assert f"stray sandbox server of this checkout: pid {info.pid}" in captured.out
    assert "make sandbox-down" in captured.err
    assert main(["sandbox", "down"]) == 0
    assert f"stopped a stray sandbox server of this checkout (pid {info.pid})" in capsys.readouterr().out
    assert control.servers() == []


@pytest.mark.slow
def test_up_stops_a_stray_before_starting_so_one_server_runs(runtime: Path) -> None:
    first, _ = control.up()
    control.layout.pid_file().unlink()
    second, notes = control.up()
    assert second.pid != first.pid
    assert f"stopped a stray sandbox server (pid {first.pid}) that had no pid file" in notes
    deadline = time.monotonic() + 10
    while control.servers() != [second.pid] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert control.servers() == [second.pid]
