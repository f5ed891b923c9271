"""`fanout sandbox fault`: failures injected on purpose look to Batch's and Lambda's callers as AWS's own.

Most cases run in process (moto with the sandbox's runners installed, the faults file in tmp_path);
the CLI, HTTP 429 over the wire and the scaled queue clock run against one private sandbox server.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from fanout_tools.cli import main
from fanout_tools.errors import ConfigError, SandboxError
from fanout_tools.sandbox import array_jobs, batch_runner, compat, control, faults, lambda_runner
from fanout_tools.targets.base import BATCH_DEFAULT_LOG_GROUP
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from tests.scripts.sandbox.conftest import (
    batch_queue,
    moto_role,
    served_sandbox,
    submit_job_task,
    wait_for_job,
)
from tests.scripts.sandbox.test_array_children import ITEMS, _queue, write_batch
from tests.scripts.sandbox.test_compat import CAPACITY_LIMIT, _run
from tests.scripts.sandbox.test_runners import HANDLER, _zip

IN_PROCESS = pytest.mark.usefixtures("pristine_moto", "aws_env")
EXIT_REASON = array_jobs.EXIT_REASON
CANCELED = f"Canceled by JobStateTimeLimit action due to reason: {faults.STUCK_REASON}"
SPOT = re.compile(r"Host EC2 \(instance i-[0-9a-f]{17}\) terminated\.")
BATCH_0 = "s3://items/runs/r/items/batch-000000.jsonl"
ONCE = Config(retries={"total_max_attempts": 1})  # see the 429 itself, not botocore's own retries
# two attempts when the command exits with 3 (what job-exit --code 3 makes it do); any other code ends it
RETRY_EXIT_3 = {
    "attempts": 2,
    "evaluateOnExit": [{"onExitCode": "3", "action": "RETRY"}, {"onExitCode": "*", "action": "EXIT"}],
}


def _messages(batch_job: dict[str, Any]) -> list[str]:
    """The job's output in CloudWatch Logs (its awslogs stream)."""
    events = boto3.client("logs").get_log_events(
        logGroupName=BATCH_DEFAULT_LOG_GROUP,
        logStreamName=batch_job["container"]["logStreamName"],
        startFromHead=True,
    )["events"]
    return [e["message"] for e in events]


def _children(batch: Any, parent_id: str, size: int) -> list[dict[str, Any]]:
    return list(batch.describe_jobs(jobs=[f"{parent_id}:{i}" for i in range(size)])["jobs"])


def _submit(client: Any, name: str, **parameters: str) -> str:
    """A plain job on ``_queue``'s queue with these SubmitJob parameters."""
    return str(
        client.submit_job(jobName=name, jobQueue="queue", jobDefinition="jd", parameters=parameters)["jobId"]
    )


def _submit_array(batch: Any, uri: str, size: int) -> str:
    return str(
        batch.submit_job(
            jobName="batch",
            jobQueue="queue",
            jobDefinition="jd",
            arrayProperties={"size": size},
            parameters={"items_uri": uri, "batch": "0"},
        )["jobId"]
    )


@cache
def _stack_retry_strategy() -> dict[str, Any]:
    """The stack's retry strategy with its default variables (terraform/modules/batch/main.tf:
    the status reasons retried, then EXIT on any exit code)."""
    from fanout_tools import docs
    from fanout_tools.paths import terraform_dir

    variables = {v.name: v for v in docs.read_module(terraform_dir()).variables}
    reasons = json.loads(variables["job_retry_status_reasons"].default or "[]")
    return {
        "attempts": int(variables["job_attempts"].default or 1),
        "evaluateOnExit": [{"onStatusReason": r, "action": "RETRY"} for r in reasons]
        + [{"onExitCode": "*", "action": "EXIT"}],
    }


# --- flags --------------------------------------------------------------------------------------------


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1), st.sampled_from(["", " "]))
def test_items_parse_to_the_distinct_indexes_ascending(indexes: list[int], pad: str) -> None:
    text = ",".join(f"{pad}{i}{pad}" for i in indexes)
    assert faults.parse_items(text) == tuple(sorted(set(indexes)))


