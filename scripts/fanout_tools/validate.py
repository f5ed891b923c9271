"""``fanout validate``: ``terraform init -backend=false`` + ``terraform validate`` for the root
module and every module under ``terraform/modules/``, offline, with the project's CLI config; then
every committed state-machine definition (one per mode, rendered with concrete ARNs) through AWS's
own ASL language service, statelint, moto's parser and the ARN provenance check
(:func:`definition_problems`, see :mod:`fanout_tools.asl_validate`).

Each module is validated in a private copy of the Terraform tree, so nothing (``.terraform/``,
lock files) is written into the checkout, and modules are checked in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fanout_tools.errors import ConfigError, TerraformError
from fanout_tools.paths import terraform_dir
from fanout_tools.tf import terraform_binary, terraform_env

ROOT = "root"
# What a copy of the tree leaves out: Terraform's working files, state and plans.
_IGNORED = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*", "*.tfplan")


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" or "warning"
    summary: str
    detail: str = ""
    location: str = ""  # "modules/batch/main.tf:12", relative to the Terraform tree

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{self.severity}: {where}{self.summary}"
        return f"{text}\n    {self.detail}" if self.detail else text


@dataclass
class ModuleResult:
    name: str  # "root" or the folder name under modules/
    valid: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def module_names(tf_root: Path | None = None) -> list[str]:
    """``root`` plus every folder under ``modules/`` that holds Terraform files."""
    tf_root = tf_root or terraform_dir()
    modules = sorted(p.name for p in (tf_root / "modules").glob("*") if p.is_dir() and any(p.glob("*.tf")))
    return [ROOT, *modules]


def _module_dir(tf_root: Path, name: str) -> Path:
    return tf_root if name == ROOT else tf_root / "modules" / name


def _diagnostics(raw: dict, module_rel: str) -> list[Diagnostic]:  # type: ignore[type-arg]
    found = []
    for item in raw.get("diagnostics", []):
        rng = item.get("range") or {}
        location = ""
        if rng.get("filename"):
            filename = Path(module_rel, rng["filename"]).as_posix().removeprefix("./")
            location = f"{filename}:{rng.get('start', {}).get('line', '?')}"
        found.append(
            Diagnostic(
                severity=item.get("severity", "error"),
                summary=item.get("summary", ""),
                detail=" ".join((item.get("detail") or "").split()),
                location=location,
            )
        )
    return found


def _validate_one(copy_root: Path, name: str, env: dict[str, str]) -> ModuleResult:
    workdir = _module_dir(copy_root, name)
    rel = "." if name == ROOT else f"modules/{name}"
    binary = terraform_binary()
    init = subprocess.run(
        [binary, "init", "-backend=false", "-input=false", "-no-color"],
        cwd=workdir,
        env=env,
        text=True,
        capture_output=True,
    )
    if init.returncode != 0:
        message = (init.stderr or init.stdout).strip()
        return ModuleResult(name, False, [Diagnostic("error", "terraform init failed", message, rel)])
    result = subprocess.run(
        [binary, "validate", "-json", "-no-color"],
        cwd=workdir,
        env=env,
        text=True,
        capture_output=True,
    )
    try:
        raw = json.loads(result.stdout)
    except json.JSONDecodeError:
        message = (result.stderr or result.stdout).strip()
        return ModuleResult(name, False, [Diagnostic("error", "terraform validate failed", message, rel)])
    return ModuleResult(name, bool(raw.get("valid")) and result.returncode == 0, _diagnostics(raw, rel))


def validate_tree(
    tf_root: Path | None = None, names: list[str] | None = None, jobs: int | None = None
) -> list[ModuleResult]:
    """Validate ``names`` (default: root and every module) of the Terraform tree at ``tf_root``."""
    tf_root = (tf_root or terraform_dir()).resolve()
    available = module_names(tf_root)
    names = names or available
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise ConfigError(
            f"no Terraform module named {', '.join(unknown)} in {tf_root}",
            f"choose from: {', '.join(available)}",
        )
    # The data dir must not be shared between parallel inits.
    env = {k: v for k, v in terraform_env().items() if k != "TF_DATA_DIR"}
    with tempfile.TemporaryDirectory(prefix="fanout-validate-") as tmp:
        copy_root = Path(tmp) / "terraform"
        shutil.copytree(tf_root, copy_root, ignore=_IGNORED)
        with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 2)) as pool:
            return list(pool.map(lambda n: _validate_one(copy_root, n, env), names))


def definition_problems() -> dict[str, list[str]]:
    """Problems of each mode's committed ``<mode>.asl.json.tftpl`` ([] = valid).

    Each is filled the way Terraform's ``templatefile()`` fills it, with the provenance render's values
    (every ARN concrete, from sentinel partition/region/account), and all modes go through AWS's ASL
    language service in one run.
    """
    from fanout_tools import asl_validate, render

    variants: dict[str, tuple[str, str]] = {}
    for mode in render.MODES:
        path = render.definitions_dir() / f"{mode}.asl.json.tftpl"
        try:
            template = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"{path} is missing", "run `fanout render` and commit the result") from None
        values = {**render.sentinel_strings(), **render.DEFAULT_NUMBERS}
        variants[mode] = (template, render.render_concrete(mode, values, template))
    return asl_validate.problems(variants, render.SENTINELS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        help="modules to validate: 'root' or a folder name under terraform/modules (default: all)",
    )
    parser.add_argument("--strict", action="store_true", help="fail on warnings too (deprecations, ...)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="modules validated in parallel")


def run(args: argparse.Namespace) -> int:
    results = validate_tree(names=args.modules or None, jobs=args.jobs)
    failed = []
    for res in results:
        bad = res.errors + (res.warnings if args.strict else [])
        status = "ok" if res.valid and not bad else "FAILED"
        print(f"{status:6} {res.name}")
        for diag in res.diagnostics:
            print("       " + diag.render().replace("\n", "\n       "))
        if status != "ok":
            failed.append(res.name)
    if failed:
        raise TerraformError(
            f"terraform validate failed for: {', '.join(failed)}",
            "fix the files and lines named above, then run `make validate` again",
        )
    if not args.modules or "state_machine" in args.modules:
        bad = []
        for mode, messages in definition_problems().items():
            print(f"{'ok' if not messages else 'FAILED':6} definition {mode}")
            for message in messages:
                print(f"       error: {message}")
            if messages:
                bad.append(mode)
        if bad:
            raise ConfigError(
                f"state-machine definitions failed validation: {', '.join(bad)}",
                "fix templates/asl/, run `fanout render`, then `make validate` again",
            )
    return 0
