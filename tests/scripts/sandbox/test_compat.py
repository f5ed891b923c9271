"""One test per moto gap the sandbox fills (fanout_tools.sandbox.compat).

Each test first shows that moto as installed still has the gap, then that the workaround fills it.
When a moto upgrade fixes or changes a gap, the "still has the gap" half fails: re-check the
workaround (and drop it if moto now does the right thing).
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from fanout_tools.sandbox import compat
from moto import mock_aws

from tests.scripts.sandbox.conftest import batch_queue, moto_role, submit_job_task

pytestmark = pytest.mark.usefixtures("pristine_moto", "aws_env")

VALID = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


def test_moto_is_the_version_the_workarounds_were_written_for() -> None:
    import moto

    assert moto.__version__ == compat.MOTO_VERSION


# --- gap 1 ----------------------------------------------------------------------------------------


def test_gap1_validate_state_machine_definition_is_missing_then_really_validates() -> None:
    with mock_aws():
        sfn = boto3.client("stepfunctions")
        with pytest.raises(NotImplementedError):
            sfn.validate_state_machine_definition(definition=json.dumps(VALID))
        compat.add_validate_state_machine_definition()
        ok = sfn.validate_state_machine_definition(definition=json.dumps(VALID))
        assert ok["result"] == "OK"
        assert not [d for d in ok["diagnostics"] if d["severity"] == "ERROR"]
        bad = sfn.validate_state_machine_definition(
            definition=json.dumps({"StartAt": "Nowhere", "States": {"X": {"Type": "Bogus"}}})
        )
        assert bad["result"] == "FAIL"
        assert any(
            d["severity"] == "ERROR" and d["code"] == "SCHEMA_VALIDATION_FAILED" for d in bad["diagnostics"]
        )
        not_json = sfn.validate_state_machine_definition(definition="{nope")
        assert not_json["result"] == "FAIL"
        assert not_json["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"


def test_gap1_validation_reports_statelint_findings_as_warnings_only() -> None:
    # StartAt names a state that does not exist: statelint flags it; moto's parser accepts the shape.
    result = compat.validate_definition(
        json.dumps({"StartAt": "Missing", "States": {"Done": {"Type": "Succeed"}}})
    )
    warnings = [d for d in result["diagnostics"] if d["severity"] == "WARNING"]
    assert any("Missing" in d["message"] for d in warnings)


def test_gap1_list_state_machine_versions_is_missing_then_answers_empty() -> None:
    with mock_aws():
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="m", definition=json.dumps(VALID), roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        with pytest.raises(NotImplementedError):
            sfn.list_state_machine_versions(stateMachineArn=arn)
        compat.add_list_state_machine_versions()
        assert sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []


# --- gaps 3 and 9 ---------------------------------------------------------------------------------


def _run(
    sfn: Any, definition: dict[str, Any], role: str, name: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, name=f"{name}-run", input=json.dumps(payload or {}))[
        "executionArn"
    ]
    return _ended(sfn, execution)


def _ended(sfn: Any, execution: str) -> dict[str, Any]:
    """DescribeExecution of ``execution`` once it is no longer RUNNING (20 s at most)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise AssertionError(f"execution {execution} did not end in 20 s")


def test_gap3_and_gap9_submit_job_sync_needs_the_normalisation_hooks(sandbox_config: dict[str, Any]) -> None:
    """Unfilled: SubmitJob gets 'JobName' (botocore wants jobName) and fails. Filled: PascalCase result."""
    with mock_aws(config=sandbox_config):
        role = moto_role()
        queue = batch_queue(["true"], role)
        sfn = boto3.client("stepfunctions")
        selector = {"JobId.$": "$.JobId", "Status.$": "$.Status"}
        definition = {"StartAt": "Job", "States": {"Job": submit_job_task(queue, ResultSelector=selector)}}
        before = _run(sfn, definition, role, "unfilled")
        assert before["status"] == "FAILED"
        compat.fill_normalisation_hooks()
        after = _run(sfn, definition, role, "filled")
        assert after["status"] == "SUCCEEDED", after
        output = json.loads(after["output"])
        assert output["Status"] == "SUCCEEDED"
        assert output["JobId"]


