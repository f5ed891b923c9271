"""Verb ``scan``: checkov policy-compliance scan, fully offline, of the source and of a real plan.

Two scans, both with checkov's built-in checks plus this project's checks (``fanout_tools/checks``):

1. ``source``: the Terraform directory (HCL, local modules followed).
2. ``plan``: the JSON of a real ``terraform plan`` (the real AWS provider) against an in-process moto
   server on loopback: an empty emulated account, so nothing real is read or changed. The plan is
   needed because checkov cannot resolve most values from HCL alone, and the project's checks compare
   the state machine's real definition with its role's real policy.

Reports (CLI text, JUnit XML, SARIF, JSON) go to ``reports/<scan>/``. The scan fails on any FAILED
check and also when a check that should have run produced no result (checkov reports nothing for a
value it cannot resolve): :data:`EXPECTED_CHECKS` lists, per scan, the checks that must come out
PASSED (or SKIPPED by an inline ``checkov:skip`` comment with a justification).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError, FanoutError, ToolMissingError
from fanout_tools.paths import repo_root, terraform_dir
from fanout_tools.targets import SandboxTarget
from fanout_tools.tf import TerraformRunner

CHECKS_DIR = Path(__file__).with_name("checks")

# Built-in checks of checkov 3.3.30 that apply to this stack's resource types (`checkov --list`).
BUILTIN_CHECKS: dict[str, str] = {
    "CKV_AWS_284": "Step Functions: X-Ray tracing",
    "CKV_AWS_285": "Step Functions: execution history logging",
    "CKV_AWS_50": "Lambda: X-Ray tracing",
    "CKV_AWS_115": "Lambda: function-level concurrent execution limit",
    "CKV_AWS_116": "Lambda: dead letter queue",
    "CKV_AWS_117": "Lambda: inside a VPC",
    "CKV_AWS_173": "Lambda: environment variables encrypted",
    "CKV_AWS_272": "Lambda: code signing",
    "CKV_AWS_363": "Lambda: runtime not deprecated",
    "CKV_AWS_210": "Batch job definition: no privileged container",
    "CKV_AWS_62": "IAM: no full '*:*' admin policy",
    "CKV_AWS_63": "IAM: no '*' action",
    "CKV_AWS_286": "IAM: no privilege escalation",
    "CKV_AWS_287": "IAM: no credentials exposure",
    "CKV_AWS_288": "IAM: no data exfiltration",
    "CKV_AWS_289": "IAM: no permissions management without constraints",
    "CKV_AWS_290": "IAM: no write access without constraints",
    "CKV_AWS_355": "IAM: no '*' resource for restrictable actions",
    "CKV2_AWS_40": "IAM: no full IAM privileges",
    "CKV_AWS_66": "Log group: retention set",
    "CKV_AWS_158": "Log group: KMS encryption",
    "CKV_AWS_338": "Log group: retention at least a year",
    "CKV_AWS_26": "SNS topic: encrypted with KMS",
    "CKV_AWS_169": "SNS topic policy: not public",
    "CKV_AWS_385": "SNS topic policy: no cross-account access",
    "CKV_AWS_319": "CloudWatch alarm: actions enabled",
    "CKV_AWS_7": "KMS key: rotation enabled",
    "CKV_AWS_33": "KMS key: no wildcard principal",
    "CKV_AWS_227": "KMS key: enabled",
    "CKV2_AWS_64": "KMS key: policy defined",
}


def custom_check_ids() -> dict[str, str]:
    """The project's checks: id -> name, read from the check modules (one instance per module)."""
    from fanout_tools.checks import registry_ids

    return registry_ids()


# Built-in checks that cannot resolve their value from HCL alone, so only the plan scan must report them:
# the role policies are rendered with templatefile(), the Lambda's reserved concurrency is a
# conditional, and the job definition's container_properties is a jsonencode() of locals; the alerts
# topic policy is the JSON of a policy document data source.
PLAN_ONLY_CHECKS = frozenset(
    {
        "CKV_AWS_169",
        "CKV_AWS_385",
        "CKV_AWS_286",
        "CKV_AWS_287",
        "CKV_AWS_288",
        "CKV_AWS_289",
        "CKV_AWS_290",
        "CKV_AWS_355",
        "CKV_AWS_115",
        "CKV_AWS_210",
    }
)


def expected_checks(scan: str) -> dict[str, str]:
    """Checks that must produce a result (PASSED, or SKIPPED with a justification) in ``scan``."""
    if scan == "plan":
        return {**BUILTIN_CHECKS, **custom_check_ids()}
    # HCL: the project's checks need the whole plan (definition + policies) and report nothing here.
    return {k: v for k, v in BUILTIN_CHECKS.items() if k not in PLAN_ONLY_CHECKS}


# --- an emulated account for plans ------------------------------------------------------------


