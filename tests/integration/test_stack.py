"""The whole product, end to end: Terraform apply -> executions -> destroy, on both targets.

``make test`` runs this module twice, each in a FRESH local sandbox (own runtime folder and port):

* ``sandbox``: ``TARGET=sandbox``, the default.
* ``aws-rehearsal``: ``TARGET=aws`` against the local account posing as a real one (fake
  credentials, ``AWS_ENDPOINT_URL`` at the sandbox server, a state bucket created there, a backend
  file naming it): the code path a real account takes, with no branch that knows it is an emulator.
  ``AWS_REGION`` is deliberately another Region than the stack's: every client must follow the stack.

Against a real AWS account, the same code runs with ``TARGET=aws``::

    # credentials for a sandbox account, and terraform/backends/aws.s3.tfbackend (or
    # FANOUT_BACKEND_CONFIG) naming an S3 bucket for the state; then
    TARGET=aws .venv/bin/pytest -m integration tests/integration/test_stack.py -n 0

Every name comes from Terraform's outputs (never hard-coded); job output is read the way
``fanout run`` reads it (CloudWatch Logs on aws). The stack is named ``fanout-it`` (see
:data:`TEST_VARS`), so its state key differs from a ``make apply`` stack's: a test proves that a
``fanout`` stack's state in the same bucket is untouched. On AWS the Batch compute environment needs
real capacity (Fargate by default), so a run takes minutes, not seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox_stacks import (
    ITEM_JOB_VARIABLES,
    DeployedStack,
    SandboxStacks,
    deploy_stacks,
    private_sandbox,
)

pytestmark = [pytest.mark.integration]

TEST_VARS: dict[str, Any] = {"name": "fanout-it", **ITEM_JOB_VARIABLES}  # exit 3 on "fail", 2 attempts
ON_AWS = os.environ.get("TARGET", "sandbox").lower() == "aws"  # a real account, run by hand
RUN_TIMEOUT = 1800.0 if ON_AWS else 120.0
REHEARSAL_BUCKET = "rehearsal-state"
# The stack a user deployed in the same account: the tests must never touch its state.
USERS_STATE = b'{"version": 4, "serial": 7, "lineage": "users-own-stack", "resources": []}'
# Each target's stack lives in a private sandbox (own runtime folder and port), so each target is an xdist
# group of its own: no other test waits behind its apply and destroy on the same worker.
TARGETS = (
    [pytest.param("aws", marks=pytest.mark.xdist_group("real-aws"))]
    if ON_AWS
    else [
        pytest.param("sandbox", marks=pytest.mark.xdist_group("stack-sandbox")),
        pytest.param("aws-rehearsal", marks=pytest.mark.xdist_group("aws-rehearsal")),
    ]
)


@dataclass
class Deployed(DeployedStack):
    env: dict[str, str] = field(default_factory=dict)  # the environment the target's commands see


def _pose_as_real_account(patch: pytest.MonkeyPatch, endpoint: str, runtime: Path) -> None:
    """Fake credentials and AWS_ENDPOINT_URL at the sandbox: what a user's shell would hold."""
    import boto3

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        patch.delenv(key)
    patch.setenv("AWS_ENDPOINT_URL", endpoint)
    patch.setenv("AWS_ACCESS_KEY_ID", "rehearsal")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "rehearsal")
    patch.setenv("AWS_REGION", "eu-west-1")  # not the stack's Region (us-east-1): clients must not follow it
    patch.setenv("AWS_CONFIG_FILE", os.devnull)
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=REHEARSAL_BUCKET)
    from fanout_tools.targets.base import state_key

    s3.put_object(Bucket=REHEARSAL_BUCKET, Key=state_key("fanout"), Body=USERS_STATE)
    backend = runtime / "rehearsal.s3.tfbackend"
    backend.write_text(
        f'bucket       = "{REHEARSAL_BUCKET}"\nregion       = "us-east-1"\nuse_lockfile = true\n'
    )
    patch.setenv("FANOUT_BACKEND_CONFIG", str(backend))


