"""Faults the sandbox injects on purpose (``fanout sandbox fault``), to rehearse failures AWS causes.

A fault is kept in ``<sandbox folder>/faults.json`` until ``fanout sandbox fault clear``, so a later
``make run`` meets it; the running server re-reads the file whenever it changed (one ``stat`` per
relevant call). Each fault looks to Step Functions, ``DescribeJobs`` and CloudWatch Logs as the real
failure does:

- ``job-exit``: the jobs of the given item indexes exit with a code (the command does not run);
  ``statusReason`` "Essential container in task exited", the code as ``container.exitCode``;
- ``spot-reclaim``: their first attempt ends as a reclaimed Spot Instance ends it
  (``statusReason`` "Host EC2 (instance i-...) terminated.", no exit code), which the stack's retry
  strategy (``job_retry_status_reasons`` "Host EC2*") retries;
  https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html
- ``stuck-runnable``: they never leave RUNNABLE (``statusReason``
  "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - ..."), until the job queue's
  ``jobStateTimeLimitActions`` cancel them (sandbox gap 20 in :mod:`fanout_tools.sandbox.compat`);
  https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_capacity.html
- ``submit-throttle`` / ``lambda-throttle``: the next N SubmitJob calls / Invoke calls of the stack's
  generator function answer ``TooManyRequestsException`` (HTTP 429).

An item's index is the ``index`` parameter of a per-item job; for a batch (array job, or a plain job
for a batch of one) it is the batch's first index plus ``AWS_BATCH_JOB_ARRAY_INDEX``
(:func:`item_index`). This module has no moto import at load time: the CLI uses it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError, SandboxError
from fanout_tools.paths import atomic_write
from fanout_tools.sandbox.array_jobs import EXIT_REASON

log = logging.getLogger(__name__)

FAULTS_FILE = "faults.json"
LOCK_FILE = "faults.lock"

JOB_EXIT = "job-exit"
SPOT_RECLAIM = "spot-reclaim"
STUCK_RUNNABLE = "stuck-runnable"
SUBMIT_THROTTLE = "submit-throttle"
LAMBDA_THROTTLE = "lambda-throttle"
ITEM_KINDS = (JOB_EXIT, SPOT_RECLAIM, STUCK_RUNNABLE)
COUNT_KINDS = (SUBMIT_THROTTLE, LAMBDA_THROTTLE)
KINDS = ITEM_KINDS + COUNT_KINDS

GENERATOR_SUFFIX = "-generator"
"""The stack names its generator function ``<name>-generator`` (terraform/main.tf,
``generator_function_name``); ``lambda-throttle`` throttles every function named so."""

STUCK_REASON = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
STUCK_STATUS_REASON = (
    f"{STUCK_REASON} - Service cannot fulfill the capacity requested for instance type [sandbox]"
)
"""What Batch shows while a job waits for capacity that never comes; a job queue's
``jobStateTimeLimitActions`` entry with reason ``CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY`` cancels it."""

MAX_EXIT_CODE = 255
NOT_RUN = "(the sandbox ended this attempt; the command did not run)"
ITEMS_SHOWN = 10  # a fault on many items lists the first few


# --- flags -----------------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")


def parse_items(text: str) -> tuple[int, ...]:
    """``--items 2,5``: the distinct item indexes, ascending. Only ASCII digits and commas (spaces
    around an index are allowed); anything else is a :class:`ConfigError` naming the bad part."""
    hint = "give item indexes (0-based, non-negative whole numbers) separated by commas, e.g. --items 2,5"
    tokens = [token.strip() for token in text.split(",")]
    for token in tokens:
        if not _DIGITS.fullmatch(token):
            shown = f"{token!r} is not" if token else "an empty entry is not"
            raise ConfigError(f"--items {text!r}: {shown} an item index", hint)
    return tuple(sorted({int(token) for token in tokens}))


def parse_int(text: str, flag: str, low: int, high: int | None = None) -> int:
    """A whole number for ``flag`` within [low, high] (ASCII digits only), else a :class:`ConfigError`."""
    span = f"from {low} to {high}" if high is not None else f"{low} or more"
    stripped = text.strip()
    if not _DIGITS.fullmatch(stripped) or int(stripped) < low or (high is not None and int(stripped) > high):
        raise ConfigError(
            f"{flag} {text!r} is not a whole number {span}", f"give {flag} a whole number {span}"
        )
    return int(stripped)


# --- what a fault is ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobAction:
    """What a fault does to one job attempt: its exit code (None: the container never exited),
    its ``statusReason``, and the line the job's log gets."""

    kind: str
    exit_code: int | None
    status_reason: str
    log_line: str


