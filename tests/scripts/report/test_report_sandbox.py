"""``fanout report`` on real runs in a private sandbox: a 50-item run and a run with a failed item.

On the shared inline stack (tests/sandbox_stacks.py; the integration tests' job: "no good" and exit 3 on
an item containing "fail"), two executions, then the report of each, read back from its HTML.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox_stacks import SHARED_INLINE_VARIABLES, SHARED_SANDBOX_GROUP, DeployedStack
from tests.scripts.report.test_report_unit import _script

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(SHARED_SANDBOX_GROUP)]
SANDBOX_STACKS = {"inline": SHARED_INLINE_VARIABLES}


@pytest.fixture(scope="module")
def deployed(inline_stack: DeployedStack) -> Any:
    # the reports go to the runtime folder, where the var file is
    return inline_stack.stack, inline_stack.outputs, inline_stack.var_file, inline_stack.var_file.parent


def _run(deployed: Any, payload: dict[str, Any]) -> Any:
    from fanout_tools import executions, run

    stack, outputs, _, _ = deployed
    arn = run.start_execution(stack, outputs, payload, name=f"report-{uuid.uuid4().hex[:8]}")
    executions.record_last_run(stack, arn)
    return run.follow(stack, arn, timeout=180, poll_seconds=0.3)


def test_report_of_a_50_item_run_has_every_job_and_the_run_counts(
    deployed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools.cli import main

    _, _, var_file, runtime = deployed
    result = _run(deployed, {"count": 50})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    capsys.readouterr()
    started = time.monotonic()
    # no EXECUTION: the last run of the stack
    assert main(["report", "--target", "sandbox", "--var-file", str(var_file), "--out", str(runtime)]) == 0
    print(f"report of 50 items: {time.monotonic() - started:.1f} s")
    out = capsys.readouterr().out
    name = result.execution_arn.rsplit(":", 1)[-1]
    html_path, png_path = runtime / name / "index.html", runtime / name / "timeline.png"
    assert str(html_path) in out and str(png_path) in out
    assert png_path.read_bytes().startswith(b"\x89PNG")
    page = html_path.read_text()
    assert not re.search(r"https?://", page)  # nothing loaded from (or pointing at) the network
    timeline = _script(page, "timeline-data")
    assert timeline["kind"] == "jobs"
    assert sorted(r["id"] for r in timeline["rows"]) == sorted(j.job_id for j in result.jobs)
    assert len(timeline["rows"]) == 50
    assert all(r["submitted"] is not None and r["stopped"] is not None for r in timeline["rows"])
    counts = _script(page, "run-data")["counts"]
    assert counts.get("SUCCEEDED", 0) == result.progress.succeeded == 50
    assert counts.get("FAILED", 0) == result.progress.failed == 0


def test_report_of_a_failed_run_shows_the_failed_item_with_its_log_lines(deployed: Any) -> None:
    from fanout_tools.report.cli import build
    from fanout_tools.report.collect import collect

    stack, outputs, _, runtime = deployed
    result = _run(deployed, {"items": [{"value": "fine"}, {"value": "please fail"}]})
    assert result.status == "FAILED"
    data = collect(stack, outputs, result.execution_arn)
    html_path, _ = build(data, Path(runtime) / "failed")
    page = html_path.read_text()
    assert _script(page, "run-data")["counts"].get("FAILED") == result.progress.failed == 1
    [failure] = data.failures
    assert failure.exit_code == 3 and failure.attempts == 2
    assert any("no good" in line and "please fail" in line for line in failure.log_lines)
    assert "no good:" in page and failure.job_id in page
