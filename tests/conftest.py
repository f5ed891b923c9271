"""Shared fixtures: an emulated AWS endpoint for plans, tftest plan summaries, and the inventory validator.

Plans are real: Terraform (``$TERRAFORM`` or PATH) with the real hashicorp/aws provider from the
project's CLI config (offline mirror when present), against an in-process moto server on loopback.
Each pytest worker plans its own copy of ``terraform/`` (own ``.terraform`` via TF_DATA_DIR), and plans
are cached per (tfvars, worker), so tests that share tfvars share one plan. Group tests that share
plans with ``@pytest.mark.xdist_group("<name>")`` (``make test`` runs ``--dist loadgroup``).

The inventory format follows cloud-foundation-fabric: ``values`` (address -> attributes, subset match;
lists by length and element; ``__missing__`` = these addresses must not exist), ``counts`` (resource
type -> exact number; ``modules``/``resources`` totals too) and ``outputs`` (subset match). On a
mismatch the actual values are printed as YAML, so an inventory can be regenerated deliberately.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
INVENTORIES = REPO / "tests" / "terraform" / "inventories"
MISSING = "__missing__"

# Property-based tests (hypothesis): "ci" is derandomised (the same bounded examples every run, no
# example database), the default here and in `make test`; HYPOTHESIS_PROFILE=explore searches anew.
settings.register_profile("ci", max_examples=50, derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")

# Stacks deployed on a private sandbox, for the integration tests of every folder (sandbox_stacks).
pytest_plugins = ["tests.sandbox_stacks"]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with the longest work first. xdist hands out its work units (an xdist group,
    else one test) biggest test count first, so the integration groups (a few tests each, but minutes:
    the AWS provider's fixed waits during their applies) started last and one worker ran on alone for a
    minute after the others. Here the units holding tests/integration/ tests go first, then the other
    groups (shared plans and sandboxes), then single tests, each by test count as before."""
    if config.getoption("dist", None) != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class LongestGroupsFirst(LoadGroupScheduling):
        ranked = False

        @staticmethod
        def rank(scope: str, nodeids: dict[str, bool]) -> int:
            if any(nodeid.startswith("tests/integration/") for nodeid in nodeids):
                return 0
            return 1 if scope not in nodeids else 2  # a group's scope is its name, a test's its id

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ranked:  # the first call: the queue is complete (sorted by count: kept as ties)
                ranked = sorted(self.workqueue.items(), key=lambda unit: self.rank(*unit))
                self.workqueue.clear()
                self.workqueue.update(ranked)
                self.ranked = True
            super()._assign_work_unit(node)

    return LongestGroupsFirst(config, log)


@pytest.fixture(scope="session", autouse=True)
def _botocore_models_parsed_once() -> Iterator[None]:
    """One botocore data loader per search path for the session: moto's mock gives each test a new
    boto3 default session, whose new loader parses again every service model its clients use (the
    endpoint rules too: ~25 ms each, a sixth of an in-process sandbox test's CPU). A loader only reads
    and caches botocore's JSON files, so sharing it changes no client."""
    import botocore.loaders
    import botocore.session

    loaders: dict[str | None, botocore.loaders.Loader] = {}
    real = botocore.session.create_loader

    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string not in loaders:
            loaders[search_path_string] = real(search_path_string)
        return loaders[search_path_string]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", shared_loader)
        yield


@pytest.fixture(scope="session")
def account() -> Iterator[Any]:
    """An empty emulated account of this worker's own: a private sandbox, started by the same
    launcher as `fanout sandbox up` (the scan uses it too)."""
    from fanout_tools.scan import emulated_account

    with emulated_account() as target:
        yield target


@pytest.fixture(scope="session")
def moto_endpoint(account: Any) -> str:
    """URL of :func:`account`'s endpoint, for tests that call it with boto3 directly."""
    return str(account.endpoint_url())