@given(
    st.lists(st.integers(min_value=0, max_value=99).map(str), max_size=3),
    st.text(max_size=6).filter(lambda t: not re.fullmatch(r"\s*[0-9]+\s*", t) and "," not in t),
)
def test_items_with_anything_but_an_index_are_refused(good: list[str], bad: str) -> None:
    with pytest.raises(ConfigError, match="is not an item index") as raised:
        faults.parse_items(",".join([*good, bad]))
    assert "--items 2,5" in raised.value.hint


@given(st.integers(min_value=-300, max_value=300))
def test_exit_codes_are_1_to_255(code: int) -> None:
    if 1 <= code <= 255:
        assert faults.parse_int(str(code), "--code", 1, 255) == code
    else:
        with pytest.raises(ConfigError, match="from 1 to 255"):
            faults.parse_int(str(code), "--code", 1, 255)


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "", "x", "²", "+2"])
def test_counts_are_whole_numbers_from_1(text: str) -> None:
    with pytest.raises(ConfigError, match="1 or more"):
        faults.parse_int(text, "--count", 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["job-exit", "--items", "-1"], "is not an item index"),
        (["job-exit", "--items", "2", "--code", "0"], "--code '0' is not a whole number from 1 to 255"),
        (["job-exit", "--items", "2", "--code", "256"], "from 1 to 255"),
        (["submit-throttle", "--count", "0"], "--count '0' is not a whole number 1 or more"),
        (["stuck-runnable", "--items", "1,,2"], "an empty entry is not an item index"),
    ],
)
def test_bad_flags_are_one_line_errors(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    assert main(["sandbox", "fault", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "what to do:" in err and "Traceback" not in err


def test_a_fault_needs_a_running_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    assert main(["sandbox", "fault", "job-exit", "--items", "2,5"]) == 2
    err = capsys.readouterr().err
    assert "the sandbox is not running" in err and "make sandbox-up" in err
    assert main(["sandbox", "fault", "list"]) == 0  # reading and clearing need no server
    assert "no sandbox faults in force" in capsys.readouterr().out
    assert not (tmp_path / "sandbox" / faults.FAULTS_FILE).exists()


# --- the faults file ----------------------------------------------------------------------------------


def test_faults_persist_count_down_and_clear(tmp_path: Path) -> None:
    cli, server = faults.Store(tmp_path), faults.Store(tmp_path)  # two processes, in effect
    assert server.active().faults == () and server.take(faults.SUBMIT_THROTTLE) is None
    cli.add(faults.Fault(faults.JOB_EXIT, (2, 5), code=3))
    cli.add(faults.Fault(faults.SUBMIT_THROTTLE, count=2))
    cli.add(faults.Fault(faults.SPOT_RECLAIM, (5,)))
    assert [f.kind for f in server.active().faults] == [
        faults.JOB_EXIT,
        faults.SUBMIT_THROTTLE,
        faults.SPOT_RECLAIM,
    ]
    active = server.active()
    assert active.job_action(2, 1) == faults.JobAction(
        faults.JOB_EXIT, 3, EXIT_REASON, f"sandbox fault: job-exit 3 {faults.NOT_RUN}"
    )
    spot = active.job_action(5, 1)  # the later fault on item 5 wins
    assert spot is not None and spot.exit_code is None and SPOT.fullmatch(spot.status_reason)
    assert active.job_action(5, 2) == active.job_action(2, 2)  # spot-reclaim acts on attempt 1 only
    assert active.job_action(3, 1) is None and active.job_action(None, 1) is None
    assert server.take(faults.SUBMIT_THROTTLE) is not None
    assert [f.count for f in cli.faults() if f.kind == faults.SUBMIT_THROTTLE] == [1]
    assert server.take(faults.SUBMIT_THROTTLE) is not None
    assert server.take(faults.SUBMIT_THROTTLE) is None
    assert [f.kind for f in cli.faults()] == [faults.JOB_EXIT, faults.SPOT_RECLAIM]
    assert cli.clear() == 2 and server.active().faults == () and cli.clear() == 0


def test_first_attempt_only_spares_the_retry(tmp_path: Path) -> None:
    store = faults.Store(tmp_path)
    store.add(faults.Fault(faults.JOB_EXIT, (1,), code=7, first_attempt_only=True))
    action = store.active().job_action(1, 1)
    assert action is not None and action.exit_code == 7
    assert store.active().job_action(1, 2) is None


def test_a_damaged_faults_file_never_fails_the_server_and_the_cli_says_what_to_do(tmp_path: Path) -> None:
    store = faults.Store(tmp_path)
    store.path.write_text('{"faults": [{"kind": "job-exit", "items": [-1]}]}')
    assert store.active().faults == ()
    with pytest.raises(SandboxError, match="cannot read the sandbox faults file") as raised:
        store.faults()
    assert "fault clear" in raised.value.hint
    assert store.clear() == 0 and not store.path.exists()


@given(
    st.sampled_from(faults.ITEM_KINDS),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20),
    st.integers(min_value=1, max_value=255),
    st.booleans(),
)
def test_item_faults_survive_the_file(kind: str, items: list[int], code: int, first_only: bool) -> None:
    fault = faults.Fault(kind, tuple(sorted(set(items))), code, first_only)
    back = faults.Fault.from_json(json.loads(json.dumps(fault.to_json())))
    assert back.kind == kind and back.items == fault.items
    if kind == faults.JOB_EXIT:
        assert (back.code, back.first_attempt_only) == (code, first_only)


def test_a_jobs_item_index_comes_from_its_parameters() -> None:
    lines = {("items", "runs/r/items/batch-000000.jsonl"): 4}
    asked: list[tuple[str, str]] = []

    def batch_lines(bucket: str, key: str) -> int | None:
        asked.append((bucket, key))
        return lines.get((bucket, key))

    def index(parameters: dict[str, str], child: int | None = None) -> int | None:
        return faults.item_index(parameters, child, batch_lines)

    assert index({"item": "{}", "index": "7"}) == 7  # a per-item job
    assert index({"items_uri": BATCH_0, "batch": "0"}, 3) == 3  # batch 0: no read needed
    assert asked == []
    assert index({"items_uri": BATCH_0.replace("000000", "000002"), "batch": "2"}, 1) == 9
    assert index({"items_uri": BATCH_0.replace("000000", "000003"), "batch": "3"}) == 12  # a batch of one
    assert asked == [("items", "runs/r/items/batch-000000.jsonl")] * 2
    assert index({"items_uri": "s3://other/runs/r/items/batch-000001.jsonl"}, 0) is None  # unknown size
    assert index({"items_uri": "none", "index": "x"}) is None
    assert index({"index": "4"}, 1) is None  # an array child is never a per-item job
    assert index({}) is None


# --- Batch jobs, in process ------------------------------------------------------------------------------


@IN_PROCESS
def test_job_exit_fails_the_items_jobs_as_a_real_exit_does(tmp_path: Path, sandbox_config: Any) -> None:
    with mock_aws(config=sandbox_config):
        batch = _queue(["sh", "-c", "echo ran"], retryStrategy=RETRY_EXIT_3)
        batch_runner.install(5555, tmp_path, workers=2)
        faults.Store(tmp_path).add(faults.Fault(faults.JOB_EXIT, (2, 5), code=3))
        plain = {i: _submit(batch, f"item-{i}", item="{}", index=str(i)) for i in (2, 3)}
        parent_id = _submit_array(batch, BATCH_0, 7)

        failed = wait_for_job(batch, plain[2])
        assert (failed["status"], failed["statusReason"], failed["container"]["exitCode"]) == (
            "FAILED",
            EXIT_REASON,
            3,
        )
        assert [(a["container"]["exitCode"], a["statusReason"]) for a in failed["attempts"]] == [
            (3, EXIT_REASON),
            (3, EXIT_REASON),
        ]
        messages = _messages(failed)
        assert messages.count(f"sandbox fault: job-exit 3 {faults.NOT_RUN}") == 2 and "ran" not in messages
        spared = wait_for_job(batch, plain[3])
        assert spared["status"] == "SUCCEEDED" and "ran" in _messages(spared)

        parent = wait_for_job(batch, parent_id)
        assert (parent["status"], parent["statusReason"]) == ("FAILED", "2 of 7 child jobs failed")
        for index, child in enumerate(_children(batch, parent_id, 7)):
            if index in (2, 5):
                assert (child["status"], child["statusReason"], child["container"]["exitCode"]) == (
                    "FAILED",
                    EXIT_REASON,
                    3,
                )
                assert [a["container"]["exitCode"] for a in child["attempts"]] == [3, 3]
                assert f"sandbox fault: job-exit 3 {faults.NOT_RUN}" in _messages(child)
            else:
                assert (child["status"], child["container"]["exitCode"]) == ("SUCCEEDED", 0)


@IN_PROCESS
def test_array_children_read_the_faults_once_per_engine_step_and_meet_a_fault_added_while_running(
    tmp_path: Path, sandbox_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Children the engine starts in one step share one read of the faults file (the common case, no
    fault, costs one ``stat`` per step, not per child); a fault added while an array job runs reaches
    the children started after it."""
    looked: list[str] = []  # the threads that read the faults
    active = faults.Store.active
    monkeypatch.setattr(
        faults.Store, "active", lambda self: looked.append(threading.current_thread().name) or active(self)
    )
    gate = tmp_path / "open"
    script = f'[ "$AWS_BATCH_JOB_ARRAY_INDEX" != 0 ] || while [ ! -e {gate} ]; do sleep 0.01; done'
    with mock_aws(config=sandbox_config):
        batch = _queue(["sh", "-c", script])
        batch_runner.install(5555, tmp_path, workers=4)
        gate.touch()
        assert wait_for_job(batch, _submit_array(batch, BATCH_0, 4))["status"] == "SUCCEEDED"
        assert looked.count("batch-children") == 1  # the engine started the four children in one step

        gate.unlink()
        batch_runner.install(5555, tmp_path, workers=1)
        parent_id = _submit_array(batch, BATCH_0, 3)
        deadline = time.monotonic() + 20
        while _children(batch, parent_id, 1)[0]["status"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        faults.Store(tmp_path).add(faults.Fault(faults.JOB_EXIT, (2,), code=3))
        gate.touch()
        assert wait_for_job(batch, parent_id)["statusReason"] == "1 of 3 child jobs failed"
        assert [(c["status"], c["container"]["exitCode"]) for c in _children(batch, parent_id, 3)] == [
            ("SUCCEEDED", 0),
            ("SUCCEEDED", 0),
            ("FAILED", 3),
        ]


@IN_PROCESS
def test_first_attempt_only_is_retried_into_success_in_every_batch_shape(
    tmp_path: Path, sandbox_config: Any
) -> None:
    """Items 5 (child 1 of batch 1) and 8 (batch 2, a batch of one: a plain job) fail once."""
    with mock_aws(config=sandbox_config):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="items")
        uris = [
            write_batch(s3, "items", f"runs/r/items/batch-{b:06d}.jsonl", ITEMS[b * 4 : b * 4 + 4])
            for b in range(2)
        ]
        uris.append(write_batch(s3, "items", "runs/r/items/batch-000002.jsonl", ITEMS[8:9]))
        batch = _queue(["sh", "-c", "echo ran"], retryStrategy=RETRY_EXIT_3)
        batch_runner.install(5555, tmp_path, workers=2)
        faults.Store(tmp_path).add(faults.Fault(faults.JOB_EXIT, (5, 8), code=3, first_attempt_only=True))
        parent_id = _submit_array(batch, uris[1], 4)
        single = _submit(batch, "batch-2", items_uri=uris[2], batch="2")

        assert wait_for_job(batch, parent_id)["status"] == "SUCCEEDED"
        attempts = [
            [a["container"]["exitCode"] for a in c["attempts"]] for c in _children(batch, parent_id, 4)
        ]
        assert attempts == [[0], [3, 0], [0], [0]]
        done = wait_for_job(batch, single)
        assert done["status"] == "SUCCEEDED"
        assert [a["container"]["exitCode"] for a in done["attempts"]] == [3, 0]


@IN_PROCESS
def test_spot_reclaim_ends_the_first_attempt_and_the_stacks_retry_strategy_retries_it(
    tmp_path: Path, sandbox_config: Any
) -> None:
    with mock_aws(config=sandbox_config):
        batch = _queue(["sh", "-c", "echo ran"], retryStrategy=_stack_retry_strategy())
        batch.register_job_definition(
            jobDefinitionName="once",
            type="container",
            containerProperties={"image": "x", "command": ["true"], "memory": 128, "vcpus": 1},
        )
        batch_runner.install(5555, tmp_path, workers=2)
        faults.Store(tmp_path).add(faults.Fault(faults.SPOT_RECLAIM, (0, 4)))
        plain = _submit(batch, "item-0", item="{}", index="0")
        parent_id = _submit_array(batch, BATCH_0, 6)
        unretried = batch.submit_job(
            jobName="once", jobQueue="queue", jobDefinition="once", parameters={"index": "4"}
        )

        assert wait_for_job(batch, parent_id)["status"] == "SUCCEEDED"
        for job in (wait_for_job(batch, plain), _children(batch, parent_id, 6)[4]):
            assert job["status"] == "SUCCEEDED"
            first, second = job["attempts"]
            assert SPOT.fullmatch(first["statusReason"]) and "exitCode" not in first["container"]
            assert (second["statusReason"], second["container"]["exitCode"]) == (EXIT_REASON, 0)
            messages = _messages(job)
            assert any(m.startswith("sandbox fault: spot-reclaim: Host EC2 (instance i-") for m in messages)
            assert messages.count("ran") == 1
        lost = wait_for_job(batch, unretried["jobId"])  # no retry strategy: the reclaim fails the job
        assert lost["status"] == "FAILED" and SPOT.fullmatch(lost["statusReason"])
        assert "exitCode" not in lost["container"]


@IN_PROCESS
def test_stuck_runnable_jobs_wait_until_the_queue_time_limit_cancels_them(
    tmp_path: Path, sandbox_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 600 s -> 3 s: long enough for the RUNNABLE check below on a loaded machine (1.2 s was not)
    monkeypatch.setenv(compat.JOB_STATE_TIME_SCALE_ENV, "0.005")
    with mock_aws(config=sandbox_config):
        compat.keep_job_state_time_limit_actions()
        batch = _queue(["sh", "-c", "echo ran"])
        batch.update_job_queue(jobQueue="queue", jobStateTimeLimitActions=[CAPACITY_LIMIT])
        batch_runner.install(5555, tmp_path, workers=2)
        faults.Store(tmp_path).add(faults.Fault(faults.STUCK_RUNNABLE, (1,)))
        started = time.monotonic()
        plain = _submit(batch, "item-1", item="{}", index="1")
        parent_id = _submit_array(batch, BATCH_0, 3)
        time.sleep(0.5)
        for job in (batch.describe_jobs(jobs=[plain])["jobs"][0], _children(batch, parent_id, 3)[1]):
            assert (job["status"], job["statusReason"]) == ("RUNNABLE", faults.STUCK_STATUS_REASON)
        assert batch.describe_jobs(jobs=[parent_id])["jobs"][0]["status"] not in ("SUCCEEDED", "FAILED")

        for job in (wait_for_job(batch, plain), wait_for_job(batch, f"{parent_id}:1")):  # each its own timer
            assert (job["status"], job["statusReason"], job["attempts"]) == ("FAILED", CANCELED, [])
            assert "exitCode" not in job.get("container", {})
        assert time.monotonic() - started >= 3.0
        parent = wait_for_job(batch, parent_id)
        assert (parent["status"], parent["statusReason"]) == ("FAILED", "1 of 3 child jobs failed")
        messages = (tmp_path / "jobs" / f"{plain}.log").read_text()
        assert f"sandbox fault: stuck-runnable: {faults.STUCK_STATUS_REASON}" in messages
        assert f"sandbox fault: stuck-runnable: {CANCELED}" in messages


@IN_PROCESS
def test_a_stuck_job_without_a_time_limit_waits_until_it_is_cancelled(
    tmp_path: Path, sandbox_config: Any
) -> None:
    with mock_aws(config=sandbox_config):
        batch = _queue(["sh", "-c", "echo ran"])
        batch_runner.install(5555, tmp_path, workers=2)
        faults.Store(tmp_path).add(faults.Fault(faults.STUCK_RUNNABLE, (0,)))
        plain = _submit(batch, "item-0", item="{}", index="0")
        parent_id = _submit_array(batch, BATCH_0, 2)
        time.sleep(0.3)
        batch.cancel_job(jobId=plain, reason="gave up waiting")
        batch.terminate_job(jobId=parent_id, reason="execution stopped")
        assert (wait_for_job(batch, plain)["statusReason"], wait_for_job(batch, parent_id)["status"]) == (
            "gave up waiting",
            "FAILED",
        )
        child = _children(batch, parent_id, 2)[0]
        assert (child["status"], child["statusReason"]) == ("FAILED", "execution stopped")


# --- throttles, in process, through Step Functions ----------------------------------------------------


def _task_failures(sfn: Any, execution_arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


@contextmanager
def _step_functions(sandbox_config: Any) -> Iterator[str]:
    """In-process moto as the sandbox configures it, able to run state machines: yields a role for them."""
    with mock_aws(config=sandbox_config):
        compat.fill_normalisation_hooks()
        yield moto_role()


def _assert_throttled(call: Callable[[], Any]) -> None:
    """``call`` (one attempt, no retries of botocore's) is answered 429 TooManyRequestsException."""
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "TooManyRequestsException",
        429,
    )


def _retried_through(
    definition: dict[str, Any], role: str, error: str, store: faults.Store
) -> dict[str, Any]:
    """Run ``definition``: its Retry gets it through exactly one ``error``, the fault's last throttle."""
    sfn = boto3.client("stepfunctions")
    done = _run(sfn, definition, role, "throttled")
    assert done["status"] == "SUCCEEDED", done
    assert _task_failures(sfn, done["executionArn"]) == [error]
    assert store.faults() == ()
    return done


@IN_PROCESS
def test_submit_throttle_answers_429_and_the_definitions_retry_gets_through(
    tmp_path: Path, sandbox_config: Any
) -> None:
    with _step_functions(sandbox_config) as role:
        queue = batch_queue(["true"], role)
        batch_runner.install(5555, tmp_path, workers=2)
        store = faults.Store(tmp_path)
        store.add(faults.Fault(faults.SUBMIT_THROTTLE, count=2))
        batch = boto3.client("batch", config=ONCE)
        _assert_throttled(lambda: batch.submit_job(jobName="j", jobQueue=queue, jobDefinition="jd"))
        retry = [{"ErrorEquals": ["Batch.TooManyRequestsException"], "IntervalSeconds": 1}]
        definition = {"StartAt": "Job", "States": {"Job": submit_job_task(queue, Retry=retry)}}
        _retried_through(definition, role, "Batch.TooManyRequestsException", store)


@IN_PROCESS
def test_lambda_throttle_answers_429_for_the_generator_and_the_definitions_retry_gets_through(
    tmp_path: Path, sandbox_config: Any
) -> None:
    with _step_functions(sandbox_config) as role:
        client = boto3.client("lambda")
        for name in ("stack-generator", "other"):
            client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="handler.handler",
                Code={"ZipFile": _zip(HANDLER)},
                Environment={"Variables": {"FANOUT_MODE": "inline"}},
            )
        (tmp_path / "lambda").mkdir()
        lambda_runner.install(5555, tmp_path / "lambda", faults.Store(tmp_path))
        store = faults.Store(tmp_path)
        store.add(faults.Fault(faults.LAMBDA_THROTTLE, count=2))
        assert "FunctionError" not in client.invoke(FunctionName="other", Payload="{}")  # not throttled
        once = boto3.client("lambda", config=ONCE)
        _assert_throttled(lambda: once.invoke(FunctionName="stack-generator", Payload="{}"))
        definition = {
            "StartAt": "Generate",
            "States": {
                "Generate": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "stack-generator", "Payload": {"count": 1}},
                    "ResultSelector": {"generated.$": "$.Payload"},
                    "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1}],
                    "End": True,
                }
            },
        }
        done = _retried_through(definition, role, "Lambda.TooManyRequestsException", store)
        assert json.loads(done["output"])["generated"]["echo"] == {"count": 1}


