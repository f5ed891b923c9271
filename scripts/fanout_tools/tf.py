"""Running Terraform: provider discovery (offline mirror or registry) and a thin runner.

The runner uses python-terraform (as the product card asks) for init/plan/apply/destroy.
Its ``output()`` is broken on Terraform >= 0.14 (it expects ``{"value": ...}`` from
``terraform output -json NAME``, which now prints the bare value), so outputs are read with
``terraform output -json`` and parsed here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fanout_tools.errors import TerraformError, ToolMissingError
from fanout_tools.paths import runtime_dir, terraform_dir

log = logging.getLogger(__name__)

PROVIDER_SOURCE = "registry.terraform.io/hashicorp/aws"
# Places where machine images and packagers put a Terraform filesystem mirror.
MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "/usr/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
)


def terraform_binary() -> str:
    binary = os.environ.get("TERRAFORM", "terraform")
    found = shutil.which(binary)
    if not found:
        raise ToolMissingError(
            f"terraform was not found on PATH (looked for {binary!r})",
            "install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install) "
            "or set TERRAFORM=/path/to/terraform",
        )
    return found


def find_provider_mirror() -> Path | None:
    """The filesystem mirror holding hashicorp/aws, from $TF_PLUGIN_MIRROR or well-known places.

    $TF_PLUGIN_MIRROR=none disables the search (plain registry install).
    """
    override = os.environ.get("TF_PLUGIN_MIRROR")
    if override == "none":
        return None
    candidates = [override] if override else list(MIRROR_CANDIDATES)
    for candidate in candidates:
        root = Path(candidate).expanduser()
        if (root / PROVIDER_SOURCE).is_dir():
            return root
    if override:
        raise ToolMissingError(
            f"TF_PLUGIN_MIRROR={override} has no {PROVIDER_SOURCE} folder",
            "point TF_PLUGIN_MIRROR at the folder that contains registry.terraform.io/, "
            "or unset it to use the registry",
        )
    return None


def cli_config_file() -> Path:
    """A Terraform CLI config owned by the project, so results do not depend on ~/.terraformrc."""
    mirror = find_provider_mirror()
    path = runtime_dir() / "terraformrc"
    if mirror:
        body = (
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{PROVIDER_SOURCE}"]\n  }}\n'
            f'  direct {{\n    exclude = ["{PROVIDER_SOURCE}"]\n  }}\n'
            "}\n"
        )
    else:
        body = "# no filesystem mirror found: providers come from the registry\n"
    if not path.exists() or path.read_text() != body:
        path.write_text(body)
    return path


def terraform_env(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """os.environ plus the project's CLI config, updated with ``extra`` (a None value unsets a variable)."""
    env = dict(os.environ)
    env["TF_CLI_CONFIG_FILE"] = str(cli_config_file())
    env["TF_IN_AUTOMATION"] = "1"
    env.pop("TF_LOG", None)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class TerraformRunner:
    """Runs terraform in ``workdir`` with a per-target data dir, env and var files."""

    workdir: Path = field(default_factory=terraform_dir)
    data_dir: Path | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    var_files: list[Path] = field(default_factory=list)

    def _full_env(self) -> dict[str, str]:
        extra: dict[str, str | None] = dict(self.env)
        if self.data_dir:
            extra["TF_DATA_DIR"] = str(self.data_dir)
        return terraform_env(extra)

    def _python_terraform(self):  # type: ignore[no-untyped-def]
        from python_terraform import Terraform

        # It logs a WARNING for every non-zero exit, including plan's "changes present" (2);
        # _check reports real failures with Terraform's own message.
        logging.getLogger("python_terraform").setLevel(logging.ERROR)
        return Terraform(working_dir=str(self.workdir), terraform_bin_path=terraform_binary())

    def _check(self, verb: str, result: tuple[int | None, str, str], ok: tuple[int, ...] = (0,)) -> str:
        code, out, err = result
        if code not in ok:
            raise TerraformError(
                f"terraform {verb} failed in {self.workdir}:\n{(err or out or '(output above)').strip()}",
                "read Terraform's message above; fix the variable or file it names and run again",
            )
        return out

    def _run(self, verb: str, *args: str, ok: tuple[int, ...] = (0,), capture: bool = True, **kw) -> str:  # type: ignore[no-untyped-def]
        saved = dict(os.environ)
        full_env = self._full_env()  # computed before clearing: it starts from os.environ
        os.environ.clear()
        os.environ.update(full_env)
        try:
            tf = self._python_terraform()
            result = tf.cmd(verb, *args, no_color=_flag(), input=False, capture_output=capture, **kw)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return self._check(verb, result, ok)

    def init(self, backend_config: dict[str, str] | None = None, reconfigure: bool = False) -> None:
        kw: dict[str, object] = {}
        if backend_config:
            kw["backend_config"] = backend_config
        if reconfigure:
            kw["reconfigure"] = _flag()
        try:
            self._run("init", **kw)
        except TerraformError as err:
            if find_provider_mirror() is None and "provider" in err.message.lower():
                raise ToolMissingError(
                    "terraform init could not install the hashicorp/aws provider: no local provider "
                    f"mirror was found and the registry did not answer.\n{err.message}",
                    "connect to the network, or set TF_PLUGIN_MIRROR to a folder that contains "
                    f"{PROVIDER_SOURCE}/ (a Terraform filesystem mirror)",
                ) from None
            raise

    def _var_file_args(self) -> dict[str, object]:
        return {"var_file": [str(p) for p in self.var_files]} if self.var_files else {}

    def plan(self, out: Path | None = None, destroy: bool = False, capture: bool = True) -> int:
        """Returns 0 for no changes, 2 for changes (``-detailed-exitcode``)."""
        kw = self._var_file_args()
        if out:
            kw["out"] = str(out)
        if destroy:
            kw["destroy"] = _flag()
        saved = dict(os.environ)
        full_env = self._full_env()  # computed before clearing: it starts from os.environ
        os.environ.clear()
        os.environ.update(full_env)
        try:
            result = self._python_terraform().cmd(
                "plan", no_color=_flag(), input=False, detailed_exitcode=_flag(), capture_output=capture, **kw
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self._check("plan", result, ok=(0, 2))
        return int(result[0] or 0)

    def apply(self, plan_file: Path | None = None, capture: bool = False) -> None:
        if plan_file:
            self._run("apply", str(plan_file), capture=capture)
        else:
            self._run("apply", capture=capture, auto_approve=_flag(), **self._var_file_args())

    def destroy(self, capture: bool = False) -> None:
        self._run("destroy", capture=capture, auto_approve=_flag(), **self._var_file_args())

    def show_json(self, plan_file: Path) -> dict:  # type: ignore[type-arg]
        return json.loads(self._run("show", str(plan_file), json=_flag()))

    def outputs(self) -> dict[str, object]:
        # not through python-terraform: it adds -input=false, which `terraform output` rejects
        result = self.raw("output", "-json")
        out = self._check("output", (result.returncode, result.stdout, result.stderr))
        raw = json.loads(out or "{}")
        return {name: item["value"] for name, item in raw.items()}

    def raw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [terraform_binary(), *args],
            cwd=self.workdir,
            env=self._full_env(),
            text=True,
            capture_output=True,
        )


def _flag():  # type: ignore[no-untyped-def]
    from python_terraform import IsFlagged

    return IsFlagged


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["mirror"], help="mirror: print the provider mirror in use")


def run(args: argparse.Namespace) -> int:
    mirror = find_provider_mirror()
    print(mirror if mirror else "none (providers come from the registry)")
    return 0
