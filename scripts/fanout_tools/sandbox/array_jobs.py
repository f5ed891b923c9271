"""An array job's children as compact columns with per-status counters, not one moto ``Job`` each.

moto makes every child a full ``Job`` (a ``threading.Thread`` subclass) in the backend's job table
and the queue's job list, and describing the parent walks all of them (up to 10,000) on every
DescribeJobs. Here a parent holds one :class:`ArrayJob`: a status byte, exit code and two timestamps
per child, the counters ``arrayProperties.statusSummary`` is read from, and the full attempt list
only for children that failed an attempt. DescribeJobs, ListJobs, TerminateJob and CancelJob on
``<parent id>:<index>`` are answered from it (:mod:`fanout_tools.sandbox.batch_runner` installs
them), in the shapes AWS returns:
https://docs.aws.amazon.com/batch/latest/APIReference/API_DescribeJobs.html
https://docs.aws.amazon.com/batch/latest/APIReference/API_ListJobs.html
"""

from __future__ import annotations

import copy
import threading
from array import array
from collections import deque
from typing import Any

from fanout_tools.sandbox import host_spawn, job_logs
from fanout_tools.targets.base import BATCH_ENDED_STATUSES, BATCH_STATUSES

STATUSES = BATCH_STATUSES  # a child's status is stored as its index here
CODE = {name: code for code, name in enumerate(STATUSES)}
RUNNABLE, STARTING, RUNNING, SUCCEEDED, FAILED = (CODE[s] for s in STATUSES[2:])
NO_EXIT = -(2**31)
EXIT_REASON = "Essential container in task exited"


