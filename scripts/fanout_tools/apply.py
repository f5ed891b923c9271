"""Verb ``apply``: deploy the stack to a target (sandbox by default: starts the local account first)."""

from __future__ import annotations

import argparse

from fanout_tools.deploy import add_target_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import time

    from fanout_tools.deploy import elapsed, prepare

    started = time.monotonic()
    prepared = prepare(args)
    with prepared.target.backend_override():
        prepared.runner.apply(capture=False)
        outputs = prepared.runner.outputs()
    print(f"apply: done in {elapsed(started)} (target {prepared.target.name})")
    for key in ("state_machine_arn", "fanout_mode", "job_queue_name"):
        if key in outputs:
            print(f"  {key}: {outputs[key]}")
    print("next: `make run ITEMS=25` to start an execution")
    return 0
