"""A stack on a target: the one way every verb (and the bench and the tests) deploys and reads one.

A stack is the root module in ``terraform/`` with one user's var files, named by its ``name``
variable. Its state lives in the target's S3 backend under a key derived from that name, and its
Terraform data dir under ``.fanout/terraform/<target>/<name>/``: nothing is written into
``terraform/`` at run time (except Terraform's own dependency lock file, ``.terraform.lock.hcl``),
so a killed command leaves nothing that changes the next one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError, FanoutError
from fanout_tools.paths import atomic_write, build_dir, lambda_dir, runtime_dir
from fanout_tools.targets import Target, resolve
from fanout_tools.targets.base import Backend
from fanout_tools.tf import TerraformRunner

# Verbs that only read a deployed stack: no target lock, and a Terraform data dir of their own. (stop
# changes executions and jobs, never the stack, and must work beside the `fanout run` it stops.)
READ_ONLY_VERBS = frozenset({"report", "status", "stop"})


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        default=None,
        help="sandbox (the local account; default, or $TARGET) or aws (real account)",
    )
    parser.add_argument(
        "--var-file",
        action="append",
        type=Path,
        default=[],
        help="Terraform variables file (repeatable; later files win); also names the stack",
    )


INIT_STAMP = "fanout-init.sha256"
OUTPUTS_CACHE = "fanout-outputs.json"


def init_fingerprint(backend: Backend, endpoint: str | None = None) -> str:
    """What a stack's ``terraform init`` depends on: the backend settings and files, the endpoint it
    reaches (a restarted sandbox is another account), and every Terraform file of the configuration (a
    module added or moved, a provider pin changed, needs a new init)."""
    import hashlib

    from fanout_tools.paths import terraform_dir

    digest = hashlib.sha256(repr((sorted(backend.config.items()), endpoint)).encode())
    for path in backend.files:
        digest.update(str(path).encode() + b"\0" + Path(path).read_bytes())
    root = terraform_dir()
    for path in sorted([*root.rglob("*.tf"), *root.rglob("*.tf.json"), *root.glob(".terraform.lock.hcl")]):
        if ".terraform" not in path.relative_to(root).parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def package_generator() -> Path:
    """Build the generator zip (a no-op when nothing changed); returns its path."""
    from fanout_tools import package

    result = package.build((lambda_dir() / "generator").resolve(), (build_dir() / "generator.zip").resolve())
    state = "built" if result.changed else "unchanged"
    print(f"package: {state} {result.path} ({result.size} bytes)")
    return Path(result.path)


@dataclass
class Stack:
    target: Target
    name: str
    region: str
    var_files: tuple[Path, ...] = ()
    package_path: Path | None = None
    read_only: bool = False  # a reader (report) gets its own data dir and never waits for a writer

    @property
    def data_dir(self) -> Path:
        return (
            runtime_dir() / "terraform" / self.target.name / (self.name + ("-read" if self.read_only else ""))
        )

    def runner(self) -> TerraformRunner:
        variables = dict(self.target.terraform_variables())
        variables["generator_package_path"] = str(self.package_path or build_dir() / "generator.zip")
        return TerraformRunner(
            data_dir=self.data_dir,
            env=self.target.aws_env(),
            var_files=self.var_files,
            variables=variables,
        )

    def init(self) -> None:
        """``terraform init`` the stack's data dir, unless it is already set up for exactly this backend
        and these Terraform files: init takes seconds (it reads every module and the provider mirror)
        and each verb opens the stack, so ``make status`` after ``make run`` would pay it every time."""
        backend = self.target.backend(self.name)
        stamp = self.data_dir / INIT_STAMP
        fingerprint = init_fingerprint(backend, self.target.aws_env().get("AWS_ENDPOINT_URL"))
        backend_cache = self.data_dir / "terraform.tfstate"  # the initialised backend (TF_DATA_DIR)
        if backend_cache.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
            return
        stamp.unlink(missing_ok=True)
        self.runner().init(backend_config=backend.config, backend_files=backend.files)
        stamp.write_text(fingerprint)

    def client(self, service: str) -> Any:
        """A client in the stack's Region, whatever the caller's environment says."""
        return self.target.client(service, region=self.region)

    def outputs(self) -> dict[str, Any]:
        """The root module's outputs: ``terraform output`` once per version of the stack's state.

        ``terraform output`` starts Terraform and reads the state (about a second and a CPU-second),
        and every verb needs the outputs, so they are kept in the data dir beside the version (ETag)
        of the state object they were read from (:meth:`Target.state_version`, one HeadObject). No
        version (no state yet, or no permission to read it) means no cache."""
        version = self.target.state_version(self.name)
        cache = self.data_dir / OUTPUTS_CACHE
        if version:
            try:
                cached = json.loads(cache.read_text())
            except (OSError, ValueError):
                cached = None
            if isinstance(cached, dict) and cached.get("state_etag") == version:
                return dict(cached["outputs"])
        outputs = self.runner().outputs()
        if version:  # read before the outputs: a state written in between only costs one more read
            atomic_write(cache, json.dumps({"state_etag": version, "outputs": outputs}).encode(), mode=0o600)
        return outputs

    def hint(self, make_args: str) -> str:
        """``make <make_args>`` for this stack: its target and, when not the defaults, its var file."""
        extra = f" VARS={self.var_files[0]}" if len(self.var_files) == 1 else ""
        return self.target.command_hint(make_args + extra)


def open_stack(
    target_name: str | None,
    var_files: list[Path],
    start: bool = True,
    package: bool = True,
    command: str | None = None,
) -> Stack:
    """Check the var files, prepare the target, build the zip, ``terraform init`` the stack's backend.

    ``command`` (the verb) takes the target's lock for this process first (:mod:`fanout_tools.locks`):
    another command on this checkout and target is refused before anything is started or rewritten.
    """
    from fanout_tools import locks
    from fanout_tools.tfvars import stack_settings

    files = [Path(p).resolve() for p in var_files]
    for path in files:
        if not path.is_file():
            raise ConfigError(
                f"var file {path} does not exist", "pass an existing .tfvars or .tfvars.json file"
            )
    settings = stack_settings(files)
    target = resolve(target_name, region=str(settings["region"]))
    read_only = command in READ_ONLY_VERBS
    if command and not read_only:
        locks.acquire(target.name, command)
    for note in target.prepare(start=start):
        print(f"note: {note}", file=sys.stderr)  # stdout may be a verb's --json
    zip_path = package_generator() if package else None
    stack = Stack(target, str(settings["name"]), str(settings["region"]), tuple(files), zip_path, read_only)
    stack.init()
    return stack


def open_from_args(args: argparse.Namespace, start: bool = True, package: bool = True) -> Stack:
    # Every verb that opens a stack holds the target's lock: apply and destroy change it; plan and run
    # rebuild the zip and re-init the data dir an apply reads; unlock must not free a live apply's state.
    # Readers (READ_ONLY_VERBS) only read the remote state, from a data dir of their own.
    command = getattr(args, "verb", None)
    return open_stack(
        getattr(args, "target", None), list(getattr(args, "var_file", []) or []), start, package, command
    )


def deployed(args: argparse.Namespace) -> tuple[Stack, dict[str, Any]]:
    """A deployed stack and its outputs, read from its remote state (works from any clone)."""
    target = resolve(getattr(args, "target", None))
    first = target.command_hint("apply")
    empty = target.nothing_deployed()
    if empty:
        raise FanoutError(f"nothing is deployed: {empty}", f"run `{first}` first")
    stack = open_from_args(args, start=False, package=False)
    outputs = stack.outputs()
    if not outputs.get("state_machine_arn"):
        raise FanoutError(
            f"nothing is deployed as stack {stack.name!r} on TARGET={target.name}",
            f"run `{stack.hint('apply')}` first",
        )
    return stack, outputs


def elapsed(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"
