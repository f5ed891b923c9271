"""The integration tests' shared generator build: a module's runtime folder starts with the run's zip, which
the tooling finds up to date and does not build again (a build pip-installs the generator's requirements)."""

from __future__ import annotations

import pytest

from tests.sandbox_stacks import SandboxStacks


def test_a_runtime_folder_holds_the_runs_generator_zip_up_to_date(
    sandbox_stacks: SandboxStacks, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fanout_tools.deploy import package_generator

    runtime = sandbox_stacks.runtime("fanout-zip")
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(runtime))
    capsys.readouterr()
    assert package_generator() == runtime / "build" / "generator.zip"
    assert capsys.readouterr().out.startswith("package: unchanged ")
    assert not (runtime / "build" / "deps").exists()  # no requirements were installed here
