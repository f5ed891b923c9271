"""Array children in the sandbox: books kept per array job, the item read in process for the inline reader.

The shortcut (:mod:`fanout_tools.sandbox.item_shortcut`) must give every child the item and the command
line the real reader would: here both are compared, the real reader reading through S3 ranged GETs
(``fanout_item.S3``'s interface over boto3, so S3's own Range semantics), the shortcut through
moto's store. ``test_job_command.py`` runs the real reader end to end over HTTP with SigV4.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from fanout_tools.sandbox import array_jobs, batch_runner, child_engine, item_shortcut, spawn_helper
from moto import mock_aws

from tests.scripts.sandbox.conftest import batch_queue, process_running, wait_for_job

REPO = Path(__file__).resolve().parents[3]
for folder in (REPO / "lambda" / "generator", REPO / "lambda" / "job"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import batches  # noqa: E402
import fanout_item  # noqa: E402
import inline  # noqa: E402

pytestmark = pytest.mark.usefixtures("pristine_moto", "aws_env")


@pytest.fixture(params=["helper", "threads"])
def started_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Children started by the spawn helper (the default), or by launcher threads (no C compiler)."""
    if request.param == "threads":
        monkeypatch.setenv(spawn_helper.DISABLE_VARIABLE, "0")
    else:
        assert spawn_helper.program() is not None, "this machine has a C compiler"
    return str(request.param)


ITEMS = [{"index": i, "pad": "x" * (i * 37 % 500), "text": "é ünïcode"} for i in range(12)]
ARGV_PRINTER = ["python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", "fixed"]


def reader_command(uri: str, *user: str) -> list[str]:
    return ["python3", "-I", "-S", "-c", inline.terraform_program(), uri, "--", *user]


def write_batch(s3: Any, bucket: str, key: str, items: list[dict[str, Any]]) -> str:
    body, index = batches.encode(
        [json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode() for item in items]
    )
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    s3.put_object(Bucket=bucket, Key=batches.index_key(key), Body=index)
    return f"s3://{bucket}/{key}"


