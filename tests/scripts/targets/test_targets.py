"""Targets: everything that differs between the local sandbox account and a real one lives here."""

from __future__ import annotations

from pathlib import Path

import pytest
from fanout_tools import targets
from fanout_tools.errors import ConfigError
from fanout_tools.sandbox.control import SandboxInfo
from fanout_tools.targets.aws import AwsTarget
from fanout_tools.targets.base import state_key
from fanout_tools.targets.sandbox import STATE_BUCKET, SandboxTarget


@pytest.fixture(autouse=True)
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def _sandbox(port: int = 4567, region: str = "us-east-1") -> SandboxTarget:
    target = SandboxTarget(region=region)
    target._info = SandboxInfo(pid=1, port=port, log=Path("server.log"))
    return target


def test_default_target_is_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TARGET", raising=False)
    assert isinstance(targets.resolve(None), SandboxTarget)
    monkeypatch.setenv("TARGET", "aws")
    assert isinstance(targets.resolve(None), AwsTarget)
    assert isinstance(targets.resolve("sandbox"), SandboxTarget)


def test_unknown_target_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown target 'prod'") as err:
        targets.resolve("prod")
    assert "TARGET=sandbox" in err.value.hint


def test_sandbox_target_cannot_reach_a_real_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-token")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/admin")
    env = _sandbox(region="eu-west-1").aws_env()
    assert env["AWS_PROFILE"] is None and env["AWS_SESSION_TOKEN"] is None and env["AWS_ROLE_ARN"] is None
    assert env["AWS_ACCESS_KEY_ID"] == "sandbox"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4567"
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"]  # both neutralised


def test_every_stack_has_its_own_locked_state_object() -> None:
    target = _sandbox()
    mine, theirs = target.backend("fanout"), target.backend("fanout-it")
    assert mine.config["bucket"] == theirs.config["bucket"] == STATE_BUCKET
    assert mine.config["key"] == state_key("fanout") != theirs.config["key"]
    assert mine.config["use_lockfile"] == "true"
    assert AwsTarget().backend("fanout").config == {"key": state_key("fanout")}


def test_hints_keep_the_target() -> None:
    assert _sandbox().command_hint("run ITEMS=25") == "make run ITEMS=25"
    assert AwsTarget().command_hint("run ITEMS=25") == "make run ITEMS=25 TARGET=aws"


def test_sandbox_job_logs_are_read_from_its_job_folder(runtime: Path) -> None:
    target = _sandbox()
    jobs = runtime / "sandbox" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "job-1.log").write_text("".join(f"line {i}\n" for i in range(10)))
    log = target.job_log({}, "job-1", None)
    assert log.location == str(jobs / "job-1.log")
    assert log.lines == ("line 6", "line 7", "line 8", "line 9")
    assert target.job_log({}, "job-2", None, array=True).location.endswith("job-2:<index>.log")


def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_aws_target_without_credentials_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_credentials(monkeypatch)
    with pytest.raises(ConfigError, match="TARGET=aws needs AWS credentials") as err:
        AwsTarget().prepare()
    assert "TARGET=sandbox" in err.value.hint


def test_aws_target_needs_a_backend_file_without_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(AwsTarget, "caller_identity", lambda self: {"Account": "111122223333"})
    monkeypatch.setenv("FANOUT_BACKEND_CONFIG", str(tmp_path / "missing.s3.tfbackend"))
    with pytest.raises(ConfigError, match="S3 backend config file"):
        AwsTarget().prepare()
    backend = tmp_path / "aws.s3.tfbackend"
    backend.write_text('bucket = "state"\nregion = "us-east-1"\nkey = "shared/terraform.tfstate"\n')
    monkeypatch.setenv("FANOUT_BACKEND_CONFIG", str(backend))
    with pytest.raises(ConfigError, match="sets `key`") as err:
        AwsTarget().prepare()
    assert "remove the `key` line" in err.value.hint
    backend.write_text('bucket = "state"\nregion = "us-east-1"\nuse_lockfile = true\n')
    assert AwsTarget().prepare() == []
    assert AwsTarget().backend("fanout").files == (backend,)
