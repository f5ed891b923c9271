"""Every bucket-backed fan-out mode end to end in the sandbox, deployed as users deploy it.

``test_stack.py`` covers the inline stack (apply, executions, destroy); Terraform plans of every mode are
checked in ``tests/terraform``. Here each bucket-backed mode is one stack of ``terraform/`` applied with
Terraform into the private sandbox it shares with ``test_stop.py``'s stacks (all applied at once, in
parallel, as the bench's are: ``tests/sandbox_stacks.py``), and an execution runs the real generator and
real job commands (array children run the stack's default job command, the inline standard-library
reader then ``echo``, exactly as users get it), so a mode that renders and plans but cannot run is
caught. Batches of 5 over 11 items also exercise the size-1 batch, which Batch cannot run as an array job
(the Choice sends it to a plain job).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox_stacks import SHARED_SANDBOX_GROUP, DeployedStack

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(SHARED_SANDBOX_GROUP)]

MODES = ("array", "distributed", "distributed_array")
ITEMS = 11
PER_BATCH = 5
SINGLE_COMMAND = ["sh", "-c", 'echo "ran item=$1"', "job", "Ref::item"]
# Array modes: null = Terraform's default, whose reader appends the child's item (its line of the batch)
# to `echo`, so a child prints exactly its item.
ARRAY_COMMAND = None
INDEX = re.compile(r'^(?:ran item=)?\s*\{"index":(\d+)\}$')


def _variables(mode: str) -> dict[str, Any]:
    from fanout_tools.contract import contract

    variables: dict[str, Any] = {
        "name": f"modes-{mode.replace('_', '-')}",
        "fanout_mode": mode,
        "items_per_batch": PER_BATCH,
        "job_command": ARRAY_COMMAND if contract().is_array(mode) else SINGLE_COMMAND,
        "job_attempt_timeout_seconds": 60,
        "log_retention_days": 1,
    }
    return {key: value for key, value in variables.items() if value is not None}


SANDBOX_STACKS = {mode: _variables(mode) for mode in MODES}


@pytest.fixture(scope="module")
def stacks(shared_sandbox: dict[str, DeployedStack]) -> tuple[dict[str, DeployedStack], Path]:
    """One stack per mode, in the shared private sandbox; stopping it removes them all."""
    from fanout_tools.sandbox import layout

    return {mode: shared_sandbox[mode] for mode in MODES}, layout.jobs_dir(layout.sandbox_dir())


@pytest.fixture(scope="module")
def results(stacks: tuple[dict[str, DeployedStack], Path]) -> dict[str, Any]:
    """One execution of ITEMS items per mode, all started at once and followed in parallel: a run waits
    mostly on the emulator's .sync polling, not on the machine."""
    from fanout_tools import run

    deployed, _ = stacks

    def execute(mode: str) -> Any:
        stack, outputs = deployed[mode].stack, deployed[mode].outputs
        arn = run.start_execution(stack, outputs, {"count": ITEMS}, name=f"modes-{uuid.uuid4().hex[:10]}")
        return run.follow(stack, arn, timeout=300, poll_seconds=0.5)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(MODES)) as pool:
        found = dict(zip(MODES, pool.map(execute, MODES), strict=True))
    print(f"modes executions ({len(MODES)} in parallel): {time.monotonic() - started:.1f} s")
    time.sleep(0.5)  # the sandbox finishes a job's bookkeeping just after the execution sees it
    return found


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


@pytest.mark.parametrize("mode", MODES)
def test_mode_runs_every_item_in_its_own_job(
    mode: str, stacks: tuple[dict[str, DeployedStack], Path], results: dict[str, Any]
) -> None:
    deployed, jobs_dir = stacks
    stack, outputs = deployed[mode].stack, deployed[mode].outputs
    assert outputs["fanout_mode"] == mode
    result = results[mode]
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    batch = stack.client("batch")
    job_ids = {
        job["jobId"]
        for status in ("SUCCEEDED", "FAILED")
        for job in batch.list_jobs(jobQueue=outputs["job_queue_arn"], jobStatus=status)["jobSummaryList"]
        if ":" not in job["jobId"]  # the emulator lists array children too; they are not submissions
    }
    batches = -(-ITEMS // PER_BATCH)
    assert len(job_ids) == (ITEMS if mode == "distributed" else batches)
    seen = _items_seen(jobs_dir, job_ids)
    assert sorted(seen) == list(range(ITEMS)), f"{mode}: items seen by jobs {sorted(seen)}"
    if mode != "array":  # the manifest the Distributed Map read is the generator's, in the stack's bucket
        s3 = stack.client("s3")
        listed = s3.list_objects_v2(Bucket=outputs["bucket_name"], Prefix="runs/")
        keys = [o["Key"] for o in listed.get("Contents", [])]
        manifests = [k for k in keys if k.endswith("/manifest.json") and "/results/" not in k]
        assert len(manifests) == 1
        rows = json.loads(s3.get_object(Bucket=outputs["bucket_name"], Key=manifests[0])["Body"].read())
        assert len(rows) == batches
