"""Job output lands in CloudWatch Logs where AWS Batch's awslogs driver puts it."""

from __future__ import annotations

from types import SimpleNamespace

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
