"""Real code runs in the sandbox: Lambda handlers from the deployed zip, Batch commands on the host.

Each feature is checked against moto as installed first (which does not run code), so a moto
change in that area shows up here.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from fanout_tools.sandbox import batch_runner, lambda_runner
from moto import mock_aws

from tests.scripts.sandbox.conftest import batch_queue, moto_role, wait_for_job

pytestmark = pytest.mark.usefixtures("pristine_moto", "aws_env")

HANDLER = """
import os

class InvalidInputError(Exception):
    pass

def handler(event, context):
    if event.get("bad"):
        raise InvalidInputError("count must be a number, got " + repr(event["bad"]))
    print("log line from the handler")
    return {"echo": event, "mode": os.environ["FANOUT_MODE"], "endpoint": os.environ["AWS_ENDPOINT_URL"],
            "name": context.function_name}
"""


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("handler.py", source)
    return buf.getvalue()


def _fn(tmp_path: Path, source: str = HANDLER, timeout: int = 30) -> SimpleNamespace:
    return SimpleNamespace(
        function_name="gen",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:gen",
        code_bytes=_zip(source),
        code_sha_256=str(abs(hash(source))),
        handler="handler.handler",
        environment_vars={"FANOUT_MODE": "inline"},
        region="us-east-1",
        memory_size=128,
        logs_group_name="/aws/lambda/gen",
        timeout=timeout,
    )


# --- Lambda ---------------------------------------------------------------------------------------


def test_lambda_runs_the_real_handler_with_its_environment(tmp_path: Path) -> None:
    payload, errored = lambda_runner.invoke_function(_fn(tmp_path), json.dumps({"count": 3}), 5555, tmp_path)
    assert not errored
    result = json.loads(payload)
    assert result == {
        "echo": {"count": 3},
        "mode": "inline",
        "endpoint": "http://127.0.0.1:5555",
        "name": "gen",
    }
    assert "log line from the handler" in (tmp_path / "gen.log").read_text()


def test_lambda_exception_comes_back_as_aws_lambda_reports_it(tmp_path: Path) -> None:
    payload, errored = lambda_runner.invoke_function(_fn(tmp_path), json.dumps({"bad": "x"}), 5555, tmp_path)
    assert errored
    error = json.loads(payload)
    assert error["errorType"] == "InvalidInputError"
    assert error["errorMessage"] == "count must be a number, got 'x'"
    assert all("lambda_bootstrap" not in frame for frame in error["stackTrace"])


def test_lambda_timeout_is_enforced(tmp_path: Path) -> None:
    slow = "import time\ndef handler(event, context):\n    time.sleep(30)\n"
    started = time.monotonic()
    payload, errored = lambda_runner.invoke_function(_fn(tmp_path, slow, timeout=1), "{}", 5555, tmp_path)
    assert errored and time.monotonic() - started < 20  # not the handler's 30 s
    assert "timed out" in json.loads(payload)["errorMessage"]


COUNTING = """
import os

invokes = 0

def handler(event, context):
    global invokes
    invokes += 1
    if event.get("sleep"):
        import time
        time.sleep(event["sleep"])
    return {"invokes": invokes, "pid": os.getpid(), "request": context.aws_request_id}
