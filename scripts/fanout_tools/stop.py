"""Verb ``stop``: stop an execution and end every Batch job it left queued or running.

EXECUTION is a name or ARN (default: the stack's last run). When it is still RUNNING it is stopped
first (StopExecution), so no job can be submitted after its jobs are listed. Then its jobs are found:
the JobIds of the ``TaskSubmitted`` events (resource type batch) in its history and, in the distributed
modes, in the histories of its Map Runs' child executions. Each job that has not ended gets TerminateJob,
which cancels a job still SUBMITTED/PENDING/RUNNABLE, stops a STARTING/RUNNING one, and ends an array
job's children with it (https://docs.aws.amazon.com/batch/latest/APIReference/API_TerminateJob.html).
Step Functions' ``.sync`` integration terminates the job of a task that is running when the execution
stops, but not reliably everything that is queued; doing it here as well is harmless (TerminateJob on
an ended job changes nothing) and makes the result the same on every target.

Stopping an execution that has already ended says so and still ends its leftover jobs. The output is
one line per outcome, never one per job. :func:`stop_execution` asks nothing and raises only
:class:`~fanout_tools.errors.FanoutError`s, so ``fanout run`` calls it from its Ctrl-C handler.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fanout_tools.deploy import add_target_arguments
from fanout_tools.errors import FanoutError
from fanout_tools.executions import add_execution_argument, history_pages
from fanout_tools.targets.base import BATCH_ENDED_STATUSES, BATCH_OPEN_STATUSES, THROTTLED_RETRIES

if TYPE_CHECKING:
    from fanout_tools.deploy import Stack

DESCRIBE_BATCH = 100  # job ids per DescribeJobs call (the API's limit)
STOP_WAIT_SECONDS = 15.0  # how long to wait for a stopped execution to report that it ended
POLL_SECONDS = 0.5
WORKERS = 8  # calls in flight at once (child histories, TerminateJob); botocore retries the throttled
DEFAULT_REASON = "stopped with fanout stop"
# Batch keeps the reason as the job's statusReason; keep it readable there.
REASON_LIMIT = 200

T = TypeVar("T")
R = TypeVar("R")


class StopError(FanoutError):
    """The execution could not be stopped, or its jobs not listed."""


@dataclass
class FoundJobs:
    """The jobs of one execution, and how they were found."""

    ids: list[str] = field(default_factory=list)  # in the order found, each once
    child_executions: int = 0  # Map Run child executions whose histories were read
    notes: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)

    def add(self, ids: Iterable[str]) -> None:
        for job_id in ids:
            if job_id not in self._seen:
                self._seen.add(job_id)
                self.ids.append(job_id)


@dataclass
class StopResult:
    """What :func:`stop_execution` did."""

    execution_arn: str
    status_before: str
    status_after: str
    jobs_found: int = 0  # jobs of the execution (plain jobs and array parents)
    already_ended: int = 0  # of those, SUCCEEDED or FAILED before anything was terminated
    terminated: list[str] = field(default_factory=list)  # job ids TerminateJob was called on
    children_ended: int = 0  # array children that were still open when their parent was terminated
    failed: dict[str, str] = field(default_factory=dict)  # job id -> why TerminateJob failed
    child_executions: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.execution_arn.rsplit(":", 1)[-1]

    @property
    def stopped(self) -> bool:
        """This call stopped the execution (it was RUNNING)."""
        return self.status_before == "RUNNING"

    def lines(self) -> list[str]:
        """The verb's output: one line for the execution and its jobs, one per note."""
        if self.stopped:
            head = f"stopped {self.name} ({self.status_before} -> {self.status_after})"
        else:
            head = f"{self.name} had already ended ({self.status_before})"
        children = (
            f" ({self.children_ended:,} array children ended with their parent)"
            if self.children_ended
            else ""
        )
        if self.terminated:
            jobs = f"terminated {len(self.terminated):,} job{_s(len(self.terminated))}{children}"
        elif self.jobs_found:
            jobs = "no job of it was still queued or running"
        else:
            jobs = "it had submitted no job"
        ended = (
            f", {self.already_ended:,} had already ended" if self.already_ended and self.terminated else ""
        )
        lines = [f"{head}; {jobs}{ended}"]
        if self.failed:
            first_id, why = next(iter(self.failed.items()))
            lines.append(
                f"could not terminate {len(self.failed):,} job{_s(len(self.failed))} "
                f"(first: {first_id}: {why}); run the stop again"
            )
        lines.extend(self.notes)
        return lines


def _s(count: int) -> str:
    return "" if count == 1 else "s"


# --- the work -------------------------------------------------------------------------------------


