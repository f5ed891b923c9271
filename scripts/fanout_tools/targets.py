"""Deployment targets: ``sandbox`` (the local account, default) and ``aws`` (your credentials' account).

Each target has its own Terraform data dir and state under ``.fanout/targets/<target>/``:

- ``sandbox``: local state in ``.fanout/targets/sandbox/terraform.tfstate`` (passed to Terraform as
  ``-state`` through ``TF_CLI_ARGS_<command>``, so nothing is written into ``terraform/``), a generated
  var file (``sandbox.tfvars.json``: ``aws_endpoint_url``, ``generator_package_path``,
  ``bucket_force_destroy``), fake credentials, and every profile/config/credential source
  neutralised, so nothing can reach a real account.
- ``aws``: credentials are checked first (STS GetCallerIdentity); state lives in S3, configured by
  the backend file ``terraform/backends/aws.s3.tfbackend`` (or ``$FANOUT_BACKEND_CONFIG``), which you
  create from the documented example: ``bucket``, ``key``, ``region`` and ``use_lockfile = true``.
  The ``backend "s3" {}`` block Terraform needs is written to ``terraform/backend_override.tf``
  (git-ignored) only while a Terraform command for ``aws`` runs, then removed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError, SandboxError
from fanout_tools.paths import build_dir, runtime_dir, terraform_dir

TARGETS = ("sandbox", "aws")
DEFAULT_TARGET = "sandbox"
BACKEND_OVERRIDE = "backend_override.tf"
BACKEND_OVERRIDE_BODY = (
    "# Written by `fanout` for TARGET=aws while a Terraform command runs; removed afterwards. Git-ignored.\n"
    'terraform {\n  backend "s3" {}\n}\n'
)
# Terraform commands that read or write the local state of the sandbox target.
STATE_COMMANDS = ("plan", "apply", "destroy", "output", "refresh", "import")


def resolve(name: str | None) -> str:
    """The target to use: ``name`` (from --target), else $TARGET, else sandbox; unknown -> ConfigError."""
    chosen = (name or os.environ.get("TARGET") or DEFAULT_TARGET).strip().lower()
    if chosen not in TARGETS:
        raise ConfigError(
            f"unknown target {chosen!r}",
            f"use TARGET=sandbox (the local account, default) or TARGET=aws (one of: {', '.join(TARGETS)})",
        )
    return chosen


def backend_config_file() -> Path:
    override = os.environ.get("FANOUT_BACKEND_CONFIG")
    return Path(override).resolve() if override else terraform_dir() / "backends" / "aws.s3.tfbackend"


@dataclass
class Target:
    name: str
    env: dict[str, str | None] = field(default_factory=dict)
    var_files: list[Path] = field(default_factory=list)
    endpoint_url: str | None = None
    region: str = "us-east-1"

    @property
    def dir(self) -> Path:
        path = runtime_dir() / "targets" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def data_dir(self) -> Path:
        return self.dir / "tfdata"

    @property
    def state_file(self) -> Path:
        """Local state (sandbox only)."""
        return self.dir / "terraform.tfstate"

    @property
    def is_sandbox(self) -> bool:
        return self.name == "sandbox"

    def runner(self, extra_var_files: list[Path] | None = None) -> Any:
        from fanout_tools.tf import TerraformRunner

        return TerraformRunner(
            data_dir=self.data_dir, env=dict(self.env), var_files=[*self.var_files, *(extra_var_files or [])]
        )

    def init(self, runner: Any) -> None:
        """terraform init for this target (S3 backend config for aws)."""
        if self.is_sandbox:
            runner.init()
            return
        with self.backend_override():
            result = runner.raw(
                "init", "-input=false", "-reconfigure", f"-backend-config={backend_config_file()}"
            )
        if result.returncode != 0:
            from fanout_tools.errors import TerraformError

            raise TerraformError(
                f"terraform init (S3 backend) failed:\n{(result.stderr or result.stdout).strip()}",
                f"check the bucket, key and region in {backend_config_file()}",
            )

    @contextlib.contextmanager
    def backend_override(self) -> Iterator[None]:
        """For aws: ``terraform/backend_override.tf`` with an empty s3 backend block, while in use."""
        if self.is_sandbox:
            yield
            return
        path = terraform_dir() / BACKEND_OVERRIDE
        path.write_text(BACKEND_OVERRIDE_BODY)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def session(self) -> Any:
        """A boto3 session for this target (sandbox: fake credentials; aws: the user's credentials)."""
        import boto3

        if self.is_sandbox:
            return boto3.session.Session(
                aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=self.region
            )
        return boto3.session.Session(region_name=self.region or None)

    def client(self, service: str, region: str | None = None) -> Any:
        from botocore.config import Config

        kwargs: dict[str, Any] = {"config": Config(retries={"max_attempts": 5, "mode": "standard"})}
        if region:
            kwargs["region_name"] = region
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.session().client(service, **kwargs)


def sandbox_target(port: int, region: str = "us-east-1", package_path: Path | None = None) -> Target:
    """The sandbox target for a server on ``port``: var file, env with fake credentials, local state."""
    from fanout_tools.sandbox import layout

    target = Target(name="sandbox", endpoint_url=layout.endpoint_url(port), region=region)
    var_file = target.dir / "sandbox.tfvars.json"
    values = {
        "aws_endpoint_url": layout.endpoint_url(port),
        "generator_package_path": str(package_path or build_dir() / "generator.zip"),
        # the sandbox is disposable: let destroy remove a bucket that still holds run objects
        "bucket_force_destroy": True,
    }
    var_file.write_text(json.dumps(values, indent=2) + "\n")
    env: dict[str, str | None] = {
        k: (v or None) for k, v in layout.sandbox_credentials_env(port, region).items()
    }
    # No AWS variable of the user's shell survives into the sandbox's Terraform.
    for key in os.environ:
        if key.startswith("AWS_") and key not in env:
            env[key] = None
    for command in STATE_COMMANDS:
        env[f"TF_CLI_ARGS_{command}"] = f"-state={target.state_file}"
    target.env = env
    target.var_files = [var_file]
    return target


def aws_target(region: str | None = None) -> Target:
    """The aws target: real credentials (checked) and the S3 backend config file (checked)."""
    identity = caller_identity()
    config = backend_config_file()
    if not config.is_file():
        raise ConfigError(
            f"TARGET=aws needs the S3 backend config file {config}",
            'create it (bucket = "...", key = "fanout/terraform.tfstate", region = "...", '
            "use_lockfile = true) or point FANOUT_BACKEND_CONFIG at one",
        )
    target = Target(name="aws", region=region or os.environ.get("AWS_REGION") or "us-east-1")
    target.env = {"FANOUT_AWS_ACCOUNT": identity.get("Account", "")}
    return target


def caller_identity() -> dict[str, str]:
    """STS GetCallerIdentity with the user's credentials; a one-line ConfigError when there are none."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dict(boto3.client("sts").get_caller_identity())
    except (BotoCoreError, ClientError) as err:
        raise ConfigError(
            f"TARGET=aws needs AWS credentials, and none work here ({type(err).__name__})",
            "configure them (aws configure / AWS_PROFILE / AWS_ACCESS_KEY_ID...) or use TARGET=sandbox",
        ) from None


def prepare(name: str | None, start_sandbox: bool = True, package_path: Path | None = None) -> Target:
    """Resolve and set up a target; for the sandbox, start it when needed (or require it running)."""
    chosen = resolve(name)
    if chosen == "aws":
        return aws_target()
    from fanout_tools.sandbox import control

    if start_sandbox:
        info, notes = control.up()
        for note in notes:
            print(f"note: {note}")
    else:
        info = control.require_running()
    return sandbox_target(info.port, package_path=package_path)


# --- sandbox state vs. sandbox contents -------------------------------------------------------------


def state_resources(target: Target) -> list[dict[str, Any]]:
    """Managed resources recorded in the sandbox's local state (empty when there is none)."""
    try:
        state = json.loads(target.state_file.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in state.get("resources", []) if r.get("mode") == "managed"]


def _state_values(resources: list[dict[str, Any]], rtype: str, attribute: str) -> list[str]:
    return [
        str(inst.get("attributes", {}).get(attribute))
        for r in resources
        if r.get("type") == rtype
        for inst in r.get("instances", [])
        if inst.get("attributes", {}).get(attribute)
    ]


def sandbox_lost_resources(target: Target) -> bool:
    """True when the state says resources exist but the (restarted) sandbox has none of them."""
    resources = state_resources(target)
    if not resources:
        return False
    machines = _state_values(resources, "aws_sfn_state_machine", "arn")
    if machines:
        live = {
            m["stateMachineArn"]
            for m in target.client("stepfunctions").list_state_machines()["stateMachines"]
        }
        return not live.intersection(machines)
    roles = _state_values(resources, "aws_iam_role", "name")
    if roles:
        live_roles = {r["RoleName"] for r in target.client("iam").list_roles()["Roles"]}
        return not live_roles.intersection(roles)
    return False


def reset_sandbox_state(target: Target) -> Path:
    """Move the stale sandbox state aside (kept for inspection) and return where it went."""
    backup = target.dir / f"terraform.tfstate.lost-{time.strftime('%Y%m%d-%H%M%S')}"
    target.state_file.rename(backup)
    Path(f"{target.state_file}.backup").unlink(missing_ok=True)
    return backup


def recover_if_lost(target: Target) -> None:
    """Sandbox restarted and lost its resources while the state still lists them: reset, and say so."""
    if not target.is_sandbox:
        return
    try:
        lost = sandbox_lost_resources(target)
    except Exception as err:  # the sandbox does not answer: say so instead of a Terraform timeout later
        raise SandboxError(
            f"cannot read the sandbox at {target.endpoint_url}: {err}",
            "restart it: `make sandbox-down apply`",
        ) from None
    if lost:
        backup = reset_sandbox_state(target)
        print(
            "note: the sandbox was restarted and lost the resources its Terraform state lists; "
            f"the stale state was moved to {backup} and the stack will be created afresh"
        )
