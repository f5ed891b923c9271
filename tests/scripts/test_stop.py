"""``fanout stop`` offline: it stops first and lists afterwards, finds the jobs in the execution's history
and its Map Runs' children, terminates only what has not ended, says so in one line, and retries Batch's
throttling with botocore's retry modes. (The sandbox run is tests/integration/test_stop.py.)"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError
from fanout_tools import stop
from fanout_tools.cli import main
from fanout_tools.targets import AwsTarget
from fanout_tools.targets.base import BATCH_OPEN_STATUSES, THROTTLED_RETRIES

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:fanout"
ARN = "arn:aws:states:us-east-1:123456789012:execution:fanout:run-1"
MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:fanout/FanOut:m1"
OUTPUTS = {"state_machine_arn": MACHINE, "job_queue_name": "fanout-queue"}
START = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def submitted(*job_ids: str) -> list[dict[str, Any]]:
    """History events: one batch TaskSubmitted per job (and a Lambda one, which is no job)."""
    events: list[dict[str, Any]] = [
        {
            "type": "TaskSubmitted",
            "taskSubmittedEventDetails": {"resourceType": "lambda", "output": json.dumps({"JobId": "nope"})},
        }
    ]
    for job_id in job_ids:
        output = json.dumps({"JobId": job_id, "JobName": f"fanout-item-{job_id}"})
        events.append(
            {
                "type": "TaskSubmitted",
                "taskSubmittedEventDetails": {"resourceType": "batch", "output": output},
            }
        )
    return events


class Account:
    """Step Functions and Batch as the stop sees them; ``calls`` records every call in order."""

    def __init__(self, status: str = "RUNNING") -> None:
        self.calls: list[str] = []
        self.status = status
        self.after_stop = "ABORTED"
        self.histories: dict[str, list[dict[str, Any]]] = {ARN: []}
        self.map_runs: list[str] = []
        self.children: dict[str, list[dict[str, Any]] | Exception] = {}
        self.running_executions: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.queue: dict[str, list[dict[str, Any]]] = {}
        self.terminate_errors: dict[str, ClientError] = {}
        self.terminated: list[tuple[str, str]] = []
        self.describe_sizes: list[int] = []
        self.lock = threading.Lock()

    def _call(self, name: str) -> None:
        with self.lock:
            self.calls.append(name)

    # --- Step Functions ---
    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self._call("DescribeExecution")
        if executionArn != ARN:
            raise ClientError(
                {"Error": {"Code": "ExecutionDoesNotExist", "Message": "no"}}, "DescribeExecution"
            )
        stopped = None if self.status == "RUNNING" else START + dt.timedelta(minutes=5)
        return {"executionArn": ARN, "status": self.status, "startDate": START, "stopDate": stopped}

    def stop_execution(self, executionArn: str, cause: str) -> dict[str, Any]:
        self._call(f"StopExecution:{cause}")
        self.status = self.after_stop
        return {}

    def get_execution_history(self, executionArn: str, **_: Any) -> dict[str, Any]:
        self._call(f"GetExecutionHistory:{executionArn.rsplit(':', 1)[-1]}")
        return {"events": self.histories.get(executionArn, [])}

    def list_map_runs(self, executionArn: str) -> dict[str, Any]:
        self._call("ListMapRuns")
        return {"mapRuns": [{"mapRunArn": arn, "executionArn": executionArn} for arn in self.map_runs]}

    def list_executions(self, **kwargs: Any) -> dict[str, Any]:
        self._call("ListExecutions")
        if "mapRunArn" in kwargs:
            children = self.children[kwargs["mapRunArn"]]
            if isinstance(children, Exception):
                raise children
            return {"executions": children}
        assert kwargs == {"stateMachineArn": MACHINE, "statusFilter": "RUNNING"}
        return {"executions": [{"executionArn": ARN, "startDate": START}, *self.running_executions]}

    # --- Batch ---
    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        self._call("DescribeJobs")
        assert len(jobs) <= stop.DESCRIBE_BATCH
        with self.lock:
            self.describe_sizes.append(len(jobs))
        return {"jobs": [self.jobs[j] for j in jobs if j in self.jobs]}

    def terminate_job(self, jobId: str, reason: str) -> dict[str, Any]:
        self._call("TerminateJob")
        if jobId in self.terminate_errors:
            raise self.terminate_errors[jobId]
        with self.lock:
            self.terminated.append((jobId, reason))
        return {}

    def list_jobs(self, jobQueue: str, jobStatus: str, **_: Any) -> dict[str, Any]:
        self._call(f"ListJobs:{jobStatus}")
        assert jobQueue == OUTPUTS["job_queue_name"]
        return {"jobSummaryList": self.queue.get(jobStatus, [])}


class Target:
    name = "sandbox"

    def __init__(self, account: Account) -> None:
        self.account = account
        self.retries: list[dict[str, Any] | None] = []

    def client(self, service: str, region: str | None = None, retries: dict[str, Any] | None = None) -> Any:
        self.retries.append(retries)
        return self.account


class Stack:
    name = "fanout"
    region = "us-east-1"

    def __init__(self, account: Account) -> None:
        self.target = Target(account)

    def hint(self, make_args: str) -> str:
        return f"make {make_args}"


def job(job_id: str, status: str, summary: dict[str, int] | None = None) -> dict[str, Any]:
    described: dict[str, Any] = {"jobId": job_id, "status": status}
    if summary is not None:
        described["arrayProperties"] = {"size": sum(summary.values()), "statusSummary": summary}
    return described


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stop, "POLL_SECONDS", 0.0)


def test_a_running_execution_is_stopped_before_its_jobs_are_listed_and_only_open_jobs_are_terminated() -> (
    None
):
    account = Account()
    # 150 plain jobs (two DescribeJobs calls), of which two are still open, and an array job half done
    ids = [f"job-{n}" for n in range(150)]
    account.histories[ARN] = submitted(*ids, "array-1")
    account.jobs = {j: job(j, "SUCCEEDED") for j in ids}
    account.jobs["job-7"] = job("job-7", "RUNNABLE")
    account.jobs["job-9"] = job("job-9", "RUNNING")
    account.jobs["array-1"] = job("array-1", "PENDING", {"SUCCEEDED": 38, "RUNNING": 4, "RUNNABLE": 8})

    result = stop.stop_execution(Stack(account), OUTPUTS, ARN, "user pressed stop")  # type: ignore[arg-type]

    assert account.calls.index("StopExecution:user pressed stop") < account.calls.index(
        "GetExecutionHistory:run-1"
    )
    assert (result.status_before, result.status_after) == ("RUNNING", "ABORTED")
    assert sorted(j for j, _ in account.terminated) == ["array-1", "job-7", "job-9"]
    assert {reason for _, reason in account.terminated} == {"user pressed stop"}
    assert sorted(account.describe_sizes) == [51, 100]
    assert result.jobs_found == 151 and result.already_ended == 148
    assert result.children_ended == 12  # the array's RUNNING and RUNNABLE children end with it
    assert result.lines() == [
        "stopped run-1 (RUNNING -> ABORTED); terminated 3 jobs (12 array children ended with their parent), "
        "148 had already ended"
    ]


def test_an_ended_execution_is_not_stopped_again_but_its_leftover_jobs_are_terminated() -> None:
    account = Account(status="FAILED")
    account.histories[ARN] = submitted("a", "b")
    account.jobs = {"a": job("a", "FAILED"), "b": job("b", "RUNNABLE")}

    result = stop.stop_execution(Stack(account), OUTPUTS, ARN, "")  # type: ignore[arg-type]

    assert not [c for c in account.calls if c.startswith("StopExecution")]
    assert account.terminated == [("b", stop.DEFAULT_REASON)]
    assert result.lines() == ["run-1 had already ended (FAILED); terminated 1 job, 1 had already ended"]
    # nothing left: a second stop says so and terminates nothing
    account.jobs["b"] = job("b", "FAILED")
    again = stop.stop_execution(Stack(account), OUTPUTS, ARN, "")  # type: ignore[arg-type]
    assert again.lines() == ["run-1 had already ended (FAILED); no job of it was still queued or running"]
    assert len(account.terminated) == 1


def test_map_run_children_that_did_not_succeed_have_their_histories_read() -> None:
    account = Account()
    account.map_runs = [MAP_RUN]
    child = "arn:aws:states:us-east-1:123456789012:execution:fanout/FanOut:m1:child-"
    account.children[MAP_RUN] = [
        {"executionArn": f"{child}ok", "status": "SUCCEEDED"},
        {"executionArn": f"{child}a", "status": "ABORTED"},
        {"executionArn": f"{child}b", "status": "FAILED"},
    ]
    account.histories[f"{child}a"] = submitted("ja")
    account.histories[f"{child}b"] = submitted("jb")
    account.jobs = {"ja": job("ja", "RUNNING"), "jb": job("jb", "FAILED")}

    result = stop.stop_execution(Stack(account), OUTPUTS, ARN, "r")  # type: ignore[arg-type]

    assert "GetExecutionHistory:child-ok" not in account.calls  # a succeeded child's jobs have ended
    assert result.child_executions == 2
    assert account.terminated == [("ja", "r")]
    assert not [c for c in account.calls if c.startswith("ListJobs")]  # the queue is not needed


def test_unlisted_map_run_children_fall_back_to_the_queue_jobs_of_the_run_but_not_another_runs() -> None:
    account = Account()
    account.map_runs = [MAP_RUN]
    account.children[MAP_RUN] = ClientError(
        {"Error": {"Code": "ValidationException", "Message": "cannot list"}}, "ListExecutions"
    )
    other_started = START + dt.timedelta(minutes=1)
    account.running_executions = [{"executionArn": f"{ARN}-other", "startDate": other_started}]

    def at(minutes: float) -> int:
        return int((START + dt.timedelta(minutes=minutes)).timestamp() * 1000)

    account.queue = {
        "RUNNABLE": [{"jobId": "before", "createdAt": at(-1)}, {"jobId": "mine", "createdAt": at(0.5)}],
        "RUNNING": [{"jobId": "theirs", "createdAt": at(2)}],
    }
    account.jobs = {j: job(j, "RUNNABLE") for j in ("before", "mine", "theirs")}

    result = stop.stop_execution(Stack(account), OUTPUTS, ARN, "r")  # type: ignore[arg-type]

    assert [j for j, _ in account.terminated] == ["mine"]
    assert {f"ListJobs:{s}" for s in BATCH_OPEN_STATUSES} <= set(account.calls)
    assert result.lines()[1] == (
        "this account cannot list the Map Run's child executions, so their jobs were taken from the queue: "
        "its open jobs created while the execution ran (1 left alone: created while another execution of "
        "the stack was running)"
    )


def test_a_job_that_cannot_be_terminated_is_reported_and_the_verb_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    account = Account()
    account.histories[ARN] = submitted("a", "b")
    account.jobs = {"a": job("a", "RUNNING"), "b": job("b", "RUNNING")}
    account.terminate_errors["a"] = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "TerminateJob"
    )
    monkeypatch.setattr("fanout_tools.deploy.deployed", lambda args: (Stack(account), OUTPUTS))

    assert main(["stop", "run-1"]) == 2

    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "stopped run-1 (RUNNING -> ABORTED); terminated 1 job",
        "could not terminate 1 job (first: a: AccessDeniedException: not allowed); run the stop again",
    ]
    assert "error: 1 job of run-1 could not be terminated" in err
    assert "make stop EXECUTION=run-1" in err


def test_an_unknown_execution_is_one_line_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    account = Account()
    with pytest.raises(stop.StopError) as refused:
        stop.stop_execution(Stack(account), OUTPUTS, f"{ARN}-missing", "r")  # type: ignore[arg-type]
    assert refused.value.message == "there is no execution run-1-missing on stack 'fanout' (TARGET=sandbox)"
    assert "make stop" in refused.value.hint
    assert account.calls == ["DescribeExecution"]


def test_an_execution_that_keeps_running_after_the_stop_is_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stop, "STOP_WAIT_SECONDS", 0.0)
    account = Account()
    account.after_stop = "RUNNING"
    result = stop.stop_execution(Stack(account), OUTPUTS, ARN, "r")  # type: ignore[arg-type]
    assert result.status_after == "RUNNING"
    assert result.lines()[0] == "stopped run-1 (RUNNING -> RUNNING); it had submitted no job"
    assert "run `make stop EXECUTION=run-1` again" in result.lines()[1]


def test_both_clients_retry_throttling_in_botocores_adaptive_mode() -> None:
    account = Account(status="SUCCEEDED")
    stack = Stack(account)
    stop.stop_execution(stack, OUTPUTS, ARN, "r")  # type: ignore[arg-type]
    assert stack.target.retries == [THROTTLED_RETRIES, THROTTLED_RETRIES]
    assert THROTTLED_RETRIES["mode"] == "adaptive"


# --- a real Batch client against a throttling endpoint ---------------------------------------------


class Throttling(BaseHTTPRequestHandler):
    """Batch's TerminateJob that answers TooManyRequestsException (HTTP 429) twice, then succeeds."""

    answers: ClassVar[list[int]] = [429, 429, 200]
    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Throttling.seen.append(self.path)
        status = Throttling.answers[min(len(Throttling.seen), len(Throttling.answers)) - 1]
        body = (
            b"{}"
            if status == 200
            else json.dumps({"__type": "TooManyRequestsException", "message": "Too Many Requests"}).encode()
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", "TooManyRequestsException")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def throttling_endpoint() -> Iterator[str]:
    Throttling.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Throttling)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_terminate_job_throttled_by_batch_is_retried_until_it_succeeds(
    throttling_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_ENDPOINT_URL", throttling_endpoint)
    # no backoff delays and no rate-limit waits: the retry decision is under test, not botocore's timing
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    monkeypatch.setattr(
        "botocore.retries.bucket.TokenBucket.acquire", lambda self, amount=1, block=True: True
    )
    batch = AwsTarget("us-east-1").client("batch", retries=THROTTLED_RETRIES)

    done, failed = stop.terminate(batch, ["job-1"], "r")

    assert (done, failed) == (["job-1"], {})
    assert Throttling.seen == ["/v1/terminatejob"] * 3
