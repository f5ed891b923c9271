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
    of one engine step cost one call, not two API calls each. A group without subscription filters
    (the jobs' own) takes :func:`_store`, which stores the same objects with one clock reading per call.
    """
    if not any(lines for _, _, lines in entries):
        return
    from moto.logs.exceptions import ResourceAlreadyExistsException

    with _lock:  # creating a group or stream is check-then-act in moto
        if group not in logs_backend.groups:
            with contextlib.suppress(ResourceAlreadyExistsException):
                logs_backend.create_log_group(group, {})
        log_group = logs_backend.groups[group]
        if not log_group.subscription_filters:
            _store(log_group, entries)
            return
        for stream, timestamp, lines in entries:
            if not lines:
                continue
            if stream not in log_group.streams:
                log_group.create_log_stream(stream)
            log_group.streams[stream].put_log_events(
                [{"timestamp": timestamp, "message": line} for line in lines]
            )


def _store(log_group: Any, entries: list[tuple[str, int, list[str]]]) -> None:
    """What ``create_log_stream`` and ``LogStream.put_log_events`` store, for many streams at once.

    Per stream, moto reads the clock twice and builds the stream's ARN from its region's partition;
    here the call's streams share one reading (their ``creationTime`` and ``lastIngestionTime``) and
    each new stream is a copy of the first one moto made in the call, with its own name, ARN and
    (empty) containers. tests/scripts/sandbox/test_job_logs.py checks the result against moto's own.
    """
    from moto.core.utils import unix_time_millis, utcnow
    from moto.logs.models import LogEvent, LogStream

    now = None  # the call's clock reading: moto's own for the first stream it makes
    ingestion_ms = 0
    made: dict[str, Any] | None = None  # the first new stream as moto made it, before any event
    containers: list[str] | None = None  # its attributes each copy gets a new empty one of (its events)
    arn_prefix = ""
    for name, timestamp, lines in entries:
        if not lines:
            continue
        stream = log_group.streams.get(name)
        if stream is None and made is not None and arn_prefix:
            if containers is None:
                containers = [k for k, v in made.items() if isinstance(v, (list, dict, set))]
            fields = dict(made, log_stream_name=name, arn=arn_prefix + name)
            for key in containers:
                fields[key] = type(made[key])()
            stream = LogStream.__new__(LogStream)
            stream.__dict__.update(fields)
            LogStream._log_ids += 1
            log_group.streams[name] = stream
        elif stream is None:
            log_group.create_log_stream(name)
            stream = log_group.streams[name]
            if now is None:
                now = stream.creation_time
            else:
                stream.creation_time = now
            if made is None:
                made = dict(stream.__dict__)
                arn_prefix = stream.arn[: -len(name)] if stream.arn.endswith(name) else ""
        if now is None:
            now = utcnow()
        if not ingestion_ms:
            ingestion_ms = int(unix_time_millis(now))
        stream.last_ingestion_time = now
        stream.stored_bytes += sum(len(line) for line in lines)
        stream.events += [LogEvent(ingestion_ms, {"timestamp": timestamp, "message": line}) for line in lines]
        stream.upload_sequence_token += 1
