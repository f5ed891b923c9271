"""``fanout run``, ``fanout status`` and ``fanout rerun-failed`` on a real run with failed items, in a fresh
private sandbox: one apply (array mode, batches of 4, the stack's default job command), 10 items, and
``fanout sandbox fault job-exit --items 2,5 --code 3`` so that the jobs of items 2 and 5 exit 3 on both
attempts. ``fault clear`` is the fix; ``rerun-failed`` then runs exactly those two items again, and they pass.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("failures-verbs")]

FAILING = (2, 5)
COUNT = 10
COUNTS = "2 of 10 items failed; 8 succeeded; tolerated 0 items / 0%; outcome ITEMS_FAILED"
VARIABLES: dict[str, Any] = {
    "name": "fanout-failures",
    "fanout_mode": "array",
    "items_per_batch": 4,  # items 2 and 5 are in batches 0 and 1
    "max_concurrency": 10,
    "job_retry_exit_codes": ["3"],
    "job_attempts": 2,
    "job_attempt_timeout_seconds": 60,
    "log_retention_days": 1,
}


@dataclass
class Deployed:
    stack: Any  # fanout_tools.deploy.Stack
    outputs: dict[str, Any]
    var_file: Path
    runtime: Path

    def cli(self, *args: str) -> list[str]:
        return [args[0], "--target", "sandbox", "--var-file", str(self.var_file), *args[1:]]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from fanout_tools import deploy
    from fanout_tools.sandbox import control

    runtime = tmp_path_factory.mktemp("fanout-failures")
    var_file = runtime / "failures.tfvars.json"
    var_file.write_text(json.dumps(VARIABLES))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANOUT_RUNTIME_DIR", str(runtime))
        patch.setenv("TARGET", "sandbox")
        patch.delenv("FANOUT_SANDBOX_PORT", raising=False)
        try:
            stack = deploy.open_stack("sandbox", [var_file])
            stack.runner().apply(capture=True)
            yield Deployed(stack, stack.outputs(), var_file, runtime)
            # no destroy: the private sandbox goes down below, and its state with it
        finally:
            control.down()


def _quietly(*argv: str) -> tuple[int, str, str]:
    """``fanout ARGV`` in process, with what it printed."""
    from fanout_tools.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@dataclass
class FailedRun:
    name: str
    out: str  # what `fanout run` printed
    err: str


@pytest.fixture(scope="module")
def failed_run(deployed: Deployed) -> FailedRun:
    """`fanout run` of 10 items while the fault makes items 2 and 5 exit 3 (on both attempts)."""
    items = ",".join(str(i) for i in FAILING)
    code, out, err = _quietly("sandbox", "fault", "job-exit", "--items", items, "--code", "3")
    assert code == 0, (out, err)
    name = f"failures-{uuid.uuid4().hex[:8]}"
    code, out, err = _quietly(*deployed.cli("run", "--items", str(COUNT), "--no-progress", "--name", name))
    assert code == 1, (out, err)
    return FailedRun(name, out, err)


def test_run_ends_with_the_failed_items_and_names_itemsfailed(failed_run: FailedRun) -> None:
    lines = failed_run.out.splitlines()
    heads = [line for line in lines if line.startswith("  item ")]
    assert [h.split()[1] for h in heads] == ["2", "5"] and lines.index(COUNTS) > lines.index(heads[-1])
    err = failed_run.err.splitlines()
    assert err[0] == "error: the execution FAILED: ItemsFailed: 2 of 10 items failed"
    assert f"rerun-failed EXECUTION={failed_run.name}" in err[1]


def test_status_lists_exactly_the_failed_items_with_their_log_tails(
    deployed: Deployed, failed_run: FailedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools.cli import main

    name = failed_run.name
    capsys.readouterr()
    assert main(deployed.cli("status", name)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"execution {name}: FAILED (ItemsFailed) after ")
    heads = [line for line in lines if line.startswith("  item ")]
    assert [h.split()[1] for h in heads] == ["2", "5"], out
    assert heads[0].startswith("  item 2 (batch 0)  job ") and heads[1].startswith("  item 5 (batch 1)  job ")
    assert all("attempts 2  exit code 3" in h for h in heads)
    # each block ends with its log's last lines: the fault's line of the last attempt among them
    blocks = out.split("\n  item ")[1:]
    assert all("      | sandbox fault: job-exit 3" in block for block in blocks), out
    assert COUNTS in lines

    assert main(deployed.cli("status", name, "--json")) == 0
    value = json.loads(capsys.readouterr().out)
    assert [r["index"] for r in value["summary"]["failed_items"]] == list(FAILING)
    assert [r["item"] for r in value["summary"]["failed_items"]] == [{"index": i} for i in FAILING]
    assert value["summary"]["failed_items_uri"].endswith(f"/runs/{name}/failed-items.jsonl")


def test_rerun_failed_runs_exactly_the_two_failed_items_once_fixed(
    deployed: Deployed, failed_run: FailedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools.cli import main
    from fanout_tools.executions import last_execution

    name = failed_run.name
    assert _quietly("sandbox", "fault", "clear")[0] == 0  # the fix
    capsys.readouterr()
    assert main(deployed.cli("rerun-failed", name, "--no-progress")) == 0
    out = capsys.readouterr().out
    rerun_name = f"{name}-rerun-1"
    assert f"rerunning the 2 failed items of {name} as {rerun_name}" in out
    assert last_execution(deployed.stack, deployed.outputs).endswith(f":{rerun_name}")

    assert main(deployed.cli("status", "--json")) == 0  # no EXECUTION: the stack's last run, the rerun
    value = json.loads(capsys.readouterr().out)
    assert value["execution"] == rerun_name and value["status"] == "SUCCEEDED"
    summary = value["summary"]
    assert (summary["count"], summary["succeeded"], summary["failed"]) == (2, 2, 0)
    assert summary["rerun_of"] == name

    results = json.loads((deployed.runtime / "runs" / f"{rerun_name}.json").read_text())
    [job] = results["jobs"]  # one batch of the two items: one array job of two children
    assert job["size"] == 2 and job["summary"].get("SUCCEEDED") == 2
    for child, index in enumerate(FAILING):  # the stack's command echoes its item
        log = deployed.stack.target.job_log(deployed.outputs, f"{job['job_id']}:{child}", None, lines=20)
        assert f'{{"index":{index}}}' in log.lines, log

    assert main(deployed.cli("rerun-failed", rerun_name)) == 0  # nothing failed: nothing started
    assert capsys.readouterr().out.strip() == f"nothing to rerun: none of the 2 items of {rerun_name} failed"
