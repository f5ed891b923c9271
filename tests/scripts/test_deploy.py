"""A stack's data dir: ``terraform init`` runs when what it depends on changed, and only then."""

from __future__ import annotations

import json
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


def _state(serial: int, arn: str) -> str:
    """A Terraform state (format version 4) holding one output, as the S3 backend stores it."""
    outputs = {"state_machine_arn": {"value": arn, "type": "string"}}
    return json.dumps(
        {
            "version": 4,
            "terraform_version": "1.11.4",
            "serial": serial,
            "lineage": "3f1c0e52-0000-4000-8000-000000000001",
            "outputs": outputs,
            "resources": [],
            "check_results": None,
        }
    )


def test_outputs_are_read_once_per_version_of_the_state(
    account: SandboxTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every verb reads the outputs: `terraform output` runs again only when the state object changed
    (an apply or destroy from any clone), and a state that is gone reads as nothing deployed."""
    monkeypatch.setenv("FANOUT_RUNTIME_DIR", str(tmp_path))
    reads: list[dict[str, object]] = []
    real_outputs = TerraformRunner.outputs

    def counted(self: TerraformRunner) -> dict[str, object]:
        reads.append(real_outputs(self))
        return reads[-1]

    monkeypatch.setattr(TerraformRunner, "outputs", counted)
    stack = deploy.Stack(account, "outputs-cache", "us-east-1")
    backend = account.backend(stack.name)
    s3 = account.client("s3", region=backend.setting("region"))
    key = str(backend.setting("key"))
    s3.put_object(Bucket=backend.setting("bucket"), Key=key, Body=_state(1, "arn:first"))
    stack.init()

    assert stack.outputs() == {"state_machine_arn": "arn:first"}
    assert stack.outputs() == {"state_machine_arn": "arn:first"}
    assert len(reads) == 1, "the same state was read twice"

    s3.put_object(Bucket=backend.setting("bucket"), Key=key, Body=_state(2, "arn:second"))
    assert stack.outputs() == {"state_machine_arn": "arn:second"}
    assert len(reads) == 2

    s3.delete_object(Bucket=backend.setting("bucket"), Key=key)
    assert stack.outputs() == {}
    assert len(reads) == 3
