"""Terraform set-up: the provider comes from a local mirror when there is one, else the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from fanout_tools import tf
from fanout_tools.errors import ToolMissingError

MODULE = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.100, < 7" }
  }
}
"""


@pytest.fixture(autouse=True)
def private_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path / "runtime"))


def test_a_mirror_named_by_the_environment_must_hold_the_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_PLUGIN_MIRROR", str(tmp_path))
    with pytest.raises(ToolMissingError, match=r"has no registry\.terraform\.io/hashicorp/aws folder"):
        tf.find_provider_mirror()


def test_the_cli_config_uses_the_mirror_only_for_the_aws_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / tf.PROVIDER_SOURCE).mkdir(parents=True)
    monkeypatch.setenv("TF_PLUGIN_MIRROR", str(tmp_path))
    text = tf.cli_config_file().read_text()
    assert f'path    = "{tmp_path}"' in text
    assert 'direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    monkeypatch.setenv("TF_PLUGIN_MIRROR", "none")
    assert "provider_installation" not in tf.cli_config_file().read_text()


def test_no_mirror_and_no_registry_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(MODULE)
    monkeypatch.setenv("TF_PLUGIN_MIRROR", "none")
    # Whatever the machine's network, the registry is unreachable through a closed local port.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    runner = tf.TerraformRunner(workdir=module, data_dir=tmp_path / "data")
    with pytest.raises(ToolMissingError) as caught:
        runner.init()
    assert "no local provider mirror was found" in caught.value.message
    assert "TF_PLUGIN_MIRROR" in caught.value.hint


def test_terraform_runs_with_a_lighter_garbage_collector_unless_the_user_chose_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    assert tf.TerraformRunner().full_env()["GOGC"] == tf.GOGC_DEFAULT
    monkeypatch.setenv("GOGC", "50")
    assert tf.TerraformRunner().full_env()["GOGC"] == "50"
    assert tf.TerraformRunner(env={"GOGC": "off"}).full_env()["GOGC"] == "off"


def test_threads_writing_the_cli_config_at_once_all_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stacks applied side by side in one process (the stop tests, the bench) each write the config
    on their first Terraform call: no call may fail because another one renamed its file."""
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / tf.PROVIDER_SOURCE).mkdir(parents=True)
    monkeypatch.setenv("TF_PLUGIN_MIRROR", str(tmp_path))
    for round_ in range(20):
        monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path / f"runtime-{round_}"))
        with ThreadPoolExecutor(8) as pool:
            paths = list(pool.map(lambda _: tf.cli_config_file(), range(8)))
        assert {path.read_text() for path in paths} == {tf.cli_config_file().read_text()}
        assert [p.name for p in paths[0].parent.iterdir()] == ["terraformrc"]  # no temporary file left