class BotoRanges:
    """``fanout_item.S3``'s interface over boto3: S3's own ranged GETs (404, 416, short at the end)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requests = 0

    def get_range(self, bucket: str, key: str, first: int, last: int) -> bytes:
        self.requests += 1
        try:
            return bytes(
                self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")["Body"].read()
            )
        except ClientError as err:
            status = err.response["ResponseMetadata"]["HTTPStatusCode"]
            if status == 404:
                raise fanout_item.NotFound(f"s3://{bucket}/{key}") from None
            if status == 416:
                raise fanout_item.ItemNotFoundError("range not satisfiable") from None
            raise

    def lines(self, bucket: str, key: str) -> Any:
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            raise fanout_item.NotFound(f"s3://{bucket}/{key}") from None
        yield from body.splitlines(keepends=True)


def real_reader(uri: str, index: int, user: list[str], s3: Any) -> tuple[int, list[str] | None]:
    """What ``fanout_item.main`` does for child ``index``: (exit code, the argv it would exec)."""
    execed: list[list[str]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", str(index))
        code = fanout_item.main([uri, "--", *user], exec_fn=lambda _f, argv: execed.append(argv), s3=s3)
    return code, (execed[0] if execed else None)


def test_reader_command_is_recognised_only_exactly() -> None:
    uri = "s3://b/runs/x/items/batch-000000.jsonl"
    assert item_shortcut.is_reader_command(reader_command(uri, "true"))
    assert not item_shortcut.is_reader_command(reader_command(uri))  # no command after --
    assert not item_shortcut.is_reader_command(
        ["python3", "-I", "-c", inline.terraform_program(), uri, "--", "x"]
    )
    assert not item_shortcut.is_reader_command([*reader_command(uri, "x")[:4], "print(1)", uri, "--", "x"])
    assert not item_shortcut.is_reader_command(["python3", "-m", "fanout_item", uri, "--", "x"])
    shown = item_shortcut.display(reader_command(uri, "true"))
    assert "<item_reader>" in shown and len(shown) < 200


def test_shortcut_gives_the_same_item_and_command_line_as_the_reader() -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="items")
        uri = write_batch(client, "items", "runs/r/items/batch-000000.jsonl", ITEMS)
        memory = item_shortcut.MemoryS3("123456789012")
        paths = item_shortcut.CommandPaths()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
        for index in range(len(ITEMS)):
            before = memory.requests
            resolved = item_shortcut.resolve(reader_command(uri, *ARGV_PRINTER), index, memory, env, paths)
            code, argv = real_reader(uri, index, ARGV_PRINTER, BotoRanges(client))
            assert code == 0 and resolved.exit_code is None
            assert (
                resolved.argv
                == argv
                == [*ARGV_PRINTER, json.dumps(ITEMS[index], separators=(",", ":"), ensure_ascii=False)]
            )
            assert memory.requests - before == 2  # the reader's two ranges: index entry, then the line
            assert resolved.path == paths("python3", env["PATH"])


@pytest.mark.parametrize(
    ("uri", "index", "user", "code", "message"),
    [
        ("s3://items/runs/r/items/batch-000000.jsonl", 12, ["true"], 66, "no line 12"),
        ("s3://items/runs/r/items/missing.jsonl", 0, ["true"], 66, "does not exist"),
        ("s3://nobucket/runs/r/items/batch-000000.jsonl", 0, ["true"], 66, "does not exist"),
        ("s3://items/runs/r/items/batch-000000.jsonl", 0, ["no-such-command-xyz"], 127, "command not found"),
    ],
)
def test_shortcut_fails_as_the_reader_does(
    uri: str, index: int, user: list[str], code: int, message: str
) -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="items")
        write_batch(client, "items", "runs/r/items/batch-000000.jsonl", ITEMS)
        resolved = item_shortcut.resolve(
            reader_command(uri, *user),
            index,
            item_shortcut.MemoryS3("123456789012"),
            {"PATH": "/usr/bin:/bin"},
            item_shortcut.CommandPaths(),
        )
        assert resolved.argv is None and resolved.exit_code == code and message in resolved.message


# --- through moto's Batch --------------------------------------------------------------------------


def _queue(command: list[str], **job_def: Any) -> Any:
    """A queue whose job definition runs ``command`` (see ``batch_queue``); returns the Batch client."""
    batch_queue(command, parameters={"items_uri": "none"}, **job_def)
    return boto3.client("batch")


def _run_array(
    tmp_path: Path, command: list[str], size: int, workers: int, **job_def: Any
) -> tuple[Any, str]:
    """An array job of ``size`` children running ``command`` on the sandbox's Batch runner with
    ``workers`` slots; returns the Batch client and the parent's job id."""
    batch = _queue(command, **job_def)
    batch_runner.install(5555, tmp_path, workers=workers)
    job = batch.submit_job(
        jobName="array", jobQueue="queue", jobDefinition="jd", arrayProperties={"size": size}
    )
    return batch, str(job["jobId"])


def test_array_books_answer_describe_and_list_like_aws(tmp_path: Path, sandbox_config: Any) -> None:
    script = (
        'echo "child $AWS_BATCH_JOB_ARRAY_INDEX attempt $AWS_BATCH_JOB_ATTEMPT id $AWS_BATCH_JOB_ID";'
        " exit $(( AWS_BATCH_JOB_ARRAY_INDEX % 3 == 1 ))"
    )
    with mock_aws(config=sandbox_config):
        batch, job_id = _run_array(tmp_path, ["sh", "-c", script], 7, 2, retryStrategy={"attempts": 2})
        parent = wait_for_job(batch, job_id)
        assert parent["status"] == "FAILED"
        assert parent["statusReason"] == "2 of 7 child jobs failed"
        summary = parent["arrayProperties"]["statusSummary"]
        assert (summary["SUCCEEDED"], summary["FAILED"], parent["arrayProperties"]["size"]) == (5, 2, 7)
        ids = [f"{job_id}:{i}" for i in range(7)]
        described = batch.describe_jobs(jobs=ids)["jobs"]
        assert [d["jobId"] for d in described] == ids
        for index, child in enumerate(described):
            assert child["arrayProperties"] == {"index": index}
            assert child["jobArn"].endswith(f"job/{job_id}:{index}")
            env = {e["name"]: e["value"] for e in child["container"]["environment"]}
            assert env["AWS_BATCH_JOB_ID"] == ids[index]
            failing = index % 3 == 1
            assert child["status"] == ("FAILED" if failing else "SUCCEEDED")
            assert child["container"]["exitCode"] == (1 if failing else 0)
            assert len(child["attempts"]) == (2 if failing else 1)
            assert child["container"]["logStreamName"] == f"jd/default/{ids[index]}"
            log = (tmp_path / "jobs" / f"{ids[index]}.log").read_text()
            assert f"child {index} attempt 1 id {ids[index]}" in log
        failed = batch.list_jobs(arrayJobId=job_id, jobStatus="FAILED")["jobSummaryList"]
        assert sorted(s["jobId"] for s in failed) == [ids[1], ids[4]]
        assert all(s["arrayProperties"] == {"index": int(s["jobId"].rsplit(":", 1)[1])} for s in failed)
        assert len(batch.list_jobs(arrayJobId=job_id, jobStatus="SUCCEEDED")["jobSummaryList"]) == 5
        # AWS lists array children only under their parent, not in the queue
        for status in array_jobs.STATUSES:
            listed = batch.list_jobs(jobQueue="queue", jobStatus=status)["jobSummaryList"]
            assert all(":" not in s["jobId"] for s in listed)
        events = boto3.client("logs").get_log_events(
            logGroupName="/aws/batch/job", logStreamName=f"jd/default/{ids[4]}", startFromHead=True
        )["events"]
        messages = [e["message"] for e in events]
        assert messages.count(f"child 4 attempt 2 id {ids[4]}") == 1 and "--- exit code 1" in messages


