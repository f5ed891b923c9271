"""Verb ``plan``: terraform plan against a target (starts the sandbox if needed, packages the Lambda)."""

from __future__ import annotations

import argparse

from fanout_tools.deploy import add_target_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from fanout_tools.deploy import open_from_args
    from fanout_tools.tf import PLAN_NO_CHANGES

    stack = open_from_args(args)
    code = stack.runner().plan(capture=False)
    print(
        "plan: no changes"
        if code == PLAN_NO_CHANGES
        else f"plan: changes shown above (`{stack.hint('apply')}`)"
    )
    return 0
