"""Verb ``sandbox``: start, stop or inspect the local sandbox account (moto's server on 127.0.0.1)."""

from __future__ import annotations

import argparse

from fanout_tools.errors import SandboxError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=["up", "down", "status"], help="up: start; down: stop; status: report"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port for `up` (default: $FANOUT_SANDBOX_PORT or a free one)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="Batch jobs run at once (default: 2x cores)"
    )


def run(args: argparse.Namespace) -> int:
    from fanout_tools.sandbox import control, layout

    if args.action == "up":
        info, notes = control.up(port=args.port, workers=args.workers)
        for note in notes:
            print(f"note: {note}")
        print(
            f"sandbox running: {info.endpoint} (pid {info.pid}); log {info.log}; job logs {layout.jobs_dir()}"
        )
        return 0
    if args.action == "down":
        from fanout_tools import locks

        # not under a running apply/run/destroy on the sandbox: it would lose its account mid-way
        locks.acquire("sandbox", "sandbox down")
        strays = control.strays()
        stopped = control.down()
        print(
            f"sandbox stopped (pid {stopped.pid}, port {stopped.port})"
            if stopped
            else "sandbox was not running"
        )
        for pid in strays:
            print(f"stopped a stray sandbox server of this checkout (pid {pid})")
        return 0
    stale = control.stale_pid_file()
    info = control.current()
    strays = control.strays()
    for pid in strays:
        print(
            f"stray sandbox server of this checkout: pid {pid} (no pid file names it); "
            "`make sandbox-down` stops it"
        )
    if info is None:
        detail = " (removed a stale pid file)" if stale else ""
        raise SandboxError(
            f"the sandbox is not running{detail}",
            "start it with `make sandbox-up` or `make apply`"
            + (f"; stop the {len(strays)} stray server(s) with `make sandbox-down`" if strays else ""),
        )
    state = "healthy" if control.healthy(info.port) else "NOT answering"
    print(f"sandbox running: {info.endpoint} (pid {info.pid}), {state}; log {info.log}")
    return 0