@pytest.fixture(scope="module", params=TARGETS)
def stack(request: pytest.FixtureRequest, sandbox_stacks: SandboxStacks) -> Iterator[Deployed]:
    """One apply shared by every test of a target, in a private runtime folder (fresh sandbox)."""
    from fanout_tools.sandbox import control

    kind = str(request.param)
    runtime = sandbox_stacks.runtime(f"fanout-{kind}")
    sandbox = contextlib.nullcontext() if ON_AWS else private_sandbox(runtime)  # a real account has none
    with sandbox, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANOUT_RUNTIME_DIR", str(runtime))
        if kind == "aws-rehearsal":
            info, _ = control.up()
            _pose_as_real_account(patch, info.endpoint, runtime)
        started = time.monotonic()
        target = "sandbox" if kind == "sandbox" else "aws"
        built = deploy_stacks(runtime, {"integration": TEST_VARS}, target, kind=Deployed)["integration"]
        print(f"integration apply ({kind}): {time.monotonic() - started:.1f} s")
        built.env = dict(os.environ)
        yield built
        if not built.destroyed:
            built.destroy()


def _execute(deployed: Deployed, payload: dict[str, Any]) -> Any:
    from fanout_tools import run

    arn = run.start_execution(deployed.stack, deployed.outputs, payload, name=f"it-{uuid.uuid4().hex[:10]}")
    return run.follow(deployed.stack, arn, timeout=RUN_TIMEOUT, poll_seconds=0.3 if not ON_AWS else 5)


def _job_output(deployed: Deployed, job: Any) -> str:
    """What the job printed, read the way `fanout run` reads it on either target."""
    log = deployed.target.job_log(deployed.outputs, job.job_id, job.log_stream, lines=100)
    return "\n".join(log.lines)


def test_every_item_reaches_its_own_job_with_its_own_value(stack: Deployed) -> None:
    token = uuid.uuid4().hex[:8]
    values = [f"value-{i}-{token}" for i in range(5)]
    result = _execute(stack, {"items": [{"value": v} for v in values]})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.progress.total == 5
    assert result.progress.succeeded == 5 and result.progress.failed == 0
    assert len(result.jobs) == 5 and len({j.job_id for j in result.jobs}) == 5
    seen: dict[str, str] = {}
    for job in result.jobs:
        assert job.status == "SUCCEEDED" and job.exit_code == 0
        output = _job_output(stack, job)
        mine = [v for v in values if v in output]
        assert len(mine) == 1, f"job {job.job_id} saw {mine} in {output!r}"
        assert mine[0] in job.work  # the Batch parameter the summary shows
        seen[mine[0]] = job.job_id
    assert sorted(seen) == sorted(values)  # every value went to exactly one job
    assert result.history_events > 0


def test_generator_bad_input_fails_with_its_error_name_and_message(stack: Deployed) -> None:
    result = _execute(stack, {"count": -1})
    assert result.status == "FAILED"
    assert result.error == "InvalidInputError"
    assert "'count' must be a positive integer, got -1" in (result.cause or "")
    assert result.jobs == []  # nothing was submitted


def test_failing_item_is_retried_then_named_and_the_others_still_run(stack: Deployed) -> None:
    """Both targets, the same code: the item that fails is retried per the retry strategy, every other
    item still runs, the run fails with ItemsFailed, and the summary `fanout status` reads names it."""
    from fanout_tools import status

    result = _execute(stack, {"items": [{"value": "fine"}, {"value": "please fail"}, {"value": "also fine"}]})
    assert (result.status, result.error) == ("FAILED", "ItemsFailed")
    assert "1 of 3 items failed" in (result.cause or "")
    assert sorted(j.status for j in result.jobs) == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    view = status.read_execution(stack.stack.client("stepfunctions"), result.execution_arn)
    assert view.summary is not None and (view.summary.failed, view.summary.outcome) == (1, "ITEMS_FAILED")
    (record,) = [status.FailedItem.parse(r) for r in view.summary.records]
    assert (record.index, record.item, record.exit_code) == (1, {"value": "please fail"}, 3)
    assert record.attempts == TEST_VARS["job_attempts"]
    job = next(j for j in result.jobs if j.status == "FAILED")
    assert record.job_id == job.job_id
    output = _job_output(stack, job)
    assert "please fail" in output
    if not ON_AWS:  # both attempts ran (AWS writes one stream per attempt)
        assert "attempt=1" in output and "attempt=2" in output


