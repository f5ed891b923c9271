"""Deployed stacks on a private sandbox: the one way the integration tests set up what they run against.

Registered as a plugin by ``tests/conftest.py``, so every test folder can ask for :func:`sandbox_stacks`::

    @pytest.fixture(scope="module")
    def deployed(sandbox_stacks: SandboxStacks) -> Iterator[DeployedStack]:
        with sandbox_stacks.deployed("fanout-report", {"report": VARIABLES}) as stacks:
            yield stacks["report"]

Each module deploys into a sandbox of its own (own runtime folder and free port), so the modules' xdist
groups run side by side; modules that only run executions on stacks share one instead
(:func:`shared_sandbox`, all their stacks applied at once per test run). The generator zip is built
once per test run (all workers) and copied into each runtime folder's build dir, where
``fanout_tools.package`` finds it up to date by its content hash and builds nothing (a build
pip-installs the generator's requirements: seconds per module).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from fanout_tools.deploy import Stack
    from fanout_tools.targets import Target


# An inline stack whose job prints its item and attempt, and on an item containing "fail" says so and exits
# with 3, which is retried once (2 attempts): what the end-to-end and report tests run.
ITEM_JOB_VARIABLES: dict[str, Any] = {
    "fanout_mode": "inline",
    "max_concurrency": 10,
    "job_command": [
        "sh",
        "-c",
        'echo "item=$1 attempt=$AWS_BATCH_JOB_ATTEMPT"; '
        'case "$1" in *fail*) echo "no good: $1"; exit 3;; esac',
        "job",
        "Ref::item",
    ],
    "job_retry_exit_codes": ["3"],
    "job_attempts": 2,
    "job_attempt_timeout_seconds": 60,
    "log_retention_days": 1,
}


@contextlib.contextmanager
def sandbox_env(runtime: Path, **env: str) -> Iterator[Path]:
    """Inside, the target is the sandbox of the runtime folder ``runtime``: ``FANOUT_RUNTIME_DIR`` and
    ``env`` are set (and restored on the way out); whoever applies first starts it on a free port."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANOUT_RUNTIME_DIR", str(runtime))
        patch.setenv("TARGET", "sandbox")
        patch.delenv("FANOUT_SANDBOX_PORT", raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        yield runtime


@contextlib.contextmanager
def private_sandbox(runtime: Path, **env: str) -> Iterator[Path]:
    """Everything inside runs against a sandbox of its own (see :func:`sandbox_env`): its runtime folder
    is ``runtime`` (state, locks, faults, job logs), its port a free one, ``env`` set before it starts
    (the first apply starts it). It goes down on the way out, and its resources and Terraform state with
    it: nothing to destroy.
    """
    from fanout_tools.sandbox import control

    with sandbox_env(runtime, **env):
        try:
            yield runtime
        finally:
            control.down()


@dataclass
class DeployedStack:
    """One stack of ``terraform/``, applied from its own var file: what a user gets from ``make apply``."""

    stack: Stack
    var_file: Path
    variables: dict[str, Any] = field(default_factory=dict)  # as last applied
    outputs: dict[str, Any] = field(default_factory=dict)
    applies: list[str] = field(default_factory=list)  # how long each apply took, and what it changed
    destroyed: bool = False

    @property
    def target(self) -> Target:
        return self.stack.target

    def client(self, service: str) -> Any:
        return self.stack.client(service)

    def cli(self, verb: str, *args: str) -> list[str]:
        """``fanout VERB`` on this stack (its target and var file), then ``args``."""
        return [verb, "--target", self.target.name, "--var-file", str(self.var_file), *args]

    def apply(self, variables: dict[str, Any]) -> None:
        """Write ``variables`` to the var file, apply them and read the outputs."""
        from fanout_tools.errors import TerraformError

        self.var_file.write_text(json.dumps(variables, indent=2))
        started = time.monotonic()
        try:
            self.stack.runner().apply(capture=True)
        except TerraformError as err:
            # One more apply for a transient failure; a second failure is real. (The failures seen
            # before, "already exists" and InvalidPermission.NotFound, were SDK retries the emulator
            # did twice: compat gap 21 now answers them.)
            print(f"apply of {self.stack.name} failed once, applying again: {err.message[:300]}")
            self.stack.runner().apply(capture=True)
        self.outputs = self.stack.outputs()
        changed = {k: v for k, v in variables.items() if self.variables.get(k) != v} if self.applies else {}
        self.applies.append(f"{time.monotonic() - started:.1f} s {changed or 'first apply'}")
        self.variables = dict(variables)

    def update(self, **changes: Any) -> None:
        """Apply again with ``changes`` to the variables, unless they already hold."""
        wanted = {**self.variables, **changes}
        if wanted != self.variables:
            self.apply(wanted)

    def destroy(self) -> None:
        self.stack.runner().destroy(capture=True)
        self.destroyed = True


Deployed = TypeVar("Deployed", bound=DeployedStack)


def deploy_stacks(
    runtime: Path,
    stacks: dict[str, dict[str, Any]],
    target: str = "sandbox",
    kind: type[Deployed] = DeployedStack,
) -> dict[str, Deployed]:
    """``{key: variables}`` -> each applied from ``<runtime>/<key>.tfvars.json`` on ``target``, in
    parallel threads (each stack has its own data dir and state key; an apply mostly waits on the
    provider). The target is prepared once first: started, its state bucket created."""
    from fanout_tools import deploy
    from fanout_tools.targets import resolve

    resolve(target).prepare(start=True)

    def apply(key: str) -> Deployed:
        var_file = runtime / f"{key}.tfvars.json"
        var_file.write_text(json.dumps(stacks[key], indent=2))
        deployed = kind(deploy.open_stack(target, [var_file]), var_file)
        deployed.apply(stacks[key])
        return deployed

    with ThreadPoolExecutor(max_workers=len(stacks)) as pool:
        return dict(zip(stacks, pool.map(apply, stacks), strict=True))


class SandboxStacks:
    """What :func:`sandbox_stacks` gives: runtime folders holding the run's generator zip, and stacks
    deployed in them on a private sandbox."""

    def __init__(self, factory: pytest.TempPathFactory, build: Path) -> None:
        self._factory = factory
        self._build = build

    def runtime(self, name: str) -> Path:
        """A fresh runtime folder (``FANOUT_RUNTIME_DIR``) whose build dir holds the generator zip."""
        runtime = self._factory.mktemp(name)
        (runtime / "build").mkdir()
        for built in self._build.iterdir():
            if built.is_file():  # the zip and its content stamp; not the requirements cache
                shutil.copy2(built, runtime / "build" / built.name)
        return runtime

    @contextlib.contextmanager
    def deployed(
        self,
        name: str,
        stacks: dict[str, dict[str, Any]],
        kind: type[Deployed] = DeployedStack,
        **env: str,
    ) -> Iterator[dict[str, Deployed]]:
        """``stacks`` (``{key: variables}``) applied in parallel on a private sandbox started with
        ``env`` (see :func:`private_sandbox`) in a runtime folder named after ``name``; the sandbox goes
        down at the end, the stacks with it."""
        runtime = self.runtime(name)
        with private_sandbox(runtime, **env):
            yield deploy_stacks(runtime, stacks, kind=kind)


def _shared_build(factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The build dir holding this run's generator zip, built by the first worker that asks for it."""
    from fanout_tools.deploy import package_generator

    base = factory.getbasetemp()
    shared = (base if worker_id == "master" else base.parent) / "generator-runtime"
    shared.mkdir(exist_ok=True)
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait, then find the zip up to date
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FANOUT_RUNTIME_DIR", str(shared))
            return package_generator().parent


# The stacks of the modules that run executions on stacks and read what they left, but need nothing else
# of their sandbox (the bucket-backed modes, stop, the alerts, the report): ONE private sandbox, and all
# their stacks applied in parallel in one go, so the AWS provider's fixed waits of an apply (~55 s) are
# waited once for them all; its xdist group keeps them on one worker. Each such module declares its
# stacks as SANDBOX_STACKS (a key two modules declare must name the same variables: one stack, shared)
# and marks itself ``pytest.mark.xdist_group(SHARED_SANDBOX_GROUP)``.
SHARED_SANDBOX_GROUP = "shared-sandbox"
# The inline stack the alerts and the report share.
SHARED_INLINE_VARIABLES: dict[str, Any] = {
    "name": "fanout-shared-it",
    **ITEM_JOB_VARIABLES,
    "alert_emails": ["ops@example.com"],
}


def _shared_sandbox_modules(session: pytest.Session) -> list[Any]:
    modules = []
    for item in session.items:
        mark = item.get_closest_marker("xdist_group")
        module = getattr(item, "module", None)
        if mark and mark.args and mark.args[0] == SHARED_SANDBOX_GROUP and module not in modules:
            modules.append(module)
    return modules


@pytest.fixture(scope="session")
def _shared_sandbox(
    sandbox_stacks: SandboxStacks, request: pytest.FixtureRequest
) -> Iterator[tuple[Path, dict[str, DeployedStack]]]:
    """Every SANDBOX_STACKS of the selected modules of :data:`SHARED_SANDBOX_GROUP`, applied in parallel
    into one private sandbox the first time one of them asks; it goes down at the end of the run."""
    from fanout_tools.sandbox import control

    wanted: dict[str, dict[str, Any]] = {}
    for module in _shared_sandbox_modules(request.session):
        for key, variables in module.SANDBOX_STACKS.items():
            assert wanted.setdefault(key, variables) == variables, f"{module.__name__}: {key} is taken"
    runtime = sandbox_stacks.runtime("fanout-shared-sandbox")
    try:
        with sandbox_env(runtime):
            started = time.monotonic()
            deployed = deploy_stacks(runtime, wanted)
            print(f"shared sandbox: {len(wanted)} stacks applied in {time.monotonic() - started:.1f} s")
        yield runtime, deployed
    finally:
        with sandbox_env(runtime):
            control.down()


@pytest.fixture(scope="module")
def shared_sandbox(
    _shared_sandbox: tuple[Path, dict[str, DeployedStack]],
) -> Iterator[dict[str, DeployedStack]]:
    """The stacks of :func:`_shared_sandbox` (key -> stack); their sandbox is the target while the module
    runs (the environment is the module's own again afterwards)."""
    runtime, deployed = _shared_sandbox
    with sandbox_env(runtime):
        yield deployed


@pytest.fixture(scope="module")
def inline_stack(shared_sandbox: dict[str, DeployedStack]) -> DeployedStack:
    """:data:`SHARED_INLINE_VARIABLES` applied in the shared sandbox (modules using it declare
    ``SANDBOX_STACKS = {"inline": SHARED_INLINE_VARIABLES}``)."""
    return shared_sandbox["inline"]


@pytest.fixture(scope="session")
def sandbox_stacks(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> SandboxStacks:
    """Private runtime folders and sandboxes with stacks deployed in them (see :class:`SandboxStacks`)."""
    return SandboxStacks(tmp_path_factory, _shared_build(tmp_path_factory, worker_id))
