"""Var files are read the way Terraform reads them, and a name the stack does not declare is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fanout_tools.errors import ConfigError
from fanout_tools.tfvars import declared_variables, read_var_file, stack_settings


def test_defaults_come_from_the_stack_declarations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_VAR_name", raising=False)
    declared = declared_variables()
    assert declared["name"] == "fanout" and declared["region"] == "us-east-1"
    settings = stack_settings([])
    assert settings["name"] == "fanout"


def test_later_files_win_over_earlier_ones_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_VAR_name", "from-env")
    assert stack_settings([])["name"] == "from-env"
    first = tmp_path / "a.tfvars"
    first.write_text('name = "first"\nregion = "eu-west-1"\n')
    second = tmp_path / "b.tfvars.json"
    second.write_text(json.dumps({"name": "second"}))
    settings = stack_settings([first, second])
    assert settings["name"] == "second" and settings["region"] == "eu-west-1"


def test_a_typo_in_a_variable_name_names_the_closest_declared_one(tmp_path: Path) -> None:
    path = tmp_path / "typo.tfvars"
    path.write_text('fanout_mod = "array"\n')
    with pytest.raises(ConfigError, match="sets 'fanout_mod', which the stack does not declare") as err:
        stack_settings([path])
    assert err.value.hint == "did you mean 'fanout_mode'?"


def test_a_broken_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.tfvars"
    path.write_text('name = "unterminated\n')
    with pytest.raises(ConfigError, match="is not a valid Terraform variables file"):
        read_var_file(path)
    path = tmp_path / "list.tfvars.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="is not a valid Terraform variables file"):
        read_var_file(path)


def test_every_example_var_file_is_declared() -> None:
    for example in sorted(Path(__file__).resolve().parents[2].glob("terraform/examples/*.tfvars")):
        assert stack_settings([example])["name"]