class ArrayJob:
    """The children of one array job: what they run, and where each one is."""

    def __init__(
        self,
        parent: Any,
        size: int,
        command: list[str],
        env: dict[str, str],
        timeout: float | None,
        attempts: int,
        rules: list[dict[str, str]],
        log_group: str,
        stream_prefix: str,
    ) -> None:
        self.parent = parent
        self.size = size
        self.command = command
        self.env = env
        self.timeout = timeout
        self.max_attempts = attempts
        self.rules = rules
        self.log_group = log_group
        self.stream_prefix = stream_prefix  # "<prefix>/default/"
        self.status = bytearray([RUNNABLE]) * size
        self.counts = [0] * len(STATUSES)
        self.counts[RUNNABLE] = size
        self.exit_codes = array("i", [NO_EXIT]) * size
        self.started = array("q", [0]) * size
        self.stopped = array("q", [0]) * size
        self.history: dict[int, list[dict[str, Any]]] = {}  # attempts of children that failed one
        self.reasons: dict[int, str] = {}  # statusReason of failed children
        self.container_reasons: dict[int, str] = {}
        self.stop_requests: dict[int, str] = {}  # TerminateJob/CancelJob on one child
        self.next_index = 0
        self.retries: deque[tuple[int, int]] = deque()  # (index, attempt) waiting for another attempt
        self.lock = threading.Lock()
        self.shortcut: Any = None  # set by the runner when the command is the inline reader
        # the children's environment, encoded once by the engine while they run
        self.environment: host_spawn.Environment | None = None
        self.display = ""
        # children that succeeded silently, their log streams made when read
        self.silent: job_logs.SilentChildren | None = None

    # --- identity ---------------------------------------------------------------------------------
    def child_id(self, index: int) -> str:
        return f"{self.parent.job_id}:{index}"

    def stream(self, index: int) -> str:
        return f"{self.streams_prefix()}{index}"

    def streams_prefix(self) -> str:
        """What every child's log stream name starts with (then its index)."""
        return f"{self.stream_prefix}{self.parent.job_id}:"

    # --- transitions (the engine thread) ------------------------------------------------------------
    def set_status(self, index: int, code: int) -> None:
        with self.lock:
            self.counts[self.status[index]] -= 1
            self.counts[code] += 1
            self.status[index] = code

    def next_child(self) -> tuple[int, int] | None:
        """(index, attempt) of the next child attempt to start, retries first."""
        if self.retries:
            return self.retries.popleft()
        if self.next_index < self.size:
            self.next_index += 1
            return self.next_index - 1, 1
        return None

    def has_work(self) -> bool:
        return bool(self.retries) or self.next_index < self.size

    def done(self) -> bool:
        return self.counts[SUCCEEDED] + self.counts[FAILED] == self.size

    def record_attempt(
        self,
        index: int,
        attempt: int,
        exit_code: int | None,
        started_ms: int,
        stopped_ms: int,
        status_reason: str,
        reason: str,
    ) -> None:
        self.exit_codes[index] = NO_EXIT if exit_code is None else exit_code
        self.started[index] = started_ms
        self.stopped[index] = stopped_ms
        if reason:
            self.container_reasons[index] = reason
        else:
            self.container_reasons.pop(index, None)
        if attempt == 1 and exit_code == 0 and not reason and index not in self.history:
            return  # the common case: described from the columns alone
        self.history.setdefault(index, []).append(
            self._attempt(index, exit_code, started_ms, stopped_ms, status_reason, reason)
        )

    def _attempt(
        self, index: int, exit_code: int | None, started: int, stopped: int, status_reason: str, reason: str
    ) -> dict[str, Any]:
        container: dict[str, Any] = {"exitCode": exit_code, "logStreamName": self.stream(index)}
        if reason:
            container["reason"] = reason
        return {
            "container": container,
            "startedAt": started,
            "stoppedAt": stopped,
            "statusReason": status_reason,
        }

    # --- reads (any thread) ---------------------------------------------------------------------------
    def status_summary(self) -> dict[str, int]:
        with self.lock:
            counts = list(self.counts)
        return dict(zip(STATUSES, counts, strict=True))

    def exit_code(self, index: int) -> int | None:
        code = self.exit_codes[index]
        return None if code == NO_EXIT else code

    def attempts(self, index: int) -> list[dict[str, Any]]:
        if index in self.history:
            return [dict(a, container=dict(a["container"])) for a in self.history[index]]
        if self.status[index] == SUCCEEDED:
            return [self._attempt(index, 0, self.started[index], self.stopped[index], EXIT_REASON, "")]
        return []

    def summary(self, index: int) -> dict[str, Any]:
        """The child's ``JobSummary`` (ListJobs)."""
        status = STATUSES[self.status[index]]
        parent = self.parent
        result: dict[str, Any] = {
            "jobId": self.child_id(index),
            "jobArn": f"{parent.arn}:{index}",
            "jobName": parent.job_name,
            "createdAt": _ms(parent.job_created_at),
            "status": status,
            "jobDefinition": parent.job_definition.arn,
            "arrayProperties": {"index": index},
        }
        if index in self.reasons:
            result["statusReason"] = self.reasons[index]
        if self.started[index]:
            result["startedAt"] = self.started[index]
        if status in BATCH_ENDED_STATUSES:
            result["stoppedAt"] = self.stopped[index]
            if self.exit_code(index) is not None:
                result["container"] = {"exitCode": self.exit_code(index)}
        return result

    def describe(self, index: int, parent_description: dict[str, Any]) -> dict[str, Any]:
        """The child's ``JobDetail`` (DescribeJobs), built on its parent's (same definition, queue,
        parameters and overrides)."""
        result = copy.deepcopy(parent_description)
        result.pop("arrayProperties", None)
        result.pop("statusReason", None)
        result.pop("startedAt", None)
        result.pop("stoppedAt", None)
        result["tags"] = {}
        result.update(self.summary(index))
        result.pop("container", None)
        container = copy.deepcopy(parent_description.get("container") or {})
        container.pop("exitCode", None)
        container.pop("reason", None)
        child_id = self.child_id(index)
        container["environment"] = [
            {"name": e["name"], "value": child_id if e["name"] == "AWS_BATCH_JOB_ID" else e["value"]}
            for e in container.get("environment") or []
        ]
        if self.status[index] >= STARTING:
            container["logStreamName"] = self.stream(index)
        else:
            container.pop("logStreamName", None)
        if self.exit_code(index) is not None:
            container["exitCode"] = self.exit_code(index)
        if index in self.container_reasons:
            container["reason"] = self.container_reasons[index]
        if "container" in parent_description:
            result["container"] = container
        result["attempts"] = self.attempts(index)
        return result


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def child_of(backend: Any, identifier: str) -> tuple[ArrayJob, int] | None:
    """(array, index) when ``identifier`` (job id or ARN) names a child of a sandbox array job."""
    tail = identifier.rsplit("/", 1)[-1]
    parent_id, colon, index = tail.rpartition(":")
    if not colon or not index.isdigit():
        return None
    parent = backend._jobs.get(parent_id)
    found = getattr(parent, "sandbox_array", None)
    if found is None or int(index) >= found.size:
        return None
    return found, int(index)


class ChildView:
    """A child as moto's ListJobs response code wants a job (``describe_short``, ``job_name``)."""

    __slots__ = ("array", "index")

    def __init__(self, array_job: ArrayJob, index: int) -> None:
        self.array = array_job
        self.index = index

    @property
    def job_name(self) -> str:
        return str(self.array.parent.job_name)

    @property
    def status(self) -> str:
        return STATUSES[self.array.status[self.index]]

    def describe_short(self) -> dict[str, Any]:
        return self.array.summary(self.index)


def children(array_job: ArrayJob, status: str | None) -> list[ChildView]:
    """The children (in index order), only those in ``status`` when given."""
    if status is None:
        return [ChildView(array_job, i) for i in range(array_job.size)]
    code = CODE[status]
    found = array_job.status
    return [ChildView(array_job, i) for i in range(array_job.size) if found[i] == code]
