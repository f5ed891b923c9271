"""The deploy/run verbs' faults: each is a one-line error that says what to do (exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fanout_tools.cli import main
from fanout_tools.errors import ConfigError
from fanout_tools.run import execution_input
from fanout_tools.sandbox import control


@pytest.fixture(autouse=True)
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("TARGET", raising=False)
    monkeypatch.delenv("FANOUT_SANDBOX_PORT", raising=False)
    return tmp_path


def _error(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_run_before_apply_says_run_make_apply_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--items", "3"]) == 2
    lines = _error(capsys)
    assert lines[0] == "error: nothing is deployed: the sandbox is not running, so it holds nothing"
    assert "run `make apply` first" in lines[1]


@pytest.mark.xdist_group("sandbox")
def test_run_against_an_empty_sandbox_says_run_make_apply_first(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        control.up()
        assert main(["run", "--items", "3"]) == 2
        lines = _error(capsys)
        assert lines[0] == "error: nothing is deployed as stack 'fanout' on TARGET=sandbox"
        assert "run `make apply` first" in lines[1]
    finally:
        control.down()


@pytest.mark.parametrize("verb", ["plan", "apply", "destroy", "run"])
def test_unknown_target_is_one_line(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([verb, "--target", "staging"]) == 2
    lines = _error(capsys)
    assert lines[0] == "error: unknown target 'staging'"
    assert lines[1].startswith("  what to do: use TARGET=sandbox")


def test_aws_without_credentials_is_one_line_before_anything_is_built(
    monkeypatch: pytest.MonkeyPatch, runtime: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert main(["plan", "--target", "aws"]) == 2
    assert _error(capsys)[0].startswith("error: TARGET=aws needs AWS credentials")
    assert not (runtime / "build").exists()


def test_missing_var_file_is_one_line(capsys: pytest.CaptureFixture[str], runtime: Path) -> None:
    assert main(["plan", "--var-file", str(runtime / "nope.tfvars")]) == 2
    assert "does not exist" in _error(capsys)[0]


def test_execution_input(tmp_path: Path) -> None:
    assert execution_input(None, None) == {"count": 25}
    assert execution_input(7, None) == {"count": 7}
    good = tmp_path / "in.json"
    good.write_text(json.dumps({"items": [1, 2]}))
    assert execution_input(None, good) == {"items": [1, 2]}
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        execution_input(None, bad)
    with pytest.raises(ConfigError, match="cannot read"):
        execution_input(None, tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="0 or more"):
        execution_input(-1, None)


def test_summary_shows_status_items_events_and_failed_job_output(runtime: Path) -> None:
    from fanout_tools import run
    from fanout_tools.sandbox import layout
    from fanout_tools.targets import SandboxTarget

    (layout.jobs_dir() / "job-1.log").write_text(
        "--- attempt 2: ['sh']\nboom: item 7 is broken\n--- exit code 3\n"
    )
    result = run.RunResult(
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:fanout:run-1",
        status="FAILED",
        seconds=1.5,
        error="States.TaskFailed",
        cause="{}",
        output=None,
        history_events=42,
        child_history_events=0,
        jobs=[
            run.JobInfo(job_id="job-0", name="fanout-item-0", status="SUCCEEDED", exit_code=0, attempts=1),
            run.JobInfo(job_id="job-1", name="fanout-item-1", status="FAILED", exit_code=3, attempts=2),
        ],
        progress=run.Progress(total=2, succeeded=1, failed=1),
    )
    text = "\n".join(run.summary_lines(SandboxTarget(), {}, result))
    assert "status: FAILED in 1.5 s" in text
    assert "items: 2 total, 1 succeeded, 1 failed" in text
    assert "history events: 42" in text
    assert "error: States.TaskFailed" in text
    assert "fanout-item-1  job-1  FAILED  exit=3  attempts=2" in text
    assert "| boom: item 7 is broken" in text
    assert str(layout.jobs_dir() / "job-0.log") in text
    # failed jobs come first
    assert text.index("fanout-item-1") < text.index("fanout-item-0")
