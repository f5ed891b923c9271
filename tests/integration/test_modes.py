"""Every fan-out mode end to end in the sandbox: rendered definition, real generator, real jobs.

``test_stack.py`` deploys the inline stack with Terraform; Terraform plans of every mode are checked in
``tests/terraform``. Here each bucket-backed mode's rendered definition runs in a fresh sandbox with the
real generator zip and real job commands (array children really run ``python3 -m fanout_item``), so a
mode that renders and plans but cannot run is caught. Batches of 5 over 11 items also exercise the
size-1 batch, which Batch cannot run as an array job (the Choice sends it to a plain job).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("sandbox-modes")]

ITEMS = 11
PER_BATCH = 5
SINGLE_COMMAND = ["sh", "-c", 'echo "ran item=$1"', "job", "Ref::item"]
# fanout_item appends the child's item (its line of the batch) as the last argument.
ARRAY_COMMAND = ["python3", "-m", "fanout_item", "Ref::items_uri", "--", "echo", "ran item="]
INDEX = re.compile(r'^ran item=\s*\{"index":(\d+)\}$')


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    from fanout_tools.sandbox import control

    runtime = tmp_path_factory.mktemp("fanout-modes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANOUT_RUNTIME_DIR", str(runtime))
        patch.delenv("FANOUT_SANDBOX_PORT", raising=False)
        info, _ = control.up()
        try:
            yield info, runtime
        finally:
            control.down()


@pytest.fixture(scope="module")
def generator_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from fanout_tools import package
    from fanout_tools.paths import lambda_dir

    out = tmp_path_factory.mktemp("zip") / "generator.zip"
    return package.build(lambda_dir() / "generator", out).path.read_bytes()


def _items_seen(jobs_dir: Path, job_ids: set[str]) -> list[int]:
    """Indexes printed by the given jobs (array children: ``<parent id>:<index>``)."""
    seen: list[int] = []
    for log in jobs_dir.glob("*.log"):
        job_id = log.stem
        if job_id not in job_ids and job_id.split(":")[0] not in job_ids:
            continue
        for line in log.read_text().splitlines():
            match = INDEX.match(line.strip())
            if match:
                seen.append(int(match.group(1)))
    return seen


@pytest.mark.parametrize("mode", ["array", "distributed", "distributed_array"])
def test_mode_runs_every_item_in_its_own_job(
    mode: str, sandbox: tuple[Any, Path], generator_zip: bytes
) -> None:
    from fanout_tools import bench

    info, runtime = sandbox
    stack = bench.build_stack(
        info.endpoint,
        "us-east-1",
        generator_zip,
        [mode],
        items_per_batch=PER_BATCH,
        single_command=SINGLE_COMMAND,
        array_command=ARRAY_COMMAND,
    )
    result = bench.run_execution(stack, mode, ITEMS)
    assert result["status"] == "SUCCEEDED", result
    batch = stack.clients["batch"]
    job_ids = {
        job["jobId"]
        for status in ("SUCCEEDED", "FAILED")
        for job in batch.list_jobs(jobQueue=stack.job_queue_arn, jobStatus=status)["jobSummaryList"]
        if ":" not in job["jobId"]
    }
    batches = -(-ITEMS // PER_BATCH)
    assert result["submits"] == (ITEMS if mode == "distributed" else batches)
    seen = _items_seen(runtime / "sandbox" / "jobs", job_ids)
    assert sorted(seen) == list(range(ITEMS)), f"{mode}: items seen by jobs {sorted(seen)}"
    if mode != "array":  # the manifest the Distributed Map read is the generator's, in S3
        listed = stack.clients["s3"].list_objects_v2(Bucket=stack.bucket, Prefix="runs/")
        keys = [o["Key"] for o in listed.get("Contents", [])]
        manifests = [k for k in keys if k.endswith("/manifest.json") and "/results/" not in k]
        assert len(manifests) == 1
        rows = json.loads(
            stack.clients["s3"].get_object(Bucket=stack.bucket, Key=manifests[0])["Body"].read()
        )
        assert len(rows) == batches
