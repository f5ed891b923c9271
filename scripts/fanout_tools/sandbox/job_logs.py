"""Job output in CloudWatch Logs, where AWS Batch's awslogs log driver puts it.

In AWS a job's container output goes to the log group its job definition names
(``logConfiguration.options["awslogs-group"]``, default ``/aws/batch/job``) in a stream named
``<awslogs-stream-prefix or job definition name>/default/<task id>``, and ``DescribeJobs`` returns
that stream as ``container.logStreamName``.
https://docs.aws.amazon.com/batch/latest/userguide/using_awslogs.html
The sandbox does the same (one stream per job, every attempt appended; AWS starts a new task, and so
a new stream, per attempt), so reading a job's output is one code path on both targets: CloudWatch
Logs ``GetLogEvents``. The local ``<job id>.log`` files stay, as a convenience.

An array child that succeeded at its first attempt without printing has a stream of two lines the
sandbox writes itself (its attempt header and ``--- exit code 0``). Made in moto at once, such streams
were a quarter of the server's CPU in a large run and most of its memory (1.3 GB at a million
children). So they are kept as :class:`SilentChildren` (an end time per child) and made into moto's
streams only when the sandbox's CloudWatch Logs is asked about them: GetLogEvents makes the one stream
it reads, any other CloudWatch Logs call all of them (:func:`defer_until_read`). Through the API
nothing differs.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from array import array
from collections.abc import Callable
from typing import Any

from fanout_tools.targets.base import BATCH_DEFAULT_LOG_GROUP

_lock = threading.Lock()
_publishing = threading.local()  # set while publish_many writes: its own calls materialise nothing
_deferred_lock = threading.Lock()
# by id() of the logs backend they belong to, with the backend (so that its id is not reused)
_deferred: dict[int, tuple[Any, list[SilentChildren]]] = {}


def destination(job_definition: Any, job_id: str) -> tuple[str, str]:
    """(log group, log stream) for a job, from its job definition's awslogs options."""
    container = getattr(job_definition, "container_properties", None) or {}
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {} if config.get("logDriver") == "awslogs" else {}
    group = options.get("awslogs-group") or BATCH_DEFAULT_LOG_GROUP
    prefix = options.get("awslogs-stream-prefix") or job_definition.name
    return group, f"{prefix}/default/{job_id}"


def publish(logs_backend: Any, group: str, stream: str, lines: list[str]) -> None:
    """Append ``lines`` to ``group``/``stream`` in the sandbox's CloudWatch Logs (both made if missing)."""
    publish_many(logs_backend, group, [(stream, int(time.time() * 1000), lines)])


def publish_many(logs_backend: Any, group: str, entries: list[tuple[str, int, list[str]]]) -> None:
    """Append each ``(stream, timestamp ms, lines)`` of ``entries`` to its stream in ``group``, in order
    (the group and the streams made if missing).

    Straight to the log group's streams: what PutLogEvents stores (subscription filters included),
    without its per-request validation, which events stamped now always pass. So the array children
    of one engine step cost one call, not two API calls each.
    """
    if not any(lines for _, _, lines in entries):
        return
    from moto.logs.exceptions import ResourceAlreadyExistsException

    with _lock:  # creating a group or stream is check-then-act in moto
        if group not in logs_backend.groups:
            _publishing.now = True
            try:
                with contextlib.suppress(ResourceAlreadyExistsException):
                    logs_backend.create_log_group(group, {})
            finally:
                _publishing.now = False
        log_group = logs_backend.groups[group]
        for stream, timestamp, lines in entries:
            if not lines:
                continue
            if stream not in log_group.streams:
                log_group.create_log_stream(stream)
            log_group.streams[stream].put_log_events(
                [{"timestamp": timestamp, "message": line} for line in lines]
            )


class SilentChildren:
    """The children of one array job that succeeded at their first attempt without printing: the end
    time of each (0 for the others), their streams ``<prefix><index>`` (all of the same ``lines``)
    made when read."""

    __slots__ = ("closed", "group", "lines", "pending", "prefix", "times")

    def __init__(self, group: str, prefix: str, lines: list[str], size: int) -> None:
        self.group = group
        self.prefix = prefix  # "<stream prefix>/default/<parent job id>:"
        self.lines = lines  # the attempt header and its exit code, as the engine wrote them
        self.times = array("q", [0]) * size
        self.pending = 0
        self.closed = False  # its array job has ended: no child will be added

    def add(self, index: int, timestamp: int) -> None:
        with _deferred_lock:
            if not self.times[index]:
                self.pending += 1
            self.times[index] = timestamp

    def take(self, index: int | None = None) -> list[tuple[str, int, list[str]]]:
        """The entries of child ``index`` (of all children when None), no longer kept here."""
        if not self.pending:
            return []
        indices = range(len(self.times)) if index is None else (index,)
        entries = []
        for number in indices:
            timestamp = self.times[number]
            if timestamp:
                self.times[number] = 0
                self.pending -= 1
                entries.append((f"{self.prefix}{number}", timestamp, self.lines))
        return entries


def defer(logs_backend: Any, silent: SilentChildren) -> None:
    """Keep ``silent``'s streams out of ``logs_backend`` until it is asked about them."""
    defer_until_read()
    with _deferred_lock:
        _deferred.setdefault(id(logs_backend), (logs_backend, []))[1].append(silent)


def materialise(logs_backend: Any, group: str | None = None, stream: str | None = None) -> None:
    """Make the deferred streams of ``logs_backend`` into moto's: just ``group``/``stream`` when both are
    given, else all of them."""
    found = _deferred.get(id(logs_backend))
    if found is None or found[0] is not logs_backend:
        return
    by_group: dict[str, list[tuple[str, int, list[str]]]] = {}
    with _deferred_lock:
        kept = found[1]
        for silent in kept:
            if group is not None and stream is not None:
                if silent.group != group or not stream.startswith(silent.prefix):
                    continue
                number = stream[len(silent.prefix) :]
                if not number.isdigit() or int(number) >= len(silent.times):
                    continue
                by_group.setdefault(silent.group, []).extend(silent.take(int(number)))
            else:
                by_group.setdefault(silent.group, []).extend(silent.take())
        # an array job's children still running may yet defer more; an ended one's is dropped
        kept[:] = [silent for silent in kept if silent.pending or not silent.closed]
    for name, entries in by_group.items():
        publish_many(logs_backend, name, entries)


@functools.cache
def defer_until_read() -> None:
    """Every public method of moto's CloudWatch Logs backend first makes the deferred streams it may
    see: GetLogEvents the stream it reads, the others all of them. Installed once per process."""
    from moto.logs.models import LogsBackend

    for name, method in list(vars(LogsBackend).items()):
        if name.startswith("_") or not callable(method):
            continue
        setattr(LogsBackend, name, _materialising(name, method))


def _materialising(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if id(self) in _deferred and not getattr(_publishing, "now", False):
            if name == "get_log_events" and not args:
                materialise(self, kwargs.get("log_group_name"), kwargs.get("log_stream_name"))
            else:
                materialise(self)
        return method(self, *args, **kwargs)

    return wrapper
