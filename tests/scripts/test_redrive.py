"""``fanout redrive`` offline: which executions it refuses and what it says instead, the exact
RedriveExecution request (checked against botocore's Step Functions model with a Stubber), and the
service's refusals (the sandbox's among them) as one-line errors."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from fanout_tools import redrive
from fanout_tools.cli import build_parser
from fanout_tools.errors import FanoutError
from fanout_tools.executions import ITEMS_FAILED_ERROR
from fanout_tools.sandbox.compat import REDRIVE_REFUSAL

ARN = "arn:aws:states:us-east-1:123456789012:execution:fanout:run-1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:fanout"
START = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


class Target:
    name = "sandbox"


class Stack:
    name = "fanout"

    def __init__(self, sfn: Any = None) -> None:
        self.sfn = sfn
        self.target = Target()

    def client(self, service: str) -> Any:
        assert service == "stepfunctions"
        return self.sfn

    def hint(self, make_args: str) -> str:
        return f"make {make_args}"


def described(status: str, **extra: Any) -> dict[str, Any]:
    """A DescribeExecution answer, shaped as botocore's model says."""
    answer: dict[str, Any] = {
        "executionArn": ARN,
        "stateMachineArn": MACHINE,
        "name": "run-1",
        "status": status,
        "startDate": START,
    }
    if status != "RUNNING":
        answer["stopDate"] = START + dt.timedelta(minutes=3)
    answer.update(extra)
    return answer


# --- what is refused, and what is said instead -----------------------------------------------------


def test_a_run_whose_items_failed_is_refused_pointing_at_rerun_failed() -> None:
    refused = redrive.refusal(
        Stack(), described("FAILED", error=ITEMS_FAILED_ERROR, redriveStatus="REDRIVABLE")
    )  # type: ignore[arg-type]
    assert refused is not None
    assert refused.message.startswith("run-1 failed with ItemsFailed: every item was attempted")
    assert "would only repeat the final check" in refused.message
    assert refused.hint == (
        "rerun exactly the failed items: `make rerun-failed EXECUTION=run-1` "
        "(see them: `make status EXECUTION=run-1`)"
    )


@pytest.mark.parametrize(
    ("status", "says", "todo"),
    [
        ("RUNNING", "run-1 is still running: there is nothing to redrive", "make stop EXECUTION=run-1"),
        ("PENDING_REDRIVE", "run-1 is being redriven already", "make status EXECUTION=run-1"),
        ("SUCCEEDED", "run-1 succeeded: there is nothing to redrive", "make run"),
    ],
)
def test_running_and_succeeded_executions_are_refused(status: str, says: str, todo: str) -> None:
    refused = redrive.refusal(Stack(), described(status))  # type: ignore[arg-type]
    assert refused is not None
    assert refused.message.startswith(says)
    assert todo in refused.hint


@pytest.mark.parametrize(
    ("reason", "meaning"),
    [
        ("Execution redrivable period exceeded.", "it ended more than 14 days ago"),
        ("Execution history event limit exceeded.", "its history reached the 25,000-event limit"),
        ("Execution has exceeded the max execution time.", "it ran past the longest time"),
        ("Execution was started before the launch of RedriveExecution.", "it started before Step Functions"),
        ("State machine is in DELETING status.", "its state machine is being deleted"),
        ("Something AWS adds later.", "Step Functions says so"),
    ],
)
def test_aws_reasons_for_not_redrivable_become_what_they_mean_and_what_to_do(
    reason: str, meaning: str
) -> None:
    refused = redrive.refusal(
        Stack(), described("ABORTED", redriveStatus="NOT_REDRIVABLE", redriveStatusReason=reason)
    )  # type: ignore[arg-type]
    assert refused is not None
    assert refused.message.startswith(f"run-1 cannot be redriven: {meaning}")
    assert f"(Step Functions: {reason})" in refused.message
    assert "make rerun-failed EXECUTION=run-1" in refused.hint and "make run" in refused.hint


def test_a_map_run_child_is_sent_to_its_parent() -> None:
    refused = redrive.refusal(Stack(), described("FAILED", redriveStatus="REDRIVABLE_BY_MAP_RUN"))  # type: ignore[arg-type]
    assert refused is not None and "child execution of a Map Run" in refused.message


@pytest.mark.parametrize(
    "answer",
    [
        described("ABORTED", redriveStatus="REDRIVABLE"),
        described("TIMED_OUT", redriveStatus="REDRIVABLE"),
        described("FAILED", error="States.TaskFailed", redriveStatus="REDRIVABLE"),
        described("FAILED", error="InvalidInputError"),  # no redriveStatus (the sandbox): the service decides
    ],
)
def test_stopped_timed_out_and_other_failures_may_be_redriven(answer: dict[str, Any]) -> None:
    assert redrive.refusal(Stack(), answer) is None  # type: ignore[arg-type]


