"""``fanout status``: failures first (with where their logs are and their last lines), then the counts, from
synthetic histories and summaries; a run of any size prints a bounded number of lines."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fanout_tools import deploy, run, status
from fanout_tools.cli import main
from fanout_tools.executions import SUMMARY_STATE
from fanout_tools.targets import SandboxTarget
from fanout_tools.targets.base import JobLog, JobRef
from hypothesis import given
from hypothesis import strategies as st

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:fanout"
OUTPUTS = {"state_machine_arn": MACHINE, "fanout_mode": "array", "bucket_name": "runs-bucket"}
START = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def arn_of(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:fanout:{name}"


def record(index: int, **extra: Any) -> dict[str, Any]:
    return {
        "index": index,
        "item": {"value": f"item-{index}"},
        "batch": 0,
        "job_id": f"array-1:{index}",
        "attempts": 2,
        "exit_code": 3,
        "status_reason": "Essential container in task exited",
        "log_stream": f"fanout/default/{index}",
        "error": "States.TaskFailed",
        **extra,
    }


def summary(
    name: str = "run-1", failed: list[int] | None = None, count: int = 10, **extra: Any
) -> dict[str, Any]:
    failed = [2, 5] if failed is None else failed
    return {
        "execution": name,
        "mode": "array",
        "count": count,
        "succeeded": count - len(failed),
        "failed": len(failed),
        "tolerated_failure_count": 0,
        "tolerated_failure_percentage": 0,
        "outcome": "ITEMS_FAILED" if failed else "SUCCEEDED",
        "cause": f"{len(failed)} of {count} items failed",
        "failed_items": [record(i) for i in failed[:50]],
        "failed_items_uri": f"s3://runs-bucket/runs/{name}/failed-items.jsonl" if failed else None,
        "rerun_of": None,
        **extra,
    }


def history(summary_value: Any | None, last_state: str = "FanOut") -> list[dict[str, Any]]:
    """Oldest first: generator, fan-out, and (when given) the SummarizeItems exit with the summary."""
    events: list[dict[str, Any]] = [
        {"id": 1, "type": "ExecutionStarted"},
        {"id": 2, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Generate"}},
        {"id": 3, "type": "TaskStateExited", "stateExitedEventDetails": {"name": "Generate", "output": "{}"}},
        {"id": 4, "type": "MapStateEntered", "stateEnteredEventDetails": {"name": last_state}},
    ]
    if summary_value is not None:
        text = summary_value if isinstance(summary_value, str) else json.dumps(summary_value)
        events += [
            {"id": 5, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": SUMMARY_STATE}},
            {
                "id": 6,
                "type": "TaskStateExited",
                "stateExitedEventDetails": {"name": SUMMARY_STATE, "output": text},
            },
            {"id": 7, "type": "ChoiceStateEntered", "stateEnteredEventDetails": {"name": "CheckTolerance"}},
            {"id": 8, "type": "FailStateEntered", "stateEnteredEventDetails": {"name": "ItemsFailed"}},
        ]
    return events


class FakeBody:
    """An S3 object body: counts the lines handed out, and whether it was closed."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines, self.read, self.closed = lines, 0, False

    def iter_lines(self) -> Any:
        for line in self.lines:
            self.read += 1
            yield line

    def close(self) -> None:
        self.closed = True


class FakeS3:
    def __init__(self, objects: dict[tuple[str, str], list[dict[str, Any]]] | None = None) -> None:
        self.objects = objects or {}
        self.bodies: list[FakeBody] = []
        self.heads: list[tuple[str, str]] = []

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
        body = FakeBody([json.dumps(r).encode() for r in self.objects[(Bucket, Key)]])
        self.bodies.append(body)
        return {"Body": body}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.heads.append((Bucket, Key))
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {}


class FakeSfn:
    """Executions by name: DescribeExecution and (paged) GetExecutionHistory."""

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.started: list[dict[str, Any]] = []

    def add(self, name: str, status_: str, events: list[dict[str, Any]], **described: Any) -> str:
        arn = arn_of(name)
        self.executions[arn] = {
            "executionArn": arn,
            "name": name,
            "status": status_,
            "startDate": START,
            "stopDate": None if status_ == "RUNNING" else START + dt.timedelta(seconds=12.5),
            **described,
        }
        self.histories[arn] = events
        return arn

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if executionArn not in self.executions:
            raise ClientError(
                {"Error": {"Code": "ExecutionDoesNotExist", "Message": "no"}}, "DescribeExecution"
            )
        return self.executions[executionArn]

    def get_execution_history(
        self, executionArn: str, maxResults: int, reverseOrder: bool = False, nextToken: str | None = None
    ) -> dict[str, Any]:
        events = self.histories[executionArn]
        events = list(reversed(events)) if reverseOrder else events
        start = int(nextToken or 0)
        page = events[start : start + maxResults]
        more = start + maxResults < len(events)
        return {"events": page, **({"nextToken": str(start + maxResults)} if more else {})}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        self.started.append({"name": name, "input": json.loads(input)})
        return {"executionArn": arn_of(name)}


