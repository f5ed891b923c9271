"""A typo in a var file's variable name fails the command at once: the name, the suggestion, nothing built."""

from __future__ import annotations

from pathlib import Path

import pytest
from fanout_tools.cli import main
from fanout_tools.sandbox import control


@pytest.mark.parametrize("verb", ["plan", "apply"])
def test_a_typo_in_a_var_file_exits_2_naming_the_variable_and_the_fix(
    verb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = tmp_path / "runtime"
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("TARGET", raising=False)
    typo = tmp_path / "typo.tfvars"
    typo.write_text('fanout_mod = "array"\n')
    assert main([verb, "--target", "sandbox", "--var-file", str(typo)]) == 2
    err = capsys.readouterr().err
    assert "sets 'fanout_mod', which the stack does not declare" in err
    assert "what to do: did you mean 'fanout_mode'?" in err
    assert "Traceback" not in err
    # before anything is built or started: no zip, no Terraform data dir, no sandbox
    assert not (runtime / "build" / "generator.zip").exists()
    assert not (runtime / "terraform").exists()
    assert control.current() is None and control.servers() == []
