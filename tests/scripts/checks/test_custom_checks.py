"""The project's checkov checks: each FAILS on a deliberately bad plan and PASSES on the real stack.

One checkov run (offline, the project's checks only) scans a folder holding the real plan of the
default stack and one bad copy per entry of ``fixtures/bad_plans.py``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("bad_plans", HERE / "fixtures" / "bad_plans.py")
assert _spec and _spec.loader
bad_plans = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bad_plans)
BAD_PLANS = bad_plans.BAD_PLANS
REAL = "real-stack"

# Tests share plans with tests/terraform/test_plan.py: the default plan is in group plan-a.
PLAN_A = pytest.mark.xdist_group("plan-a")


def _custom_ids() -> dict[str, str]:
    from fanout_tools.checks import registry_ids

    return registry_ids()


@pytest.fixture(scope="module")
def results(plan_summary, tmp_path_factory) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """file stem -> {(check id, resource): checkov record} for the project's checks."""
    from fanout_tools.scan import run_checkov

    real = plan_summary().raw
    folder = tmp_path_factory.mktemp("check-plans")
    (folder / f"{REAL}.json").write_text(json.dumps(real))
    for name, (_, _, mutate, _) in BAD_PLANS.items():
        plan = copy.deepcopy(real)
        mutate(plan)
        (folder / f"{name}.json").write_text(json.dumps(plan))
    # checkov as the scan runs it (it raises unless checkov ran), on every plan in the folder at once
    args = ["-d", str(folder), "--framework", "terraform_plan", "--check", ",".join(_custom_ids())]
    reports = run_checkov(args, folder / "reports", cwd=folder)["reports"]
    by_file: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for report in reports:
        for outcome in ("passed_checks", "failed_checks"):
            for record in report["results"][outcome]:
                stem = Path(record["file_path"]).stem
                by_file.setdefault(stem, {})[(record["check_id"], record["resource"])] = record
    return by_file


@PLAN_A
@pytest.mark.parametrize("name", list(BAD_PLANS))
def test_check_fails_on_bad_fixture(results, name: str) -> None:  # type: ignore[no-untyped-def]
    check_id, resource, _, detail = BAD_PLANS[name]
    record = results[name].get((check_id, resource))
    assert record is not None, f"{check_id} produced no result for {resource} in {name}"
    assert record["check_result"]["result"] == "FAILED"
    assert any(detail in d for d in record.get("details") or []), record.get("details")


@PLAN_A
@pytest.mark.parametrize("check_id", list(_custom_ids()))
def test_check_passes_on_real_stack(results, check_id: str) -> None:  # type: ignore[no-untyped-def]
    records = {res: r for (cid, res), r in results[REAL].items() if cid == check_id}
    assert records, f"{check_id} produced no result on the real plan"
    failed = {res: r.get("details") for res, r in records.items() if r["check_result"]["result"] != "PASSED"}
    assert not failed, f"{check_id} fails on the real stack: {failed}"


def test_every_custom_check_has_a_failing_fixture() -> None:
    assert {check for check, *_ in BAD_PLANS.values()} == set(_custom_ids())


def test_checks_folder_is_loadable_by_checkov() -> None:
    from fanout_tools.scan import CHECKS_DIR

    assert (CHECKS_DIR / "__init__.py").is_file(), (
        "checkov silently skips a checks folder without __init__.py"
    )


@pytest.mark.parametrize(
    "case", [pytest.param("spot_distributed_array", marks=pytest.mark.xdist_group("plan-b"))]
)
def test_checks_pass_on_bucket_backed_stack_as_fanout_scan_runs_them(
    plan_summary, tmp_path, case: str
) -> None:  # type: ignore[no-untyped-def]
    """The scan's own checkov call (plan enrichment, inline skips honoured) on Distributed Map + array jobs
    on Spot: S3 reader/writer, self-StartExecution, the job role's item reads and the instance role."""
    from fanout_tools.paths import terraform_dir
    from fanout_tools.scan import run_checkov, summarise

    from tests.terraform.test_plan import CASES

    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan_summary(**CASES[case][1]).raw))
    args = ["-f", str(plan_file), "--framework", "terraform_plan", "--check", ",".join(_custom_ids())]
    args += ["--repo-root-for-plan-enrichment", str(terraform_dir())]
    report = run_checkov(args, tmp_path / "reports", plan_file=plan_file)
    outcome = summarise(case, report, _custom_ids())
    assert not outcome.failed, outcome.failed
    assert not outcome.missing, f"no result from {outcome.missing}"
    assert all(reason for *_, reason in outcome.skipped)
