"""`terraform fmt -check` and `fanout validate` (init -backend=false + validate): the root with every module
it calls, and on their own the modules it does not call."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fanout_tools import cli
from fanout_tools.paths import terraform_dir
from fanout_tools.tf import terraform_binary, terraform_env
from fanout_tools.validate import ModuleResult, module_names, validate_tree

# One worker validates the whole tree once: spread over workers, each would run the fixture again
# (a terraform validate with the provider costs ~4 s of CPU).
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


def test_the_modules_the_root_calls_are_validated_as_it_calls_them(results: dict[str, ModuleResult]) -> None:
    assert {name for name, res in results.items() if res.via == "root"} == EXPECTED_MODULES
    assert results["root"].via == ""


@pytest.mark.slow
def test_a_broken_module_is_reported_with_file_and_line_and_an_uncalled_one_on_its_own(tmp_path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "terraform"
    shutil.copytree(terraform_dir(), copy, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    main_tf = copy / "modules" / "storage" / "main.tf"
    broken_line = len(main_tf.read_text().splitlines()) + 2
    main_tf.write_text(main_tf.read_text() + '\noutput "broken" {\n  value = var.no_such_variable\n}\n')
    (copy / "modules" / "orphan").mkdir()
    (copy / "modules" / "orphan" / "main.tf").write_text('output "x" {\n  value = var.nowhere\n}\n')

    results = {res.name: res for res in validate_tree(copy)}

    assert list(results) == ["root", *sorted(EXPECTED_MODULES | {"orphan"})]
    storage, orphan = results["storage"], results["orphan"]
    assert not storage.valid and storage.via == "root"
    assert [d.location for d in storage.errors] == [f"modules/storage/main.tf:{broken_line + 1}"]
    assert "undeclared input variable" in storage.errors[0].summary
    # a module nothing calls is still validated, on its own
    assert not orphan.valid and orphan.via == ""
    assert [d.location for d in orphan.errors] == ["modules/orphan/main.tf:2"]
    # the error is the storage module's, not the root's or its neighbours'
    assert [name for name, res in results.items() if res.valid] == [
        "root",
        *sorted(EXPECTED_MODULES - {"storage"}),
    ]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_root_that_cannot_be_initialised_has_each_module_validated_on_its_own(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {
            "main.tf": 'module "ghost" {\n  source = "./modules/ghost"\n}\n',
            "modules/fine/main.tf": 'output "x" {\n  value = 1\n}\n',
        },
    )

    results = {res.name: res for res in validate_tree(tree)}

    assert not results["root"].valid
    assert "terraform init failed" in results["root"].errors[0].summary
    assert "modules/ghost" in results["root"].errors[0].detail
    assert results["fine"].valid and results["fine"].via == ""


def test_a_module_named_on_the_command_line_is_validated_on_its_own(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {
            "main.tf": 'module "used" {\n  source = "./modules/used"\n}\n',
            "modules/used/main.tf": 'output "x" {\n  value = var.missing\n}\n',
        },
    )

    (res,) = validate_tree(tree, ["used"])

    assert res.name == "used" and res.via == ""
    assert [d.location for d in res.errors] == ["modules/used/main.tf:2"]


def test_unknown_module_name_is_a_user_error(capsys) -> None:  # type: ignore[no-untyped-def]
    code = cli.main(["validate", "no_such_module"])

    err = capsys.readouterr().err
    assert code == 2
    assert "no Terraform module named no_such_module" in err
    assert "choose from: root, alerts, batch" in err
