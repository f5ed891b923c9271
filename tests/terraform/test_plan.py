"""Plans of the real stack (Terraform + hashicorp/aws, offline, against moto) compared with inventories.

Four configurations cover every compute type, a new and an existing VPC, and every fan-out mode;
each is planned once per worker and shared by the tests below (grouped so one worker plans each).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

# name -> (xdist group, tfvars). The group keeps tests that share a plan on one worker.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "fargate_inline": ("plan-a", {}),
    "ec2_array_existing_vpc": (
        "plan-a",
        {
            "name": "fanout-ec2",
            "fanout_mode": "array",
            "compute_type": "EC2",
            "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
            "security_group_ids": ["sg-0123456789abcdef0"],
            "job_vcpus": 1,
            "job_memory_mib": 2048,
            "job_retry_exit_codes": ["137"],
        },
    ),
    "spot_distributed_array": (
        "plan-b",
        {
            "fanout_mode": "distributed_array",
            "compute_type": "SPOT",
            "spot_bid_percentage": 60,
            "job_vcpus": 1,
            "job_memory_mib": 1024,
            "tolerated_failure_percentage": 5,
            "max_concurrency": 50,
            "items_per_batch": 10000,
        },
    ),
    "fargate_spot_distributed": ("plan-b", {"fanout_mode": "distributed", "compute_type": "FARGATE_SPOT"}),
}
# module -> the case whose plan holds its most complete form
MODULE_CASES = {
    "network": "fargate_inline",
    "storage": "spot_distributed_array",
    "batch": "ec2_array_existing_vpc",
    "generator": "fargate_spot_distributed",
    "state_machine": "spot_distributed_array",
    "alerts": "fargate_inline",
}
SM = "module.state_machine.aws_sfn_state_machine.this"
SM_POLICY = "module.state_machine.aws_iam_role_policy.definition"
JOB_DEFINITION = "module.batch.aws_batch_job_definition.this"


def cases(names: list[str] | None = None) -> list[Any]:
    return [
        pytest.param(name, marks=pytest.mark.xdist_group(CASES[name][0]), id=name) for name in names or CASES
    ]


@pytest.fixture
def summary_of(plan_summary):  # type: ignore[no-untyped-def]
    return lambda name: plan_summary(**CASES[name][1])


@pytest.mark.parametrize("case", cases())
def test_root_plan_matches_inventory(case: str, summary_of, plan_validator) -> None:  # type: ignore[no-untyped-def]
    plan_validator(summary_of(case), f"{case}.yaml")


@pytest.mark.parametrize(
    "module",
    [pytest.param(m, marks=pytest.mark.xdist_group(CASES[c][0]), id=m) for m, c in MODULE_CASES.items()],
)
def test_module_plan_matches_inventory(module: str, summary_of, plan_validator) -> None:  # type: ignore[no-untyped-def]
    plan_validator(summary_of(MODULE_CASES[module]).module(module), f"modules/{module}.yaml")


def _template_values(summary) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The templatefile() variables, rebuilt from the plan's inputs (contract: names + data sources)."""
    variables = {k: v["value"] for k, v in summary.raw["variables"].items()}
    outputs = summary.outputs
    data = {
        r["type"]: r["values"]
        for r in summary.raw["prior_state"]["values"]["root_module"]["resources"]
        if r["mode"] == "data"
    }
    partition = data["aws_partition"]["partition"]
    region = outputs["region"]
    account = data["aws_caller_identity"]["account_id"]
    retry = variables["batch_api_retry"]
    return {
        "partition": partition,
        "region": region,
        "account_id": account,
        "state_machine_name": outputs["state_machine_name"],
        "generator_function_name": outputs["generator_function_name"],
        "generator_function_arn": (
            f"arn:{partition}:lambda:{region}:{account}:function:{outputs['generator_function_name']}"
        ),
        "job_queue_name": outputs["job_queue_name"],
        "job_queue_arn": f"arn:{partition}:batch:{region}:{account}:job-queue/{outputs['job_queue_name']}",
        "job_definition_name": outputs["job_definition_name"],
        "bucket_name": outputs["bucket_name"] or "",
        "runs_prefix": "runs/",
        "max_concurrency": variables["max_concurrency"],
        "items_per_batch": variables["items_per_batch"],
        "tolerated_failure_percentage": variables["tolerated_failure_percentage"],
        "execution_timeout_seconds": variables["execution_timeout_seconds"],
        "batch_api_retry_max_attempts": retry["max_attempts"],
        "batch_api_retry_interval_seconds": retry["interval_seconds"],
        "batch_api_retry_backoff_rate": retry["backoff_rate"],
        "batch_api_retry_max_delay_seconds": retry["max_delay_seconds"],
    }


@pytest.mark.parametrize("case", cases())
def test_state_machine_definition_is_the_rendered_asl_with_real_arns(case: str, summary_of) -> None:  # type: ignore[no-untyped-def]
    from fanout_tools.render import render_concrete

    summary = summary_of(case)
    mode = summary.outputs["fanout_mode"]
    expected = json.loads(render_concrete(mode, _template_values(summary)))
    actual = json.loads(summary.values[SM]["definition"])
    assert actual == expected
    text = summary.values[SM]["definition"]
    assert "${" not in text and "sentinel" not in text


@pytest.mark.parametrize("case", cases())
def test_state_machine_policy_is_derived_from_its_definition(case: str, summary_of) -> None:  # type: ignore[no-untyped-def]
    from fanout_tools.iam import derive_policy

    summary = summary_of(case)
    values = _template_values(summary)
    definition = json.loads(summary.values[SM]["definition"])
    context = {k: str(values[k]) for k in ("partition", "region", "account_id", "state_machine_name")}
    context["runs_prefix"] = values["runs_prefix"]
    assert _normalised(json.loads(summary.values[SM_POLICY]["policy"])) == _normalised(
        derive_policy(definition, context)
    )


def _normalised(policy: dict[str, Any]) -> dict[str, Any]:
    """Order of actions and resources inside a statement carries no meaning in IAM."""
    statements = []
    for st in policy["Statement"]:
        st = dict(st)
        for key in ("Action", "Resource"):
            if isinstance(st.get(key), list):
                st[key] = sorted(st[key])
        statements.append(st)
    return {**policy, "Statement": statements}


@pytest.mark.parametrize("case", cases())
def test_job_definition_runs_each_item_with_retries_and_timeout(case: str, summary_of) -> None:  # type: ignore[no-untyped-def]
    summary = summary_of(case)
    job = summary.values[JOB_DEFINITION]
    variables = {k: v["value"] for k, v in summary.raw["variables"].items()}
    array_mode = variables["fanout_mode"] in ("array", "distributed_array")
    parameter = "items_uri" if array_mode else "item"
    assert parameter in job["parameters"]
    assert job["retry_strategy"][0]["attempts"] == variables["job_attempts"]
    assert job["retry_strategy"][0]["evaluate_on_exit"][-1] == {
        "action": "exit",
        "on_exit_code": "*",
        "on_reason": None,
        "on_status_reason": None,
    }
    assert job["timeout"] == [{"attempt_duration_seconds": variables["job_attempt_timeout_seconds"]}]
    properties = job.get("container_properties")
    assert properties, (
        "container_properties is unknown at plan time, so neither this test nor checkov (CKV_AWS_210) can "
        "see the command: build jobRoleArn/executionRoleArn in modules/batch from names and data sources"
    )
    command = json.loads(properties)["command"]
    assert f"Ref::{parameter}" in command