# --- the CLI against a private sandbox server --------------------------------------------------------------


@dataclass
class Served:
    info: control.SandboxInfo
    batch: Any


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One private sandbox for the module (its clock for queue time limits scaled: 600 s -> 3 s, long
    enough to see a held job RUNNABLE on a loaded machine), every boto3 client of these tests pointed
    at it."""
    scaled = {compat.JOB_STATE_TIME_SCALE_ENV: "0.005"}
    with served_sandbox(tmp_path_factory.mktemp("runtime"), **scaled) as info:
        yield Served(info, _queue(["sh", "-c", "echo ran"]))


@pytest.fixture
def no_faults_after(served: Served) -> Iterator[Served]:
    yield served
    assert main(["sandbox", "fault", "clear"]) == 0


@pytest.mark.xdist_group("sandbox-faults")
def test_cli_injects_lists_and_clears_a_fault(no_faults_after: Served, capsys: Any) -> None:
    batch = no_faults_after.batch
    assert main(["sandbox", "fault", "job-exit", "--items", "2,5"]) == 0
    assert (
        "sandbox fault added: job-exit: items 2,5 exit with code 1 on every attempt"
        in capsys.readouterr().out
    )
    assert main(["sandbox", "fault", "list"]) == 0
    assert capsys.readouterr().out == "1. job-exit: items 2,5 exit with code 1 on every attempt\n"
    assert main(["sandbox", "status"]) == 0
    assert "1 injected fault(s) in force" in capsys.readouterr().out

    failed, spared = _submit(batch, "item-2", index="2"), _submit(batch, "item-3", index="3")
    parent_id = _submit_array(batch, BATCH_0, 6)
    job = wait_for_job(batch, failed)
    assert (job["status"], job["statusReason"], job["container"]["exitCode"]) == ("FAILED", EXIT_REASON, 1)
    assert f"sandbox fault: job-exit 1 {faults.NOT_RUN}" in _messages(job)
    assert wait_for_job(batch, spared)["status"] == "SUCCEEDED"
    assert wait_for_job(batch, parent_id)["status"] == "FAILED"
    statuses = [(c["status"], c["container"]["exitCode"]) for c in _children(batch, parent_id, 6)]
    assert statuses == [("SUCCEEDED", 0)] * 2 + [("FAILED", 1)] + [("SUCCEEDED", 0)] * 2 + [("FAILED", 1)]

    assert main(["sandbox", "fault", "clear"]) == 0
    assert capsys.readouterr().out == "cleared 1 sandbox fault(s)\n"
    assert main(["sandbox", "fault", "list"]) == 0
    assert capsys.readouterr().out == "no sandbox faults in force\n"
    assert wait_for_job(batch, _submit(batch, "item-2-again", index="2"))["status"] == "SUCCEEDED"


@pytest.mark.xdist_group("sandbox-faults")
def test_submit_throttle_is_http_429_on_the_wire(no_faults_after: Served) -> None:
    assert main(["sandbox", "fault", "submit-throttle", "--count", "1"]) == 0
    once = boto3.client("batch", config=ONCE)
    with pytest.raises(ClientError) as raised:
        once.submit_job(jobName="j", jobQueue="queue", jobDefinition="jd")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert wait_for_job(once, once.submit_job(jobName="j", jobQueue="queue", jobDefinition="jd")["jobId"])[
        "status"
    ] == ("SUCCEEDED")


@pytest.mark.xdist_group("sandbox-faults")
def test_the_queue_time_limit_runs_on_the_clock_scaled_at_sandbox_start(no_faults_after: Served) -> None:
    batch = no_faults_after.batch
    batch.update_job_queue(jobQueue="queue", jobStateTimeLimitActions=[CAPACITY_LIMIT])
    assert batch.describe_job_queues(jobQueues=["queue"])["jobQueues"][0]["jobStateTimeLimitActions"] == [
        CAPACITY_LIMIT
    ]
    assert main(["sandbox", "fault", "stuck-runnable", "--items", "7"]) == 0
    started = time.monotonic()
    job_id = _submit(batch, "item-7", index="7")
    time.sleep(0.3)
    held = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert (held["status"], held["statusReason"]) == ("RUNNABLE", faults.STUCK_STATUS_REASON)
    job = wait_for_job(batch, job_id)
    assert (job["status"], job["statusReason"], job["attempts"]) == ("FAILED", CANCELED, [])
    assert time.monotonic() - started >= 3.0
