"""Alerts end to end in a fresh local sandbox: a failed execution puts exactly one alert on a queue
subscribed to the stack's alerts topic; a succeeded execution puts none.

The path is AWS's: Step Functions' "Step Functions Execution Status Change" event on the default bus
-> the stack's EventBridge rule (FAILED, TIMED_OUT, ABORTED of this state machine) -> the SNS topic
-> an SQS subscription. moto publishes no such events and does not deliver rule targets to topics:
``fanout_tools.sandbox.compat`` fills both gaps (14, 15), each tested in tests/scripts/sandbox.
It runs on the shared inline stack (tests/sandbox_stacks.py), whose alert_emails subscribe an address.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.sandbox_stacks import SHARED_INLINE_VARIABLES, SHARED_SANDBOX_GROUP, DeployedStack

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(SHARED_SANDBOX_GROUP)]
SANDBOX_STACKS = {"inline": SHARED_INLINE_VARIABLES}

VARS = SHARED_INLINE_VARIABLES
RUN_TIMEOUT = 120.0


@dataclass
class Alerted:
    stack: Any  # fanout_tools.deploy.Stack
    outputs: dict[str, Any]
    sqs: Any
    queue_url: str

    def drain(self, settle_seconds: float) -> list[dict[str, Any]]:
        """Every message on the queue, waiting ``settle_seconds`` after the last one arrived."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if batch:
                deadline = time.monotonic() + settle_seconds
        return messages


@pytest.fixture(scope="module")
def alerted(inline_stack: DeployedStack) -> Alerted:
    """The shared stack with a queue subscribed to its alerts topic (a failed run of another module on
    it leaves an alert there: each case drains the queue first)."""
    sqs = inline_stack.client("sqs")
    url = sqs.create_queue(QueueName=f"alerts-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns = inline_stack.client("sns")
    sns.subscribe(TopicArn=inline_stack.outputs["alerts_topic_arn"], Protocol="sqs", Endpoint=queue_arn)
    return Alerted(inline_stack.stack, inline_stack.outputs, sqs, url)


def _execute(alerted: Alerted, payload: dict[str, Any]) -> Any:
    from fanout_tools import run

    name = f"alerts-{uuid.uuid4().hex[:10]}"
    arn = run.start_execution(alerted.stack, alerted.outputs, payload, name=name)
    return run.follow(alerted.stack, arn, timeout=RUN_TIMEOUT, poll_seconds=0.3)


def test_the_topic_is_encrypted_and_the_alarm_watches_the_metrics_aws_publishes(alerted: Alerted) -> None:
    region = alerted.outputs["region"]
    sns = alerted.stack.target.client("sns", region=region)
    attributes = sns.get_topic_attributes(TopicArn=alerted.outputs["alerts_topic_arn"])["Attributes"]
    assert (
        attributes["KmsMasterKeyId"] == f"alias/{VARS['name']}-alerts"
    )  # the stack's key, not alias/aws/sns
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=alerted.outputs["alerts_topic_arn"])
    assert {s["Protocol"] for s in subscriptions["Subscriptions"]} == {"email", "sqs"}
    cloudwatch = alerted.stack.target.client("cloudwatch", region=region)
    (alarm,) = cloudwatch.describe_alarms(AlarmNamePrefix=VARS["name"])["MetricAlarms"]
    watched = {q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q}
    assert watched == {"ExecutionsFailed", "ExecutionsTimedOut"}
    assert alarm["AlarmActions"] == [alerted.outputs["alerts_topic_arn"]]


def test_a_failed_execution_puts_exactly_one_alert_on_the_subscribed_queue(alerted: Alerted) -> None:
    alerted.drain(settle_seconds=0.5)
    result = _execute(alerted, {"count": -1})  # the generator rejects the input: the execution fails
    assert result.status == "FAILED"
    messages = alerted.drain(settle_seconds=3.0)
    assert len(messages) == 1, messages
    assert messages[0]["TopicArn"] == alerted.outputs["alerts_topic_arn"]
    event = json.loads(messages[0]["Message"])
    assert event["source"] == "aws.states"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["detail"]["status"] == "FAILED"
    assert event["detail"]["stateMachineArn"] == alerted.outputs["state_machine_arn"]
    assert event["detail"]["executionArn"] == result.execution_arn
    assert event["resources"] == [result.execution_arn]
    assert event["detail"]["error"] == "InvalidInputError"


def test_a_succeeded_execution_puts_no_alert(alerted: Alerted) -> None:
    alerted.drain(settle_seconds=0.5)
    result = _execute(alerted, {"items": [{"value": "fine"}]})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert alerted.drain(settle_seconds=3.0) == []