def test_gap9_response_names_are_pascal_case_and_map_keys_are_kept() -> None:
    import botocore.session

    shape = (
        botocore.session.get_session().get_service_model("batch").operation_model("DescribeJobs").output_shape
    )
    response = {"jobs": [{"jobId": "1", "parameters": {"item": "x"}, "container": {"exitCode": 0}}]}
    compat.to_sfn_members(response, shape)
    assert response == {"Jobs": [{"JobId": "1", "Parameters": {"item": "x"}, "Container": {"ExitCode": 0}}]}


def test_gap3_parameter_names_are_matched_case_insensitively_and_recursively() -> None:
    import botocore.session

    shape = botocore.session.get_session().get_service_model("batch").operation_model("SubmitJob").input_shape
    params = {
        "JobName": "j",
        "ContainerOverrides": {"Environment": [{"Name": "A", "Value": "1"}]},
        "Parameters": {"Item": {"not": "a string"}},
    }
    compat.to_api_members(params, shape)
    assert params == {
        "jobName": "j",
        "containerOverrides": {"environment": [{"name": "A", "value": "1"}]},
        "parameters": {"Item": '{"not":"a string"}'},
    }


# --- gap 4 ----------------------------------------------------------------------------------------


def test_gap4_callbacks_go_to_port_5000_unless_moto_port_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    monkeypatch.delenv("MOTO_PORT", raising=False)
    assert moto_server_port() == "5000"
    assert boto_client_for("us-east-1", "batch").meta.endpoint_url == "http://localhost:5000"
    compat.set_callback_port(43210)
    assert boto_client_for("us-east-1", "batch").meta.endpoint_url == "http://localhost:43210"


# --- gap 10 ---------------------------------------------------------------------------------------


