"""Failure handling end to end, in a fresh private sandbox: a real Terraform apply, real job commands, and
the failures AWS causes injected with ``fanout sandbox fault`` (README "Rehearse failures").

* Items whose jobs fail are all attempted, named by ``fanout run`` and ``fanout status`` (with the end of
  their logs), fail the run with ``ItemsFailed``, and ``fanout rerun-failed`` runs exactly them once fixed:
  in inline, array and distributed_array mode.
* Failures within ``tolerated_failure_count`` let the run succeed and are still counted.
* A throttled SubmitJob or generator Invoke is retried by the definition; a reclaimed Spot attempt is
  retried by Batch; a job stuck RUNNABLE is cancelled by the job queue's time limit and reported failed.

ONE stack, re-applied to change what a case needs, in the order that applies quickest: array first (its
bucket comes with the first apply, in which the AWS provider's fixed ~55 s wait for the bucket's
lifecycle configuration overlaps the rest; adding the bucket later costs those 55 s on their own), then
distributed_array, then inline (the bucket goes), where the cases that do not care about the mode run,
then inline tolerating failed items. ``pytest -s`` prints how long each apply took.
In array mode the case also reads ``fanout status --json`` (every record, and the last run when no
EXECUTION is given) and shows that a rerun of a run with nothing failed starts nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fanout_tools.targets.base import BATCH_STATUSES

from tests.integration.conftest import list_jobs
from tests.sandbox_stacks import DeployedStack, SandboxStacks

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("failures")]

COUNT = 10
FAILING = (2, 5)
PER_BATCH = 4  # array modes: batches 0-3, 4-7, 8-9, so the failing items are in two batches
TIME_SCALE = "0.005"  # the sandbox's job queue clock: the 600 s time limit below passes in 3 s
VARIABLES: dict[str, Any] = {
    "name": "fanout-failures-it",
    "fanout_mode": "array",
    "items_per_batch": PER_BATCH,
    "max_concurrency": 10,
    "tolerated_failure_count": 0,
    "job_attempts": 2,  # a reclaimed Spot attempt gets a second one
    "job_attempt_timeout_seconds": 60,
    "job_state_time_limit_seconds": 600,  # Batch's least; scaled by TIME_SCALE
    "batch_api_retry": {"interval_seconds": 1, "backoff_rate": 1, "max_attempts": 8, "max_delay_seconds": 1},
    "bucket_force_destroy": True,  # the re-apply to inline removes the bucket, runs and all
    "log_retention_days": 1,
}
RUN_TIMEOUT = 120.0
SPOT_REASON = re.compile(r"Host EC2 \(instance i-[0-9a-f]{17}\) terminated\.")
CANCELLED_REASON = (
    "Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
)


class Failures(DeployedStack):
    """The module's stack, re-applied when a case needs another mode or tolerance."""

    def use(self, modes: tuple[str, ...] | None, tolerated: int = 0) -> None:
        """Re-apply unless the stack is in one of ``modes`` (None: any; else the first) and tolerates
        ``tolerated`` failed items."""
        current = self.variables["fanout_mode"]
        mode = current if modes is None or current in modes else modes[0]
        self.update(fanout_mode=mode, tolerated_failure_count=tolerated)


@pytest.fixture(scope="module")
def failures(sandbox_stacks: SandboxStacks) -> Iterator[Failures]:
    from fanout_tools.sandbox.compat import JOB_STATE_TIME_SCALE_ENV

    env = {JOB_STATE_TIME_SCALE_ENV: TIME_SCALE}
    with sandbox_stacks.deployed("fanout-failures-it", {"failures": VARIABLES}, Failures, **env) as stacks:
        try:
            yield stacks["failures"]
        finally:
            print("\napplies of the failures stack:\n  " + "\n  ".join(stacks["failures"].applies))


@pytest.fixture(autouse=True)
def no_faults_after(failures: Failures) -> Iterator[None]:
    """A case that fails half-way leaves no fault for the next one."""
    from fanout_tools.sandbox import faults, layout

    yield
    faults.Store(layout.sandbox_dir()).clear()


