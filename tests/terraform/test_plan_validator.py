"""The inventory comparison itself: subset match, lists by length and element, __missing__, exact counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import PlanSummary, summarise, validate_inventory

RAW = {
    "planned_values": {
        "root_module": {
            "child_modules": [
                {
                    "address": "module.batch",
                    "resources": [
                        {
                            "address": "module.batch.aws_batch_job_definition.this",
                            "mode": "managed",
                            "type": "aws_batch_job_definition",
                            "name": "this",
                            "values": {
                                "name": "job",
                                "timeout": [{"attempt_duration_seconds": 60}],
                                "tags": {"a": "1"},
                            },
                        }
                    ],
                }
            ]
        },
        "outputs": {"fanout_mode": {"value": "inline"}},
    }
}


@pytest.fixture
def summary() -> PlanSummary:
    return summarise(RAW, Path("plan.json"))


def test_summary_reduces_plan_to_values_counts_outputs(summary: PlanSummary) -> None:
    assert summary.counts == {"aws_batch_job_definition": 1, "resources": 1, "modules": 1}
    assert summary.outputs == {"fanout_mode": "inline"}
    assert summary.module("batch").values == {
        "aws_batch_job_definition.this": RAW["planned_values"]["root_module"]["child_modules"][0][
            "resources"
        ][0]["values"]
    }


@pytest.mark.parametrize(
    ("inventory", "error"),
    [
        ({"values": {"module.batch.aws_batch_job_definition.this": {"name": "other"}}}, "expected 'other'"),
        ({"values": {"module.batch.aws_batch_job_definition.this": {"timeout": []}}}, "expected a list of 0"),
        (
            {"values": {"module.batch.aws_batch_job_definition.this": {"tags": "__missing__"}}},
            "expected absent",
        ),
        ({"values": {"module.batch.aws_batch_job_definition.this": {"nope": 1}}}, "nope: missing"),
        ({"values": {"module.x.aws_vpc.this": {}}}, "not in the plan"),
        ({"__missing__": ["module.batch.aws_batch_job_definition.this"]}, "must not be planned"),
        ({"counts": {"aws_batch_job_definition": 2}}, "expected 2, got 1"),
        ({"outputs": {"fanout_mode": "array"}}, "outputs.fanout_mode"),
    ],
)
def test_mismatch_is_reported(summary: PlanSummary, inventory: dict, error: str) -> None:  # type: ignore[type-arg]
    errors = validate_inventory(summary, inventory)
    assert any(error in e for e in errors), errors


def test_subset_matches(summary: PlanSummary) -> None:
    inventory = yaml.safe_load(
        """
values:
  module.batch.aws_batch_job_definition.this:
    name: job
    timeout:
    - attempt_duration_seconds: 60
    dead_letter: __missing__
__missing__:
- module.storage[0].aws_s3_bucket.this
counts: {aws_batch_job_definition: 1, resources: 1}
outputs: {fanout_mode: inline, bucket_name: __missing__}
"""
    )
    assert validate_inventory(summary, inventory) == []
