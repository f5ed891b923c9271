"""StartExecution's own refusals become one-line errors that say what to do (and nothing was started)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from fanout_tools import deploy, run
from fanout_tools.cli import main
from fanout_tools.contract import contract
from fanout_tools.errors import FanoutError
from fanout_tools.paths import terraform_dir

OUTPUTS = {"state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:fanout"}


class RefusingSfn:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.inputs: list[str] = []

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        self.inputs.append(input)
        raise self.error


class FakeStack:
    def __init__(self, sfn: Any, env: dict[str, str] | None = None) -> None:
        self.sfn, self.env = sfn, env or {}

    def client(self, service: str) -> Any:
        return self.sfn if service == "stepfunctions" else self

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {"Environment": {"Variables": self.env}}


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "StartExecution")


@pytest.mark.parametrize(
    ("code", "says", "todo"),
    [
        ("InvalidExecutionInput", "Step Functions refused the execution input", "under 256 KiB"),
        ("ExecutionLimitExceeded", "as many open executions as it may", "wait for running executions"),
        ("StateMachineDoesNotExist", "the state machine does not exist", "make apply"),
        ("ThrottlingException", "throttled StartExecution", "wait a few seconds"),
        ("ExecutionAlreadyExists", "an execution of that name already exists", "another --name"),
        ("SomethingNew", "StartExecution failed (SomethingNew)", "nothing was started"),
    ],
)
def test_each_refusal_is_one_line_with_what_to_do(code: str, says: str, todo: str) -> None:
    sfn = RefusingSfn(client_error(code, "the service's own words"))
    with pytest.raises(FanoutError) as caught:
        run.start_execution(FakeStack(sfn), OUTPUTS, {"count": 3})  # type: ignore[arg-type]
    err = caught.value
    assert says in err.message and code in err.message and "the service's own words" in err.message
    assert todo in err.hint and "nothing was started" in err.hint
    assert "\n" not in str(err)
    assert sfn.inputs == ['{"count":3}']  # the compact text check_input measured


def test_an_unreachable_endpoint_is_one_line() -> None:
    sfn = RefusingSfn(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    with pytest.raises(FanoutError, match="cannot reach Step Functions"):
        run.start_execution(FakeStack(sfn), OUTPUTS, {"count": 3})  # type: ignore[arg-type]


def test_fanout_run_reports_a_refusal_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limits = json.loads((terraform_dir() / "aws_limits.json").read_text())
    env = {
        "FANOUT_MODE": "array",
        "FANOUT_MODES": json.dumps(contract().mode_names),
        "FANOUT_LIMITS": json.dumps(limits),
        "FANOUT_BUCKET": "bucket",
    }
    stack = FakeStack(RefusingSfn(client_error("ExecutionLimitExceeded", "too many")), env)
    monkeypatch.setattr(deploy, "deployed", lambda args: (stack, {**OUTPUTS, "generator_function_name": "g"}))
    assert main(["run", "--items", "5", "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: the account has as many open executions as it may")
    assert err[1].startswith("  what to do: nothing was started; wait for running executions")
    assert len(err) == 2
