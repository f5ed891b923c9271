"""Verb ``destroy``: remove everything from a target; for the sandbox, stop it too."""

from __future__ import annotations

import argparse

from fanout_tools.deploy import add_target_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--keep-sandbox", action="store_true", help="leave the sandbox running afterwards")


def run(args: argparse.Namespace) -> int:
    import time

    from fanout_tools import targets
    from fanout_tools.deploy import elapsed, prepare
    from fanout_tools.sandbox import control

    started = time.monotonic()
    name = targets.resolve(args.target)
    if name == "sandbox" and control.current() is None:
        # Nothing runs, so nothing exists: the sandbox keeps its resources in memory only.
        target = targets.Target(name="sandbox")
        if targets.state_resources(target):
            backup = targets.reset_sandbox_state(target)
            print(
                "destroy: the sandbox was not running, so its resources were already gone; "
                f"state moved to {backup}"
            )
        else:
            print("destroy: nothing to do (the sandbox is not running and holds nothing)")
        return 0
    prepared = prepare(args)  # packaging is a no-op when unchanged; the config needs the zip to exist
    with prepared.target.backend_override():
        prepared.runner.destroy(capture=False)
    print(f"destroy: done in {elapsed(started)} (target {prepared.target.name})")
    if name == "sandbox" and not args.keep_sandbox:
        stopped = control.down()
        if stopped:
            print(f"sandbox stopped (pid {stopped.pid})")
    return 0