@contextlib.contextmanager
def emulated_account() -> Iterator[SandboxTarget]:
    """A private, empty sandbox account (the same launcher as `fanout sandbox up`), for plans.

    Nothing real is read or changed, and the checkout's own sandbox is left alone.
    """
    from fanout_tools.sandbox import control

    with tempfile.TemporaryDirectory(prefix="fanout-account-") as tmp:
        target = SandboxTarget(home=Path(tmp) / "sandbox")
        try:
            target.prepare(start=True)
            yield target
        finally:
            control.down(target.home)


def placeholder_package(dest: Path) -> Path:
    """A tiny valid zip for plans when the real package has not been built (plans only hash it)."""
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest, "w") as zf:
            zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return dest


def plan_runner(workdir: Path, target: SandboxTarget, var_files: list[Path] | None = None) -> TerraformRunner:
    """The runner for plans of a copy of ``terraform/`` in ``workdir`` (own data dir: parallel-safe)."""
    return TerraformRunner(
        workdir=workdir,
        data_dir=workdir / ".terraform",
        env=target.aws_env(),
        var_files=tuple(var_files or ()),
        variables={"generator_package_path": str(placeholder_package(workdir / "generator.zip"))},
    )


def init_for_plans(runner: TerraformRunner, target: SandboxTarget, stack_name: str = "scan") -> None:
    """``terraform init`` with the account's own state bucket, as ``fanout plan`` does."""
    backend = target.backend(stack_name)
    runner.init(backend_config=backend.config, backend_files=backend.files)


def plan_json(workdir: Path, target: SandboxTarget, var_files: list[Path]) -> dict[str, Any]:
    """Plan a copy of ``terraform/`` in ``workdir`` against ``target``; the plan as JSON (also saved)."""
    runner = plan_runner(workdir, target, var_files)
    try:
        init_for_plans(runner, target)
        runner.plan(out=workdir / "plan.bin", lock=False)
        plan = runner.show_json(workdir / "plan.bin")
    except FanoutError as err:
        raise FanoutError(
            f"the plan for the scan failed: {err.message}",
            "fix the Terraform error above (run `make validate`), then scan again",
        ) from None
    (workdir / "plan.json").write_text(json.dumps(plan, indent=1))
    return plan


def copy_terraform(dest: Path, source: Path | None = None) -> Path:
    """Copy the Terraform tree (without .terraform/ or state) so plans never write into terraform/."""
    src = source or terraform_dir()
    shutil.copytree(
        src,
        dest,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*", "*.tfplan"),
        dirs_exist_ok=True,
    )
    return dest


# --- checkov ----------------------------------------------------------------------------------


def checkov_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "WARNING"})
    return env


def checkov_binary() -> str:
    found = shutil.which("checkov", path=str(Path(sys.executable).parent)) or shutil.which("checkov")
    if not found:
        raise ToolMissingError("checkov was not found", "run `make setup` (it installs the pinned checkov)")
    return found