class FakeTarget(SandboxTarget):
    """The sandbox target (its ``job_log`` defaults and hints) with made-up logs: nothing is started."""

    def __init__(self) -> None:
        super().__init__()
        self.logs_read: list[tuple[str, str | None, int]] = []

    def _job_log(self, outputs: dict[str, Any], job: JobRef) -> JobLog:
        self.logs_read.append((job.job_id, job.log_stream, job.lines))
        text = tuple(f"{job.job_id} says line {n}" for n in range(30))
        return JobLog(f"/jobs/{job.job_id}.log", text[-job.lines :])

    def logs_hint(self, outputs: dict[str, Any]) -> str:
        return "logs: /jobs"


class FakeStack:
    def __init__(self, sfn: FakeSfn | None = None, s3: FakeS3 | None = None) -> None:
        self.sfn, self.s3 = sfn or FakeSfn(), s3 or FakeS3()
        self.target = FakeTarget()
        self.name = "fanout"

    def client(self, service: str) -> Any:
        return {"stepfunctions": self.sfn, "s3": self.s3}[service]

    def hint(self, make_args: str) -> str:
        return self.target.command_hint(make_args)


def status_of(
    stack: FakeStack,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *flags: str,
) -> tuple[int, str, str]:
    monkeypatch.setattr(deploy, "deployed", lambda args: (stack, OUTPUTS))
    code = main(["status", name, *flags])
    out, err = capsys.readouterr()
    return code, out, err


# --- reading the summary --------------------------------------------------------------------------


def test_the_summary_is_the_summarize_states_exit_output_found_from_the_end_of_the_history() -> None:
    found, last = status.summary_from_events(reversed(history(summary())))
    assert found is not None and last == SUMMARY_STATE
    assert (found.count, found.failed, found.succeeded, found.outcome) == (10, 2, 8, "ITEMS_FAILED")
    assert [f.index for f in found.failed_items] == [2, 5]
    wrapped, _ = status.summary_from_events(reversed(history({"Payload": summary()})))
    assert wrapped is not None and wrapped.failed == 2  # a Lambda task's whole result reads the same


def test_no_summarize_exit_means_no_summary_and_names_the_state_it_ended_in() -> None:
    found, last = status.summary_from_events(reversed(history(None, last_state="FanOut")))
    assert found is None and last == "FanOut"


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ("{not json", "is not JSON"),
        (json.dumps([1]), "not a JSON object"),
        (json.dumps({"outcome": "X"}), "count"),
    ],
)
def test_an_unreadable_summary_is_a_one_line_error(output: str, says: str) -> None:
    with pytest.raises(status.SummaryError, match=says) as caught:
        status.summary_from_events(reversed(history(output)))
    assert "make apply" in caught.value.hint


# --- what status prints ---------------------------------------------------------------------------