@pytest.mark.usefixtures("started_by")
def test_the_reader_command_runs_the_users_command_per_child(tmp_path: Path, sandbox_config: Any) -> None:
    with mock_aws(config=sandbox_config):
        client = boto3.client("s3")
        client.create_bucket(Bucket="items")
        uri = write_batch(client, "items", "runs/r/items/batch-000000.jsonl", ITEMS)
        batch = _queue(reader_command("Ref::items_uri", *ARGV_PRINTER))
        batch_runner.install(5555, tmp_path, workers=2)
        job = batch.submit_job(
            jobName="reader",
            jobQueue="queue",
            jobDefinition="jd",
            arrayProperties={"size": len(ITEMS) + 1},  # one child past the end of the batch
            parameters={"items_uri": uri},
        )
        parent = wait_for_job(batch, job["jobId"])
        assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == len(ITEMS)
        for index, item in enumerate(ITEMS):
            log = (tmp_path / "jobs" / f"{job['jobId']}:{index}.log").read_text()
            assert item_shortcut.SHORTCUT_NOTE in log and "<item_reader>" in log
            printed = json.loads(log.splitlines()[1])
            assert printed == [*ARGV_PRINTER[3:], json.dumps(item, separators=(",", ":"), ensure_ascii=False)]
        past = batch.describe_jobs(jobs=[f"{job['jobId']}:{len(ITEMS)}"])["jobs"][0]
        assert (past["status"], past["container"]["exitCode"]) == ("FAILED", 66)