def run_checkov(
    args: list[str],
    output_dir: Path,
    checks_dir: Path = CHECKS_DIR,
    plan_file: Path | None = None,
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Run checkov with the project's checks; return the parsed JSON report (CLI text to results_cli.txt).

    checkov runs in ``cwd`` (default: the repository). Scanning a folder of plans (``-d``) needs that
    folder there: checkov names each plan relative to it, and the project's checks open it from ``cwd``.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    if not (checks_dir / "__init__.py").is_file():
        raise ConfigError(
            f"{checks_dir} has no __init__.py", "checkov silently skips a checks folder without one"
        )
    cmd = [
        checkov_binary(),
        *args,
        "--skip-download",
        "--external-checks-dir",
        str(checks_dir),
        "--compact",
        "--output",
        "cli",
        "--output",
        "json",
        "--output",
        "junitxml",
        "--output",
        "sarif",
        "--output-file-path",
        str(output_dir),
    ]
    env = checkov_env()
    env.pop("FANOUT_PLAN_JSON", None)
    if plan_file:
        env["FANOUT_PLAN_JSON"] = str(plan_file)  # the project's checks read the whole plan
    result = subprocess.run(cmd, env=env, text=True, capture_output=True, cwd=cwd or repo_root())
    report_path = output_dir / "results_json.json"
    if result.returncode not in (0, 1) or not report_path.is_file():
        raise FanoutError(
            f"checkov failed to run (exit {result.returncode}):\n{(result.stderr or result.stdout)[-3000:]}",
            "read the error above; a Python error in a check under "
            "scripts/fanout_tools/checks is the usual cause",
        )
    raw = json.loads(report_path.read_text())
    reports = raw if isinstance(raw, list) else [raw]
    return {"reports": reports}


@dataclass
class ScanOutcome:
    name: str
    passed: list[tuple[str, str]]
    failed: list[tuple[str, str, str]]
    skipped: list[tuple[str, str, str]]
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing


def summarise(name: str, report: dict[str, Any], expected: dict[str, str]) -> ScanOutcome:
    passed: list[tuple[str, str]] = []
    failed: list[tuple[str, str, str]] = []
    skipped: list[tuple[str, str, str]] = []
    for rep in report["reports"]:
        results = rep.get("results", {}) if isinstance(rep, dict) else {}
        for check in results.get("passed_checks", []):
            passed.append((check["check_id"], check["resource"]))
        for check in results.get("failed_checks", []):
            failed.append((check["check_id"], check["resource"], check.get("check_name", "")))
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            skipped.append((check["check_id"], check["resource"], reason))
    seen = {c for c, _ in passed} | {c for c, _, _ in skipped if not _unjustified(_)}
    missing = sorted(set(expected) - seen - {c for c, _, _ in failed})
    return ScanOutcome(name, passed, failed, skipped, missing)


def _unjustified(reason: str) -> bool:
    return not reason or reason.strip().lower() in ("", "no comment provided")


def scan_source(output_dir: Path, tf_dir: Path) -> ScanOutcome:
    report = run_checkov(["-d", str(tf_dir), "--framework", "terraform"], output_dir)
    return summarise("source", report, expected_checks("source"))


def plan_configurations(tf_dir: Path, var_files: list[Path]) -> dict[str, list[Path]]:
    """name -> var files. Default: the stack's defaults plus every ``terraform/examples/*.tfvars``,
    so every compute type and the bucket-backed modes are scanned; ``--var-file`` scans just that."""
    if var_files:
        return {"custom": var_files}
    configs: dict[str, list[Path]] = {"defaults": []}
    for example in sorted((tf_dir / "examples").glob("*.tfvars")):
        configs[example.stem] = [example]
    return configs


def scan_plan(
    output_dir: Path, tf_dir: Path, var_files: list[Path], target: SandboxTarget, name: str = "plan"
) -> ScanOutcome:
    """Plan one configuration (against ``target``, an emulated account) and scan the plan JSON."""
    with tempfile.TemporaryDirectory(prefix="fanout-scan-") as tmp:
        work = copy_terraform(Path(tmp) / "terraform", tf_dir)
        plan_json(work, target, var_files)
        output_dir.mkdir(parents=True, exist_ok=True)
        plan_file = output_dir / "plan.json"
        shutil.copyfile(work / "plan.json", plan_file)
    report = run_checkov(
        [
            "-f",
            str(plan_file),
            "--framework",
            "terraform_plan",
            "--repo-root-for-plan-enrichment",
            str(tf_dir),
        ],
        output_dir,
        plan_file=plan_file,
    )
    return summarise(name, report, expected_checks("plan"))


def scan_plans(output_root: Path, tf_dir: Path, var_files: list[Path]) -> list[tuple[ScanOutcome, Path]]:
    """Every configuration of :func:`plan_configurations`, two at a time; reports in plan-<name>/."""
    from concurrent.futures import ThreadPoolExecutor

    configs = plan_configurations(tf_dir, var_files)

    with emulated_account() as target:

        def one(item: tuple[str, list[Path]]) -> tuple[ScanOutcome, Path]:
            name, files = item
            where = output_root / f"plan-{name}"
            return scan_plan(where, tf_dir, files, target, name=f"plan {name}"), where

        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(one, configs.items()))


def print_outcome(outcome: ScanOutcome, output_dir: Path) -> None:
    print(
        f"scan {outcome.name}: {len(outcome.passed)} passed, {len(outcome.failed)} failed, "
        f"{len(outcome.skipped)} skipped, {len(outcome.missing)} expected checks without a result "
        f"(reports in {output_dir})"
    )
    for check_id, resource, name in outcome.failed:
        print(f"  FAILED  {check_id} {resource}: {name}")
    for check_id, resource, reason in outcome.skipped:
        print(f"  SKIPPED {check_id} {resource}: {reason}")
    for check_id in outcome.missing:
        print(f"  NO RESULT {check_id}: expected to run but checkov reported nothing (unresolved value?)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", choices=["source", "plan"], default=None, help="run one of the two scans (default: both)"
    )
    parser.add_argument(
        "--var-file",
        action="append",
        type=Path,
        default=[],
        help="Terraform variables for the plan scan (repeatable; default: the stack's defaults and "
        "each terraform/examples/*.tfvars, one plan each)",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=None, help="report folder (default: reports/ in the repository)"
    )
    parser.add_argument("--terraform-dir", type=Path, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    out = (args.output_dir or repo_root() / "reports").resolve()
    tf_dir = (args.terraform_dir or terraform_dir()).resolve()
    var_files = [Path(p).resolve() for p in args.var_file]
    for path in var_files:
        if not path.is_file():
            raise ConfigError(f"var file {path} does not exist", "pass an existing .tfvars file")
    outcomes = []
    if args.only in (None, "source"):
        outcomes.append((scan_source(out / "source", tf_dir), out / "source"))
    if args.only in (None, "plan"):
        outcomes += scan_plans(out, tf_dir, var_files)
    for outcome, where in outcomes:
        print_outcome(outcome, where)
    ok = all(o.ok for o, _ in outcomes)
    # parliament and cloudsplaining on every policy document of every plan (reports beside checkov's)
    from fanout_tools.iam_lint import lint_plan_dirs

    ok = lint_plan_dirs([where for _, where in outcomes if (where / "plan.json").is_file()]) and ok
    print("scan: OK" if ok else "scan: FAILED (see above)")
    return 0 if ok else 1
