"""``fanout validate``: ``terraform init -backend=false`` + ``terraform validate`` of the Terraform tree,
offline, with the project's CLI config; then every committed state-machine definition (one per mode,
rendered with concrete ARNs) through AWS's own ASL language service, statelint, moto's parser and the ARN
provenance check (:func:`definition_problems`, see :mod:`fanout_tools.asl_validate`).

By default the root module is validated, and with it every module it calls, as it calls them
(``terraform validate`` checks the whole configuration: each module's files, and every call's
arguments against the module's variables); its diagnostics are sorted to the module whose file they
name. A folder under ``modules/`` the root does not call is validated on its own, as is any module
named on the command line. One validate of the root costs what one of a module costs (~4 CPU-seconds,
mostly the provider's start-up), so this is ~8 times cheaper than validating each module alone.

Each run works in a private copy of the Terraform tree, so nothing (``.terraform/``, lock files) is
written into the checkout; standalone modules are checked in parallel.
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
    via: str = ""  # "root": checked as the root calls it; "": validated on its own

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


def _module_path(name: str) -> str:
    """Where module ``name`` is in the Terraform tree ("." for the root), as Terraform names it."""
    return "." if name == ROOT else f"modules/{name}"


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


@dataclass(frozen=True)
class _Run:
    initialised: bool
    valid: bool
    diagnostics: list[Diagnostic]


def _run_validate(workdir: Path, rel: str, env: dict[str, str]) -> _Run:
    """init + validate in ``workdir``; diagnostics are located relative to the tree (``rel`` is the
    folder's path in it)."""
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
        return _Run(False, False, [Diagnostic("error", "terraform init failed", message, rel)])
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
        return _Run(True, False, [Diagnostic("error", "terraform validate failed", message, rel)])
    return _Run(True, bool(raw.get("valid")) and result.returncode == 0, _diagnostics(raw, rel))


def _validate_one(copy_root: Path, name: str, env: dict[str, str]) -> ModuleResult:
    """``name`` validated on its own, as a root module."""
    rel = _module_path(name)
    run = _run_validate(copy_root / rel, rel, env)
    return ModuleResult(name, run.valid, run.diagnostics)


def called_modules(initialised_root: Path) -> list[str]:
    """The folders under ``modules/`` the root calls (also through other modules), from the manifest
    ``terraform init`` writes."""
    manifest = initialised_root / ".terraform" / "modules" / "modules.json"
    dirs = {entry.get("Dir", ".") for entry in json.loads(manifest.read_text()).get("Modules", [])}
    return sorted(name for name in module_names(initialised_root)[1:] if _module_path(name) in dirs)


def _validate_root_and_callees(copy_root: Path, env: dict[str, str]) -> tuple[list[ModuleResult], bool]:
    """The root's validate, split into a result for the root's own files and one per called module
    (each diagnostic goes to the module whose file it names). The flag says whether init worked (when
    it did not, nothing tells which modules the root calls)."""
    run = _run_validate(copy_root, ".", env)
    if not run.initialised:
        return [ModuleResult(ROOT, False, run.diagnostics)], False
    called = called_modules(copy_root)
    owned: dict[str, list[Diagnostic]] = {ROOT: [], **{name: [] for name in called}}
    for diag in run.diagnostics:
        owner = next((n for n in called if diag.location.startswith(f"{_module_path(n)}/")), ROOT)
        owned[owner].append(diag)
    silent_failure = not run.valid and not any(d.severity == "error" for d in run.diagnostics)
    results = []
    for name, found in owned.items():
        valid = not any(d.severity == "error" for d in found) and not (name == ROOT and silent_failure)
        results.append(ModuleResult(name, valid, found, via="" if name == ROOT else ROOT))
    return results, True


def validate_tree(
    tf_root: Path | None = None, names: list[str] | None = None, jobs: int | None = None
) -> list[ModuleResult]:
    """Validate the Terraform tree at ``tf_root``: by default the root (with every module it calls, as
    it calls them) and, on their own, the modules it does not call; ``names`` each on its own.
    Results come in :func:`module_names` order."""
    tf_root = (tf_root or terraform_dir()).resolve()
    available = module_names(tf_root)
    unknown = sorted(set(names or ()) - set(available))
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
        results: list[ModuleResult] = []
        alone = list(names or [])
        if not names:
            results, init_worked = _validate_root_and_callees(copy_root, env)
            covered = {res.name for res in results}
            # init failed: say for each module on its own whether it is the broken one
            alone = [n for n in available if n not in covered] if init_worked else available[1:]
        with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 2)) as pool:
            results += pool.map(lambda n: _validate_one(copy_root, n, env), alone)
    return sorted(results, key=lambda res: available.index(res.name))


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
        help="modules to validate, each on its own: 'root' or a folder name under terraform/modules "
        "(default: the root with the modules it calls, and on their own the modules it does not call)",
    )
    parser.add_argument("--strict", action="store_true", help="fail on warnings too (deprecations, ...)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 2, help="modules validated on their own in parallel"
    )


def run(args: argparse.Namespace) -> int:
    results = validate_tree(names=args.modules or None, jobs=args.jobs)
    failed = []
    for res in results:
        bad = res.errors + (res.warnings if args.strict else [])
        status = "ok" if res.valid and not bad else "FAILED"
        print(f"{status:6} {res.name}" + (f" (as the {res.via} module calls it)" if res.via else ""))
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