@pytest.mark.usefixtures("started_by")
def test_terminate_one_child_leaves_the_others(tmp_path: Path, sandbox_config: Any) -> None:
    with mock_aws(config=sandbox_config):
        batch = _queue(["sh", "-c", 'if [ "$AWS_BATCH_JOB_ARRAY_INDEX" = 0 ]; then sleep 30; fi'])
        batch_runner.install(5555, tmp_path, workers=4)
        started = time.monotonic()
        job = batch.submit_job(jobName="t", jobQueue="queue", jobDefinition="jd", arrayProperties={"size": 3})
        deadline = time.monotonic() + 20
        while batch.describe_jobs(jobs=[f"{job['jobId']}:0"])["jobs"][0]["status"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        batch.terminate_job(jobId=f"{job['jobId']}:0", reason="not this one")
        parent = wait_for_job(batch, job["jobId"])
        assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 2
        child = batch.describe_jobs(jobs=[f"{job['jobId']}:0"])["jobs"][0]
        assert (child["status"], child["statusReason"]) == ("FAILED", "not this one")
        assert time.monotonic() - started < 20


@pytest.mark.usefixtures("started_by")
def test_every_childs_output_is_in_its_own_log_stream_when_the_parent_ends(
    tmp_path: Path, sandbox_config: Any
) -> None:
    """The engine publishes children's lines in batches: all of them are in CloudWatch Logs, each in
    its child's stream and in order, by the time DescribeJobs shows the parent finished."""
    size = 9
    with mock_aws(config=sandbox_config):
        batch = _queue(
            ["sh", "-c", 'echo "one $AWS_BATCH_JOB_ARRAY_INDEX"; echo "two $AWS_BATCH_JOB_ARRAY_INDEX"']
        )
        batch_runner.install(5555, tmp_path, workers=3)
        job = batch.submit_job(
            jobName="logs", jobQueue="queue", jobDefinition="jd", arrayProperties={"size": size}
        )
        assert wait_for_job(batch, job["jobId"])["status"] == "SUCCEEDED"
        logs = boto3.client("logs")
        streams = logs.describe_log_streams(logGroupName="/aws/batch/job")["logStreams"]
        assert sorted(s["logStreamName"] for s in streams) == sorted(
            f"jd/default/{job['jobId']}:{i}" for i in range(size)
        )
        for index in range(size):
            events = logs.get_log_events(
                logGroupName="/aws/batch/job",
                logStreamName=f"jd/default/{job['jobId']}:{index}",
                startFromHead=True,
            )["events"]
            messages = [e["message"] for e in events]
            assert messages[0].startswith("--- attempt 1: ")
            assert messages[1:] == [f"one {index}", f"two {index}", "--- exit code 0"]
            assert all(e["timestamp"] > 0 for e in events)


@pytest.mark.usefixtures("started_by")
def test_each_childs_log_is_its_header_its_output_and_how_it_ended(
    tmp_path: Path, sandbox_config: Any
) -> None:
    """The lines the sandbox adds around a child's output, in its ``.log`` file and its log stream: the
    attempt header, then what the child printed, then its exit code, or why it was killed (the attempt
    timeout, a TerminateJob); a child that succeeded silently gets no ``.log`` file."""
    script = (
        'case "$AWS_BATCH_JOB_ARRAY_INDEX" in 0|1) echo "waiting $AWS_BATCH_JOB_ARRAY_INDEX"; sleep 30;;'
        ' 2) echo "out 2"; echo "err 2" >&2;; esac'
    )
    with mock_aws(config=sandbox_config):
        batch, job_id = _run_array(
            tmp_path, ["sh", "-c", script], 4, 4, timeout={"attemptDurationSeconds": 2}
        )
        ids = [f"{job_id}:{i}" for i in range(4)]
        deadline = time.monotonic() + 20
        while batch.describe_jobs(jobs=[ids[1]])["jobs"][0]["status"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        batch.terminate_job(jobId=ids[1], reason="not this one")
        assert wait_for_job(batch, job_id)["status"] == "FAILED"
        children = batch.describe_jobs(jobs=ids)["jobs"]
        assert [(c["status"], c.get("statusReason")) for c in children] == [
            ("FAILED", child_engine.TIMEOUT_REASON),
            ("FAILED", "not this one"),
            ("SUCCEEDED", None),
            ("SUCCEEDED", None),
        ]
        header = f"--- attempt 1: {item_shortcut.display(['sh', '-c', script])}"
        expected = {
            0: [header, "waiting 0", "--- killed after 2 s (attempt timeout)"],
            1: [header, "waiting 1", "--- terminated: not this one"],
            2: [header, "out 2", "err 2", "--- exit code 0"],
        }
        logs = boto3.client("logs")
        for index, child_id in enumerate(ids):
            events = logs.get_log_events(
                logGroupName="/aws/batch/job", logStreamName=f"jd/default/{child_id}", startFromHead=True
            )["events"]
            lines = expected.get(index, [header, "--- exit code 0"])
            assert [e["message"] for e in events] == lines
            log = tmp_path / "jobs" / f"{child_id}.log"
            if index in expected:
                assert log.read_text() == "".join(f"{line}\n" for line in lines)
            else:
                assert not log.exists()


@pytest.mark.usefixtures("started_by")
def test_a_child_whose_program_cannot_start_fails_with_the_reason(
    tmp_path: Path, sandbox_config: Any
) -> None:
    """posix_spawn's error (here ENOEXEC: executable, but no format the kernel runs) fails the child
    as Batch's CannotStartContainerError, with the error in its log; the other children still run."""
    program = tmp_path / "not-a-program"
    program.write_bytes(b"\x00\x01 not an executable format")
    program.chmod(0o755)
    with mock_aws(config=sandbox_config):
        batch, job_id = _run_array(tmp_path, [str(program)], 3, 2)
        parent = wait_for_job(batch, job_id)
        assert parent["status"] == "FAILED"
        children = batch.describe_jobs(jobs=[f"{job_id}:{i}" for i in range(3)])["jobs"]
        for child in children:
            assert (child["status"], child["container"]["exitCode"]) == ("FAILED", 127)
            assert child["container"]["reason"].startswith("CannotStartContainerError: [Errno 8] Exec format")
        log = (tmp_path / "jobs" / f"{job_id}:0.log").read_text()
        assert f"cannot start: [Errno 8] Exec format error: '{program}'" in log


def test_silent_childrens_streams_are_made_when_read(tmp_path: Path, sandbox_config: Any) -> None:
    """A child that succeeds at once without printing keeps no stream in moto until CloudWatch Logs is
    asked (a million of them took 1.3 GB): GetLogEvents makes the one stream it reads, any other call
    all of them; through the API they are there from the parent's end, as any other child's."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.logs.models import logs_backends

    with mock_aws(config=sandbox_config):
        batch, job_id = _run_array(tmp_path, ["true"], 5, 2)
        assert wait_for_job(batch, job_id)["status"] == "SUCCEEDED"
        stored = logs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].groups
        assert "/aws/batch/job" not in stored or not stored["/aws/batch/job"].streams
        logs = boto3.client("logs")
        events = logs.get_log_events(
            logGroupName="/aws/batch/job", logStreamName=f"jd/default/{job_id}:3", startFromHead=True
        )["events"]
        header = f"--- attempt 1: {item_shortcut.display(['true'])}"
        assert [e["message"] for e in events] == [header, "--- exit code 0"]
        assert all(e["timestamp"] > 0 for e in events)
        assert list(stored["/aws/batch/job"].streams) == [f"jd/default/{job_id}:3"]
        streams = logs.describe_log_streams(logGroupName="/aws/batch/job")["logStreams"]
        assert sorted(s["logStreamName"] for s in streams) == [f"jd/default/{job_id}:{i}" for i in range(5)]
        assert not list((tmp_path / "jobs").glob("*.log"))


def test_a_lost_spawn_helper_fails_its_children_visibly_and_the_rest_run(
    tmp_path: Path, sandbox_config: Any
) -> None:
    """A helper that dies (it never should) takes its running children's reports with it: those
    children fail naming the error, and every later child starts from launcher threads; the parent
    still ends."""
    import contextlib
    import os
    import signal

    with mock_aws(config=sandbox_config):
        pids = tmp_path / "pids"
        script = f'if [ "$AWS_BATCH_JOB_ARRAY_INDEX" -lt 2 ]; then echo $$ >> {pids}; sleep 30; fi'
        batch = _queue(["sh", "-c", script])
        runner = batch_runner.install(5555, tmp_path, workers=2)
        job = batch.submit_job(jobName="t", jobQueue="queue", jobDefinition="jd", arrayProperties={"size": 6})
        ids = [f"{job['jobId']}:{i}" for i in range(6)]
        deadline = time.monotonic() + 20
        while [c["status"] for c in batch.describe_jobs(jobs=ids[:2])["jobs"]] != ["RUNNING"] * 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert runner.engine is not None and runner.engine.helpers
        for helper in list(runner.engine.helpers.values()):
            # the engine closes every helper once it sees the first one gone: a later one may have ended
            with contextlib.suppress(ProcessLookupError):
                os.kill(helper.process.pid, signal.SIGKILL)
        parent = wait_for_job(batch, job["jobId"])
        assert parent["status"] == "FAILED"
        children = batch.describe_jobs(jobs=ids)["jobs"]
        assert [c["status"] for c in children] == ["FAILED", "FAILED"] + ["SUCCEEDED"] * 4
        assert all(c["statusReason"].startswith("sandbox runner error: ") for c in children[:2])
        assert not runner.engine.helpers and runner.engine.launchers_started
        gone_by = time.monotonic() + 5  # killed, not left running unseen (they sleep 30 s)
        for pid in (int(p) for p in pids.read_text().split()):
            while process_running(pid):
                assert time.monotonic() < gone_by
                time.sleep(0.05)
