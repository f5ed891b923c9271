"""Deployment targets: the account a command works on.

* ``sandbox`` (default): the local account (:mod:`fanout_tools.sandbox`), started on demand.
* ``aws``: the account your AWS credentials name.

Everything that differs between the two lives in their :class:`~fanout_tools.targets.base.Target`
classes and nowhere else; verbs receive a resolved target once and never test its name.
"""

from __future__ import annotations

import os

from fanout_tools.errors import ConfigError
from fanout_tools.targets.aws import AwsTarget
from fanout_tools.targets.base import JobLog, Target
from fanout_tools.targets.sandbox import SandboxTarget

TARGETS: dict[str, type[Target]] = {"sandbox": SandboxTarget, "aws": AwsTarget}
DEFAULT_TARGET = "sandbox"

__all__ = ["DEFAULT_TARGET", "TARGETS", "AwsTarget", "JobLog", "SandboxTarget", "Target", "resolve"]


def resolve(name: str | None, region: str | None = None) -> Target:
    """The target named by ``name`` (--target), else $TARGET, else sandbox; unknown -> ConfigError."""
    chosen = (name or os.environ.get("TARGET") or DEFAULT_TARGET).strip().lower()
    if chosen not in TARGETS:
        raise ConfigError(
            f"unknown target {chosen!r}",
            f"use TARGET=sandbox (the local account, default) or TARGET=aws (one of: {', '.join(TARGETS)})",
        )
    return TARGETS[chosen](region=region)