def test_gap10_states_errors_inside_an_inline_map_keep_their_name(
    sandbox_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed Batch job in an inline Map: AWS reports States.TaskFailed, unpatched moto States.Runtime."""
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # moto's no-Docker Batch fails every job
    with mock_aws(config=sandbox_config):
        role = moto_role()
        queue = batch_queue(["true"], role)
        sfn = boto3.client("stepfunctions")
        compat.fill_normalisation_hooks()
        definition = {
            "StartAt": "Map",
            "States": {
                "Map": {
                    "Type": "Map",
                    "ItemsPath": "$$.Execution.Input.items",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Job",
                        "States": {"Job": submit_job_task(queue)},
                    },
                    "End": True,
                }
            },
        }
        before = _run(sfn, definition, role, "unpatched", {"items": [1]})
        assert before["status"] == "FAILED"
        assert (
            before["error"] == "States.Runtime"
        )  # "Custom Error Names MUST NOT begin with the prefix 'States.'"
        compat.keep_states_errors_in_map_iterations()
        after = _run(sfn, definition, role, "patched", {"items": [1]})
        assert after["status"] == "FAILED"
        assert after["error"] == "States.TaskFailed"


# --- gap 11 ---------------------------------------------------------------------------------------


def test_gap11_describe_jobs_survives_jobs_submitted_meanwhile() -> None:
    from moto.batch.models import batch_backends

    backend = batch_backends["123456789012"]["us-east-1"]

    class Job:
        """A job whose describe() submits another job meanwhile, as a concurrent SubmitJob does."""

        def __init__(self, job_id: str) -> None:
            self.job_id, self.arn = job_id, f"arn:aws:batch:us-east-1:123456789012:job/{job_id}"

        def describe(self) -> dict[str, str]:
            backend._jobs[f"{self.job_id}-next"] = Job(f"{self.job_id}-next")
            return {"jobId": self.job_id}

    try:
        backend._jobs["first"] = Job("first")
        with pytest.raises(RuntimeError, match="changed size during iteration"):
            backend.describe_jobs(["first"])
        compat.make_describe_jobs_thread_safe()
        assert backend.describe_jobs(["first"]) == [{"jobId": "first"}]
        assert backend.describe_jobs(["arn:aws:batch:us-east-1:123456789012:job/first"]) == [
            {"jobId": "first"}
        ]
        assert backend.describe_jobs(["missing"]) == []
    finally:
        backend._jobs.clear()


# --- gap 12 ---------------------------------------------------------------------------------------


def test_gap12_a_tls_only_bucket_policy_does_not_deny_everything() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::runs", "arn:aws:s3:::runs/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyOtherPrefix",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::runs/secret/*",
            },
        ],
    }
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="runs")
        s3.put_bucket_policy(Bucket="runs", Policy=json.dumps(policy))
        with pytest.raises(ClientError, match=r"AccessDenied|Forbidden|403"):
            s3.put_object(Bucket="runs", Key="runs/x.json", Body=b"{}")
        compat.conditional_deny_needs_its_condition()
        s3.put_object(Bucket="runs", Key="runs/x.json", Body=b"{}")
        assert s3.get_object(Bucket="runs", Key="runs/x.json")["Body"].read() == b"{}"
        with pytest.raises(ClientError):  # an unconditional Deny still denies
            s3.put_object(Bucket="runs", Key="secret/x.json", Body=b"{}")


# --- gap 13 ---------------------------------------------------------------------------------------


def _distributed_map(percentage: float) -> dict[str, Any]:
    return {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Item",
                    "States": {"Item": {"Type": "Pass", "End": True}},
                },
                "ToleratedFailurePercentage": percentage,
                "End": True,
            }
        },
    }


def test_gap13_an_integer_tolerated_failure_percentage_parses(
    sandbox_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS's schema wants an integer ToleratedFailurePercentage; unpatched moto accepts only a float."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    key = (AmazonStateLanguageParser, "parse")  # as released, whatever ran in this process before
    monkeypatch.setattr(
        AmazonStateLanguageParser, "parse", compat.ORIGINALS.get(key, key[0].__dict__["parse"])
    )
    integer = json.dumps(_distributed_map(5))
    AmazonStateLanguageParser.parse(json.dumps(_distributed_map(5.0)))
    with pytest.raises(ASLParserException) as caught:
        AmazonStateLanguageParser.parse(integer)
    assert '"ToleratedFailurePercentage": 5' in caught.value.errors[0].replace(":5", ": 5")
    compat.accept_integer_tolerated_failure_percentage()
    compat.accept_integer_tolerated_failure_percentage()  # idempotent: wraps once
    program, _ = AmazonStateLanguageParser.parse(integer)
    assert program is not None
    assert compat.integer_percentages_as_floats(integer) == json.dumps(_distributed_map(5.0))
    assert compat.integer_percentages_as_floats("{not json") == "{not json"
    with mock_aws(config=sandbox_config):
        role = moto_role()
        sfn = boto3.client("stepfunctions")
        compat.add_validate_state_machine_definition()
        assert sfn.validate_state_machine_definition(definition=integer)["result"] == "OK"
        done = _run(sfn, _distributed_map(5), role, "integer", {"items": [1, 2, 3]})
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == [1, 2, 3]


# --- gaps 14 and 15 -------------------------------------------------------------------------------

FAILED_EXECUTIONS = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"]},
}


def _restore(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """moto's own ``owner.name`` for this test, whatever an earlier test (or apply_all) installed."""
    monkeypatch.setattr(owner, name, compat.ORIGINALS.get((owner, name), owner.__dict__[name]))


def _drain(sqs: Any, url: str, expect: int = 0) -> list[dict[str, Any]]:
    """The queue's messages; with ``expect``, waits up to 10 s for that many (an execution's event is
    put by its worker thread just after DescribeExecution shows it ended)."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            if len(messages) >= expect or time.monotonic() > deadline:
                return messages
            time.sleep(0.05)
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_gap14_executions_that_end_publish_status_change_events(
    sandbox_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS puts a "Step Functions Execution Status Change" event on the default bus; moto puts none."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    _restore(monkeypatch, BaseExecutionWorkerCommunication, "terminated")
    failing = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Bad", "Cause": "input"}}}
    with mock_aws(config=sandbox_config):
        role = moto_role()
        sqs, events, sfn = boto3.client("sqs"), boto3.client("events"), boto3.client("stepfunctions")
        url = sqs.create_queue(QueueName="seen")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="failed", EventPattern=json.dumps(FAILED_EXECUTIONS))
        events.put_targets(Rule="failed", Targets=[{"Id": "q", "Arn": queue_arn}])
        events.put_rule(Name="all", EventPattern=json.dumps({"source": ["aws.states"]}))
        events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": queue_arn}])

        assert _run(sfn, failing, role, "unpatched")["status"] == "FAILED"
        assert _drain(sqs, url) == []  # the gap: nothing was published

        compat.publish_execution_status_change_events()
        compat.publish_execution_status_change_events()  # idempotent: wraps once
        failed = _run(sfn, failing, role, "failing", {"count": -1})
        succeeded = _run(sfn, VALID, role, "succeeding")
        received = _drain(sqs, url, expect=3)
        by_status: dict[str, list[dict[str, Any]]] = {}
        for event in received:
            by_status.setdefault(event["detail"]["status"], []).append(event)
        assert {k: len(v) for k, v in by_status.items()} == {"FAILED": 2, "SUCCEEDED": 1}  # two rules match
        event = by_status["FAILED"][0]
        assert event["source"] == "aws.states"
        assert event["detail-type"] == "Step Functions Execution Status Change"
        assert event["resources"] == [failed["executionArn"]]
        detail = event["detail"]
        assert detail["executionArn"] == failed["executionArn"]
        assert detail["stateMachineArn"] == failed["stateMachineArn"]
        assert detail["name"] == "failing-run"
        assert json.loads(detail["input"]) == {"count": -1}
        assert (detail["error"], detail["cause"]) == ("Bad", "input")
        assert detail["output"] is None
        assert detail["startDate"] <= detail["stopDate"]
        assert isinstance(detail["startDate"], int)
        success = by_status["SUCCEEDED"][0]["detail"]
        assert success["executionArn"] == succeeded["executionArn"]
        assert success["output"] is not None


def test_gap15_event_rules_deliver_to_sns_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS publishes a matching event to an SNS topic target; moto fails on such a target."""
    from moto.events.models import Rule

    _restore(monkeypatch, Rule, "send_to_targets")
    entry = {
        "Source": "aws.states",
        "DetailType": "Step Functions Execution Status Change",
        "Resources": ["arn:aws:states:us-east-1:123456789012:execution:m:run"],
        "Detail": json.dumps(
            {"status": "FAILED", "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:run"}
        ),
    }
    with mock_aws():
        sqs, sns, events = boto3.client("sqs"), boto3.client("sns"), boto3.client("events")
        url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        events.put_rule(Name="failed", EventPattern=json.dumps(FAILED_EXECUTIONS))
        events.put_targets(Rule="failed", Targets=[{"Id": "topic", "Arn": topic}])

        with pytest.raises(NotImplementedError):  # the gap (an HTTP 500 from the server)
            events.put_events(Entries=[entry])
        assert _drain(sqs, url) == []

        compat.deliver_rule_targets_to_sns_topics()
        compat.deliver_rule_targets_to_sns_topics()  # idempotent: wraps once
        events.put_events(Entries=[entry])
        events.put_events(Entries=[{**entry, "Detail": json.dumps({"status": "SUCCEEDED"})}])  # no match
        received = _drain(sqs, url)
        assert len(received) == 1
        assert received[0]["TopicArn"] == topic
        event = json.loads(received[0]["Message"])
        assert event["detail-type"] == "Step Functions Execution Status Change"
        assert event["detail"]["status"] == "FAILED"
        assert event["resources"] == entry["Resources"]
        assert event["account"] == "123456789012"
        assert event["time"].endswith("Z")


# --- gap 20 (fault injection: stuck-runnable) -------------------------------------------------------

CAPACITY_LIMIT = {
    "reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
    "state": "RUNNABLE",
    "maxTimeSeconds": 600,
    "action": "CANCEL",
}


def test_gap20_job_queues_keep_their_job_state_time_limit_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS keeps and returns a queue's jobStateTimeLimitActions and cancels jobs stuck RUNNABLE for one
    of their reasons; moto drops them. Kept, returned, and their (scaled) clock answered."""
    from moto.batch.models import JobQueue
    from moto.batch.responses import BatchResponse

    for owner, name in (
        (BatchResponse, "createjobqueue"),
        (BatchResponse, "updatejobqueue"),
        (JobQueue, "describe"),
    ):
        _restore(monkeypatch, owner, name)
    with mock_aws():
        role = moto_role()
        batch_queue(["true"], role)
        batch = boto3.client("batch")
        ce = batch.describe_compute_environments()["computeEnvironments"][0]["computeEnvironmentArn"]
        order = [{"order": 1, "computeEnvironment": ce}]

        def create(name: str) -> dict[str, Any]:
            batch.create_job_queue(
                jobQueueName=name,
                state="ENABLED",
                priority=1,
                computeEnvironmentOrder=order,
                jobStateTimeLimitActions=[CAPACITY_LIMIT],
            )
            return dict(batch.describe_job_queues(jobQueues=[name])["jobQueues"][0])

        assert "jobStateTimeLimitActions" not in create("unpatched")  # the gap

        monkeypatch.setenv(compat.JOB_STATE_TIME_SCALE_ENV, "0.001")
        compat.keep_job_state_time_limit_actions()
        compat.keep_job_state_time_limit_actions()  # idempotent: wraps once
        assert create("kept")["jobStateTimeLimitActions"] == [CAPACITY_LIMIT]
        longer = {**CAPACITY_LIMIT, "maxTimeSeconds": 1200}
        batch.update_job_queue(jobQueue="kept", jobStateTimeLimitActions=[longer])
        assert batch.describe_job_queues(jobQueues=["kept"])["jobQueues"][0]["jobStateTimeLimitActions"] == [
            longer
        ]
        batch.update_job_queue(jobQueue="kept", priority=2)  # an update that does not name them keeps them
        assert batch.describe_job_queues(jobQueues=["kept"])["jobQueues"][0]["jobStateTimeLimitActions"] == [
            longer
        ]

        from moto.batch.models import batch_backends

        queue = batch_backends["123456789012"]["us-east-1"].get_job_queue("kept")
        stuck = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested"
        assert compat.time_limit_action(queue, stuck) == pytest.approx(
            (
                1.2,
                "Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
            )
        )
        assert compat.time_limit_action(queue, "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - too big") is None


@pytest.mark.parametrize(
    ("raw", "scale"), [("", 1.0), ("0.01", 0.01), ("2", 2.0), ("0", 1.0), ("-1", 1.0), ("x", 1.0)]
)
def test_gap20_the_sandbox_clock_scale_is_a_positive_number_or_one(
    monkeypatch: pytest.MonkeyPatch, raw: str, scale: float
) -> None:
    monkeypatch.setenv(compat.JOB_STATE_TIME_SCALE_ENV, raw)
    assert compat.job_state_time_scale() == scale


# --- gap 16 ---------------------------------------------------------------------------------------


def _result_writer_map() -> dict[str, Any]:
    """Gap 13's Distributed Map tolerating every failure, whose child fails on item 2, with a ResultWriter."""
    definition = _distributed_map(100.0)
    state = definition["States"]["Map"]
    state["ItemProcessor"]["StartAt"] = "Check"
    state["ItemProcessor"]["States"] = {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Boom"}],
            "Default": "Fine",
        },
        "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "item two"},
        "Fine": {"Type": "Pass", "Result": "ok", "End": True},
    }
    state["ResultWriter"] = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "results", "Prefix": "out"},
    }
    return definition