# --- helpers --------------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``fanout ARGV`` in process: exit code, stdout, stderr."""
    from fanout_tools.cli import main

    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _fault(capsys: pytest.CaptureFixture[str], *args: str) -> None:
    code, out, err = _cli(capsys, "sandbox", "fault", *args)
    assert code == 0, (out, err)


def _execute(failures: Failures) -> Any:
    """An execution of COUNT items, followed to its end (a ``fanout_tools.run.RunResult``)."""
    from fanout_tools import run

    name = f"failures-{uuid.uuid4().hex[:8]}"
    arn = run.start_execution(failures.stack, failures.outputs, {"count": COUNT}, name=name)
    return run.follow(failures.stack, arn, timeout=RUN_TIMEOUT, poll_seconds=0.3)


def _history(failures: Failures, arn: str) -> list[dict[str, Any]]:
    from fanout_tools.executions import history_pages

    return list(history_pages(failures.client("stepfunctions"), arn))


def _task_events(events: list[dict[str, Any]], kind: str, resource: str) -> list[int]:
    """Positions in the history of ``Task<kind>`` events of one resource type (batch, lambda)."""
    key = {"Failed": "taskFailedEventDetails", "Succeeded": "taskSucceededEventDetails"}[kind]
    return [
        n for n, e in enumerate(events) if e["type"] == f"Task{kind}" and e[key]["resourceType"] == resource
    ]


def _errors(events: list[dict[str, Any]], positions: list[int]) -> set[str]:
    return {events[n]["taskFailedEventDetails"]["error"] for n in positions}


def _queue_jobs(failures: Failures) -> set[str]:
    """Every job submitted to the stack's queue so far (array jobs, not their children)."""
    batch, queue = failures.client("batch"), failures.outputs["job_queue_name"]
    return {
        job["jobId"]
        for status in BATCH_STATUSES
        for job in list_jobs(batch, jobQueue=queue, jobStatus=status)
        if ":" not in job["jobId"]
    }


def _jobs_since(failures: Failures, before: set[str]) -> list[dict[str, Any]]:
    """DescribeJobs of the jobs submitted since ``before`` was listed."""
    batch, ids = failures.client("batch"), sorted(_queue_jobs(failures) - before)
    return [
        job
        for start in range(0, len(ids), 100)
        for job in batch.describe_jobs(jobs=ids[start : start + 100])["jobs"]
    ]


