"""The one way the tooling runs Terraform: provider discovery and :class:`TerraformRunner`.

Every verb, the scan, the bench and the tests go through :class:`TerraformRunner`. Each call gets
its own environment (``env=`` of the subprocess): nothing touches ``os.environ``, so runners for
different targets and stacks can work side by side in one process.

python-terraform builds the command lines (``Terraform.generate_cmd_string``: options to flags);
the process itself is started here, because python-terraform can only hand Terraform the whole
process's environment. Outputs are read with ``terraform output -json`` and parsed here:
python-terraform's ``output()`` expects ``{"value": ...}`` from ``terraform output -json NAME``,
which Terraform >= 0.14 prints as the bare value.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fanout_tools.errors import TerraformError, ToolMissingError
from fanout_tools.paths import atomic_write, runtime_dir, terraform_dir

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
# plan -detailed-exitcode: 0 no changes, 2 changes present.
PLAN_NO_CHANGES, PLAN_CHANGES = 0, 2
# Go's garbage-collector target for Terraform and its providers (https://pkg.go.dev/runtime#hdr-Environment_Variables)
GOGC_DEFAULT = "400"


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
        atomic_write(path, body.encode())  # threads of one process apply stacks side by side
    return path


def terraform_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """os.environ plus the project's CLI config, updated with ``extra`` (a None value unsets a variable)."""
    env = dict(os.environ)
    env["TF_CLI_CONFIG_FILE"] = str(cli_config_file())
    # Terraform and the AWS provider are Go programs; the provider builds its whole schema (~300 MB)
    # at every start. Collecting garbage once the heap grew 400% instead of Go's default 100% saves
    # ~20% of each command's CPU for ~60 MB more peak memory. A GOGC the user set wins.
    env.setdefault("GOGC", GOGC_DEFAULT)
    env["TF_IN_AUTOMATION"] = "1"
    env.pop("TF_LOG", None)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass(frozen=True)
