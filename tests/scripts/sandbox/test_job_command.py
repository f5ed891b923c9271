"""The default array command of the job definition, exactly as ``terraform/main.tf`` holds it, run in the
sandbox: a bare interpreter (``python3 -I -S``: no site-packages, so no boto3) reads each child's item
from the sandbox's S3 with SigV4-signed ranged GETs, and the sandbox's Batch runs it as array children.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.scripts.sandbox.conftest import batch_queue, served_sandbox, wait_for_job

REPO = Path(__file__).resolve().parents[3]
for folder in (REPO / "lambda" / "generator", REPO / "lambda" / "job"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

STOCK_PATH = "/usr/local/bin:/usr/bin:/bin"
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("sandbox-job-command")]


def default_array_command() -> list[str]:
    """``local.default_job_command`` for array modes, read from terraform/main.tf."""
    import inline

    text = inline.MAIN_TF.read_text()
    line = next(x for x in text.splitlines() if x.strip().startswith("default_job_command"))
    array_side = re.search(r"local\.array_mode \? (\[.*?\]) :", line).group(1)
    return json.loads(array_side.replace("local.item_reader", json.dumps(inline.terraform_program())))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    runtime = tmp_path_factory.mktemp("fanout-job-command")
    with served_sandbox(runtime) as info:
        yield info, runtime


@pytest.fixture(scope="module")
def batch_uri(sandbox: tuple[Any, Path]) -> tuple[str, list[str]]:
    import boto3
    import handler

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="job-command")
    limits = json.loads((REPO / "terraform" / "aws_limits.json").read_text())
    settings = SimpleNamespace(items_per_batch=100, limits=limits, bucket="job-command")
    items = [{"index": i, "pad": "x" * (i * 37 % 3000)} for i in range(25)]
    request = handler.Request(len(items), items, None)
    rows = list(handler.write_jsonl_batches(request.encoded(), settings, s3, "runs/cmd/"))
    texts = [json.dumps(item, separators=(",", ":")) for item in items]
    return f"s3://job-command/{rows[0][1]}", texts


def test_the_default_command_is_the_inline_reader_on_a_bare_interpreter():
    command = default_array_command()
    assert command[:4] == ["python3", "-I", "-S", "-c"]
    assert command[5:] == ["Ref::items_uri", "--", "echo"]


def test_exact_default_command_reads_the_sandbox_s3_without_site_packages(sandbox, batch_uri):
    from fanout_tools.sandbox import batch_runner, layout

    info, _ = sandbox
    uri, texts = batch_uri
    command = batch_runner.substitute(default_array_command(), {"items_uri": uri})
    # prove the interpreter really has no site-packages: boto3 is not importable under -I -S
    probe = subprocess.run(
        ["python3", "-I", "-S", "-c", "import boto3"],
        env={"PATH": STOCK_PATH},
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0
    walls = []
    for index in (0, 13, 24):
        env = layout.clean_env(
            {
                **layout.sandbox_credentials_env(info.port),
                "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
                "PATH": STOCK_PATH,  # as in python:3.12-slim (a pyenv shim on PATH costs ~0.4 s a start)
            }
        )
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - started)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == texts[index] + "\n"
    print(f"exact default command, fresh python3 -I -S, wall per child: {[round(w, 3) for w in walls]}")


def test_sandbox_batch_runs_the_exact_command_as_array_children(sandbox, batch_uri):
    import boto3

    _, runtime = sandbox
    uri, texts = batch_uri
    batch_queue(
        default_array_command(),
        container={"image": "python:3.12-slim", "memory": 512},
        parameters={"items_uri": "none"},
    )
    batch = boto3.client("batch")
    job = batch.submit_job(
        jobName="cmd",
        jobQueue="queue",
        jobDefinition="jd",
        arrayProperties={"size": len(texts)},
        parameters={"items_uri": uri},
    )
    parent = wait_for_job(batch, job["jobId"])
    assert parent["status"] == "SUCCEEDED", parent.get("statusReason")
    jobs = runtime / "sandbox" / "jobs"
    for index, text in enumerate(texts):
        log = (jobs / f"{job['jobId']}:{index}.log").read_text()
        assert f"\n{text}\n" in log, log[-500:]