def _items_by_status(failures: Failures, jobs: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Item indexes of a run by how their job (or array child) ended: a job per item has its ``index``;
    an array job's child n of batch b is item b x PER_BATCH + n (a batch of one is a plain job)."""
    batch = failures.client("batch")
    found: dict[str, list[int]] = {}
    for job in jobs:
        parameters = job.get("parameters") or {}
        if "index" in parameters:
            found.setdefault(job["status"], []).append(int(parameters["index"]))
            continue
        first = int(parameters["batch"]) * PER_BATCH
        if not (job.get("arrayProperties") or {}).get("size"):
            found.setdefault(job["status"], []).append(first)
            continue
        for status in ("SUCCEEDED", "FAILED"):
            for child in list_jobs(batch, arrayJobId=job["jobId"], jobStatus=status):
                found.setdefault(status, []).append(first + int(child["jobId"].rsplit(":", 1)[1]))
    return {status: sorted(indexes) for status, indexes in sorted(found.items())}


def _work(failures: Failures, jobs: list[dict[str, Any]]) -> list[Any]:
    """The items the jobs received: a job's ``item``, or the lines of an array job's batch file."""
    s3 = failures.client("s3")
    items: list[Any] = []
    for job in sorted(jobs, key=lambda j: int(j["parameters"].get("index") or j["parameters"].get("batch"))):
        parameters = job["parameters"]
        if "item" in parameters:
            items.append(json.loads(parameters["item"]))
            continue
        bucket, _, key = parameters["items_uri"].removeprefix("s3://").partition("/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        items.extend(json.loads(line) for line in body.splitlines() if line.strip())
    return items


def _failure_blocks(status_out: str) -> dict[int, str]:
    """``fanout status`` output: each failed item's block (head line, reason, input, log tail) by index."""
    blocks = status_out.split("\n  item ")[1:]
    return {int(block.split()[0]): block for block in blocks}


def _execution_view(failures: Failures, execution: str) -> Any:
    """The execution (name or ARN) as ``fanout status`` reads it, with its item summary."""
    from fanout_tools import status
    from fanout_tools.executions import execution_arn_for

    arn = execution_arn_for(failures.outputs["state_machine_arn"], execution)
    view = status.read_execution(failures.client("stepfunctions"), arn)
    assert view.summary is not None, (view.status, view.error, view.cause)
    return view


# --- failed items in every mode -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["array", "distributed_array", "inline"])  # the quickest order
def test_failed_items_are_all_attempted_named_and_rerun_once_fixed(
    mode: str, failures: Failures, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools.executions import last_execution

    failures.use((mode,))
    before = _queue_jobs(failures)
    _fault(capsys, "job-exit", "--items", ",".join(map(str, FAILING)))
    name = f"exit-{mode.replace('_', '-')}-{uuid.uuid4().hex[:6]}"

    code, out, err = _cli(
        capsys, *failures.cli("run", "--items", str(COUNT), "--no-progress", "--name", name)
    )

    assert code == 1, (out, err)
    assert "ItemsFailed" in out + err and "2 of 10 items failed" in out + err
    ran = _items_by_status(failures, _jobs_since(failures, before))
    assert ran == {"FAILED": list(FAILING), "SUCCEEDED": [i for i in range(COUNT) if i not in FAILING]}

    code, out, err = _cli(capsys, *failures.cli("status", name))
    assert code == 0, err
    blocks = _failure_blocks(out)
    assert list(blocks) == list(FAILING), out
    assert all("      | sandbox fault: job-exit 1" in block for block in blocks.values()), out

    _fault(capsys, "clear")  # the fix
    before = _queue_jobs(failures)
    code, out, err = _cli(capsys, *failures.cli("rerun-failed", name, "--no-progress"))

    assert code == 0, (out, err)
    jobs = _jobs_since(failures, before)
    assert len(jobs) == (len(FAILING) if mode == "inline" else 1)  # one job per item, or one batch
    assert _items_by_status(failures, jobs) == {"SUCCEEDED": [0, 1]}
    assert _work(failures, jobs) == [{"index": i} for i in FAILING]
    rerun = _execution_view(failures, last_execution(failures.stack, failures.outputs))
    assert rerun.status == "SUCCEEDED" and rerun.summary.rerun_of == name
    assert (rerun.summary.count, rerun.summary.failed) == (len(FAILING), 0)
    if mode != "array":
        return
    # for scripts: --json holds every record; without EXECUTION, status shows the last run (the rerun)
    code, out, err = _cli(capsys, *failures.cli("status", name, "--json"))
    summary = json.loads(out)["summary"]
    assert [(r["index"], r["item"]) for r in summary["failed_items"]] == [(i, {"index": i}) for i in FAILING]
    assert summary["failed_items_uri"].endswith(f"/runs/{name}/failed-items.jsonl")
    code, out, err = _cli(capsys, *failures.cli("status", "--json"))
    assert json.loads(out)["summary"]["rerun_of"] == name
    rerun_name = rerun.name
    code, out, err = _cli(
        capsys, *failures.cli("rerun-failed", rerun_name)
    )  # nothing failed: nothing started
    assert code == 0 and out.strip() == f"nothing to rerun: none of the 2 items of {rerun_name} failed"


# --- cases that do not depend on the mode: on inline, the stack's mode by now -----------------------------


def test_throttled_submitjob_calls_are_retried_by_the_definition(
    failures: Failures, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools.sandbox import faults, layout

    failures.use(("inline",))  # the Map's task events are in the execution's own history
    _fault(capsys, "submit-throttle", "--count", "20")

    result = _execute(failures)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    events = _history(failures, result.execution_arn)
    throttled = _task_events(events, "Failed", "batch")
    succeeded = _task_events(events, "Succeeded", "batch")
    assert len(throttled) == 20 and _errors(events, throttled) == {"Batch.TooManyRequestsException"}
    assert len(succeeded) == COUNT and max(throttled) < max(succeeded)  # each item got through in the end
    assert faults.Store(layout.sandbox_dir()).faults() == ()  # all 20 throttles were spent
    assert (result.summary.failed, result.summary.succeeded) == (0, COUNT)


def _inline_run_with_fault(failures: Failures, capsys: pytest.CaptureFixture[str], *fault: str) -> Any:
    """An execution (:func:`_execute`) on the inline stack, where the cases that do not depend on the mode
    run (its task events are in the execution's own history), after ``fanout sandbox fault FAULT...``."""
    failures.use(("inline",))
    _fault(capsys, *fault)
    return _execute(failures)


def test_a_throttled_generator_is_invoked_again(
    failures: Failures, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _inline_run_with_fault(failures, capsys, "lambda-throttle", "--count", "2")

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    events = _history(failures, result.execution_arn)
    throttled = _task_events(events, "Failed", "lambda")
    generated = _task_events(events, "Succeeded", "lambda")[0]  # GenerateItems (SummarizeItems comes last)
    assert len(throttled) == 2 and _errors(events, throttled) == {"Lambda.TooManyRequestsException"}
    assert max(throttled) < generated < min(_task_events(events, "Succeeded", "batch"))
    assert result.summary.succeeded == COUNT


def test_a_reclaimed_spot_attempt_is_retried_by_batch_and_succeeds(
    failures: Failures, capsys: pytest.CaptureFixture[str]
) -> None:
    failures.use(("inline",))
    before = _queue_jobs(failures)
    _fault(capsys, "spot-reclaim", "--items", "1")

    result = _execute(failures)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    jobs = _jobs_since(failures, before)
    assert _items_by_status(failures, jobs) == {"SUCCEEDED": list(range(COUNT))}
    (job,) = [j for j in jobs if j["parameters"]["index"] == "1"]
    first, second = job["attempts"]  # job_attempts = 2: the reclaimed attempt, then one that ran
    assert SPOT_REASON.fullmatch(first["statusReason"]), first
    assert "exitCode" not in first.get("container", {})  # the container never exited: the host went away
    assert second["container"]["exitCode"] == 0
    assert all(len(j["attempts"]) == 1 for j in jobs if j is not job)


def test_a_job_stuck_runnable_is_cancelled_by_the_queue_and_reported_failed(
    failures: Failures, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _inline_run_with_fault(failures, capsys, "stuck-runnable", "--items", "3")

    assert (result.status, result.error) == ("FAILED", "ItemsFailed")
    assert (result.summary.failed, result.summary.succeeded) == (1, COUNT - 1)
    code, out, err = _cli(capsys, *failures.cli("status", result.execution_arn))
    assert code == 0, err
    blocks = _failure_blocks(out)
    assert list(blocks) == [3], out
    assert "attempts 0" in blocks[3] and f"reason: {CANCELLED_REASON}" in blocks[3], blocks[3]


# --- tolerance ---------------------------------------------------------------------------------------


def test_failed_items_within_the_tolerance_let_the_run_succeed_and_are_counted(
    failures: Failures, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools import run

    failures.use(None, tolerated=len(FAILING))  # any mode: only the state machine changes
    _fault(capsys, "job-exit", "--items", ",".join(map(str, FAILING)))

    result = _execute(failures)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    output = result.output  # the execution's output is the run's summary
    assert (output["count"], output["failed"], output["outcome"]) == (COUNT, len(FAILING), "SUCCEEDED")
    assert [record["index"] for record in output["failed_items"]] == list(FAILING)
    lines = run.summary_lines(failures.stack.target, failures.outputs, result)  # how `fanout run` ends
    assert "2 of 10 items failed; 8 succeeded; tolerated 2 items / 0%; outcome SUCCEEDED" in lines
