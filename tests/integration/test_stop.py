"""``fanout stop`` and ``fanout redrive`` on real runs in a fresh private sandbox.

Two stacks, applied in parallel into the private sandbox this module shares with ``test_modes.py``'s
stacks (``tests/sandbox_stacks.py``): an inline stack whose job
sleeps (200 items, 10 at a time: ten jobs queued or running at any moment) and an array stack whose
children sleep (200 items in batches of 50, two array jobs at a time). Stopping a run in the middle must
leave no job of it SUBMITTED, PENDING, RUNNABLE, STARTING or RUNNING, array children included, and the
execution ABORTED. The sandbox cannot redrive: ``fanout redrive`` of the stopped run says so.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import list_jobs
from tests.sandbox_stacks import SHARED_SANDBOX_GROUP, DeployedStack

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(SHARED_SANDBOX_GROUP)]

ITEMS = 200
SLEEP = ["sh", "-c", 'sleep 30; echo "$1"', "job"]
STACKS: dict[str, dict[str, Any]] = {
    "inline": {
        "name": "fanout-stop-inline",
        "fanout_mode": "inline",
        "max_concurrency": 10,
        "job_command": [*SLEEP, "Ref::item"],
        "job_attempt_timeout_seconds": 120,
        "log_retention_days": 1,
    },
    "array": {
        "name": "fanout-stop-array",
        "fanout_mode": "array",
        "max_concurrency": 2,
        "items_per_batch": 50,
        "job_command": [*SLEEP, "Ref::items_uri"],
        "job_attempt_timeout_seconds": 120,
        "log_retention_days": 1,
    },
}
OPEN = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
SETTLE_SECONDS = 20.0  # terminated jobs end within a second or two; unterminated ones sleep 30 s


SANDBOX_STACKS = {f"stop-{key}": variables for key, variables in STACKS.items()}


@pytest.fixture(scope="module")
def stacks(shared_sandbox: dict[str, DeployedStack]) -> dict[str, DeployedStack]:
    return {key: shared_sandbox[f"stop-{key}"] for key in STACKS}


def _until(what: str, check: Callable[[], Any], seconds: float = 90.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


def _open_jobs(deployed: DeployedStack, parents: list[str]) -> dict[str, int]:
    """Jobs in the stack's queue, and children of ``parents``, per open status (none: ``{}``)."""
    batch = deployed.client("batch")
    counts: dict[str, int] = {}
    for status in OPEN:
        found = len(list_jobs(batch, jobQueue=deployed.outputs["job_queue_name"], jobStatus=status))
        for parent in parents:
            found += len(list_jobs(batch, arrayJobId=parent, jobStatus=status))
        if found:
            counts[status] = found
    return counts


def _start(deployed: DeployedStack) -> str:
    from fanout_tools import executions, run

    name = f"stop-{uuid.uuid4().hex[:8]}"
    arn = run.start_execution(deployed.stack, deployed.outputs, {"count": ITEMS}, name=name)
    executions.record_last_run(deployed.stack, arn)
    return arn


def _status(deployed: DeployedStack, arn: str) -> str:
    return str(deployed.client("stepfunctions").describe_execution(executionArn=arn)["status"])


def test_stopping_an_inline_run_ends_every_queued_and_running_job_and_aborts_it(
    stacks: dict[str, DeployedStack], capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools.cli import main

    deployed = stacks["inline"]
    arn = _start(deployed)
    queue = deployed.outputs["job_queue_name"]
    batch = deployed.client("batch")
    _until("jobs running", lambda: list_jobs(batch, jobQueue=queue, jobStatus="RUNNING"))
    _until("jobs queued behind them", lambda: list_jobs(batch, jobQueue=queue, jobStatus="RUNNABLE"))
    capsys.readouterr()

    # no EXECUTION: the stack's last run
    assert main(["stop", "--target", "sandbox", "--var-file", str(deployed.var_file)]) == 0

    name = arn.rsplit(":", 1)[-1]
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"stopped {name} (RUNNING -> ABORTED); terminated ")
    assert _status(deployed, arn) == "ABORTED"
    _until("no open job", lambda: not _open_jobs(deployed, []), SETTLE_SECONDS)
    time.sleep(3)  # nothing is submitted after the stop either
    assert _open_jobs(deployed, []) == {}
    failed = list_jobs(batch, jobQueue=queue, jobStatus="FAILED")
    assert failed and all("stopped with fanout stop" in (j.get("statusReason") or "") for j in failed)
    assert len(list_jobs(batch, jobQueue=queue, jobStatus="SUCCEEDED")) < ITEMS  # it really was cut short

    # again: nothing left to do, and it says so
    assert main(["stop", name, "--target", "sandbox", "--var-file", str(deployed.var_file)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{name} had already ended (ABORTED); no job of it was still queued or running"
    )


def test_stopping_an_array_run_ends_its_array_jobs_with_their_children(
    stacks: dict[str, DeployedStack],
) -> None:
    from fanout_tools import stop

    deployed = stacks["array"]
    arn = _start(deployed)
    batch = deployed.client("batch")
    queue = deployed.outputs["job_queue_name"]

    def parents_with_running_children() -> list[str]:
        parents = [j["jobId"] for s in OPEN for j in list_jobs(batch, jobQueue=queue, jobStatus=s)]
        return [p for p in parents if list_jobs(batch, arrayJobId=p, jobStatus="RUNNING")]

    running = _until("array children running", parents_with_running_children)

    # as `fanout run` calls it on Ctrl-C
    result = stop.stop_execution(deployed.stack, deployed.outputs, arn, "stopped from a test")

    assert (result.status_before, result.status_after) == ("RUNNING", "ABORTED")
    assert set(running) <= set(result.terminated)
    assert result.children_ended > 0
    parents = result.terminated
    _until("no open job or child", lambda: not _open_jobs(deployed, parents), SETTLE_SECONDS)
    for parent in batch.describe_jobs(jobs=parents)["jobs"]:
        assert parent["status"] == "FAILED"
        summary = parent["arrayProperties"]["statusSummary"]
        assert not {s: n for s, n in summary.items() if s in OPEN and n}, summary
    assert _status(deployed, arn) == "ABORTED"


def test_the_sandbox_refuses_to_redrive_a_stopped_run_and_says_what_to_do_instead(
    stacks: dict[str, DeployedStack], capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools import stop
    from fanout_tools.cli import main

    deployed = stacks["inline"]
    arn = _start(deployed)
    stop.stop_execution(deployed.stack, deployed.outputs, arn, "stopped to be redriven")
    name = arn.rsplit(":", 1)[-1]
    capsys.readouterr()

    code = main(["redrive", name, "--target", "sandbox", "--var-file", str(deployed.var_file)])

    err = capsys.readouterr().err
    assert code == 2
    assert f"error: cannot redrive {name}: the local sandbox cannot redrive executions" in err
    assert f"make rerun-failed EXECUTION={name}" in err
    assert _status(deployed, arn) == "ABORTED"  # untouched
