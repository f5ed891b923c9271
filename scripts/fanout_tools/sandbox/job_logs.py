"""Job output in CloudWatch Logs, where AWS Batch's awslogs log driver puts it.

In AWS a job's container output goes to the log group its job definition names
(``logConfiguration.options["awslogs-group"]``, default ``/aws/batch/job``) in a stream named
``<awslogs-stream-prefix or job definition name>/default/<task id>``, and ``DescribeJobs`` returns
that stream as ``container.logStreamName``.
https://docs.aws.amazon.com/batch/latest/userguide/using_awslogs.html
The sandbox does the same (one stream per job, every attempt appended; AWS starts a new task, and so
a new stream, per attempt), so reading a job's output is one code path on both targets: CloudWatch
Logs ``GetLogEvents``. The local ``<job id>.log`` files stay, as a convenience.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from fanout_tools.targets.base import BATCH_DEFAULT_LOG_GROUP

_lock = threading.Lock()


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
            with contextlib.suppress(ResourceAlreadyExistsException):
                logs_backend.create_log_group(group, {})
        log_group = logs_backend.groups[group]
        for stream, timestamp, lines in entries:
            if not lines:
                continue
            if stream not in log_group.streams:
                log_group.create_log_stream(stream)
            log_group.streams[stream].put_log_events(
                [{"timestamp": timestamp, "message": line} for line in lines]
            )
