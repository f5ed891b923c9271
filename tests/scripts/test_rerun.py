"""``fanout rerun-failed``: a new execution of exactly the failed items (the generator's rerun input for the
deployed mode), named after the original, followed like ``fanout run``; nothing is started when nothing
failed, the original still runs, or its summary or input cannot be read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fanout_tools import deploy, executions, rerun, run, status
from fanout_tools.cli import main
from fanout_tools.contract import contract
from fanout_tools.executions import SUMMARY_STATE
from fanout_tools.paths import terraform_dir

from tests.scripts.test_status import MACHINE, FakeS3, FakeSfn, FakeStack, arn_of, history, record, summary


@pytest.fixture(autouse=True)
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    return tmp_path


class DeployedStack(FakeStack):
    """A stack whose generator function has the deployed mode's environment (for the input check)."""

    def __init__(self, mode: str, sfn: FakeSfn | None = None, s3: FakeS3 | None = None) -> None:
        super().__init__(sfn, s3)
        limits = json.loads((terraform_dir() / "aws_limits.json").read_text())
        self.env = {
            "FANOUT_MODE": mode,
            "FANOUT_MODES": json.dumps(contract().mode_names),
            "FANOUT_LIMITS": json.dumps(limits),
            "FANOUT_ITEMS_PER_BATCH": "1000",
            **({} if mode == "inline" else {"FANOUT_BUCKET": "runs-bucket"}),
        }
        self.mode = mode

    def client(self, service: str) -> Any:
        return self if service == "lambda" else super().client(service)

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {"Environment": {"Variables": self.env}}

    @property
    def outputs(self) -> dict[str, Any]:
        return {
            "state_machine_arn": MACHINE,
            "fanout_mode": self.mode,
            "bucket_name": None if self.mode == "inline" else "runs-bucket",
            "generator_function_name": "generator",
        }


def ended(name: str, summary_value: dict[str, Any]) -> run.RunResult:
    return run.RunResult(
        execution_arn=arn_of(name),
        status="SUCCEEDED",
        seconds=3.0,
        error=None,
        cause=None,
        output=summary_value,
        history_events=20,
        child_history_events=0,
        jobs=[],
        progress=run.Progress(total=summary_value["count"]),
        summary=status.ItemSummary.parse(summary_value),
    )


def rerun_of(
    stack: DeployedStack,
    name: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *flags: str,
) -> tuple[int, str, str]:
    """``fanout rerun-failed [name]``; the new execution 'ends' at once with all its items succeeded."""
    monkeypatch.setattr(deploy, "deployed", lambda args: (stack, stack.outputs))

    def follow(stack_: Any, arn: str, timeout: float, on_poll: Any = None) -> run.RunResult:
        [started] = [s for s in stack.sfn.started if arn_of(s["name"]) == arn]
        count = len(started["input"].get("items") or [0, 0])
        return ended(arn.rsplit(":", 1)[-1], summary(arn.rsplit(":", 1)[-1], [], count, rerun_of=name))

    monkeypatch.setattr(run, "follow", follow)
    code = main(["rerun-failed", *([name] if name else []), "--no-progress", *flags])
    out, err = capsys.readouterr()
    return code, out, err


