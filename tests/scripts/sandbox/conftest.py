"""Fixtures for the sandbox tests: undo every moto patch after each test, and an in-process moto."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

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
    ("moto.iam.access_control", "IAMPolicyStatement", "is_action_permitted"),
    ("moto.stepfunctions.parser.backend.execution", "BaseExecutionWorkerCommunication", "terminated"),
    ("moto.events.models", "Rule", "send_to_targets"),
    ("moto.batch.responses", "BatchResponse", "createjobqueue"),
    ("moto.batch.responses", "BatchResponse", "updatejobqueue"),
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