"""


def test_lambda_environment_stays_warm_between_invokes_and_is_replaced_after_a_timeout(
    tmp_path: Path,
) -> None:
    """As in Lambda: module-level state lives on in a warm environment; each invoke has its own request
    id; an invoke that timed out ends its environment, so the next one starts cold."""
    fn = _fn(tmp_path, COUNTING, timeout=2)
    first, second = (json.loads(lambda_runner.invoke_function(fn, "{}", 5555, tmp_path)[0]) for _ in range(2))
    assert (first["invokes"], second["invokes"]) == (1, 2)
    assert first["pid"] == second["pid"] and first["request"] != second["request"]
    payload, errored = lambda_runner.invoke_function(fn, json.dumps({"sleep": 10}), 5555, tmp_path)
    assert errored and "timed out" in json.loads(payload)["errorMessage"]
    after = json.loads(lambda_runner.invoke_function(fn, "{}", 5555, tmp_path)[0])
    assert after["invokes"] == 1 and after["pid"] != first["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(first["pid"], 0)  # the timed-out environment is gone, not left running


def test_lambda_environment_whose_init_failed_is_started_afresh(tmp_path: Path) -> None:
    """An import error answers as Lambda answers it, and the next invoke initialises again (here it
    succeeds, because the missing module has appeared meanwhile)."""
    fn = _fn(tmp_path, "import late_module\n\ndef handler(event, context):\n    return late_module.VALUE\n")
    payload, errored = lambda_runner.invoke_function(fn, "{}", 5555, tmp_path)
    assert errored and json.loads(payload)["errorType"] == "ModuleNotFoundError"
    (lambda_runner.code_dir(fn, tmp_path) / "late_module.py").write_text("VALUE = 42\n")
    assert lambda_runner.invoke_function(fn, "{}", 5555, tmp_path) == (b"42", False)


def test_lambda_environment_of_the_old_code_ends_when_the_code_changes(tmp_path: Path) -> None:
    old = json.loads(lambda_runner.invoke_function(_fn(tmp_path, COUNTING), "{}", 5555, tmp_path)[0])
    changed = _fn(tmp_path, COUNTING + "\nVERSION = 2\n")
    new = json.loads(lambda_runner.invoke_function(changed, "{}", 5555, tmp_path)[0])
    assert new["invokes"] == 1 and new["pid"] != old["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(old["pid"], 0)


def test_lambda_runs_concurrent_invokes_in_environments_of_their_own(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    fn = _fn(tmp_path, COUNTING)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: lambda_runner.invoke_function(fn, '{"sleep": 1}', 5555, tmp_path), [1, 2])
        )
    results = [json.loads(payload) for payload, errored in answers if not errored]
    assert len({r["pid"] for r in results}) == 2


def test_lambda_invoke_through_moto_runs_code_only_when_installed(
    tmp_path: Path, sandbox_config: Any
) -> None:
    with mock_aws(config=sandbox_config):
        role = moto_role()
        client = boto3.client("lambda")
        client.create_function(
            FunctionName="gen",
            Runtime="python3.11",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": _zip(HANDLER)},
            Environment={"Variables": {"FANOUT_MODE": "inline"}},
        )
        canned = client.invoke(FunctionName="gen", Payload=json.dumps({"bad": "x"}))
        assert "FunctionError" not in canned  # moto as installed: no code runs, no error
        lambda_runner.install(5555, tmp_path)
        failed = client.invoke(FunctionName="gen", Payload=json.dumps({"bad": "x"}))
        assert failed["FunctionError"] == "Unhandled"
        assert json.loads(failed["Payload"].read())["errorType"] == "InvalidInputError"
        ok = client.invoke(FunctionName="gen", Payload=json.dumps({"count": 1}))
        assert json.loads(ok["Payload"].read())["echo"] == {"count": 1}
    # the handler was compiled once, into the sandbox's bytecode cache, not into the extracted code
    assert [p.name for p in (tmp_path / "pycache").rglob("handler.*.pyc")]
    assert not list((tmp_path / "code").rglob("__pycache__"))


# --- Batch: pure rules ----------------------------------------------------------------------------


def test_ref_substitution_replaces_whole_arguments_only() -> None:
    command = ["echo", "Ref::item", "prefix-Ref::item", "Ref::missing"]
    assert batch_runner.substitute(command, {"item": '{"a":1}'}) == [
        "echo",
        '{"a":1}',
        "prefix-Ref::item",
        "Ref::missing",
    ]


@pytest.mark.parametrize(
    ("rules", "exit_code", "status_reason", "expected"),
    [
        ([], 1, "Essential container in task exited", "RETRY"),  # no rule matches: Batch retries
        ([{"onExitCode": "3", "action": "retry"}, {"onExitCode": "*", "action": "exit"}], 3, "", "RETRY"),
        ([{"onExitCode": "3", "action": "retry"}, {"onExitCode": "*", "action": "exit"}], 4, "", "EXIT"),
        ([{"onExitCode": "1*", "action": "RETRY"}, {"onExitCode": "*", "action": "EXIT"}], 137, "", "RETRY"),
        (
            [{"onStatusReason": "Host EC2*", "action": "retry"}, {"onExitCode": "*", "action": "exit"}],
            1,
            "x",
            "EXIT",
        ),
        (
            [{"onStatusReason": "Host EC2*", "action": "retry"}],
            None,
            "Host EC2 (instance i-1) terminated.",
            "RETRY",
        ),
        ([{"onExitCode": "*", "onStatusReason": "Job attempt*", "action": "exit"}], 137, "other", "RETRY"),
    ],
)
def test_retry_strategy_first_matching_rule_wins(
    rules: list[dict[str, str]], exit_code: int | None, status_reason: str, expected: str
) -> None:
    assert batch_runner.retry_action(rules, exit_code, status_reason, "") == expected


# --- Batch: through moto --------------------------------------------------------------------------


def _batch(command: list[str], **job_def: Any) -> tuple[Any, str]:
    """A queue whose job definition runs ``command`` with FROM_DEFINITION=yes: the client, the queue."""
    environment = [{"name": "FROM_DEFINITION", "value": "yes"}]
    batch_queue(command, container={"environment": environment}, **job_def)
    return boto3.client("batch"), "queue"


SCRIPT = (
    'echo "item=$1 attempt=$AWS_BATCH_JOB_ATTEMPT index=${AWS_BATCH_JOB_ARRAY_INDEX:-none}'
    ' def=$FROM_DEFINITION"; exit "$2"'
)


def test_batch_job_runs_its_command_with_parameters_and_environment(
    tmp_path: Path, sandbox_config: Any
) -> None:
    with mock_aws(config=sandbox_config):
        batch, queue = _batch(["sh", "-c", SCRIPT, "sh", "Ref::item", "Ref::code"], parameters={"code": "0"})
        canned = batch.submit_job(jobName="j", jobQueue=queue, jobDefinition="jd", parameters={"code": "9"})
        # as installed: exit code 9 never ran
        assert wait_for_job(batch, canned["jobId"])["status"] == "SUCCEEDED"
        batch_runner.install(5555, tmp_path, workers=2)
        job = batch.submit_job(jobName="j", jobQueue=queue, jobDefinition="jd", parameters={"item": "apple"})
        done = wait_for_job(batch, job["jobId"])
        assert done["status"] == "SUCCEEDED"
        assert done["container"]["exitCode"] == 0
        log = (tmp_path / "jobs" / f"{job['jobId']}.log").read_text()
        assert "item=apple attempt=1 index=none def=yes" in log


def test_batch_exit_code_fails_the_job_after_the_retry_strategy(tmp_path: Path, sandbox_config: Any) -> None:
    with mock_aws(config=sandbox_config):
        batch, queue = _batch(
            ["sh", "-c", SCRIPT, "sh", "Ref::item", "Ref::code"],
            retryStrategy={
                "attempts": 3,
                "evaluateOnExit": [
                    {"onExitCode": "3", "action": "RETRY"},
                    {"onExitCode": "*", "action": "EXIT"},
                ],
            },
        )
        batch_runner.install(5555, tmp_path, workers=2)
        retried = batch.submit_job(
            jobName="r", jobQueue=queue, jobDefinition="jd", parameters={"item": "x", "code": "3"}
        )
        exited = batch.submit_job(
            jobName="e", jobQueue=queue, jobDefinition="jd", parameters={"item": "y", "code": "4"}
        )
        first = wait_for_job(batch, retried["jobId"])
        assert first["status"] == "FAILED"
        assert [a["container"]["exitCode"] for a in first["attempts"]] == [3, 3, 3]
        second = wait_for_job(batch, exited["jobId"])
        assert second["status"] == "FAILED"
        assert len(second["attempts"]) == 1  # exit code 4 matches the EXIT rule: no retry
        assert second["container"]["exitCode"] == 4


def test_batch_array_children_get_their_index(tmp_path: Path, sandbox_config: Any) -> None:
    with mock_aws(config=sandbox_config):
        batch, queue = _batch(["sh", "-c", SCRIPT, "sh", "Ref::item", "0"])
        batch_runner.install(5555, tmp_path, workers=2)
        job = batch.submit_job(
            jobName="a",
            jobQueue=queue,
            jobDefinition="jd",
            arrayProperties={"size": 3},
            parameters={"item": "z"},
        )
        parent = wait_for_job(batch, job["jobId"])
        assert parent["status"] == "SUCCEEDED"
        assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
        for index in range(3):
            log = (tmp_path / "jobs" / f"{job['jobId']}:{index}.log").read_text()
            assert f"index={index}" in log


def test_batch_attempt_timeout_kills_the_process(tmp_path: Path, sandbox_config: Any) -> None:
    with mock_aws(config=sandbox_config):
        batch, queue = _batch(["sleep", "30"])
        batch_runner.install(5555, tmp_path, workers=2)
        started = time.monotonic()
        job = batch.submit_job(
            jobName="t", jobQueue=queue, jobDefinition="jd", timeout={"attemptDurationSeconds": 1}
        )
        done = wait_for_job(batch, job["jobId"])
        assert done["status"] == "FAILED"
        assert done["statusReason"] == batch_runner.TIMEOUT_REASON
        assert time.monotonic() - started < 20  # not the command's 30 s


def test_terminate_job_kills_a_running_array_child(tmp_path: Path, sandbox_config: Any) -> None:
    with mock_aws(config=sandbox_config):
        batch, queue = _batch(["sleep", "30"])
        batch_runner.install(5555, tmp_path, workers=2)
        started = time.monotonic()
        job = batch.submit_job(jobName="k", jobQueue=queue, jobDefinition="jd", arrayProperties={"size": 2})
        time.sleep(0.5)
        batch.terminate_job(jobId=job["jobId"], reason="stopped by the execution")
        parent = wait_for_job(batch, job["jobId"])
        assert parent["status"] == "FAILED"
        child = batch.describe_jobs(jobs=[f"{job['jobId']}:0"])["jobs"][0]
        assert child["status"] == "FAILED"
        assert time.monotonic() - started < 20  # not the command's 30 s


def test_terminate_job_names_the_callers_reason_and_leaves_an_ended_job_as_it_was(
    tmp_path: Path, sandbox_config: Any
) -> None:
    """The runner sees the stop and the reason together (moto sets them one after the other), and
    TerminateJob on a job that has ended does not rewrite its reason, as on AWS."""
    with mock_aws(config=sandbox_config):
        batch, queue = _batch(["sh", "-c", 'exit "$1"', "sh", "Ref::code"])
        batch_runner.install(5555, tmp_path, workers=2)
        failed = batch.submit_job(jobName="f", jobQueue=queue, jobDefinition="jd", parameters={"code": "3"})
        ended = wait_for_job(batch, failed["jobId"])
        assert ended["status"] == "FAILED"
        batch.terminate_job(jobId=failed["jobId"], reason="too late")
        assert batch.describe_jobs(jobs=[failed["jobId"]])["jobs"][0]["statusReason"] == ended["statusReason"]

    with mock_aws(config=sandbox_config):
        batch, queue = _batch(["sleep", "30"])
        batch_runner.install(5555, tmp_path, workers=2)
        running = [batch.submit_job(jobName=f"r{i}", jobQueue=queue, jobDefinition="jd") for i in range(6)]
        deadline = time.monotonic() + 10
        while not batch.list_jobs(jobQueue=queue, jobStatus="RUNNING")["jobSummaryList"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for job in running:  # running and queued alike
            batch.terminate_job(jobId=job["jobId"], reason="stopped by the caller")
        for job in running:
            done = wait_for_job(batch, job["jobId"])
            assert (done["status"], done["statusReason"]) == ("FAILED", "stopped by the caller")
