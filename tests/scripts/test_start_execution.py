"""StartExecution's own refusals become one-line errors that say what to do (and nothing was started); a
run ends with its item summary (failures first) and Ctrl-C asks whether to stop the execution."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from fanout_tools import deploy, executions, run, status
from fanout_tools.cli import main
from fanout_tools.contract import contract
from fanout_tools.errors import FanoutError
from fanout_tools.paths import terraform_dir
from fanout_tools.targets import SandboxTarget

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


# --- the end of a run: its item summary, and Ctrl-C ----------------------------------------------------


class FollowedStack(FakeStack):
    """A stack whose executions start; ``fanout run`` follows them with a patched ``run.follow``."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(self, env)
        self.target = SandboxTarget()
        self.name = "fanout"
        self.started: list[str] = []

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        self.started.append(name)
        return {"executionArn": f"{stateMachineArn.replace(':stateMachine:', ':execution:')}:{name}"}

    def hint(self, make_args: str) -> str:
        return f"make {make_args}"


@pytest.fixture
def followed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FollowedStack:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    limits = json.loads((terraform_dir() / "aws_limits.json").read_text())
    env = {
        "FANOUT_MODE": "inline",
        "FANOUT_MODES": json.dumps(contract().mode_names),
        "FANOUT_LIMITS": json.dumps(limits),
    }
    stack = FollowedStack(env)
    outputs = {**OUTPUTS, "generator_function_name": "g", "fanout_mode": "inline"}
    monkeypatch.setattr(deploy, "deployed", lambda args: (stack, outputs))
    return stack


def items_failed(name: str) -> run.RunResult:
    records = [
        {
            "index": i,
            "item": {"index": i},
            "batch": None,
            "job_id": f"job-{i}",
            "attempts": 1,
            "exit_code": 3,
            "status_reason": "Essential container in task exited",
            "log_stream": None,
            "error": "States.TaskFailed",
        }
        for i in (2, 5)
    ]
    summary = {
        "execution": name,
        "mode": "inline",
        "count": 10,
        "succeeded": 8,
        "failed": 2,
        "tolerated_failure_count": 0,
        "tolerated_failure_percentage": 0,
        "outcome": "ITEMS_FAILED",
        "cause": "2 of 10 items failed",
        "failed_items": records,
        "failed_items_uri": None,
        "rerun_of": None,
    }
    return run.RunResult(
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:fanout:{name}",
        status="FAILED",
        seconds=4.0,
        error="ItemsFailed",
        cause=summary["cause"],
        output=None,
        history_events=30,
        child_history_events=0,
        jobs=[],
        progress=run.Progress(total=10, succeeded=8, failed=2),
        summary=status.ItemSummary.parse(summary),
    )


def test_a_run_whose_items_failed_ends_with_them_first_and_says_what_to_do(
    followed: FollowedStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run, "follow", lambda stack, arn, timeout, on_poll=None: items_failed("r1"))
    assert main(["run", "--items", "10", "--no-progress", "--name", "r1"]) == 1
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    first, counts = (
        out.index("failed items (the first 2 of 2, by index):"),
        out.index("2 of 10 items failed; 8 succeeded; tolerated 0 items / 0%; outcome ITEMS_FAILED"),
    )
    assert first < out.index("  item 2  job job-2  attempts 1  exit code 3") < counts
    assert "status: FAILED in 4.0 s" in out and "error: ItemsFailed" in out
    err = captured.err.splitlines()
    assert err[0] == "error: the execution FAILED: ItemsFailed: 2 of 10 items failed"
    assert "`make status EXECUTION=r1`" in err[1] and "`make rerun-failed EXECUTION=r1`" in err[1]


@pytest.fixture
def stop_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """``fanout_tools.stop.stop_execution``, recorded instead of called."""
    from fanout_tools import stop

    calls: list[tuple[Any, ...]] = []

    def stop_execution(*args: Any) -> Any:
        calls.append(args)
        return types.SimpleNamespace(lines=lambda: ["stopped r2 (RUNNING -> ABORTED); terminated 3 jobs"])

    monkeypatch.setattr(stop, "stop_execution", stop_execution)
    return calls


# ctrl_c(tty, answer) -> (exit code, stdout, stderr)
CtrlC = Callable[[bool, Any], tuple[int, str, str]]


@pytest.fixture
def ctrl_c(
    followed: FollowedStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> CtrlC:
    """``fanout run`` with Ctrl-C while it follows; ``answer`` is typed (or raised) at the question."""

    def interrupt(tty: bool, answer: Any) -> tuple[int, str, str]:
        def follow(*args: Any, **kwargs: Any) -> run.RunResult:
            raise KeyboardInterrupt

        def ask(prompt: str) -> str:
            assert tty, "nothing may be asked without a terminal"
            assert prompt == run.STOP_QUESTION
            if isinstance(answer, BaseException):
                raise answer
            return str(answer)

        monkeypatch.setattr(run, "follow", follow)
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(isatty=lambda: tty))
        monkeypatch.setattr("builtins.input", ask)
        code = main(["run", "--items", "3", "--no-progress", "--name", "r2"])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return interrupt


def test_ctrl_c_then_s_stops_the_execution(
    ctrl_c: CtrlC, followed: FollowedStack, stop_calls: list[tuple[Any, ...]]
) -> None:
    code, out, err = ctrl_c(True, "s")
    assert code == 130
    [(stack, outputs, arn, reason)] = stop_calls
    assert outputs["fanout_mode"] == "inline"
    assert stack is followed and arn.endswith(":execution:fanout:r2") and "Ctrl-C" in reason
    assert "stopped r2 (RUNNING -> ABORTED); terminated 3 jobs" in out
    assert "`make status EXECUTION=r2`" in out and err == ""


LEFT = ("left r2 running", "stop it:   `make stop EXECUTION=r2`", "follow it: `make status EXECUTION=r2`")
NOT_ASKED = (
    "interrupted: r2 keeps running (stdin is not a terminal, so nothing was asked)",
    "`make stop EXECUTION=r2`",
    "`make status EXECUTION=r2`",
)


@pytest.mark.parametrize(
    ("tty", "answer", "says"),
    [
        *(pytest.param(True, a, LEFT, id=f"answer-{a!r}") for a in ["", "l", "leave"]),
        pytest.param(True, KeyboardInterrupt(), LEFT, id="ctrl-c-again"),
        pytest.param(True, EOFError(), LEFT, id="end-of-input"),
        pytest.param(False, None, NOT_ASKED, id="no-terminal-nothing-asked"),
    ],
)
def test_ctrl_c_then_anything_but_s_leaves_it_running_and_says_how_to_stop_or_follow_it(
    tty: bool,
    answer: Any,
    says: tuple[str, ...],
    ctrl_c: CtrlC,
    followed: FollowedStack,
    stop_calls: list[tuple[Any, ...]],
) -> None:
    code, out, err = ctrl_c(tty, answer)
    assert code == 130 and stop_calls == []
    for line in says:
        assert line in out, out
    assert err == ""
    # it is still the stack's last run: `make status` without EXECUTION finds it
    assert executions.last_execution(followed, {}).endswith(":r2")
