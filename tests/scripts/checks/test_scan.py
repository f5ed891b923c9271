"""``fanout scan``'s verdict: failures, and expected checks that produced no result, fail the scan."""

from __future__ import annotations

from fanout_tools.scan import BUILTIN_CHECKS, PLAN_ONLY_CHECKS, expected_checks, summarise


def _report(passed=(), failed=(), skipped=()) -> dict:  # type: ignore[no-untyped-def,type-arg]
    def record(check_id: str, comment: str = "") -> dict:  # type: ignore[type-arg]
        return {
            "check_id": check_id,
            "resource": "r",
            "check_name": "n",
            "check_result": {"suppress_comment": comment},
        }

    return {
        "reports": [
            {
                "results": {
                    "passed_checks": [record(c) for c in passed],
                    "failed_checks": [record(c) for c in failed],
                    "skipped_checks": [record(c, why) for c, why in skipped],
                }
            }
        ]
    }


def test_all_expected_passed_is_ok() -> None:
    outcome = summarise("plan", _report(passed=["A", "B"]), {"A": "", "B": ""})
    assert outcome.ok


def test_failed_check_fails_the_scan() -> None:
    outcome = summarise("plan", _report(passed=["A"], failed=["B"]), {"A": "", "B": ""})
    assert not outcome.ok and outcome.failed[0][0] == "B"


def test_expected_check_without_result_fails_the_scan() -> None:
    outcome = summarise("plan", _report(passed=["A"]), {"A": "", "B": ""})
    assert not outcome.ok and outcome.missing == ["B"]


def test_justified_skip_counts_as_a_result_and_unjustified_does_not() -> None:
    justified = summarise("plan", _report(skipped=[("A", "synchronous invoke: no DLQ")]), {"A": ""})
    bare = summarise("plan", _report(skipped=[("A", "No comment provided")]), {"A": ""})
    assert justified.ok
    assert bare.missing == ["A"]


def test_plan_scan_expects_every_builtin_and_custom_check() -> None:
    plan = expected_checks("plan")
    assert set(BUILTIN_CHECKS) <= set(plan)
    assert {c for c in plan if c.startswith("CKV_FANOUT_")} == {f"CKV_FANOUT_{i}" for i in range(1, 9)}
    assert set(expected_checks("source")) == set(BUILTIN_CHECKS) - PLAN_ONLY_CHECKS


def test_plan_scan_covers_defaults_and_every_example(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fanout_tools.scan import plan_configurations

    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "spot.tfvars").write_text("")
    assert plan_configurations(tmp_path, []) == {
        "defaults": [],
        "spot": [tmp_path / "examples" / "spot.tfvars"],
    }
    custom = tmp_path / "mine.tfvars"
    assert plan_configurations(tmp_path, [custom]) == {"custom": [custom]}


def test_checks_folder_without_init_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest
    from fanout_tools.errors import ConfigError
    from fanout_tools.scan import run_checkov

    with pytest.raises(ConfigError, match=r"__init__\.py"):
        run_checkov(["-d", str(tmp_path)], tmp_path / "out", checks_dir=tmp_path)
