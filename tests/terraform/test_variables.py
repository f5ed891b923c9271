"""Bad tfvars are rejected at plan time, each by its own validation message, and nothing is created.

Terraform needs ~6 s per plan here (provider start-up and data sources), so the cases run in three
plans, one per batch, in parallel: cases in one batch touch different variables and rules, and each
plan must report exactly one "Invalid value for variable" per case in it, so a case that another
case's value caused (or that broke two rules) fails the test.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

# (case id, batch, tfvars, the message Terraform must print). Each case breaks exactly one rule.
BAD_VARS: list[tuple[str, str, dict[str, Any], str]] = [
    ("name-too-short", "a", {"name": "a"}, "name must be 3-32 characters"),
    ("region-not-a-code", "a", {"region": "mars"}, "region must be an AWS Region code"),
    ("unbounded-concurrency", "a", {"max_concurrency": 0}, "max_concurrency must be a whole number >= 1"),
    (
        "batch-larger-than-array",
        "a",
        {"items_per_batch": 20000},
        "items_per_batch must be a whole number from 1 to 10000",
    ),
    ("fargate-vcpus", "a", {"job_vcpus": 3}, "job_vcpus must be one of 0.25, 0.5, 1, 2, 4, 8, 16 on Fargate"),
    (
        "attempt-timeout-below-60",
        "a",
        {"job_attempt_timeout_seconds": 30},
        "job_attempt_timeout_seconds must be a whole number of seconds, at least 60",
    ),
    (
        "retention-not-accepted",
        "a",
        {"log_retention_days": 42},
        "log_retention_days must be a value CloudWatch Logs accepts",
    ),
    (
        "exit-code-not-digits",
        "a",
        {"job_retry_exit_codes": ["oom"]},
        "job_retry_exit_codes entries must be digits",
    ),
    ("unknown-mode", "b", {"fanout_mode": "bulk"}, "fanout_mode must be one of inline, array, distributed"),
    (
        "unknown-compute",
        "b",
        {"compute_type": "GPU", "job_vcpus": 1},
        "compute_type must be one of FARGATE, FARGATE_SPOT, EC2, SPOT",
    ),
    (
        "subnets-without-security-groups",
        "b",
        {"subnet_ids": ["subnet-0123456789abcdef0"]},
        "security_group_ids must name at least one security group when subnet_ids is set",
    ),
    ("too-many-attempts", "b", {"job_attempts": 11}, "job_attempts must be a whole number from 1 to 10"),
    (
        "inline-concurrency-over-40",
        "c",
        {"max_concurrency": 100},
        "max_concurrency must be at most 40 in inline mode",
    ),
    (
        "fargate-memory",
        "c",
        {"job_memory_mib": 4096},
        "job_memory_mib 4096 is not a Fargate size for 0.25 vCPU",
    ),
    (
        "command-without-item",
        "c",
        {"job_command": ["echo", "hello"]},
        "job_command must contain Ref::item in inline mode",
    ),
]


def _plain(text: str) -> str:
    """Terraform's diagnostic text without box-drawing prefixes and line wrapping."""
    return " ".join(re.sub(r"[│╷╵]", " ", text).split())


@pytest.fixture(scope="module")
def rejections(planner) -> dict[str, tuple[str, list[str], bool]]:  # type: ignore[no-untyped-def]
    """batch -> (plan stdout, one plain-text entry per diagnostic, whether the plan could be applied)."""
    batches: dict[str, dict[str, Any]] = {}
    for _, batch, tf_vars, _ in BAD_VARS:
        merged = batches.setdefault(batch, {})
        assert not set(merged) & set(tf_vars), f"batch {batch} sets a variable twice"
        merged.update(tf_vars)

    def reject(tf_vars: dict[str, Any]) -> tuple[str, list[str], bool]:
        failed = planner.plan_error(tf_vars)
        diagnostics = [_plain(d) for d in _plain(failed.stderr).split("Error: ")[1:]]
        return failed.stdout, diagnostics, failed.applyable()

    with ThreadPoolExecutor(len(batches)) as pool:
        return dict(zip(batches, pool.map(reject, batches.values()), strict=True))


@pytest.mark.xdist_group("plan-b")
@pytest.mark.parametrize(("batch", "message"), [pytest.param(b, m, id=i) for i, b, _, m in BAD_VARS])
def test_bad_value_is_rejected_with_its_own_message(rejections, account, batch, message) -> None:  # type: ignore[no-untyped-def]
    _, diagnostics, applyable = rejections[batch]
    matching = [d for d in diagnostics if message in d]
    assert len(matching) == 1, f"{message!r} not reported exactly once in:\n" + "\n".join(diagnostics)
    assert matching[0].startswith("Invalid value for variable")
    # exactly one rule per case fired in this batch: no case broke a second rule or another case's rule
    assert len(diagnostics) == sum(1 for _, b, _, _ in BAD_VARS if b == batch), "\n".join(diagnostics)
    # the plan failed as a whole: Terraform marks it errored and would not apply it; nothing was created
    assert not applyable
    assert account.client("iam").list_roles()["Roles"] == []


def test_every_case_names_a_different_rule() -> None:
    messages = [m for *_, m in BAD_VARS]
    assert len(BAD_VARS) >= 10
    assert len(set(messages)) == len(messages)
