"""Verb ``plan``: terraform plan against a target (starts the sandbox if needed, packages the Lambda)."""

from __future__ import annotations

import argparse

from fanout_tools.deploy import add_target_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from fanout_tools.deploy import prepare

    prepared = prepare(args)
    with prepared.target.backend_override():
        code = prepared.runner.plan(capture=False)
    print("plan: no changes" if code == 0 else "plan: changes shown above (apply them with `make apply`)")
    return 0
