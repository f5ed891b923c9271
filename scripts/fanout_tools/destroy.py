"""Verb ``destroy``: remove a stack from a target; the sandbox stops when it holds no stack any more."""

from __future__ import annotations

import argparse

from fanout_tools.deploy import add_target_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--keep-sandbox", action="store_true", help="leave the sandbox running afterwards")


def run(args: argparse.Namespace) -> int:
    import time

    from fanout_tools.deploy import elapsed, open_from_args
    from fanout_tools.targets import resolve

    started = time.monotonic()
    empty = resolve(args.target).nothing_deployed()
    if empty:
        print(f"destroy: nothing to do ({empty})")
        return 0
    stack = open_from_args(args)  # packaging is a no-op when unchanged; the config needs the zip to exist
    stack.runner().destroy(capture=False)
    print(f"destroy: done in {elapsed(started)} (stack {stack.name} on {stack.target.name})")
    for note in stack.target.after_destroy(keep_running=args.keep_sandbox):
        print(note)
    return 0