def test_failures_first_with_job_log_and_log_tail_then_the_counts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = FakeStack()
    stack.sfn.add("run-1", "FAILED", history(summary()), error="ItemsFailed", cause="2 of 10 items failed")
    code, out, _ = status_of(stack, "run-1", monkeypatch, capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "execution run-1: FAILED (ItemsFailed) after 12.5 s, array mode"
    assert "  item 2 (batch 0)  job array-1:2  attempts 2  exit code 3" in lines
    assert "    error: States.TaskFailed  reason: Essential container in task exited" in lines
    assert '    input: {"value": "item-2"}' in lines
    assert "    log: /jobs/array-1:5.log" in lines
    tail = [line for line in lines if line.startswith("      | array-1:5 ")]
    assert tail == [f"      | array-1:5 says line {n}" for n in range(25, 30)]  # the last 5 lines
    counts = "2 of 10 items failed; 8 succeeded; tolerated 0 items / 0%; outcome ITEMS_FAILED"
    assert lines.index(counts) > max(i for i, line in enumerate(lines) if line.startswith("  item "))
    assert lines[-1] == "rerun just the failed items: `make rerun-failed EXECUTION=run-1`"
    assert stack.target.logs_read == [
        ("array-1:2", "fanout/default/2", 5),
        ("array-1:5", "fanout/default/5", 5),
    ]
    assert stack.s3.bodies == []  # the summary lists every failure: S3 is not read


def test_log_lines_and_limit_are_honoured_and_a_rerun_names_its_original(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = FakeStack()
    stack.sfn.add("run-1-rerun-1", "FAILED", history(summary("run-1-rerun-1", rerun_of="run-1")))
    _, out, _ = status_of(stack, "run-1-rerun-1", monkeypatch, capsys, "--log-lines", "0", "--limit", "1")
    assert "      | " not in out
    assert "  item 2 (batch 0)" in out and "  item 5 " not in out
    assert (
        "  ... and 1 more: every record is in s3://runs-bucket/runs/run-1-rerun-1/failed-items.jsonl" in out
    )
    assert "rerun of run-1\n" in out


def test_a_large_run_shows_the_limit_and_says_where_the_rest_are_without_reading_s3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = FakeStack()
    stack.sfn.add("big", "FAILED", history(summary("big", failed=list(range(5000)), count=100_000)))
    _, out, _ = status_of(stack, "big", monkeypatch, capsys)
    assert out.count("\n  item ") == status.DEFAULT_LIMIT
    assert "failed items (the first 20 of 5,000, by index):" in out
    assert "... and 4,980 more: every record is in s3://runs-bucket/runs/big/failed-items.jsonl" in out
    assert "`fanout status --target sandbox big --json` prints them all" in out
    assert "5,000 of 100,000 items failed; 95,000 succeeded" in out
    assert stack.s3.bodies == []


def test_a_limit_past_the_summarys_records_streams_only_what_it_shows_from_s3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    all_records = [record(i) for i in range(300)]
    stack = FakeStack(s3=FakeS3({("runs-bucket", "runs/big/failed-items.jsonl"): all_records}))
    stack.sfn.add("big", "FAILED", history(summary("big", failed=list(range(300)), count=1000)))
    _, out, _ = status_of(stack, "big", monkeypatch, capsys, "--limit", "60", "--log-lines", "1")
    assert out.count("\n  item ") == 60 and "  item 59 (batch 0)" in out
    [body] = stack.s3.bodies
    assert body.read <= 61 and body.closed  # not the whole file


def test_an_unreadable_failed_items_file_falls_back_on_the_summarys_records(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = FakeStack()  # no object in S3
    stack.sfn.add("big", "FAILED", history(summary("big", failed=list(range(300)), count=1000)))
    code, out, _ = status_of(stack, "big", monkeypatch, capsys, "--limit", "60")
    assert code == 0
    assert (
        "note: cannot read the failed-items file s3://runs-bucket/runs/big/failed-items.jsonl: NoSuchKey"
        in out
    )
    assert out.count("\n  item ") == 50


def test_json_streams_every_record_as_one_object(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    all_records = [record(i) for i in range(120)]
    stack = FakeStack(s3=FakeS3({("runs-bucket", "runs/big/failed-items.jsonl"): all_records}))
    stack.sfn.add(
        "big", "FAILED", history(summary("big", failed=list(range(120)), count=500)), error="ItemsFailed"
    )
    code, out, _ = status_of(stack, "big", monkeypatch, capsys, "--json")
    assert code == 0
    value = json.loads(out)
    assert (value["execution"], value["status"], value["error"]) == ("big", "FAILED", "ItemsFailed")
    assert value["summary"]["failed"] == 120 and value["summary"]["outcome"] == "ITEMS_FAILED"
    assert value["summary"]["failed_items"] == all_records


def test_json_of_an_unreadable_failed_items_file_is_an_error_before_any_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = FakeStack()
    stack.sfn.add("big", "FAILED", history(summary("big", failed=list(range(120)), count=500)))
    code, out, err = status_of(stack, "big", monkeypatch, capsys, "--json")
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith("error: cannot read the failed-items file s3://runs-bucket/")
    assert len(err.splitlines()) == 2  # message and what to do, no traceback


def test_a_succeeded_run_prints_its_counts_and_no_rerun_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = FakeStack()
    stack.sfn.add("ok", "SUCCEEDED", history(summary("ok", failed=[])))
    _, out, _ = status_of(stack, "ok", monkeypatch, capsys)
    assert out.splitlines() == [
        "execution ok: SUCCEEDED after 12.5 s, array mode",
        "0 of 10 items failed; 10 succeeded; tolerated 0 items / 0%; outcome SUCCEEDED",
    ]


def test_a_running_execution_shows_its_progress_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Follower:
        def __init__(self, stack: Any, arn: str) -> None:
            assert arn == arn_of("live")

        def poll(self) -> dict[str, Any]:
            return {}

        def progress(self) -> run.Progress:
            return run.Progress(total=10, running=3, succeeded=5, failed=1)

    monkeypatch.setattr(run, "Follower", Follower)
    stack = FakeStack()
    stack.sfn.add("live", "RUNNING", history(None))
    _, out, _ = status_of(stack, "live", monkeypatch, capsys)
    lines = out.splitlines()
    assert lines[0].startswith("execution live: RUNNING (started 2026-01-02 03:04:05")
    assert lines[1] == "items so far: 10 total, 3 running, 5 succeeded, 1 failed"
    assert "`make status EXECUTION=live` again" in lines[2] and "`make stop EXECUTION=live`" in lines[2]
    assert status_of(stack, "live", monkeypatch, capsys, "--json")[1].count('"progress": {"total": 10') == 1


@pytest.mark.parametrize(
    ("state", "described", "says"),
    [
        (
            "Generate",
            {"status": "FAILED", "error": "InvalidInputError", "cause": "give items"},
            "in the state Generate",
        ),
        (
            SUMMARY_STATE,
            {"status": "FAILED", "error": "Lambda.Unknown"},
            "SummarizeItems state itself failed",
        ),
        ("FanOut", {"status": "SUCCEEDED"}, "had no SummarizeItems state"),
        ("FanOut", {"status": "ABORTED"}, "in the state FanOut, before SummarizeItems ran"),
    ],
)
def test_an_execution_without_a_summary_says_what_happened(
    state: str,
    described: dict[str, Any],
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = FakeStack()
    events = history(None, last_state=state)
    stack.sfn.add("old", described.pop("status"), events, **described)
    code, out, _ = status_of(stack, "old", monkeypatch, capsys)
    assert code == 0
    assert "no item summary exists: " in out and says in out
    if described.get("error"):
        assert f"({described['error']})" in out.splitlines()[0]
    if described.get("cause"):
        assert "cause: give items" in out
    assert "`make report EXECUTION=old`" in out


def test_an_unknown_execution_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = status_of(FakeStack(), "nope", monkeypatch, capsys)
    assert code == 2
    assert (
        err.splitlines()[0]
        == "error: no execution nope on this stack's state machine (ExecutionDoesNotExist)"
    )


# --- bounded output, whatever the summary holds -----------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=400),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
_records = st.fixed_dictionaries(
    {},
    optional={
        key: _json_values | st.text(alphabet=st.characters(), max_size=2000)
        for key in (
            "index",
            "item",
            "batch",
            "job_id",
            "attempts",
            "exit_code",
            "status_reason",
            "log_stream",
            "error",
        )
    },
)


@given(
    failed=st.integers(min_value=0, max_value=1_000_000),
    records=st.lists(_records, max_size=60),
    limit=st.integers(min_value=0, max_value=30),
    log_lines=st.integers(min_value=0, max_value=8),
    uri=st.none() | st.just("s3://b/runs/x/failed-items.jsonl"),
)
def test_any_number_of_failures_prints_a_bounded_number_of_short_lines(
    failed: int, records: list[dict[str, Any]], limit: int, log_lines: int, uri: str | None
) -> None:
    class NoisyTarget(FakeTarget):
        def _job_log(self, outputs: dict[str, Any], job: JobRef) -> JobLog:
            # a log line may hold anything: control characters, escapes, megabytes
            return JobLog(
                "\x1b[2J/jobs/x.log\n", tuple("\x1b[31m" + "x" * 5000 + "\r\n" for _ in range(job.lines))
            )

    value = {**summary("x", failed=[]), "failed": failed, "count": failed + 3, "succeeded": 3}
    value.update(failed_items=records, failed_items_uri=uri)
    parsed = status.ItemSummary.parse(value)
    lines = status.summary_lines(NoisyTarget(), {}, parsed, None, limit, log_lines)
    assert len(lines) <= 3 + limit * (4 + log_lines)
    assert all(len(line) <= 2 * status.LINE_WIDTH for line in lines)
    assert not any(c in line for line in lines for c in "\x1b\r\n")
    assert lines[-1 if not parsed.rerun_of else -2].startswith(f"{failed:,} of {failed + 3:,} items failed")
    if failed > min(limit, len(records)):
        assert any(line.startswith("  ... and ") for line in lines)


def test_json_is_written_record_by_record() -> None:
    view = status.ExecutionView(
        arn=arn_of("x"), name="x", status="FAILED", summary=status.ItemSummary.parse(summary("x"))
    )
    out = io.StringIO()
    status.write_json(out, view, iter(record(i) for i in range(3)))
    assert json.loads(out.getvalue())["summary"]["failed_items"] == [record(0), record(1), record(2)]
