"""What the bench deploys per design, and what it measures at each size (fanout_tools.bench.designs)."""

from __future__ import annotations

import pytest
from fanout_tools.bench import designs
from fanout_tools.bench.cli import parse_designs, parse_sizes
from fanout_tools.contract import contract
from fanout_tools.errors import ConfigError


@pytest.mark.parametrize("design", designs.DESIGNS)
def test_each_design_is_the_users_stack_with_the_benchs_settings(design: str) -> None:
    variables = designs.stack_variables(design, execution_timeout=900)
    mode = designs.mode_of(design)
    assert variables["name"] == designs.stack_name(design)
    assert variables["fanout_mode"] == mode in contract().mode_names
    # the stack's own name: one state key per design, side by side in one account
    assert len({designs.stack_name(d) for d in designs.DESIGNS}) == len(designs.DESIGNS)
    # the command receives its work the way Terraform requires for the mode (validation in variables.tf)
    if contract().is_array(mode):  # the real reader, then `true`
        assert variables["job_command"][:4] == ["python3", "-I", "-S", "-c"]
        assert variables["job_command"][-3:] == ["Ref::items_uri", "--", "true"]
    else:
        assert variables["job_command"] == ["true", "Ref::item"]
    assert variables["execution_timeout_seconds"] == 900
    assert variables["log_retention_days"] == 1
    assert ("comparison_design" in variables) == (design == designs.SAMPLE)


def test_the_sample_runs_on_an_inline_stack_with_its_own_definition() -> None:
    variables = designs.stack_variables(designs.SAMPLE)
    assert variables["fanout_mode"] == "inline"
    assert variables["comparison_design"] == "sample"


def test_execution_timeout_below_terraforms_minimum_is_raised_to_it() -> None:
    assert designs.stack_variables("array", execution_timeout=5)["execution_timeout_seconds"] == 60


def test_tasks_skip_refused_sizes_and_run_only_up_to_the_ceiling() -> None:
    max_items = {"inline": 2_560, "array": 18_510_000}
    found = designs.tasks(["sample", "inline", "array"], [1_000_000, 100, 10_000], max_items)
    got = {(t.design, t.count): (t.generator, t.execution) for t in found}
    assert got == {
        ("sample", 100): (False, True),
        ("sample", 10_000): (False, False),  # beyond its ceiling: projected ("fails in AWS")
        ("sample", 1_000_000): (False, False),
        ("inline", 100): (True, True),  # 10,000 and 1,000,000 are refused: nothing to measure
        ("array", 100): (True, True),
        ("array", 10_000): (True, True),
        ("array", 1_000_000): (True, False),  # generator only: the run is projected
    }
    assert [t.count for t in found if t.design == "array"] == [100, 10_000, 1_000_000]


def test_no_executions_still_measures_generators_and_needs_no_sample_stack() -> None:
    found = designs.tasks(["sample", "array"], [100], {"array": 10**9}, run_executions=False)
    assert designs.stacks_needed(found) == ["array"]
    assert designs.tasks(["sample"], [100], {}, run_ceiling=10) == [designs.Task("sample", 100, False, False)]


def test_cli_parses_sizes_and_designs() -> None:
    assert parse_sizes("100, 1_000,") == [100, 1_000]
    assert parse_designs("array,sample,array") == ["array", "sample"]
    with pytest.raises(ConfigError):
        parse_sizes("ten")
    with pytest.raises(ConfigError):
        parse_sizes("0")
    with pytest.raises(ConfigError, match="unknown design"):
        parse_designs("sample,serial")