def _result_files(sfn: Any, s3: Any, role: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    done = _run(sfn, _result_writer_map(), role, name, {"items": [1, 2, 3]})
    assert done["status"] == "SUCCEEDED", done
    details = json.loads(done["output"])["ResultWriterDetails"]
    manifest = json.loads(s3.get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read())
    files = {
        status: json.loads(s3.get_object(Bucket="results", Key=entries[0]["Key"])["Body"].read())
        for status, entries in manifest["ResultFiles"].items()
        if entries
    }
    return manifest, files


def test_gap16_a_result_writer_writes_each_childs_outcome(sandbox_config: dict[str, Any]) -> None:
    """AWS writes SUCCEEDED_n.json / FAILED_n.json beside the manifest; moto writes an empty manifest."""
    with mock_aws(config=sandbox_config):
        role = moto_role()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="results")
        sfn = boto3.client("stepfunctions")
        manifest, files = _result_files(sfn, s3, role, "unpatched")
        assert manifest["ResultFiles"] == {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        compat.write_map_run_result_files()
        compat.write_map_run_result_files()  # idempotent
        manifest, files = _result_files(sfn, s3, role, "patched")
        assert sorted(files) == ["FAILED", "SUCCEEDED"]
        assert sorted(json.loads(c["Input"]) for c in files["SUCCEEDED"]) == [1, 3]
        assert {json.loads(c["Output"]) for c in files["SUCCEEDED"]} == {"ok"}
        (failed,) = files["FAILED"]
        assert (json.loads(failed["Input"]), failed["Status"], failed["Error"], failed["Cause"]) == (
            2,
            "FAILED",
            "Boom",
            "item two",
        )
        assert failed["ExecutionArn"].startswith("arn:aws:states:")


def test_apply_all_installs_every_workaround(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.responses import StepFunctionResponse

    compat.apply_all(40404)
    assert hasattr(StepFunctionResponse, "validate_state_machine_definition")
    assert hasattr(StepFunctionResponse, "list_state_machine_versions")
    from moto.events.models import Rule
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    assert getattr(BaseExecutionWorkerCommunication.terminated, "_fanout_sandbox", False)
    assert getattr(Rule.send_to_targets, "_fanout_sandbox", False)
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker,
    )

    assert getattr(worker.DistributedItemProcessorWorker._eval_job, "_fanout_sandbox", False)
    from moto.batch.responses import BatchResponse

    assert getattr(BatchResponse.createjobqueue, "_fanout_sandbox", False)
    import os

    from moto import backends

    assert isinstance(backends.list_of_moto_modules(), tuple)
    assert os.environ["MOTO_PORT"] == "40404"
    # sanity: the patched server still reports real API errors
    with pytest.raises(ClientError), mock_aws():
        boto3.client("stepfunctions").describe_state_machine(
            stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:none"
        )


# --- gaps 17-19: stopping and redriving executions ---------------------------------------------------

WAITING_MAP = {
    "StartAt": "Map",
    "States": {
        "Map": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Wait",
                "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}},
            },
            "End": True,
        }
    },
}


