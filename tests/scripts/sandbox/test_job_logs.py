"""Job output lands in CloudWatch Logs where AWS Batch's awslogs driver puts it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import boto3
from fanout_tools.sandbox import job_logs
from moto import mock_aws
from moto.logs.models import logs_backends


def _definition(options: dict[str, str] | None) -> SimpleNamespace:
    config = {"logDriver": "awslogs", "options": options} if options is not None else None
    return SimpleNamespace(
        name="fanout-job", container_properties={"logConfiguration": config} if config else {}
    )


def test_destination_follows_the_job_definitions_awslogs_options() -> None:
    assert job_logs.destination(
        _definition({"awslogs-group": "/aws/batch/fanout", "awslogs-stream-prefix": "job"}), "j-1"
    ) == (
        "/aws/batch/fanout",
        "job/default/j-1",
    )
    # no options: Batch's default group, and the job definition's name as the prefix
    assert job_logs.destination(_definition(None), "j-2") == ("/aws/batch/job", "fanout-job/default/j-2")


@mock_aws
def test_published_lines_are_read_back_with_get_log_events() -> None:
    backend = logs_backends["123456789012"]["us-east-1"]
    job_logs.publish(backend, "/aws/batch/job", "fanout-job/default/j-1", ["--- attempt 1", "hello"])
    job_logs.publish(backend, "/aws/batch/job", "fanout-job/default/j-1", ["--- attempt 2", "again"])
    job_logs.publish(backend, "/aws/batch/job", "fanout-job/default/j-1", [])
    logs = boto3.client("logs", region_name="us-east-1")
    events = logs.get_log_events(
        logGroupName="/aws/batch/job", logStreamName="fanout-job/default/j-1", startFromHead=True
    )["events"]
    assert [e["message"] for e in events] == ["--- attempt 1", "hello", "--- attempt 2", "again"]


def _lines(count: int, stream: str) -> list[str]:
    return [f"{stream} line {n}" for n in range(count)]


@mock_aws
def test_many_streams_published_at_once_are_stored_as_moto_stores_them() -> None:
    """``publish_many`` writes many streams in one call, straight to the log group: each must be what
    moto's own CreateLogStream + PutLogEvents would have stored, attribute for attribute, and read back
    the same through the API."""
    from moto.logs.models import LogStream

    backend = logs_backends["123456789012"]["us-east-1"]
    names = ["jd/default/p:0", "jd/default/p:1", "jd/default/p:2"]
    job_logs.publish_many(backend, "/ours", [(names[0], 1000, _lines(2, "a"))])  # a stream from before
    job_logs.publish_many(backend, "/ours", [(n, 2000 + i, _lines(i + 1, n)) for i, n in enumerate(names)])
    backend.create_log_group("/motos", {})
    theirs = backend.groups["/motos"]
    for i, name in enumerate([names[0], *names]):
        if name not in theirs.streams:
            theirs.create_log_stream(name)
        lines = _lines(2, "a") if i == 0 else _lines(i, name)
        theirs.streams[name].put_log_events(
            [{"timestamp": 1000 if i == 0 else 1999 + i, "message": line} for line in lines]
        )

    ours = backend.groups["/ours"]
    assert list(ours.streams) == list(theirs.streams) == names
    for name in names:
        mine, moto_made = vars(ours.streams[name]), vars(theirs.streams[name])
        assert type(ours.streams[name]) is LogStream and mine.keys() == moto_made.keys()
        assert mine["arn"] == moto_made["arn"].replace("/motos", "/ours")
        assert mine["log_group"] is ours and mine["events"] is not moto_made["events"]
        same = {"arn", "log_group", "events", "creation_time", "last_ingestion_time"}
        assert {k: v for k, v in mine.items() if k not in same} == {
            k: v for k, v in moto_made.items() if k not in same
        }
        assert [vars(e).keys() for e in mine["events"]] == [vars(e).keys() for e in moto_made["events"]]
        assert [(e.timestamp, e.message) for e in mine["events"]] == [
            (e.timestamp, e.message) for e in moto_made["events"]
        ]
    ids = [e.event_id for s in ours.streams.values() for e in s.events]
    assert len(set(ids)) == len(ids)

    logs = boto3.client("logs", region_name="us-east-1")
    described = {
        group: logs.describe_log_streams(logGroupName=group)["logStreams"] for group in ("/ours", "/motos")
    }
    assert [sorted(s) for s in described["/ours"]] == [sorted(s) for s in described["/motos"]]
    for name in names:
        read = [
            [e["message"] for e in logs.get_log_events(logGroupName=g, logStreamName=name)["events"]]
            for g in ("/ours", "/motos")
        ]
        assert read[0] == read[1]


@mock_aws
def test_a_group_with_a_subscription_filter_forwards_what_is_published(monkeypatch: Any) -> None:
    """Streams of a group that has subscribers go through moto's own PutLogEvents, which forwards the
    events to the filter's destination."""
    from moto.logs.models import LogStream

    backend = logs_backends["123456789012"]["us-east-1"]
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="sub", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="sub")["StreamDescription"]["StreamARN"]
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/subscribed")
    logs.put_subscription_filter(
        logGroupName="/subscribed", filterName="all", filterPattern="", destinationArn=arn
    )
    sent: list[list[str]] = []
    monkeypatch.setattr(
        LogStream,
        "_send_log_events",
        lambda self, **kw: sent.append([e["message"] for e in kw["log_events"]]),
    )
    job_logs.publish_many(
        backend, "/subscribed", [("s/default/j:0", 1, ["x", "y"]), ("s/default/j:1", 1, ["z"])]
    )
    assert sent == [["x", "y"], ["z"]]
