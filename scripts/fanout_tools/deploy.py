"""Shared steps of the deploy verbs (``plan``, ``apply``, ``destroy``): target, package, init, recovery."""

from __future__ import annotations

import argparse
import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError


def add_target_arguments(parser: argparse.ArgumentParser, var_files: bool = True) -> None:
    parser.add_argument(
        "--target",
        default=None,
        help="sandbox (the local account; default, or $TARGET) or aws (real account)",
    )
    if var_files:
        parser.add_argument(
            "--var-file",
            action="append",
            type=Path,
            default=[],
            help="extra Terraform variables file (repeatable; later files win)",
        )


def package_generator() -> Path | None:
    """Build the generator zip with the package module (when it exists); returns the zip path."""
    try:
        package = importlib.import_module("fanout_tools.package")
    except ModuleNotFoundError:
        return None
    from fanout_tools.paths import build_dir, lambda_dir

    result = package.build((lambda_dir() / "generator").resolve(), (build_dir() / "generator.zip").resolve())
    state = "built" if result.changed else "unchanged"
    print(f"package: {state} {result.path} ({result.size} bytes)")
    return Path(result.path)


@dataclass
class Prepared:
    target: Any
    runner: Any


def prepare(args: argparse.Namespace, start_sandbox: bool = True, package: bool = True) -> Prepared:
    """Target (sandbox started when asked), generator zip, ``terraform init``, sandbox-loss recovery."""
    from fanout_tools import targets

    var_files = [Path(p).resolve() for p in getattr(args, "var_file", []) or []]
    for path in var_files:
        if not path.is_file():
            raise ConfigError(
                f"var file {path} does not exist", "pass an existing .tfvars or .tfvars.json file"
            )
    name = targets.resolve(getattr(args, "target", None))
    if name == "aws":
        targets.caller_identity()  # no credentials: say so before building anything
    zip_path = package_generator() if package else None
    target = targets.prepare(name, start_sandbox=start_sandbox, package_path=zip_path)
    runner = target.runner(var_files)
    target.init(runner)
    targets.recover_if_lost(target)
    return Prepared(target=target, runner=runner)


def elapsed(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"