class Completed:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class TerraformRunner:
    """Runs ``terraform`` in ``workdir`` with ``env`` (None unsets), a data dir and var files.

    ``variables`` are passed as ``TF_VAR_<name>`` in the call's environment: they rank below var
    files, so a value the user sets in a var file wins, and nothing is written to disk for them.
    """

    workdir: Path = field(default_factory=terraform_dir)
    data_dir: Path | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)
    var_files: tuple[Path, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)

    def full_env(self) -> dict[str, str]:
        extra: dict[str, str | None] = dict(self.env)
        if self.data_dir:
            extra["TF_DATA_DIR"] = str(self.data_dir)
        for name, value in self.variables.items():
            extra[f"TF_VAR_{name}"] = value
        return terraform_env(extra)

    def command(self, verb: str, *args: str, **options: object) -> list[str]:
        """The command line, built by python-terraform from ``options`` (``no_color=IsFlagged`` ...)."""
        from python_terraform import Terraform

        builder = Terraform(working_dir=str(self.workdir), terraform_bin_path=terraform_binary())
        return [str(part) for part in builder.generate_cmd_string(verb, *args, **options)]

    def call(self, verb: str, *args: str, capture: bool = True, **options: object) -> Completed:
        """Run one command. Ctrl-C reaches Terraform too (same process group): it stops gracefully and
        releases its state lock, so we wait for it instead of killing it."""
        argv = self.command(verb, *args, **options)
        log.info("terraform: %s", " ".join(argv[1:]))
        # Without capture, Terraform's progress streams to the terminal; its errors are still kept
        # (stderr), so a failure is reported once, with a hint, by the caller.
        stdout = subprocess.PIPE if capture else None
        with subprocess.Popen(
            argv, cwd=self.workdir, env=self.full_env(), text=True, stdout=stdout, stderr=subprocess.PIPE
        ) as proc:
            try:
                out, err = proc.communicate()
            except KeyboardInterrupt:
                proc.wait()
                raise
        if not capture and err and proc.returncode == 0:
            sys.stderr.write(err)  # warnings of a command that worked
        return Completed(proc.returncode, out or "", err or "")

    def check(
        self, verb: str, *args: str, ok: tuple[int, ...] = (0,), capture: bool = True, **options: object
    ) -> Completed:
        result = self.call(verb, *args, capture=capture, **options)
        if result.code not in ok:
            message = (result.err or result.out).strip() or "(Terraform's output is above)"
            hint = "read Terraform's message; fix the variable or file it names and run again"
            if "acquiring the state lock" in message:
                hint = (
                    "another command holds the stack's state lock; if none is running (it was killed), "
                    "release it with `make unlock` (same TARGET and VARS)"
                )
            raise TerraformError(f"terraform {verb} failed:\n{message}", hint)
        return result

    def _flag(self) -> object:
        from python_terraform import IsFlagged

        return IsFlagged

    def _var_files(self) -> dict[str, object]:
        return {"var_file": [str(p) for p in self.var_files]} if self.var_files else {}

    def init(
        self, backend_config: Mapping[str, str] | None = None, backend_files: tuple[Path, ...] = ()
    ) -> None:
        """``terraform init``: with ``backend_config`` (key=value pairs, after ``backend_files``) the
        backend is (re)configured; without either, the backend is skipped (``-backend=false``)."""
        flag = self._flag()
        options: dict[str, object] = {"input": False, "no_color": flag}
        args: list[str] = []
        if backend_config is None and not backend_files:
            options["backend"] = False
        else:
            options["reconfigure"] = flag
            args = [f"-backend-config={p}" for p in backend_files]
            args += [f"-backend-config={k}={v}" for k, v in (backend_config or {}).items()]
        try:
            self.check("init", *args, **options)
        except TerraformError as err:
            if find_provider_mirror() is None and "provider" in err.message.lower():
                raise ToolMissingError(
                    "terraform init could not install the hashicorp/aws provider: no local provider "
                    f"mirror was found and the registry did not answer.\n{err.message}",
                    "connect to the network, or set TF_PLUGIN_MIRROR to a folder that contains "
                    f"{PROVIDER_SOURCE}/ (a Terraform filesystem mirror)",
                ) from None
            raise

    def plan(
        self, out: Path | None = None, destroy: bool = False, capture: bool = True, lock: bool = True
    ) -> int:
        """Returns :data:`PLAN_NO_CHANGES` or :data:`PLAN_CHANGES` (``-detailed-exitcode``)."""
        flag = self._flag()
        options: dict[str, object] = {
            "input": False,
            "no_color": flag,
            "detailed_exitcode": flag,
            **self._var_files(),
        }
        if out:
            options["out"] = str(out)
        if destroy:
            options["destroy"] = flag
        if not lock:
            options["lock"] = False
        result = self.check("plan", ok=(PLAN_NO_CHANGES, PLAN_CHANGES), capture=capture, **options)
        return result.code

    def apply(self, capture: bool = False) -> None:
        flag = self._flag()
        self.check("apply", capture=capture, input=False, auto_approve=flag, **self._var_files())

    def destroy(self, capture: bool = False) -> None:
        flag = self._flag()
        self.check("destroy", capture=capture, input=False, auto_approve=flag, **self._var_files())

    def show_json(self, plan_file: Path) -> dict[str, object]:
        shown = self.check("show", str(plan_file), no_color=self._flag(), json=self._flag())
        return dict(json.loads(shown.out))

    def outputs(self) -> dict[str, object]:
        """The root module's outputs (``{}`` when the state holds none)."""
        # not through python-terraform's output(): see the module docstring
        raw = json.loads(self.check("output", "-json", no_color=self._flag()).out or "{}")
        return {name: item["value"] for name, item in raw.items()}

    def force_unlock(self, lock_id: str) -> None:
        self.check("force-unlock", lock_id, force=self._flag(), capture=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["mirror"], help="mirror: print the provider mirror in use")


def run(args: argparse.Namespace) -> int:
    mirror = find_provider_mirror()
    sys.stdout.write(f"{mirror}\n" if mirror else "none (providers come from the registry)\n")
    return 0


def module_resources(module: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource of a ``terraform show -json`` module (e.g. ``planned_values.root_module``), its
    child modules' included."""
    out = list(module.get("resources", []))
    for child in module.get("child_modules", []):
        out += module_resources(child)
    return out