def spot_reclaim_reason() -> str:
    """The statusReason of a job whose Spot Instance was reclaimed (an instance id is i- and 17 hex)."""
    return f"Host EC2 (instance i-{secrets.token_hex(9)[:17]}) terminated."


@dataclass(frozen=True)
class Fault:
    kind: str
    items: tuple[int, ...] = ()
    code: int = 1  # job-exit
    first_attempt_only: bool = False  # job-exit
    count: int = 0  # throttles: calls still to throttle

    def applies(self, attempt: int) -> bool:
        if self.kind == SPOT_RECLAIM:
            return attempt == 1
        if self.kind == JOB_EXIT:
            return attempt == 1 or not self.first_attempt_only
        return self.kind == STUCK_RUNNABLE

    def action(self) -> JobAction:
        if self.kind == JOB_EXIT:
            line = f"sandbox fault: {JOB_EXIT} {self.code} {NOT_RUN}"
            return JobAction(JOB_EXIT, self.code, EXIT_REASON, line)
        if self.kind == SPOT_RECLAIM:
            reason = spot_reclaim_reason()
            return JobAction(SPOT_RECLAIM, None, reason, f"sandbox fault: {SPOT_RECLAIM}: {reason} {NOT_RUN}")
        line = f"sandbox fault: {STUCK_RUNNABLE}: {STUCK_STATUS_REASON}"
        return JobAction(STUCK_RUNNABLE, None, STUCK_STATUS_REASON, line)

    def describe(self) -> str:
        shown = ",".join(str(i) for i in self.items[:ITEMS_SHOWN])
        if len(self.items) > ITEMS_SHOWN:
            shown += f",... ({len(self.items)} items)"
        if self.kind == JOB_EXIT:
            when = "on the first attempt only" if self.first_attempt_only else "on every attempt"
            return f"{JOB_EXIT}: items {shown} exit with code {self.code} {when}"
        if self.kind == SPOT_RECLAIM:
            return f"{SPOT_RECLAIM}: items {shown}: attempt 1 ends 'Host EC2 (instance i-...) terminated.'"
        if self.kind == STUCK_RUNNABLE:
            return (
                f"{STUCK_RUNNABLE}: items {shown} stay RUNNABLE ({STUCK_REASON}) until the job queue's "
                "jobStateTimeLimitActions cancel them"
            )
        calls = "SubmitJob calls" if self.kind == SUBMIT_THROTTLE else f"Invoke calls of *{GENERATOR_SUFFIX}"
        return f"{self.kind}: the next {self.count} {calls} answer TooManyRequestsException (HTTP 429)"

    def to_json(self) -> dict[str, Any]:
        if self.kind in COUNT_KINDS:
            return {"kind": self.kind, "count": self.count}
        data: dict[str, Any] = {"kind": self.kind, "items": list(self.items)}
        if self.kind == JOB_EXIT:
            data.update(code=self.code, first_attempt_only=self.first_attempt_only)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """A fault from the file; ValueError when it is not one this module writes."""
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind in COUNT_KINDS:
            count = data.get("count")
            if type(count) is not int or count < 1:
                raise ValueError(f"{kind}: count {count!r}")
            return cls(kind, count=count)
        items = data.get("items")
        if not isinstance(items, list) or not items or any(type(i) is not int or i < 0 for i in items):
            raise ValueError(f"{kind}: items {items!r}")
        code = data.get("code", 1)
        if type(code) is not int or not 1 <= code <= MAX_EXIT_CODE:
            raise ValueError(f"{kind}: code {code!r}")
        return cls(kind, tuple(items), code, bool(data.get("first_attempt_only", False)))


class Active:
    """The faults in force at one moment, with the per-job look-up the runners make."""

    def __init__(self, faults: tuple[Fault, ...]) -> None:
        self.faults = faults
        # latest first: a later fault on the same item wins
        self._item_faults = [(f, frozenset(f.items)) for f in reversed(faults) if f.kind in ITEM_KINDS]

    @property
    def has_job_faults(self) -> bool:
        return bool(self._item_faults)

    def job_action(self, index: int | None, attempt: int) -> JobAction | None:
        """The fault acting on attempt ``attempt`` (1-based) of item ``index``'s job, if any."""
        if index is None:
            return None
        for fault, items in self._item_faults:
            if index in items and fault.applies(attempt):
                return fault.action()
        return None

    def counted(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.faults)


NO_FAULTS = Active(())


# --- where they are kept -------------------------------------------------------------------------------