# --- the request ------------------------------------------------------------------------------------


def test_the_client_token_is_one_per_redrive_and_fits_the_api() -> None:
    first, again, second = (
        redrive.client_token(ARN, 0),
        redrive.client_token(ARN, 0),
        redrive.client_token(ARN, 1),
    )
    other = redrive.client_token(ARN.replace("run-1", "run-2"), 0)
    assert first == again  # the same redrive asked twice: one redrive
    assert len({first, second, other}) == 3
    for token in (first, second, other):
        assert 1 <= len(token) <= 64 and re.fullmatch(r"[!-~]+", token)
    assert first.startswith("fanout-redrive-1-") and second.startswith("fanout-redrive-2-")


def test_the_request_is_valid_for_botocores_stepfunctions_model() -> None:
    model = boto3.session.Session().client("stepfunctions", region_name="us-east-1").meta.service_model
    shape = model.operation_model("RedriveExecution").input_shape
    request = redrive.request(described("ABORTED", redriveCount=3))
    validate_parameters(request, shape)  # raises ParamValidationError on any mismatch
    assert set(request) == set(shape.members)
    assert request["clientToken"] == redrive.client_token(ARN, 3)


@pytest.fixture
def sfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).client("stepfunctions")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_an_aborted_run_is_redriven_with_exactly_the_request_the_model_allows(
    sfn: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = sfn
    monkeypatch.setattr(redrive, "POLL_SECONDS", 0.0)
    stubber.add_response(
        "describe_execution",
        described("ABORTED", redriveStatus="REDRIVABLE", redriveCount=0),
        {"executionArn": ARN},
    )
    stubber.add_response(
        "redrive_execution",
        {"redriveDate": START + dt.timedelta(hours=1)},
        {"executionArn": ARN, "clientToken": redrive.client_token(ARN, 0)},
    )
    stubber.add_response("describe_execution", described("ABORTED", redriveCount=0), {"executionArn": ARN})
    stubber.add_response("describe_execution", described("RUNNING", redriveCount=1), {"executionArn": ARN})

    redriven = redrive.redrive_execution(Stack(client), ARN)  # type: ignore[arg-type]

    assert (redriven.name, redriven.status_before, redriven.redrive_count) == ("run-1", "ABORTED", 1)


def test_a_run_whose_items_failed_is_never_sent_to_the_service(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    stubber.add_response(
        "describe_execution", described("FAILED", error=ITEMS_FAILED_ERROR, cause="2 of 10 items failed")
    )
    with pytest.raises(redrive.RedriveRefused, match="ItemsFailed"):
        redrive.redrive_execution(Stack(client), ARN)  # type: ignore[arg-type]
    # the fixture checks that no other call (RedriveExecution) was made or expected


@pytest.mark.parametrize(
    ("code", "message", "says", "todo"),
    [
        (
            "ExecutionNotRedrivable",
            REDRIVE_REFUSAL,
            f"cannot redrive run-1: {REDRIVE_REFUSAL}",
            "make rerun-failed EXECUTION=run-1",
        ),
        ("ExecutionDoesNotExist", "nope", "there is no execution run-1 on stack 'fanout'", "check the name"),
        (
            "ExecutionLimitExceeded",
            "1000000",
            "cannot redrive run-1: the account has as many open executions as it may",
            "wait for some to end",
        ),
        (
            "AccessDeniedException",
            "no",
            "cannot redrive run-1: RedriveExecution: AccessDeniedException",
            "allow",
        ),
    ],
)
def test_the_services_refusals_are_one_line_with_what_to_do(
    sfn: tuple[Any, Stubber], code: str, message: str, says: str, todo: str
) -> None:
    client, stubber = sfn
    stubber.add_response("describe_execution", described("ABORTED"))
    stubber.add_client_error(
        "redrive_execution", service_error_code=code, service_message=message, http_status_code=400
    )
    with pytest.raises(FanoutError) as refused:
        redrive.redrive_execution(Stack(client), ARN)  # type: ignore[arg-type]
    assert refused.value.message.startswith(says)
    assert todo in refused.value.hint


def test_both_verbs_are_on_the_command_line() -> None:
    parser = build_parser()
    args = parser.parse_args(["redrive", "run-1", "--no-follow", "--target", "aws"])
    assert (args.execution, args.no_follow, args.target) == ("run-1", True, "aws")
    args = parser.parse_args(["stop"])
    assert args.execution is None
