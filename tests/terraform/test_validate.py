"""`terraform fmt -check` and `fanout validate` (init -backend=false + validate) for every module."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from fanout_tools import cli
from fanout_tools.paths import terraform_dir
from fanout_tools.tf import terraform_binary, terraform_env
from fanout_tools.validate import ModuleResult, module_names, validate_tree

# One worker validates the whole tree once: spread over workers, each would run the module fixture again
# (eight terraform validates of ~4 s of CPU each).
pytestmark = pytest.mark.xdist_group("validate")

EXPECTED_MODULES = {"alerts", "network", "batch", "generator", "state_machine", "storage", "dashboard"}


@pytest.fixture(scope="module")
def results() -> dict[str, ModuleResult]:
    return {res.name: res for res in validate_tree()}


def test_terraform_files_are_formatted() -> None:
    proc = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-recursive", "-diff", "-no-color", str(terraform_dir())],
        env=terraform_env(),
        text=True,
        capture_output=True,
    )
    assert proc.returncode == 0, f"run `make fmt`; terraform fmt would change:\n{proc.stdout}{proc.stderr}"


def test_every_module_is_found() -> None:
    names = module_names()
    assert names[0] == "root"
    assert set(names[1:]) == EXPECTED_MODULES


@pytest.mark.slow
@pytest.mark.parametrize("name", ["root", *sorted(EXPECTED_MODULES)])
def test_module_validates_without_errors_or_warnings(results: dict[str, ModuleResult], name: str) -> None:
    res = results[name]
    rendered = "\n".join(d.render() for d in res.diagnostics)
    assert res.valid, f"{name} is invalid:\n{rendered}"
    assert res.diagnostics == [], f"{name} has diagnostics:\n{rendered}"


@pytest.mark.slow
def test_a_broken_module_is_reported_with_file_and_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "terraform"
    shutil.copytree(terraform_dir(), copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    main_tf = copy / "modules" / "storage" / "main.tf"
    broken_line = len(main_tf.read_text().splitlines()) + 2
    main_tf.write_text(main_tf.read_text() + '\noutput "broken" {\n  value = var.no_such_variable\n}\n')

    (res,) = validate_tree(copy, ["storage"])

    assert not res.valid
    assert [d.location for d in res.errors] == [f"modules/storage/main.tf:{broken_line + 1}"]
    assert "undeclared input variable" in res.errors[0].summary


def test_unknown_module_name_is_a_user_error(capsys) -> None:  # type: ignore[no-untyped-def]
    code = cli.main(["validate", "no_such_module"])

    err = capsys.readouterr().err
    assert code == 2
    assert "no Terraform module named no_such_module" in err
    assert "choose from: root, alerts, batch" in err