def stop_execution(stack: Stack, outputs: dict[str, Any], execution_arn: str, reason: str) -> StopResult:
    """Stop ``execution_arn`` (when RUNNING), then terminate every job of it that has not ended.

    Safe to call from a KeyboardInterrupt handler: no prompts, bounded waits (at most
    :data:`STOP_WAIT_SECONDS` for the execution to report that it ended), and every failure is a
    :class:`StopError` that says what to do.
    """
    sfn = stack.target.client("stepfunctions", region=stack.region, retries=THROTTLED_RETRIES)
    batch = stack.target.client("batch", region=stack.region, retries=THROTTLED_RETRIES)
    reason = (reason or DEFAULT_REASON)[:REASON_LIMIT]
    with _errors(stack, execution_arn, "read the execution"):
        described = sfn.describe_execution(executionArn=execution_arn)
    before = str(described["status"])
    notes: list[str] = []
    if before == "RUNNING":
        with _errors(stack, execution_arn, "stop the execution"):
            sfn.stop_execution(executionArn=execution_arn, cause=reason)
            described = wait_until_ended(lambda: sfn.describe_execution(executionArn=execution_arn))
        if described["status"] == "RUNNING":
            notes.append(
                f"it still reported RUNNING {STOP_WAIT_SECONDS:.0f} s after StopExecution: jobs it submits "
                f"later are not terminated; run `{stack.hint(_make('stop', execution_arn))}` again"
            )
    result = StopResult(execution_arn, before, str(described["status"]), notes=notes)
    with _errors(stack, execution_arn, "list and terminate its jobs"):
        found = find_jobs(outputs, sfn, batch, described)
        result.jobs_found, result.child_executions = len(found.ids), found.child_executions
        result.notes.extend(found.notes)
        jobs = describe_jobs(batch, found.ids)
        open_jobs = [job for job in jobs if job.get("status") not in BATCH_ENDED_STATUSES]
        result.already_ended = len(jobs) - len(open_jobs)
        result.terminated, result.failed = terminate(batch, [str(job["jobId"]) for job in open_jobs], reason)
    result.children_ended = sum(_open_children(job) for job in open_jobs if job["jobId"] not in result.failed)
    return result


def _make(verb: str, execution_arn: str) -> str:
    return f"{verb} EXECUTION={execution_arn.rsplit(':', 1)[-1]}"