def _stopped(sfn: Any, role: str, name: str) -> dict[str, Any]:
    """Start WAITING_MAP, stop it while its iterations wait, and return it once it has ended."""
    machine = sfn.create_state_machine(name=name, definition=json.dumps(WAITING_MAP), roleArn=role)
    arn = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name=f"{name}-run", input=json.dumps({"items": [1, 2, 3]})
    )["executionArn"]
    time.sleep(0.5)  # the iterations are waiting
    sfn.stop_execution(executionArn=arn, cause="stopped by the test")
    return _ended(sfn, arn)


def test_gap17_a_stopped_execution_in_a_map_ends_aborted(
    sandbox_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS: a stopped execution is ABORTED. Unpatched moto: FAILED with States.Runtime (AttributeError)."""
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    _restore(monkeypatch, Environment, "set_error")
    with mock_aws(config=sandbox_config):
        role = moto_role()
        sfn = boto3.client("stepfunctions")
        before = _stopped(sfn, role, "unpatched")
        assert (before["status"], before.get("error")) == ("FAILED", "States.Runtime")
        compat.stopped_executions_end_aborted()
        compat.stopped_executions_end_aborted()  # idempotent: wraps once
        after = _stopped(sfn, role, "patched")
        assert after["status"] == "ABORTED"
        events = sfn.get_execution_history(executionArn=after["executionArn"])["events"]
        kinds = [event["type"] for event in events]
        assert "ExecutionAborted" in kinds and "ExecutionFailed" not in kinds
        # an execution that fails on its own still fails
        failing = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Bad", "Cause": "input"}}}
        assert _run(sfn, failing, role, "failing")["error"] == "Bad"


def test_gap18_listing_a_map_runs_children_fails_at_once_with_a_client_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unpatched: a server error (HTTP 500, retried by SDKs). Patched: ValidationException, not retried."""
    from moto.stepfunctions.responses import StepFunctionResponse

    _restore(monkeypatch, StepFunctionResponse, "list_executions")
    map_run = "arn:aws:states:us-east-1:123456789012:mapRun:machine/FanOut:0b2e3c4d"
    with mock_aws():
        sfn = boto3.client("stepfunctions")
        with pytest.raises(TypeError):  # the gap (an HTTP 500 from the server)
            sfn.list_executions(mapRunArn=map_run)
        compat.refuse_listing_map_run_children()
        compat.refuse_listing_map_run_children()  # idempotent: wraps once
        with pytest.raises(ClientError) as refused:
            sfn.list_executions(mapRunArn=map_run)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "cannot list a Map Run's child executions" in refused.value.response["Error"]["Message"]
        machine = "arn:aws:states:us-east-1:123456789012:stateMachine:none"
        with pytest.raises(ClientError) as missing:  # listing by state machine: moto's answer, as before
            sfn.list_executions(stateMachineArn=machine)
        assert missing.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_gap19_redrive_execution_is_refused_as_aws_refuses_an_execution_it_cannot_redrive(
    sandbox_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unpatched: NotImplementedError (HTTP 500). Patched: ExecutionNotRedrivable saying why, after
    ExecutionDoesNotExist for an unknown execution."""
    from moto.stepfunctions.responses import StepFunctionResponse

    monkeypatch.setattr(StepFunctionResponse, "redrive_execution", None, raising=False)
    monkeypatch.delattr(StepFunctionResponse, "redrive_execution")  # moto as released: no such method
    failing = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Bad", "Cause": "input"}}}
    with mock_aws(config=sandbox_config):
        role = moto_role()
        sfn = boto3.client("stepfunctions")
        failed = _run(sfn, failing, role, "failing")
        with pytest.raises(NotImplementedError):  # the gap
            sfn.redrive_execution(executionArn=failed["executionArn"])
        compat.refuse_redrive_execution()
        with pytest.raises(ClientError) as refused:
            sfn.redrive_execution(executionArn=failed["executionArn"], clientToken="token-1")
        error = refused.value.response["Error"]
        assert error["Code"] == "ExecutionNotRedrivable"
        assert error["Message"] == compat.REDRIVE_REFUSAL
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert sfn.describe_execution(executionArn=failed["executionArn"])["status"] == "FAILED"  # untouched
        unknown = failed["executionArn"].replace("failing-run", "no-such-run")
        with pytest.raises(ClientError) as missing:
            sfn.redrive_execution(executionArn=unknown)
        assert missing.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def test_apply_all_installs_the_stop_and_redrive_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.responses import StepFunctionResponse

    for owner, name in ((Environment, "set_error"), (StepFunctionResponse, "list_executions")):
        _restore(monkeypatch, owner, name)
    monkeypatch.setattr(StepFunctionResponse, "redrive_execution", None, raising=False)
    compat.apply_all(40405)
    assert getattr(Environment.set_error, "_fanout_sandbox", False)
    assert getattr(StepFunctionResponse.list_executions, "_fanout_sandbox", False)
    assert StepFunctionResponse.redrive_execution is not None


# --- end of gaps 17-19 -----------------------------------------------------------------------------


# --- gap 21 ---------------------------------------------------------------------------------------

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def _create_role(client: Any, call: str, attempt: int, name: str) -> Any:
    """CreateRole as an AWS SDK sends it: one invocation id per call, the same on each attempt."""
    from urllib.parse import urlencode

    body = {
        "Action": "CreateRole",
        "RoleName": name,
        "AssumeRolePolicyDocument": TRUST,
        "Version": "2010-05-08",
    }
    return client.post(
        "/",
        data=urlencode(body),
        headers={
            "Host": "iam.amazonaws.com",
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261127/us-east-1/iam/aws4_request, "
            "SignedHeaders=host, Signature=0",
            "amz-sdk-invocation-id": call,
            "amz-sdk-request": f"attempt={attempt}; max=3",
        },
    )


def test_gap21_a_retried_sdk_call_gets_its_first_answer_instead_of_being_done_twice() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.test import Client

    with mock_aws():
        moto_app = DomainDispatcherApplication(create_backend_app)
        plain = Client(moto_app)
        assert _create_role(plain, "call-1", 1, "gap21-plain").status_code == 200
        again = _create_role(plain, "call-1", 2, "gap21-plain")
        assert again.status_code == 409 and b"EntityAlreadyExists" in again.data  # moto does it again

        replaying = Client(compat.replay_retried_sdk_requests(moto_app))
        first = _create_role(replaying, "call-2", 1, "gap21-replayed")
        retried = _create_role(replaying, "call-2", 2, "gap21-replayed")
        assert first.status_code == retried.status_code == 200
        assert retried.data == first.data
        # another call is another request: done, and refused as AWS refuses it
        assert _create_role(replaying, "call-3", 1, "gap21-replayed").status_code == 409
        roles = boto3.client("iam").list_roles()["Roles"]
        assert [r["RoleName"] for r in roles].count("gap21-replayed") == 1


def test_gap21_an_attempt_that_arrives_while_the_first_runs_waits_for_its_answer() -> None:
    import threading

    from werkzeug.test import Client

    calls: list[str] = []

    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ.get("HTTP_AMZ_SDK_REQUEST", "a read"))
        time.sleep(0.3)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"done by {calls[0]}".encode()]

    app = compat.replay_retried_sdk_requests(slow_app)
    answers: list[bytes] = []

    def send(attempt: int) -> None:
        headers = {"amz-sdk-invocation-id": "call-1", "amz-sdk-request": f"attempt={attempt}; max=3"}
        answers.append(Client(app).post("/", data="x", headers=headers).data)

    first = threading.Thread(target=send, args=(1,))
    first.start()
    time.sleep(0.05)
    send(2)
    first.join()
    assert calls == ["attempt=1; max=3"]
    assert answers == [b"done by attempt=1; max=3"] * 2
    # reads are never held back or answered from memory
    assert Client(app).get("/", headers={"amz-sdk-invocation-id": "call-1"}).status_code == 200
    assert len(calls) == 2


# --- gap 22 ---------------------------------------------------------------------------------------


def test_gap22_the_server_lists_moto_s_modules_once_not_at_every_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from moto import backends

    listed: list[str] = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: listed.append(path) or real_listdir(path))
    assert "batch" in backends.list_of_moto_modules() and "iam" in backends.list_of_moto_modules()
    assert len(listed) == 2  # moto as installed lists its folder for every request it dispatches
    expected = set(backends.list_of_moto_modules())

    compat.list_moto_modules_once()
    listed.clear()
    assert set(backends.list_of_moto_modules()) == expected
    assert "batch" in backends.list_of_moto_modules()
    assert listed == []


# --- gap 23 ---------------------------------------------------------------------------------------


def _managed_policies(backend: Any) -> dict[str, tuple[Any, ...]]:
    return {
        p.arn: (
            p.name,
            p.path,
            p.default_version_id,
            [(v.version_id, v.document, v.is_default) for v in p.versions],
            p.create_date,
            p.update_date,
        )
        for p in backend.aws_managed_policies
    }


def test_gap23_managed_policies_are_parsed_once_and_each_backend_still_gets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.iam import models
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    parses = []
    real_loads = json.loads

    def counting_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        if text is aws_managed_policies_data:
            parses.append(1)
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(models.json, "loads", counting_loads)
    original = compat.ORIGINALS.get((models.IAMBackend, "_init_aws_policies"), compat.MISSING)
    if original is not compat.MISSING:  # the sandbox tests' session has it installed: take it off here
        monkeypatch.setattr(models.IAMBackend, "_init_aws_policies", original)
    as_released = [models.IAMBackend("us-east-1", "111111111111") for _ in range(2)]
    assert len(parses) == 2  # moto as installed parses the whole file for every backend

    parses.clear()
    compat.parse_managed_policies_once()
    patched = [models.IAMBackend("us-east-1", "111111111111") for _ in range(3)]

    assert len(parses) == 1
    assert _managed_policies(patched[0]) == _managed_policies(as_released[0])
    assert "arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole" in _managed_policies(patched[2])
    first, second = (next(iter(b.aws_managed_policies)) for b in patched[:2])
    assert first is not second  # attachments counted per backend, as before


# --- gap 24 ---------------------------------------------------------------------------------------


def test_gap24_an_access_key_is_looked_up_without_creating_a_backend_per_partition() -> None:
    from moto.iam import models

    original = compat.ORIGINALS.get((models, "get_account_id_from"), models.get_account_id_from)
    with mock_aws():
        boto3.client("sts").get_caller_identity()  # the default account's aws-partition backends exist
        account = models.iam_backends["123456789012"]
        before = set(account.keys())
        assert original("AKIAUNKNOWN") == "123456789012"
        created = set(account.keys()) - before
        assert len(created) >= 5  # moto as installed creates the backends of every partition

    with mock_aws():
        compat.look_up_access_keys_in_existing_iam_backends()
        other = models.iam_backends["222233334444"]["aws"]  # a second account, with a key of its own
        other.create_user("us-east-1", "u")
        key = other.create_access_key("u").access_key_id
        account = models.iam_backends["123456789012"]
        before = set(account.keys())

        found = models.get_account_id_from(key), models.get_account_id_from("AKIAUNKNOWN")

        assert set(account.keys()) == before
        assert found == (original(key), original("AKIAUNKNOWN")) == ("222233334444", "123456789012")
