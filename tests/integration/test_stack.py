"""The whole product, end to end: Terraform apply -> executions -> destroy.

Against the local sandbox account (the default, part of ``make test``): the module deploys the real
stack with the real Terraform and provider into a FRESH sandbox (its own runtime folder and port),
runs executions whose generator Lambda and Batch jobs really execute, and destroys everything.

Against a real AWS account, the same code runs with ``TARGET=aws``::

    # credentials for a sandbox account, and terraform/backends/aws.s3.tfbackend (or
    # FANOUT_BACKEND_CONFIG) naming an S3 bucket for the state; then
    TARGET=aws .venv/bin/pytest -m integration tests/integration -n 0

Every name comes from Terraform's outputs (never hard-coded); job output is read from CloudWatch
Logs there and from the sandbox's job logs here. The stack is named ``fanout-it`` (see
:data:`TEST_VARS`) so it does not collide with a ``make apply`` stack; on AWS the Batch compute
environment needs real capacity (Fargate by default), so a run takes minutes, not seconds.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("sandbox")]

# job_command: print the item, fail with exit code 3 when it contains "fail" (retried: 2 attempts).
TEST_VARS: dict[str, Any] = {
    "name": "fanout-it",
    "fanout_mode": "inline",
    "max_concurrency": 10,
    "job_command": [
        "sh",
        "-c",
        'echo "item=$1 attempt=$AWS_BATCH_JOB_ATTEMPT"; case "$1" in *fail*) exit 3;; esac',
        "job",
        "Ref::item",
    ],
    "job_retry_exit_codes": ["3"],
    "job_attempts": 2,
    "job_attempt_timeout_seconds": 60,
    "log_retention_days": 1,
}
ON_AWS = os.environ.get("TARGET", "sandbox").lower() == "aws"
RUN_TIMEOUT = 1800.0 if ON_AWS else 120.0


@dataclass
class Deployed:
    stack: Any  # fanout_tools.deploy.Stack
    outputs: dict[str, Any]
    destroyed: bool = False

    @property
    def target(self) -> Any:
        return self.stack.target


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """One apply shared by every test in this module, in a private runtime folder (fresh sandbox)."""
    from fanout_tools import deploy
    from fanout_tools.sandbox import control

    runtime = tmp_path_factory.mktemp("fanout-integration")
    var_file = runtime / "integration.tfvars.json"
    var_file.write_text(json.dumps(TEST_VARS, indent=2))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANOUT_RUNTIME_DIR", str(runtime))
        patch.delenv("FANOUT_SANDBOX_PORT", raising=False)
        try:
            started = time.monotonic()
            opened = deploy.open_stack(None, [var_file])
            opened.runner().apply(capture=True)
            print(f"integration apply: {time.monotonic() - started:.1f} s")
            built = Deployed(stack=opened, outputs=opened.outputs())
            yield built
            if not built.destroyed:
                opened.runner().destroy(capture=True)
        finally:
            if not ON_AWS:
                control.down()


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


def test_failing_item_is_retried_per_the_retry_strategy_then_fails_the_execution(stack: Deployed) -> None:
    result = _execute(stack, {"items": [{"value": "fine"}, {"value": "please fail"}]})
    assert result.status == "FAILED"
    assert result.error == "States.TaskFailed"
    failed = [j for j in result.jobs if j.status == "FAILED"]
    assert len(failed) == 1
    job = failed[0]
    assert job.exit_code == 3
    assert job.attempts == TEST_VARS["job_attempts"]
    output = _job_output(stack, job)
    assert "please fail" in output
    if not ON_AWS:  # both attempts ran (AWS writes one stream per attempt)
        assert "attempt=1" in output and "attempt=2" in output


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