def test_inline_mode_reruns_exactly_the_failed_items_rebuilt_from_a_count_and_template(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = DeployedStack("inline")
    original = {"count": 10, "template": {"size": "L"}}
    stack.sfn.add("run-1", "FAILED", history(summary(failed=[2, 5])), input=json.dumps(original))
    code, out, _ = rerun_of(stack, "run-1", monkeypatch, capsys)
    assert code == 0
    [started] = stack.sfn.started
    assert started == {
        "name": "run-1-rerun-1",
        "input": {"items": [{"size": "L", "index": 2}, {"size": "L", "index": 5}], "rerun_of": "run-1"},
    }
    assert "rerunning the 2 failed items of run-1 as run-1-rerun-1" in out
    assert "rerun of run-1" in out  # the new run's summary, as fanout status prints it
    assert executions.last_execution(stack, stack.outputs) == arn_of("run-1-rerun-1")


def test_inline_mode_takes_the_failed_items_from_an_items_input_by_index(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = DeployedStack("inline")
    items = [f"s3://data/{i}.csv" for i in range(10)]
    stack.sfn.add("run-1", "FAILED", history(summary(failed=[0, 9])), input=json.dumps({"items": items}))
    rerun_of(stack, "run-1", monkeypatch, capsys)
    assert stack.sfn.started[0]["input"]["items"] == ["s3://data/0.csv", "s3://data/9.csv"]


def test_inline_mode_with_more_failures_than_the_summary_lists_reads_the_summarize_states_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = DeployedStack("inline")
    failed = list(range(0, 240, 2))  # 120 failures: the summary lists 50
    value = summary(failed=failed, count=240, failed_items_uri=None)
    events = history(value)
    iterations = [
        {
            "index": i,
            "item": {"index": i},
            "JobId": f"job-{i}",
            "Status": "FAILED" if i in failed else "SUCCEEDED",
        }
        for i in range(240)
    ]
    [entered] = [e for e in events if e.get("stateEnteredEventDetails", {}).get("name") == SUMMARY_STATE]
    entered["stateEnteredEventDetails"]["input"] = json.dumps({"count": 240, "items": iterations})
    stack.sfn.add("run-1", "FAILED", events, input=json.dumps({"count": 240}))
    rerun_of(stack, "run-1", monkeypatch, capsys)
    assert stack.sfn.started[0]["input"]["items"] == [{"index": i} for i in failed]


def test_inline_mode_refuses_when_the_failures_cannot_all_be_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = DeployedStack("inline")
    value = summary(failed=list(range(120)), count=240, failed_items_uri=None)
    stack.sfn.add("run-1", "FAILED", history(value), input=json.dumps({"count": 240}))
    code, _, err = rerun_of(stack, "run-1", monkeypatch, capsys)
    assert code == 2 and stack.sfn.started == []
    assert "has 120 failed items, but its summary lists only the first 50" in err
    assert "nothing was started" in err


def test_a_bucket_mode_passes_only_rerun_of_once_the_failed_items_file_is_there(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = ("runs-bucket", "runs/run-1/failed-items.jsonl")
    stack = DeployedStack("array", s3=FakeS3({key: [record(2), record(5)]}))
    stack.sfn.add("run-1", "FAILED", history(summary(failed=[2, 5])), input=json.dumps({"count": 10}))
    code, _, _ = rerun_of(stack, "run-1", monkeypatch, capsys)
    assert code == 0
    assert stack.sfn.started == [{"name": "run-1-rerun-1", "input": {"rerun_of": "run-1"}}]
    assert stack.s3.heads == [key]


def test_a_bucket_mode_without_the_failed_items_file_starts_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = DeployedStack("array")
    stack.sfn.add("run-1", "FAILED", history(summary(failed=[2, 5])), input=json.dumps({"count": 10}))
    code, _, err = rerun_of(stack, "run-1", monkeypatch, capsys)
    assert code == 2 and stack.sfn.started == []
    lines = err.splitlines()
    assert lines[0].startswith("error: the failed-items file of run-1 is not readable: s3://runs-bucket/")
    assert lines[1].startswith("  what to do: nothing was started")


def test_a_run_that_ran_inline_is_rerun_with_its_items_after_a_redeploy_to_a_bucket_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = DeployedStack("array")
    value = summary(failed=[3], mode="inline", failed_items_uri=None)
    stack.sfn.add("run-1", "FAILED", history(value), input=json.dumps({"count": 10}))
    rerun_of(stack, "run-1", monkeypatch, capsys)
    assert stack.sfn.started[0]["input"] == {"items": [{"index": 3}], "rerun_of": "run-1"}


def test_nothing_failed_starts_nothing_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = DeployedStack("inline")
    stack.sfn.add("ok", "SUCCEEDED", history(summary("ok", failed=[])), input="{}")
    code, out, _ = rerun_of(stack, "ok", monkeypatch, capsys)
    assert code == 0 and stack.sfn.started == []
    assert out.strip() == "nothing to rerun: none of the 10 items of ok failed"


@pytest.mark.parametrize(
    ("status_", "events", "described", "says", "todo"),
    [
        ("RUNNING", history(None), {"input": "{}"}, "live is still running", "make stop EXECUTION=live"),
        (
            "FAILED",
            history(None),
            {"error": "InvalidInputError"},
            "has no item summary (InvalidInputError)",
            "status",
        ),
        ("FAILED", history(summary("live")), {}, "the input of live is not readable", "nothing was started"),
        ("FAILED", history(summary("live")), {"input": "{nope"}, "the input of live is not JSON", "nothing"),
    ],
)
def test_what_cannot_be_rerun_is_a_clear_error_and_starts_nothing(
    status_: str,
    events: list[dict[str, Any]],
    described: dict[str, Any],
    says: str,
    todo: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = DeployedStack("inline")
    stack.sfn.add("live", status_, events, **described)
    code, _, err = rerun_of(stack, "live", monkeypatch, capsys)
    assert code == 2 and stack.sfn.started == []
    lines = err.splitlines()
    assert len(lines) == 2 and says in lines[0] and todo in lines[1]


def test_the_stacks_last_run_is_rerun_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = DeployedStack("inline")
    arn = stack.sfn.add("run-7", "FAILED", history(summary("run-7", failed=[1])), input='{"count": 3}')
    executions.record_last_run(stack, arn)
    rerun_of(stack, None, monkeypatch, capsys)
    assert stack.sfn.started[0]["name"] == "run-7-rerun-1"


def test_rerun_names_count_on_from_the_original_and_fit_the_limit() -> None:
    assert rerun.rerun_names("run-1")[:2] == ["run-1-rerun-1", "run-1-rerun-2"]
    assert rerun.rerun_names("run-1-rerun-3")[0] == "run-1-rerun-4"
    # 80 characters at most: -rerun-1 to -rerun-9 fit after 72, -rerun-10 does not
    assert rerun.rerun_names("x" * 72) == [f"{'x' * 72}-rerun-{n}" for n in range(1, 10)]
    assert rerun.rerun_names("x" * 74) == []


def test_a_taken_name_moves_on_and_a_long_one_is_generated() -> None:
    sfn = FakeSfn()
    sfn.add("run-1-rerun-1", "SUCCEEDED", [])
    sfn.add("run-1-rerun-2", "FAILED", [])
    assert rerun.free_name(sfn, MACHINE, "run-1") == "run-1-rerun-3"
    assert rerun.free_name(sfn, MACHINE, "run-1-rerun-1") == "run-1-rerun-3"
    generated = rerun.free_name(sfn, MACHINE, "x" * 80)
    assert generated.startswith("rerun-") and len(generated) <= 80
