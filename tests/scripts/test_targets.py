"""Targets: sandbox (default, fake credentials, local per-target state) and aws (real credentials)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from fanout_tools import targets
from fanout_tools.errors import ConfigError
from moto import mock_aws


@pytest.fixture(autouse=True)
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def test_default_target_is_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TARGET", raising=False)
    assert targets.resolve(None) == "sandbox"
    monkeypatch.setenv("TARGET", "aws")
    assert targets.resolve(None) == "aws"
    assert targets.resolve("sandbox") == "sandbox"


def test_unknown_target_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown target 'prod'") as err:
        targets.resolve("prod")
    assert "TARGET=sandbox" in err.value.hint


def test_sandbox_target_cannot_reach_a_real_account(monkeypatch: pytest.MonkeyPatch, runtime: Path) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-token")
    target = targets.sandbox_target(4567)
    env = target.runner()._full_env()
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "sandbox"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4567"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"]  # both neutralised
    # per-target data dir and state, never in terraform/
    assert env["TF_DATA_DIR"] == str(runtime / "targets" / "sandbox" / "tfdata")
    assert env["TF_CLI_ARGS_apply"] == f"-state={runtime / 'targets' / 'sandbox' / 'terraform.tfstate'}"
    values = json.loads(target.var_files[0].read_text())
    assert values["aws_endpoint_url"] == "http://127.0.0.1:4567"
    assert values["generator_package_path"].endswith("generator.zip")


def test_aws_target_without_credentials_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(ConfigError, match="TARGET=aws needs AWS credentials") as err:
        targets.prepare("aws")
    assert "TARGET=sandbox" in err.value.hint


def test_aws_target_needs_the_backend_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(targets, "caller_identity", lambda: {"Account": "111122223333"})
    monkeypatch.setenv("FANOUT_BACKEND_CONFIG", str(tmp_path / "missing.s3.tfbackend"))
    with pytest.raises(ConfigError, match="S3 backend config file"):
        targets.prepare("aws")


def test_aws_backend_override_exists_only_while_in_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FANOUT_REPO_ROOT", str(tmp_path))
    (tmp_path / "terraform").mkdir()
    override = tmp_path / "terraform" / targets.BACKEND_OVERRIDE
    with targets.Target(name="aws").backend_override():
        assert 'backend "s3"' in override.read_text()
    assert not override.exists()
    with targets.Target(name="sandbox").backend_override():
        assert not override.exists()


def _state(path: Path, machine_arn: str) -> None:
    path.write_text(
        json.dumps(
            {
                "version": 4,
                "resources": [
                    {
                        "mode": "managed",
                        "type": "aws_sfn_state_machine",
                        "instances": [{"attributes": {"arn": machine_arn}}],
                    }
                ],
            }
        )
    )


def test_a_restarted_sandbox_that_lost_the_stack_is_detected_and_the_state_reset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    target = targets.Target(name="sandbox", region="us-east-1")
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:fanout"
    _state(target.state_file, arn)
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        sfn.create_state_machine(
            name="fanout",
            definition='{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}',
            roleArn="arn:aws:iam::123456789012:role/r",
        )
        assert not targets.sandbox_lost_resources(target)  # the state matches what the sandbox holds
    with mock_aws():  # a fresh (restarted) sandbox: empty
        assert targets.sandbox_lost_resources(target)
        targets.recover_if_lost(target)
    assert not target.state_file.exists()
    assert list(target.dir.glob("terraform.tfstate.lost-*"))
    assert "lost the resources" in capsys.readouterr().out