@contextmanager
def _errors(stack: Stack, execution_arn: str, doing: str) -> Iterator[None]:
    """AWS errors while doing ``doing`` as one-line :class:`StopError`s that say what to do."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = execution_arn.rsplit(":", 1)[-1]
    try:
        yield
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        detail = str(err.response.get("Error", {}).get("Message", "")).strip()
        operation = str(err.operation_name)
        if code == "ExecutionDoesNotExist":
            raise StopError(
                f"there is no execution {name} on stack {stack.name!r} (TARGET={stack.target.name})",
                f"check the name; without one, the stack's last run is stopped: `{stack.hint('stop')}`",
            ) from None
        if code == "InvalidArn":
            raise StopError(
                f"{name!r} is not an execution name or ARN: {detail}", "pass a name or ARN"
            ) from None
        raise StopError(
            f"could not {doing} ({name}): {operation}: {code}" + (f": {detail}" if detail else ""),
            f"check that your credentials allow {operation}, then run "
            f"`{stack.hint(_make('stop', execution_arn))}` again (it is safe to repeat)",
        ) from None
    except BotoCoreError as err:
        raise StopError(
            f"could not {doing} ({name}): {err}",
            f"check the network (sandbox: `make sandbox-up`), then run "
            f"`{stack.hint(_make('stop', execution_arn))}` again (it is safe to repeat)",
        ) from None


def wait_until_ended(describe: Callable[[], dict[str, Any]], seconds: float | None = None) -> dict[str, Any]:
    """``describe()`` (DescribeExecution) until it no longer reports RUNNING, or ``seconds`` passed
    (default :data:`STOP_WAIT_SECONDS`)."""
    deadline = time.monotonic() + (STOP_WAIT_SECONDS if seconds is None else seconds)
    while True:
        described = describe()
        if described["status"] != "RUNNING" or time.monotonic() >= deadline:
            return described
        time.sleep(POLL_SECONDS)


def find_jobs(outputs: dict[str, Any], sfn: Any, batch: Any, described: dict[str, Any]) -> FoundJobs:
    """The Batch jobs the execution submitted: from its history and its Map Runs' child executions.

    Children that SUCCEEDED are skipped (a ``.sync`` task waits for its job to end). A Map Run whose
    children cannot be listed (the sandbox's emulator runs them inside the parent) falls back to the
    stack's queue (:func:`queue_jobs_of`).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from fanout_tools.executions import batch_job_ids

    arn = str(described["executionArn"])
    found = FoundJobs()
    found.add(batch_job_ids(history_pages(sfn, arn)))
    unlisted = 0
    for map_run in _items(sfn.list_map_runs, "mapRuns", executionArn=arn):
        try:
            listed = list(
                _items(sfn.list_executions, "executions", mapRunArn=map_run["mapRunArn"], maxResults=1000)
            )
        except (ClientError, BotoCoreError):
            unlisted += 1
            continue
        children = [str(c["executionArn"]) for c in listed if c.get("status") != "SUCCEEDED"]
        found.child_executions += len(children)
        for ids in _parallel(lambda child: batch_job_ids(history_pages(sfn, child)), children):
            found.add(ids)
    if unlisted:
        queue_jobs_of(outputs, sfn, batch, described, found)
    return found


def queue_jobs_of(
    outputs: dict[str, Any], sfn: Any, batch: Any, described: dict[str, Any], found: FoundJobs
) -> None:
    """Add the open jobs of the stack's queue created while the execution ran.

    For a Map Run whose children cannot be listed. A job created after another execution of the stack
    started that is still running is left alone: it may be that execution's.
    """
    start = _epoch_ms(described.get("startDate"))
    end = _epoch_ms(described.get("stopDate")) or int(time.time() * 1000)
    others = [
        _epoch_ms(execution.get("startDate"))
        for execution in _items(
            sfn.list_executions,
            "executions",
            stateMachineArn=outputs["state_machine_arn"],
            statusFilter="RUNNING",
        )
        if execution.get("executionArn") != described["executionArn"]
    ]
    first_other = min(others, default=None)
    ambiguous = 0
    for status in BATCH_OPEN_STATUSES:
        for job in _items(
            batch.list_jobs, "jobSummaryList", jobQueue=outputs["job_queue_name"], jobStatus=status
        ):
            created = int(job.get("createdAt") or 0)
            if not start <= created <= end:
                continue
            if first_other is not None and created >= first_other:
                ambiguous += 1
            else:
                found.add([str(job["jobId"])])
    found.notes.append(
        "this account cannot list the Map Run's child executions, so their jobs were taken from the "
        "queue: its open jobs created while the execution ran"
        + (
            f" ({ambiguous:,} left alone: created while another execution of the stack was running)"
            if ambiguous
            else ""
        )
    )


def _epoch_ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def describe_jobs(batch: Any, job_ids: list[str]) -> list[dict[str, Any]]:
    """DescribeJobs for ``job_ids``, :data:`DESCRIBE_BATCH` a call (jobs Batch no longer knows: left out)."""
    chunks = [job_ids[start : start + DESCRIBE_BATCH] for start in range(0, len(job_ids), DESCRIBE_BATCH)]
    jobs: list[dict[str, Any]] = []
    for page in _parallel(lambda chunk: batch.describe_jobs(jobs=chunk).get("jobs", []), chunks):
        jobs.extend(page)
    return jobs


def terminate(batch: Any, job_ids: list[str], reason: str) -> tuple[list[str], dict[str, str]]:
    """TerminateJob on each id; returns the ids it succeeded on and, per failed id, why."""
    from botocore.exceptions import BotoCoreError, ClientError

    def one(job_id: str) -> str | None:
        try:
            batch.terminate_job(jobId=job_id, reason=reason)
        except ClientError as err:
            error = err.response.get("Error", {})
            return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
        except BotoCoreError as err:
            return str(err)
        return None

    done: list[str] = []
    failed: dict[str, str] = {}
    for job_id, why in zip(job_ids, _parallel(one, job_ids), strict=True):
        if why is None:
            done.append(job_id)
        else:
            failed[job_id] = why
    return done, failed


def _open_children(job: dict[str, Any]) -> int:
    """Children of an array job that had not ended (its statusSummary); 0 for a plain job."""
    summary = (job.get("arrayProperties") or {}).get("statusSummary") or {}
    return sum(int(summary.get(status, 0)) for status in BATCH_OPEN_STATUSES)


def _parallel(function: Callable[[T], R], items: list[T]) -> Iterator[R]:
    """``map(function, items)`` with :data:`WORKERS` calls in flight (results in order)."""
    if len(items) <= 1:
        return map(function, items)
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="fanout-stop") as pool:
        return iter(list(pool.map(function, items)))


def _items(method: Callable[..., Any], key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item under ``key`` of a paginated (``nextToken``) list call."""
    while True:
        page = method(**kwargs)
        yield from page.get(key, [])
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


# --- the verb -------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    add_execution_argument(parser, "stop")
    parser.add_argument(
        "--reason",
        default=DEFAULT_REASON,
        help="why: the execution's abort cause and the jobs' status reason",
    )


def run(args: argparse.Namespace) -> int:
    from fanout_tools.deploy import deployed
    from fanout_tools.executions import resolve

    stack, outputs = deployed(args)
    arn = resolve(stack, outputs, args.execution)
    result = stop_execution(stack, outputs, arn, args.reason)
    for line in result.lines():
        print(line)
    if result.failed:
        raise StopError(
            f"{len(result.failed):,} job{_s(len(result.failed))} of {result.name} could not be terminated",
            f"run `{stack.hint(_make('stop', arn))}` again; it terminates only what is still open",
        )
    return 0