@pytest.fixture(scope="session")
def generator_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny valid zip standing in for the generator package (plans only hash it)."""
    from fanout_tools.scan import placeholder_package

    return placeholder_package(tmp_path_factory.mktemp("package") / "generator.zip")


@dataclass
class PlanSummary:
    """A plan reduced to what inventories compare."""

    values: dict[str, dict[str, Any]]
    counts: dict[str, int]
    outputs: dict[str, Any]
    raw: dict[str, Any]
    plan_file: Path

    def module(self, name: str) -> PlanSummary:
        """The part of the plan in ``module.<name>`` (addresses relative to it, index stripped)."""
        values: dict[str, dict[str, Any]] = {}
        for address, attrs in self.values.items():
            head, _, rest = address.partition(".")
            if head != "module" or not rest:
                continue
            mod, _, inner = rest.partition(".")
            if mod.split("[")[0] == name and not inner.startswith("module."):
                values[inner] = attrs
        return PlanSummary(values, _counts(values), {}, self.raw, self.plan_file)


def _resource_type(address: str) -> str:
    parts = address.split(".")
    return parts[-2]


def _counts(values: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts = Counter(_resource_type(a) for a in values)
    out = dict(sorted(counts.items()))
    out["resources"] = len(values)
    return out


def summarise(raw: dict[str, Any], plan_file: Path) -> PlanSummary:
    values: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any]) -> None:
        for res in module.get("resources", []):
            if res.get("mode") == "managed":
                values[res["address"]] = res.get("values") or {}
        for child in module.get("child_modules", []):
            walk(child)

    walk(raw.get("planned_values", {}).get("root_module", {}))
    counts = _counts(values)
    modules = {a.rsplit(".", 2)[0] for a in values if a.startswith("module.")}
    counts["modules"] = len(modules)
    outputs = {k: v.get("value") for k, v in raw.get("planned_values", {}).get("outputs", {}).items()}
    return PlanSummary(values, counts, outputs, raw, plan_file)


class Planner:
    """One initialised copy of ``terraform/`` per session (worker); plans cached by tfvars."""

    def __init__(self, workdir: Path, account: Any, package: Path) -> None:
        import tftest
        from fanout_tools.scan import copy_terraform, init_for_plans, plan_runner
        from fanout_tools.tf import terraform_binary

        self.workdir = copy_terraform(workdir)
        self.package = package
        runner = plan_runner(self.workdir, account)
        # init with the account's state bucket, as `fanout plan` does; plans then run through tftest
        init_for_plans(runner, account, stack_name="plan-tests")
        self.env = runner.full_env()
        self.tf = tftest.TerraformTest(str(self.workdir), binary=terraform_binary(), env=self.env)
        self._cache: dict[str, PlanSummary] = {}
        self._lock = threading.Lock()
        self._n = 0

    def var_file(self, tf_vars: dict[str, Any]) -> Path:
        values = {"generator_package_path": str(self.package), **tf_vars}
        self._n += 1
        path = self.workdir / f"case-{self._n}.tfvars.json"
        path.write_text(json.dumps(values, indent=2))
        return path

    def plan(self, tf_vars: dict[str, Any]) -> PlanSummary:
        key = json.dumps(tf_vars, sort_keys=True)
        with self._lock:
            if key not in self._cache:
                import tftest

                var_file = self.var_file(tf_vars)
                # plan(output=True) would leave its plan file in the system temp folder: keep it here.
                binary = var_file.with_suffix(".bin")
                self.tf.execute_command(*self.plan_args(var_file, binary))
                shown = self.tf.execute_command("show", "-no-color", "-json", str(binary)).out
                raw = tftest.TerraformPlanOutput(json.loads(shown))._raw
                plan_file = var_file.with_suffix(".plan.json")
                plan_file.write_text(json.dumps(raw))
                self._cache[key] = summarise(raw, plan_file)
            return self._cache[key]

    @staticmethod
    def plan_args(var_file: Path, out: Path) -> list[str]:
        """``terraform plan`` of one var file into ``out`` (no lock: plans never write the state)."""
        return [
            "plan",
            "-input=false",
            "-no-color",
            "-lock=false",
            f"-var-file={var_file.name}",
            f"-out={out}",
        ]

    def plan_error(self, tf_vars: dict[str, Any]) -> FailedPlan:
        """A plan expected to fail (see :class:`FailedPlan`). Fails the test if the plan succeeds. Safe to
        call from several threads (own var and plan files)."""
        import tftest

        with self._lock:
            var_file = self.var_file(tf_vars)
        plan_file = var_file.with_suffix(".bin")
        try:
            self.tf.execute_command(*self.plan_args(var_file, plan_file))
        except tftest.TerraformTestError as err:
            # tftest raises TerraformTestError(f"Error running command plan: {code} {stdout}", stderr)
            stdout, stderr = (str(err.args[0]), str(err.args[-1])) if len(err.args) > 1 else ("", str(err))
            return FailedPlan(stdout, stderr, plan_file, self.tf)
        pytest.fail(f"the plan with {tf_vars} succeeded; expected a validation error")


@dataclass(frozen=True)
class FailedPlan:
    """What a failed plan printed, and the plan file Terraform >= 1.9 still writes for it (errored)."""

    stdout: str
    stderr: str
    plan_file: Path
    tf: Any  # tftest.TerraformTest of the planner

    def applyable(self) -> bool:
        """Whether Terraform would apply the plan it wrote, read from the plan file (a ``terraform show``,
        ~3 CPU-seconds: only for the tests that ask)."""
        if not self.plan_file.exists():
            return False
        shown = json.loads(self.tf.execute_command("show", "-json", str(self.plan_file)).out)
        return bool(shown.get("applyable")) or not shown.get("errored")


@pytest.fixture(scope="session")
def planner(tmp_path_factory: pytest.TempPathFactory, account: Any, generator_zip: Path) -> Planner:
    return Planner(tmp_path_factory.mktemp("tf") / "terraform", account, generator_zip)


@pytest.fixture(scope="session")
def plan_summary(planner: Planner) -> Callable[..., PlanSummary]:
    """``plan_summary(**tfvars)`` -> PlanSummary of the root module, shared by identical tfvars."""

    def make(**tf_vars: Any) -> PlanSummary:
        return planner.plan(tf_vars)

    return make


# --- inventories --------------------------------------------------------------------------------


def _match(expected: Any, actual: Any, where: str, errors: list[str]) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            errors.append(f"{where}: expected a mapping, got {actual!r}")
            return
        for key, value in expected.items():
            if value == MISSING:
                if actual.get(key) not in (None, [], {}):
                    errors.append(f"{where}.{key}: expected absent/null, got {actual.get(key)!r}")
                continue
            if key not in actual:
                errors.append(f"{where}.{key}: missing")
                continue
            _match(value, actual[key], f"{where}.{key}", errors)
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            errors.append(f"{where}: expected a list of {len(expected)}, got {actual!r}")
            return
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _match(e, a, f"{where}[{i}]", errors)
    elif expected != actual:
        errors.append(f"{where}: expected {expected!r}, got {actual!r}")


def validate_inventory(summary: PlanSummary, inventory: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    for address in inventory.get(MISSING, []) or []:
        if address in summary.values:
            errors.append(f"{address}: must not be planned, but is")
    for address, expected in (inventory.get("values") or {}).items():
        if address not in summary.values:
            errors.append(f"{address}: not in the plan")
            continue
        _match(expected, summary.values[address], address, errors)
    for rtype, number in (inventory.get("counts") or {}).items():
        if summary.counts.get(rtype, 0) != number:
            errors.append(f"counts.{rtype}: expected {number}, got {summary.counts.get(rtype, 0)}")
    _match(inventory.get("outputs") or {}, summary.outputs, "outputs", errors)
    return errors


def actual_yaml(summary: PlanSummary, inventory: dict[str, Any]) -> str:
    """The actual values of the addresses the inventory names, plus all counts, as YAML."""
    values = {a: summary.values.get(a, "<not planned>") for a in (inventory.get("values") or {})}
    body = {"values": values, "counts": summary.counts}
    if inventory.get("outputs"):
        body["outputs"] = summary.outputs
    return yaml.safe_dump(body, sort_keys=True, width=120)


@pytest.fixture(scope="session")
def plan_validator() -> Callable[[PlanSummary, str | Path], None]:
    """``plan_validator(summary, "name.yaml")``: compare with tests/terraform/inventories/name.yaml."""

    def check(summary: PlanSummary, inventory_name: str | Path) -> None:
        path = Path(inventory_name)
        if not path.is_absolute():
            path = INVENTORIES / path
        inventory = yaml.safe_load(path.read_text()) or {}
        errors = validate_inventory(summary, inventory)
        if errors:
            pytest.fail(
                f"plan does not match {path.name}:\n  "
                + "\n  ".join(errors)
                + "\n\nactual (copy into the inventory only if the change is intended):\n"
                + actual_yaml(summary, inventory),
                pytrace=False,
            )

    return check
