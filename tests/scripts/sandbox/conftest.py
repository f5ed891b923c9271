"""Fixtures for the sandbox tests: undo every moto patch after each test, and an in-process moto; helpers
for the Batch queue, waits and private servers the tests build on."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.sandbox_stacks import private_sandbox

PATCHED: list[tuple[str, str, str]] = [
    # (module, class or "", attribute) of everything compat/lambda_runner/batch_runner touch
    ("moto.stepfunctions.responses", "StepFunctionResponse", "validate_state_machine_definition"),
    ("moto.stepfunctions.responses", "StepFunctionResponse", "list_state_machine_versions"),
    ("moto.stepfunctions.parser.asl.parse.asl_parser", "AmazonStateLanguageParser", "parse"),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
        "StateTaskService",
        "_normalise_parameters",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
        "StateTaskService",
        "_normalise_response",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker",
        "",
        "CustomErrorName",
    ),
    ("moto.awslambda_simple.models", "LambdaSimpleBackend", "invoke"),
    ("moto.batch_simple.models", "BatchSimpleBackend", "submit_job"),
    ("moto.batch.models", "BatchBackend", "describe_jobs"),
    ("moto.batch.models", "BatchBackend", "list_jobs"),
    ("moto.batch.models", "BatchBackend", "terminate_job"),
    ("moto.batch.models", "BatchBackend", "cancel_job"),
    ("moto.batch.models", "Job", "terminate"),
    ("moto.iam.access_control", "IAMPolicyStatement", "is_action_permitted"),
    ("moto.stepfunctions.parser.backend.execution", "BaseExecutionWorkerCommunication", "terminated"),
    ("moto.events.models", "Rule", "send_to_targets"),
    ("moto.batch.responses", "BatchResponse", "createjobqueue"),
    ("moto.batch.responses", "BatchResponse", "updatejobqueue"),
    ("moto.backends", "", "list_of_moto_modules"),
    ("moto.batch.models", "JobQueue", "describe"),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor."
        "distributed_item_processor_worker",
        "DistributedItemProcessorWorker",
        "_eval_job",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor."
        "distributed_item_processor_worker",
        "DistributedItemProcessorWorker",
        "_eval_input",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval."
        "resource_eval_s3",
        "ResourceEvalS3",
        "_handle_put_object",
    ),
]
_MISSING = object()


@pytest.fixture(scope="session", autouse=True)
def _iam_backends_built_sparingly() -> None:
    """Compat gaps 23 and 24 for the whole session: they change no answer (their tests prove it), and
    without them moto builds eight IAM backends with ~1,300 managed policies each (~85 ms a backend) in
    every test that starts it afresh. Not in :data:`PATCHED`, so :func:`pristine_moto` leaves them on."""
    from fanout_tools.sandbox import compat

    compat.parse_managed_policies_once()
    compat.look_up_access_keys_in_existing_iam_backends()


@pytest.fixture
def pristine_moto() -> Iterator[None]:
    """moto exactly as released during the test; whatever was patched before is restored afterwards.

    Patches are process-wide and other fixtures (the plan tests' in-process moto) apply some of them
    for the whole session, so the sandbox's originals are put back for the test, then the state found.
    """
    import importlib

    from fanout_tools.sandbox import compat

    found: list[tuple[Any, str, Any]] = []
    for module_name, class_name, attribute in PATCHED:
        owner: Any = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
        found.append((owner, attribute, owner.__dict__.get(attribute, _MISSING)))
        _set(
            owner,
            attribute,
            compat.ORIGINALS.get((owner, attribute), owner.__dict__.get(attribute, _MISSING)),
        )
    port = os.environ.get("MOTO_PORT")
    try:
        yield
    finally:
        for owner, attribute, value in found:
            _set(owner, attribute, value)
        if port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = port


def _set(owner: Any, attribute: str, value: Any) -> None:
    from fanout_tools.sandbox import compat

    if value is _MISSING or value is compat.MISSING:
        if attribute in owner.__dict__:
            delattr(owner, attribute)
    else:
        setattr(owner, attribute, value)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so boto3 inside mock_aws never looks for real ones."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def sandbox_config() -> dict[str, dict[str, bool]]:
    """The moto configuration the sandbox server runs with."""
    from fanout_tools.sandbox.server import MOTO_CONFIG

    return {k: dict(v) for k, v in MOTO_CONFIG.items()}


# --- helpers: moto resources and a private server --------------------------------------------------------


def moto_role() -> str:
    """An IAM role's ARN for resources that need one (moto does not check its policies)."""
    return str(boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def batch_queue(
    command: list[str],
    role: str | None = None,
    container: dict[str, Any] | None = None,
    **job_definition: Any,
) -> str:
    """Compute environment ``env`` (service role ``role``, else a new one), job queue ``queue`` and job
    definition ``jd`` running ``command`` (``container`` adds to its container properties) in the
    current account; returns the queue's ARN."""
    batch = boto3.client("batch")
    ce = batch.create_compute_environment(
        computeEnvironmentName="env", type="UNMANAGED", state="ENABLED", serviceRole=role or moto_role()
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName="queue",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )["jobQueueArn"]
    batch.register_job_definition(
        jobDefinitionName="jd",
        type="container",
        containerProperties={"image": "x", "command": command, "memory": 128, "vcpus": 1} | (container or {}),
        **job_definition,
    )
    return str(queue)


def submit_job_task(queue: str, **fields: Any) -> dict[str, Any]:
    """A Task state that submits job ``j`` of job definition ``jd`` to ``queue`` and waits for it to end
    (``.sync``), with ``fields`` added (``Retry``, ``ResultSelector``...)."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::batch:submitJob.sync",
        "Parameters": {"JobName": "j", "JobQueue": queue, "JobDefinition": "jd"},
        **fields,
        "End": True,
    }


def wait_for_job(batch: Any, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """DescribeJobs of ``job_id`` once it has SUCCEEDED or FAILED."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


@contextlib.contextmanager
def served_sandbox(runtime: Path, **env: str) -> Iterator[Any]:
    """A private sandbox server (see ``private_sandbox``), started now, and every boto3 client made in
    the block pointed at it; yields its ``SandboxInfo``."""
    from fanout_tools.sandbox import control, layout

    with private_sandbox(runtime, **env), pytest.MonkeyPatch.context() as patch:
        info, _ = control.up()
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            patch.delenv(key)
        for key, value in layout.clean_env(layout.sandbox_credentials_env(info.port)).items():
            patch.setenv(key, value)
        yield info


def process_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as ended), from /proc."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or between open and read
        return False
    return state != "Z"
