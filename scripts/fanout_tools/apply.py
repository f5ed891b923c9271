"""Verb ``apply``: deploy the stack to a target (sandbox by default: starts the local account first)."""

from __future__ import annotations

import argparse

from fanout_tools.deploy import add_target_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import time

    from fanout_tools.deploy import elapsed, open_from_args

    started = time.monotonic()
    stack = open_from_args(args)
    stack.runner().apply(capture=False)
    outputs = stack.outputs()
    print(f"apply: done in {elapsed(started)} (stack {stack.name} on {stack.target.name})")
    for key in ("state_machine_arn", "fanout_mode", "job_queue_name"):
        if key in outputs:
            print(f"  {key}: {outputs[key]}")
    print(f"next: `{stack.hint('run ITEMS=25')}` to start an execution")
    return 0
