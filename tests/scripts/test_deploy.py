"""A stack's data dir: ``terraform init`` runs when what it depends on changed, and only then."""

from __future__ import annotations

from pathlib import Path

import pytest
from fanout_tools import deploy
from fanout_tools.sandbox.control import SandboxInfo
from fanout_tools.targets.sandbox import SandboxTarget
from fanout_tools.tf import TerraformRunner


@pytest.fixture
def inits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Every ``terraform init`` the stack runs (faked: it only writes the backend cache Terraform writes)."""
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    calls: list[dict[str, str]] = []

    def init(
        self: TerraformRunner, backend_config: dict[str, str] | None = None, backend_files: tuple = ()
    ) -> None:
        calls.append(dict(backend_config or {}))
        assert self.data_dir is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "terraform.tfstate").write_text("{}")

    monkeypatch.setattr(TerraformRunner, "init", init)
    return calls


def _stack(port: int) -> deploy.Stack:
    target = SandboxTarget(region="us-east-1")
    target._info = SandboxInfo(pid=1, port=port, log=Path("server.log"))
    return deploy.Stack(target, "fanout", "us-east-1")


def test_init_runs_once_for_the_same_backend_and_files(inits: list[dict[str, str]]) -> None:
    _stack(4567).init()
    _stack(4567).init()
    assert len(inits) == 1


def test_a_new_backend_endpoint_or_a_lost_data_dir_inits_again(inits: list[dict[str, str]]) -> None:
    _stack(4567).init()
    _stack(4568).init()  # a restarted sandbox: another port
    assert len(inits) == 2
    stack = _stack(4568)
    (stack.data_dir / "terraform.tfstate").unlink()
    stack.init()
    assert len(inits) == 3


def test_a_changed_terraform_file_changes_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "terraform"
    (root / "modules" / "m").mkdir(parents=True)
    (root / "main.tf").write_text('module "m" { source = "./modules/m" }\n')
    monkeypatch.setattr("fanout_tools.paths.terraform_dir", lambda: root)
    backend = _stack(4567).target.backend("fanout")
    first = deploy.init_fingerprint(backend)
    assert deploy.init_fingerprint(backend) == first
    (root / "modules" / "m" / "main.tf").write_text("# a module file appears\n")
    assert deploy.init_fingerprint(backend) != first