class Store:
    """The faults file of one sandbox folder: written by the CLI, read (and counted down) by the server."""

    def __init__(self, home: Path) -> None:
        self.path = home / FAULTS_FILE
        self.lock_path = home / LOCK_FILE
        self._seen: tuple[int, int, int] | None = None
        self._active = NO_FAULTS

    def active(self) -> Active:
        """The faults now in force; the file is read again only when its stat changed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._active = None, NO_FAULTS
            return NO_FAULTS
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key != self._seen:
            try:
                self._active = Active(self._read())
            except (OSError, ValueError) as err:  # a server never fails a call on a bad file
                log.warning("sandbox faults: ignoring %s: %s", self.path, err)
                self._active = NO_FAULTS
            self._seen = key
        return self._active

    def faults(self) -> tuple[Fault, ...]:
        """The faults in force, for the CLI (a damaged file is an error that says what to do)."""
        try:
            return self._read()
        except (OSError, ValueError) as err:
            raise SandboxError(
                f"cannot read the sandbox faults file {self.path}: {err}",
                "clear it with `fanout sandbox fault clear` (or `make fault FAULT=clear`)",
            ) from None

    def add(self, fault: Fault) -> tuple[Fault, ...]:
        with self._locked():
            found = (*self.faults(), fault)
            self._write(found)
        return found

    def clear(self) -> int:
        """Remove every fault (a damaged file too); returns how many were readable."""
        with self._locked():
            try:
                cleared = len(self._read())
            except (OSError, ValueError):
                cleared = 0
            self.path.unlink(missing_ok=True)
        return cleared

    def take(self, kind: str) -> Fault | None:
        """Count one call down on the oldest ``kind`` fault (a throttle); the fault that acted, or None."""
        if not self.active().counted(kind):
            return None  # the common case: no file read, no lock
        with self._locked():
            try:
                found = list(self._read())
            except (OSError, ValueError):
                return None
            for position, fault in enumerate(found):
                if fault.kind == kind:
                    if fault.count > 1:
                        found[position] = replace(fault, count=fault.count - 1)
                    else:
                        del found[position]
                    self._write(tuple(found))
                    return fault
        return None

    def _read(self) -> tuple[Fault, ...]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ()
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("faults"), list):
            raise ValueError('expected {"faults": [...]}')
        return tuple(Fault.from_json(entry) for entry in data["faults"])

    def _write(self, faults: tuple[Fault, ...]) -> None:
        if not faults:
            self.path.unlink(missing_ok=True)
            return
        text = json.dumps({"faults": [f.to_json() for f in faults]}, indent=1) + "\n"
        atomic_write(self.path, text.encode("utf-8"), mode=0o600)  # readers never see half of one

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One read-modify-write at a time, across the CLI and the server's threads (an flock)."""
        with self.lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


# --- which item a job is -----------------------------------------------------------------------------

_BATCH_URI = re.compile(r"s3://(?P<bucket>[^/]+)/(?P<prefix>(?:.*/)?items/)batch-(?P<batch>[0-9]+)\.jsonl")


def item_index(
    parameters: Mapping[str, str], array_index: int | None, batch_lines: Callable[[str, str], int | None]
) -> int | None:
    """The run's index of the item a job (or array child) works on, or None when it cannot be known.

    A batch job has ``items_uri`` = ``s3://<bucket>/<run>/items/batch-NNNNNN.jsonl``; every batch but
    the last holds the same number of items, so its first index is NNNNNN x the lines of batch 0,
    which ``batch_lines(bucket, key of batch 0)`` answers. A per-item job has ``index``.
    """
    found = _BATCH_URI.fullmatch(str(parameters.get("items_uri", "")))
    if found is not None:
        batch, offset = int(found["batch"]), array_index or 0
        if batch == 0:
            return offset
        first_key = f"{found['prefix']}batch-{0:0{len(found['batch'])}d}.jsonl"
        lines = batch_lines(found["bucket"], first_key)
        return None if lines is None else batch * lines + offset
    raw = str(parameters.get("index", ""))
    if array_index is None and _DIGITS.fullmatch(raw):
        return int(raw)
    return None


# --- the errors AWS answers when it throttles ----------------------------------------------------------


@cache
def _too_many_requests_class() -> type[Exception]:
    from moto.core.exceptions import JsonRESTError

    class TooManyRequestsException(JsonRESTError):  # type: ignore[misc]
        code = 429

        def __init__(self, message: str) -> None:
            super().__init__("TooManyRequestsException", message)

    return TooManyRequestsException


def too_many_requests(message: str) -> Exception:
    """HTTP 429 ``TooManyRequestsException``, as Batch and Lambda answer a throttled call (Step
    Functions names it ``Batch.TooManyRequestsException`` / ``Lambda.TooManyRequestsException``)."""
    return _too_many_requests_class()(message)