def _tree_listing() -> list[str]:
    """Files in terraform/ that git does not track, ignored ones included: what a killed command
    could have left there."""
    repo = Path(__file__).resolve().parents[2]
    listed = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "terraform"],
        cwd=repo,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.splitlines()
    return sorted(line for line in listed if line.startswith(("??", "!!")))


def _lock_held(deployed: Deployed) -> bool:
    backend = deployed.target.backend(deployed.stack.name)
    s3 = deployed.target.client("s3", region=backend.setting("region"))
    listed = s3.list_objects_v2(Bucket=backend.setting("bucket"), Prefix=f"{backend.setting('key')}.tflock")
    return bool(listed.get("Contents"))


@pytest.mark.skipif(ON_AWS, reason="kills a command on purpose; run against the local accounts only")
def test_a_killed_command_leaves_nothing_behind_and_unlock_releases_its_lock(
    stack: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools.cli import main

    before = _tree_listing()
    fanout = Path(sys.executable).with_name("fanout")
    proc = subprocess.Popen(
        [str(fanout), *stack.cli("plan")],
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _lock_held(stack):
        assert proc.poll() is None, "the plan ended before it took the state lock"
        assert time.monotonic() < deadline, "the plan never took the state lock"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # fanout and terraform at once: nothing can clean up
    proc.wait()
    assert _tree_listing() == before  # nothing written into terraform/ survives the kill
    assert _lock_held(stack)
    capsys.readouterr()
    assert main(stack.cli("plan")) == 2  # the stale lock stops the next command, which says what to do
    assert "make unlock" in capsys.readouterr().err
    assert main(stack.cli("unlock")) == 0
    assert "released" in capsys.readouterr().out
    assert not _lock_held(stack)
    assert main(stack.cli("plan")) == 0
    assert "plan: no changes" in capsys.readouterr().out


def test_destroy_leaves_nothing(stack: Deployed) -> None:
    outputs = stack.outputs
    stack.stack.runner().destroy(capture=True)
    stack.destroyed = True
    sfn = stack.target.client("stepfunctions")
    machines = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
    assert outputs["state_machine_arn"] not in machines
    functions = [f["FunctionName"] for f in stack.target.client("lambda").list_functions()["Functions"]]
    assert outputs["generator_function_name"] not in functions
    batch = stack.target.client("batch")
    queues = [q for q in batch.describe_job_queues()["jobQueues"] if q.get("status") != "DELETED"]
    assert outputs["job_queue_name"] not in [q["jobQueueName"] for q in queues]
    definitions = batch.describe_job_definitions(
        jobDefinitionName=outputs["job_definition_name"], status="ACTIVE"
    )
    assert definitions["jobDefinitions"] == []
    roles = [r["RoleName"] for r in stack.target.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith(TEST_VARS["name"])]
    if not ON_AWS:  # the whole local account is empty again (but for its Terraform state bucket)
        assert machines == [] and functions == [] and queues == []
        environments = batch.describe_compute_environments()["computeEnvironments"]
        assert [e for e in environments if e.get("status") != "DELETED"] == []
    if stack.env.get("FANOUT_BACKEND_CONFIG"):  # the user's stack in the same bucket: untouched
        from fanout_tools.targets.base import state_key

        s3 = stack.target.client("s3", region="us-east-1")
        body = s3.get_object(Bucket=REHEARSAL_BUCKET, Key=state_key("fanout"))["Body"].read()
        assert body == USERS_STATE
